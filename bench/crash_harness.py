"""Crash harness: SIGKILL ``xmodal serve`` at random moments while several threads add, upsert and delete
text items; restart it and check that nothing acknowledged was lost.

After every restart, for every id ever written (GetItems):
* an acknowledged add or upsert is present with the version (metadata ``v``) of the last acknowledged write;
* an acknowledged delete is absent;
* a request that was in flight at the kill (no answer) is all or nothing: every id of it shows either the
  state before it or the state after it, all the same one (its outcome is then adopted);
* the item count equals the number of present ids, a search over everything returns exactly them (exact
  collection) or a subset of them (HNSW), and a metadata-filtered search returns exactly the matching ones.

Two collections take the writes, one exact and one HNSW (deletes are tombstones there), and snapshots are
taken every ``--snapshot-ops`` operations, so kills also land during snapshot writes and restarts replay
the log after a snapshot. ``lost`` counts every violation; the exit status is 1 if it is not 0.

    python bench/crash_harness.py --cycles 20 --out bench/results/crash_harness.txt
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py, also when a test imports this file
from report import Report  # noqa: E402
from xmodal import Client, Item, XmodalClientError

READY = re.compile(r"xmodal SERVING on ([\d.]+):(\d+) after ([\d.]+)s")
EVENTS = ("unclean_shutdown", "snapshot_loaded", "snapshot_invalid", "wal_torn_tail", "rebuilt_from_log", "index_rebuilt")
COLLECTIONS = {"crash-exact": "exact", "crash-hnsw": "hnsw"}
TOPICS = ["refunds", "shipping", "routers", "passwords", "gift cards", "returns", "invoices", "delivery"]
ABSENT = None  # the state of an id that is not in the collection; otherwise its version (int)
MAX_PRESENT_PER_WRITER = 60


class Server:
    """``xmodal serve`` as a child process; its output is drained by a thread (a full pipe would block it)."""

    def __init__(self, data_dir: Path, *extra: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xmodal.cli", "serve", "--port", "0", "--metrics-port", "-1",
             "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self.tail: collections.deque[str] = collections.deque(maxlen=400)
        self.events: collections.Counter[str] = collections.Counter()
        self._ready = threading.Event()
        self.address = ""
        self.ready_seconds = 0.0
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(900) or not self.address:
            self.proc.kill()
            raise RuntimeError("server never became ready:\n" + "".join(list(self.tail)[-40:]))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.tail.append(line)
            for event in EVENTS:
                if f": {event}: " in line:
                    self.events[event] += 1
            m = READY.search(line)
            if m:
                self.address, self.ready_seconds = f"127.0.0.1:{m.group(2)}", float(m.group(3))
                self._ready.set()
        self._ready.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(120)


@dataclass
class Ledger:
    """What the server acknowledged: (collection, id) -> version or ABSENT; plus requests left unanswered."""

    state: dict[tuple[str, str], int | None] = field(default_factory=dict)
    in_flight: list[list[tuple[tuple[str, str], int | None, int | None]]] = field(default_factory=list)
    acked: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def item(coll_key: tuple[str, str], version: int, writer: int) -> Item:
    _, item_id = coll_key
    topic = TOPICS[hash((item_id, version)) % len(TOPICS)]
    return Item.text(item_id, f"item {item_id} version {version} about {topic}",
                     {"v": str(version), "w": str(writer), "parity": str(version % 2)})


def writer(idx: int, address: str, ledger: Ledger, stop: threading.Event, seed: int, counter: list[int]) -> None:
    rng = random.Random(seed)
    with Client(address, timeout=30) as c:
        while not stop.is_set():
            coll = rng.choice(list(COLLECTIONS))
            with ledger.lock:
                mine = [k for k, v in ledger.state.items() if k[0] == coll and v is not ABSENT
                        and k[1].startswith(f"w{idx}-")]
            roll = rng.random()
            if mine and (roll < 0.25 or len(mine) > MAX_PRESENT_PER_WRITER):
                op, keys = "delete", rng.sample(mine, min(len(mine), rng.randint(1, 4)))
                change = [(k, ledger.state[k], ABSENT) for k in keys]
            elif mine and roll < 0.5:
                op, keys = "upsert", rng.sample(mine, min(len(mine), rng.randint(1, 4)))
                change = [(k, ledger.state[k], ledger.state[k] + 1) for k in keys]
            else:
                op, keys = "add", []
                for _ in range(rng.randint(1, 8)):
                    counter[0] += 1
                    keys.append((coll, f"w{idx}-{counter[0]}"))
                change = [(k, ABSENT, 1) for k in keys]
            try:
                if op == "delete":
                    c.delete_items(coll, [k[1] for k in keys])
                else:
                    items = [item(k, new, idx) for k, _, new in change]
                    (c.upsert_items if op == "upsert" else c.add_items)(coll, items)
            except XmodalClientError:
                with ledger.lock:  # no answer: it may or may not have happened
                    ledger.in_flight.append(change)
                return
            with ledger.lock:
                for k, _, new in change:
                    ledger.state[k] = new
                ledger.acked[op] += len(change)


def verify(address: str, ledger: Ledger) -> tuple[int, list[str]]:
    """(violations, descriptions); adopts the outcome of requests that were in flight."""
    problems: list[str] = []
    observed: dict[tuple[str, str], int | None] = {}
    with Client(address, timeout=120) as c:
        for coll in COLLECTIONS:
            ids = sorted(k[1] for k in set(ledger.state) | {k for ch in ledger.in_flight for k, _, _ in ch} if k[0] == coll)
            for i in range(0, len(ids), 500):
                found, _ = c.get_items(coll, ids[i : i + 500])
                got = {f["id"]: int(f["metadata"]["v"]) for f in found}
                observed.update({(coll, x): got.get(x, ABSENT) for x in ids[i : i + 500]})
        uncertain = {k for ch in ledger.in_flight for k, _, _ in ch}
        for k, want in ledger.state.items():
            if k not in uncertain and observed[k] != want:
                problems.append(f"{k}: acknowledged {want}, found {observed[k]}")
        for change in ledger.in_flight:
            before = all(observed[k] == old for k, old, _ in change)
            after = all(observed[k] == new for k, _, new in change)
            if not (before or after):
                problems.append(f"half-applied request: {[(k, old, new, observed[k]) for k, old, new in change]}")
            for k, _, _ in change:
                ledger.state[k] = observed[k]
        ledger.in_flight.clear()
        for coll, kind in COLLECTIONS.items():
            present = {k[1] for k, v in ledger.state.items() if k[0] == coll and v is not ABSENT}
            count = c.get_collection(coll)["item_count"]
            if count != len(present):
                problems.append(f"{coll}: item_count {count}, {len(present)} present")
            if not present:
                continue
            hits = {h.id for h in c.search_text(coll, "item version about", top_k=min(1000, len(present) + 10)).hits}
            if not hits <= present or (kind == "exact" and len(present) <= 1000 and hits != present):
                problems.append(f"{coll}: search returned {len(hits - present)} absent ids, missed {len(present - hits)}")
            odd = {k[1] for k, v in ledger.state.items() if k[0] == coll and v is not ABSENT and v % 2}
            if odd:
                filtered = {h.id for h in c.search_text(coll, "item", top_k=min(1000, len(odd) + 10), where={"parity": "1"}).hits}
                if not filtered <= odd or (kind == "exact" and len(odd) <= 1000 and filtered != odd):
                    problems.append(f"{coll}: filtered search returned {len(filtered - odd)} non-matching, missed {len(odd - filtered)}")
    return len(problems), problems


def run(cycles: int, data_dir: Path, writers: int = 4, seed: int = 0, snapshot_ops: int = 25,
        kill_after: tuple[float, float] = (0.5, 4.0), log=print) -> dict:
    rng = random.Random(seed)
    ledger = Ledger()
    counters = [[0] for _ in range(writers)]
    lost, ready, events = 0, [], collections.Counter()
    extra = ("--index-snapshot-ops", str(snapshot_ops))
    server = Server(data_dir, *extra)
    with Client(server.address) as c:
        for name, kind in COLLECTIONS.items():
            c.create_collection(name, index_type=kind)
    for cycle in range(1, cycles + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(i, server.address, ledger, stop, rng.randrange(2**32), counters[i]))
                   for i in range(writers)]
        for t in threads:
            t.start()
        delay = rng.uniform(*kill_after)
        time.sleep(delay)
        server.kill()
        events.update(server.events)
        stop.set()
        for t in threads:
            t.join(60)
        in_flight = sum(len(ch) for ch in ledger.in_flight)
        server = Server(data_dir, *extra)
        ready.append(server.ready_seconds)
        n, problems = verify(server.address, ledger)
        lost += n
        present = sum(v is not ABSENT for v in ledger.state.values())
        log(f"cycle {cycle:>3}: killed after {delay:4.1f}s, {in_flight:>2} ids in flight, restart {server.ready_seconds:5.1f}s, "
            f"{present:>4} present, recovery {dict(server.events)}, lost {n}")
        for p in problems[:10]:
            log(f"    {p}")
    code = server.terminate()
    events.update(server.events)
    return {"cycles": cycles, "acknowledged": dict(ledger.acked), "writes_acknowledged": sum(ledger.acked.values()),
            "lost": lost, "restart_seconds": ready, "events": dict(events), "clean_exit": code}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-ops", type=int, default=25, help="server --index-snapshot-ops (small: snapshots under fire)")
    p.add_argument("--data-dir", help="default: a fresh temporary directory")
    p.add_argument("--out", help="also write the report here")
    args = p.parse_args()
    report = Report("xmodal crash harness: SIGKILL under concurrent writes, then check every acknowledged write")
    log = report.log
    log(f"# {args.writers} writer threads on 2 collections ({', '.join(f'{k}: {v}' for k, v in COLLECTIONS.items())}), "
        f"server --index-snapshot-ops {args.snapshot_ops}, SIGKILL after U(0.5, 4.0) s of writes, seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix="xmodal-crash-") as tmp:
        data = Path(args.data_dir or tmp)
        r = run(args.cycles, data, args.writers, args.seed, args.snapshot_ops, log=log)
    restarts = r["restart_seconds"]
    log(f"cycles {r['cycles']}, writes acknowledged {r['writes_acknowledged']} "
        f"(item adds {r['acknowledged'].get('add', 0)}, upserts {r['acknowledged'].get('upsert', 0)}, "
        f"deletes {r['acknowledged'].get('delete', 0)}), lost = {r['lost']}")
    log(f"index events over all runs: {r['events']}; restart to SERVING: median "
        f"{sorted(restarts)[len(restarts) // 2]:.1f}s, max {max(restarts):.1f}s; final SIGTERM exit code {r['clean_exit']}")
    report.write(args.out)
    return 1 if r["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
