"""Request building and response parsing shared by the sync and asyncio clients (no I/O here)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

import grpc
import numpy as np

from xmodal.v1 import collection_pb2, common_pb2, embedding_pb2, search_pb2

DEFAULT_ADDRESS = "localhost:50051"
MODALITY_NAMES = {
    common_pb2.MODALITY_TEXT: "text",
    common_pb2.MODALITY_IMAGE: "image",
    common_pb2.MODALITY_SPEECH: "speech",
    common_pb2.MODALITY_VECTOR: "vector",
}
MODALITY_VALUES = {v: k for k, v in MODALITY_NAMES.items()}

Media = Union[bytes, str, os.PathLike]


class XmodalClientError(Exception):
    """A failed call: ``code`` is the gRPC status code, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self.code = code
        self.details = details
        super().__init__(f"{code.name}: {details}")


def resolve_address(address: str | None) -> str:
    return address or os.environ.get("XMODAL_ADDRESS") or DEFAULT_ADDRESS


def read_media(data: Media) -> bytes:
    """Bytes are sent as they are; a str/path is read from disk."""
    return bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else Path(data).read_bytes()


def audio(data: Media, pcm_sample_rate: int = 0, pcm_channels: int = 1) -> common_pb2.Audio:
    return common_pb2.Audio(data=read_media(data), pcm_sample_rate=pcm_sample_rate, pcm_channels=pcm_channels)


def unpack_vector(v: common_pb2.Vector) -> np.ndarray:
    return np.frombuffer(v.data, dtype="<f4").reshape(v.dim).astype(np.float32)


def pack_vector(v: Sequence[float] | np.ndarray) -> common_pb2.Vector:
    arr = np.asarray(v, dtype="<f4").reshape(-1)
    return common_pb2.Vector(data=arr.tobytes(), dim=arr.size)


@dataclass
class Embeddings:
    vectors: np.ndarray  # (N, dim) float32, unit rows
    space_id: str
    truncated: list[bool]
    transcripts: list[str]
    timing: dict[str, float]


