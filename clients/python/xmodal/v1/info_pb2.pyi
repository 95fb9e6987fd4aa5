from xmodal.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EncoderDescription(_message.Message):
    __slots__ = ("modality", "name", "architecture", "feature_dim", "source", "head")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_DIM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    modality: _common_pb2.Modality
    name: str
    architecture: str
    feature_dim: int
    source: str
    head: str
    def __init__(self, modality: _Optional[_Union[_common_pb2.Modality, str]] = ..., name: _Optional[str] = ..., architecture: _Optional[str] = ..., feature_dim: _Optional[int] = ..., source: _Optional[str] = ..., head: _Optional[str] = ...) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("version", "profile", "encoders", "shared_dim", "checkpoint_id", "aligned", "alignment_note", "space_id", "index_backend", "device", "max_batch", "max_top_k", "metrics", "speech_modes", "rerank_gate", "rerank_sound_alike", "sound_alike_weight", "rerank_candidates")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ENCODERS_FIELD_NUMBER: _ClassVar[int]
    SHARED_DIM_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    ALIGNED_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_NOTE_FIELD_NUMBER: _ClassVar[int]
    SPACE_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_BACKEND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_TOP_K_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_MODES_FIELD_NUMBER: _ClassVar[int]
    RERANK_GATE_FIELD_NUMBER: _ClassVar[int]
    RERANK_SOUND_ALIKE_FIELD_NUMBER: _ClassVar[int]
    SOUND_ALIKE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RERANK_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    version: str
    profile: str
    encoders: _containers.RepeatedCompositeFieldContainer[EncoderDescription]
    shared_dim: int
    checkpoint_id: str
    aligned: bool
    alignment_note: str
    space_id: str
    index_backend: str
    device: str
    max_batch: int
    max_top_k: int
    metrics: _containers.ScalarMap[str, str]
    speech_modes: _containers.RepeatedScalarFieldContainer[_common_pb2.SpeechMode]
    rerank_gate: float
    rerank_sound_alike: int
    sound_alike_weight: float
    rerank_candidates: int
    def __init__(self, version: _Optional[str] = ..., profile: _Optional[str] = ..., encoders: _Optional[_Iterable[_Union[EncoderDescription, _Mapping]]] = ..., shared_dim: _Optional[int] = ..., checkpoint_id: _Optional[str] = ..., aligned: _Optional[bool] = ..., alignment_note: _Optional[str] = ..., space_id: _Optional[str] = ..., index_backend: _Optional[str] = ..., device: _Optional[str] = ..., max_batch: _Optional[int] = ..., max_top_k: _Optional[int] = ..., metrics: _Optional[_Mapping[str, str]] = ..., speech_modes: _Optional[_Iterable[_Union[_common_pb2.SpeechMode, str]]] = ..., rerank_gate: _Optional[float] = ..., rerank_sound_alike: _Optional[int] = ..., sound_alike_weight: _Optional[float] = ..., rerank_candidates: _Optional[int] = ...) -> None: ...
