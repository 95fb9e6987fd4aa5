"""Dynamic batching: many concurrent small requests become one model (or index) call.

A ``Batcher`` owns a bounded FIFO queue and one collector task. A request is admitted whole or refused
at once (``ResourceExhausted``); the collector waits until the expected number of items (see below) is
queued or ``max_delay`` has passed, takes the oldest request and every later one with the same key (only
requests with equal options may share a model call) up to ``max_size`` items, runs ``fn`` once on a
worker thread and resolves each request's future with its own slice of the results.

Guarantees, in the spirit of Ray Serve's ``@serve.batch`` (and against the failure mode of a worker that
logs and re-raises without touching its futures):

* every future is resolved: with its results, with the batch's error, or with ``Unavailable`` on close;
* a request whose caller cancelled or whose deadline passed is dropped before any compute;
* inputs are validated by the caller *before* ``submit``, so only good items share a batch; if ``fn``
  still raises, every request of that batch gets the error (a domain error as is, anything else as
  ``Internal``, logged once);
* one batch per batcher is in flight: while it runs, new requests accumulate into the next batch,
  which is what makes throughput grow with load instead of queueing many tiny calls;
* the batcher expects as many items as were in flight when the last batch finished (its items plus
  those queued meanwhile) and waits, at most ``max_delay`` after the model became free, for that many.
  Without this, closed-loop clients settle into two half-size groups that alternate on the model
  ("ping-pong"): the group just answered comes back a few milliseconds too late for the next batch,
  forever. A lone caller expects only itself, so it never waits.

``Unbatched`` has the same interface and runs one call per request (``batching = false``): the baseline
of the benchmark and an escape hatch.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import Counter, deque
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Protocol, Sequence

from .errors import DeadlineExceeded, Internal, ResourceExhausted, Unavailable, XmodalError

log = logging.getLogger(__name__)

# fn(items, key) -> one result per item, in order. Runs on the executor, never on the event loop.
BatchFn = Callable[[list[Any], Hashable], Sequence[Any]]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("xmodal_deadline", default=None)


@contextmanager
def request_deadline(seconds_left: float | None) -> Iterator[None]:
    """Submissions made inside this block carry the caller's deadline (``time.monotonic()`` based).

    A context variable rather than a parameter: the API layer knows the gRPC deadline, the batcher
    acts on it, and nothing in between needs to pass it along.
    """
    token = _deadline.set(None if seconds_left is None else time.monotonic() + seconds_left)
    try:
        yield
    finally:
        _deadline.reset(token)


class BatchObserver(Protocol):
    """What a batcher reports (metrics.py implements it for Prometheus)."""

    def queued(self, depth: int) -> None: ...

    def batch(self, size: int, seconds: float) -> None: ...


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: Counter = field(default_factory=Counter)  # batch size -> how many batches had it
    rejected: int = 0  # refused: queue full
    dropped: int = 0  # never computed: caller cancelled or deadline passed
    failed_batches: int = 0


@dataclass(eq=False)
class _Request:
    items: list[Any]
    key: Hashable
    future: asyncio.Future
    deadline: float | None
    enqueued: float


def _expired(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline


def _check_deadline(name: str) -> float | None:
    deadline = _deadline.get()
    if _expired(deadline, time.monotonic()):
        raise DeadlineExceeded(f"the deadline passed before the {name} request could be queued")
    return deadline


def _batch_error(name: str, n: int, error: Exception) -> XmodalError:
    """The error each request of a failed batch gets: its own copy (tracebacks must not be shared)."""
    if isinstance(error, XmodalError):
        return type(error)(str(error))
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":  # incl. torch.cuda's
        return ResourceExhausted(f"out of memory running a {name} batch of {n} items; retry with fewer or smaller inputs")
    return Internal(f"the {name} model failed on a batch of {n} items; see server logs")


class _Runner:
    def __init__(self, name: str, fn: BatchFn, executor: Executor | None, observer: BatchObserver | None):
        self.name = name
        self.fn = fn
        self.executor = executor
        self.observer = observer
        self.stats = BatchStats()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the server is shutting down; retry on another instance")

    def _record(self, size: int, seconds: float) -> None:
        self.stats.batches += 1
        self.stats.items += size
        self.stats.sizes[size] += 1
        if self.observer is not None:
            self.observer.batch(size, seconds)


class Unbatched(_Runner):
    """One ``fn`` call per request (no queue of its own: the executor's is the queue)."""

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> list[Any]:
        self._check_open()
        _check_deadline(self.name)
        items = list(items)
        t0 = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self.fn, items, key)
        except Exception as e:
            self.stats.failed_batches += 1
            if not isinstance(e, XmodalError):
                log.exception("%s call failed on %d items", self.name, len(items))
            raise _batch_error(self.name, len(items), e) from e
        self._record(len(items), time.perf_counter() - t0)
        return list(results)

    async def close(self) -> None:
        self._closed = True


