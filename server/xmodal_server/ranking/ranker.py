"""The one ranker: runs a ``SearchPlan`` (``plan.py``) over a table of candidates.

What the plan runs against is a ``Gallery``: the served collection (``service/search.py``: the index through
the search batcher, texts read back from the collection, the speech model through the re-ranking batcher) or
the evaluation's gallery (``evaluation/rerank_eval.py``: a row of cached similarities, scores from the score
cache). The ranker itself knows neither; both publish and serve through this code.

The table is a list of ``Hit`` (id, cosine score, text, ...), best first; each stage returns a new one.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

import numpy as np

from ..index.backend import Hit
from .likelihood import rerank_order, sayable, spoken_form
from .plan import Cut, LikelihoodRerank, SearchPlan, SoundAlikeSource, SoundAlikeWeighting, VectorSource
from .sound_alike import SoundAlikeIndex

T = TypeVar("T")


class Gallery(Protocol):
    """What one query's plan runs against. ``transcript``: the query's (empty: none, so no sound-alike step
    applies); ``seconds``: the clip's duration (which texts could have been said in it, ``likelihood.sayable``)."""

    transcript: str
    seconds: float

    async def nearest(self, k: int) -> list[Hit]:
        """The ``k`` nearest items to the query vector, best first."""

    async def read(self, ids: list[str]) -> list[Hit]:
        """Items found by sound, each scored by cosine with the query vector; those gone or filtered out are
        left out."""

    async def sound_index(self) -> SoundAlikeIndex:
        """The sound-alike index of the gallery's texts."""

    async def likelihoods(self, texts: list[str]) -> np.ndarray:
        """Mean log-probability per token of each text (in ``spoken_form``) as the transcript of the audio."""

    async def run(self, fn: Callable[[], T]) -> T:
        """Blocking work of the ranking (the server runs it off the event loop)."""


@dataclass
class Ranked:
    hits: list[Hit]
    transcript_logprob: float | None = None  # the transcript's own, when a re-ranking stage scored texts


@dataclass(frozen=True)
class _Sounds:
    """The transcript's similarities over one index snapshot, so every step of a query reads the same one even
    if a rebuild swaps the collection's index meanwhile."""
    index: SoundAlikeIndex
    transcript: str
    scores: np.ndarray

    def best(self, n: int, skip: set[str]) -> list[str]:
        return [i for i, _ in self.index.search_scores(self.scores, n, skip)]


async def rank(plan: SearchPlan, gallery: Gallery) -> Ranked:
    sounds = None
    if plan.uses_sound and gallery.transcript:
        index = await gallery.sound_index()
        sounds = await gallery.run(lambda: _Sounds(index, gallery.transcript, index.scores(gallery.transcript)))
    hits: list[Hit] = []
    for source in plan.sources:
        match source:
            case VectorSource(depth=depth):
                hits += await gallery.nearest(depth)
            case SoundAlikeSource(depth=depth) if sounds is not None:
                hits += await gallery.read(await gallery.run(lambda: sounds.best(depth, {h.id for h in hits})))
    ranked = Ranked(hits)
    for stage in plan.stages:
        match stage:
            case SoundAlikeWeighting(weight=weight) if sounds is not None:
                ranked.hits = await gallery.run(lambda: _weighted(ranked.hits, sounds, weight))
            case LikelihoodRerank():
                ranked = await _rerank(stage, ranked.hits, sounds, gallery)
            case Cut(top_k=top_k):
                ranked.hits = ranked.hits[:top_k]
    return ranked


def _weighted(hits: list[Hit], sounds: _Sounds, weight: float) -> list[Hit]:
    # Compared afresh from each hit's stored text (not read from the index), so a text written since the
    # index was built ranks as it will once the index catches up; only finding texts by sound lags.
    found = sounds.index.similarity(sounds.transcript, [h.text for h in hits])
    sims = [float(s) if h.text else None for h, s in zip(hits, found)]
    order = sorted(range(len(hits)), key=lambda i: -(hits[i].score + weight * (sims[i] or 0.0)))
    return [dataclasses.replace(hits[i], sound_alike=sims[i]) for i in order]


async def _rerank(stage: LikelihoodRerank, hits: list[Hit], sounds: _Sounds | None, gallery: Gallery) -> Ranked:
    searched = len(hits)
    also: set[int] = set()
    if stage.extras and sounds is not None:
        # Sound-alike texts outside the first ``depth``: those already among the candidates are scored where
        # they stand; the others are read back and join only by passing the gate.
        position = {h.id: i for i, h in enumerate(hits)}
        found = await gallery.run(lambda: sounds.best(stage.extras, {h.id for h in hits[:stage.depth]}))
        also = {position[i] for i in found if i in position}
        hits = hits + await gallery.read([i for i in found if i not in position])
    heard = spoken_form(gallery.transcript)
    spoken = {i: spoken_form(h.text) for i, h in enumerate(hits)
              if h.text and (i < stage.depth or i in also or i >= searched)}
    scored = [i for i, t in spoken.items() if sayable(t, heard, gallery.seconds)]  # the rest cannot pass the gate
    if not scored:  # nothing to score (images, or only long answers): the search's order, the model not called
        return Ranked(hits[:searched])
    lp = await gallery.likelihoods([spoken[i] for i in scored] + [heard])
    logprobs: list[float | None] = [None] * len(hits)
    for j, i in enumerate(scored):
        logprobs[i] = float(lp[j])
    own = float(lp[-1])
    order = rerank_order([h.score for h in hits], logprobs, own, stage.gate, searched=searched)
    return Ranked([dataclasses.replace(hits[i], transcript_logprob=logprobs[i]) for i in order], own)
