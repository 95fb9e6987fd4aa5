"""Durability of the FAISS backend on real files: snapshots + log replay, and what happens when the files
are damaged. A crash is simulated by copying a collection's files while it is still open (what a SIGKILL
leaves on disk: the database, its write-ahead log, the snapshot and the OPEN marker); the real-process
version is tests/integration/test_crash.py."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from xmodal_server.errors import DataLoss
from xmodal_server.index import snapshot
from xmodal_server.index.backend import IndexSettings, NewItem
from xmodal_server.index.collection import DB, OPEN_MARKER
from xmodal_server.index.store import Store
from xmodal_server.metrics import Metrics

DIM = 16


def unit_rows(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


XB = unit_rows(400, 0)


def items(ks, tag: str = "") -> list[NewItem]:
    return [NewItem(id=f"i{k}", modality="text", vector=XB[k], metadata={"tag": tag or str(k % 2)}) for k in ks]


def crash_copy(coll, root: Path, name: str = "copy") -> Path:
    """The files of an open collection, as a SIGKILL at this moment would leave them."""
    dest = root / "collections" / name
    dest.mkdir(parents=True)
    for f in coll.path.iterdir():
        if not f.name.endswith("-shm"):  # shared memory: SQLite rebuilds it on recovery
            shutil.copy(f, dest / f.name)
    return dest


def settle(coll) -> None:
    """Wait for the collection's background maintenance (a first snapshot follows the first write)."""
    worker = coll._worker
    if worker is not None:
        worker.join(60)


def search_ids(coll, k: int = 10) -> list[list[str]]:
    return [[h.id for h in hits] for hits in coll.search_many(XB[:20], k)]


def events(store) -> list[str]:
    return [e for _, e, _ in store.events]


