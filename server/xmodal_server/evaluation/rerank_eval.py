"""The protocol's speech tasks ranked as SearchBySpeech ranks them: the server's own plan
(``ranking/plan.py``) run by the server's own ranker (``ranking/ranker.py``) over each clip's row of cached
similarities; sound-alike ranking, and re-ranking by the speech model's likelihood of each text, with the gate.

Scoring costs one encoder pass per clip plus the decoder over K texts, so scores are cached on disk per
(speech encoder and what it computes, clip, text) and saved as they come: a rerun, or a run interrupted and
started again, scores only what it has not scored yet.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..align.corpus import FAQ_QUESTION
from ..encoders.heads import Checkpoint, speech_vectors
from ..index.backend import Hit
from ..media import MediaLimits, decode_audio
from ..ranking.plan import POOL, SearchPlan, plan_search
from ..ranking.ranker import rank
from ..ranking.sound_alike import SoundAlikeIndex
from .metrics import RetrievalResult, retrieval_metrics
from .protocol import ProtocolData, real_gallery
from .report import _atomic_write

SAVE_EVERY = 20  # clips between cache saves
T = TypeVar("T")


class ScoreCache:
    """(clip, text) -> mean log-probability per token, persisted in one JSON file per speech encoder."""

    def __init__(self, encoder, cache_dir: Path):
        self.encoder = encoder
        # Scores depend on the encoder's computation (its window) and the decoder: adapters (a checkpoint's,
        # asr_adapt.py) get their own file.
        adapters = getattr(encoder, "decoder_adapters", None)
        key = hashlib.sha1(f"{encoder.info.name}\0{encoder.info.source}\0{encoder.info.architecture}\0v1".encode()
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
        """The clip's duration, from its header (the length rule, ``likelihood.sayable``, needs it)."""
        return float(sf.info(str(clip)).duration)

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path, json.dumps(self.scores).encode())
        self._dirty = 0


@dataclass
class _CachedGallery:
    """One clip's gallery as the ranker sees it (``ranking.ranker.Gallery``): the clip's row of cached
    similarities stands in for the index, the score cache for the speech model."""
    sims: np.ndarray  # (gallery,) cosine of the clip's vector with each gallery text
    texts: list[str]
    index: SoundAlikeIndex
    transcript: str
    seconds: float
    clip: Path
    cache: ScoreCache | None

    def _hit(self, g: int) -> Hit:
        return Hit(str(g), float(self.sims[g]), "text", {}, self.texts[g])

    async def nearest(self, k: int) -> list[Hit]:
        return [self._hit(int(g)) for g in np.argsort(-self.sims, kind="stable")[:k]]

    async def read(self, ids: list[str]) -> list[Hit]:
        return [self._hit(int(i)) for i in ids]

    async def sound_index(self) -> SoundAlikeIndex:
        return self.index

    async def likelihoods(self, texts: list[str]) -> np.ndarray:
        if self.cache is None:
            raise ValueError("this plan re-ranks: give a score cache")
        return self.cache.get(self.clip, texts)

    async def run(self, fn: Callable[[], T]) -> T:
        return fn()


def planned_sims(plan: SearchPlan, sims: np.ndarray, clips: list[Path], transcripts: list[str],
                 gallery_texts: list[str], cache: ScoreCache | None, desc: str) -> np.ndarray:
    """``sims`` (queries x gallery) with each query's hits, as the server's ranker orders them under ``plan``,
    written as scores above every other item's, so rank-based metrics read the served order directly (the rest
    keep their cosine order below)."""
    out = sims.astype(np.float64, copy=True)
    index = SoundAlikeIndex((str(i), t) for i, t in enumerate(gallery_texts))

    async def run_all() -> None:
        for q in tqdm(range(len(sims)), desc=desc, unit="clip", leave=False):
            seconds = cache.seconds(clips[q]) if cache is not None else 0.0
            ranked = await rank(plan, _CachedGallery(sims[q], gallery_texts, index, transcripts[q], seconds,
                                                     clips[q], cache))
            ids = np.array([int(h.id) for h in ranked.hits], dtype=np.int64)
            out[q, ids] = sims[q].max() + 1.0 + np.arange(len(ids), 0, -1)

    asyncio.run(run_all())
    if cache is not None:
        cache.save()
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


def plan_of(weight: float, k: int = 0, sound_alike: int = 0, gate: float | None = None) -> SearchPlan:
    """The plan SearchBySpeech runs for a request with these parameters and any top_k up to ``POOL`` (its hits
    are a prefix of these): the server's own ``plan_search``."""
    return plan_search(POOL, sound_alike_weight=weight, rerank=k, extras=sound_alike if k else 0, gate=gate)


def sound_alike_results(ckpt: Checkpoint, data: ProtocolData, split: str, weight: float) -> list[RetrievalResult]:
    """The fused search ranked with the sound-alike weight, as SearchBySpeech does by default."""
    plan = plan_of(weight)
    return [retrieval_metrics(task, f"fused + sound-alike (weight {weight:g})",
                              planned_sims(plan, sims, clips, heard, texts, None, f"sound-alike: {task}"), truth)
            for task, clips, heard, sims, texts, truth in _text_gallery_tasks(ckpt, data, split)]


def rerank_results(ckpt: Checkpoint, data: ProtocolData, split: str, encoder, cache_dir: Path,
                   k: int = 25, sound_alike: int = 0, weight: float = 0.0) -> list[RetrievalResult]:
    """Fused search (ranked with the sound-alike ``weight``) + re-ranking of the top ``k`` and ``sound_alike``
    sound-alike texts (as the server's ``rerank_sound_alike``) on the speech tasks whose galleries are texts."""
    gate = encoder.rerank_gate
    if gate is None:
        raise ValueError(f"{encoder.info.name} cannot score texts, so there is nothing to re-rank")
    method = (f"fused{f' + sound-alike (weight {weight:g})' if weight else ''} + re-rank (top {k}"
              + (f" + {sound_alike} sound-alike)" if sound_alike else ")"))
    plan, cache, out = plan_of(weight, k, sound_alike, gate), ScoreCache(encoder, cache_dir), []
    for task, clips, heard, sims, texts, truth in _text_gallery_tasks(ckpt, data, split):
        out.append(retrieval_metrics(task, method, planned_sims(plan, sims, clips, heard, texts, cache,
                                                                f"re-rank: {task}"), truth))
    return out
