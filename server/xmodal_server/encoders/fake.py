"""The *fake* profile: tiny deterministic stand-ins for the three backbones, used only by tests.

Nothing here is a model. The vectors mean nothing beyond what the rules below make them mean, and a
server started with ``--profile fake`` must never be presented as giving results. What the fakes buy is
speed: a server with them starts in 2-3 s (imports; no model loads) and answers every RPC in milliseconds,
so the Service and servicer tests (tests/fast/) exercise the whole API -- embedding, collections, filters,
every search kind, sound-alike ranking and re-ranking, errors -- without loading a real model.

The rules, chosen so that tests can predict results:

* text (``fake-text``): signed feature hashing of lower-cased words and their character trigrams into
  ``DIM`` dimensions (a stable hash, not Python's salted ``hash``). Texts that share words are close.
  A "token" is a word or punctuation mark; ``max_tokens`` is small (``TEXT_MAX_TOKENS``) so that
  truncation is cheap to trigger.
* image (``fake-image``): the image resized to 8x8 RGB pixels (``IMAGE_FEATURE_DIM`` features), and a
  class distribution over a few colour names (``COLOURS``) by the distance of the mean colour to each,
  so the built-in zero-shot checkpoint's ConSE head puts a red image near the text "red".
* speech (``fake-speech``): audio made by ``synthesize`` carries its text in the samples: one block of
  ``SAMPLES_PER_BYTE`` samples per UTF-8 byte, the block's level encoding the byte. ``synthesize(said,
  heard=...)`` writes what the fake recogniser will *hear* (the transcript) and, after a separator, what
  was *said*, so a test can make a mis-hearing on purpose. ``transcript_logprobs`` scores a text by its
  edit distance to what was said (``-EDIT_COST`` per character edit, per token), so a text said verbatim
  scores 0, the transcript of a mis-hearing scores below it, and re-ranking (gate ``rerank_gate``) moves
  the text said verbatim first. Any other audio decodes to whatever its levels spell (printable
  characters only; silence is the empty transcript): deterministic, meaningless.

The built-in zero-shot heads (``--checkpoint builtin``, the default for this profile as none ships) work
with all three: text identity, image ConSE over the colour names, speech by transcription.
"""
from __future__ import annotations

import hashlib
import io
import re
from typing import Any, Sequence

import numpy as np

from ..ranking.likelihood import spoken_form
from .base import IMAGE, SPEECH, TEXT, EncoderInfo, Features, ImageEncoder, SpeechEncoder, TextEncoder
from .registry import EncoderSpec

DIM = 256  # text (and speech) feature width
TEXT_MAX_TOKENS = 64
IMAGE_SIDE = 8
IMAGE_FEATURE_DIM = IMAGE_SIDE * IMAGE_SIDE * 3
SAMPLE_RATE = 16_000
SAMPLES_PER_BYTE = 80  # 5 ms a byte: 30 s hold 6,000 bytes
PAD_SAMPLES = SAMPLE_RATE // 10  # 0.1 s of silence either side: every clip passes the 0.1 s minimum
EDIT_COST = 4.0  # log-probability per character edit between a text and what was said
SOURCE = "built in (fake, tests only)"

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 60, 220), "yellow": (240, 220, 40),
    "orange": (250, 140, 20), "purple": (130, 50, 170), "pink": (250, 150, 200), "brown": (120, 70, 30),
    "black": (10, 10, 10), "white": (245, 245, 245), "gray": (128, 128, 128), "cyan": (40, 210, 220),
}

_WORD = re.compile(r"\w+|[^\w\s]")
# Block levels: byte b -> (b + 1) * _STEP; the separator between heard and said -> (256 + 1) * _STEP.
_STEP = 0.9 / 257
_SEPARATOR = 256


# ------------------------------------------------------------------------------------------------ text
def _bucket(key: str) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    return h % DIM, (1.0 if (h >> 32) & 1 else -1.0)


