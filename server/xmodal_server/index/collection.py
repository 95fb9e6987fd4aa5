"""One collection of the FAISS backend: SQLite is the durable log, FAISS the in-memory index, and
snapshots of that index make opening a big collection a load plus a short replay, not a rebuild.

Why this design
---------------
* **The log is SQLite** (WAL journal, ``synchronous=FULL``). A write (add, upsert, delete) is one
  transaction holding the item rows, their metadata rows (``item_meta``, indexed for filters) and one row
  per index operation in ``ops`` (``add`` or ``del`` of a rowid, numbered by ``seq``, which only grows).
  The commit is fsynced before the call returns: an acknowledged write survives a crash, a failed one
  leaves nothing. SQLite's WAL already is a checksummed, crash-safe log with a decade of torture tests;
  a second hand-written log beside it would add failure modes, not safety.
* **The FAISS index is derived state, snapshotted.** Every ``snapshot_every`` operations (and on a clean
  close) a background thread serialises it with the ``seq`` it contains (``snapshot.py``: temp file,
  fsync, rename, SHA-256 in a manifest committed last), then drops the ops up to that ``seq``. Rowids are
  never reused (AUTOINCREMENT), so an upsert is a ``del`` of the old rowid and an ``add`` of a new one,
  and replaying is order-safe.
* **Open = verified snapshot + replay** of the ops after its ``seq`` (an add reads its vector from
  ``items``; an add whose item is gone again is skipped). A snapshot that fails its checksum, claims a
  ``seq`` the log never reached, finds ops missing after it, or disagrees with the item count afterwards is
  reported (log + ``xmodal_index_events_total``) and ignored: the index is rebuilt from ``items``, which
  always holds the whole state. Nothing unverified is served.
* **After an unclean shutdown** (the ``OPEN`` marker is still there) the WAL is inspected before SQLite
  recovers it (``wal.py``: a torn tail is reported; acknowledged transactions behind damage fail the open)
  and ``PRAGMA quick_check`` runs. A damaged database is never served: the open raises ``DataLoss``.
* **Index kinds** (``vectors.py``): exact, IVF (trained here once the collection is big enough, retrained
  when it has grown 4x) and HNSW (rebuilt when a quarter of it is tombstones). Training and rebuilding run
  on the background thread from a read transaction of ``items``; the ops committed meanwhile are replayed
  onto the new index under the lock before it replaces the old one. Opening without a usable snapshot
  builds an exact index first when the target would be slow to build, and upgrades in the background.

On CUDA a device copy of a flat index (``exact.py``) answers unfiltered searches.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import AlreadyExists, DataLoss, InvalidInput
from . import snapshot, wal
from .backend import (EventSink, Hit, IndexBackend, IndexSettings, NewItem, SearchParams, StoredItem,  # noqa: F401 (re-exported)
                      Where, stored_index_type)
from .exact import DeviceSearch
from .vectors import VectorIndex, ivf_trainable

log = logging.getLogger(__name__)

DB = "items.sqlite"
OPEN_MARKER = "OPEN"  # present while a process has the collection open: a clean close removes it
SCHEMA_VERSION = "2"
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS items (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        modality TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        payload BLOB,            -- original image/audio bytes, kept so a new checkpoint can re-embed
        payload_kind TEXT NOT NULL DEFAULT '',
        metadata TEXT NOT NULL,  -- JSON object of string -> string
        vector BLOB NOT NULL     -- float32 little-endian, unit norm
    )""",
    # Covering index: (rowid, modality) of every item without reading the vectors.
    "CREATE INDEX IF NOT EXISTS items_modality ON items (modality)",
    # Columns in primary-key order: SQLite 3.40's quick_check reports false NULLs otherwise.
    """CREATE TABLE IF NOT EXISTS item_meta (
        key TEXT NOT NULL, value TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (key, value, row)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS item_meta_row ON item_meta (row)",
    # The index's log: what to replay onto a snapshot. Trimmed up to the last snapshot's seq.
    "CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, row INTEGER NOT NULL)",
]
SYNC_BUILD_MAX = 20_000  # without a snapshot, build the target kind at open up to this size, else exact first
RETRY_MAINTENANCE_S = 60.0
CHUNK = 10_000  # SQLite host parameters per statement stay well under its limit

EVENT_LEVELS = {
    "snapshot_invalid": logging.ERROR, "maintenance_failed": logging.ERROR,
    "unclean_shutdown": logging.WARNING, "wal_torn_tail": logging.WARNING, "wal_header_invalid": logging.WARNING,
}


def log_event(collection: str, event: str, detail: str) -> None:
    log.log(EVENT_LEVELS.get(event, logging.INFO), "collection %s: %s: %s", collection, event, detail)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def _log_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'ops'").fetchone()
    return int(row[0]) if row else 0


def _chunks(seq: Sequence, n: int = CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _is_corruption(e: sqlite3.DatabaseError) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _reports_corruption(method: Callable) -> Callable:
    """A read or write that meets a damaged page fails with DataLoss (DATA_LOSS), not INTERNAL."""

    @functools.wraps(method)
    def wrapper(self: "Collection", *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            if _is_corruption(e):
                raise self._corrupt(f"SQLite: {e}") from e
            raise

    return wrapper


class Collection(IndexBackend):
    def __init__(self, path: Path, *, create: dict[str, str] | None = None,
                 device_search: Callable[[], DeviceSearch] | None = None,
                 settings: IndexSettings | None = None, on_event: EventSink | None = None):
        """Open the collection in directory ``path``; ``create`` = initial meta of a new one.
        ``device_search``: how to mirror vectors on an accelerator (None: search on CPU)."""
        self.path = path
        self.name = path.name
        self.settings = settings or IndexSettings()
        self._event = on_event or log_event
        self._lock = threading.RLock()  # the database connection and the index
        self._snap_lock = threading.Lock()  # one snapshot writer at a time
        self._worker: threading.Thread | None = None
        self._worker_failed_at = float("-inf")
        self._closing = self._closed = False
        self._snapshot_seq = -1  # seq of the newest durable snapshot; -1: none that matches the index
        marker = path / OPEN_MARKER
        unclean = create is None and marker.exists()
        if unclean:
            self._event(self.name, "unclean_shutdown", "the previous process did not close it; checking the log")
            self._check_wal()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = _connect(path / DB)
            if unclean:
                self._quick_check()
            self._init_schema(create)
            self.meta = dict(self._db.execute("SELECT key, value FROM meta"))
            self.dim = int(self.meta["dim"])
            self.index_type = stored_index_type(self.meta)
            _create_durably(marker)
            self._load_index()
        except BaseException as e:
            if self._db is not None:
                self._db.close()
            if isinstance(e, sqlite3.DatabaseError):
                raise self._corrupt(f"SQLite: {e}") from None
            raise
        self._device = device_search() if device_search is not None else None
        self._device_stale = True
        with self._lock:
            self._kick()

    # -- opening -----------------------------------------------------------------------------------
    def _corrupt(self, what: str) -> DataLoss:
        return DataLoss(
            f"collection {self.name!r} ({self.path / DB}) is damaged: {what}. It is not served rather than "
            f"served incomplete: restore {self.path} from a backup, or move it out of {self.path.parent} to "
            "start without it"
        )

    def _check_wal(self) -> None:
        report = wal.inspect(self.path / f"{DB}-wal")
        if report.committed_after_damage:
            raise self._corrupt(
                f"its write-ahead log is damaged at frame {report.first_damaged_frame} and "
                f"{report.committed_after_damage} committed transaction(s) follow the damage; SQLite would drop them"
            )
        if report.torn:
            self._event(self.name, "wal_torn_tail",
                        f"{report.torn_frames} frame(s) and {report.torn_bytes} byte(s) after the last commit are "
                        "not loaded: a transaction whose commit never reached the disk, so it was never acknowledged")
        if report.header_invalid:
            self._event(self.name, "wal_header_invalid", "the write-ahead log header fails its checksum; SQLite ignores the file")

    def _quick_check(self) -> None:
        problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise self._corrupt("PRAGMA quick_check found " + "; ".join(problems))

    def _init_schema(self, create: dict[str, str] | None) -> None:
        with self._tx() as db:
            for stmt in SCHEMA:
                db.execute(stmt)
            if create is not None:
                db.executemany("INSERT INTO meta VALUES (?, ?)", [*create.items(), ("schema_version", SCHEMA_VERSION)])
            elif db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() is None:
                # A collection from before filters: index its metadata once.
                rows = db.execute("SELECT rowid, metadata FROM items").fetchall()
                db.executemany("INSERT OR IGNORE INTO item_meta (row, key, value) VALUES (?, ?, ?)",
                               [(r, k, v) for r, m in rows for k, v in json.loads(m).items()])
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))

    def _load_index(self) -> None:
        seq_now = _log_seq(self._db)
        self.vindex: VectorIndex | None = None
        try:
            found = snapshot.read(self.path)
            if found is not None:
                self.vindex = self._from_snapshot(*found, seq_now)
        except snapshot.SnapshotInvalid as e:
            self._event(self.name, "snapshot_invalid", f"{e}; rebuilding the index from the log")
        if self.vindex is None:
            t0 = time.perf_counter()
            seq_now, ids, xb = self._read_all(self._db)
            target = self._target_kind(len(ids))
            kind = target if target == "flat" or len(ids) <= SYNC_BUILD_MAX else "flat"
            self.vindex = VectorIndex.build(kind, self.dim, ids, xb)
            if len(ids):
                self._event(self.name, "rebuilt_from_log", f"{len(ids)} vectors, {self.vindex.describe()}, "
                                                           f"{time.perf_counter() - t0:.1f}s")
        self.seq = seq_now
        snapshot.sweep(self.path)
        self._modality_of: dict[int, str] = dict(self._db.execute("SELECT rowid, modality FROM items"))
        log.info("collection %s: %d items, %s", self.name, self.vindex.ntotal, self.vindex.describe())

    def _from_snapshot(self, snap: snapshot.Snapshot, data: np.ndarray, seq_now: int) -> VectorIndex:
        if snap.dim != self.dim:
            raise snapshot.SnapshotInvalid(f"snapshot has dim {snap.dim}, the collection {self.dim}")
        if snap.seq > seq_now:
            raise snapshot.SnapshotInvalid(f"snapshot covers log seq {snap.seq} but the log ends at {seq_now}")
        first = self._db.execute("SELECT min(seq) FROM ops").fetchone()[0]
        if seq_now > snap.seq and (first is None or first > snap.seq + 1):
            raise snapshot.SnapshotInvalid(f"the log has no ops between seq {snap.seq} and {first}")
        try:
            vi = VectorIndex.from_bytes(data, snap.kind, self.dim, snap.trained_on)
        except (RuntimeError, ValueError) as e:
            raise snapshot.SnapshotInvalid(f"FAISS cannot read {snap.file}: {e}") from None
        replayed = self._replay(vi, snap.seq)
        live = np.fromiter((r[0] for r in self._db.execute("SELECT rowid FROM items")), dtype=np.int64)
        if vi.kind == "hnsw":  # tombstones are not in the file: whatever the index holds that the log lacks
            vi.dead = set(np.setdiff1d(vi.held_ids(), live).tolist())
        if vi.ntotal != len(live):
            raise snapshot.SnapshotInvalid(f"after replaying {replayed} ops it holds {vi.ntotal} vectors, the log {len(live)}")
        self._snapshot_seq = snap.seq
        self._event(self.name, "snapshot_loaded", f"{snap.file} at seq {snap.seq} + {replayed} ops replayed")
        return vi

    def _read_all(self, db: sqlite3.Connection) -> tuple[int, np.ndarray, np.ndarray]:
        """(seq, ids, vectors) of every item, from one read transaction."""
        db.execute("BEGIN")
        try:
            seq = _log_seq(db)
            rows = db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
        finally:
            db.execute("COMMIT")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        xb = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), self.dim)
        return seq, ids, xb

    def _replay(self, vi: VectorIndex, since: int) -> int:
        """Apply the ops after ``since`` to ``vi``; returns how many there were."""
        rows = self._db.execute("SELECT o.op, o.row, i.vector FROM ops o LEFT JOIN items i ON i.rowid = o.row "
                                "WHERE o.seq > ? ORDER BY o.seq", (since,)).fetchall()
        gone = {row for op, row, vec in rows if op == "add" and vec is None}  # added, then deleted again
        adds = [(row, vec) for op, row, vec in rows if op == "add" and vec is not None]
        dels = [row for op, row, _ in rows if op == "del" and row not in gone]
        if adds:
            vi.add(np.array([r for r, _ in adds], dtype=np.int64),
                   np.frombuffer(b"".join(v for _, v in adds), dtype="<f4").reshape(len(adds), self.dim))
        if dels:
            vi.remove(np.array(dels, dtype=np.int64))
        return len(rows)

    # -- background maintenance: snapshots, training, rebuilds ---------------------------------------
    def _target_kind(self, n: int) -> str:
        if self.index_type == "exact":
            return "flat"
        if self.index_type == "hnsw":
            return "hnsw"
        big_enough = n >= self.settings.auto_ivf_min if self.index_type == "auto" else True
        return "ivf" if big_enough and ivf_trainable(n) else "flat"

    def _wanted_rebuild(self) -> str | None:
        vi = self.vindex
        target = self._target_kind(vi.ntotal)
        if target != vi.kind:
            return None if target == "flat" else target  # a trained index is kept when the collection shrinks
        if vi.kind == "ivf" and vi.ntotal >= 4 * max(1, vi.trained_on):
            return "ivf"  # grown 4x: more lists, retrained on today's vectors
        if vi.kind == "hnsw" and vi.tombstone_share > 0.25:
            return "hnsw"
        return None

    def _snapshot_due(self, every: int | None = None) -> bool:
        if self._snapshot_seq < 0:
            return self.seq > 0 or self.vindex.ntotal > 0
        return self.seq - self._snapshot_seq >= (every or self.settings.snapshot_every)

    def _kick(self) -> None:
        """Start the background worker when there is work and none runs. Call with the lock held."""
        if self._closing or self._worker is not None or time.monotonic() - self._worker_failed_at < RETRY_MAINTENANCE_S:
            return
        if self._wanted_rebuild() or self._snapshot_due():
            self._worker = threading.Thread(target=self._maintain, name=f"xmodal-index-{self.name}", daemon=True)
            self._worker.start()

    def _maintain(self) -> None:
        try:
            while True:
                with self._lock:
                    kind = None if self._closing else self._wanted_rebuild()
                    if self._closing or (kind is None and not self._snapshot_due()):
                        self._worker = None
                        return
                if kind is not None:
                    self._rebuild(kind)
                else:
                    self.write_snapshot()
        except Exception as e:  # the next write retries after RETRY_MAINTENANCE_S
            log.exception("collection %s: index maintenance failed", self.name)
            self._event(self.name, "maintenance_failed", repr(e))
            with self._lock:
                self._worker, self._worker_failed_at = None, time.monotonic()

    def _rebuild(self, kind: str) -> None:
        t0 = time.perf_counter()
        reader = _connect(self.path / DB)
        try:
            seq0, ids, xb = self._read_all(reader)
        finally:
            reader.close()
        built = VectorIndex.build(kind, self.dim, ids, xb)  # minutes for millions of vectors: no lock held
        with self._lock:
            if self._closing:
                return
            self._replay(built, seq0)  # writes committed while building
            self.vindex, self._device_stale, self._snapshot_seq = built, True, -1
        self._event(self.name, "index_rebuilt", f"{built.describe()}, {len(ids)} vectors, {time.perf_counter() - t0:.1f}s")

    def write_snapshot(self) -> snapshot.Snapshot | None:
        """Persist the index now (the worker calls this; tests and close may too)."""
        with self._snap_lock:
            with self._lock:
                if self._closed:
                    return None
                vi, seq = self.vindex, self.seq
                data = vi.to_bytes()
            snap = snapshot.write(self.path, data, seq=seq, kind=vi.kind, dim=self.dim, ntotal=vi.ntotal,
                                  trained_on=vi.trained_on)
            with self._lock:
                if not self._closed:
                    self._db.execute("DELETE FROM ops WHERE seq <= ?", (seq,))
                if vi is self.vindex:
                    self._snapshot_seq = max(self._snapshot_seq, seq)
            log.debug("collection %s: snapshot %s at seq %d", self.name, snap.file, seq)
            return snap

    def close(self, snapshot_first: bool = True) -> None:
        """Stop maintenance, snapshot what the last snapshot lacks, close, remove the OPEN marker."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
        if snapshot_first:
            with self._lock:
                due = self._snapshot_due(every=1)
            if due:
                try:
                    self.write_snapshot()
                except OSError as e:  # the log has everything; the next open replays more
                    log.warning("collection %s: no snapshot at close: %s", self.name, e)
        with self._snap_lock, self._lock:
            self._db.close()
            self._closed = True
        (self.path / OPEN_MARKER).unlink(missing_ok=True)
        snapshot.fsync_dir(self.path)

    # -- properties ----------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self.vindex.ntotal

    def describe(self) -> dict:
        with self._lock:
            return {**self.meta, "index_type": self.index_type, "item_count": self.count,
                    "index_state": self.vindex.describe()}

    # -- writes --------------------------------------------------------------------------------------
    def _tx(self) -> "_Transaction":
        return _Transaction(self._db)

    def add(self, items: Sequence[NewItem]) -> int:
        """All or nothing; AlreadyExists if an id is taken; returns after the batch is durable."""
        self._write(items, upsert=False)
        return len(items)

    def upsert(self, items: Sequence[NewItem]) -> int:
        """Like add, replacing items whose id exists; returns how many were replaced."""
        return self._write(items, upsert=True)

    @_reports_corruption
    def _write(self, items: Sequence[NewItem], upsert: bool) -> int:
        for it in items:
            if it.vector.shape != (self.dim,):
                raise InvalidInput(f"item {it.id!r}: vector has shape {it.vector.shape}, collection dim is {self.dim}")
        ids = [it.id for it in items]
        with self._lock:
            old = self._rowids(ids)
            if old and not upsert:
                raise AlreadyExists(f"collection {self.name!r} already has item id(s) {list(old)[:5]}; delete them "
                                    "first, or add with upsert")
            with self._tx() as db:
                if old:
                    self._delete_rows(db, list(old.values()))
                db.executemany(
                    "INSERT INTO items (id, modality, text, payload, payload_kind, metadata, vector) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(it.id, it.modality, it.text, it.payload, it.payload_kind, json.dumps(it.metadata, sort_keys=True),
                      it.vector.astype("<f4").tobytes()) for it in items],
                )
                new = self._rowids(ids)
                rowids = [new[i] for i in ids]
                db.executemany("INSERT INTO item_meta (row, key, value) VALUES (?, ?, ?)",
                               [(r, k, v) for r, it in zip(rowids, items) for k, v in it.metadata.items()])
                db.executemany("INSERT INTO ops (op, row) VALUES ('add', ?)", [(r,) for r in rowids])
                seq = _log_seq(db)
            # Committed and fsynced: the in-memory index follows the log.
            self._apply(seq, removed=list(old.values()))
            self.vindex.add(np.array(rowids, dtype=np.int64), np.stack([it.vector for it in items]))
            self._modality_of.update({r: it.modality for r, it in zip(rowids, items)})
            self._kick()
            return len(old)

    @_reports_corruption
    def delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        with self._lock:
            found = self._rowids(ids)
            if found:
                with self._tx() as db:
                    self._delete_rows(db, list(found.values()))
                    seq = _log_seq(db)
                self._apply(seq, removed=list(found.values()))
                self._kick()
            return len(found), [i for i in ids if i not in found]

    def _rowids(self, ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(list(ids)):
            out.update(self._db.execute(f"SELECT id, rowid FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    @staticmethod
    def _delete_rows(db: sqlite3.Connection, rowids: list[int]) -> None:
        db.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in rowids])
        db.executemany("DELETE FROM item_meta WHERE row = ?", [(r,) for r in rowids])
        db.executemany("INSERT INTO ops (op, row) VALUES ('del', ?)", [(r,) for r in rowids])

    def _apply(self, seq: int, removed: list[int]) -> None:
        if removed:
            self.vindex.remove(np.array(removed, dtype=np.int64))
            for r in removed:
                self._modality_of.pop(r, None)
        self.seq = seq
        self._device_stale = True

    # -- reads ---------------------------------------------------------------------------------------
    @_reports_corruption
    def get(self, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        rows: dict[str, tuple] = {}
        with self._lock:
            for chunk in _chunks(list(ids)):
                rows.update((r[0], r) for r in self._db.execute(
                    f"SELECT id, modality, metadata, text, vector FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        found = [
            StoredItem(r[0], r[1], json.loads(r[2]), r[3],
                       np.frombuffer(r[4], dtype="<f4").copy() if include_vectors else None)
            for i in ids if (r := rows.get(i)) is not None
        ]
        return found, [i for i in ids if i not in rows]

    def search(self, query: np.ndarray, top_k: int, modalities: Iterable[str] = (), where: Where = ()) -> list[Hit]:
        return self.search_many(query.reshape(1, -1), top_k, modalities, where)[0]

    @_reports_corruption
    def search_many(self, xq: np.ndarray, top_k: int, modalities: Iterable[str] = (), where: Where = (),
                    params: SearchParams | None = None) -> list[list[Hit]]:
        """Top-k for each row of ``xq`` (nq, dim) among the items of the wanted modalities (all if none)
        whose metadata matches ``where``, with one index call and one SQLite lookup for the batch."""
        wanted = set(modalities)
        nq = xq.shape[0]
        with self._lock:
            allowed = self._matching(where) if where else None
            if wanted:
                of_modality = np.array([r for r, m in self._modality_of.items() if m in wanted], dtype=np.int64)
                allowed = of_modality if allowed is None else np.intersect1d(allowed, of_modality, assume_unique=True)
            n = self.vindex.ntotal if allowed is None else len(allowed)
            if n == 0:
                return [[] for _ in range(nq)]
            D, I = self._search_index(np.ascontiguousarray(xq, dtype=np.float32), min(top_k, n), allowed, params)
            I, D = I.tolist(), D.tolist()
            found = sorted({i for row in I for i in row if i >= 0})
            rows: dict[int, tuple] = {}
            for chunk in _chunks(found):
                rows.update((r[0], r[1:]) for r in self._db.execute(
                    f"SELECT rowid, id, modality, metadata, text FROM items WHERE rowid IN ({','.join('?' * len(chunk))})", chunk))
        meta = {rowid: json.loads(r[2]) for rowid, r in rows.items()}
        return [
            [Hit(rows[i][0], d, rows[i][1], dict(meta[i]), rows[i][3]) for i, d in zip(I[q], D[q]) if i in rows]
            for q in range(nq)
        ]

    def _matching(self, where: Where) -> np.ndarray:
        """Rowids whose metadata satisfies every condition; InvalidInput for a field no item has."""
        for key, _ in where:
            if self._db.execute("SELECT 1 FROM item_meta WHERE key = ? LIMIT 1", (key,)).fetchone() is None:
                raise InvalidInput(f"filter: no item of collection {self.name!r} has the metadata field {key!r}")
        sql = " INTERSECT ".join(f"SELECT row FROM item_meta WHERE key = ? AND value IN ({','.join('?' * len(values))})"
                                 for _, values in where)
        params = [p for key, values in where for p in (key, *values)]
        return np.fromiter((r[0] for r in self._db.execute(sql, params)), dtype=np.int64)

    def _search_index(self, xq: np.ndarray, k: int, allowed: np.ndarray | None,
                      params: SearchParams | None) -> tuple[np.ndarray, np.ndarray]:
        if self._device is not None and self.vindex.kind == "flat":
            if self._device_stale:
                self._device.load(*self.vindex.flat_vectors())
                self._device_stale = False
            out = self._device.search(xq, k, allowed)
            if out is not None:
                return out
        return self.vindex.search(xq, k, allowed, params)

    @_reports_corruption
    def payloads(self) -> list[tuple[str, str, str, bytes | None, str, dict[str, str]]]:
        """(id, modality, text, payload, payload_kind, metadata) of every item, for re-embedding."""
        with self._lock:
            rows = self._db.execute("SELECT id, modality, text, payload, payload_kind, metadata FROM items ORDER BY rowid").fetchall()
        return [(*r[:5], json.loads(r[5])) for r in rows]

    @_reports_corruption
    def texts(self) -> Iterator[tuple[str, str]]:
        with self._lock:  # read at once: the rows are few bytes each, and the lock must not outlive the call
            rows = self._db.execute("SELECT id, text FROM items WHERE text != '' ORDER BY rowid").fetchall()
        return iter(rows)


def _create_durably(path: Path) -> None:
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    snapshot.fsync_dir(path.parent)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