@dataclass
class Hit:
    id: str
    score: float
    modality: str
    metadata: dict[str, str] = field(default_factory=dict)
    text: str = ""
    transcript_logprob: float | None = None  # SearchBySpeech with rerank: how well the text explains the audio
    sound_alike: float | None = None  # SearchBySpeech: how much the text sounds like the transcript (0..1)

    def to_json(self) -> dict:
        out = {"id": self.id, "score": self.score, "modality": self.modality, "metadata": self.metadata, "text": self.text}
        for name in ("transcript_logprob", "sound_alike"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass
class SearchResult:
    hits: list[Hit]
    space_id: str
    timing: dict[str, float]
    transcript: str = ""
    truncated: bool = False
    transcript_logprob: float | None = None  # with rerank: the transcript's own (the gate's reference)


def timing(t: common_pb2.Timing) -> dict[str, float]:
    return {"decode_ms": t.decode_ms, "model_ms": t.model_ms, "index_ms": t.index_ms, "total_ms": t.total_ms}


def embeddings(result: embedding_pb2.EmbeddingResult) -> Embeddings:
    vecs = [unpack_vector(e.vector) for e in result.embeddings]
    return Embeddings(
        vectors=np.stack(vecs) if vecs else np.zeros((0, 0), np.float32),
        space_id=result.space_id,
        truncated=[e.truncated for e in result.embeddings],
        transcripts=[e.transcript for e in result.embeddings],
        timing=timing(result.timing),
    )


def search_result(resp) -> SearchResult:
    r = resp.result
    return SearchResult(
        hits=[Hit(h.id, h.score, MODALITY_NAMES.get(h.modality, "unspecified"), dict(h.metadata), h.text,
                  h.transcript_logprob if h.HasField("transcript_logprob") else None,
                  h.sound_alike if h.HasField("sound_alike") else None) for h in r.hits],
        space_id=r.space_id,
        timing=timing(r.timing),
        transcript=getattr(resp, "transcript", ""),
        truncated=getattr(resp, "truncated", False),
        transcript_logprob=resp.transcript_logprob if _has(resp, "transcript_logprob") else None,
    )


def _has(msg, name: str) -> bool:
    return name in msg.DESCRIPTOR.fields_by_name and msg.HasField(name)


SPEECH_MODES = {
    "": common_pb2.SPEECH_MODE_UNSPECIFIED,
    "direct": common_pb2.SPEECH_MODE_DIRECT,
    "transcribe": common_pb2.SPEECH_MODE_TRANSCRIBE,
    "fused": common_pb2.SPEECH_MODE_FUSED,
}


def speech_options(mode: str = "", direct_weight: float | None = None) -> common_pb2.SpeechOptions:
    """``mode``: "" (the server's default), "direct", "transcribe" or "fused"."""
    if mode not in SPEECH_MODES:
        raise ValueError(f"unknown speech mode {mode!r}; use direct, transcribe or fused")
    msg = common_pb2.SpeechOptions(mode=SPEECH_MODES[mode])
    if direct_weight is not None:
        msg.direct_weight = direct_weight
    return msg


Where = Mapping[str, Union[str, Sequence[str]]]


def metadata_filter(where: Where | None) -> list[search_pb2.MetadataCondition]:
    """``{"color": "red", "size": ["S", "M"]}``: color is red AND size is S or M."""
    return [search_pb2.MetadataCondition(key=k, values=[v] if isinstance(v, str) else list(v))
            for k, v in (where or {}).items()]


def options(top_k: int, modalities: Iterable[str], where: Where | None = None, nprobe: int = 0,
            ef_search: int = 0) -> search_pb2.SearchOptions:
    try:
        values = [MODALITY_VALUES[m] for m in modalities]
    except KeyError as e:
        raise ValueError(f"unknown modality {e.args[0]!r}; use text, image, speech or vector") from None
    return search_pb2.SearchOptions(top_k=top_k, modalities=values, metadata_filter=metadata_filter(where),
                                    nprobe=nprobe, ef_search=ef_search)


INDEX_TYPES = {
    "": collection_pb2.INDEX_TYPE_UNSPECIFIED,
    "auto": collection_pb2.INDEX_TYPE_AUTO,
    "exact": collection_pb2.INDEX_TYPE_EXACT,
    "ivf": collection_pb2.INDEX_TYPE_IVF,
    "hnsw": collection_pb2.INDEX_TYPE_HNSW,
}


def index_type(name: str) -> int:
    """"" (the server's default), "auto", "exact", "ivf" or "hnsw"."""
    if name not in INDEX_TYPES:
        raise ValueError(f"unknown index type {name!r}; use auto, exact, ivf or hnsw")
    return INDEX_TYPES[name]


class Item:
    """Builders for ``AddItems`` items: ``Item.text("a1", "hello", {"lang": "en"})``."""

    @staticmethod
    def text(id: str, text: str, metadata: Mapping[str, str] | None = None) -> collection_pb2.Item:
        return collection_pb2.Item(id=id, text=text, metadata=dict(metadata or {}))

    @staticmethod
    def image(id: str, image: Media, metadata: Mapping[str, str] | None = None) -> collection_pb2.Item:
        return collection_pb2.Item(id=id, image=read_media(image), metadata=dict(metadata or {}))

    @staticmethod
    def speech(id: str, data: Media, metadata: Mapping[str, str] | None = None, pcm_sample_rate: int = 0) -> collection_pb2.Item:
        return collection_pb2.Item(id=id, speech=audio(data, pcm_sample_rate), metadata=dict(metadata or {}))

    @staticmethod
    def vector(id: str, vector: Sequence[float] | np.ndarray, metadata: Mapping[str, str] | None = None) -> collection_pb2.Item:
        return collection_pb2.Item(id=id, vector=pack_vector(vector), metadata=dict(metadata or {}))


def collection_dict(c: collection_pb2.Collection) -> dict:
    return {
        "name": c.name, "description": c.description, "item_count": c.item_count, "dim": c.dim,
        "space_id": c.space_id, "index_type": c.index_type, "created_at": c.created_at, "index_state": c.index_state,
    }


def stored_item_dict(it: collection_pb2.StoredItem) -> dict:
    d = {"id": it.id, "modality": MODALITY_NAMES.get(it.modality, "unspecified"), "metadata": dict(it.metadata), "text": it.text}
    if it.HasField("vector"):
        d["vector"] = unpack_vector(it.vector)
    return d
