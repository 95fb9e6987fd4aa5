"""Collection writes: create, reindex, delete; add, upsert, delete and read items. Writes are all or nothing:
every item is checked, decoded and embedded before the store is touched. Whoever derives something from a
collection's items learns of writes from the store's change events (``index/changes.py``), not from here."""
from __future__ import annotations

import asyncio
import shutil
from typing import Any, Sequence

import numpy as np

from ..config import Config
from ..encoders.base import IMAGE, SPEECH, TEXT
from ..errors import FailedPrecondition, InvalidInput
from ..index.backend import CollectionStore, NewItem, StoredItem
from .decoding import Decoder
from .embedding import Embedding
from .inputs import VECTOR, AudioInput, Clock, ItemInput, Timing
from .validation import check_batch, check_id, check_ids, check_metadata, check_vector, item_label


class Collections:
    def __init__(self, config: Config, store: CollectionStore, decoder: Decoder, embedding: Embedding):
        self.config = config
        self.store = store
        self.decoder = decoder
        self.embedding = embedding

    async def _off_loop(self, fn, *args):
        # Store calls fsync and take locks: never on the event loop.
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def create(self, name: str, description: str = "", index_type: str = ""):
        """``index_type``: "exact", "ivf", "hnsw", "auto" or "" (the server's default)."""
        e = self.embedding.embedder
        return await self._off_loop(lambda: self.store.create(name, dim=e.shared_dim, space_id=e.space_id,
                                                              description=description, index_type=index_type))

    async def reindex(self, name: str) -> tuple[Any, int, Timing]:
        """Re-embed every item from its stored payload into the current space, then swap atomically."""
        coll = self.store.get(name)
        rows = await self._off_loop(coll.payloads)
        vectors = [r[0] for r in rows if r[1] == VECTOR]
        if vectors:
            raise FailedPrecondition(
                f"collection {name!r} holds {len(vectors)} precomputed vector item(s) (e.g. {vectors[0]!r}) that cannot "
                "be re-embedded; delete them, reindex, then add them again with vectors from the new space"
            )
        e = self.embedding.embedder
        staged = await self._off_loop(lambda: self.store.staging(
            name, dim=e.shared_dim, space_id=e.space_id, description=coll.meta.get("description", ""),
            index_type=coll.index_type))
        clock = Clock()
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
        swapped = await self._off_loop(self.store.swap, name, staged)
        return swapped, len(rows), clock.done()

    async def delete(self, name: str) -> None:
        await self._off_loop(self.store.delete, name)

    async def write_items(self, collection: str, items: Sequence[ItemInput], upsert: bool) -> tuple[int, int, Timing]:
        """(written, of which replaced existing ids, timing); all or nothing; add: ALREADY_EXISTS when an id is
        taken."""
        coll = self.store.get(collection)
        coll.check_space(self.embedding.embedder.space_id)
        check_batch(len(items), "items", self.config.max_batch)
        clock = Clock()
        labels = [item_label(i, it.id) for i, it in enumerate(items)]
        seen: set[str] = set()
        for it, label in zip(items, labels):
            check_id(it.id, label)
            check_metadata(it.metadata, label)
            if it.id in seen:
                raise InvalidInput(f"{label}: id appears twice in this request")
            seen.add(it.id)
        new = await self._embed_items(items, clock, labels)
        if upsert:
            replaced = await clock.run("index_ms", lambda: coll.upsert(new), None)
        else:
            replaced = 0
            await clock.run("index_ms", lambda: coll.add(new), None)
        return len(new), replaced, clock.done()

    async def delete_items(self, collection: str, ids: Sequence[str]) -> tuple[int, list[str]]:
        coll = self.store.get(collection)
        return await self._off_loop(coll.delete, check_ids(ids))

    async def get_items(self, collection: str, ids: Sequence[str], include_vectors: bool) -> tuple[list[StoredItem], list[str]]:
        coll = self.store.get(collection)
        return await self._off_loop(coll.get, check_ids(ids), include_vectors)

    async def _embed_items(self, items: Sequence[ItemInput], clock: Clock, labels: Sequence[str]) -> list[NewItem]:
        """Decode and embed each payload kind as one batch; keep text/transcripts and original bytes."""
        vectors: list[np.ndarray | None] = [None] * len(items)
        texts: list[str] = [""] * len(items)
        for kind in (TEXT, IMAGE, SPEECH):
            idx = [i for i, it in enumerate(items) if it.kind == kind]
            if not idx:
                continue
            decoded = await self.decoder.decode(clock, kind, [items[i].payload for i in idx], [labels[i] for i in idx])
            out = await self.embedding.embed(clock, kind, decoded)
            for j, i in enumerate(idx):
                vectors[i] = out.vectors[j]
                if kind == TEXT:
                    texts[i] = decoded.items[j]
                elif kind == SPEECH and out.transcripts:
                    texts[i] = out.transcripts[j]
        for i, it in enumerate(items):
            if it.kind == VECTOR:
                vectors[i] = check_vector(it.payload, self.embedding.embedder.shared_dim, labels[i])
        return [
            NewItem(
                id=it.id, modality=it.kind, vector=vectors[i], metadata=it.metadata, text=texts[i],
                payload=(it.payload.data if it.kind == SPEECH else it.payload) if it.kind in (IMAGE, SPEECH) else None,
                payload_kind=_payload_kind(it),
            )
            for i, it in enumerate(items)
        ]


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
