"""Overload: speech requests at ~10x the server's measured capacity, each with a deadline; does every caller get
an answer within its deadline, and does the server stay up and bounded?

Starts the real server (``xmodal serve``, the embedded profile) as a subprocess on 127.0.0.1 (throughput.py's
``ServerProcess``), fills a small text collection, then:

1. capacity: closed-loop clients (loadgen.py) at --calibrate-concurrency, without deadlines: answers per second;
2. overload: an open-loop stream at --factor x that capacity for --seconds, each call with a --deadline.
   Open loop, not loadgen's closed loop: closed-loop clients slow down when the server does, and speed up
   when it refuses fast, so they never hold the offered load at a multiple of capacity;
3. after: health must be SERVING and one more request must succeed.

It reports the share of each answer (OK, RESOURCE_EXHAUSTED split into the queue's item and time limits,
DEADLINE_EXCEEDED split into refused at once by the server, expired in its queue, and the client's own timer
firing because no answer came), answer times per kind against the deadline, late answers (past the deadline
+ --grace), goodput under overload / capacity, and the server's RSS (/proc/PID/status VmRSS) at start, before
the overload, at its peak during it and after.

    python bench/overload.py --seconds 20 --calibrate-seconds 20      # a smoke run, a few minutes
    python bench/overload.py --out bench/results/overload.txt         # the run of record
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import grpc
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from loadgen import channel, run_load  # noqa: E402
from report import Report  # noqa: E402
from throughput import Inputs, ServerProcess, fill_collection, rpc_requests, sentences, speech, stubs  # noqa: E402

RPCS = ("SearchBySpeech", "EmbedSpeech")


class RssSampler:
    """The server's resident memory (kB), read from /proc every ``period`` seconds on a thread, tagged with the
    phase of the run it was read in."""

    def __init__(self, pid: int, period: float = 0.25):
        self.pid, self.period = pid, period
        self.phase = "start"
        self.samples: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        try:
            for line in open(f"/proc/{self.pid}/status"):
                if line.startswith("VmRSS:"):
                    self.samples.append((self.phase, int(line.split()[1])))
                    return
        except OSError:
            pass  # the process is gone: the report says so through its health check

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def mb(self, phase: str, how=max) -> float:
        values = [kb for p, kb in self.samples if p == phase]
        return how(values) / 1024 if values else float("nan")


def kind_of(code: grpc.StatusCode, details: str) -> str:
    """One answer's kind: the status, and for refusals and deadlines which batcher gave it and why (from
    batching.py's messages; a SearchBySpeech call passes the speech, search and rerank batchers in turn)."""
    batcher = m.group(1) if (m := re.search(r"the (\w+) (?:model|queue|request)", details)) else "?"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        if "would finish" in details:
            return f"DEADLINE_EXCEEDED refused at once by {batcher} (estimated finish past the deadline)"
        if "while queued" in details:
            return f"DEADLINE_EXCEEDED expired in the {batcher} queue"
        if "too little of its deadline" in details:
            return f"DEADLINE_EXCEEDED refused at once by {batcher} (no time left for the later stages)"
        if "could be queued" in details:
            return f"DEADLINE_EXCEEDED passed before the {batcher} queue"
        return "DEADLINE_EXCEEDED by the client's timer (no answer in time)"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if "s of work is waiting" in details:
            return f"RESOURCE_EXHAUSTED {batcher} queue over its time limit"
        return f"RESOURCE_EXHAUSTED {batcher} queue over its item limit" if "items waiting" in details else "RESOURCE_EXHAUSTED other"
    return code.name


