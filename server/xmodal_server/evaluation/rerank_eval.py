"""The protocol's speech tasks with SearchBySpeech re-ranking (``rerank.py``), as the server does it:
the fused search's best K hits, their texts scored against the clip by the speech model, reordered by the gate.

Scoring costs one encoder pass per clip plus the decoder over K texts (about a second a clip on 2 CPU
cores), so scores are cached on disk per (speech encoder, clip, text) and saved as they come: a rerun, or
a run interrupted and started again, scores only what it has not scored yet.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..align.corpus import FAQ_QUESTION
from ..encoders.heads import Checkpoint, speech_vectors
from ..lexical import POOL, LexicalIndex
from ..media import MediaLimits, decode_audio
from ..rerank import rerank_order, sayable, spoken_form
from .metrics import RetrievalResult, retrieval_metrics
from .protocol import ProtocolData, real_gallery
from .report import _atomic_write

SAVE_EVERY = 20  # clips between cache saves


class ScoreCache:
    """(clip, text) -> mean log-probability per token, persisted in one JSON file per speech encoder."""

    def __init__(self, encoder, cache_dir: Path):
        self.encoder = encoder
        # Scores depend on the decoder: adapters (a checkpoint's, asr_adapt.py) get their own file.
        adapters = getattr(encoder, "decoder_adapters", None)
        key = hashlib.sha1(f"{encoder.info.name}\0{encoder.info.source}\0v1".encode()
                           + (f"\0{adapters}".encode() if adapters else b"")).hexdigest()[:16]
        self.path = Path(cache_dir) / f"rerank-scores-{key}.json"
        self.scores: dict[str, dict[str, float]] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self._dirty = 0

    def get(self, clip: Path, texts: list[str]) -> np.ndarray:
        known = self.scores.setdefault(str(clip), {})
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            wave = decode_audio(Path(clip).read_bytes(), MediaLimits())
            known.update(zip(todo, map(float, self.encoder.transcript_logprobs(wave, todo))))
            self._dirty += 1
            if self._dirty >= SAVE_EVERY:
                self.save()
        return np.array([known[t] for t in texts])

    @staticmethod
    def seconds(clip: Path) -> float:
        """The clip's duration, from its header (the length rule, ``rerank.sayable``, needs it)."""
        return float(sf.info(str(clip)).duration)

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path, json.dumps(self.scores).encode())
        self._dirty = 0


def reranked_sims(sims: np.ndarray, clips: list[Path], transcripts: list[str], gallery_texts: list[str],
                  cache: ScoreCache, k: int, gate: float, desc: str, sound_alike: int = 0) -> np.ndarray:
    """``sims`` (queries x gallery) with each query's top ``k`` reordered by the re-ranking rule: the new
    order is written as scores above every other item's, so rank-based metrics read it directly.
    ``sound_alike``: also score the best that many sound-alike texts (``lexical.py``) outside the top ``k``."""
    out = sims.astype(np.float64, copy=True)
    lexical = LexicalIndex((str(i), t) for i, t in enumerate(gallery_texts)) if sound_alike else None
    for q in tqdm(range(len(sims)), desc=desc, unit="clip", leave=False):
        top = np.argsort(-sims[q], kind="stable")[:k]
        cand = list(top) + ([int(i) for i, _ in lexical.search(transcripts[q], sound_alike, {str(g) for g in top})]
                            if lexical is not None else [])
        heard, seconds = spoken_form(transcripts[q]), cache.seconds(clips[q])
        texts = [spoken_form(gallery_texts[g]) for g in cand]
        scored = [j for j, t in enumerate(texts) if sayable(t, heard, seconds)]  # as the server skips them
        lp = cache.get(clips[q], [texts[j] for j in scored] + [heard])
        logprobs: list[float | None] = [None] * len(cand)
        for j, v in zip(scored, lp[:-1]):
            logprobs[j] = float(v)
        order = rerank_order(sims[q, cand], logprobs, float(lp[-1]), gate, searched=len(top))
        out[q, np.asarray(cand)[order]] = sims[q].max() + 1.0 + np.arange(len(order), 0, -1)
    cache.save()
    return out


