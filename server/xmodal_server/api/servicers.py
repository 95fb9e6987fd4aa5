"""Thin servicers: unpack the proto, call the domain ``Service``, pack the answer. No logic here."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import grpc

import xmodal_server
from xmodal.v1 import (
    collection_pb2,
    collection_pb2_grpc,
    embedding_pb2,
    embedding_pb2_grpc,
    info_pb2,
    info_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

from ..encoders.base import IMAGE, SPEECH, TEXT
from ..errors import InvalidInput, Unavailable
from ..service import VECTOR, ItemInput, SearchRequest, Service, item_label
from . import convert as cv
from .errors import MeasuredServicer, grpc_errors

if TYPE_CHECKING:
    from ..metrics import Metrics

ServiceGetter = Callable[[], "Service | None"]


def _require(get: ServiceGetter) -> Service:
    service = get()
    if service is None:
        raise Unavailable("models are still loading; retry shortly (health reports SERVING when ready)")
    return service


def _embedding_result(out, timing, space_id: str) -> embedding_pb2.EmbeddingResult:
    n = out.vectors.shape[0]
    return embedding_pb2.EmbeddingResult(
        embeddings=[
            embedding_pb2.Embedding(
                vector=cv.vector_to_proto(out.vectors[i]),
                truncated=bool(out.truncated[i]) if out.truncated else False,
                transcript=out.transcripts[i] if out.transcripts else "",
            )
            for i in range(n)
        ],
        space_id=space_id,
        timing=cv.timing_to_proto(timing),
    )


class EmbeddingServicer(embedding_pb2_grpc.EmbeddingServiceServicer, MeasuredServicer):
    def __init__(self, get: ServiceGetter, metrics: "Metrics | None" = None):
        self.get = get
        self.metrics = metrics

    async def _embed(self, kind: str, payloads, what: str, speech=None) -> embedding_pb2.EmbeddingResult:
        s = _require(self.get)
        out, timing = await s.embed(kind, payloads, what, speech)
        return _embedding_result(out, timing, s.embedder.space_id)

    @grpc_errors
    async def EmbedText(self, request, context):
        return embedding_pb2.EmbedTextResponse(result=await self._embed(TEXT, list(request.texts), "texts"))

    @grpc_errors
    async def EmbedImage(self, request, context):
        return embedding_pb2.EmbedImageResponse(result=await self._embed(IMAGE, list(request.images), "images"))

    @grpc_errors
    async def EmbedSpeech(self, request, context):
        audios = [cv.audio_from_proto(a) for a in request.audios]
        speech = cv.speech_options_from_proto(request.speech_options)
        return embedding_pb2.EmbedSpeechResponse(result=await self._embed(SPEECH, audios, "audios", speech))


def _collection_to_proto(c) -> collection_pb2.Collection:
    d = c.describe()
    return collection_pb2.Collection(
        name=d["name"], description=d.get("description", ""), item_count=d["item_count"], dim=int(d["dim"]),
        space_id=d["space_id"], index_type=d["index_type"], created_at=float(d["created_at"]),
        index_state=d.get("index_state", ""),
    )


def _item_from_proto(item: collection_pb2.Item, i: int) -> ItemInput:
    kind = item.WhichOneof("payload")
    where = item_label(i, item.id)
    if kind is None:
        raise InvalidInput(f"{where}: no payload; set one of text, image, speech or vector")
    payload = {
        "text": lambda: item.text,
        "image": lambda: item.image,
        "speech": lambda: cv.audio_from_proto(item.speech),
        "vector": lambda: cv.vector_from_proto(item.vector, where),
    }[kind]()
    modality = {"text": TEXT, "image": IMAGE, "speech": SPEECH, "vector": VECTOR}[kind]
    return ItemInput(id=item.id, kind=modality, payload=payload, metadata=dict(item.metadata))


class CollectionServicer(collection_pb2_grpc.CollectionServiceServicer, MeasuredServicer):
    def __init__(self, get: ServiceGetter, metrics: "Metrics | None" = None):
        self.get = get
        self.metrics = metrics

    @grpc_errors
    async def CreateCollection(self, request, context):
        index_type = cv.index_type_from_proto(request.index_type)
        c = await _require(self.get).create_collection(request.name, request.description, index_type)
        return collection_pb2.CreateCollectionResponse(collection=_collection_to_proto(c))

    @grpc_errors
    async def GetCollection(self, request, context):
        coll = _require(self.get).store.get(request.name)
        return collection_pb2.GetCollectionResponse(collection=_collection_to_proto(coll))

    @grpc_errors
    async def ListCollections(self, request, context):
        s = _require(self.get)
        return collection_pb2.ListCollectionsResponse(collections=[_collection_to_proto(c) for c in s.store.list()])

    @grpc_errors
    async def DeleteCollection(self, request, context):
        await _require(self.get).delete_collection(request.name)
        return collection_pb2.DeleteCollectionResponse()

    @grpc_errors
    async def ReindexCollection(self, request, context):
        coll, n, timing = await _require(self.get).reindex_collection(request.name)
        return collection_pb2.ReindexCollectionResponse(collection=_collection_to_proto(coll), reindexed=n,
                                                        timing=cv.timing_to_proto(timing))

    @grpc_errors
    async def AddItems(self, request, context):
        s = _require(self.get)
        items = [_item_from_proto(it, i) for i, it in enumerate(request.items)]
        if request.upsert:
            added, replaced, timing = await s.upsert_items(request.collection, items)
        else:
            added, timing = await s.add_items(request.collection, items)
            replaced = 0
        return collection_pb2.AddItemsResponse(added=added, replaced=replaced, timing=cv.timing_to_proto(timing))

    @grpc_errors
    async def DeleteItems(self, request, context):
        deleted, missing = await _require(self.get).delete_items(request.collection, list(request.ids))
        return collection_pb2.DeleteItemsResponse(deleted=deleted, missing_ids=missing)

    @grpc_errors
    async def GetItems(self, request, context):
        found, missing = await _require(self.get).get_items(request.collection, list(request.ids), request.include_vectors)
        return collection_pb2.GetItemsResponse(
            items=[
                collection_pb2.StoredItem(
                    id=it.id, modality=cv.MODALITY_TO_PROTO[it.modality], metadata=it.metadata, text=it.text,
                    vector=cv.vector_to_proto(it.vector) if it.vector is not None else None,
                )
                for it in found
            ],
            missing_ids=missing,
        )


class SearchServicer(search_pb2_grpc.SearchServiceServicer, MeasuredServicer):
    def __init__(self, get: ServiceGetter, metrics: "Metrics | None" = None):
        self.get = get
        self.metrics = metrics

    async def _search(self, request, kind: str, query, **speech_or_vector):
        """``speech_or_vector``: the SearchRequest fields only a speech or vector query has."""
        s = _require(self.get)
        opts = request.options
        hits, out, timing = await s.search(SearchRequest(
            request.collection, kind, query, opts.top_k, cv.modalities_from_proto(opts.modalities),
            where=cv.filter_from_proto(opts.metadata_filter), params=cv.search_params_from_proto(opts),
            **speech_or_vector,
        ))
        result = search_pb2.SearchResult(
            hits=cv.hits_to_proto(hits), space_id=s.embedder.space_id, timing=cv.timing_to_proto(timing)
        )
        return result, out

    @grpc_errors
    async def SearchByText(self, request, context):
        result, out = await self._search(request, TEXT, request.text)
        return search_pb2.SearchByTextResponse(result=result, truncated=bool(out.truncated and out.truncated[0]))

    @grpc_errors
    async def SearchByImage(self, request, context):
        result, _ = await self._search(request, IMAGE, request.image)
        return search_pb2.SearchByImageResponse(result=result)

    @grpc_errors
    async def SearchBySpeech(self, request, context):
        speech = cv.speech_options_from_proto(request.speech_options)
        # SpeechRerank unset: the server's default depth; set: the request's (candidates 0 = off).
        rerank = request.rerank.candidates if request.HasField("rerank") else None
        extras = request.rerank.sound_alike if request.rerank.HasField("sound_alike") else None
        weight = request.sound_alike_weight if request.HasField("sound_alike_weight") else None
        result, out = await self._search(request, SPEECH, cv.audio_from_proto(request.audio), speech=speech,
                                         rerank=rerank, rerank_extras=extras, sound_alike_weight=weight)
        return search_pb2.SearchBySpeechResponse(result=result, transcript=(out.transcripts or [""])[0],
                                                 transcript_logprob=(out.transcript_logprobs or [None])[0])

    @grpc_errors
    async def SearchByVector(self, request, context):
        vector = cv.vector_from_proto(request.vector, "vector")
        result, _ = await self._search(request, VECTOR, vector, vector_space=request.space_id)
        return search_pb2.SearchByVectorResponse(result=result)


class InfoServicer(info_pb2_grpc.InfoServiceServicer, MeasuredServicer):
    def __init__(self, get: ServiceGetter, index_backend: str, device: str, metrics: "Metrics | None" = None):
        self.get = get
        self.metrics = metrics
        self.index_backend = index_backend
        self.device = device

    @grpc_errors
    async def GetInfo(self, request, context):
        s = _require(self.get)
        e, ckpt = s.embedder, s.embedder.checkpoint
        return info_pb2.GetInfoResponse(
            version=xmodal_server.__version__,
            profile=e.profile,
            encoders=[
                info_pb2.EncoderDescription(
                    modality=cv.MODALITY_TO_PROTO[m], name=enc.info.name, architecture=enc.info.architecture,
                    feature_dim=enc.info.feature_dim, source=enc.info.source, head=ckpt.describe(m),
                )
                for m, enc in e.encoders.items()
            ],
            shared_dim=e.shared_dim,
            checkpoint_id=ckpt.id,
            aligned=ckpt.aligned,
            alignment_note=ckpt.note,
            space_id=e.space_id,
            index_backend=s.store.describe_backend(self.index_backend),
            device=self.device,
            max_batch=s.config.max_batch,
            max_top_k=s.config.max_top_k,
            metrics=ckpt.metrics,
            speech_modes=[cv.SPEECH_MODE_TO_PROTO[m] for m in e.speech_modes],
            rerank_gate=e.speech.rerank_gate,
            rerank_sound_alike=s.config.rerank_sound_alike if e.speech.rerank_gate is not None else None,
            rerank_candidates=s.config.rerank_candidates if e.speech.rerank_gate is not None else 0,
            sound_alike_weight=s.config.sound_alike_weight,
        )


def add_all(server: grpc.aio.Server, get: ServiceGetter, index_backend: str, device: str,
            metrics: "Metrics | None" = None) -> list[str]:
    """Register the four xmodal services; returns their full names (for reflection and health)."""
    embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(EmbeddingServicer(get, metrics), server)
    collection_pb2_grpc.add_CollectionServiceServicer_to_server(CollectionServicer(get, metrics), server)
    search_pb2_grpc.add_SearchServiceServicer_to_server(SearchServicer(get, metrics), server)
    info_pb2_grpc.add_InfoServiceServicer_to_server(InfoServicer(get, index_backend, device, metrics), server)
    return [
        d.services_by_name[n].full_name
        for d, n in (
            (embedding_pb2.DESCRIPTOR, "EmbeddingService"),
            (collection_pb2.DESCRIPTOR, "CollectionService"),
            (search_pb2.DESCRIPTOR, "SearchService"),
            (info_pb2.DESCRIPTOR, "InfoService"),
        )
    ]
