from xmodal.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Embedding(_message.Message):
    __slots__ = ("vector", "truncated", "transcript")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    vector: _common_pb2.Vector
    truncated: bool
    transcript: str
    def __init__(self, vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., truncated: _Optional[bool] = ..., transcript: _Optional[str] = ...) -> None: ...

class EmbeddingResult(_message.Message):
    __slots__ = ("embeddings", "space_id", "timing")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    SPACE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    space_id: str
    timing: _common_pb2.Timing
    def __init__(self, embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., space_id: _Optional[str] = ..., timing: _Optional[_Union[_common_pb2.Timing, _Mapping]] = ...) -> None: ...

class EmbedTextRequest(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedTextResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: EmbeddingResult
    def __init__(self, result: _Optional[_Union[EmbeddingResult, _Mapping]] = ...) -> None: ...

class EmbedImageRequest(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, images: _Optional[_Iterable[bytes]] = ...) -> None: ...

class EmbedImageResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: EmbeddingResult
    def __init__(self, result: _Optional[_Union[EmbeddingResult, _Mapping]] = ...) -> None: ...

class EmbedSpeechRequest(_message.Message):
    __slots__ = ("audios", "speech_options")
    AUDIOS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    audios: _containers.RepeatedCompositeFieldContainer[_common_pb2.Audio]
    speech_options: _common_pb2.SpeechOptions
    def __init__(self, audios: _Optional[_Iterable[_Union[_common_pb2.Audio, _Mapping]]] = ..., speech_options: _Optional[_Union[_common_pb2.SpeechOptions, _Mapping]] = ...) -> None: ...

class EmbedSpeechResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: EmbeddingResult
    def __init__(self, result: _Optional[_Union[EmbeddingResult, _Mapping]] = ...) -> None: ...
