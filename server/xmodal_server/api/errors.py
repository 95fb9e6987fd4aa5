"""The single place where domain errors become gRPC statuses.

Every servicer method is wrapped by ``@grpc_errors``: an ``XmodalError`` aborts with the code from
``errors.STATUS_BY_ERROR`` and its message; anything else is a bug, logged with its traceback and
reported as INTERNAL without leaking internals to the caller.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable

import grpc

from ..errors import XmodalError, status_for

log = logging.getLogger(__name__)


def grpc_errors(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except XmodalError as e:
            await context.abort(status_for(e), str(e))
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception:
            log.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}; see server logs")

    return wrapper
