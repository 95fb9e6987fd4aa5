"""The media layer: turns untrusted request bytes/strings into validated model inputs.

Everything the encoders see has passed through here: images become RGB ``PIL.Image``, audio becomes
1-D float32 mono 16 kHz in [-1, 1], text becomes NFC-normalised, stripped ``str``. Every refusal is an
``InvalidInput`` whose message says what was wrong and what to do; the API layer prefixes the item
(``err.with_item(...)``). Limits are checked as early and as cheaply as possible (byte size, then
header-declared size/duration) so that hostile inputs are refused before they cost memory or CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class MediaLimits:
    """Per-server input limits. One instance is built from config and passed to every decode call."""

    # Largest encoded image accepted, in bytes (checked before anything is parsed).
    max_image_bytes: int = 20 * MiB
    # Largest width*height accepted. Checked from the image header BEFORE pixel data is decoded, so a
    # small file declaring a huge canvas (decompression bomb) never allocates. 40 MP covers any camera.
    max_image_pixels: int = 40_000_000
    # Largest encoded audio file or raw PCM payload accepted, in bytes.
    max_audio_bytes: int = 20 * MiB
    # Longest audio accepted, in seconds (from the header where the format declares it).
    max_audio_seconds: float = 30.0
    # Shortest audio accepted, in seconds: below this speech encoders produce meaningless features.
    min_audio_seconds: float = 0.1
    # Longest text accepted, in characters (after NFC normalisation and stripping).
    max_text_chars: int = 10_000
    # Inclusive range of sample rates a caller may declare for raw PCM.
    pcm_sample_rates: tuple[int, int] = (8000, 48000)
    # Inclusive range of sample rates accepted in WAV/FLAC/OGG headers: wider than PCM because
    # recorders write 96/192 kHz files; the bounds keep resampling cost and memory predictable.
    file_sample_rates: tuple[int, int] = (4000, 192000)

    def __post_init__(self) -> None:
        # A misconfiguration should fail at startup, not as confusing per-request refusals.
        if min(self.max_image_bytes, self.max_image_pixels, self.max_audio_bytes, self.max_text_chars) <= 0:
            raise ValueError("MediaLimits: byte, pixel and character limits must be positive")
        if not 0 < self.min_audio_seconds <= self.max_audio_seconds:
            raise ValueError("MediaLimits: need 0 < min_audio_seconds <= max_audio_seconds")
        for lo, hi in (self.pcm_sample_rates, self.file_sample_rates):
            if not 0 < lo <= hi:
                raise ValueError("MediaLimits: sample-rate ranges must be (low, high) with 0 < low <= high")


# Imported after MediaLimits is defined: the submodules import it from this package.
from .audio import TARGET_SAMPLE_RATE, decode_audio, decode_pcm_s16le  # noqa: E402
from .image import decode_image  # noqa: E402
from .text import check_text  # noqa: E402

__all__ = [
    "MediaLimits",
    "TARGET_SAMPLE_RATE",
    "check_text",
    "decode_audio",
    "decode_image",
    "decode_pcm_s16le",
]
