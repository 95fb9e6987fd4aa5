"""What the domain core takes and gives: plain Python types, never protos, so the service is testable
without gRPC and the servicers stay thin (``api/convert.py`` maps both ways)."""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from ..index.backend import SearchParams

VECTOR = "vector"  # an item or query that is already a vector of the shared space


@dataclass(frozen=True)
class AudioInput:
    data: bytes
    pcm_sample_rate: int = 0  # > 0: raw s16le PCM
    pcm_channels: int = 1


@dataclass(frozen=True)
class SpeechOptions:
    mode: str = ""  # "" = the checkpoint's default; "direct" | "transcribe" | "fused"
    direct_weight: float | None = None
    keep_state: bool = False  # set by re-ranking: keep the encoder's state of each clip for the scoring call


@dataclass(frozen=True)
class ItemInput:
    id: str
    kind: str  # TEXT, IMAGE, SPEECH or VECTOR
    payload: Any  # str, bytes, AudioInput or np.ndarray (float32)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRequest:
    """One search. ``kind`` VECTOR: ``query`` is a float32 vector already in the shared space and
    ``vector_space``, when given, the space it was made in. ``where``: metadata conditions, ANDed, each (key,
    accepted values). Speech only, None = the server's default: ``rerank`` (depth of the likelihood re-ranking,
    0 = off), ``rerank_extras`` (how many texts that sound like the transcript it scores beyond that depth:
    the proto's ``SpeechRerank.sound_alike``), ``sound_alike_weight`` (of the sound-alike
    term in the ranking)."""
    collection: str
    kind: str
    query: Any
    top_k: int
    modalities: Sequence[str] = ()
    speech: SpeechOptions | None = None
    where: Sequence[tuple[str, Sequence[str]]] = ()
    params: SearchParams | None = None
    vector_space: str = ""
    rerank: int | None = 0
    rerank_extras: int | None = None
    sound_alike_weight: float | None = None


@dataclass
class Timing:
    decode_ms: float = 0.0
    model_ms: float = 0.0
    index_ms: float = 0.0
    total_ms: float = 0.0


class Clock:
    """Where one request's time went (Timing), measured around the awaits of its stages."""

    def __init__(self) -> None:
        self.timing = Timing()
        self._start = time.perf_counter()

    async def run(self, bucket: str, fn: Callable[[], Any], executor: ThreadPoolExecutor | None) -> Any:
        return await self.wait(bucket, asyncio.get_running_loop().run_in_executor(executor, fn))

    async def wait(self, bucket: str, awaitable: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return await awaitable
        finally:
            self._add(bucket, t0)

    def call(self, bucket: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self._add(bucket, t0)

    def _add(self, bucket: str, t0: float) -> None:
        setattr(self.timing, bucket, getattr(self.timing, bucket) + (time.perf_counter() - t0) * 1e3)

    def done(self) -> Timing:
        self.timing.total_ms = (time.perf_counter() - self._start) * 1e3
        return self.timing