def tokens(text: str) -> list[str]:
    """The fake tokenizer: lower-cased words and punctuation marks."""
    return _WORD.findall(text.lower())


def text_features(words: Sequence[str]) -> np.ndarray:
    """(DIM,) float32 hashed bag of words (weight 1) and their character trigrams (weight 0.5), never zero."""
    v = np.zeros(DIM, np.float32)
    i, s = _bucket("<s>")
    v[i] += 0.1 * s  # a constant component, so that no text (not even ".") has a zero vector
    for w in words:
        i, s = _bucket("w:" + w)
        v[i] += s
        padded = f" {w} "
        for k in range(len(padded) - 2):
            i, s = _bucket("c:" + padded[k:k + 3])
            v[i] += 0.5 * s
    return v


class FakeTextEncoder(TextEncoder):
    """Hashed words and character trigrams; used only by tests, never presented as a result."""

    max_tokens = TEXT_MAX_TOKENS

    def __init__(self, name: str = "fake-text"):
        self.info = EncoderInfo(name, TEXT, "fake: hashed words + character trigrams (tests only)", DIM, SOURCE)

    def count_tokens(self, text: str) -> int:
        return len(tokens(text)) + 2  # + the two special tokens a real tokenizer adds

    def prepare(self, items: Sequence[str]) -> list[tuple[list[str], bool]]:
        out = []
        for text in items:
            words = tokens(text)
            out.append((words[: self.max_tokens - 2], len(words) + 2 > self.max_tokens))
        return out

    def forward(self, prepared: list[tuple[list[str], bool]], **_: Any) -> Features:
        feats = np.stack([text_features(w) for w, _ in prepared]) if prepared else np.zeros((0, DIM), np.float32)
        return Features(features=feats, truncated=[t for _, t in prepared])

    def warmup(self) -> None:
        self.encode(["warm up"])


# ----------------------------------------------------------------------------------------------- image
class FakeImageEncoder(ImageEncoder):
    """8x8 pixels and a colour-name distribution; used only by tests, never presented as a result."""

    def __init__(self, name: str = "fake-image"):
        self.class_names = list(COLOURS)
        self._colours = np.array(list(COLOURS.values()), np.float32) / 255.0
        self.info = EncoderInfo(name, IMAGE, f"fake: {IMAGE_SIDE}x{IMAGE_SIDE} pixels + colour names (tests only)",
                                IMAGE_FEATURE_DIM, SOURCE)

    def prepare(self, items: Sequence) -> np.ndarray:
        from PIL import Image

        if not items:
            return np.zeros((0, IMAGE_SIDE, IMAGE_SIDE, 3), np.float32)
        return np.stack([np.asarray(img.convert("RGB").resize((IMAGE_SIDE, IMAGE_SIDE), Image.BILINEAR), np.float32) / 255.0
                         for img in items])

    def forward(self, prepared: np.ndarray, **_: Any) -> Features:
        mean = prepared.mean(axis=(1, 2))  # (N, 3)
        d2 = ((mean[:, None, :] - self._colours[None]) ** 2).sum(-1)  # (N, colours)
        logits = -d2 / 0.01
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        return Features(features=prepared.reshape(len(prepared), -1).astype(np.float32),
                        class_probs=probs.astype(np.float32))

    def warmup(self) -> None:
        from PIL import Image

        self.encode([Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE))])


# ---------------------------------------------------------------------------------------------- speech
def synthesize(said: str, heard: str | None = None) -> np.ndarray:
    """Fake speech: 1-D float32 samples at 16 kHz in which ``fake-speech`` hears ``heard`` (default: ``said``)
    and finds ``said`` (what ``transcript_logprobs`` compares texts with). Used only by tests."""
    heard = said if heard is None else heard
    values = [*heard.encode("utf-8"), _SEPARATOR, *said.encode("utf-8")]
    body = np.repeat(np.array([(v + 1) * _STEP for v in values], np.float32), SAMPLES_PER_BYTE)
    pad = np.zeros(PAD_SAMPLES, np.float32)
    return np.concatenate([pad, body, pad])


