"""Media decoding: request payloads (text, image bytes, audio bytes or raw PCM) -> validated inputs of the
encoders, on a CPU pool (``media/`` holds the decoders and their limits). A bad item fails its request alone,
named by its label, before anything reaches a batcher."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from ..encoders.base import IMAGE, SPEECH, TEXT
from ..errors import InvalidInput, XmodalError
from ..media import MediaLimits, check_text, decode_audio, decode_image, decode_pcm_s16le
from .inputs import AudioInput, Clock

# Validating this much text on the event loop costs less than the hop to the CPU pool would.
INLINE_TEXT_CHARS = 4096


class Decoder:
    def __init__(self, limits: MediaLimits, pool: ThreadPoolExecutor):
        self.limits = limits
        self.pool = pool

    def decode_one(self, kind: str, payload: Any) -> Any:
        if kind == TEXT:
            return check_text(payload, self.limits)
        if kind == IMAGE:
            return decode_image(payload, self.limits)
        if kind == SPEECH:
            audio: AudioInput = payload
            if audio.pcm_sample_rate:
                return decode_pcm_s16le(audio.data, audio.pcm_sample_rate, self.limits, channels=audio.pcm_channels or 1)
            return decode_audio(audio.data, self.limits)
        raise InvalidInput(f"unknown payload kind {kind!r}")

    def decode_all(self, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> list[Any]:
        out = []
        for payload, label in zip(payloads, labels):
            try:
                out.append(self.decode_one(kind, payload))
            except XmodalError as e:
                raise e.with_item(label) from None
        return out

    async def decode(self, clock: Clock, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> list[Any]:
        if kind == TEXT and all(isinstance(p, str) for p in payloads) and sum(map(len, payloads)) <= INLINE_TEXT_CHARS:
            return clock.call("decode_ms", lambda: self.decode_all(kind, payloads, labels))
        return await clock.run("decode_ms", lambda: self.decode_all(kind, payloads, labels), self.pool)
