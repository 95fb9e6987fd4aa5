"""SearchBySpeech latency at concurrency 1, per speech mode, against SearchByText in the same run; with
--baseline-src, the same calls against the server of another source tree in the same run.

Starts ``xmodal serve`` as a subprocess on 127.0.0.1 (port 0), fills a collection with the FAQ answers and one
with the FAQ questions, synthesizes a ~3 s question with espeak-ng and sends each call sequentially.

    python bench/speech_latency.py --requests 30 --out bench/results/speech_latency.txt

Also times SearchBySpeech with re-ranking (``--rerank``: the speech model scores the top K answers' texts),
with each count of sound-alike candidates in ``--sound-alike`` (SpeechRerank.sound_alike, set per request).

The target of issue 17: SearchBySpeech with the server's defaults (the row ``speech <default mode>``) has a
p50 at most 8 x the p50 of SearchByText of the same question (the row ``text (baseline)``), on this tree.

With ``--baseline-src DIR`` (a source tree of another commit, e.g. ``git worktree add /tmp/xmodal-before
e452155``), a second server runs that tree's code (PYTHONPATH=DIR/server:DIR/clients/python) with that tree's
default checkpoint, and every call goes to both servers back to back, round by round (each round sends every
call once to each server, the order of the servers alternating between rounds), so a machine whose speed
drifts slows both trees alike. The report gives per call p50 new, p50 old, new / old, and each tree's
p50 / SearchByText p50, with the verdict against the target for both trees (the old one for comparison).

    git worktree add /tmp/xmodal-before e452155
    python bench/speech_latency.py --requests 20 --baseline-src /tmp/xmodal-before
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report, verdict  # noqa: E402  bench/report.py
from server_process import ServerProcess, check_source_tree, source_commit  # noqa: E402

QUESTION = "how long do I have to return an item I bought online"
TEXT = "text (baseline)"
TARGET = 8.0  # issue 17: SearchBySpeech p50 / SearchByText p50 at concurrency 1, server defaults


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


def fill(c, rows: list[dict]) -> int:
    """The collections every call searches: 'faq' (the answers) and 'questions' (short utterances); returns
    the number of questions."""
    from xmodal import Item

    c.create_collection("faq")
    for i in range(0, len(rows), 32):
        c.add_items("faq", [Item.text(r["id"], r["answer"]) for r in rows[i : i + 32]])
    # Re-ranking's use: a collection of utterances (short texts people say), here the FAQ's questions.
    questions = [Item.text(f"{r['id']}-{j}", q.strip()) for r in rows for j, q in enumerate(r["questions"].split("||"))]
    c.create_collection("questions")
    for i in range(0, len(questions), 32):
        c.add_items("questions", questions[i : i + 32])
    return len(questions)


def calls_of(c, info, wav: Path, rerank: str, sound_alike: str) -> dict[str, Callable]:
    """Every timed call by row name, for one server (its GetInfo decides the speech modes and re-ranking rows)."""
    from xmodal.v1 import common_pb2

    modes = [common_pb2.SpeechMode.Name(m).removeprefix("SPEECH_MODE_").lower() for m in info.speech_modes]
    calls = {TEXT: lambda: c.search_text("faq", QUESTION, top_k=5)}
    # modes[0] is the server's default mode: its row with no options is the SearchBySpeech of the target.
    calls.update({f"speech {m}": (lambda m=m: c.search_speech("faq", wav, top_k=5, mode=m)) for m in modes})
    # The server's default re-ranks (GetInfo.rerank_candidates) and adds the sound-alike term
    # (GetInfo.sound_alike_weight); without them, same request:
    calls[f"speech {modes[0]}, no re-ranking"] = lambda: c.search_speech("faq", wav, top_k=5, rerank=0)
    calls[f"speech {modes[0]}, no re-ranking, weight 0"] = lambda: c.search_speech(
        "faq", wav, top_k=5, rerank=0, sound_alike_weight=0)
    calls[f"speech {modes[0]}, questions"] = lambda: c.search_speech("questions", wav, top_k=5)
    calls[f"speech {modes[0]}, no re-ranking, questions"] = lambda: c.search_speech("questions", wav, top_k=5, rerank=0)
    depths = [int(k) for k in rerank.split(",") if k.strip()] if info.HasField("rerank_gate") else []
    extras = [int(n) for n in sound_alike.split(",") if n.strip()]
    for name in ("faq", "questions"):
        calls.update({f"speech {modes[0]} + rerank {k} + {n}, {name}":
                      (lambda k=k, n=n, g=name: c.search_speech(g, wav, top_k=5, rerank=k, sound_alike=n))
                      for k in depths for n in extras})
    return calls


def default_speech(info) -> str:
    from xmodal.v1 import common_pb2

    return "speech " + common_pb2.SpeechMode.Name(info.speech_modes[0]).removeprefix("SPEECH_MODE_").lower()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=30, help="sequential requests per call and server (default 30)")
    ap.add_argument("--checkpoint", type=Path, help="checkpoint directory for this tree's server (default: the shipped "
                                                    "one); the --baseline-src server always loads its own tree's default")
    ap.add_argument("--rerank", default="10,25", help="re-ranking depths to time with the default mode, comma-separated "
                                                      "(SpeechRerank.candidates; default 10,25; '' for none)")
    ap.add_argument("--sound-alike", default="0,10,25", help="sound-alike candidates per re-ranked call, comma-separated "
                                                             "(SpeechRerank.sound_alike; default 0,10,25)")
    ap.add_argument("--baseline-src", type=Path, help="a source tree of another commit (e.g. a git worktree of e452155): "
                    "the same calls against its server, interleaved round by round with this tree's")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed: apt-get install espeak-ng")
    if args.baseline_src is not None:
        args.baseline_src = check_source_tree(args.baseline_src)
    if args.checkpoint is not None:
        args.checkpoint = args.checkpoint.resolve()
        if not (args.checkpoint / "manifest.json").is_file():
            sys.exit(f"--checkpoint {args.checkpoint}: no manifest.json there")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import soundfile as sf
    from xmodal import Client
    from xmodal_server.demo import load_faq

    tmp = Path(tempfile.mkdtemp(prefix="xmodal-speech-latency-"))
    wav = tmp / "q.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), QUESTION], check=True)
    seconds = sf.info(str(wav)).duration
    rows = load_faq()

    servers: dict[str, ServerProcess] = {}
    clients: dict[str, Client] = {}
    try:
        servers["new"] = ServerProcess(tmp / "data-new", ["--checkpoint", str(args.checkpoint)] if args.checkpoint else [])
        if args.baseline_src is not None:
            servers["old"] = ServerProcess(tmp / "data-old", [], src=args.baseline_src)
        infos, calls, heard = {}, {}, {}
        for tree, server in servers.items():
            c = clients[tree] = Client(server.address, timeout=600)
            infos[tree] = c.info()
            n_questions = fill(c, rows)
            calls[tree] = calls_of(c, infos[tree], wav, args.rerank, args.sound_alike)
        names = list(dict.fromkeys(name for tree in servers for name in calls[tree]))
        for name in names:  # warm: connection, lazy initialisation; not counted
            for tree in servers:
                if name in calls[tree]:
                    result = calls[tree][name]()
                    if name == default_speech(infos[tree]):
                        heard[tree] = (result.transcript, result.hits[0].id if result.hits else "-")
        lat: dict[tuple[str, str], list[float]] = {(tree, name): [] for tree in servers for name in names}
        trees = list(servers)
        for i in range(args.requests):
            order = trees if i % 2 == 0 else trees[::-1]
            for name in names:
                for tree in order:  # the same call to both servers back to back
                    if name in calls[tree]:
                        t0 = time.perf_counter()
                        calls[tree][name]()
                        lat[(tree, name)].append((time.perf_counter() - t0) * 1e3)
            print(f"round {i + 1}/{args.requests} done", file=sys.stderr, flush=True)
    finally:
        for c in clients.values():
            c.close()
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    p50 = {key: percentile(xs, 50) for key, xs in lat.items()}
    p95 = {key: percentile(xs, 95) for key, xs in lat.items()}
    old = "old" in servers
    title = f"SearchBySpeech latency, concurrency 1, {args.requests} requests per call" + (" and server" if old else "")
    rep = Report(title, torch_threads=True)
    info = infos["new"]
    target_row = default_speech(info)
    rep.log(f"TARGET (issue 17): SearchBySpeech with the server's defaults (row '{target_row}') p50 <= {TARGET:g} x "
            f"SearchByText p50 (row '{TEXT}'), concurrency 1, same run, on this tree (column 'new p50 / text')")
    rep.log(f"servers: xmodal serve as subprocesses on 127.0.0.1, one call at a time; new = this tree, checkpoint "
            f"{info.checkpoint_id}" + (f"; old = --baseline-src {args.baseline_src} (commit "
                                       f"{source_commit(args.baseline_src)}), checkpoint {infos['old'].checkpoint_id} "
                                       "(its tree's default)" if old else ""))
    if old:
        rep.log("rounds: each round sends every call once to each server, the same call to both back to back, the "
                "order of the servers alternating between rounds")
    rep.log(f"utterance {seconds:.1f} s ('{QUESTION}'); collections: faq ({len(rows)} FAQ answers, the default for "
            f"every call), questions ({n_questions} FAQ questions: short utterances)")
    for tree in servers:
        transcript, top = heard.get(tree, ("-", "-"))
        rep.log(f"{tree}: '{target_row}' heard '{transcript}' (top hit {top})")
    rep.log(f"speech modes with a transcript rank by cosine + {info.sound_alike_weight:g} x sound-alike similarity "
            f"and re-rank the best {info.rerank_candidates} hits + {info.rerank_sound_alike} sound-alike texts (the "
            "server's defaults) unless the row says otherwise")
    rep.log("rerank K + N: the search's best K hits and N sound-alike texts scored by the speech model")

    def per_text(tree: str, name: str) -> float:
        return p50[(tree, name)] / p50[(tree, TEXT)]

    if old:
        rep.log(f"{'call':<46} {'p50 new':>8} {'p50 old':>8} {'new/old':>8} {'p95 new':>8} {'p95 old':>8} "
                f"{'new p50 / text':>15} {'old p50 / text':>15}")
        for name in names:
            rep.log(f"{name:<46} {p50[('new', name)]:8.1f} {p50[('old', name)]:8.1f} "
                    f"{p50[('new', name)] / p50[('old', name)]:8.2f} {p95[('new', name)]:8.1f} {p95[('old', name)]:8.1f} "
                    f"{per_text('new', name):15.1f} {per_text('old', name):15.1f}")
    else:
        rep.log(f"{'call':<46} {'p50 ms':>8} {'p95 ms':>8} {'p50 / text p50':>15}")
        for name in names:
            rep.log(f"{name:<46} {p50[('new', name)]:8.1f} {p95[('new', name)]:8.1f} {per_text('new', name):15.1f}")
    rep.log("")
    rep.log(f"verdict, '{target_row}' p50 / '{TEXT}' p50 (target <= {TARGET:g}):")
    rep.log(f"    new (this tree)          {verdict(per_text('new', target_row), TARGET, higher=False)}  <- the target")
    if old:
        old_row = default_speech(infos["old"])
        rep.log(f"    old (--baseline-src)     {verdict(per_text('old', old_row), TARGET, higher=False)}  "
                "(the old path, for comparison)")
        rep.log(f"    SearchBySpeech p50 new / old: {p50[('new', target_row)] / p50[('old', old_row)]:.2f}; "
                f"SearchByText p50 new / old: {p50[('new', TEXT)] / p50[('old', TEXT)]:.2f}")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
