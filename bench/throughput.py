"""Throughput and latency of every Embed*/SearchBy* RPC under concurrency, and the ratios of issue 4,
each against a baseline measured in the same run.

Starts the real server (``xmodal serve``) as a subprocess on 127.0.0.1 with port 0, fills a collection
of its own (synthetic texts, PNGs drawn with Pillow), synthesizes speech with espeak-ng, then drives
every RPC kind with a closed-loop asyncio gRPC load generator (bench/loadgen.py) at each concurrency.
Right after the concurrency-32 point of each kind (servers idle), it times the other side of that
kind's ratios, so a background load that comes and goes hits both sides alike:

  (a) server throughput, 32 concurrent single-item clients / the encoder called in-process on batches
      of batch_max_size (text, image, speech);
  (b) batching on / off (a second server with --no-batching), concurrency 32, text and image;
  (c) SearchByVector throughput at concurrency 32 / the raw index search (FAISS, in-process) on
      batches of batch_max_size, vectors already embedded, over a collection of --vector-items vectors
      (default 1,000,000: the per-RPC cost of Python gRPC, about 1 ms of CPU on these 2-core machines,
      outweighs a search over a few thousand vectors at any speed, so a small collection measures gRPC,
      not the search path); and SearchByText/Image/Speech / in-process embed + index search on the small
      collection;
  (d) embedded / reference profile encoder speed per modality, in-process, batches of batch_max_size
      (reference = the real architectures with random weights; speed only);
  and p99 / p50 at concurrency 32 per RPC.

With --baseline-src DIR, a second pair of servers (batching on, and off for (b)) runs the code of another
source tree (e.g. ``git worktree add /tmp/xmodal-before <commit>``; started with
PYTHONPATH=DIR/server:DIR/clients/python), and each round at concurrency 32 times both trees back to back, the
order alternating between rounds: the report gives new / old for the throughput of (a) and for (b), as medians
of the per-round ratios, and checks first that both trees return the same vectors for the same inputs.

Issue 17, speech under concurrency: for EmbedSpeech and SearchBySpeech, when --concurrency includes 1 and 8,
each round times this tree at concurrency 1 then 8 and then (with --baseline-src) the old tree the same way,
the order of the trees alternating between rounds; the report gives each tree's throughput at concurrency 8 /
concurrency 1 (median of the per-round ratios, each round's listed) against the target of 3 (this tree's is
the one judged), and new / old at each of the two concurrencies. --checkpoint sets this tree's checkpoint only
(the old tree's servers load their own default one), and the header names both checkpoints.

Each ratio is the median of --rounds rounds; a round times the concurrency-32 point and then its
baseline, back to back, so the slow swings of a shared machine's speed (the in-process baseline alone
varied 2x between runs minutes apart here) fall on both sides of the ratio of that round.

    python bench/throughput.py --quick          # a few minutes: fewer requests per point
    python bench/throughput.py                  # the run of record: bench/results/throughput.txt
    # issue 17, speech throughput at concurrency 8 / 1, this tree's and an old tree's (a git worktree):
    python bench/throughput.py --kinds EmbedSpeech SearchBySpeech SearchByText --concurrency 1 8 --no-reference --baseline-src /tmp/xmodal-before
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))  # reference_weights: random weights in the real formats

from loadgen import LoadResult, channel, run_load  # noqa: E402
from report import commit, machine, verdict  # noqa: E402
from server_process import ServerProcess, check_source_tree, source_commit  # noqa: E402

KINDS = ("EmbedText", "EmbedImage", "EmbedSpeech", "SearchByText", "SearchByImage", "SearchBySpeech", "SearchByVector")
UNBATCHED_KINDS = ("EmbedText", "EmbedImage")  # (b): speech one request at a time would take minutes
MODALITIES = ("text", "image", "speech")
TARGETS = {"a": 0.85, "b": 2.0, "c": 0.8, "spread": 3.0}
# Issue 17: speech throughput at concurrency 8 is at least 3x that at concurrency 1 (1.16x before).
SCALING_KINDS = ("EmbedSpeech", "SearchBySpeech")
SCALING = (1, 8, 3.0)  # low concurrency, high concurrency, target of high / low
COLLECTION = "bench"
VECTOR_COLLECTION = "bench-vectors"
FAQ_COLLECTION = "faq"  # the demo's customer-service answers (--speech-gallery faq)
VECTOR_ADD_BATCH = 1024
TOP_K = 10


# -- inputs ------------------------------------------------------------------------------------------

@dataclass
class Inputs:
    texts: list[str]  # collection items
    queries: list[str]
    images: list[bytes]  # collection items
    query_images: list[bytes]
    wavs: list[bytes]
    wav_seconds: float
    speech_collection: str = "bench"  # what SearchBySpeech searches: COLLECTION, or FAQ_COLLECTION (--speech-gallery faq)
    vectors: int = 0  # items of VECTOR_COLLECTION (random unit vectors; exact search costs the same for any)
    query_vectors: np.ndarray | None = None


def unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000):
    """``n`` random unit float32 rows, made ``chunk`` at a time (1M x 384 is 1.5 GB)."""
    rng = np.random.default_rng(seed)
    for i in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - i), dim), dtype=np.float32)
        yield x / np.linalg.norm(x, axis=1, keepdims=True)


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = {
        "subject": "the customer,my parcel,a red bicycle,the new phone,our kitchen,a small dog,the invoice,this jacket".split(","),
        "verb": "arrived late,needs a refund,was delivered,looks broken,is on sale,must be returned,was charged twice,fits well".split(","),
        "tail": "after two weeks,in the morning,at the front door,since last monday,without a receipt,with free shipping".split(","),
    }
    return [" ".join(str(rng.choice(words[k])) for k in ("subject", "verb", "tail")) + f" (order {i})" for i in range(n)]


def pngs(n: int, seed: int, size: int = 96) -> list[bytes]:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
            box = (x0, y0, x0 + int(rng.integers(10, size // 2)), y0 + int(rng.integers(10, size // 2)))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


# Spoken customer questions (3-4 s) for --speech-gallery faq: issue 17's setting, questions against written answers.
FAQ_QUESTIONS = ["how long do I have to return an item I bought online", "can I change the delivery address of my order",
                 "my package says delivered but I never got it"]


COMMANDS = ["where is my parcel", "I want to return this jacket", "turn on the kitchen lights"]  # 1.8 s on average


def speech(work: Path, questions: list[str] = COMMANDS, rate: int = 160) -> tuple[list[bytes], float]:
    import soundfile as sf

    clips = []
    for i, text in enumerate(questions):
        path = work / f"q{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(rate), "-w", str(path), text], check=True)
        clips.append(path)
    return [p.read_bytes() for p in clips], float(np.mean([sf.info(str(p)).duration for p in clips]))


def make_inputs(work: Path, n_texts: int, n_images: int, n_vectors: int, speech_gallery: str, dim: int = 384) -> Inputs:
    if speech_gallery == "faq":
        wavs, seconds = speech(work, FAQ_QUESTIONS, rate=150)
    else:
        wavs, seconds = speech(work)
    return Inputs(sentences(n_texts, 0), sentences(256, 1), pngs(n_images, 2), pngs(32, 3), wavs, seconds,
                  FAQ_COLLECTION if speech_gallery == "faq" else COLLECTION, n_vectors, next(unit_vectors(256, dim, 5)))


# -- the server --------------------------------------------------------------------------------------

def fill_collection(address: str, inputs: Inputs) -> None:
    from xmodal import Client, Item

    with Client(address, timeout=600) as c:
        c.create_collection(COLLECTION)
        for i in range(0, len(inputs.texts), 64):
            c.add_items(COLLECTION, [Item.text(f"t{i + j}", t) for j, t in enumerate(inputs.texts[i : i + 64])])
        for i in range(0, len(inputs.images), 16):
            c.add_items(COLLECTION, [Item.image(f"img{i + j}", b) for j, b in enumerate(inputs.images[i : i + 16])])
        if inputs.speech_collection == FAQ_COLLECTION:
            from xmodal_server.demo import load_faq

            rows = load_faq()
            c.create_collection(FAQ_COLLECTION)
            for i in range(0, len(rows), 64):
                c.add_items(FAQ_COLLECTION, [Item.text(r["id"], r["answer"]) for r in rows[i : i + 64]])
        if inputs.vectors:
            c.create_collection(VECTOR_COLLECTION, index_type="exact")
            with tqdm(total=inputs.vectors, desc=f"filling {VECTOR_COLLECTION}", unit="vector") as bar:
                for rows in unit_vectors(inputs.vectors, inputs.query_vectors.shape[1], 4):
                    for i in range(0, len(rows), VECTOR_ADD_BATCH):
                        n = bar.n
                        c.add_items(VECTOR_COLLECTION, [Item.vector(f"v{n + j}", v) for j, v in enumerate(rows[i : i + VECTOR_ADD_BATCH])])
                        bar.update(len(rows[i : i + VECTOR_ADD_BATCH]))


def rpc_requests(inputs: Inputs) -> dict[str, tuple[Callable[[Any], Any], list[Any]]]:
    """Per RPC kind: the stub method to call (bound later to a channel) and its prebuilt requests."""
    from xmodal.v1 import common_pb2, embedding_pb2, search_pb2

    opts = search_pb2.SearchOptions(top_k=TOP_K)
    audio = [common_pb2.Audio(data=w) for w in inputs.wavs]
    return {
        "EmbedText": ("embedding", [embedding_pb2.EmbedTextRequest(texts=[t]) for t in inputs.queries]),
        "EmbedImage": ("embedding", [embedding_pb2.EmbedImageRequest(images=[b]) for b in inputs.query_images]),
        "EmbedSpeech": ("embedding", [embedding_pb2.EmbedSpeechRequest(audios=[a]) for a in audio]),
        "SearchByText": ("search", [search_pb2.SearchByTextRequest(collection=COLLECTION, text=t, options=opts) for t in inputs.queries]),
        "SearchByImage": ("search", [search_pb2.SearchByImageRequest(collection=COLLECTION, image=b, options=opts) for b in inputs.query_images]),
        "SearchBySpeech": ("search", [search_pb2.SearchBySpeechRequest(collection=inputs.speech_collection, audio=a,
                                                                        options=opts) for a in audio]),
        "SearchByVector": ("search", [search_pb2.SearchByVectorRequest(collection=VECTOR_COLLECTION, options=opts,
                                      vector=common_pb2.Vector(data=v.astype("<f4").tobytes(), dim=v.size))
                                      for v in (inputs.query_vectors if inputs.query_vectors is not None else [])]),
    }


def stubs(ch: Any) -> dict[str, Any]:
    from xmodal.v1 import embedding_pb2_grpc, search_pb2_grpc

    return {"embedding": embedding_pb2_grpc.EmbeddingServiceStub(ch), "search": search_pb2_grpc.SearchServiceStub(ch)}


async def point(server: ServerProcess, method: Callable, reqs: list, kind: str, c: int, args) -> LoadResult:
    """One measurement: ``kind`` at concurrency ``c``, with the server's mean batch sizes meanwhile."""
    batchers = [re.sub(r"^(Embed|SearchBy)", "", kind).lower()] + (["search"] if kind.startswith("Search") else [])
    n = max(args.requests, c)  # every client sends at least one request
    before = await asyncio.to_thread(server.batches)
    with tqdm(total=n, desc=f"{kind:<14} c={c:<3}", unit="req", leave=False) as bar:
        r = await run_load(method, reqs, concurrency=c, total=n, seconds=args.seconds, progress=bar.update)
    after = await asyncio.to_thread(server.batches)
    r.note = " / ".join(f"{b} {mean_batch(before.get(b), after.get(b))}" for b in batchers)
    return r