def sound_alike_sims(sims: np.ndarray, transcripts: list[str], gallery_texts: list[str], weight: float) -> np.ndarray:
    """The server's SearchBySpeech ranking with a sound-alike weight (``Service._sound_alike_ranked``): the
    search's best ``POOL`` joined with the ``POOL`` texts that sound most like the transcript, ranked by
    cosine + weight x sound-alike similarity, written above every other item's score."""
    out = sims.astype(np.float64, copy=True)
    if not weight:
        return out
    lexical = LexicalIndex((str(i), t) for i, t in enumerate(gallery_texts))
    where = np.array([int(i) for i in lexical.ids], dtype=np.int64)
    for q in range(len(sims)):
        found = lexical.scores(transcripts[q])
        similarity = np.zeros(sims.shape[1])
        similarity[where] = found
        pool = set(np.argsort(-sims[q], kind="stable")[:POOL].tolist())
        pool.update(int(i) for i, _ in lexical.search_scores(found, POOL))
        cand = np.fromiter(pool, dtype=np.int64)
        out[q, cand] = 10.0 + sims[q, cand] + weight * similarity[cand]
    return out


def _text_gallery_tasks(ckpt: Checkpoint, data: ProtocolData, split: str):
    """(task, clips, transcripts, fused sims, gallery texts, right gallery positions) of each speech task
    whose gallery is texts: speech→text over the whole corpus, spoken FAQ question → written answer, and (test
    split) the real recordings."""
    s, heard = data.speech[split], data.transcript_vectors[split]
    fused = speech_vectors(ckpt, s.features, heard, "fused")
    where = data.index_of()
    corpus_texts = [x.text for x in data.corpus]
    yield ("speech→text (gallery: whole corpus)", s.paths, s.transcripts, fused @ data.corpus_vectors.T, corpus_texts,
           [where[t] for t in s.texts])
    answers, answer_of = data.faq_answers()
    rows = [j for j, t in enumerate(s.texts) if data.corpus[where[t]].source == FAQ_QUESTION]
    if rows:
        yield ("spoken question→FAQ answer", [s.paths[j] for j in rows], [s.transcripts[j] for j in rows],
               fused[rows] @ data.corpus_vectors[answers].T, [corpus_texts[i] for i in answers],
               [answer_of[data.corpus[where[s.texts[j]]].ref] for j in rows])
    if split == "test" and data.real is not None and data.real_text_vectors is not None:
        r = data.real
        gallery, gallery_texts, correct = real_gallery(data)
        v = speech_vectors(ckpt, r.features, data.transcript_vectors["real"], "fused")
        yield f"real human speech→text ({len(r.texts)} clips)", r.paths, r.transcripts, v @ gallery.T, gallery_texts, correct


def sound_alike_results(ckpt: Checkpoint, data: ProtocolData, split: str, weight: float) -> list[RetrievalResult]:
    """The fused search ranked with the sound-alike weight, as SearchBySpeech does by default."""
    return [retrieval_metrics(task, f"fused + sound-alike (weight {weight:g})",
                              sound_alike_sims(sims, heard, texts, weight), truth)
            for task, _, heard, sims, texts, truth in _text_gallery_tasks(ckpt, data, split)]


def rerank_results(ckpt: Checkpoint, data: ProtocolData, split: str, encoder, cache_dir: Path,
                   k: int = 25, sound_alike: int = 0, weight: float = 0.0) -> list[RetrievalResult]:
    """Fused search (ranked with the sound-alike ``weight``) + re-ranking of the top ``k`` and ``sound_alike``
    sound-alike texts (as the server's ``rerank_sound_alike``) on the speech tasks whose galleries are texts."""
    gate = encoder.rerank_gate
    if gate is None:
        raise ValueError(f"{encoder.info.name} cannot score texts, so there is nothing to re-rank")
    method = (f"fused{f' + sound-alike (weight {weight:g})' if weight else ''} + re-rank (top {k}"
              + (f" + {sound_alike} sound-alike)" if sound_alike else ")"))
    cache, out = ScoreCache(encoder, cache_dir), []
    for task, clips, heard, sims, texts, truth in _text_gallery_tasks(ckpt, data, split):
        first = sound_alike_sims(sims, heard, texts, weight)
        ranked = reranked_sims(first, clips, heard, texts, cache, k, gate, f"re-rank: {task}", sound_alike=sound_alike)
        out.append(retrieval_metrics(task, method, ranked, truth))
    return out
