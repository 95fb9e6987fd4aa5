"""Speech–transcript pairs synthesized with the local TTS engines, as docs/EVALUATION.md (speech v1) says.

Engines (Debian packages): ``espeak-ng`` (formant synthesis; English dialects x voice variants),
``flite`` (voices kal, kal16, rms, slt, awb) and ``festival`` (festvox-kallpc16k, festvox-kdlpc16k,
festvox-us-slt-hts; run as ``festival --batch``, many utterances per process, rather than one
``text2wave`` per clip). Engines or voices that are not installed are skipped with a
warning by :func:`available_voices`.

Held-out voices (``held_out=True``) are genuinely different speakers from every training voice, not
another speed or pitch of one: espeak-ng variants f4 and m7 in accents unused in training, flite ``awb``
(Scottish male) and festival ``ked_diphone``. Note that flite kal/kal16 and festival kal_diphone are the
same recorded speaker, as are flite slt and festival slt_hts; all four are training voices.

Speed is a rate factor (1.0 = the engine's default, 1.2 = 20 % faster): espeak-ng ``-s`` words per
minute (175 x speed), flite ``duration_stretch`` = 1/speed, festival ``Duration_Stretch`` = 1/speed for
diphone voices and the HTS engine's ``-r`` speed for HTS voices. Pitch (espeak-ng ``-p``, 0..99) is
supported by espeak-ng only.

Every clip is a 16 kHz mono 16-bit FLAC in a cache directory, named by a content hash of (engine, voice
parameters, text), so reruns skip what exists; writes are atomic (temp file + ``os.replace``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
ENGINES = ("espeak-ng", "flite", "festival")
ESPEAK_BASE_WPM = 175  # espeak-ng's default -s
SYNTH_VERSION = 1  # part of the cache hash: bump when the synthesis pipeline changes its output
_TIMEOUT_S = 120
_FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))
_FESTIVAL_HTS = {"cmu_us_slt_arctic_hts"}


class TTSError(RuntimeError):
    """A TTS engine failed (missing, crashed, or produced no audio)."""


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng" | "flite" | "festival"
    name: str  # engine-specific voice id: espeak-ng "en-us+f3", flite "rms", festival "kal_diphone"
    speed: float = 1.0  # rate factor, 1.0 = engine default
    pitch: int | None = None  # espeak-ng -p (0..99); None = engine default
    held_out: bool = False  # never used for training

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown TTS engine {self.engine!r}; known: {', '.join(ENGINES)}")
        if not 0.3 <= self.speed <= 3.0:
            raise ValueError(f"voice speed {self.speed} out of range 0.3..3.0")
        if self.pitch is not None and (self.engine != "espeak-ng" or not 0 <= self.pitch <= 99):
            raise ValueError(f"pitch is supported by espeak-ng only, 0..99 (got {self.engine} {self.pitch})")

    @property
    def key(self) -> str:
        """Unique, filesystem-safe id, e.g. ``espeak-ng_en-us+f3_s1.10_p60``."""
        key = f"{self.engine}_{self.name}_s{self.speed:.2f}"
        if self.pitch is not None:
            key += f"_p{self.pitch}"
        return re.sub(r"[^A-Za-z0-9.+_-]", "-", key)

    def params(self) -> dict:
        """What determines the audio (held_out does not)."""
        return {"engine": self.engine, "name": self.name, "speed": round(self.speed, 4), "pitch": self.pitch}


_E, _F, _T = "espeak-ng", "flite", "festival"
VOICES: list[Voice] = [
    # --- training: 7 espeak-ng (dialect x variant x speed x pitch), 4 flite, 3 festival ---
    Voice(_E, "en-us", 1.0, 50),
    Voice(_E, "en-us+f3", 1.10, 60),
    Voice(_E, "en-us+m3", 0.85, 40),
    Voice(_E, "en-gb+f2", 1.0, 55),
    Voice(_E, "en-gb-scotland", 0.90, 45),
    Voice(_E, "en-029+m2", 1.15, 50),
    Voice(_E, "en-us+klatt", 1.0, 50),
    Voice(_F, "kal16", 1.0),
    Voice(_F, "kal", 1.15),  # 8 kHz voice: telephone-band audio
    Voice(_F, "rms", 0.90),
    Voice(_F, "slt", 1.0),
    Voice(_T, "kal_diphone", 1.0),
    Voice(_T, "kal_diphone", 0.85),
    Voice(_T, "cmu_us_slt_arctic_hts", 1.15),
    # --- held out: speakers (variants / recorded voices) that no training voice uses ---
    Voice(_E, "en-gb-x-rp+f4", 1.05, 70, held_out=True),
    Voice(_E, "en-us-nyc+m7", 0.95, 35, held_out=True),
    Voice(_F, "awb", 1.0, held_out=True),
    Voice(_T, "ked_diphone", 1.0, held_out=True),
]


def training_voices(voices: Iterable[Voice] | None = None) -> list[Voice]:
    return [v for v in (available_voices() if voices is None else voices) if not v.held_out]


def held_out_voices(voices: Iterable[Voice] | None = None) -> list[Voice]:
    return [v for v in (available_voices() if voices is None else voices) if v.held_out]


# ---------------------------------------------------------------- availability


@functools.lru_cache(maxsize=None)
def _flite_voices() -> frozenset[str]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
    return frozenset(out.split(":", 1)[-1].split())


@functools.lru_cache(maxsize=None)
def _espeak_names() -> tuple[frozenset[str], frozenset[str]]:
    """(language/voice ids, variant ids) that espeak-ng knows; it silently falls back on unknown ones."""
    def table(arg: str) -> list[list[str]]:
        out = subprocess.run(["espeak-ng", arg], capture_output=True, text=True, timeout=30).stdout
        return [line.split() for line in out.splitlines()[1:] if len(line.split()) >= 5]

    langs: set[str] = set()
    for row in table("--voices"):
        if row[4].startswith("mb/"):  # MBROLA voices need the mbrola package (not available)
            continue
        langs.update({row[1].lower(), row[3].lower(), row[4].rsplit("/", 1)[-1].lower()})
        langs.update(tok[1:].lower() for tok in row[5:] if tok.startswith("("))  # "(en 2)": also answers to en
    variants = {row[-1].rsplit("/", 1)[-1].lower() for row in table("--voices=variant")}
    variants |= {row[3].lower() for row in table("--voices=variant")}
    return frozenset(langs), frozenset(variants)


def _espeak_known(name: str) -> bool:
    lang, _, variant = name.lower().partition("+")
    langs, variants = _espeak_names()
    return lang in langs and (not variant or variant in variants)


def _festival_voice_installed(name: str) -> bool:
    return any(d.is_dir() and any((lang / name).is_dir() for lang in d.iterdir()) for d in _FESTIVAL_VOICE_DIRS)


def voice_available(voice: Voice) -> bool:
    if voice.engine == "espeak-ng":
        return shutil.which("espeak-ng") is not None and _espeak_known(voice.name)
    if voice.engine == "flite":
        return shutil.which("flite") is not None and voice.name in _flite_voices()
    return shutil.which("festival") is not None and _festival_voice_installed(voice.name)


@functools.lru_cache(maxsize=None)
def _available(voices: tuple[Voice, ...]) -> tuple[Voice, ...]:
    missing = [v for v in voices if not voice_available(v)]
    if missing:
        msg = "TTS voices skipped (engine or voice not installed): " + ", ".join(v.key for v in missing)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        log.warning(msg)
    return tuple(v for v in voices if v not in missing)


def available_voices(voices: Sequence[Voice] | None = None) -> list[Voice]:
    """The voices of ``voices`` (default :data:`VOICES`) whose engine and voice are installed."""
    return list(_available(tuple(VOICES if voices is None else voices)))


# ---------------------------------------------------------------- synthesis


def _ascii(text: str) -> str:
    """flite and festival read Latin-1/ASCII text; fold accents and drop what remains."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _engine_command(voice: Voice, text_file: str, wav_file: str) -> list[str]:
    if voice.engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(round(ESPEAK_BASE_WPM * voice.speed)),
               "-f", text_file, "-w", wav_file]
        if voice.pitch is not None:
            cmd[1:1] = ["-p", str(voice.pitch)]
        return cmd
    if voice.engine == "flite":
        return ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / voice.speed:.4f}",
                "-f", text_file, "-o", wav_file]
    raise ValueError(f"no single-utterance command for {voice.engine}")