async def open_loop(method, requests: list, rate: float, seconds: float, deadline: float) -> tuple[list[tuple[str, float]], float]:
    """Calls at ``rate`` per second, evenly spaced, for ``seconds``, each with ``deadline``; every call is awaited
    to its answer. Returns (kind, seconds to the answer) per call and the seconds the sending took."""
    answers: list[tuple[str, float]] = []

    async def one(request) -> None:
        t0 = time.perf_counter()
        try:
            await method(request, timeout=deadline)
            kind = "OK"
        except grpc.aio.AioRpcError as e:
            kind = kind_of(e.code(), e.details() or "")
        answers.append((kind, time.perf_counter() - t0))

    tasks = []
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(requests[i % len(requests)])))
    sent = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return answers, sent


def mean_batch(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> str:
    """Mean batch size per speech-model batcher between two /metrics reads."""
    parts = []
    for name in ("speech", "rerank"):
        n, items = (a - b for a, b in zip(after.get(name, (0, 0)), before.get(name, (0, 0))))
        if n:
            parts.append(f"{name} {int(n)} batches of {items / n:.1f} items on average")
    return ", ".join(parts) or "no speech batches"


async def drive(args, server: ServerProcess, service: str, requests: list, rss: RssSampler, report: Report) -> int:
    from xmodal import Client

    async with channel(server.address) as ch:
        method = getattr(stubs(ch)[service], args.rpc)
        for r in requests[:3]:  # warm the path (first-call costs are not capacity)
            await method(r, timeout=600)

        rss.phase = "calibrate"
        batches = server.batches()
        cal = await run_load(method, requests, concurrency=args.calibrate_concurrency, total=10**9,
                             seconds=args.calibrate_seconds, timeout=600, backoff=args.backoff)
        cal_batch = mean_batch(batches, server.batches())
        capacity = cal.throughput
        report.log(f"capacity: {capacity:.2f} {args.rpc}/s answered OK by {args.calibrate_concurrency} closed-loop clients "
                   f"without deadlines over {cal.seconds:.1f} s ({len(cal.latencies_ms)} OK, p50 {cal.percentile(50):.0f} ms, "
                   f"p99 {cal.percentile(99):.0f} ms; {cal_batch}; refused {sum(cal.errors.values())}: {dict(cal.errors) or 'none'}, "
                   f"each refused client waiting {args.backoff:g} s before its next call)")
        if capacity <= 0:
            report.log("no request succeeded while measuring capacity: nothing to overload")
            return 1

        rate = args.factor * capacity
        report.log(f"overload: {rate:.1f} calls/s (= {args.factor:g} x capacity), open loop, for {args.seconds:g} s, "
                   f"deadline {args.deadline:g} s each")
        rss.phase = "overload"
        batches = server.batches()
        answers, sent = await open_loop(method, requests, rate, args.seconds, args.deadline)
        over_batch = mean_batch(batches, server.batches())
        rss.phase = "after"

    with Client(server.address, timeout=600) as c:
        health = c.health()
    async with channel(server.address) as ch:
        t0 = time.perf_counter()
        await getattr(stubs(ch)[service], args.rpc)(requests[0], timeout=600)
        after_ms = (time.perf_counter() - t0) * 1e3
    alive = server.proc.poll() is None

    n = len(answers)
    counts = Counter(k for k, _ in answers)
    times = defaultdict(list)
    for k, t in answers:
        times[k].append(t)
    report.log(f"sent {n} calls in {sent:.1f} s ({n / sent:.1f}/s offered); every call answered: "
               f"{'yes' if n == int(rate * args.seconds) else 'NO'}")
    report.log("")
    report.log(f"{'answer':<80} {'count':>6} {'share':>7} {'p50 s':>7} {'max s':>7}")
    for k, c in counts.most_common():
        report.log(f"{k:<80} {c:>6} {c / n:>7.1%} {np.percentile(times[k], 50):>7.3f} {max(times[k]):>7.3f}")
    report.log("")
    ok_rate = counts["OK"] / sent
    longest = max(t for _, t in answers)
    late = sum(t > args.deadline + args.grace for _, t in answers)
    timed_out = sum(c for k, c in counts.items() if "client's timer" in k)
    report.log(f"every call got a status within its deadline: {'yes' if late == 0 else 'NO'} (longest answer {longest:.3f} s "
               f"for a {args.deadline:g} s deadline; {late} later than deadline + {args.grace:g} s; {timed_out} answered "
               f"by the client's own timer, the server having not answered in time)")
    report.log(f"during the overload: {over_batch}")
    report.log(f"goodput under overload / capacity: {ok_rate / capacity:.2f} ({ok_rate:.2f} OK/s vs {capacity:.2f} OK/s)")
    report.log(f"server after the overload: process {'running' if alive else 'GONE'}, health {health}, one more "
               f"{args.rpc} OK in {after_ms:.0f} ms")
    report.log(f"server RSS (MiB): start {rss.mb('start', how=lambda v: v[0]):.0f}, peak while measuring capacity "
               f"{rss.mb('calibrate'):.0f}, at the start of the overload {rss.mb('overload', how=lambda v: v[0]):.0f}, peak during it "
               f"{rss.mb('overload'):.0f}, after {rss.mb('after', how=lambda v: v[-1]):.0f} "
               f"({len(rss.samples)} samples every {rss.period:g} s)")
    return 0 if alive and health == "SERVING" and late == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rpc", choices=RPCS, default="SearchBySpeech")
    ap.add_argument("--factor", type=float, default=10.0, help="offered load as a multiple of the measured capacity (default 10)")
    ap.add_argument("--deadline", type=float, default=2.0, help="each overload call's deadline in seconds (default 2)")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the overload is offered (default 60)")
    ap.add_argument("--calibrate-seconds", type=float, default=30.0, help="how long capacity is measured (default 30)")
    ap.add_argument("--calibrate-concurrency", type=int, default=32,
                    help="closed-loop clients measuring capacity (default 32: full batches of the default batch_max_size)")
    ap.add_argument("--backoff", type=float, default=0.5,
                    help="while measuring capacity, a client refused with RESOURCE_EXHAUSTED waits this long (default 0.5 s)")
    ap.add_argument("--grace", type=float, default=0.1,
                    help="an answer counts as late past deadline + this (the client's timers and event loop on a busy machine)")
    ap.add_argument("--profile", default="embedded", choices=("embedded", "reference"))
    ap.add_argument("--server-flags", default="", help="more `xmodal serve` flags, e.g. '--speech-queue-seconds 2'")
    ap.add_argument("--out", type=Path, help="also write the report here (e.g. bench/results/overload.txt)")
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is needed for the speech inputs: apt-get install espeak-ng")

    report = Report(f"Overload: {args.rpc} at {args.factor:g}x measured capacity, deadline {args.deadline:g} s", torch_threads=True)
    work = Path(tempfile.mkdtemp(prefix="xmodal-overload-"))
    try:
        wavs, wav_seconds = speech(work)
        inputs = Inputs(sentences(200, 0), [], [], [], wavs, wav_seconds)
        flags = ["--profile", args.profile, *shlex.split(args.server_flags)]
        report.log(f"server: xmodal serve as a subprocess on 127.0.0.1, flags {' '.join(flags)} (other settings default: "
                   f"batch_max_size 32, batch_queue_size 256, speech_queue_seconds 5); inputs: {len(wavs)} espeak-ng clips "
                   f"of {wav_seconds:.1f} s on average" + (f", a collection of {len(inputs.texts)} texts" if args.rpc.startswith("Search") else ""))
        t0 = time.perf_counter()
        server = ServerProcess(work / "data", flags)
        report.log(f"server ready in {time.perf_counter() - t0:.0f} s (pid {server.proc.pid})")
        rss = RssSampler(server.proc.pid)
        try:
            if args.rpc.startswith("Search"):
                fill_collection(server.address, inputs)
            service, requests = rpc_requests(inputs)[args.rpc]
            code = asyncio.run(drive(args, server, service, requests, rss, report))
        finally:
            rss.stop()
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.write(args.out)
    return code


if __name__ == "__main__":
    sys.exit(main())
