"""The domain core behind the gRPC servicers, one room per concern:

* ``inputs.py``      what a request carries and what it gets back (plain types, never protos);
* ``validation.py``  checks of ids, metadata, filters, search knobs, vectors and counts;
* ``decoding.py``    media decoding, validation and the encoders' preparation (tokens, pixels, log-mel) on a
  CPU pool;
* ``embedding.py``   the model thread (collation and forward passes only): per-encoder dynamic batchers
  (``batching.py``) and the speech model's scoring of texts;
* ``collections.py`` collection and item writes (all or nothing) and reads;
* ``search.py``      a request -> a plan (``ranking/``) -> hits;
* ``costs.py``       what an item costs its batcher (seconds of audio for speech), for admission by time.

``Service`` wires them together and is all the servicers see. The event loop only waits: decoding runs on the
CPU pool, models on the model thread, index I/O on the default pool. The index is reached through
``index.backend`` (FAISS embedded or Milvus), wrapped so that its changes are events (``index/changes.py``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Sequence

from ..batching import Batcher, Unbatched, Worker
from ..config import Config
from ..embedder import Embedded, Embedder
from ..encoders.base import SPEECH
from ..index.backend import CollectionStore, Hit, StoredItem
from ..index.changes import WatchedStore
from ..media import MediaLimits
from .collections import Collections
from .costs import rerank_item_texts, speech_item_seconds
from .decoding import Decoder
from .embedding import RERANK, Embedding
from .inputs import VECTOR, AudioInput, Clock, ItemInput, SearchRequest, SpeechOptions, Timing
from .search import SEARCH, Search
from .validation import check_batch, item_label

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["Service", "AudioInput", "ItemInput", "SearchRequest", "SpeechOptions", "Timing", "VECTOR", "SEARCH",
           "RERANK", "item_label"]


class Service:
    def __init__(self, config: Config, embedder: Embedder, store: CollectionStore, *,
                 model_context: Callable[[], ContextManager] = nullcontext, metrics: "Metrics | None" = None):
        """``model_context``: entered around every model call on the model thread (e.g. CUDA autocast)."""
        self.config = config
        self.embedder = embedder
        self.store = WatchedStore(store)  # index.open_store(config): the backend and index settings the config names
        if metrics is not None:
            self.store.set_event_sink(metrics.index_event)
        limits = MediaLimits(
            max_image_bytes=config.max_image_bytes,
            max_image_pixels=config.max_image_pixels,
            max_audio_bytes=config.max_audio_bytes,
            max_audio_seconds=config.max_audio_seconds,
            max_text_chars=config.max_text_chars,
        )
        self.cpu_pool = ThreadPoolExecutor(2, thread_name_prefix="xmodal-decode")
        self.decoder = Decoder(limits, self.cpu_pool, embedder.prepare)

        # Speech work is counted in its own units and limited by its own setting (config.speech_queue_seconds).
        speech_costs = {SPEECH: speech_item_seconds, RERANK: rerank_item_texts}

        def runner(name: str, fn: Callable, worker: Worker | None, max_delay: float) -> Batcher | Unbatched:
            observer = metrics.batch_observer(name) if metrics is not None else None
            if not config.batching:
                return Unbatched(name, fn, worker, observer)
            setting = "speech_queue_seconds" if name in speech_costs else "batch_queue_seconds"
            return Batcher(name, fn, worker, max_size=config.batch_max_size, max_delay=max_delay,
                           queue_size=config.batch_queue_size, observer=observer, cost=speech_costs.get(name),
                           max_wait=getattr(config, setting) or None, max_wait_setting=setting)

        self.embedding = Embedding(embedder, runner, config.batch_max_delay_ms / 1e3, model_context)
        self.collections = Collections(config, self.store, self.decoder, self.embedding)
        self.searches = Search(config, self.store, self.decoder, self.embedding, runner)

    @property
    def model_pool(self) -> ThreadPoolExecutor:
        return self.embedding.model_pool

    @property
    def batchers(self) -> dict[str, Batcher | Unbatched]:
        return {**self.embedding.batchers, SEARCH: self.searches.batcher}

    def warm_sound_alike(self) -> None:
        self.searches.warm()

    async def aclose(self) -> None:
        """After the server stopped taking calls: resolve whatever still waits, then stop the pools."""
        for batcher in self.batchers.values():
            await batcher.close()
        self.model_pool.shutdown(wait=True, cancel_futures=True)
        self.cpu_pool.shutdown(wait=True, cancel_futures=True)

    # -- embedding ---------------------------------------------------------------------------------
    async def embed(self, kind: str, payloads: Sequence[Any], what: str,
                    speech: SpeechOptions | None = None) -> tuple[Embedded, Timing]:
        check_batch(len(payloads), what, self.config.max_batch)
        clock = Clock()
        decoded = await self.decoder.decode(clock, kind, payloads, [f"{what}[{i}]" for i in range(len(payloads))])
        out = await self.embedding.embed(clock, kind, decoded, speech)
        return out, clock.done()

    # -- collections -------------------------------------------------------------------------------
    async def create_collection(self, name: str, description: str = "", index_type: str = ""):
        return await self.collections.create(name, description, index_type)

    async def reindex_collection(self, name: str) -> tuple[Any, int, Timing]:
        return await self.collections.reindex(name)

    async def delete_collection(self, name: str) -> None:
        await self.collections.delete(name)

    async def add_items(self, collection: str, items: Sequence[ItemInput]) -> tuple[int, Timing]:
        """All or nothing; ALREADY_EXISTS when an id is taken."""
        added, _, timing = await self.collections.write_items(collection, items, upsert=False)
        return added, timing

    async def upsert_items(self, collection: str, items: Sequence[ItemInput]) -> tuple[int, int, Timing]:
        """(written, of which replaced existing ids, timing); all or nothing."""
        return await self.collections.write_items(collection, items, upsert=True)

    async def delete_items(self, collection: str, ids: Sequence[str]) -> tuple[int, list[str]]:
        return await self.collections.delete_items(collection, ids)

    async def get_items(self, collection: str, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        return await self.collections.get_items(collection, ids, include_vectors)

    # -- search ------------------------------------------------------------------------------------
    async def search(self, request: SearchRequest) -> tuple[list[Hit], Embedded, Timing]:
        return await self.searches.search(request)