def pcm16(wave: np.ndarray) -> bytes:
    """Samples -> raw little-endian 16-bit PCM (send with pcm_sample_rate=16000)."""
    return (np.clip(wave, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav(wave: np.ndarray) -> bytes:
    """Samples -> a 16 kHz mono 16-bit WAV file."""
    import wave as wavefile

    buf = io.BytesIO()
    with wavefile.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm16(wave))
    return buf.getvalue()


def _decode(wave: np.ndarray) -> tuple[str, str]:
    """(heard, said) spelled by a clip's block levels; audio not from ``synthesize`` decodes to its levels'
    printable characters (silence: nothing)."""
    x = np.abs(np.asarray(wave, np.float32).reshape(-1))
    # Blocks are aligned to the first non-silent sample (the synthesizer's padding is whole silence).
    loud = np.flatnonzero(x > _STEP / 2)
    if not loud.size:
        return "", ""
    x = x[loud[0]:]
    n = len(x) // SAMPLES_PER_BYTE
    levels = np.median(x[: n * SAMPLES_PER_BYTE].reshape(n, SAMPLES_PER_BYTE), axis=1) if n else np.zeros(0)
    values = [int(v) for v in np.rint(levels / _STEP).astype(np.int64) - 1]
    parts: list[bytearray] = [bytearray()]
    for v in values:
        if v == _SEPARATOR and len(parts) == 1:
            parts.append(bytearray())
        elif 0 <= v < 256:
            parts[-1].append(v)
    texts = ["".join(c for c in p.decode("utf-8", errors="ignore") if c.isprintable()) for p in parts]
    heard = texts[0]
    return heard, texts[1] if len(texts) > 1 else heard


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class FakeSpeechEncoder(SpeechEncoder):
    """Reads the text ``synthesize`` wrote into the samples; used only by tests, never presented as a result."""

    can_transcribe = True
    rerank_gate = 2.0

    def __init__(self, name: str = "fake-speech"):
        self.info = EncoderInfo(name, SPEECH, "fake: text carried in the samples (tests only)", DIM, SOURCE)

    def prepare(self, items: Sequence[np.ndarray]) -> list[tuple[str, str]]:
        return [_decode(w) for w in items]

    def forward(self, prepared: list[tuple[str, str]], transcribe: bool = False, keep_state: bool = False,
                **_: Any) -> Features:
        # The "direct" features: the said text's hashed features (a fused checkpoint's mlp head reads them).
        feats = np.stack([text_features(tokens(said)) for _, said in prepared]) if prepared else np.zeros((0, DIM), np.float32)
        return Features(features=feats, transcripts=[heard for heard, _ in prepared] if transcribe else None,
                        states=[said for _, said in prepared] if keep_state else None)

    def transcript_logprobs(self, wave: np.ndarray, texts: Sequence[str], state: Any = None) -> np.ndarray:
        """Per token: ``-EDIT_COST`` x the character edits between each text and what was said (both in
        ``spoken_form``); the tokens are the text's words + 1 (the end of text, as the real encoders count)."""
        said = spoken_form(state if state is not None else _decode(wave)[1])
        return np.array([0.0 - EDIT_COST * levenshtein(spoken_form(t), said) / (len(spoken_form(t).split()) + 1)
                         for t in texts], np.float64)

    def warmup(self) -> None:
        self.encode([synthesize("warm up")], transcribe=True)


# ---------------------------------------------------------------------------------------- registry hooks
def text(spec: EncoderSpec) -> FakeTextEncoder:
    return FakeTextEncoder(spec.name)


def image(spec: EncoderSpec) -> FakeImageEncoder:
    return FakeImageEncoder(spec.name)


def speech(spec: EncoderSpec) -> FakeSpeechEncoder:
    return FakeSpeechEncoder(spec.name)
