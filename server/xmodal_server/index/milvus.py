"""The Milvus backend: collections live in a Milvus cluster (``http://host:19530``) or, for a local file
path (``.../milvus.db``), in Milvus Lite, an embedded single-process Milvus for development and tests.

What differs from the FAISS backend (same contract: ``tests/contract/test_index_backend.py``):

* Durability and scale are Milvus's. An insert returns once Milvus has appended it to its write-ahead
  log (the message queue of a cluster); segments flush to object storage and query nodes hold the indexes,
  sharded and replicated. An xmodal server keeps no index state with this backend, so any number of them
  can serve the same collections. Milvus Lite is a development tool: it is not the place for crash safety.
* Index types map to Milvus's: exact -> FLAT, ivf -> IVF_FLAT, hnsw -> HNSW, auto -> AUTOINDEX; metric IP
  on unit vectors (cosine). Milvus Lite builds FLAT whatever is asked.
* Filters become a Milvus boolean expression over a JSON field: ``metadata["k"] == "v"``, ORed for
  several values and ANDed across conditions (Milvus Lite's parser has no ``in`` on JSON paths). Milvus
  filters before it ranks, so an exact index returns the true top-k among matching items. A field is known
  when ``exists metadata["k"]`` matches at least one item.
* Original image/audio bytes are not stored (Milvus is not a blob store), so ReindexCollection is refused.
* Milvus has no multi-statement transactions: an upsert is one atomic Milvus upsert; a plain add first
  checks that none of its ids exists, which can race with another server adding the same id at once.
* Names: Milvus allows ``[A-Za-z0-9_]`` starting with a letter or '_'. An xmodal name maps to
  ``xmodal_<name>`` with '_' -> '_0' and '-' -> '_1' (reversible: distinct names never collide); the
  collection's meta (name, dim, space, index type...) is a collection property.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound
from .backend import (EventSink, Hit, IndexBackend, IndexSettings, NewItem, SearchParams, StoredItem, Where,
                      check_index_type)
from .store import check_name

log = logging.getLogger(__name__)

PREFIX = "xmodal_"
META = "xmodal_meta"
INDEXES = {
    "exact": ("FLAT", {}),
    "ivf": ("IVF_FLAT", {"nlist": 1024}),
    "hnsw": ("HNSW", {"M": 32, "efConstruction": 80}),
    "auto": ("AUTOINDEX", {}),
}
DEFAULT_NPROBE, DEFAULT_EF = 16, 64
MAX_ID_BYTES, MAX_TEXT_BYTES, MAX_METADATA_BYTES = 1024, 65535, 65536
OUTPUT = ["id", "modality", "text", "metadata"]


def milvus_name(name: str) -> str:
    return PREFIX + name.replace("_", "_0").replace("-", "_1")


def quote(s: str) -> str:
    """A Milvus expression string literal."""
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        s = s.replace(a, b)
    return f'"{s}"'


def filter_expression(modalities: Iterable[str], where: Where) -> str:
    parts = []
    if modalities:
        parts.append(f"modality in [{', '.join(quote(m) for m in sorted(set(modalities)))}]")
    for key, values in where:
        parts.append("(" + " or ".join(f"metadata[{quote(key)}] == {quote(v)}" for v in values) + ")")
    return " and ".join(parts)


class MilvusCollection(IndexBackend):
    def __init__(self, client, milvus: str, meta: dict[str, str]):
        self._client, self._milvus, self.meta = client, milvus, meta
        self.name, self.dim, self.index_type = meta["name"], int(meta["dim"]), meta["index_type"]

    @property
    def count(self) -> int:
        return int(self._client.query(self._milvus, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def describe(self) -> dict:
        kind, params = INDEXES[self.index_type]
        return {**self.meta, "item_count": self.count, "index_state": f"Milvus {kind} {params or ''}".strip()}

    # -- writes ---------------------------------------------------------------------------------------
    def _rows(self, items: Sequence[NewItem]) -> list[dict]:
        rows = []
        for it in items:
            if it.vector.shape != (self.dim,):
                raise InvalidInput(f"item {it.id!r}: vector has shape {it.vector.shape}, collection dim is {self.dim}")
            metadata = json.dumps(it.metadata)
            if len(it.id.encode()) > MAX_ID_BYTES or len(it.text.encode()) > MAX_TEXT_BYTES or len(metadata.encode()) > MAX_METADATA_BYTES:
                raise InvalidInput(f"item {it.id!r}: id, text or metadata exceeds what Milvus stores "
                                   f"({MAX_ID_BYTES}, {MAX_TEXT_BYTES}, {MAX_METADATA_BYTES} bytes)")
            rows.append({"id": it.id, "modality": it.modality, "text": it.text, "metadata": it.metadata,
                         "vector": it.vector.astype(np.float32).tolist()})
        return rows

    def _existing(self, ids: Sequence[str]) -> list[str]:
        got = self._client.get(self._milvus, ids=list(ids), output_fields=["id"]) if ids else []
        return [r["id"] for r in got]

    def add(self, items: Sequence[NewItem]) -> int:
        rows = self._rows(items)
        taken = self._existing([it.id for it in items])
        if taken:
            raise AlreadyExists(f"collection {self.name!r} already has item id(s) {taken[:5]}; delete them first, "
                                "or add with upsert")
        self._client.insert(self._milvus, rows)
        return len(rows)

    def upsert(self, items: Sequence[NewItem]) -> int:
        rows = self._rows(items)
        replaced = self._existing([it.id for it in items])
        self._client.upsert(self._milvus, rows)
        return len(replaced)

    def delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        found = set(self._existing(ids))
        if found:
            self._client.delete(self._milvus, ids=sorted(found))
        return len(found), [i for i in ids if i not in found]

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        fields = OUTPUT + (["vector"] if include_vectors else [])
        rows = {r["id"]: r for r in self._client.get(self._milvus, ids=list(ids), output_fields=fields)}
        found = [
            StoredItem(r["id"], r["modality"], dict(r["metadata"]), r["text"],
                       np.asarray(r["vector"], dtype=np.float32) if include_vectors else None)
            for i in ids if (r := rows.get(i)) is not None
        ]
        return found, [i for i in ids if i not in rows]

    def search_many(self, xq: np.ndarray, top_k: int, modalities: Iterable[str] = (), where: Where = (),
                    params: SearchParams | None = None) -> list[list[Hit]]:
        for key, _ in where:
            if not self._client.query(self._milvus, filter=f"exists metadata[{quote(key)}]", output_fields=["id"], limit=1):
                raise InvalidInput(f"filter: no item of collection {self.name!r} has the metadata field {key!r}")
        params = params or SearchParams()
        knobs = {"ivf": {"nprobe": params.nprobe or DEFAULT_NPROBE},
                 "hnsw": {"ef": max(top_k, params.ef_search or DEFAULT_EF)}}.get(self.index_type, {})
        result = self._client.search(
            self._milvus, data=np.asarray(xq, dtype=np.float32).tolist(), limit=top_k,
            filter=filter_expression(modalities, where), output_fields=OUTPUT[1:],
            search_params={"metric_type": "IP", "params": knobs},
        )
        return [[Hit(h["id"], float(h["distance"]), h["entity"]["modality"], dict(h["entity"]["metadata"]),
                     h["entity"]["text"]) for h in hits] for hits in result]

    def texts(self) -> Iterator[tuple[str, str]]:
        it = self._client.query_iterator(self._milvus, batch_size=1000, filter='text != ""', output_fields=["id", "text"])
        try:
            while batch := it.next():
                yield from ((r["id"], r["text"]) for r in batch)
        finally:
            it.close()

    def payloads(self):
        raise FailedPrecondition(f"collection {self.name!r} is in Milvus, which keeps no original image/audio bytes, "
                                 "so it cannot be re-embedded; add its items again instead")

    def close(self) -> None:
        """Nothing to do: the client belongs to the store."""


class MilvusStore:
    """The xmodal collections of one Milvus deployment (``CollectionStore``)."""

    def __init__(self, uri: str, token: str = "", settings: IndexSettings | None = None):
        try:
            import pymilvus
            from pymilvus import MilvusClient
        except ImportError:
            raise FailedPrecondition("the milvus index backend needs pymilvus (and milvus-lite for a local file): "
                                     "pip install 'xmodal-server[milvus]'") from None
        self.uri = uri
        self.settings = settings or IndexSettings()
        self.events: list[tuple[str, str, str]] = []
        self._version = pymilvus.__version__
        self._client = MilvusClient(uri=uri, token=token)
        self._lock = threading.Lock()
        self._open: dict[str, MilvusCollection] = {}
        for milvus in self._client.list_collections():
            props = self._client.describe_collection(milvus).get("properties", {})
            if milvus.startswith(PREFIX) and META in props:
                meta = json.loads(props[META])
                self._client.load_collection(milvus)
                self._open[meta["name"]] = MilvusCollection(self._client, milvus, meta)
        log.info("milvus at %s: %d xmodal collections", uri, len(self._open))

    def create(self, name: str, *, dim: int, space_id: str, description: str = "", index_type: str = "") -> MilvusCollection:
        from pymilvus import DataType

        check_name(name)
        index_type = check_index_type(index_type, self.settings)
        with self._lock:
            if name in self._open:
                raise AlreadyExists(f"collection {name!r} already exists")
            schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
            schema.add_field("modality", DataType.VARCHAR, max_length=16)
            schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
            schema.add_field("metadata", DataType.JSON)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            kind, params = INDEXES[index_type]
            index = self._client.prepare_index_params()
            index.add_index("vector", index_type=kind, metric_type="IP", params=params)
            meta = {"name": name, "description": description, "dim": str(dim), "space_id": space_id,
                    "index_type": index_type, "created_at": repr(time.time())}
            milvus = milvus_name(name)
            # Strong consistency: a search sees every write acknowledged before it (read-your-writes).
            self._client.create_collection(milvus, schema=schema, index_params=index, consistency_level="Strong",
                                           properties={META: json.dumps(meta)})
            self._open[name] = coll = MilvusCollection(self._client, milvus, meta)
            return coll

    def get(self, name: str) -> MilvusCollection:
        try:
            return self._open[name]
        except KeyError:
            check_name(name)
            raise NotFound(f"collection {name!r} does not exist; list them with `xmodal collections list`") from None

    def list(self) -> list[MilvusCollection]:
        return [self._open[n] for n in sorted(self._open)]

    def delete(self, name: str) -> None:
        with self._lock:
            coll = self.get(name)
            self._client.drop_collection(coll._milvus)
            del self._open[name]

    def staging(self, name: str, **_) -> MilvusCollection:
        raise FailedPrecondition("the milvus backend keeps no original payloads, so it cannot reindex")

    def swap(self, name: str, staged: MilvusCollection) -> MilvusCollection:
        raise FailedPrecondition("the milvus backend keeps no original payloads, so it cannot reindex")

    def set_event_sink(self, sink: EventSink) -> None:
        """Milvus reports its own recovery; nothing is recorded here."""

    def configure(self, settings: IndexSettings) -> None:
        self.settings = settings

    def describe_backend(self, default: str) -> str:
        where = "Milvus Lite file" if "://" not in self.uri else "Milvus"
        return f"milvus ({where} {self.uri}; pymilvus {self._version}; index per collection: FLAT, IVF_FLAT, HNSW or AUTOINDEX)"

    def close(self) -> None:
        self._client.close()
