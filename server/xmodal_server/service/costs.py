"""What one prepared item costs its batcher, in the units whose seconds the batcher measures (``batching.py``).

Only ratios between items of one batcher matter, so each batcher may count in its own unit: seconds of audio
for the speech encoder (its model time grows with a clip's length: the encoder runs over the clip, and the
decoder's token budget is bounded by its duration), texts scored for the re-ranking, one unit per item
elsewhere (texts are cut at the model's token limit, images resized to one size).

The prepared forms differ per speech encoder, so a cost reads what it recognises and counts anything else as
one second: ``(features, n_samples)`` (embedded Whisper's log-mel, the reference Wav2Vec2's input values), a
bare waveform (the fake profile prepares nothing). Never raises: a cost that failed would refuse a good request.
"""
from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from ..media import MediaLimits
from ..media.audio import TARGET_SAMPLE_RATE

MIN_CLIP_SECONDS = MediaLimits.min_audio_seconds  # the shortest clip media/ accepts: no item is free, however short


def speech_item_seconds(item: Any) -> float:
    """Seconds of audio in one prepared speech item (16 kHz, what every speech encoder is given)."""
    samples: int | None = None
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Integral):
        samples = int(item[1])
    elif isinstance(item, np.ndarray):
        samples = item.size
    if samples is None:
        return 1.0
    return max(MIN_CLIP_SECONDS, samples / TARGET_SAMPLE_RATE)


def rerank_item_texts(item: Any) -> float:
    """Texts scored against one clip (a ``(wave, texts, state)`` re-ranking item): each is a decoder pass."""
    try:
        return float(max(1, len(item[1])))
    except (TypeError, IndexError):
        return 1.0
