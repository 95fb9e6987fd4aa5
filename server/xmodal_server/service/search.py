"""Search: a request becomes a plan (``ranking/plan.py``) that the one ranker (``ranking/ranker.py``) runs
against the served collection. This room checks the request, resolves the server's defaults into the plan,
embeds the query and gives the ranker its view of the collection (``_Served``).

Searches of one collection with the same filters and search parameters are batched: one index call with a
matrix of queries, each request cut to its own depth."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable, TypeVar

import numpy as np

from ..batching import Batcher, Unbatched, reserve_after
from ..config import Config
from ..embedder import Embedded
from ..encoders.base import SPEECH
from ..errors import FailedPrecondition, InvalidInput
from ..index.backend import CollectionStore, Hit, SearchParams, Where
from ..index.changes import DROPPED
from ..media import TARGET_SAMPLE_RATE
from ..ranking.likelihood import MAX_CANDIDATES
from ..ranking.plan import SearchPlan, plan_search
from ..ranking.ranker import rank
from ..ranking.sound_alike import SoundAlikeIndex, SoundAlikeIndexes
from .decoding import Decoder
from .embedding import RERANK, Embedding, RunnerFactory
from .inputs import VECTOR, Clock, SearchRequest, SpeechOptions, Timing
from .validation import check_search_params, check_top_k, check_vector, check_where

if TYPE_CHECKING:
    from ..index.backend import IndexBackend

SEARCH = "search"  # the batcher of index calls, beside the encoders'
T = TypeVar("T")


class Search:
    def __init__(self, config: Config, store: CollectionStore, decoder: Decoder, embedding: Embedding,
                 runner: RunnerFactory):
        self.config = config
        self.store = store
        self.decoder = decoder
        self.embedding = embedding
        # Index calls take about a millisecond: never wait for company, the searches that arrive while one runs
        # are the next batch.
        self.batcher: Batcher | Unbatched = runner(SEARCH, _index_call, None, 0.0)
        self.sound_indexes = SoundAlikeIndexes()  # per collection, kept in step by the store's change events
        store.subscribe(self._changed)  # type: ignore[attr-defined]

    def _changed(self, name: str, event: str) -> None:
        (self.sound_indexes.forget if event == DROPPED else self.sound_indexes.changed)(name)

    def warm(self) -> None:
        """Start building every collection's sound-alike index in the background (at startup), so that the first
        speech query of a large collection does not wait for it (~1.3 s per 10,000 texts)."""
        if self.config.sound_alike_weight or (self.config.rerank_candidates and self.config.rerank_sound_alike):
            for coll in self.store.list():
                self.sound_indexes.warm(coll.name, coll)

    async def search(self, r: SearchRequest) -> tuple[list[Hit], Embedded, Timing]:
        """The hits of ``r``, the query's embedding (with the transcript, and its own log-probability per token
        when re-ranked) and where the time went."""
        coll = self.store.get(r.collection)
        e = self.embedding.embedder
        coll.check_space(e.space_id)
        if r.vector_space and r.vector_space != coll.space_id:
            raise FailedPrecondition(f"the query vector was made in space {r.vector_space!r} but collection "
                                     f"{r.collection!r} is in {coll.space_id!r}; embed the query with this server")
        plan = self.plan(r)
        where = check_where(r.where)
        params = check_search_params(r.params or SearchParams())
        clock = Clock()
        wave = None
        if r.kind == VECTOR:
            out = Embedded(check_vector(r.query, e.shared_dim, "vector")[None])
        else:
            decoded = await self.decoder.decode(clock, r.kind, [r.query], ["query"])
            if r.kind == SPEECH:  # the clip, which a re-ranking stage scores texts against
                [wave] = decoded.items
            speech = r.speech
            reserve = None
            if plan.rerank:  # the scoring call reuses the clip's encoder output instead of computing it again
                speech = dataclasses.replace(speech or SpeechOptions(), keep_state=True)
                # Admitted to the embedding only with time left for the re-ranking after it (texts scored: the
                # candidates, the sound-alike extras and the transcript itself).
                reserve = self.embedding.batchers[RERANK].estimate(plan.rerank.depth + plan.rerank.extras + 1)
            with reserve_after(reserve):
                out = await self.embedding.embed(clock, r.kind, decoded, speech)
        served = _Served(self, clock, r.collection, coll, out, (tuple(sorted(set(r.modalities))), where, params), wave)
        ranked = await rank(plan, served)
        out = dataclasses.replace(out, states=None, transcript_logprobs=None if ranked.transcript_logprob is None
                                  else [ranked.transcript_logprob])
        return ranked.hits, out, clock.done()

    def plan(self, r: SearchRequest) -> SearchPlan:
        """The request's plan: its parameters checked, the server's defaults filled in."""
        check_top_k(r.top_k, self.config.max_top_k)
        depth = self._rerank_depth(r)
        extras = self.check_rerank(depth, r) if depth else 0
        return plan_search(r.top_k, sound_alike_weight=self._sound_alike_weight(r), rerank=depth, extras=extras,
                           gate=self.embedding.embedder.speech.rerank_gate if depth else None)

    def _direct(self, r: SearchRequest) -> bool:
        return self.embedding.speech_mode(r.speech) == "direct"

    def _rerank_depth(self, r: SearchRequest) -> int:
        """The request's depth (0 = off), or, when it asks nothing, the server's default for a speech query that
        can be re-ranked (the encoder scores texts, the mode has a transcript)."""
        if r.rerank is not None:
            return r.rerank
        if r.kind != SPEECH or self.embedding.embedder.speech.rerank_gate is None or self._direct(r):
            return 0
        return self.config.rerank_candidates

    def check_rerank(self, candidates: int, r: SearchRequest) -> int:
        """Checks a re-ranking request; returns how many extra sound-alike texts it scores (the request's, or the
        server's default)."""
        if r.kind != SPEECH:
            raise InvalidInput("rerank applies to speech queries only")
        if not 1 <= candidates <= MAX_CANDIDATES:
            raise InvalidInput(f"rerank.candidates={candidates} is out of range: use 0 (off) or 1..{MAX_CANDIDATES}")
        speech = self.embedding.embedder.speech
        if speech.rerank_gate is None:
            raise FailedPrecondition(f"the speech encoder {speech.info.name} cannot score texts against "
                                     "audio, so this server cannot re-rank; leave rerank unset")
        if self._direct(r):
            raise InvalidInput("rerank needs the query's transcript: use speech mode FUSED or TRANSCRIBE, not DIRECT")
        if r.rerank_extras is None:
            return self.config.rerank_sound_alike
        if not 0 <= r.rerank_extras <= MAX_CANDIDATES:
            raise InvalidInput(f"rerank.sound_alike={r.rerank_extras} is out of range: use 0 (none) to {MAX_CANDIDATES}, "
                               f"or leave it unset for the server's default ({self.config.rerank_sound_alike})")
        return r.rerank_extras

    def _sound_alike_weight(self, r: SearchRequest) -> float:
        """0 unless a speech query has a transcript to compare."""
        if r.kind != SPEECH:
            return 0.0
        asked = r.sound_alike_weight
        if asked is None:
            return 0.0 if self._direct(r) else self.config.sound_alike_weight
        if not (math.isfinite(asked) and 0 <= asked <= 10):
            raise InvalidInput(f"sound_alike_weight={asked} is out of range: use 0 (off) to 10, or leave it unset "
                               f"for the server's default ({self.config.sound_alike_weight})")
        if self._direct(r) and asked > 0:
            raise InvalidInput("sound_alike_weight needs the query's transcript: use speech mode FUSED or TRANSCRIBE, "
                               "not DIRECT")
        return float(asked)


@dataclasses.dataclass
class _Served:
    """The served collection as the ranker sees it (``ranking.ranker.Gallery``), for one query."""
    search: Search
    clock: Clock
    name: str
    coll: "IndexBackend"
    out: Embedded
    key: tuple[tuple[str, ...], Where, SearchParams]  # (modalities, filter, parameters): what shares an index call
    wave: np.ndarray | None

    @property
    def transcript(self) -> str:
        return (self.out.transcripts or [""])[0]

    @property
    def seconds(self) -> float:
        return 0.0 if self.wave is None else len(self.wave) / TARGET_SAMPLE_RATE

    async def nearest(self, k: int) -> list[Hit]:
        [hits] = await self.clock.wait("index_ms", self.search.batcher.submit([(self.out.vectors[0], k)],
                                                                              (self.coll,) + self.key))
        return hits

    async def read(self, ids: list[str]) -> list[Hit]:
        return await self.run(lambda: self._read(ids))

    def _read(self, ids: list[str]) -> list[Hit]:
        # Read back, so deleted items and filters are honoured; scored by cosine with the query vector.
        items, _ = self.coll.get(ids, include_vectors=True) if ids else ([], [])
        wanted, where = set(self.key[0]), self.key[1]
        return [Hit(it.id, float(np.dot(it.vector, self.out.vectors[0])), it.modality, dict(it.metadata), it.text)
                for it in items if (not wanted or it.modality in wanted)
                and all(it.metadata.get(key) in values for key, values in where)]

    async def sound_index(self) -> SoundAlikeIndex:
        return await self.run(lambda: self.search.sound_indexes.get(self.name, self.coll))

    async def likelihoods(self, texts: list[str]) -> np.ndarray:
        return await self.search.embedding.likelihoods(self.clock, self.wave, texts, (self.out.states or [None])[0])

    async def run(self, fn: Callable[[], T]) -> T:
        return await self.clock.run("index_ms", fn, None)


def _index_call(queries: list[tuple[np.ndarray, int]],
                key: tuple["IndexBackend", tuple[str, ...], Where, SearchParams]) -> list[list[Hit]]:
    coll, modalities, where, params = key
    k = max(top_k for _, top_k in queries)
    found = coll.search_many(np.stack([v for v, _ in queries]), k, modalities, where, params)
    return [hits[:top_k] for hits, (_, top_k) in zip(found, queries)]


