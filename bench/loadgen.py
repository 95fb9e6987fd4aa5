"""A closed-loop asyncio gRPC load generator for loopback benchmarks.

``concurrency`` clients each send one request, wait for its answer, and send the next, until
``requests`` answers have come back or ``seconds`` have passed (both bounds always apply). With ``backoff``, a
client refused with RESOURCE_EXHAUSTED waits that long before its next call, as a well-behaved client does:
without it, refusals that come back at once turn the clients into a flood of calls. Requests are
built before the clock starts and sent through the raw generated stubs, so the client's own cost per
call is as small as Python gRPC allows.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import grpc
import numpy as np

MAX_MESSAGE = 64 * 2**20


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    note: str = ""  # e.g. the server's mean batch size during the run

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return len(self.latencies_ms) / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        address, options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    )


async def run_load(method: Callable[..., Any], requests: Sequence[Any], *, concurrency: int, total: int,
                   seconds: float, timeout: float = 300.0, progress: Callable[[int], None] | None = None,
                   backoff: float = 0.0) -> LoadResult:
    """Send up to ``total`` calls of ``method`` (a unary-unary aio stub method), cycling through
    ``requests``, from ``concurrency`` clients; failed calls are counted by status code."""
    pool = itertools.cycle(requests)
    result = LoadResult(concurrency, 0.0)
    issued = 0
    start = time.perf_counter()
    stop_at = start + seconds

    async def client() -> None:
        nonlocal issued
        while issued < total and time.perf_counter() < stop_at:
            issued += 1
            t0 = time.perf_counter()
            try:
                await method(next(pool), timeout=timeout)
            except grpc.aio.AioRpcError as e:
                result.errors[e.code().name] = result.errors.get(e.code().name, 0) + 1
                if backoff and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    await asyncio.sleep(backoff)
            else:
                result.latencies_ms.append((time.perf_counter() - t0) * 1e3)
            if progress is not None:
                progress(1)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result
