"""One collection: a durable item store (SQLite) and an in-memory FAISS index derived from it.

SQLite is the source of truth: WAL journal with ``synchronous=FULL`` means a committed transaction is
fsynced before ``add`` returns, so an acknowledged write survives a crash, and a batch is one
transaction, so a failure leaves nothing half-written. The FAISS index (exact inner product over unit
vectors = cosine) is rebuilt from the store on open; FAISS ids are SQLite rowids. On CUDA a device copy
(``exact.py``) answers searches; it is refreshed lazily from the FAISS index after writes.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import faiss
import numpy as np

from ..errors import AlreadyExists, FailedPrecondition, InvalidInput
from .exact import DeviceSearch

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    modality TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    payload BLOB,            -- original image/audio bytes, kept so a new checkpoint can re-embed
    payload_kind TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL,  -- JSON object of string -> string
    vector BLOB NOT NULL     -- float32 little-endian, unit norm
);
"""


@dataclass
class NewItem:
    id: str
    modality: str
    vector: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)
    text: str = ""
    payload: bytes | None = None
    payload_kind: str = ""


@dataclass
class StoredItem:
    id: str
    modality: str
    metadata: dict[str, str]
    text: str
    vector: np.ndarray | None = None


@dataclass
class Hit:
    id: str
    score: float
    modality: str
    metadata: dict[str, str]
    text: str


