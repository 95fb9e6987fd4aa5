from xmodal.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchOptions(_message.Message):
    __slots__ = ("top_k", "modalities", "metadata_filter", "nprobe", "ef_search")
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    top_k: int
    modalities: _containers.RepeatedScalarFieldContainer[_common_pb2.Modality]
    metadata_filter: _containers.RepeatedCompositeFieldContainer[MetadataCondition]
    nprobe: int
    ef_search: int
    def __init__(self, top_k: _Optional[int] = ..., modalities: _Optional[_Iterable[_Union[_common_pb2.Modality, str]]] = ..., metadata_filter: _Optional[_Iterable[_Union[MetadataCondition, _Mapping]]] = ..., nprobe: _Optional[int] = ..., ef_search: _Optional[int] = ...) -> None: ...

class MetadataCondition(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "score", "modality", "metadata", "text", "transcript_logprob", "sound_alike")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_LOGPROB_FIELD_NUMBER: _ClassVar[int]
    SOUND_ALIKE_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    modality: _common_pb2.Modality
    metadata: _containers.ScalarMap[str, str]
    text: str
    transcript_logprob: float
    sound_alike: float
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., modality: _Optional[_Union[_common_pb2.Modality, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., text: _Optional[str] = ..., transcript_logprob: _Optional[float] = ..., sound_alike: _Optional[float] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("hits", "space_id", "timing")
    HITS_FIELD_NUMBER: _ClassVar[int]
    SPACE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    space_id: str
    timing: _common_pb2.Timing
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., space_id: _Optional[str] = ..., timing: _Optional[_Union[_common_pb2.Timing, _Mapping]] = ...) -> None: ...

class SearchByTextRequest(_message.Message):
    __slots__ = ("collection", "text", "options")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    text: str
    options: SearchOptions
    def __init__(self, collection: _Optional[str] = ..., text: _Optional[str] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class SearchByTextResponse(_message.Message):
    __slots__ = ("result", "truncated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    result: SearchResult
    truncated: bool
    def __init__(self, result: _Optional[_Union[SearchResult, _Mapping]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class SearchByImageRequest(_message.Message):
    __slots__ = ("collection", "image", "options")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    image: bytes
    options: SearchOptions
    def __init__(self, collection: _Optional[str] = ..., image: _Optional[bytes] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class SearchByImageResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: SearchResult
    def __init__(self, result: _Optional[_Union[SearchResult, _Mapping]] = ...) -> None: ...

class SearchBySpeechRequest(_message.Message):
    __slots__ = ("collection", "audio", "options", "speech_options", "rerank", "sound_alike_weight")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    SOUND_ALIKE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    collection: str
    audio: _common_pb2.Audio
    options: SearchOptions
    speech_options: _common_pb2.SpeechOptions
    rerank: SpeechRerank
    sound_alike_weight: float
    def __init__(self, collection: _Optional[str] = ..., audio: _Optional[_Union[_common_pb2.Audio, _Mapping]] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ..., speech_options: _Optional[_Union[_common_pb2.SpeechOptions, _Mapping]] = ..., rerank: _Optional[_Union[SpeechRerank, _Mapping]] = ..., sound_alike_weight: _Optional[float] = ...) -> None: ...

class SpeechRerank(_message.Message):
    __slots__ = ("candidates", "sound_alike")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SOUND_ALIKE_FIELD_NUMBER: _ClassVar[int]
    candidates: int
    sound_alike: int
    def __init__(self, candidates: _Optional[int] = ..., sound_alike: _Optional[int] = ...) -> None: ...

class SearchBySpeechResponse(_message.Message):
    __slots__ = ("result", "transcript", "transcript_logprob")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_LOGPROB_FIELD_NUMBER: _ClassVar[int]
    result: SearchResult
    transcript: str
    transcript_logprob: float
    def __init__(self, result: _Optional[_Union[SearchResult, _Mapping]] = ..., transcript: _Optional[str] = ..., transcript_logprob: _Optional[float] = ...) -> None: ...

class SearchByVectorRequest(_message.Message):
    __slots__ = ("collection", "vector", "options", "space_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SPACE_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    vector: _common_pb2.Vector
    options: SearchOptions
    space_id: str
    def __init__(self, collection: _Optional[str] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ..., space_id: _Optional[str] = ...) -> None: ...

class SearchByVectorResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: SearchResult
    def __init__(self, result: _Optional[_Union[SearchResult, _Mapping]] = ...) -> None: ...
