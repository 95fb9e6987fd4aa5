"""The domain core behind the gRPC servicers: validate, decode, embed, store, search.

Inputs and outputs are plain Python types (see the dataclasses below), never protos, so this layer is
testable without gRPC and the servicers stay thin. Media decoding runs on a CPU pool, model compute on
a single model thread (torch already uses every core inside one call), and index I/O on the default
pool: the event loop only waits.

Each request is decoded and validated on its own first; only then do its items join the dynamic
batcher of their encoder (``batching.py``), so a bad input fails its request alone. Searches of one
collection with the same filters and search parameters are batched too: one index call with a matrix of
queries. The index is reached through ``index.backend`` (FAISS embedded or Milvus), never directly.
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import shutil
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ContextManager, Hashable, Sequence

import numpy as np

from .batching import Batcher, Unbatched
from .config import Config
from .embedder import Embedded, Embedder
from .encoders.base import IMAGE, SPEECH, TEXT
from .errors import FailedPrecondition, InvalidInput, XmodalError
from .index.backend import CollectionStore, Hit, NewItem, SearchParams, StoredItem, Where
from .lexical import POOL as SOUND_ALIKE_POOL, CollectionTexts, LexicalIndex
from .media import TARGET_SAMPLE_RATE, MediaLimits, check_text, decode_audio, decode_image, decode_pcm_s16le
from .rerank import MAX_CANDIDATES, rerank_order, sayable, spoken_form

if TYPE_CHECKING:
    from .index.backend import IndexBackend
    from .metrics import Metrics

log = logging.getLogger(__name__)

VECTOR = "vector"
MAX_ID_CHARS = 256
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_VALUE_CHARS = 4096
MAX_FILTER_CONDITIONS = 16
MAX_FILTER_VALUES = 1024
MAX_NPROBE = 65536
MAX_EF_SEARCH = 4096
SEARCH = "search"  # the batcher of index calls, beside the three encoders'
RERANK = "rerank"  # SearchBySpeech re-ranking: the speech model scores hit texts against the audio
# Validating this much text on the event loop costs less than the hop to the CPU pool would.
INLINE_TEXT_CHARS = 4096


@dataclass(frozen=True)
class AudioInput:
    data: bytes
    pcm_sample_rate: int = 0  # > 0: raw s16le PCM
    pcm_channels: int = 1


@dataclass(frozen=True)
class SpeechOptions:
    mode: str = ""  # "" = the checkpoint's default; "direct" | "transcribe" | "fused"
    direct_weight: float | None = None
    keep_state: bool = False  # set by re-ranking: keep the encoder's state of each clip for the second call


@dataclass(frozen=True)
class ItemInput:
    id: str
    kind: str  # TEXT, IMAGE, SPEECH or VECTOR
    payload: Any  # str, bytes, AudioInput or np.ndarray (float32)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Timing:
    decode_ms: float = 0.0
    model_ms: float = 0.0
    index_ms: float = 0.0
    total_ms: float = 0.0


class _Clock:
    def __init__(self) -> None:
        self.timing = Timing()
        self._start = time.perf_counter()

    async def run(self, bucket: str, fn: Callable[[], Any], executor: ThreadPoolExecutor | None) -> Any:
        return await self.wait(bucket, asyncio.get_running_loop().run_in_executor(executor, fn))

    async def wait(self, bucket: str, awaitable: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return await awaitable
        finally:
            self._add(bucket, t0)

    def call(self, bucket: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self._add(bucket, t0)

    def _add(self, bucket: str, t0: float) -> None:
        setattr(self.timing, bucket, getattr(self.timing, bucket) + (time.perf_counter() - t0) * 1e3)

    def done(self) -> Timing:
        self.timing.total_ms = (time.perf_counter() - self._start) * 1e3
        return self.timing


def item_label(index: int, item_id: str) -> str:
    """How an error names an item of a request: its position and (a prefix of) its id."""
    return f"items[{index}] (id {item_id[:64]!r})"


def check_id(item_id: str, where: str) -> str:
    if not item_id:
        raise InvalidInput(f"{where}: id is empty; every item needs a unique id")
    if len(item_id) > MAX_ID_CHARS:
        raise InvalidInput(f"{where}: id has {len(item_id)} characters, more than {MAX_ID_CHARS}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in item_id):
        raise InvalidInput(f"{where}: id contains control characters")
    return item_id


def check_ids(ids: Sequence[str]) -> list[str]:
    """The ids of a DeleteItems/GetItems request, each checked and named by its position."""
    if not ids:
        raise InvalidInput("no ids given")
    for i, item_id in enumerate(ids):
        check_id(item_id, f"ids[{i}]")
    return list(ids)


def check_metadata(metadata: dict[str, str], where: str) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidInput(f"{where}: {len(metadata)} metadata entries, more than {MAX_METADATA_ENTRIES}")
    for k, v in metadata.items():
        if not k or len(k) > MAX_METADATA_KEY_CHARS:
            raise InvalidInput(f"{where}: metadata key {k[:40]!r} must have 1..{MAX_METADATA_KEY_CHARS} characters")
        if len(v) > MAX_METADATA_VALUE_CHARS:
            raise InvalidInput(f"{where}: metadata value of {k!r} exceeds {MAX_METADATA_VALUE_CHARS} characters")
    return dict(metadata)


def check_where(conditions: Sequence[tuple[str, Sequence[str]]]) -> Where:
    """A metadata filter (AND of "key is one of values"), checked and normalised so that equal filters
    compare equal (they share a search batch). Whether each key exists is the index's to say."""
    if len(conditions) > MAX_FILTER_CONDITIONS:
        raise InvalidInput(f"filter: {len(conditions)} conditions, more than {MAX_FILTER_CONDITIONS}")
    out = []
    for i, (key, values) in enumerate(conditions):
        where = f"filter[{i}] (key {key[:40]!r})"
        if not key or len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidInput(f"{where}: the key must have 1..{MAX_METADATA_KEY_CHARS} characters")
        if not 1 <= len(values) <= MAX_FILTER_VALUES:
            raise InvalidInput(f"{where}: {len(values)} values; give 1..{MAX_FILTER_VALUES} (one: equality, several: any of)")
        if any(len(v) > MAX_METADATA_VALUE_CHARS for v in values):
            raise InvalidInput(f"{where}: a value exceeds {MAX_METADATA_VALUE_CHARS} characters")
        out.append((key, tuple(sorted(set(values)))))
    return tuple(sorted(out))


