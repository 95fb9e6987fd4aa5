"""Builds (and caches) every paired data set of the protocol: emoji image–caption features, synthesized
speech–transcript features per split, and the real human recordings.

Voices per clip, fixed here so that runs are comparable:
- train sentences x ``TRAIN_VOICES_PER_SENTENCE`` training voice(s) (engine-balanced; lexical diversity
  matters more than voices, and Whisper features cost about 0.6 s a clip on 2 CPU cores);
- val sentences x 1 held-out voice (choices are made on unseen voices, as at test time);
- test sentences x ``TEST_VOICES_PER_SENTENCE`` held-out voices (docs/EVALUATION.md: held-out x held-out).

:func:`extra_train_speech` adds training clips for a subset of training sentences (augmented copies, or a second
voice) without changing what :func:`speech_sets` builds; docs/decisions/0003-speech-training-data.md measured both.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..encoders.base import Encoder
from . import tts
from .corpus import Sentence, load_corpus, speech_sentences
from .emoji import PROTOCOL_STYLES, Concept, load_concepts
from .features import image_features, speech_features, text_features, trunk_features
from .real_speech import real_recordings

TRAIN_VOICES_PER_SENTENCE = 1
TEST_VOICES_PER_SENTENCE = 1
SEED = 0


def sentence_id(s: Sentence) -> str:
    return hashlib.sha1(f"{s.source}\0{s.text}".encode()).hexdigest()[:16]


@dataclass
class SpeechSet:
    split: str
    texts: list[str]  # the true transcript of each clip
    voices: list[str]
    features: np.ndarray  # (N, D) mean-pooled speech-encoder frames
    transcripts: list[str]  # what the speech model heard
    paths: list[Path]  # the audio file of each clip


@dataclass
class EmojiSet:
    concepts: list[Concept]
    styles: dict[str, tuple[list[int], dict[str, np.ndarray]]]  # style -> (concept indices, features)


def emoji_set(image_encoder: Encoder, work: Path, limit: int | None = None,
              train_styles: tuple[str, ...] = ()) -> EmojiSet:
    """``limit``: only the first ``limit`` concepts of each split (quick trials encode only those);
    ``train_styles``: extra art styles whose images join the training concepts."""
    concepts = load_concepts(work / "npm", train_styles=train_styles)
    if limit:
        keep = {id(c) for split in ("train", "val", "test") for c in [c for c in concepts if c.split == split][:limit]}
        concepts = [c for c in concepts if id(c) in keep]
    styles = {}
    for style in (*PROTOCOL_STYLES, *train_styles):
        idx = [i for i, c in enumerate(concepts) if style in c.images]
        if not idx:  # a training-only style with no kept training concept (a --limit trial)
            continue
        styles[style] = (idx, image_features(image_encoder, [f"{style}/{concepts[i].unified}" for i in idx],
                                             [concepts[i].images[style] for i in idx], work / "features"))
    return EmojiSet(concepts, styles)


def emoji_trunks(image_encoder: Encoder, emoji: EmojiSet, n: int, work: Path) -> dict[str, np.ndarray]:
    """Per style, rows (in ``emoji.styles`` order) at the input of the encoder's top ``n`` layers."""
    return {style: trunk_features(image_encoder, n, [f"{style}/{emoji.concepts[i].unified}" for i in idx],
                                  [emoji.concepts[i].images[style] for i in idx], work / "features")
            for style, (idx, _) in emoji.styles.items()}


def corpus_with_emoji(concepts: list[Concept]) -> list[Sentence]:
    return load_corpus(concepts)


def speech_sets(corpus: list[Sentence], speech_encoder: Encoder, work: Path, splits=("train", "val", "test"),
                limit: int | None = None) -> dict[str, SpeechSet]:
    pool = tts.available_voices()
    train_v, held_v = tts.training_voices(pool), tts.held_out_voices(pool)
    plan = {"train": (train_v, TRAIN_VOICES_PER_SENTENCE), "val": (held_v, 1), "test": (held_v, TEST_VOICES_PER_SENTENCE)}
    spoken = speech_sentences(corpus)
    out = {}
    for split in splits:
        sents = [s for s in spoken if s.split == split][:limit]
        voices, per = plan[split]
        clips = tts.build_speech_set([(sentence_id(s), s.text) for s in sents], voices, work / "tts",
                                     per_sentence=min(per, len(voices)), seed=SEED)
        feats = speech_features(speech_encoder, [f"{c.voice}/{c.path.name}" for c in clips], [c.path for c in clips],
                                work / "features")
        out[split] = SpeechSet(split, [c.text for c in clips], [c.voice for c in clips], feats["features"],
                               [str(t) for t in feats["transcripts"]], [c.path for c in clips])
    return out


