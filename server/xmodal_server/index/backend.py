"""The narrow interface between the service and an index backend, and the types both sides share.

Two implementations keep one contract (``tests/contract/test_index_backend.py`` runs the same tests on both):

* FAISS embedded (default): ``store.Store`` of ``collection.Collection`` — SQLite log + FAISS in memory;
* Milvus: ``milvus.MilvusStore`` of ``milvus.MilvusCollection`` — Milvus Lite for a local file, a cluster
  for ``http://...``.

A ``CollectionStore`` names collections; each is an ``IndexBackend``. Everything crossing this line is
plain Python: ids are strings, vectors unit float32, metadata string -> string. Requests are validated
by the service before they get here (ids, payloads, the shape of a filter); a backend checks what only it
knows: the collection's dim, which metadata fields exist, which ids exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..config import Config

# How a collection indexes its vectors; chosen at creation.
#   exact: every item compared (recall 1); ivf: inverted file, trained on the collection's own vectors once
#   it is big enough (exact until then); hnsw: a graph; auto: exact below IndexSettings.auto_ivf_min, then ivf.
INDEX_TYPES = ("auto", "exact", "ivf", "hnsw")

# A metadata filter: an AND of conditions, each "field `key` has one of `values`" (one value: equality).
# Normalised by the service: conditions sorted, values sorted and unique, so equal filters compare equal.
Where = tuple[tuple[str, tuple[str, ...]], ...]

# Callback for what a store learns about its own health (recovery, corruption, rebuilds):
# (collection name, event, detail). The service counts them in the metrics; the default only logs.
EventSink = Callable[[str, str, str], None]


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
    transcript_logprob: float | None = None  # set by SearchBySpeech re-ranking on the hits it scored
    sound_alike: float | None = None  # SearchBySpeech: the text's similarity to the transcript (ranking/sound_alike.py)


@dataclass(frozen=True)
class SearchParams:
    """Per-request ANN knobs; 0 = the collection's default. Ignored by exact indexes."""

    nprobe: int = 0  # IVF: inverted lists visited
    ef_search: int = 0  # HNSW: candidate list size


@dataclass(frozen=True)
class IndexSettings:
    """Server-wide index settings (from ``Config``)."""

    default_type: str = "auto"  # for a CreateCollection that names no index type
    snapshot_every: int = 10_000  # index operations (adds + deletes) between two FAISS snapshots
    auto_ivf_min: int = 50_000  # "auto" collections switch from exact to IVF at this many items

    @classmethod
    def from_config(cls, config: "Config") -> "IndexSettings":
        return cls(default_type=config.index_type, snapshot_every=config.index_snapshot_ops)


class IndexBackend(Protocol):
    """One collection. Writes are all or nothing and durable when they return."""

    name: str
    dim: int
    index_type: str  # one of INDEX_TYPES
    meta: dict[str, str]  # name, description, dim, space_id, index_type, created_at

    @property
    def count(self) -> int: ...

    # Shared by both backends (they subclass this protocol): the space lives in ``meta`` either way.
    @property
    def space_id(self) -> str:
        return self.meta["space_id"]

    def check_space(self, space_id: str) -> None:
        """FailedPrecondition when the collection was built in another space."""
        if space_id != self.space_id:
            raise space_mismatch(self.name, self.space_id, space_id)

    def add(self, items: Sequence[NewItem]) -> int:
        """Insert new items; AlreadyExists (nothing written) if any id is taken. Returns how many."""

    def upsert(self, items: Sequence[NewItem]) -> int:
        """Insert, replacing items whose id exists, in one atomic write. Returns how many were replaced."""

    def delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        """(deleted, ids that were not there)."""

    def get(self, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        """(found items in request order, missing ids)."""

    def search_many(self, xq: np.ndarray, top_k: int, modalities: Iterable[str] = (), where: Where = (),
                    params: SearchParams | None = None) -> list[list[Hit]]:
        """Top-k per query row among the items matching ``modalities`` (any if empty) and ``where``.
        InvalidInput when ``where`` names a field that no item of the collection has."""

    def describe(self) -> dict: ...

    def payloads(self) -> list[tuple[str, str, str, bytes | None, str, dict[str, str]]]:
        """(id, modality, text, payload, payload_kind, metadata) of every item, for re-embedding."""

    def texts(self) -> Iterator[tuple[str, str]]:
        """(id, text) of every item that has a text (SearchBySpeech's sound-alike index, ``ranking/sound_alike.py``)."""

    def close(self) -> None: ...


class CollectionStore(Protocol):
    """The named collections of one backend."""

    settings: IndexSettings

    def create(self, name: str, *, dim: int, space_id: str, description: str = "", index_type: str = "") -> IndexBackend: ...

    def get(self, name: str) -> IndexBackend:
        """NotFound when there is no such collection."""

    def list(self) -> list[IndexBackend]: ...

    def delete(self, name: str) -> None: ...

    def staging(self, name: str, *, dim: int, space_id: str, description: str, index_type: str = "") -> IndexBackend:
        """An empty collection out of sight, to be filled then ``swap``-ped in (reindexing)."""

    def swap(self, name: str, staged: IndexBackend) -> IndexBackend: ...

    def set_event_sink(self, sink: EventSink) -> None:
        """Send events to ``sink`` from now on, after replaying those recorded while opening."""

    def describe_backend(self, default: str) -> str:
        """For GetInfo.index_backend."""

    def close(self) -> None: ...


def check_index_type(index_type: str, settings: IndexSettings) -> str:
    from ..errors import InvalidInput

    chosen = index_type or settings.default_type
    if chosen not in INDEX_TYPES:
        raise InvalidInput(f"index type {index_type!r} is unknown; use one of {', '.join(INDEX_TYPES)}")
    return chosen


def space_mismatch(name: str, have: str, want: str):
    """The error for searching or adding to a collection built in another space."""
    from ..errors import FailedPrecondition

    return FailedPrecondition(
        f"collection {name!r} was built in space {have!r} but the server runs {want!r}; restart with the "
        "matching profile/checkpoint, or run `xmodal collections reindex NAME`"
    )


def stored_index_type(meta: dict[str, str]) -> str:
    """Collections made before index types existed recorded "flat-ip": that is "exact"."""
    value = meta.get("index_type", "exact")
    return "exact" if value == "flat-ip" else value