@pytest.mark.parametrize("index_type", ["exact", "hnsw"])
def test_open_loads_the_snapshot_and_replays_adds_upserts_and_deletes_after_it(tmp_path, index_type):
    s = Store(tmp_path / "a", settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp", index_type=index_type)
    c.add(items(range(200)))
    settle(c)
    snap = c.write_snapshot()
    c.add(items(range(200, 260)))
    c.delete([f"i{k}" for k in range(0, 50)])
    c.upsert([NewItem(id="i100", modality="text", vector=XB[300], metadata={"tag": "moved"})])
    expected = search_ids(c)
    crash_copy(c, tmp_path / "b")

    s2 = Store(tmp_path / "b")
    c2 = s2.get("copy")
    assert events(s2)[:2] == ["unclean_shutdown", "snapshot_loaded"]
    # 60 adds, 50 deletes, and the upsert: a delete of the old row plus an add of the new one
    assert f"{snap.file} at seq {snap.seq} + 112 ops replayed" in s2.events[1][2]
    assert c2.count == 210 and search_ids(c2) == expected
    assert c2.search_many(XB[300][None], 1)[0][0].id == "i100"
    assert "i100" not in [h.id for h in c2.search_many(XB[100][None], 5)[0]]
    s2.close()
    s.close()


def test_a_snapshot_trims_the_log_and_a_clean_close_leaves_nothing_to_replay(tmp_path):
    s = Store(tmp_path, settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp")
    c.add(items(range(100)))
    settle(c)
    snap = c.write_snapshot()
    assert c._db.execute("SELECT count(*) FROM ops").fetchone()[0] == 0
    c.delete(["i1"])
    s.close()
    assert not (c.path / OPEN_MARKER).exists() and not (c.path / f"{DB}-wal").exists()
    manifest = json.loads((c.path / snapshot.MANIFEST).read_text())
    assert manifest["seq"] == snap.seq + 1 and [p.name for p in c.path.glob("*.faiss")] == [manifest["file"]]
    s2 = Store(tmp_path)
    assert events(s2) == ["snapshot_loaded"] and "+ 0 ops replayed" in s2.events[0][2] and s2.get("c").count == 99
    s2.close()


def test_background_snapshots_follow_the_configured_interval(tmp_path):
    s = Store(tmp_path, settings=IndexSettings(snapshot_every=50))
    c = s.create("c", dim=DIM, space_id="sp")
    for k in range(0, 200, 20):
        c.add(items(range(k, k + 20)))
    settle(c)
    assert json.loads((c.path / snapshot.MANIFEST).read_text())["seq"] >= 150
    s.close()


def test_a_damaged_snapshot_is_reported_and_ignored_and_the_index_rebuilt_from_the_log(tmp_path):
    s = Store(tmp_path, settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp")
    c.add(items(range(300)))
    expected = search_ids(c)
    s.close()
    snap_file = next(c.path.glob("snapshot-*.faiss"))
    data = bytearray(snap_file.read_bytes())
    data[len(data) // 2] ^= 0x40  # one flipped bit inside the vectors: FAISS would load it happily
    snap_file.write_bytes(bytes(data))

    metrics = Metrics()
    s2 = Store(tmp_path)
    s2.set_event_sink(metrics.index_event)
    c2 = s2.get("c")
    assert events(s2)[:2] == ["snapshot_invalid", "rebuilt_from_log"]
    assert "SHA-256" in s2.events[0][2]
    assert metrics.registry.get_sample_value("xmodal_index_events_total", {"collection": "c", "event": "snapshot_invalid"}) == 1
    assert search_ids(c2) == expected and c2.count == 300
    settle(c2)  # a fresh snapshot replaces the damaged one
    s2.close()
    assert snapshot.read(c2.path) is not None


@pytest.mark.parametrize("damage, phrase", [
    ("manifest", "unreadable"),
    ("future", "log ends at"),
    ("truncated", "bytes, its manifest says"),
])
def test_other_untrustworthy_snapshots_are_never_loaded(tmp_path, damage, phrase):
    s = Store(tmp_path, settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp")
    c.add(items(range(50)))
    s.close()
    manifest = c.path / snapshot.MANIFEST
    if damage == "manifest":
        manifest.write_text("{not json")
    elif damage == "future":
        fields = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**fields, "seq": fields["seq"] + 1000}))
    else:
        f = next(c.path.glob("snapshot-*.faiss"))
        f.write_bytes(f.read_bytes()[:-100])
    s2 = Store(tmp_path)
    assert events(s2)[0] == "snapshot_invalid" and phrase in s2.events[0][2]
    assert s2.get("c").count == 50
    s2.close()


def test_damaged_database_bytes_fail_the_open_with_a_clear_error(tmp_path):
    s = Store(tmp_path)
    c = s.create("c", dim=DIM, space_id="sp")
    c.add(items(range(400)))
    s.close()
    db = c.path / DB
    page = 4096
    data = bytearray(db.read_bytes())
    assert len(data) > 8 * page
    rng = np.random.default_rng(1)
    for p in range(2, len(data) // page, 3):  # scribble over every third page after the schema
        data[p * page : p * page + 200] = rng.bytes(200)
    db.write_bytes(bytes(data))
    (c.path / OPEN_MARKER).write_text("1\n")  # as after a crash: quick_check runs
    with pytest.raises(DataLoss, match="quick_check|malformed") as e:
        Store(tmp_path)
    assert "restore" in str(e.value) and str(c.path) in str(e.value)


def test_an_unreadable_database_header_fails_the_open_even_after_a_clean_stop(tmp_path):
    s = Store(tmp_path)
    s.create("c", dim=DIM, space_id="sp").add(items(range(10)))
    s.close()
    db = tmp_path / "collections" / "c" / DB
    db.write_bytes(b"\0" * 100 + db.read_bytes()[100:])
    with pytest.raises(DataLoss, match="not a database"):
        Store(tmp_path)


def wal_frames(path: Path) -> tuple[int, int]:
    page = sqlite3.connect(path.with_name(DB)).execute("PRAGMA page_size").fetchone()[0]
    return page, (path.stat().st_size - 32) // (24 + page)


def test_a_torn_log_tail_is_reported_and_every_committed_write_is_there(tmp_path):
    s = Store(tmp_path / "a", settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp")
    for k in range(0, 100, 10):
        c.add(items(range(k, k + 10)))
    settle(c)
    copy = crash_copy(c, tmp_path / "b")
    with open(copy / f"{DB}-wal", "ab") as f:
        f.write(np.random.default_rng(0).bytes(1500))  # half a frame: a write cut short by the crash
    s2 = Store(tmp_path / "b")
    assert events(s2)[:2] == ["unclean_shutdown", "wal_torn_tail"] and "1500 byte(s)" in s2.events[1][2]
    assert s2.get("copy").count == 100
    s2.close()
    s.close()


def test_damage_inside_the_log_before_committed_transactions_fails_the_open(tmp_path):
    s = Store(tmp_path / "a", settings=IndexSettings(snapshot_every=10**9))
    c = s.create("c", dim=DIM, space_id="sp")
    for k in range(0, 100, 10):
        c.add(items(range(k, k + 10)))
    settle(c)
    copy = crash_copy(c, tmp_path / "b")
    wal = copy / f"{DB}-wal"
    page, frames = wal_frames(wal)
    assert frames >= 6
    data = bytearray(wal.read_bytes())
    data[32 + 2 * (24 + page) + 24 + 100] ^= 0xFF  # a byte of frame 2's page; later transactions are intact
    wal.write_bytes(bytes(data))
    with pytest.raises(DataLoss, match="write-ahead log is damaged at frame 2"):
        Store(tmp_path / "b")
    s.close()


def test_a_collection_from_before_filters_is_migrated_on_open(tmp_path):
    path = tmp_path / "collections" / "old"
    path.mkdir(parents=True)
    db = sqlite3.connect(path / DB)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE items (rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, modality TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '', payload BLOB, payload_kind TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL,
            vector BLOB NOT NULL);
    """)
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("name", "old"), ("description", ""), ("dim", str(DIM)),
                                                      ("space_id", "sp"), ("index_type", "flat-ip"), ("created_at", "0")])
    db.executemany("INSERT INTO items (id, modality, metadata, vector) VALUES (?, 'text', ?, ?)",
                   [(f"i{k}", json.dumps({"tag": str(k % 2)}), XB[k].tobytes()) for k in range(30)])
    db.commit()
    db.close()
    s = Store(tmp_path)
    c = s.get("old")
    assert c.describe()["index_type"] == "exact" and c.count == 30
    hits = c.search_many(XB[:1], 30, (), (("tag", ("1",)),))[0]
    assert sorted(h.id for h in hits) == sorted(f"i{k}" for k in range(1, 30, 2))
    s.close()
