"""A search as data: where its candidates come from (*sources*) and how they are re-scored (*stages*).

The shape follows qdrant's planned query (``MergePlan{sources, rescore_stages}``): the service builds a plan
from a request and the config (``service/search.py``), ``xmodal eval`` builds the same plan from the same
parameters (``evaluation/rerank_eval.py``), and one ranker (``ranker.py``) runs it, against the served
collection or against the evaluation's gallery. So the numbers the report publishes come from the code that
ranks a user's hits.
"""
from __future__ import annotations

from dataclasses import dataclass

# A speech search ranked with a sound-alike weight considers the vector search's best POOL hits joined with
# the POOL texts that sound most like the transcript (docs/decisions/0005-sound-alike-matching.md: the 64 + 64
# pool ranks as the whole gallery does).
POOL = 64


@dataclass(frozen=True)
class VectorSource:
    """The index's ``depth`` nearest neighbours of the query vector (cosine), best first."""
    depth: int


@dataclass(frozen=True)
class SoundAlikeSource:
    """The ``depth`` texts that sound most like the query's transcript (``sound_alike.py``) and are not among
    the earlier sources' candidates, read back from the collection (deletes and filters hold). Needs a
    transcript: a query without one gets nothing from it."""
    depth: int


@dataclass(frozen=True)
class SoundAlikeWeighting:
    """Every candidate ranked by cosine + ``weight`` x its text's sound-alike similarity to the transcript."""
    weight: float


@dataclass(frozen=True)
class LikelihoodRerank:
    """The speech model scores the texts of the first ``depth`` candidates, and of the ``extras`` texts outside
    them that sound most like the transcript, against the audio (``likelihood.py``); those within ``gate`` of
    the transcript's own log-probability per token move first. An extra that is not a candidate yet joins only
    by passing the gate."""
    depth: int
    extras: int
    gate: float


@dataclass(frozen=True)
class Cut:
    """Keep the first ``top_k``."""
    top_k: int


Source = VectorSource | SoundAlikeSource
Stage = SoundAlikeWeighting | LikelihoodRerank | Cut


@dataclass(frozen=True)
class SearchPlan:
    sources: tuple[Source, ...]
    stages: tuple[Stage, ...]

    @property
    def uses_sound(self) -> bool:
        """Whether a step compares texts with the transcript (the collection's sound-alike index is needed)."""
        return any(isinstance(s, (SoundAlikeSource, SoundAlikeWeighting)) for s in self.sources + self.stages) \
            or any(isinstance(s, LikelihoodRerank) and s.extras for s in self.stages)

    @property
    def rerank(self) -> LikelihoodRerank | None:
        return next((s for s in self.stages if isinstance(s, LikelihoodRerank)), None)


def plan_search(top_k: int, *, sound_alike_weight: float = 0.0, rerank: int = 0, extras: int = 0,
                gate: float | None = None) -> SearchPlan:
    """The plan of a search whose parameters are already resolved and checked (``service/search.py``): a
    text, image or vector query has only the vector source and the cut; a speech query with a transcript may
    add the sound-alike source and weighting (``sound_alike_weight`` > 0) and the likelihood re-ranking of its
    best ``rerank`` candidates plus ``extras`` sound-alike texts (``rerank`` > 0 needs the encoder's ``gate``).

    The vector source fetches as deep as any later step looks, so a request's hits are a prefix of a deeper
    request's: every top_k up to POOL ranks the same candidates the same way."""
    if rerank and gate is None:
        raise ValueError("a re-ranking plan needs the speech encoder's gate")
    sources: tuple[Source, ...] = (VectorSource(max(top_k, rerank, POOL if sound_alike_weight else 0)),)
    stages: tuple[Stage, ...] = ()
    if sound_alike_weight:
        sources += (SoundAlikeSource(POOL),)
        stages += (SoundAlikeWeighting(sound_alike_weight),)
    if rerank:
        stages += (LikelihoodRerank(rerank, extras, float(gate)),)  # type: ignore[arg-type]
    return SearchPlan(sources, stages + (Cut(top_k),))
