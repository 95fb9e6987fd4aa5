"""Sync and asyncio clients. Both share one table of calls (``_Calls``); only ``_call`` differs, so
the two can never drift apart.

Security options, the same for both: ``tls_ca`` (PEM root certificate of the server's CA; ``tls=True``
alone trusts the system's roots), ``tls_cert`` + ``tls_key`` (the client's certificate for mutual TLS),
``tls_server_name`` (the name to verify when it differs from the address's host), and ``token`` (sent
as ``authorization: Bearer <token>`` metadata on every call).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from xmodal import _messages as M
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

MAX_MESSAGE = 64 * 2**20


class _Calls:
    timeout: float | None

    def _stubs(self, channel) -> None:
        self._embedding = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        self._collections = collection_pb2_grpc.CollectionServiceStub(channel)
        self._search = search_pb2_grpc.SearchServiceStub(channel)
        self._info = info_pb2_grpc.InfoServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)

    def _call(self, method: Callable, request: Any, parse: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    # -- info & health ------------------------------------------------------------------------------
    def info(self):
        """The server's GetInfoResponse (profile, encoders, space, alignment, limits)."""
        return self._call(self._info.GetInfo, info_pb2.GetInfoRequest(), lambda r: r)

    def health(self, service: str = "") -> str:
        """"SERVING", "NOT_SERVING", ... for the whole server ("") or one service."""
        return self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service),
                          lambda r: health_pb2.HealthCheckResponse.ServingStatus.Name(r.status))

    # -- embedding ----------------------------------------------------------------------------------
    def embed_text(self, texts: Sequence[str]) -> M.Embeddings:
        return self._call(self._embedding.EmbedText, embedding_pb2.EmbedTextRequest(texts=list(texts)),
                          lambda r: M.embeddings(r.result))

    def embed_image(self, images: Sequence[M.Media]) -> M.Embeddings:
        req = embedding_pb2.EmbedImageRequest(images=[M.read_media(i) for i in images])
        return self._call(self._embedding.EmbedImage, req, lambda r: M.embeddings(r.result))

    def embed_speech(self, audios: Sequence[M.Media], pcm_sample_rate: int = 0, mode: str = "",
                     direct_weight: float | None = None) -> M.Embeddings:
        req = embedding_pb2.EmbedSpeechRequest(audios=[M.audio(a, pcm_sample_rate) for a in audios],
                                               speech_options=M.speech_options(mode, direct_weight))
        return self._call(self._embedding.EmbedSpeech, req, lambda r: M.embeddings(r.result))

    # -- collections --------------------------------------------------------------------------------
    def create_collection(self, name: str, description: str = "", index_type: str = "") -> dict:
        """``index_type``: "exact", "ivf", "hnsw", "auto" or "" (the server's default)."""
        req = collection_pb2.CreateCollectionRequest(name=name, description=description,
                                                     index_type=M.index_type(index_type))
        return self._call(self._collections.CreateCollection, req, lambda r: M.collection_dict(r.collection))

    def get_collection(self, name: str) -> dict:
        """One collection: description, index type and state, item_count."""
        req = collection_pb2.GetCollectionRequest(name=name)
        return self._call(self._collections.GetCollection, req, lambda r: M.collection_dict(r.collection))

    def list_collections(self) -> list[dict]:
        return self._call(self._collections.ListCollections, collection_pb2.ListCollectionsRequest(),
                          lambda r: [M.collection_dict(c) for c in r.collections])

    def delete_collection(self, name: str) -> None:
        return self._call(self._collections.DeleteCollection, collection_pb2.DeleteCollectionRequest(name=name),
                          lambda r: None)

    def reindex_collection(self, name: str) -> tuple[dict, int]:
        """Re-embed a collection in the server's current space (after a checkpoint change)."""
        req = collection_pb2.ReindexCollectionRequest(name=name)
        return self._call(self._collections.ReindexCollection, req, lambda r: (M.collection_dict(r.collection), r.reindexed))

    def add_items(self, collection: str, items: Sequence[collection_pb2.Item]) -> int:
        """Items from ``xmodal.Item.text/image/speech/vector``. All or nothing; durable on return."""
        req = collection_pb2.AddItemsRequest(collection=collection, items=list(items))
        return self._call(self._collections.AddItems, req, lambda r: r.added)

    def upsert_items(self, collection: str, items: Sequence[collection_pb2.Item]) -> tuple[int, int]:
        """Like ``add_items``, replacing items whose id exists: (added, of which replaced)."""
        req = collection_pb2.AddItemsRequest(collection=collection, items=list(items), upsert=True)
        return self._call(self._collections.AddItems, req, lambda r: (r.added, r.replaced))

    def delete_items(self, collection: str, ids: Sequence[str]) -> tuple[int, list[str]]:
        req = collection_pb2.DeleteItemsRequest(collection=collection, ids=list(ids))
        return self._call(self._collections.DeleteItems, req, lambda r: (r.deleted, list(r.missing_ids)))

    def get_items(self, collection: str, ids: Sequence[str], include_vectors: bool = False) -> tuple[list[dict], list[str]]:
        req = collection_pb2.GetItemsRequest(collection=collection, ids=list(ids), include_vectors=include_vectors)
        return self._call(self._collections.GetItems, req,
                          lambda r: ([M.stored_item_dict(i) for i in r.items], list(r.missing_ids)))

    # -- search -------------------------------------------------------------------------------------
    # Every search takes, by keyword: ``where`` (metadata filter: {"color": "red", "size": ["S", "M"]} =
    # color is red AND size is S or M; the top-k is taken among matching items) and, for ANN indexes,
    # ``nprobe`` (IVF) / ``ef_search`` (HNSW), 0 = the collection's default.
    def search_text(self, collection: str, text: str, top_k: int = 10, modalities: Iterable[str] = (), *,
                    where: M.Where | None = None, nprobe: int = 0, ef_search: int = 0) -> M.SearchResult:
        req = search_pb2.SearchByTextRequest(collection=collection, text=text,
                                             options=M.options(top_k, modalities, where, nprobe, ef_search))
        return self._call(self._search.SearchByText, req, M.search_result)

    def search_image(self, collection: str, image: M.Media, top_k: int = 10, modalities: Iterable[str] = (), *,
                     where: M.Where | None = None, nprobe: int = 0, ef_search: int = 0) -> M.SearchResult:
        req = search_pb2.SearchByImageRequest(collection=collection, image=M.read_media(image),
                                              options=M.options(top_k, modalities, where, nprobe, ef_search))
        return self._call(self._search.SearchByImage, req, M.search_result)

    def search_speech(self, collection: str, audio: M.Media, top_k: int = 10, modalities: Iterable[str] = (),
                      pcm_sample_rate: int = 0, mode: str = "", direct_weight: float | None = None, *,
                      where: M.Where | None = None, nprobe: int = 0, ef_search: int = 0, rerank: int | None = None,
                      sound_alike: int | None = None, sound_alike_weight: float | None = None) -> M.SearchResult:
        """``rerank`` (1..64; 0 = off; None: the server's default, ``info().rerank_candidates``): the speech
        model scores the texts of that many best hits against the audio and moves the ones said verbatim to the
        top, which matters for collections of utterances (commands, canonical questions). Each scored hit then
        has ``transcript_logprob``. ``sound_alike`` (0..64, with an explicit ``rerank``; None: the server's
        default, ``info().rerank_sound_alike``): also score that many texts that sound like the transcript, for
        misheard names the search itself misses. ``sound_alike_weight`` (0..10; None: the
        server's default, ``info().sound_alike_weight``): hits are ranked by score + weight x ``Hit.sound_alike``
        (how much their text sounds like the transcript); 0 = the vector search alone."""
        if rerank is None and sound_alike is not None:
            raise ValueError("sound_alike applies to an explicit rerank: pass rerank=K too "
                             "(the server's default depth is info().rerank_candidates)")
        req = search_pb2.SearchBySpeechRequest(collection=collection, audio=M.audio(audio, pcm_sample_rate),
                                               options=M.options(top_k, modalities, where, nprobe, ef_search),
                                               speech_options=M.speech_options(mode, direct_weight),
                                               sound_alike_weight=sound_alike_weight)
        if rerank is not None:  # unset: the server's default depth
            req.rerank.CopyFrom(search_pb2.SpeechRerank(candidates=rerank, sound_alike=sound_alike))
        return self._call(self._search.SearchBySpeech, req, M.search_result)

    def search_vector(self, collection: str, vector: Sequence[float], top_k: int = 10, modalities: Iterable[str] = (),
                      space_id: str = "", *, where: M.Where | None = None, nprobe: int = 0,
                      ef_search: int = 0) -> M.SearchResult:
        """Nearest items to a vector already in the shared space (an embedding, a stored item's vector, a
        profile averaged from several). ``space_id``: where the vector came from; the server refuses it
        with FAILED_PRECONDITION when it is not the collection's space."""
        req = search_pb2.SearchByVectorRequest(collection=collection, vector=M.pack_vector(vector), space_id=space_id,
                                               options=M.options(top_k, modalities, where, nprobe, ef_search))
        return self._call(self._search.SearchByVector, req, M.search_result)

    def search_like(self, collection: str, item_id: str, top_k: int = 10, modalities: Iterable[str] = (), *,
                    where: M.Where | None = None, nprobe: int = 0, ef_search: int = 0) -> M.SearchResult:
        """"More like this": the items nearest to a stored item (itself excluded), by its stored vector."""
        found, missing = self.get_items(collection, [item_id], include_vectors=True)
        if missing:
            raise M.XmodalClientError(grpc.StatusCode.NOT_FOUND, f"collection {collection!r} has no item {item_id!r}")
        result = self.search_vector(collection, found[0]["vector"], top_k + 1, modalities, where=where,
                                    nprobe=nprobe, ef_search=ef_search)
        result.hits = [h for h in result.hits if h.id != item_id][:top_k]
        return result


