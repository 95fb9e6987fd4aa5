"""proto <-> domain conversion. Vectors travel as packed little-endian float32 (docs/ARCHITECTURE.md, principle 8)."""
from __future__ import annotations

import numpy as np

from xmodal.v1 import collection_pb2, common_pb2, search_pb2

from ..encoders.base import IMAGE, SPEECH, TEXT
from ..errors import InvalidInput
from ..index.backend import SearchParams
from ..service import VECTOR, AudioInput, SpeechOptions, Timing

MODALITY_TO_PROTO = {
    TEXT: common_pb2.MODALITY_TEXT,
    IMAGE: common_pb2.MODALITY_IMAGE,
    SPEECH: common_pb2.MODALITY_SPEECH,
    VECTOR: common_pb2.MODALITY_VECTOR,
}
PROTO_TO_MODALITY = {v: k for k, v in MODALITY_TO_PROTO.items()}


def vector_to_proto(v: np.ndarray) -> common_pb2.Vector:
    return common_pb2.Vector(data=np.asarray(v, dtype="<f4").tobytes(), dim=int(v.shape[-1]))


def vector_from_proto(msg: common_pb2.Vector, where: str) -> np.ndarray:
    if msg.dim == 0 or len(msg.data) != 4 * msg.dim:
        raise InvalidInput(
            f"{where}: vector has {len(msg.data)} bytes for dim {msg.dim}; expected 4*dim bytes of little-endian float32"
        )
    return np.frombuffer(msg.data, dtype="<f4").astype(np.float32)


def audio_from_proto(msg: common_pb2.Audio) -> AudioInput:
    return AudioInput(data=msg.data, pcm_sample_rate=msg.pcm_sample_rate, pcm_channels=msg.pcm_channels or 1)


def timing_to_proto(t: Timing) -> common_pb2.Timing:
    return common_pb2.Timing(decode_ms=t.decode_ms, model_ms=t.model_ms, index_ms=t.index_ms, total_ms=t.total_ms)


def modalities_from_proto(values) -> list[str]:
    out = []
    for v in values:
        if v not in PROTO_TO_MODALITY:
            raise InvalidInput(f"options.modalities: unknown modality value {v}; use TEXT, IMAGE, SPEECH or VECTOR")
        out.append(PROTO_TO_MODALITY[v])
    return out


INDEX_TYPE_FROM_PROTO = {
    collection_pb2.INDEX_TYPE_UNSPECIFIED: "",
    collection_pb2.INDEX_TYPE_AUTO: "auto",
    collection_pb2.INDEX_TYPE_EXACT: "exact",
    collection_pb2.INDEX_TYPE_IVF: "ivf",
    collection_pb2.INDEX_TYPE_HNSW: "hnsw",
}


def index_type_from_proto(value: int) -> str:
    if value not in INDEX_TYPE_FROM_PROTO:
        raise InvalidInput(f"index_type: unknown value {value}; use AUTO, EXACT, IVF or HNSW")
    return INDEX_TYPE_FROM_PROTO[value]


def filter_from_proto(conditions) -> list[tuple[str, list[str]]]:
    return [(c.key, list(c.values)) for c in conditions]


def search_params_from_proto(options: search_pb2.SearchOptions) -> SearchParams:
    return SearchParams(nprobe=options.nprobe, ef_search=options.ef_search)


def hits_to_proto(hits) -> list[search_pb2.Hit]:
    return [
        search_pb2.Hit(id=h.id, score=h.score, modality=MODALITY_TO_PROTO[h.modality], metadata=h.metadata, text=h.text,
                       transcript_logprob=h.transcript_logprob, sound_alike=h.sound_alike)
        for h in hits
    ]


SPEECH_MODE_TO_PROTO = {
    "direct": common_pb2.SPEECH_MODE_DIRECT,
    "transcribe": common_pb2.SPEECH_MODE_TRANSCRIBE,
    "fused": common_pb2.SPEECH_MODE_FUSED,
}
_PROTO_TO_SPEECH_MODE = {v: k for k, v in SPEECH_MODE_TO_PROTO.items()}


def speech_options_from_proto(msg: common_pb2.SpeechOptions) -> SpeechOptions:
    if msg.mode != common_pb2.SPEECH_MODE_UNSPECIFIED and msg.mode not in _PROTO_TO_SPEECH_MODE:
        raise InvalidInput(f"speech_options.mode: unknown value {msg.mode}; use DIRECT, TRANSCRIBE or FUSED")
    return SpeechOptions(
        mode=_PROTO_TO_SPEECH_MODE.get(msg.mode, ""),
        direct_weight=msg.direct_weight if msg.HasField("direct_weight") else None,
    )
