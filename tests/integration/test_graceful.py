"""SIGTERM on a real ``xmodal serve`` process under load: every request that was in flight finishes OK,
health stops saying SERVING, new requests are refused, the process exits 0 within the grace period,
and every write acknowledged before the exit is there after a restart (which logs JSON lines)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from xmodal import Client, Item, XmodalClientError

pytestmark = pytest.mark.slow

READY = re.compile(r"xmodal SERVING on ([\d.]+):(\d+) after ([\d.]+)s")
GRACE = 60  # generous: the in-flight speech batches must finish on a shared 2-core machine
SPEECH_WORKERS = 3
CLIPS = 1  # per EmbedSpeech request; the workers' requests share batches of about a second on a quiet CPU


class ServerProcess:
    """``xmodal serve`` with stdout (the READY line) and stderr (the logs) drained by threads, so a
    chatty server can never block on a full pipe."""

    def __init__(self, data_dir: Path, *extra: str):
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xmodal.cli", "serve", "--port", "0", "--metrics-port", "0",
             "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._ready = threading.Event()
        self.address = ""
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.out, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.err, False), daemon=True).start()
        if not self._ready.wait(600) or not self.address:
            self.proc.kill()
            raise AssertionError("server never became ready:\n" + "".join(self.out[-20:] + self.err[-40:]))

    def _drain(self, stream, lines: list[str], watch: bool) -> None:
        for line in stream:
            lines.append(line)
            m = READY.search(line) if watch else None
            if m:
                self.address = f"127.0.0.1:{m.group(2)}"
                self._ready.set()
        if watch:
            self._ready.set()  # exited before READY

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@dataclass
class Call:
    kind: str
    started: float
    ended: float = 0.0
    code: grpc.StatusCode | None = None
    ids: list[str] = field(default_factory=list)


def timed(kind: str, fn, log: list[Call], ids=()) -> Call:
    call = Call(kind, time.monotonic(), ids=list(ids))
    try:
        fn()
        call.code = grpc.StatusCode.OK
    except XmodalClientError as e:
        call.code = e.code
        time.sleep(0.05)  # refused at once after SIGTERM: don't spin while the server drains
    call.ended = time.monotonic()
    log.append(call)
    return call


def test_sigterm_drains_in_flight_requests_and_keeps_acknowledged_writes(tmp_path, speech_wav, capsys):
    server = ServerProcess(tmp_path, "--grace-seconds", str(GRACE))
    calls: list[Call] = []
    current: dict[int, float] = {}  # worker -> start of its request in flight (absent: between requests)
    done = threading.Event()
    try:
        with Client(server.address) as c:
            c.create_collection("notes")
            c.add_items("notes", [Item.text("before", "written before the load")])

        def speak(worker: int) -> None:
            with Client(server.address, timeout=120) as c:
                while not done.is_set():
                    current[worker] = time.monotonic()
                    timed("speech", lambda: c.embed_speech([speech_wav] * CLIPS), calls)
                    current.pop(worker, None)

        def write() -> None:
            with Client(server.address, timeout=120) as c:
                n = 0
                while not done.is_set():
                    ids = [f"w{n}-{j}" for j in range(3)]
                    timed("write", lambda: c.add_items("notes", [Item.text(i, f"note {i}") for i in ids]), calls, ids)
                    n += 1

        threads = [threading.Thread(target=speak, args=(w,)) for w in range(SPEECH_WORKERS)]
        threads.append(threading.Thread(target=write))
        for t in threads:
            t.start()

        # SIGTERM once every speech worker has a request that has been on the server for a while
        # (0.1 s: far longer than a loopback round trip, far shorter than a batch of speech).
        deadline = time.monotonic() + 300
        while True:
            now = time.monotonic()
            written = any(c.kind == "write" and c.code == grpc.StatusCode.OK for c in calls)
            starts = [current.get(w) for w in range(SPEECH_WORKERS)]
            if written and all(s is not None and now - s > 0.1 for s in starts):
                break
            assert now < deadline, "the load never got going"
            time.sleep(0.02)
        sigterm_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)

        probes: list[tuple[float, str]] = []  # health seen by fresh connections during the drain
        while server.proc.poll() is None and time.monotonic() - sigterm_at < GRACE + 30:
            with Client(server.address, timeout=2) as probe:
                try:
                    probes.append((time.monotonic(), probe.health()))
                except XmodalClientError as e:
                    probes.append((time.monotonic(), e.code.name))
            time.sleep(0.1)
        rc = server.proc.wait(30)
        exited_after = time.monotonic() - sigterm_at
        done.set()
        for t in threads:
            t.join(150)
    finally:
        done.set()
        server.stop()

    log = "".join(server.err)
    assert rc == 0, log[-3000:]
    assert exited_after < GRACE, f"exit took {exited_after:.1f}s"
    assert "stopped cleanly" in log

    before = [c for c in calls if c.started < sigterm_at]
    in_flight = [c for c in before if c.ended > sigterm_at]
    assert sum(c.kind == "speech" for c in in_flight) >= SPEECH_WORKERS
    failed = [(c.kind, c.code) for c in before if c.code != grpc.StatusCode.OK]
    assert failed == [], f"requests started before SIGTERM failed: {failed}"
    late = [c for c in calls if c.started > sigterm_at + 1.0]
    assert all(c.code != grpc.StatusCode.OK for c in late), "new requests were still served during the drain"

    assert probes, "the process exited before any health probe"
    not_serving = [t for t, status in probes if status != "SERVING"]
    assert not_serving and not any(s == "SERVING" for t, s in probes if t > not_serving[0]), probes
    # A probe that reaches the server as it stops may be CANCELLED: it is a new call, not one in flight.
    assert all(s in ("SERVING", "NOT_SERVING", "UNAVAILABLE", "CANCELLED") for _, s in probes), probes

    acknowledged = ["before"] + [i for c in calls if c.kind == "write" and c.code == grpc.StatusCode.OK for i in c.ids]
    again = ServerProcess(tmp_path, "--log-format", "json")
    try:
        with Client(again.address) as c:
            found, missing = c.get_items("notes", acknowledged)
            assert missing == [] and len(found) == len(acknowledged)
            assert {x["name"]: x["item_count"] for x in c.list_collections()} == {"notes": len(acknowledged)}
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(GRACE) == 0
    finally:
        again.stop()
    records = [json.loads(line) for line in again.err if line.strip()]  # every log line is one JSON object
    assert any(r["message"] == "stopped cleanly" and r["logger"] == "xmodal_server.app" for r in records)

    with capsys.disabled():
        last = max(c.ended for c in in_flight) - sigterm_at
        print(f"\n[graceful] {len(in_flight)} requests in flight at SIGTERM, all OK, the last {last:.1f}s later; exit 0 after "
              f"{exited_after:.1f}s (grace {GRACE}s); {len(acknowledged)} acknowledged items kept; "
              f"health seen: {sorted({s for _, s in probes})}")


def test_sigterm_while_the_models_load_exits_promptly(tmp_path):
    """Loading takes tens of seconds on CPU; a pod deleted meanwhile must not wait for it (the load runs on
    a daemon thread that the exit abandons)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "xmodal.cli", "serve", "--port", "0", "--metrics-port", "-1", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        for line in proc.stdout:  # the port is bound and health answers NOT_SERVING from here on
            lines.append(line)
            if "loading models" in line:
                break
        assert "loading models" in "".join(lines), "".join(lines)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - t0
        assert proc.returncode == 0, out
        assert "SERVING on" not in out
        # Far below a model load (about 15-60 s here): the exit did not wait for it.
        assert took < 10, f"exit took {took:.1f}s:\n{out}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