def _festival_script(texts: Sequence[str], voice: Voice, wav_files: Sequence[str]) -> str:
    """One festival process for many utterances: loading festival and a voice costs ~0.4 s, an
    utterance ~0.05 s, so batching is ~10x faster than one ``text2wave`` per clip. Each text is one
    utterance (text2wave would split a multi-sentence text at sentence ends; the audio is the same)."""
    lines = [f"(voice_{voice.name})"]
    if voice.name in _FESTIVAL_HTS:  # the HTS engine ignores Duration_Stretch; it has its own -r
        lines.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {voice.speed:.4f}))))')
    else:
        lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / voice.speed:.4f})")
    for text, wav in zip(texts, wav_files):
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{wav}" \'riff)')
    return "\n".join(lines) + "\n"


def _run(cmd: list[str], voice: Voice) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except FileNotFoundError as e:
        raise TTSError(f"{voice.key}: engine not installed ({cmd[0]}): {e}") from e
    except subprocess.TimeoutExpired as e:
        raise TTSError(f"{voice.key}: {cmd[0]} timed out after {_TIMEOUT_S} s") from e
    err = (proc.stderr or "").strip()
    # festival reports Scheme errors on stderr with exit status 0; espeak-ng reports a missing MBROLA voice so
    if proc.returncode != 0 or "SIOD ERROR" in err or "Cannot find" in err:
        raise TTSError(f"{voice.key}: {cmd[0]} failed (exit {proc.returncode}): {err[-500:]}")
    return err