EXTRA_KINDS = ("augment", "voice")
EXTRA_CHUNK = 100  # clips per feature cache file: an interrupted extraction keeps what it finished


def extra_train_sentences(corpus: list[Sentence], count: int, seed: int = SEED) -> list[Sentence]:
    """``count`` training sentences, a deterministic pick by (seed, sentence id) hash, independent of order."""
    train = [s for s in speech_sentences(corpus) if s.split == "train"]
    rank = {sentence_id(s): hashlib.sha256(f"{seed}\0{sentence_id(s)}".encode()).hexdigest() for s in train}
    return sorted(train, key=lambda s: rank[sentence_id(s)])[:count]


def extra_train_speech(corpus: list[Sentence], speech_encoder: Encoder, work: Path, kind: str, count: int,
                       copies: int = 1, seed: int = SEED) -> SpeechSet:
    """Extra training clips for ``count`` training sentences (:func:`extra_train_sentences`), to join the
    ``train`` set of :func:`speech_sets` (which it leaves unchanged):

    - ``kind="augment"``: ``copies`` augmented versions (align/augment.py, seeded) of each sentence's own
      training clip (the one ``speech_sets`` uses), cached under ``work/augment``;
    - ``kind="voice"``: the sentence spoken by ``copies`` further training voices (the next picks of
      ``tts.assign_voices``, so another engine than its first voice), cached under ``work/tts``.
    """
    from . import augment

    if kind not in EXTRA_KINDS:
        raise ValueError(f"extra training speech: kind {kind!r}, expected one of {EXTRA_KINDS}")
    train_v = tts.training_voices(tts.available_voices())
    sents = extra_train_sentences(corpus, count, seed)
    pairs = [(sentence_id(s), s.text) for s in sents]
    if kind == "augment":
        own = tts.build_speech_set(pairs, train_v, work / "tts", per_sentence=1, seed=SEED)
        made = augment.augment_clips([c.path for c in own], work / "augment", seed=seed, copies=copies)
        texts = [c.text for c in own for _ in range(copies)]
        voices = [f"{c.voice}+augment" for c in own for _ in range(copies)]
        paths = [p for p, _ in made]
        keys = [f"augment/{p.name}" for p in paths]
    else:
        if not 1 <= copies < len(train_v):
            raise ValueError(f"extra training speech: {copies} more voices, but only {len(train_v)} training voices")
        plan = tts.assign_voices([sid for sid, _ in pairs], train_v, 1 + copies, SEED)
        jobs = [(sid, text, v) for sid, text in pairs for v in plan[sid][1:]]
        clips = tts.build_clips(jobs, work / "tts", workers=1)  # one core: the machine is shared
        texts, voices, paths = [c.text for c in clips], [c.voice for c in clips], [c.path for c in clips]
        keys = [f"{c.voice}/{c.path.name}" for c in clips]
    feats = [speech_features(speech_encoder, keys[i:i + EXTRA_CHUNK], paths[i:i + EXTRA_CHUNK], work / "features")
             for i in range(0, len(keys), EXTRA_CHUNK)]
    return SpeechSet("train", texts, voices, np.concatenate([f["features"] for f in feats]),
                     [str(t) for f in feats for t in f["transcripts"]], paths)


def joined(a: SpeechSet, b: SpeechSet) -> SpeechSet:
    """The clips of ``a`` followed by those of ``b`` (e.g. a training set and its extra clips)."""
    return SpeechSet(a.split, a.texts + b.texts, a.voices + b.voices, np.concatenate([a.features, b.features]),
                     a.transcripts + b.transcripts, a.paths + b.paths)


def real_speech_set(speech_encoder: Encoder, work: Path) -> SpeechSet:
    recs = real_recordings(work / "real")
    feats = speech_features(speech_encoder, [str(p) for p, _ in recs], [p for p, _ in recs], work / "features")
    return SpeechSet("real", [t for _, t in recs], ["human"] * len(recs), feats["features"],
                     [str(t) for t in feats["transcripts"]], [Path(p) for p, _ in recs])


def text_vectors(text_encoder: Encoder, texts: list[str], work: Path) -> np.ndarray:
    """Unit-norm frozen text vectors (the pivot space)."""
    x = text_features(text_encoder, texts, work / "features")
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