class Collection:
    def __init__(self, path: Path, *, create: dict[str, str] | None = None,
                 device_search: Callable[[], DeviceSearch] | None = None):
        """Open the store at ``path`` (a directory); ``create`` = initial meta for a new collection;
        ``device_search`` = how to mirror the vectors on an accelerator (None: search on CPU)."""
        self.path = path
        self.name = path.name
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path / "items.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        if create is not None:
            with self._tx():
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", create.items())
        self.meta = dict(self._db.execute("SELECT key, value FROM meta"))
        self.dim = int(self.meta["dim"])
        self._device = device_search() if device_search is not None else None
        self._device_stale = True
        self._load_index()

    # -- lifecycle ---------------------------------------------------------------------------------
    def _tx(self):
        return _Transaction(self._db)

    def _load_index(self) -> None:
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._modality_of: dict[int, str] = {}
        rows = self._db.execute("SELECT rowid, modality, vector FROM items ORDER BY rowid").fetchall()
        if rows:
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            xb = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), self.dim)
            self.index.add_with_ids(np.ascontiguousarray(xb, dtype=np.float32), ids)
            self._modality_of = {int(r[0]): r[1] for r in rows}
        log.info("collection %s: %d items loaded", self.name, len(rows))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def count(self) -> int:
        return self.index.ntotal

    @property
    def space_id(self) -> str:
        return self.meta["space_id"]

    def check_space(self, space_id: str) -> None:
        if space_id != self.space_id:
            raise FailedPrecondition(
                f"collection {self.name!r} was built in space {self.space_id!r} but the server runs "
                f"{space_id!r}; restart with the matching profile/checkpoint, or run `xmodal collections reindex NAME`"
            )

    # -- writes ------------------------------------------------------------------------------------
    def add(self, items: Sequence[NewItem]) -> int:
        """All or nothing; returns after the batch is durable."""
        with self._lock:
            ids = [it.id for it in items]
            placeholders = ",".join("?" * len(ids))
            taken = [r[0] for r in self._db.execute(f"SELECT id FROM items WHERE id IN ({placeholders})", ids)]
            if taken:
                raise AlreadyExists(f"collection {self.name!r} already has item id(s) {taken[:5]}; delete them first")
            for it in items:
                if it.vector.shape != (self.dim,):
                    raise InvalidInput(f"item {it.id!r}: vector has shape {it.vector.shape}, collection dim is {self.dim}")
            with self._tx():
                self._db.executemany(
                    "INSERT INTO items (id, modality, text, payload, payload_kind, metadata, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (it.id, it.modality, it.text, it.payload, it.payload_kind,
                         json.dumps(it.metadata, sort_keys=True), it.vector.astype("<f4").tobytes())
                        for it in items
                    ],
                )
                by_id = dict(self._db.execute(f"SELECT id, rowid FROM items WHERE id IN ({placeholders})", ids))
            # Committed (fsynced) above; the in-memory index follows the store.
            rowids = np.array([by_id[i] for i in ids], dtype=np.int64)
            self.index.add_with_ids(np.stack([it.vector for it in items]).astype(np.float32), rowids)
            self._modality_of.update({int(r): it.modality for r, it in zip(rowids, items)})
            self._device_stale = True
            return len(items)

    def delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        with self._lock:
            placeholders = ",".join("?" * len(ids))
            found = dict(self._db.execute(f"SELECT id, rowid FROM items WHERE id IN ({placeholders})", list(ids)))
            with self._tx():
                self._db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in found])
            if found:
                self.index.remove_ids(np.array(list(found.values()), dtype=np.int64))
                for rowid in found.values():
                    self._modality_of.pop(int(rowid), None)
                self._device_stale = True
            return len(found), [i for i in ids if i not in found]

    # -- reads -------------------------------------------------------------------------------------
    def get(self, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        with self._lock:
            placeholders = ",".join("?" * len(ids))
            rows = {
                r[0]: r
                for r in self._db.execute(
                    f"SELECT id, modality, metadata, text, vector FROM items WHERE id IN ({placeholders})", list(ids)
                )
            }
        found = [
            StoredItem(r[0], r[1], json.loads(r[2]), r[3],
                       np.frombuffer(r[4], dtype="<f4").copy() if include_vectors else None)
            for i in ids if (r := rows.get(i)) is not None
        ]
        return found, [i for i in ids if i not in rows]

    def search(self, query: np.ndarray, top_k: int, modalities: Iterable[str] = ()) -> list[Hit]:
        return self.search_many(query.reshape(1, -1), top_k, modalities)[0]

    def search_many(self, xq: np.ndarray, top_k: int, modalities: Iterable[str] = ()) -> list[list[Hit]]:
        """Exact top-k for each row of ``xq`` (nq, dim) among the items of the wanted modalities (all
        if none), with one index call and one SQLite lookup for the whole batch."""
        wanted = set(modalities)
        nq = xq.shape[0]
        with self._lock:
            if self.index.ntotal == 0:
                return [[] for _ in range(nq)]
            allowed = None
            if wanted:
                allowed = np.array([r for r, m in self._modality_of.items() if m in wanted], dtype=np.int64)
                if allowed.size == 0:
                    return [[] for _ in range(nq)]
            D, I = self._search_index(np.ascontiguousarray(xq, dtype=np.float32), min(top_k, self.index.ntotal), allowed)
            I, D = I.tolist(), D.tolist()
            found = sorted({i for row in I for i in row if i >= 0})
            if not found:
                return [[] for _ in range(nq)]
            placeholders = ",".join("?" * len(found))
            rows = {
                r[0]: (r[1], r[2], r[3], r[4])
                for r in self._db.execute(
                    f"SELECT rowid, id, modality, metadata, text FROM items WHERE rowid IN ({placeholders})", found
                )
            }
        meta = {rowid: json.loads(r[2]) for rowid, r in rows.items()}
        return [
            [Hit(rows[i][0], d, rows[i][1], dict(meta[i]), rows[i][3]) for i, d in zip(I[q], D[q]) if i in rows]
            for q in range(nq)
        ]

    def _search_index(self, xq: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._device is not None:
            if self._device_stale:
                ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
                self._device.load(self.index.index.reconstruct_n(0, self.index.ntotal), ids)
                self._device_stale = False
            out = self._device.search(xq, k, allowed)
            if out is not None:
                return out
        params = None
        if allowed is not None:
            # A selector makes FAISS rank only matching items: the true top-k among them,
            # not a post-filtered top-k.
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        return self.index.search(xq, k, params=params)

    def describe(self) -> dict:
        return {**self.meta, "item_count": self.count}

    def payloads(self) -> list[tuple[str, str, str, bytes | None, str, dict[str, str]]]:
        """(id, modality, text, payload, payload_kind, metadata) of every item, for re-embedding."""
        with self._lock:
            rows = self._db.execute("SELECT id, modality, text, payload, payload_kind, metadata FROM items ORDER BY rowid").fetchall()
        return [(*r[:5], json.loads(r[5])) for r in rows]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False