_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]

PathLike = str | os.PathLike


def _read(what: str, path: PathLike) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise OSError(f"{what} {path}: cannot read it: {e.strerror or e}") from None


class _Connection:
    """Channel credentials, options and per-call metadata from the security options (see module doc)."""

    def __init__(self, tls: bool, tls_ca: PathLike | None, tls_cert: PathLike | None, tls_key: PathLike | None,
                 tls_server_name: str | None, token: str | None):
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("tls_cert and tls_key go together: both for mutual TLS, or neither")
        self.options = list(_OPTIONS)
        if tls_server_name:
            self.options.append(("grpc.ssl_target_name_override", tls_server_name))
        self.credentials = None
        if tls or tls_ca or tls_cert or tls_server_name:
            self.credentials = grpc.ssl_channel_credentials(
                root_certificates=_read("TLS CA file", tls_ca) if tls_ca else None,
                private_key=_read("TLS key file", tls_key) if tls_key else None,
                certificate_chain=_read("TLS certificate file", tls_cert) if tls_cert else None,
            )
        token = (token or "").strip()
        if token and (not token.isprintable() or any(c.isspace() for c in token)):
            raise ValueError("the token must be one word of printable characters")
        # Plain metadata rather than call credentials: gRPC refuses call credentials on plaintext
        # channels, and a token on a plaintext localhost connection is a legitimate setup.
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()


