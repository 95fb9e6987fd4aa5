"""The single place where domain errors become gRPC statuses, and where each RPC is measured.

Every servicer method is wrapped by ``@grpc_errors``: an ``XmodalError`` aborts with the code from
``STATUS_BY_ERROR`` (below) and its message; anything else is a bug, logged with its traceback and
reported as INTERNAL without leaking internals to the caller. Because this wrapper sees every outcome,
it also records the RPC metrics (count by method and status code, latency) and hands the call's
deadline to the batchers (``batching.request_deadline``).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import grpc

from .. import errors as E
from ..batching import request_deadline
from ..errors import XmodalError
from ..logs import request_id

if TYPE_CHECKING:
    from ..metrics import Metrics

log = logging.getLogger(__name__)

# The one table from the domain's error vocabulary (``errors.py``) to gRPC status codes.
STATUS_BY_ERROR: dict[type[E.XmodalError], grpc.StatusCode] = {
    E.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    E.NotFound: grpc.StatusCode.NOT_FOUND,
    E.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    E.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    E.Unavailable: grpc.StatusCode.UNAVAILABLE,
    E.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    E.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    E.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    E.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    E.DataLoss: grpc.StatusCode.DATA_LOSS,
    E.Internal: grpc.StatusCode.INTERNAL,
}


def status_for(error: BaseException) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL


class MeasuredServicer:
    """Base of the servicers: where ``@grpc_errors`` finds the metrics to record into (None: none)."""

    metrics: "Metrics | None" = None


def grpc_errors(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: MeasuredServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        t0 = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            with request_deadline(context.time_remaining()):
                return await method(self, request, context)
        except XmodalError as e:
            code = status_for(e)
            await context.abort(code, str(e))
        except (grpc.aio.AbortError, grpc.RpcError):
            set_code = context.code()  # a servicer that aborted by itself
            code = set_code if isinstance(set_code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
            raise
        except asyncio.CancelledError:
            # gRPC cancels the handler when the caller cancels or its deadline passes.
            remaining = context.time_remaining()
            code = grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL,
                                f"internal error in {name}; see server logs (request id {request_id.get()})")
        finally:
            if self.metrics is not None:
                self.metrics.rpc(name, code, time.perf_counter() - t0)

    return wrapper