def check_search_params(params: SearchParams) -> SearchParams:
    if params.nprobe > MAX_NPROBE or params.ef_search > MAX_EF_SEARCH:
        raise InvalidInput(f"search options: nprobe must be 0..{MAX_NPROBE} and ef_search 0..{MAX_EF_SEARCH} (0 = default)")
    return params


class Service:
    def __init__(self, config: Config, embedder: Embedder, store: CollectionStore, *,
                 model_context: Callable[[], ContextManager] = nullcontext, metrics: "Metrics | None" = None):
        """``model_context``: entered around every model call on the model thread (e.g. CUDA autocast)."""
        self.config = config
        self.embedder = embedder
        self.store = store  # index.open_store(config): the backend and index settings the config names
        if metrics is not None:
            self.store.set_event_sink(metrics.index_event)
        self.limits = MediaLimits(
            max_image_bytes=config.max_image_bytes,
            max_image_pixels=config.max_image_pixels,
            max_audio_bytes=config.max_audio_bytes,
            max_audio_seconds=config.max_audio_seconds,
            max_text_chars=config.max_text_chars,
        )
        self.model_pool = ThreadPoolExecutor(1, thread_name_prefix="xmodal-model")
        self.cpu_pool = ThreadPoolExecutor(2, thread_name_prefix="xmodal-decode")
        self._model_context = model_context

        def runner(name: str, fn: Callable, executor: ThreadPoolExecutor | None, max_delay: float) -> Batcher | Unbatched:
            observer = metrics.batch_observer(name) if metrics is not None else None
            if not config.batching:
                return Unbatched(name, fn, executor, observer)
            return Batcher(name, fn, executor, max_size=config.batch_max_size, max_delay=max_delay,
                           queue_size=config.batch_queue_size, observer=observer)

        delay = config.batch_max_delay_ms / 1e3
        self.batchers: dict[str, Batcher | Unbatched] = {
            kind: runner(kind, functools.partial(self._model_call, kind), self.model_pool, delay)
            for kind in (TEXT, IMAGE, SPEECH)
        }
        # Index calls take about a millisecond: never wait for company, the searches that arrive while
        # one runs are the next batch.
        self.batchers[SEARCH] = runner(SEARCH, self._search_call, None, 0.0)
        # One clip per item (nothing to share between clips), but the batcher's bounded queue and deadline checks.
        self.batchers[RERANK] = runner(RERANK, self._rerank_call, self.model_pool, 0.0)
        self.sound_alike = CollectionTexts()  # re-ranking's sound-alike candidates (lexical.py), per collection

    def warm_sound_alike(self) -> None:
        """Start building every collection's sound-alike index in the background (at startup), so that the first
        speech query of a large collection does not wait for it (~1.3 s per 10,000 texts)."""
        if self.config.sound_alike_weight or (self.config.rerank_candidates and self.config.rerank_sound_alike):
            for coll in self.store.list():
                self.sound_alike.warm(coll.name, coll)

    async def aclose(self) -> None:
        """After the server stopped taking calls: resolve whatever still waits, then stop the pools."""
        for batcher in self.batchers.values():
            await batcher.close()
        self.model_pool.shutdown(wait=True, cancel_futures=True)
        self.cpu_pool.shutdown(wait=True, cancel_futures=True)

    # -- validation --------------------------------------------------------------------------------
    def check_batch(self, n: int, what: str) -> None:
        if n == 0:
            raise InvalidInput(f"no {what} given; send 1..{self.config.max_batch}")
        if n > self.config.max_batch:
            raise InvalidInput(f"{n} {what} in one request, more than max_batch={self.config.max_batch}; split it")

    def check_top_k(self, top_k: int) -> int:
        if not 1 <= top_k <= self.config.max_top_k:
            raise InvalidInput(f"top_k={top_k} is out of range: use 1..{self.config.max_top_k}")
        return top_k

    def _decode_one(self, kind: str, payload: Any) -> Any:
        if kind == TEXT:
            return check_text(payload, self.limits)
        if kind == IMAGE:
            return decode_image(payload, self.limits)
        if kind == SPEECH:
            audio: AudioInput = payload
            if audio.pcm_sample_rate:
                return decode_pcm_s16le(audio.data, audio.pcm_sample_rate, self.limits, channels=audio.pcm_channels or 1)
            return decode_audio(audio.data, self.limits)
        raise InvalidInput(f"unknown payload kind {kind!r}")

    def _decode_all(self, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> list[Any]:
        out = []
        for payload, label in zip(payloads, labels):
            try:
                out.append(self._decode_one(kind, payload))
            except XmodalError as e:
                raise e.with_item(label) from None
        return out

    async def _decode(self, clock: _Clock, kind: str, payloads: Sequence[Any], labels: Sequence[str]) -> list[Any]:
        if kind == TEXT and all(isinstance(p, str) for p in payloads) and sum(map(len, payloads)) <= INLINE_TEXT_CHARS:
            return clock.call("decode_ms", lambda: self._decode_all(kind, payloads, labels))
        return await clock.run("decode_ms", lambda: self._decode_all(kind, payloads, labels), self.cpu_pool)

    async def _embed(self, clock: _Clock, kind: str, decoded: list[Any], speech: SpeechOptions | None = None) -> Embedded:
        """Decoded, valid items -> their encoder's batcher -> vectors (one request's share of a batch)."""
        key = None
        if kind == SPEECH:
            # Requests share a speech batch only with equal options; the default mode spelled out or
            # left empty is the same option.
            speech = speech or SpeechOptions()
            key = SpeechOptions(self._speech_mode(speech), speech.direct_weight, speech.keep_state)
        rows = await clock.wait("model_ms", self.batchers[kind].submit(decoded, key))
        return _merge_rows(rows)

    def _speech_mode(self, speech: SpeechOptions | None) -> str:
        """The mode a speech request runs in: its own, or the checkpoint's default when left empty."""
        return (speech and speech.mode) or self.embedder.speech_modes[0]

    def _model_call(self, kind: str, items: list[Any], key: Hashable) -> list[tuple]:
        """One batch on the model thread; one (vector, truncated, transcript, encoder state) row per item."""
        with self._model_context():
            if kind == SPEECH:
                out = self.embedder.embed_speech(items, key.mode, key.direct_weight, key.keep_state)  # type: ignore[union-attr]
            elif kind == TEXT:
                out = self.embedder.embed_texts(items)
            else:
                out = self.embedder.embed_images(items)
        return _split_rows(out)

    # -- embedding ---------------------------------------------------------------------------------
    async def embed(self, kind: str, payloads: Sequence[Any], what: str, speech: SpeechOptions | None = None) -> tuple[Embedded, Timing]:
        self.check_batch(len(payloads), what)
        clock = _Clock()
        labels = [f"{what}[{i}]" for i in range(len(payloads))]
        decoded = await self._decode(clock, kind, payloads, labels)
        out = await self._embed(clock, kind, decoded, speech)
        return out, clock.done()

    # -- collections -------------------------------------------------------------------------------
    async def create_collection(self, name: str, description: str = "", index_type: str = ""):
        """``index_type``: "exact", "ivf", "hnsw", "auto" or "" (the server's default)."""
        e = self.embedder
        # Off the loop: creation fsyncs the new database and the directory rename.
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.store.create(name, dim=e.shared_dim, space_id=e.space_id, description=description,
                                            index_type=index_type)
        )

    async def reindex_collection(self, name: str) -> tuple[Any, int, Timing]:
        """Re-embed every item from its stored payload into the current space, then swap atomically."""
        loop = asyncio.get_running_loop()
        coll = self.store.get(name)
        rows = await loop.run_in_executor(None, coll.payloads)
        vectors = [r[0] for r in rows if r[1] == VECTOR]
        if vectors:
            raise FailedPrecondition(
                f"collection {name!r} holds {len(vectors)} precomputed vector item(s) (e.g. {vectors[0]!r}) that cannot "
                "be re-embedded; delete them, reindex, then add them again with vectors from the new space"
            )
        e = self.embedder
        staged = await loop.run_in_executor(
            None, lambda: self.store.staging(name, dim=e.shared_dim, space_id=e.space_id,
                                             description=coll.meta.get("description", ""), index_type=coll.index_type)
        )
        clock = _Clock()
        try:
            for i in range(0, len(rows), self.config.max_batch):
                batch = rows[i : i + self.config.max_batch]
                items = [ItemInput(id=r[0], kind=r[1], payload=_stored_payload(r), metadata=r[5]) for r in batch]
                labels = [item_label(i + j, it.id) for j, it in enumerate(items)]  # positions in the collection
                new = await self._embed_items(items, clock, labels)
                await clock.run("index_ms", lambda: staged.add(new), None)
        except BaseException:
            staged.close()
            shutil.rmtree(staged.path, ignore_errors=True)
            raise
        swapped = await loop.run_in_executor(None, self.store.swap, name, staged)
        self.sound_alike.forget(name)
        return swapped, len(rows), clock.done()

    async def delete_collection(self, name: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.store.delete, name)
        self.sound_alike.forget(name)

    async def add_items(self, collection: str, items: Sequence[ItemInput]) -> tuple[int, Timing]:
        """All or nothing; ALREADY_EXISTS when an id is taken."""
        added, _, timing = await self._write_items(collection, items, upsert=False)
        return added, timing

    async def upsert_items(self, collection: str, items: Sequence[ItemInput]) -> tuple[int, int, Timing]:
        """(written, of which replaced existing ids, timing); all or nothing."""
        return await self._write_items(collection, items, upsert=True)

    async def _write_items(self, collection: str, items: Sequence[ItemInput], upsert: bool) -> tuple[int, int, Timing]:
        coll = self.store.get(collection)
        coll.check_space(self.embedder.space_id)
        self.check_batch(len(items), "items")
        clock = _Clock()
        labels = [item_label(i, it.id) for i, it in enumerate(items)]
        seen: set[str] = set()
        for it, label in zip(items, labels):
            check_id(it.id, label)
            check_metadata(it.metadata, label)
            if it.id in seen:
                raise InvalidInput(f"{label}: id appears twice in this request")
            seen.add(it.id)
        new = await self._embed_items(items, clock, labels)
        try:
            if upsert:
                replaced = await clock.run("index_ms", lambda: coll.upsert(new), None)
            else:
                replaced = 0
                await clock.run("index_ms", lambda: coll.add(new), None)
        finally:  # even a failed write may have reached the store (e.g. cancelled after the commit)
            self.sound_alike.changed(collection)
        return len(new), replaced, clock.done()

    async def _embed_items(self, items: Sequence[ItemInput], clock: _Clock, labels: Sequence[str]) -> list[NewItem]:
        """Decode and embed each payload kind as one batch; keep text/transcripts and original bytes."""
        vectors: list[np.ndarray | None] = [None] * len(items)
        texts: list[str] = [""] * len(items)
        for kind in (TEXT, IMAGE, SPEECH):
            idx = [i for i, it in enumerate(items) if it.kind == kind]
            if not idx:
                continue
            decoded = await self._decode(clock, kind, [items[i].payload for i in idx], [labels[i] for i in idx])
            out = await self._embed(clock, kind, decoded)
            for j, i in enumerate(idx):
                vectors[i] = out.vectors[j]
                if kind == TEXT:
                    texts[i] = decoded[j]
                elif kind == SPEECH and out.transcripts:
                    texts[i] = out.transcripts[j]
        for i, it in enumerate(items):
            if it.kind == VECTOR:
                vectors[i] = self.check_vector(it.payload, self.embedder.shared_dim, labels[i])
        return [
            NewItem(
                id=it.id, modality=it.kind, vector=vectors[i], metadata=it.metadata, text=texts[i],
                payload=(it.payload.data if it.kind == SPEECH else it.payload) if it.kind in (IMAGE, SPEECH) else None,
                payload_kind=_payload_kind(it),
            )
            for i, it in enumerate(items)
        ]

    @staticmethod
    def check_vector(vector: np.ndarray, dim: int, where: str) -> np.ndarray:
        if vector.shape != (dim,):
            raise InvalidInput(f"{where}: vector has {vector.size} values, the space has dim {dim}")
        if not np.all(np.isfinite(vector)):
            raise InvalidInput(f"{where}: vector contains NaN or infinite values")
        norm = float(np.linalg.norm(vector))
        if norm == 0.0 or not math.isfinite(norm):
            raise InvalidInput(f"{where}: vector has zero norm; cosine similarity is undefined")
        return (vector / norm).astype(np.float32)

    async def delete_items(self, collection: str, ids: Sequence[str]) -> tuple[int, list[str]]:
        coll = self.store.get(collection)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, coll.delete, check_ids(ids))
        finally:
            self.sound_alike.changed(collection)

    async def get_items(self, collection: str, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        coll = self.store.get(collection)
        return await asyncio.get_running_loop().run_in_executor(None, coll.get, check_ids(ids), include_vectors)

    # -- search ------------------------------------------------------------------------------------
    async def search(self, collection: str, kind: str, query: Any, top_k: int, modalities: Sequence[str],
                     speech: SpeechOptions | None = None, where: Sequence[tuple[str, Sequence[str]]] = (),
                     params: SearchParams | None = None, vector_space: str = "",
                     rerank: int | None = 0, sound_alike: int | None = None,
                     sound_alike_weight: float | None = None) -> tuple[list[Hit], Embedded, Timing]:
        """``where``: metadata conditions, ANDed, each (key, accepted values). ``kind`` VECTOR: ``query`` is a
        float32 vector already in the shared space (nothing is decoded or embedded); ``vector_space``, when
        given, is the space it was made in and must be the collection's. ``rerank`` (speech only; None: the
        server's default, ``_rerank_depth``): re-rank the best ``rerank`` hits, and ``sound_alike`` texts that
        sound like the transcript (None: the configured ``rerank_sound_alike``), by the speech model's
        likelihood of their texts (``rerank.py``); the returned
        Embedded then carries the transcript's own log-probability per token. ``sound_alike_weight`` (speech
        only; None: the configured one): hits ranked by cosine + weight x how much their text sounds like the
        transcript (``_sound_alike_ranked``), before any re-ranking."""
        coll = self.store.get(collection)
        coll.check_space(self.embedder.space_id)
        if vector_space and vector_space != coll.space_id:
            raise FailedPrecondition(f"the query vector was made in space {vector_space!r} but collection "
                                     f"{collection!r} is in {coll.space_id!r}; embed the query with this server")
        self.check_top_k(top_k)
        rerank = self._rerank_depth(kind, speech, rerank)
        if rerank:
            sound_alike = self.check_rerank(rerank, kind, speech, sound_alike)
        weight = self._sound_alike_weight(kind, speech, sound_alike_weight)
        where = check_where(where)
        params = check_search_params(params or SearchParams())
        clock = _Clock()
        if kind == VECTOR:
            out = Embedded(self.check_vector(query, self.embedder.shared_dim, "vector")[None])
        else:
            decoded = await self._decode(clock, kind, [query], ["query"])
            if rerank:  # the scoring call reuses the clip's encoder output instead of computing it again
                speech = dataclasses.replace(speech or SpeechOptions(), keep_state=True)
            out = await self._embed(clock, kind, decoded, speech)
        # Same collection, filters and parameters: one index call for the batch, each request cut to its top_k.
        key = (coll, tuple(sorted(set(modalities))), where, params)
        pool = max(top_k, rerank, SOUND_ALIKE_POOL if weight else 0)
        [hits] = await clock.wait("index_ms", self.batchers[SEARCH].submit([(out.vectors[0], pool)], key))
        transcript = (out.transcripts or [""])[0]
        also, extra = set(), []
        if transcript and (weight or (rerank and sound_alike)):
            hits, also, extra = await clock.run("index_ms", lambda: self._by_sound(
                collection, coll, out, hits, weight, pool, rerank, sound_alike, modalities, where), None)
        if rerank:
            hits, out = await self._rerank(clock, decoded[0], out, hits, rerank, also, extra)
        return hits[:top_k], out, clock.done()

    def _rerank_depth(self, kind: str, speech: SpeechOptions | None, asked: int | None) -> int:
        """The re-ranking depth of a search: the request's (0 = off), or, when it asks nothing, the server's
        default for a speech query that can be re-ranked (the encoder scores texts, the mode has a transcript)."""
        if asked is not None:
            return asked
        if kind != SPEECH or self.embedder.speech.rerank_gate is None or self._speech_mode(speech) == "direct":
            return 0
        return self.config.rerank_candidates

    def check_rerank(self, candidates: int, kind: str, speech: SpeechOptions | None, sound_alike: int | None) -> int:
        """Checks a re-ranking request; returns its count of sound-alike candidates (None: the server's)."""
        if kind != SPEECH:
            raise InvalidInput("rerank applies to speech queries only")
        if not 1 <= candidates <= MAX_CANDIDATES:
            raise InvalidInput(f"rerank.candidates={candidates} is out of range: use 0 (off) or 1..{MAX_CANDIDATES}")
        if self.embedder.speech.rerank_gate is None:
            raise FailedPrecondition(f"the speech encoder {self.embedder.speech.info.name} cannot score texts against "
                                     "audio, so this server cannot re-rank; leave rerank unset")
        if self._speech_mode(speech) == "direct":
            raise InvalidInput("rerank needs the query's transcript: use speech mode FUSED or TRANSCRIBE, not DIRECT")
        if sound_alike is None:
            return self.config.rerank_sound_alike
        if not 0 <= sound_alike <= MAX_CANDIDATES:
            raise InvalidInput(f"rerank.sound_alike={sound_alike} is out of range: use 0 (none) to {MAX_CANDIDATES}, "
                               f"or leave it unset for the server's default ({self.config.rerank_sound_alike})")
        return sound_alike

    def _sound_alike_weight(self, kind: str, speech: SpeechOptions | None, asked: float | None) -> float:
        """The sound-alike weight of a search: 0 unless a speech query has a transcript to compare."""
        if kind != SPEECH:
            return 0.0
        direct = self._speech_mode(speech) == "direct"
        if asked is None:
            return 0.0 if direct else self.config.sound_alike_weight
        if not (math.isfinite(asked) and 0 <= asked <= 10):
            raise InvalidInput(f"sound_alike_weight={asked} is out of range: use 0 (off) to 10, or leave it unset "
                               f"for the server's default ({self.config.sound_alike_weight})")
        if direct and asked > 0:
            raise InvalidInput("sound_alike_weight needs the query's transcript: use speech mode FUSED or TRANSCRIBE, "
                               "not DIRECT")
        return float(asked)

    @staticmethod
    def _read_hits(coll: "IndexBackend", ids: list[str], out: Embedded, modalities: Sequence[str],
                   where: Where) -> list[Hit]:
        """Items found by sound rather than by vector, read back from the collection (so deleted items and
        filters are honoured), each with its cosine score against the query vector."""
        items, _ = coll.get(ids, include_vectors=True) if ids else ([], [])
        wanted = set(modalities)
        return [Hit(it.id, float(np.dot(it.vector, out.vectors[0])), it.modality, dict(it.metadata), it.text)
                for it in items if (not wanted or it.modality in wanted)
                and all(it.metadata.get(key) in values for key, values in where)]

    def _by_sound(self, name: str, coll: "IndexBackend", out: Embedded, hits: list[Hit], weight: float, pool: int,
                  rerank: int, n: int, modalities: Sequence[str], where: Where) -> tuple[list[Hit], set[int], list[Hit]]:
        """The sound-alike steps of a speech search (``lexical.py``): ``hits`` ranked with the ``weight``, and the
        re-ranking's ``n`` extra candidates (``_sound_alike_hits``). How much every text sounds like the
        transcript is computed once for both. Blocking: runs off the event loop."""
        transcript = (out.transcripts or [""])[0]
        index = self.sound_alike.get(name, coll)
        sounds = _Sounds(index, transcript, index.scores(transcript))
        if weight:
            hits = self._sound_alike_ranked(sounds, coll, out, hits, weight, pool, modalities, where)
        also, extra = self._sound_alike_hits(sounds, coll, out, hits, rerank, n, modalities, where) if rerank and n \
            else (set(), [])
        return hits, also, extra

    def _sound_alike_ranked(self, sounds: "_Sounds", coll: "IndexBackend", out: Embedded, hits: list[Hit],
                            weight: float, pool: int, modalities: Sequence[str], where: Where) -> list[Hit]:
        """``hits`` joined with the ``pool`` texts that sound most like the transcript, each with its
        ``sound_alike`` similarity, ranked by score + weight x sound_alike. Blocking: runs off the event loop."""
        index, transcript = sounds.index, sounds.transcript
        found = [i for i, _ in index.search_scores(sounds.scores, pool, {h.id for h in hits})]
        joined = hits + self._read_hits(coll, found, out, modalities, where)
        # Compared afresh from each hit's stored text (not read from the index), so a text written since the
        # index was built ranks nearly as it will once the index catches up; only finding texts by sound lags.
        found_sims = index.similarity(transcript, [h.text for h in joined])
        sims = [float(s) if h.text else None for h, s in zip(joined, found_sims)]
        order = sorted(range(len(joined)), key=lambda i: -(joined[i].score + weight * (sims[i] or 0.0)))
        return [dataclasses.replace(joined[i], sound_alike=sims[i]) for i in order]

    def _sound_alike_hits(self, sounds: "_Sounds", coll: "IndexBackend", out: Embedded, hits: list[Hit], window: int,
                          n: int, modalities: Sequence[str], where: Where) -> tuple[set[int], list[Hit]]:
        """Up to ``n`` items whose texts sound like the transcript (``lexical.py``) and are not among the first
        ``window`` hits: (positions of those already among ``hits``, the others read back from the collection).
        Blocking: runs off the event loop."""
        position = {h.id: i for i, h in enumerate(hits)}
        found = [i for i, _ in sounds.index.search_scores(sounds.scores, n, {h.id for h in hits[:window]})]
        also = {position[i] for i in found if i in position}
        return also, self._read_hits(coll, [i for i in found if i not in position], out, modalities, where)

    async def _rerank(self, clock: _Clock, wave: np.ndarray, out: Embedded, hits: list[Hit], n: int,
                      also: set[int], extra: list[Hit]) -> tuple[list[Hit], Embedded]:
        """The first ``n`` hits, the hits at ``also`` and the ``extra`` ones (sound-alike candidates) with a
        text, scored against the audio with the query's own transcript, then reordered by ``rerank_order``
        (an extra hit stays only if it passes the gate); each scored hit carries its log-probability per token."""
        searched = len(hits)
        hits = hits + extra
        heard, seconds = spoken_form((out.transcripts or [""])[0]), len(wave) / TARGET_SAMPLE_RATE
        spoken = {i: spoken_form(h.text) for i, h in enumerate(hits) if h.text and (i < n or i in also or i >= searched)}
        scored = [i for i, t in spoken.items() if sayable(t, heard, seconds)]  # the rest cannot pass the gate
        if not scored:  # nothing to score (a collection of images, or only long answers): the search's order
            return hits[:searched], dataclasses.replace(out, states=None)
        texts = [spoken[i] for i in scored] + [heard]
        [lp] = await clock.wait("model_ms", self.batchers[RERANK].submit([(wave, texts, (out.states or [None])[0])]))
        logprobs: list[float | None] = [None] * len(hits)
        for j, i in enumerate(scored):
            logprobs[i] = float(lp[j])
        own = float(lp[-1])
        order = rerank_order([h.score for h in hits], logprobs, own, float(self.embedder.speech.rerank_gate),  # type: ignore[arg-type]
                             searched=searched)
        return ([dataclasses.replace(hits[i], transcript_logprob=logprobs[i]) for i in order],
                dataclasses.replace(out, transcript_logprobs=[own], states=None))

    def _rerank_call(self, items: list[tuple[np.ndarray, list[str], Any]], key: Hashable) -> list[np.ndarray]:
        with self._model_context():
            return [self.embedder.speech.transcript_logprobs(wave, texts, state) for wave, texts, state in items]

    @staticmethod
    def _search_call(queries: list[tuple[np.ndarray, int]],
                     key: tuple["IndexBackend", tuple[str, ...], Where, SearchParams]) -> list[list[Hit]]:
        coll, modalities, where, params = key
        k = max(top_k for _, top_k in queries)
        found = coll.search_many(np.stack([v for v, _ in queries]), k, modalities, where, params)
        return [hits[:top_k] for hits, (_, top_k) in zip(found, queries)]


@dataclasses.dataclass(frozen=True)
class _Sounds:
    """A transcript's sound-alike similarities (``LexicalIndex.scores``) with the index they index into, so the
    ranking and the re-ranking of one query read the same snapshot even if a rebuild swaps the index between."""
    index: LexicalIndex
    transcript: str
    scores: np.ndarray


def _split_rows(out: Embedded) -> list[tuple]:
    n = out.vectors.shape[0]
    return [
        (out.vectors[i], out.truncated[i] if out.truncated is not None else None,
         out.transcripts[i] if out.transcripts is not None else None,
         out.states[i] if out.states is not None else None)
        for i in range(n)
    ]


def _merge_rows(rows: list[tuple]) -> Embedded:
    """Inverse of ``_split_rows`` for one request's rows (all from one encoder, so all alike)."""
    return Embedded(
        np.stack([r[0] for r in rows]).astype(np.float32, copy=False),
        truncated=[r[1] for r in rows] if rows[0][1] is not None else None,
        transcripts=[r[2] for r in rows] if rows[0][2] is not None else None,
        states=[r[3] for r in rows] if rows[0][3] is not None else None,
    )


def _stored_payload(row: tuple) -> Any:
    """The ItemInput payload of a stored row (id, modality, text, payload, payload_kind, metadata)."""
    _, modality, text, payload, kind, _ = row
    if modality == TEXT:
        return text
    if modality == SPEECH:
        if kind.startswith("pcm_s16le:"):
            _, rate, channels = kind.split(":")
            return AudioInput(payload, int(rate), int(channels))
        return AudioInput(payload)
    return payload


def _payload_kind(item: ItemInput) -> str:
    if item.kind == SPEECH:
        return f"pcm_s16le:{item.payload.pcm_sample_rate}:{item.payload.pcm_channels or 1}" if item.payload.pcm_sample_rate else "audio"
    return item.kind if item.kind in (IMAGE,) else ""