class Batcher(_Runner):
    def __init__(self, name: str, fn: BatchFn, executor: Executor | None, *, max_size: int, max_delay: float,
                 queue_size: int, observer: BatchObserver | None = None):
        super().__init__(name, fn, executor, observer)
        if max_size < 1 or queue_size < 1 or max_delay < 0:
            raise ValueError("max_size and queue_size must be >= 1 and max_delay >= 0")
        self.max_size = max_size
        self.max_delay = max_delay
        self.queue_size = queue_size
        self._queue: deque[_Request] = deque()
        self._depth = 0  # items in the queue (cancelled ones included until the collector skips them)
        self._running = 0  # items in the batch being computed
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._full: asyncio.Event | None = None  # set when the queue holds ``_target`` items
        self._expect = 1  # items in flight when the last batch finished, capped at max_size
        self._target = max_size  # what the collector is waiting for right now
        self._free_since = 0.0  # time.monotonic() when the last batch finished

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def pending(self) -> int:
        """Items queued or being computed."""
        return self._depth + self._running

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> list[Any]:
        """Queue one request's (already validated) items; returns their results in order."""
        self._check_open()
        deadline = _check_deadline(self.name)
        n = len(items)
        # A request larger than the whole queue is still admitted into an empty one, so that
        # queue_size never has to be tuned against the per-request limit.
        if self._depth and self._depth + n > self.queue_size:
            self.stats.rejected += 1
            raise ResourceExhausted(
                f"the {self.name} queue is full ({self._depth} items waiting, limit {self.queue_size}); "
                "retry with backoff"
            )
        loop = asyncio.get_running_loop()
        if self._task is None:  # started lazily: the batcher is built off the event loop
            self._wake, self._full = asyncio.Event(), asyncio.Event()
            self._task = loop.create_task(self._collect(), name=f"xmodal-batcher-{self.name}")
        future = loop.create_future()
        self._queue.append(_Request(list(items), key, future, deadline, time.monotonic()))
        self._set_depth(self._depth + n)
        self._wake.set()
        if self._depth >= self._target:
            self._full.set()
        # Cancelling the awaiting task cancels this future too; the collector then skips the request.
        return await future

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        if self.observer is not None:
            self.observer.queued(depth)

    async def _collect(self) -> None:
        assert self._wake is not None and self._full is not None
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                self._target = min(self.max_size, self._expect)
                if self._depth < self._target and self.max_delay > 0:
                    # Wait for the expected batch, at most max_delay after the oldest request came or
                    # the model became free, whichever is later: a request never waits longer than
                    # the model call before it plus max_delay.
                    start = max(self._queue[0].enqueued, self._free_since)
                    remaining = start + self.max_delay - time.monotonic()
                    if remaining > 0:
                        self._full.clear()
                        try:
                            async with asyncio.timeout(remaining):
                                await self._full.wait()
                        except TimeoutError:
                            pass
                batch = self._take()
                if batch:
                    await self._run(batch)
        finally:
            for req in self._queue:  # on close: nobody is left waiting forever
                if not req.future.done():
                    req.future.set_exception(Unavailable("the server is shutting down; retry on another instance"))
            self._queue.clear()
            self._set_depth(0)

    def _take(self) -> list[_Request]:
        """The oldest live request and later ones with its key, up to max_size items; drop dead ones."""
        now = time.monotonic()
        batch: list[_Request] = []
        rest: deque[_Request] = deque()
        size, depth = 0, self._depth
        for req in self._queue:
            n = len(req.items)
            if req.future.done():  # the caller cancelled (or went away)
                depth -= n
                self.stats.dropped += 1
            elif _expired(req.deadline, now):
                depth -= n
                self.stats.dropped += 1
                req.future.set_exception(DeadlineExceeded(f"the deadline passed while queued for the {self.name} model"))
            elif not batch or (req.key == batch[0].key and size + n <= self.max_size):
                batch.append(req)
                size += n
                depth -= n
            else:
                rest.append(req)
        self._queue = rest
        self._set_depth(depth)
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        items = [it for req in batch for it in req.items]
        t0 = time.perf_counter()
        self._running = len(items)
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self._call, items, batch[0].key)
            if len(results) != len(items):
                raise Internal(f"{self.name}: the batch function returned {len(results)} results for {len(items)} items")
        except asyncio.CancelledError:
            for req in batch:
                if not req.future.done():
                    req.future.set_exception(Unavailable("the server is shutting down; retry on another instance"))
            raise
        except Exception as e:
            self.stats.failed_batches += 1
            if not isinstance(e, XmodalError):
                log.exception("%s batch of %d items (%d requests) failed", self.name, len(items), len(batch))
            for req in batch:
                if not req.future.done():
                    req.future.set_exception(_batch_error(self.name, len(items), e))
            return
        finally:
            self._running = 0
            self._free_since = time.monotonic()
            self._expect = max(1, min(self.max_size, len(items) + self._depth))
        self._record(len(items), time.perf_counter() - t0)
        start = 0
        for req in batch:
            end = start + len(req.items)
            if not req.future.done():  # a caller that left meanwhile just misses its answer
                req.future.set_result(list(results[start:end]))
            start = end

    def _call(self, items: list[Any], key: Hashable) -> list[Any]:
        # Only a single request larger than max_size gets here with more items: keep calls bounded.
        out: list[Any] = []
        for i in range(0, len(items), self.max_size):
            out.extend(self.fn(items[i : i + self.max_size], key))
        return out

    async def close(self) -> None:
        """Refuse new requests and resolve every queued one with ``Unavailable``."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
