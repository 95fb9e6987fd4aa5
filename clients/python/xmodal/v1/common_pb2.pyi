from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_TEXT: _ClassVar[Modality]
    MODALITY_IMAGE: _ClassVar[Modality]
    MODALITY_SPEECH: _ClassVar[Modality]
    MODALITY_VECTOR: _ClassVar[Modality]

class SpeechMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_MODE_UNSPECIFIED: _ClassVar[SpeechMode]
    SPEECH_MODE_DIRECT: _ClassVar[SpeechMode]
    SPEECH_MODE_TRANSCRIBE: _ClassVar[SpeechMode]
    SPEECH_MODE_FUSED: _ClassVar[SpeechMode]
MODALITY_UNSPECIFIED: Modality
MODALITY_TEXT: Modality
MODALITY_IMAGE: Modality
MODALITY_SPEECH: Modality
MODALITY_VECTOR: Modality
SPEECH_MODE_UNSPECIFIED: SpeechMode
SPEECH_MODE_DIRECT: SpeechMode
SPEECH_MODE_TRANSCRIBE: SpeechMode
SPEECH_MODE_FUSED: SpeechMode

class Audio(_message.Message):
    __slots__ = ("data", "pcm_sample_rate", "pcm_channels")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PCM_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    PCM_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    pcm_sample_rate: int
    pcm_channels: int
    def __init__(self, data: _Optional[bytes] = ..., pcm_sample_rate: _Optional[int] = ..., pcm_channels: _Optional[int] = ...) -> None: ...

class SpeechOptions(_message.Message):
    __slots__ = ("mode", "direct_weight")
    MODE_FIELD_NUMBER: _ClassVar[int]
    DIRECT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    mode: SpeechMode
    direct_weight: float
    def __init__(self, mode: _Optional[_Union[SpeechMode, str]] = ..., direct_weight: _Optional[float] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("data", "dim")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dim: int
    def __init__(self, data: _Optional[bytes] = ..., dim: _Optional[int] = ...) -> None: ...

class Timing(_message.Message):
    __slots__ = ("decode_ms", "model_ms", "index_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_MS_FIELD_NUMBER: _ClassVar[int]
    INDEX_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    model_ms: float
    index_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., model_ms: _Optional[float] = ..., index_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...