@functools.lru_cache(maxsize=8)
def _resampler(orig: int):
    import torch
    import torchaudio.functional as AF

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return AF.resample(torch.from_numpy(x), orig, SAMPLE_RATE).numpy()

    return run


def _read_output(wav_file: str, voice: Voice, text: str) -> np.ndarray:
    if not os.path.exists(wav_file):
        raise TTSError(f"{voice.key}: {voice.engine} wrote no audio for {text[:60]!r}")
    try:
        audio, sr = sf.read(wav_file, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - report any decode failure as the engine's
        raise TTSError(f"{voice.key}: unreadable output from {voice.engine}: {e}") from e
    audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if sr != SAMPLE_RATE:
        audio = _resampler(int(sr))(np.ascontiguousarray(audio))
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)
    if audio.size < SAMPLE_RATE // 20 or not np.any(np.abs(audio) > 1e-4):
        raise TTSError(f"{voice.key}: {voice.engine} produced no audible audio for {text[:60]!r}")
    return audio


def _clean_text(text: str, voice: Voice) -> str:
    text = " ".join(text.split())
    if voice.engine != "espeak-ng":
        text = " ".join(_ascii(text).split())
    if not text:
        raise ValueError("synthesize: empty text")
    return text


def synthesize_many(texts: Sequence[str], voice: Voice) -> list[np.ndarray]:
    """:func:`synthesize` for several texts; festival runs them in one process."""
    if voice.engine != "festival":
        return [synthesize(t, voice) for t in texts]
    texts = [_clean_text(t, voice) for t in texts]
    if not texts:
        return []
    if shutil.which("festival") and not _festival_voice_installed(voice.name):
        raise TTSError(f"{voice.key}: festival voice {voice.name!r} is not installed")
    with tempfile.TemporaryDirectory(prefix="xmodal-tts-") as tmp:
        wavs = [os.path.join(tmp, f"{i}.wav") for i in range(len(texts))]
        script = os.path.join(tmp, "batch.scm")
        with open(script, "w", encoding="ascii") as f:
            f.write(_festival_script(texts, voice, wavs))
        _run(["festival", "--batch", script], voice)
        return [_read_output(w, voice, t) for w, t in zip(wavs, texts)]


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak ``text`` with ``voice``: float32 mono 16 kHz in [-1, 1]. Raises :class:`TTSError`."""
    if voice.engine == "festival":
        return synthesize_many([text], voice)[0]
    text = _clean_text(text, voice)
    if voice.engine == "espeak-ng" and shutil.which("espeak-ng") and not _espeak_known(voice.name):
        raise TTSError(f"{voice.key}: espeak-ng has no voice {voice.name!r} (see espeak-ng --voices)")
    with tempfile.TemporaryDirectory(prefix="xmodal-tts-") as tmp:
        text_file, wav_file = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
        with open(text_file, "w", encoding="utf-8" if voice.engine == "espeak-ng" else "ascii") as f:
            f.write(text + "\n")
        _run(_engine_command(voice, text_file, wav_file), voice)
        return _read_output(wav_file, voice, text)


# ---------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Clip:
    sentence_id: str
    text: str
    voice: str  # Voice.key
    held_out_voice: bool
    path: Path  # 16 kHz mono 16-bit FLAC in the cache

    def load(self) -> np.ndarray:
        audio, _ = sf.read(self.path, dtype="float32")
        return audio


def clip_hash(text: str, voice: Voice) -> str:
    payload = json.dumps({"v": SYNTH_VERSION, **voice.params(), "text": " ".join(text.split())},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def clip_path(cache_dir: Path, text: str, voice: Voice) -> Path:
    return Path(cache_dir) / voice.key / f"{clip_hash(text, voice)[:24]}.flac"


FESTIVAL_CHUNK = 16  # utterances per festival process


def write_flac(path: Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit FLAC, written atomically (temp file + os.replace) so a cache never holds half a clip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        sf.write(tmp, audio, rate, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_clips(items: Sequence[tuple[Path, str]], voice: Voice) -> int:
    audios = synthesize_many([t for _, t in items], voice)  # module global: tests may monkeypatch it
    for (path, _), audio in zip(items, audios):
        write_flac(path, audio)
    return len(items)


def _rng(seed: int, sentence_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{sentence_id}".encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def assign_voices(sentence_ids: Iterable[str], voices: Sequence[Voice], per_sentence: int,
                  seed: int) -> dict[str, list[Voice]]:
    """Deterministically pick ``per_sentence`` distinct voices for each sentence.

    The choice for a sentence depends only on (seed, sentence id, the set of voices): not on the order of
    ``voices`` or on which other sentences are present. Engines are balanced: the picks cycle through the
    engines in a per-sentence random order (a random voice of each), so with 3 engines and
    ``per_sentence=3`` every sentence is spoken once by each engine.
    """
    pool = sorted(set(voices), key=lambda v: v.key)
    if not 1 <= per_sentence <= len(pool):
        raise ValueError(f"per_sentence={per_sentence}: must be 1..{len(pool)} (number of distinct voices)")
    by_engine: dict[str, list[Voice]] = {}
    for v in pool:
        by_engine.setdefault(v.engine, []).append(v)
    engines = sorted(by_engine)
    out: dict[str, list[Voice]] = {}
    for sid in sentence_ids:
        rng = _rng(seed, sid)
        queues = {e: [by_engine[e][i] for i in rng.permutation(len(by_engine[e]))] for e in engines}
        order = [engines[i] for i in rng.permutation(len(engines))]
        picks: list[Voice] = []
        while len(picks) < per_sentence:
            for e in order:
                if queues[e] and len(picks) < per_sentence:
                    picks.append(queues[e].pop(0))
        out[sid] = picks
    return out


def build_clips(jobs: Sequence[tuple[str, str, Voice]], cache_dir: Path, workers: int = 2,
                progress: bool = True) -> list[Clip]:
    """Synthesize (sentence_id, text, voice) jobs into the cache; returns clips in job order."""
    cache_dir = Path(cache_dir)
    clips = [Clip(sid, text, v.key, v.held_out, clip_path(cache_dir, text, v)) for sid, text, v in jobs]
    todo: dict[Path, tuple[str, Voice]] = {}
    for (_, text, v), c in zip(jobs, clips):
        if not c.path.exists() and c.path not in todo:
            todo[c.path] = (text, v)
    tasks: list[tuple[list[tuple[Path, str]], Voice]] = []
    festival: dict[Voice, list[tuple[Path, str]]] = {}
    for path, (text, v) in todo.items():
        if v.engine == "festival":
            festival.setdefault(v, []).append((path, text))
        else:
            tasks.append(([(path, text)], v))
    for v, items in festival.items():
        tasks += [(items[i:i + FESTIVAL_CHUNK], v) for i in range(0, len(items), FESTIVAL_CHUNK)]
    if tasks:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
                tqdm(total=len(todo), desc="tts", unit="clip", disable=not progress) as bar:
            futures = [pool.submit(_write_clips, items, v) for items, v in tasks]
            try:
                for f in futures:
                    bar.update(f.result())
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return clips


def build_speech_set(sentences: list[tuple[str, str]], voices: list[Voice], cache_dir: Path,
                     workers: int = 2, *, per_sentence: int | None = None, seed: int = 0,
                     progress: bool = True) -> list[Clip]:
    """Clips of ``sentences`` ((sentence_id, text) pairs) spoken by ``voices``.

    ``per_sentence=None``: every sentence by every voice; otherwise ``per_sentence`` voices per sentence
    from :func:`assign_voices` (``seed``). Order: sentences in input order, then their voices.
    """
    if per_sentence is None:
        plan = {sid: list(voices) for sid, _ in sentences}
    else:
        plan = assign_voices([sid for sid, _ in sentences], voices, per_sentence, seed)
    jobs = [(sid, text, v) for sid, text in sentences for v in plan[sid]]
    return build_clips(jobs, cache_dir, workers, progress)


def build_train_test_sets(train_sentences: list[tuple[str, str]], test_sentences: list[tuple[str, str]],
                          cache_dir: Path, *, per_sentence: int = 3, test_per_sentence: int | None = None,
                          seed: int = 0, voices: Sequence[Voice] | None = None, workers: int = 2,
                          progress: bool = True) -> tuple[list[Clip], list[Clip]]:
    """Training clips (training sentences x ``per_sentence`` training voices each) and test clips
    (held-out sentences x held-out voices: all of them, or ``test_per_sentence`` each)."""
    pool = available_voices(voices)
    train_v, test_v = training_voices(pool), held_out_voices(pool)
    if not train_v or not test_v:
        raise TTSError("need at least one training and one held-out voice installed")
    train = build_speech_set(train_sentences, train_v, cache_dir, workers,
                             per_sentence=min(per_sentence, len(train_v)), seed=seed, progress=progress)
    test = build_speech_set(test_sentences, test_v, cache_dir, workers,
                            per_sentence=None if test_per_sentence is None else min(test_per_sentence, len(test_v)),
                            seed=seed, progress=progress)
    return train, test
