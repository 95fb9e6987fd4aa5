"""SearchBySpeech latency at concurrency 1, per speech mode, against SearchByText in the same run.

Starts the real server in-process on 127.0.0.1 (port 0) with the default checkpoint, fills a collection
with the FAQ answers, synthesizes a ~3 s question with espeak-ng and sends it sequentially.

    python bench/speech_latency.py --requests 30 --out bench/results/speech_latency.txt

Also times SearchBySpeech with re-ranking (``--rerank``: the speech model scores the top K answers' texts),
with each count of sound-alike candidates in ``--sound-alike`` (SpeechRerank.sound_alike, set per request).
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report  # noqa: E402  bench/report.py


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=30, help="sequential requests per mode (default 30)")
    ap.add_argument("--checkpoint", default="", help="checkpoint directory (default: the shipped one)")
    ap.add_argument("--rerank", default="10,25", help="re-ranking depths to time with the default mode, comma-separated "
                                                      "(SpeechRerank.candidates; default 10,25; '' for none)")
    ap.add_argument("--sound-alike", default="0,10,25", help="sound-alike candidates per re-ranked call, comma-separated "
                                                             "(SpeechRerank.sound_alike; default 0,10,25)")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed: apt-get install espeak-ng")

    from xmodal import Client, Item
    from xmodal_server.app import App
    from xmodal_server.config import Config
    from xmodal_server.demo import load_faq

    tmp = Path(tempfile.mkdtemp())
    wav = tmp / "q.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), "how long do I have to return an item I bought online"], check=True)
    import soundfile as sf

    seconds = sf.info(str(wav)).duration
    ready, holder = threading.Event(), {}

    def serve() -> None:
        async def run() -> None:
            app = App(Config(port=0, metrics_port=0, data_dir=str(tmp / "data"), checkpoint=args.checkpoint))
            holder["port"] = await app.start()
            await app.ready
            holder["app"], holder["loop"], holder["stop"] = app, asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await holder["stop"].wait()
            await app.stop(1)

        asyncio.run(run())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ready.wait(600)
    with Client(f"127.0.0.1:{holder['port']}") as c:
        info = c.info()
        c.create_collection("faq")
        rows = load_faq()
        for i in range(0, len(rows), 32):
            c.add_items("faq", [Item.text(r["id"], r["answer"]) for r in rows[i : i + 32]])
        # Re-ranking's use: a collection of utterances (short texts people say), here the FAQ's questions.
        questions = [Item.text(f"{r['id']}-{j}", q.strip()) for r in rows for j, q in enumerate(r["questions"].split("||"))]
        c.create_collection("questions")
        for i in range(0, len(questions), 32):
            c.add_items("questions", questions[i : i + 32])
        from xmodal.v1 import common_pb2

        modes = [common_pb2.SpeechMode.Name(m).removeprefix("SPEECH_MODE_").lower() for m in info.speech_modes]
        results = {}
        calls = {"text (baseline)": lambda: c.search_text("faq", "how long do I have to return an item I bought online", top_k=5)}
        calls.update({f"speech {m}": (lambda m=m: c.search_speech("faq", wav, top_k=5, mode=m)) for m in modes})
        # The server's default re-ranks (GetInfo.rerank_candidates) and adds the sound-alike term
        # (GetInfo.sound_alike_weight); without them, same request:
        calls[f"speech {modes[0]}, no re-ranking"] = lambda: c.search_speech("faq", wav, top_k=5, rerank=0)
        calls[f"speech {modes[0]}, no re-ranking, weight 0"] = lambda: c.search_speech(
            "faq", wav, top_k=5, rerank=0, sound_alike_weight=0)
        calls[f"speech {modes[0]}, questions"] = lambda: c.search_speech("questions", wav, top_k=5)
        calls[f"speech {modes[0]}, no re-ranking, questions"] = lambda: c.search_speech("questions", wav, top_k=5, rerank=0)
        depths = [int(k) for k in args.rerank.split(",") if k.strip()] if info.HasField("rerank_gate") else []
        extras = [int(n) for n in args.sound_alike.split(",") if n.strip()]
        for name in ("faq", "questions"):
            calls.update({f"speech {modes[0]} + rerank {k} + {n}, {name}":
                          (lambda k=k, n=n, g=name: c.search_speech(g, wav, top_k=5, rerank=k, sound_alike=n))
                          for k in depths for n in extras})
        for name, call in calls.items():
            call()  # warm
            lat = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                call()
                lat.append((time.perf_counter() - t0) * 1e3)
            results[name] = lat
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    t.join(30)
    base = percentile(results["text (baseline)"], 50)
    rep = Report(f"SearchBySpeech latency, concurrency 1, {args.requests} requests per mode", torch_threads=True)
    rep.log(f"checkpoint {info.checkpoint_id}; utterance {seconds:.1f} s; collections: faq ({len(rows)} FAQ answers, "
            f"the default for every call), questions ({len(questions)} FAQ questions: short utterances)")
    rep.log(f"speech modes with a transcript rank by cosine + {info.sound_alike_weight:g} x sound-alike similarity "
            f"and re-rank the best {info.rerank_candidates} hits + {info.rerank_sound_alike} sound-alike texts (the "
            "server's defaults) unless the row says otherwise")
    rep.log("rerank K + N: the search's best K hits and N sound-alike texts scored by the speech model")
    rep.log(f"{'call':<44} {'p50 ms':>8} {'p95 ms':>8} {'p50 / text p50':>15}")
    for name, lat in results.items():
        rep.log(f"{name:<44} {percentile(lat, 50):8.1f} {percentile(lat, 95):8.1f} {percentile(lat, 50) / base:15.1f}")
    rep.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
