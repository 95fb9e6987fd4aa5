"""Bearer-token authentication with two scopes, as a gRPC server interceptor.

Callers send metadata ``authorization: Bearer <token>``. A ``read`` token may embed, search, get, list
and ask for info; a ``write`` token may also create, delete, add to and reindex collections. Health
and reflection need no token: orchestrator probes and ``grpcurl list`` must work without secrets.

Tokens never reach a log, an error message or a span: the table keeps only SHA-256 digests, a failed
check says which rule failed (never what was sent), and the file parser names lines by number.
Comparing fixed-length digests with ``hmac.compare_digest`` against every entry, without stopping at
a match, makes the check take the same time whichever token (if any) matches.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

import grpc

from ..errors import InvalidInput, PermissionDenied, Unauthenticated, XmodalError
from .errors import status_for
from .interceptors import observe

if TYPE_CHECKING:
    from ..metrics import Metrics

log = logging.getLogger(__name__)

READ, WRITE = "read", "write"
SCOPES = (READ, WRITE)

# Every RPC of xmodal.v1 is listed in exactly one of these (tests/unit/test_auth.py checks the protos),
# so that a new RPC needs a decision; one missing from both still requires `write` (fail closed).
WRITE_METHODS = frozenset({
    "/xmodal.v1.CollectionService/CreateCollection",
    "/xmodal.v1.CollectionService/DeleteCollection",
    "/xmodal.v1.CollectionService/AddItems",
    "/xmodal.v1.CollectionService/DeleteItems",
    "/xmodal.v1.CollectionService/ReindexCollection",
})
READ_METHODS = frozenset({
    "/xmodal.v1.EmbeddingService/EmbedText",
    "/xmodal.v1.EmbeddingService/EmbedImage",
    "/xmodal.v1.EmbeddingService/EmbedSpeech",
    "/xmodal.v1.CollectionService/ListCollections",
    "/xmodal.v1.CollectionService/GetCollection",
    "/xmodal.v1.CollectionService/GetItems",
    "/xmodal.v1.SearchService/SearchByText",
    "/xmodal.v1.SearchService/SearchByImage",
    "/xmodal.v1.SearchService/SearchBySpeech",
    "/xmodal.v1.SearchService/SearchByVector",
    "/xmodal.v1.InfoService/GetInfo",
})
EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
MIN_TOKEN_CHARS = 16


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenTable:
    """Digests of the accepted tokens and their scopes."""

    def __init__(self, entries: Sequence[tuple[bytes, str]]):
        self._entries = tuple(entries)

    def scope_of(self, token: str) -> str | None:
        presented = _digest(token)
        found = None
        for digest, scope in self._entries:  # no early exit: constant time whatever matches
            if hmac.compare_digest(presented, digest) and found is None:
                found = scope
        return found

    def __len__(self) -> int:
        return len(self._entries)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for _, scope in self._entries if scope == s) for s in SCOPES}

    def __repr__(self) -> str:
        return f"TokenTable({self.counts()})"


def parse_tokens(text: str, source: str = "auth_tokens_file") -> TokenTable:
    """Lines ``<token> <scope>``, optionally followed by `` # comment``; ``#`` comment lines and blank lines
    are skipped. Errors name the line, never its content (it holds a secret)."""
    entries: list[tuple[bytes, str]] = []
    first_line: dict[bytes, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        # A comment may follow the scope; tokens hold no whitespace, so " #" can't be inside one.
        comment = next((i for i, part in enumerate(parts) if i and part.startswith("#")), len(parts))
        parts = parts[:comment]
        if len(parts) != 2:
            raise InvalidInput(f"{source} line {n}: expected '<token> <scope>' (2 fields), found {len(parts)}")
        token, scope = parts
        if scope not in SCOPES:
            raise InvalidInput(f"{source} line {n}: scope must be 'read' or 'write'")
        digest = _digest(token)
        if digest in first_line:
            raise InvalidInput(f"{source} line {n}: the same token as line {first_line[digest]}")
        first_line[digest] = n
        if len(token) < MIN_TOKEN_CHARS:
            log.warning("%s line %d: token shorter than %d characters; use a long random one "
                        "(e.g. openssl rand -hex 32)", source, n, MIN_TOKEN_CHARS)
        entries.append((digest, scope))
    if not entries:
        raise InvalidInput(f"{source}: no tokens in it; every call would be refused "
                           "(leave auth_tokens_file empty to turn authentication off)")
    return TokenTable(entries)


def load_tokens(path: str) -> TokenTable:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"config auth_tokens_file={path!r}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    return parse_tokens(text, f"config auth_tokens_file={path!r}")


def required_scope(method: str) -> str | None:
    """None: no token needed (health, reflection)."""
    if method.startswith(EXEMPT_PREFIXES):
        return None
    return READ if method in READ_METHODS else WRITE


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def check(tokens: TokenTable, method: str, metadata) -> None:
    """Raise Unauthenticated / PermissionDenied, or return when the call may go on."""
    need = required_scope(method)
    if need is None:
        return
    token = bearer_token(metadata)
    if token is None:
        raise Unauthenticated("no bearer token: send metadata 'authorization: Bearer <token>' "
                              "(xmodal --token, or XMODAL_TOKEN)")
    scope = tokens.scope_of(token)
    if scope is None:
        raise Unauthenticated("the bearer token is not valid on this server")
    if need == WRITE and scope != WRITE:
        raise PermissionDenied(f"{method.rsplit('/', 1)[-1]} changes data and needs a token with scope 'write'; "
                               f"this token has scope '{scope}'")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses a call before its handler runs (the request is not even deserialized)."""

    def __init__(self, tokens: TokenTable, metrics: "Metrics | None" = None, tracer: Any = None):
        self.tokens = tokens
        self.metrics = metrics
        self.tracer = tracer  # refusals get a request id and a span like served calls (interceptors.observe)

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        try:
            check(self.tokens, details.method, details.invocation_metadata)
        except XmodalError as e:
            handler = await continuation(details)
            return None if handler is None else self._refusal(handler, details.method, e)
        return await continuation(details)

    def _refusal(self, handler: grpc.RpcMethodHandler, method: str, error: XmodalError) -> grpc.RpcMethodHandler:
        code, name, metrics = status_for(error), method.rsplit("/", 1)[-1], self.metrics

        async def refuse(request, context: grpc.aio.ServicerContext) -> None:
            t0 = time.perf_counter()
            # The reason is one of the fixed messages of ``check``: never the token that was sent.
            log.info("refused %s from %s: %s: %s", method, context.peer(), code.name, error)
            if metrics is not None:
                metrics.rpc(name, code, time.perf_counter() - t0)
            await context.abort(code, str(error))

        return observe(_same_kind(handler, refuse), method, self.tracer)


def _same_kind(handler: grpc.RpcMethodHandler, behavior: Callable[..., Awaitable[None]]) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as ``handler`` that runs ``behavior`` on the raw request."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior)
    return grpc.unary_unary_rpc_method_handler(behavior)