def mean_batch(before: tuple[float, float] | None, after: tuple[float, float] | None) -> str:
    if after is None:
        return "-"
    count, items = (after[0] - before[0], after[1] - before[1]) if before else after
    return f"{items / count:.1f}" if count else "-"


def scaled(args, kind: str) -> bool:
    """Whether ``kind``'s throughput at SCALING's two concurrencies is timed round by round (issue 17)."""
    return kind in SCALING_KINDS and {SCALING[0], SCALING[1]} <= set(args.concurrency)


async def drive(args, inputs: Inputs, on: ServerProcess, off: ServerProcess | None,
                baselines: "Baselines", old: tuple[ServerProcess, ServerProcess | None] | None = None,
                ) -> tuple[dict, dict, dict[str, float], dict[str, list], dict[str, list]]:
    """Every point of every kind. The other side of each ratio is timed right after the point it
    divides, so that a background load that comes and goes hits both sides alike. ``old``: the servers
    (batching on, off) of --baseline-src, timed in each round beside ``on`` and ``off``."""
    requests = rpc_requests(inputs)
    at, warmup = ratio_concurrency(args), 2 * args.batch_max_size
    lo, hi, _ = SCALING
    results_on: dict[tuple[str, int], LoadResult] = {}
    results_off: dict[tuple[str, int], LoadResult] = {}
    base: dict[str, float] = {}
    # Per kind, per round: throughput of (new on, new off, old on, old off, in-process embed) at concurrency ``at``.
    versus: dict[str, list[tuple]] = {}
    # Per SCALING kind, per round: {(tree, concurrency): LoadResult}, tree "new" or "old".
    scaling: dict[str, list[dict]] = {}
    async with contextlib.AsyncExitStack() as stack:
        s_on = stubs(await stack.enter_async_context(channel(on.address)))
        s_off = stubs(await stack.enter_async_context(channel(off.address))) if off else None
        old_on, old_off = old if old else (None, None)
        s_old = stubs(await stack.enter_async_context(channel(old_on.address))) if old_on else None
        s_old_off = stubs(await stack.enter_async_context(channel(old_off.address))) if old_off else None
        for kind in args.kinds:
            service, reqs = requests[kind]
            m_on = getattr(s_on[service], kind)
            m_off = getattr(s_off[service], kind) if s_off and kind in UNBATCHED_KINDS else None
            compare = s_old is not None and kind.startswith("Embed")
            m_old = getattr(s_old[service], kind) if compare else None
            m_old_off = getattr(s_old_off[service], kind) if compare and s_old_off and kind in UNBATCHED_KINDS else None
            m_old_scaled = getattr(s_old[service], kind) if s_old is not None and scaled(args, kind) else None
            for m in dict.fromkeys(x for x in (m_on, m_off, m_old, m_old_off, m_old_scaled) if x is not None):
                # connection set-up, lazy init: once per kind, not counted
                await run_load(m, reqs, concurrency=min(warmup, 32), total=warmup, seconds=600)
            if scaled(args, kind):
                # Each round times one tree at ``lo`` then ``hi``, then the other tree (order alternating between
                # rounds): each tree's hi / lo ratio comes from points seconds apart.
                for i in range(args.rounds):
                    got = {}
                    sides = [("new", on, m_on), ("old", old_on, m_old_scaled)]
                    for name, server, m in (sides if i % 2 == 0 else sides[::-1]):
                        if m is not None:
                            for c in (lo, hi):
                                got[(name, c)] = await point(server, m, reqs, kind, c, args)
                    scaling.setdefault(kind, []).append(got)
                rounds = sorted(scaling[kind], key=lambda g: ratio(g[("new", hi)].throughput, g[("new", lo)].throughput))
                for c in (lo, hi):
                    results_on[(kind, c)] = rounds[len(rounds) // 2][("new", c)]  # the median round's points
            for c in args.concurrency:
                if c != at and scaled(args, kind) and c in (lo, hi):
                    continue  # timed above
                if c != at:
                    results_on[(kind, c)] = await point(on, m_on, reqs, kind, c, args)
                    continue
                rounds = []
                for i in range(args.rounds):
                    got: dict[str, LoadResult | None] = {}
                    sides = [("new", on, m_on, off, m_off), ("old", old_on, m_old, old_off, m_old_off)]
                    for name, server, m, server_off, m_off_side in (sides if i % 2 == 0 else sides[::-1]):
                        if m is None:
                            continue
                        got[name] = await point(server, m, reqs, kind, c, args)
                        got[name + " off"] = (await point(server_off, m_off_side, reqs, kind, c, args)
                                              if m_off_side is not None and server_off is not None else None)
                    r_on, r_off = got["new"], got["new off"]
                    rounds.append((r_on, r_off, await asyncio.to_thread(baselines.measure, baseline_names(kind))))
                    if compare:
                        tput = lambda r: r.throughput if r is not None else float("nan")  # noqa: E731
                        versus.setdefault(kind, []).append((tput(r_on), tput(r_off), tput(got["old"]), tput(got["old off"]),
                                                            rounds[-1][2].get(baseline_names(kind)[0], float("nan"))))
                r_on, _, b = median_round(rounds, baseline_names(kind)[0])
                results_on[(kind, c)] = r_on
                base.update(b)
                if rounds[0][1] is not None:
                    results_off[(kind, c)] = sorted((r[1] for r in rounds), key=lambda r: r.throughput)[len(rounds) // 2]
    driven = [m for m in MODALITIES if any(k.endswith(m.title()) for k in args.kinds)]
    base.update(await asyncio.to_thread(baselines.measure, [f"{w} {m}" for m in driven for w in ("encoder", "reference")]))
    return results_on, results_off, base, versus, scaling


def checkpoint_id(address: str) -> str:
    from xmodal import Client

    with Client(address, timeout=600) as c:
        return c.info().checkpoint_id or "(none)"


def same_vectors(new: str, old: str, inputs: Inputs) -> list[str]:
    """Both trees embed the same inputs (texts, images, speech clips): largest difference per modality."""
    from xmodal import Client

    lines = []
    with Client(new, timeout=600) as a, Client(old, timeout=600) as b:
        calls = {"text": lambda c: c.embed_text(inputs.queries[:16]), "image": lambda c: c.embed_image(inputs.query_images[:8]),
                 "speech": lambda c: c.embed_speech(inputs.wavs)}
        for m, call in calls.items():
            x, y = call(a), call(b)
            diff = float(np.abs(np.asarray(x.vectors) - np.asarray(y.vectors)).max())
            same_text = x.transcripts == y.transcripts
            lines.append(f"    {m:<7} {len(x.vectors)} inputs: max |new - old| = {diff:.2e}"
                         + (f", transcripts {'identical' if same_text else 'DIFFER'}" if m == "speech" else ""))
    return lines


def versus_report(args, versus: dict[str, list], vectors: list[str]) -> list[str]:
    """new / old lines of --baseline-src: medians of the per-round ratios, and every round's."""
    if not versus:
        return []
    c = ratio_concurrency(args)
    lines = ["", f"new (this tree) / old (--baseline-src {args.baseline_src}, commit {args.baseline_commit}), concurrency {c}, "
             f"{args.rounds} rounds, both trees timed back to back in each round (order alternating); median of the "
             "per-round ratios [each round's]", "  the same inputs to both trees, largest vector difference:", *vectors,
             "  (a) server throughput, new / old, and each tree's (a) ratio (server / in-process embed on batches of "
             f"{args.batch_max_size}, measured in the same round):"]
    for kind, rounds in versus.items():
        per = [n / o for n, _, o, _, _ in rounds]
        lines.append(f"    {kind:<12} {med([r[0] for r in rounds]):7.1f} / {med([r[2] for r in rounds]):7.1f} req/s: "
                     f"new/old {med(per):5.2f} [{' '.join(f'{x:.2f}' for x in per)}]; (a) new {med([r[0] / r[4] for r in rounds]):.2f}, "
                     f"old {med([r[2] / r[4] for r in rounds]):.2f}")
    rows = [(k, r) for k, r in versus.items() if all(x[1] == x[1] and x[3] == x[3] for x in r)]
    if rows:
        lines.append("  (b) batching on / off, each tree's, and new / old of that ratio:")
        for kind, rounds in rows:
            new_b, old_b = [r[0] / r[1] for r in rounds], [r[2] / r[3] for r in rounds]
            per = [n / o for n, o in zip(new_b, old_b)]
            lines.append(f"    {kind:<12} new {med(new_b):5.2f}, old {med(old_b):5.2f}: new/old {med(per):5.2f} "
                         f"[{' '.join(f'{x:.2f}' for x in per)}]; off new {med([r[1] for r in rounds]):.1f} / "
                         f"old {med([r[3] for r in rounds]):.1f} req/s")
    return lines


def med(xs: list[float]) -> float:
    """Median (the upper one of an even count, as a round's value) of the numbers that are not NaN."""
    xs = sorted(x for x in xs if x == x)
    return xs[len(xs) // 2] if xs else float("nan")


def scaling_report(args, scaling: dict[str, list[dict]]) -> list[str]:
    """Issue 17's lines: per SCALING kind and tree, throughput at the high / low concurrency, medians of the
    per-round ratios with each round's, against the target; with --baseline-src also new / old per concurrency."""
    if not scaling:
        return []
    lo, hi, target = SCALING
    old = (f"old = --baseline-src {args.baseline_src}, commit {args.baseline_commit}; "
           if args.baseline_src is not None else "")
    order = (f"one tree at concurrency {lo} then {hi}, then the other tree (order alternating)" if old
             else f"concurrency {lo} then {hi}")
    apart = (f" (the table's concurrency-{hi} rows are the (a) rounds', timed separately)"
             if ratio_concurrency(args) == hi else "")
    lines = ["", f"speech throughput at concurrency {hi} / concurrency {lo} (TARGET of issue 17: >= {target:g} for "
             f"{' and '.join(SCALING_KINDS)}, on this tree); {old}median of {args.rounds} rounds [each round's]; a round "
             f"times {order}{apart}"]
    for kind, rounds in scaling.items():
        for tree in ("new", "old"):
            if (tree, lo) not in rounds[0]:
                continue
            per = [ratio(g[(tree, hi)].throughput, g[(tree, lo)].throughput) for g in rounds]
            label = kind if tree == "new" else ""
            note = "  <- the target" if tree == "new" else "  (the old path, for comparison)"
            lines.append(f"    {label:<15} {tree} {med([g[(tree, lo)].throughput for g in rounds]):7.2f} -> "
                         f"{med([g[(tree, hi)].throughput for g in rounds]):7.2f} req/s: c{hi}/c{lo} "
                         f"{verdict(med(per), target)} [{' '.join(f'{x:.2f}' for x in per)}]{note}")
        if ("old", lo) in rounds[0]:
            parts = []
            for c in (lo, hi):
                per = [ratio(g[("new", c)].throughput, g[("old", c)].throughput) for g in rounds]
                parts.append(f"concurrency {c} {med(per):5.2f} [{' '.join(f'{x:.2f}' for x in per)}]")
            lines.append(f"    {'':<15} throughput new / old: {', '.join(parts)}")
    return lines


def median_round(rounds: list, key: str) -> tuple:
    """The round whose (server throughput / baseline ``key``) ratio is the median of all rounds."""
    ranked = sorted(rounds, key=lambda r: ratio(r[0].throughput, r[2].get(key, float("nan"))))
    return ranked[len(ranked) // 2]


def ratio_concurrency(args) -> int:
    return 32 if 32 in args.concurrency else max(args.concurrency)


def baseline_names(kind: str) -> list[str]:
    m = re.sub(r"^(Embed|SearchBy)", "", kind).lower()
    if kind == "SearchByVector":
        return ["index search vector"]
    return [f"embed {m}"] if kind.startswith("Embed") else [f"search {m}", "index search"]


# -- in-process baselines ------------------------------------------------------------------------------

def items_per_second(fn: Callable[[int], int], seconds: float, min_calls: int) -> float:
    """Call ``fn(i)`` (returns items done) after one warm-up call, for ``seconds`` and ``min_calls``."""
    fn(0)
    done, calls, t0 = 0, 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < seconds:
        done += fn(calls + 1)
        calls += 1
    return done / (time.perf_counter() - t0)


def cycle(xs: list, i: int, n: int) -> list:
    return [xs[(i * n + j) % len(xs)] for j in range(n)]


class Baselines:
    """The in-process side of the ratios: the same models on batches of ``batch``, timed on one worker
    thread like the server's model thread (torch on the main thread can be several times slower when
    other processes compete for the cores, as measured on the 2-core machine of the results)."""

    def __init__(self, data_dir: Path, inputs: Inputs, batch: int, seconds: float, min_calls: int, reference: bool,
                 checkpoint: Path | None = None):
        from PIL import Image

        from xmodal_server.app import build_service
        from xmodal_server.config import Config
        from xmodal_server.media import MediaLimits, decode_audio

        self.seconds, self.min_calls = seconds, min_calls
        self.service = build_service(Config(data_dir=str(data_dir), metrics_port=-1,
                                            checkpoint=str(checkpoint) if checkpoint else ""), "cpu")
        e, coll = self.service.embedder, self.service.store.get(COLLECTION)
        data = {
            "text": inputs.queries,
            "image": [Image.open(io.BytesIO(b)).convert("RGB") for b in inputs.query_images],
            "speech": [decode_audio(w, MediaLimits()) for w in inputs.wavs],
        }
        embed = {"text": e.embed_texts, "image": e.embed_images, "speech": e.embed_speech}
        # (d) compares backbones only, both profiles measured the same way (speech with transcription).
        encoders = {f"encoder {m}": e.encoders[m] for m in MODALITIES}
        if reference:
            from reference_weights import full_size_encoders

            encoders.update({f"reference {m}": enc for m, enc in full_size_encoders(data_dir.parent / "reference").items()})
        xq = e.embed_texts(inputs.queries[:batch]).vectors
        self.steps: dict[str, Callable[[int], int]] = {"index search": lambda i: len(coll.search_many(xq, TOP_K))}
        if inputs.vectors:
            vcoll, vq = self.service.store.get(VECTOR_COLLECTION), inputs.query_vectors
            rows = list(vq)  # once, not inside the timed calls
            self.steps["index search vector"] = lambda i: len(vcoll.search_many(np.stack(cycle(rows, i, batch)), TOP_K))
        for m in MODALITIES:
            xs = lambda i, m=m: cycle(data[m], i, batch)  # noqa: E731
            kw = {"transcribe": True} if m == "speech" else {}
            self.steps[f"embed {m}"] = lambda i, m=m, xs=xs: len(embed[m](xs(i)).vectors)
            self.steps[f"search {m}"] = lambda i, m=m, xs=xs: len(coll.search_many(embed[m](xs(i)).vectors, TOP_K))
            for name in (f"encoder {m}", f"reference {m}"):
                if name in encoders:
                    self.steps[name] = lambda i, enc=encoders[name], xs=xs, kw=kw: len(enc.encode(xs(i), **kw).features)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="bench-model")

    def measure(self, names: list[str]) -> dict[str, float]:
        return {n: self._thread.submit(items_per_second, self.steps[n], self.seconds, self.min_calls).result()
                for n in names if n in self.steps}

    def close(self) -> None:
        self._thread.shutdown()
        self.service.store.close()


# -- report ------------------------------------------------------------------------------------------

def ratio(x: float, base: float) -> float:
    return x / base if base > 0 else float("nan")


def report(args, header: list[str], on: dict, off: dict, base: dict[str, float]) -> str:
    lines = [*header, "", f"{'rpc':<15} {'conc':>4} {'req/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}  "
                          f"{'mean batch':<22} errors"]
    for (kind, c), r in on.items():
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "-"
        lines.append(f"{kind:<15} {c:>4} {r.throughput:8.1f} {r.percentile(50):9.1f} {r.percentile(95):9.1f} "
                     f"{r.percentile(99):9.1f}  {r.note:<22} {errors}")
    c32 = ratio_concurrency(args)
    b = args.batch_max_size
    lines += ["", f"ratios at concurrency {c32}, batch_max_size {b}, median of {args.rounds} rounds (targets of issue 4)"]

    def section(title: str, rows: list[str]) -> None:
        if rows:
            lines.extend([title, *rows])

    def vs(kind: str, key: str, unit: str, target: float | None) -> list[str]:
        if (kind, c32) not in on or key not in base:
            return []
        x = on[(kind, c32)].throughput
        judged = verdict(ratio(x, base[key]), target) if target else f"{ratio(x, base[key]):5.2f} (context: includes the encoder, see (a))"
        return [f"    {kind:<15} {x:8.1f} / {base[key]:8.1f} {unit} = {judged}"]

    section(f"(a) server, single-item clients / in-process encoder on batches of {b}:",
            [r for m in ("text", "image", "speech") for r in vs(f"Embed{m.title()}", f"embed {m}", "items/s", TARGETS["a"])])
    # Issue 4 sets targets for (b) on text and for (c) on the search path alone; the other lines are context.
    section("(b) batching on / off:", [
        f"    {kind:<15} {on[(kind, c)].throughput:8.1f} / {r.throughput:8.1f} req/s = "
        + (verdict(ratio(on[(kind, c)].throughput, r.throughput), TARGETS["b"]) if kind == "EmbedText"
           else f"{ratio(on[(kind, c)].throughput, r.throughput):5.2f} (no target: a 2-core image model gains little from batches)")
        for (kind, c), r in off.items()
    ])
    section(f"(c) SearchByVector / raw index search (FAISS exact, in-process, batches of {b}) over {args.vector_items:,} "
            "vectors, vectors already embedded:", vs("SearchByVector", "index search vector", "queries/s", TARGETS["c"]))
    if "index search" in base:
        section(f"    and SearchBy* / in-process embed + index search on batches of {b}, collection '{COLLECTION}' "
                f"({args.texts + args.images} items; index search alone there: {base['index search']:.0f} queries/s):",
                [r for m in ("text", "image", "speech") for r in vs(f"SearchBy{m.title()}", f"search {m}", "queries/s", None)])
    section(f"(d) embedded / reference encoder speed, in-process, batches of {b} (speech with transcription):", [
        f"    {m:<15} {base[f'encoder {m}']:8.1f} / {base[f'reference {m}']:8.1f} items/s = "
        f"{ratio(base[f'encoder {m}'], base[f'reference {m}']):.2f}x"
        for m in ("text", "image", "speech") if f"reference {m}" in base
    ])
    section(f"latency spread at concurrency {c32}, p99 / p50:", [
        f"    {kind:<15} {verdict(on[(kind, c32)].percentile(99) / on[(kind, c32)].percentile(50), TARGETS['spread'], higher=False)}"
        for kind in KINDS if (kind, c32) in on
    ])
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests and shorter timings (a smoke run, minutes)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128], help="concurrency levels (default 1 8 32 128)")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="RPC kinds to drive (default all)")
    ap.add_argument("--requests", type=int, help="most requests per point (default 2000; quick 200)")
    ap.add_argument("--seconds", type=float, help="most seconds of sending per point (default 20; quick 4)")
    ap.add_argument("--batch-max-size", type=int, default=32, help="the servers' and baselines' batch size (default 32)")
    ap.add_argument("--batch-max-delay-ms", type=float, default=20.0, help="the server's batch_max_delay_ms (default 20, the server's default)")
    ap.add_argument("--texts", type=int, default=400, help="text items in the collection (default 400)")
    ap.add_argument("--speech-gallery", choices=["bench", "faq"], default="bench",
                    help="what SearchBySpeech searches: 'bench' (the short sentences, which re-ranking scores: 1.8 s "
                    "commands) or 'faq' (the demo's 169 written answers, too long to have been said, so not scored: "
                    "3-4 s spoken customer questions, issue 17's setting); default bench")
    ap.add_argument("--images", type=int, default=48, help="image items in the collection (default 48)")
    ap.add_argument("--vector-items", type=int, default=1_000_000, help="vectors in the SearchByVector collection (default 1,000,000)")
    ap.add_argument("--rounds", type=int, help="rounds per ratio, the median reported (default 3; quick 1)")
    ap.add_argument("--no-reference", action="store_true", help="skip (d), the reference encoders")
    ap.add_argument("--no-unbatched", action="store_true", help="skip (b), the server with batching off")
    ap.add_argument("--baseline-src", type=Path, help="a source tree of another commit (e.g. a git worktree): its servers "
                    "run beside this tree's and the report gives new / old for (a) and (b), measured round by round, "
                    "and its own concurrency-8 / concurrency-1 speech throughput ratio (issue 17)")
    ap.add_argument("--checkpoint", type=Path, help="checkpoint directory for this tree's servers and in-process baselines "
                    "(default: the shipped one); the --baseline-src servers always use their own tree's default")
    ap.add_argument("--out", type=Path, help="also write the report to this file (e.g. bench/results/throughput.txt)")
    args = ap.parse_args()
    args.requests = args.requests or (200 if args.quick else 2000)
    args.seconds = args.seconds or (4.0 if args.quick else 20.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if "SearchByVector" not in args.kinds:
        args.vector_items = 0
    if args.baseline_src is not None:
        args.baseline_src = check_source_tree(args.baseline_src)
        args.baseline_commit = source_commit(args.baseline_src)
    if args.checkpoint is not None:
        args.checkpoint = args.checkpoint.resolve()
        if not (args.checkpoint / "manifest.json").is_file():
            sys.exit(f"--checkpoint {args.checkpoint}: no manifest.json there")
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed for the speech inputs: apt-get install espeak-ng")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    command = "python bench/throughput.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    header = [
        "# xmodal throughput: RPCs over loopback gRPC under concurrency, against baselines measured in the same run",
        f"command: {command.strip()}  (commit {commit()})",
        f"machine: {machine(torch_threads=True)}",
    ]
    work = Path(tempfile.mkdtemp(prefix="xmodal-bench-"))
    try:
        inputs = make_inputs(work, args.texts, args.images, args.vector_items, args.speech_gallery)
        header.append(f"inputs: {args.texts} texts + {args.images} 96x96 PNGs in collection '{COLLECTION}'; queries: other "
                      f"sentences and PNGs; speech: {len(inputs.wavs)} espeak-ng clips of {inputs.wav_seconds:.1f} s "
                      f"(default speech mode), SearchBySpeech in '{inputs.speech_collection}'; {args.vector_items:,} random unit vectors in '{VECTOR_COLLECTION}' (exact "
                      f"index); top_k {TOP_K}")
        header.append(f"server: xmodal serve as a subprocess on 127.0.0.1 (batch_max_size {args.batch_max_size}, "
                      f"batch_max_delay_ms {args.batch_max_delay_ms:g}); each point: up to {args.requests} requests or "
                      f"{args.seconds:g} s of sending, closed loop, single-item requests")
        flags = ["--batch-max-size", str(args.batch_max_size), "--batch-max-delay-ms", str(args.batch_max_delay_ms),
                 "--max-batch", str(VECTOR_ADD_BATCH)]  # items per AddItems: filling 1M vectors 64 at a time is slow
        new_flags = [*flags, "--checkpoint", str(args.checkpoint)] if args.checkpoint is not None else flags
        servers: list[ServerProcess] = []
        try:
            on = ServerProcess(work / "data", new_flags)
            servers.append(on)
            fill_collection(on.address, inputs)
            off = None
            if not args.no_unbatched and set(UNBATCHED_KINDS) & set(args.kinds):
                off = ServerProcess(work / "data-unbatched", [*new_flags, "--no-batching"])  # idle until its turn
                servers.append(off)
            old, vectors = None, []
            checkpoints = f"checkpoint: {checkpoint_id(on.address)}"
            if args.baseline_src is not None:
                old_on = ServerProcess(work / "data-old", flags, src=args.baseline_src)
                servers.append(old_on)
                checkpoints = (f"checkpoints: new (this tree) {checkpoint_id(on.address)}, old (--baseline-src, its "
                               f"default) {checkpoint_id(old_on.address)}")
                if any(k.startswith("Search") and scaled(args, k) for k in args.kinds):
                    fill_collection(old_on.address, inputs)  # the old tree's side of the SearchBy* scaling
                old_off = None
                if off is not None:
                    old_off = ServerProcess(work / "data-old-unbatched", [*flags, "--no-batching"], src=args.baseline_src)
                    servers.append(old_off)
                old = (old_on, old_off)
                vectors = same_vectors(on.address, old_on.address, inputs)
                print("\n".join(vectors), flush=True)
            header.append(checkpoints)
            print(checkpoints, flush=True)
            baselines = Baselines(work / "data", inputs, args.batch_max_size, 2.0 if args.quick else 8.0,
                                  1 if args.quick else 3, not args.no_reference, args.checkpoint)
            results_on, results_off, base, versus, scaling = asyncio.run(drive(args, inputs, on, off, baselines, old))
            baselines.close()
        finally:
            for server in servers:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, header, results_on, results_off, base)
    if scaling:
        text += "\n".join(scaling_report(args, scaling)) + "\n"
    if versus:
        text += "\n".join(versus_report(args, versus, vectors)) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