class Client(_Calls):
    """Blocking client. ``with Client("localhost:50051") as c: c.search_text("faq", "refund?")``."""

    def __init__(self, address: str | None = None, *, timeout: float | None = 60.0, tls: bool = False,
                 tls_ca: PathLike | None = None, tls_cert: PathLike | None = None, tls_key: PathLike | None = None,
                 tls_server_name: str | None = None, token: str | None = None):
        self.address = M.resolve_address(address)
        self.timeout = timeout
        conn = _Connection(tls, tls_ca, tls_cert, tls_key, tls_server_name, token)
        self._metadata = conn.metadata
        self._channel = (grpc.secure_channel(self.address, conn.credentials, options=conn.options)
                         if conn.credentials else grpc.insecure_channel(self.address, options=conn.options))
        self._stubs(self._channel)

    def _call(self, method, request, parse):
        try:
            return parse(method(request, timeout=self.timeout, metadata=self._metadata))
        except grpc.RpcError as e:
            raise M.XmodalClientError(e.code(), e.details()) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(_Calls):
    """asyncio client with the same methods, each awaitable: ``await c.search_text(...)``."""

    def __init__(self, address: str | None = None, *, timeout: float | None = 60.0, tls: bool = False,
                 tls_ca: PathLike | None = None, tls_cert: PathLike | None = None, tls_key: PathLike | None = None,
                 tls_server_name: str | None = None, token: str | None = None):
        self.address = M.resolve_address(address)
        self.timeout = timeout
        conn = _Connection(tls, tls_ca, tls_cert, tls_key, tls_server_name, token)
        self._metadata = conn.metadata
        self._channel = (grpc.aio.secure_channel(self.address, conn.credentials, options=conn.options)
                         if conn.credentials else grpc.aio.insecure_channel(self.address, options=conn.options))
        self._stubs(self._channel)

    async def _call(self, method, request, parse):
        try:
            return parse(await method(request, timeout=self.timeout, metadata=self._metadata))
        except grpc.RpcError as e:
            raise M.XmodalClientError(e.code(), e.details()) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
