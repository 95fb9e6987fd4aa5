"""Real human recordings with known transcripts (docs/models-and-results.md, "Real human recordings").

Sources (Debian packages), 20 clips in all when both are installed:

* ``pocketsphinx-testdata`` (/usr/share/pocketsphinx/test/data), 12 clips, 16 kHz mono 16-bit:
  ``cards/00[1-5].wav`` with ``cards.transcription`` (playing cards, 5), ``librivox/*.wav`` with
  ``librivox/transcription`` (Sense and Sensibility, 5), and two headerless 16 kHz s16le files whose
  transcripts are the ones pocketsphinx's own decoder tests assert: ``goforward.raw`` ("go forward ten
  meters") and ``tidigits/dhd.2934z.raw`` ("two nine three four zero"). ``numbers.raw`` and
  ``something.raw`` ship without a transcript and are left out; the ``*.mfc`` files are features, not audio.
  The raw files are converted once to FLAC under ``cache_dir`` so every returned path is readable by
  soundfile.
* ``alsa-utils`` (/usr/share/sounds/alsa), 8 clips, 48 kHz mono: the channel-test phrases; the transcript
  is the file name ("Front_Center.wav" -> "front center"); ``Noise.wav`` is not speech and is left out.

Transcripts are lower case without punctuation (apostrophes inside words kept). Paths are returned as
they are (16 or 48 kHz); callers resample.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
DEFAULT_CACHE = Path.home() / ".cache" / "xmodal" / "real_speech"

# Headerless 16 kHz mono s16le files and the transcripts asserted by pocketsphinx's decoder tests.
RAW_TRANSCRIPTS = {
    "goforward.raw": "go forward ten meters",
    "tidigits/dhd.2934z.raw": "two nine three four zero",
}
RAW_SAMPLE_RATE = 16_000


def normalize_transcript(text: str) -> str:
    """Lower case, sentence markers and punctuation removed, single spaces."""
    text = re.sub(r"</?s>|<sil>|\+\+[^+]*\+\+|\[[^\]]*\]", " ", text.lower())
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def _transcription_file(path: Path) -> dict[str, str]:
    """Sphinx ``.transcription`` format: ``<s> words </s> (utterance_id)`` per line."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^(.*)\(([^()]+)\)\s*$", line.strip())
        if m:
            out[m.group(2).strip()] = normalize_transcript(m.group(1))
    return out


def _sphinx_set(folder: Path, transcription: str, fileids: str) -> list[tuple[Path, str]]:
    if not (folder / transcription).is_file():
        return []
    texts = _transcription_file(folder / transcription)
    ids = (folder / fileids).read_text().split() if (folder / fileids).is_file() else sorted(texts)
    out = []
    for uid in ids:
        wav = folder / f"{uid}.wav"
        if wav.is_file() and texts.get(uid):
            out.append((wav, texts[uid]))
    return out


def _raw_to_flac(raw: Path, dest: Path) -> Path:
    if dest.is_file():
        return dest
    from .tts import write_flac

    return write_flac(dest, np.fromfile(raw, dtype="<i2"), RAW_SAMPLE_RATE)


def real_recordings(cache_dir: Path | None = None) -> list[tuple[Path, str]]:
    """(readable audio path, normalised transcript) for every real recording with a reliable transcript.

    ``cache_dir`` (default ``~/.cache/xmodal/real_speech``) receives FLAC copies of the headerless raw
    files. Missing packages contribute nothing (logged). Deterministic order: pocketsphinx cards,
    librivox, raw files, then ALSA.
    """
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    out: list[tuple[Path, str]] = []
    if POCKETSPHINX_DATA.is_dir():
        out += _sphinx_set(POCKETSPHINX_DATA / "cards", "cards.transcription", "cards.fileids")
        out += _sphinx_set(POCKETSPHINX_DATA / "librivox", "transcription", "fileids")
        for rel, text in RAW_TRANSCRIPTS.items():
            raw = POCKETSPHINX_DATA / rel
            if raw.is_file():
                out.append((_raw_to_flac(raw, cache / (rel.replace("/", "__") + ".flac")), text))
    else:
        log.warning("pocketsphinx-testdata not installed (%s missing)", POCKETSPHINX_DATA)
    if ALSA_SOUNDS.is_dir():
        for wav in sorted(ALSA_SOUNDS.glob("*.wav")):
            if wav.stem.lower() != "noise":
                out.append((wav, normalize_transcript(wav.stem.replace("_", " "))))
    else:
        log.warning("alsa-utils sounds not installed (%s missing)", ALSA_SOUNDS)
    return out
