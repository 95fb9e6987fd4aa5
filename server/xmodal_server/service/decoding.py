"""Media decoding: request payloads (text, image bytes, audio bytes or raw PCM) -> validated inputs of the
encoders, and their preparation for the model (tokens, normalised pixels, log-mel: ``Embedder.prepare``), in one
step on a CPU pool, timed as ``decode_ms`` (``media/`` holds the decoders and their limits). A bad item fails its
request alone, named by its label, before anything reaches a batcher; the model thread gets only prepared items
(infinity's ``encode_pre`` before its batch queue)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..encoders.base import IMAGE, SPEECH, TEXT
from ..errors import InvalidInput, XmodalError
from ..media import MediaLimits, check_text, decode_audio, decode_image, decode_pcm_s16le
from .inputs import AudioInput, Clock

# Validating and tokenising this much text on the event loop costs less than the hop to the CPU pool would
# (tokenising: about 25 us for a short sentence, 0.4 us a character beyond).
INLINE_TEXT_CHARS = 256


@dataclass
class Decoded:
    items: list[Any]  # the decoded, valid media (text, RGB image, 16 kHz wave), one per payload
    prepared: list[Any]  # the same items prepared for their encoder (``Embedder.prepare``): what the batcher gets


class Decoder:
    def __init__(self, limits: MediaLimits, pool: ThreadPoolExecutor,
                 prepare: Callable[[str, list[Any]], list[Any]] | None = None):
        """``prepare(kind, items)``: the encoders' CPU preparation (``Embedder.prepare``); None: none (the
        items themselves are handed on)."""
        self.limits = limits
        self.pool = pool
        self.prepare = prepare

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

    def decode_and_prepare(self, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> Decoded:
        items = self.decode_all(kind, payloads, labels)
        return Decoded(items, self.prepare(kind, items) if self.prepare is not None else list(items))

    async def decode(self, clock: Clock, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> Decoded:
        if kind == TEXT and all(isinstance(p, str) for p in payloads) and sum(map(len, payloads)) <= INLINE_TEXT_CHARS:
            return clock.call("decode_ms", lambda: self.decode_and_prepare(kind, payloads, labels))
        return await clock.run("decode_ms", lambda: self.decode_and_prepare(kind, payloads, labels), self.pool)
