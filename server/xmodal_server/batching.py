"""Dynamic batching: many concurrent small requests become one model (or index) call.

A ``Batcher`` owns a bounded FIFO queue and one collector task. A request is admitted whole or refused at
once (below: by items, by estimated seconds of work, by its deadline); the collector waits until the expected
number of items (see below) is queued or ``max_delay`` has passed, takes the oldest request and every later
one with the same key (only requests with equal options may share a model call) up to ``max_size`` items,
runs ``fn`` once on a worker thread and resolves each request's future with its own slice of the results.

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
* batchers that share one executor (the model thread: the encoders and the re-ranking scorer) share a
  ``Worker``, and "the model became free" means free of every one of them: while another stage's call runs,
  a batch could not start anyway, so the wait for the expected items goes on. Without this a speech search
  (speech batch, then re-ranking batch, on one thread) ping-pongs again: the group in re-ranking comes back
  long after the next speech batch stopped waiting (mean batch 2.7 of 8 closed-loop callers).

Admission is by time as well as by items. Each item has a cost (``cost``: for speech its audio's seconds,
by default 1 unit), and the batcher measures its service rate: an EWMA of a batch's wall-seconds per unit of
cost, taken from the first batch on (no guess before that: until one batch is measured only the item limit
applies). A request's wait is then estimated as (cost queued ahead + what is left of the batch in flight) x
rate, and a request is refused at once rather than left to time out in the queue (the estimate can be wrong:
one that still expires there is dropped before compute, as above):

* ``ResourceExhausted`` when the queue already holds more than ``max_wait`` seconds of work, or more than
  ``queue_size`` items (a request into an empty queue is admitted whatever its size, so neither limit has
  to be tuned against the per-request ones);
* ``DeadlineExceeded`` when it could not finish before its deadline (queued work + its own, x rate). Not
  just "could not start": a request that starts but finishes late still takes the model from others for an
  answer its caller no longer waits for. For the same reason a request of several stages reserves the
  later stages' estimated time in its earlier ones (``reserve_after``).

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
# cost(item) -> units of work (> 0); the batcher learns seconds per unit, so only ratios between items matter.
CostFn = Callable[[Any], float]

RATE_WEIGHT = 0.2  # EWMA weight of the newest batch: a batch's speed swings with its mix (clip lengths, batch
# size) and with the other encoders sharing the model thread; 0.2 follows a real change within ~5 batches.

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("xmodal_deadline", default=None)
_reserved: contextvars.ContextVar[float] = contextvars.ContextVar("xmodal_reserved", default=0.0)


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


@contextmanager
def reserve_after(seconds: float | None) -> Iterator[None]:
    """Submissions made inside this block leave ``seconds`` before the caller's deadline to later stages of the
    same request (SearchBySpeech: the re-ranking after the embedding). Admission then refuses at once a request
    whose first stage would fit its deadline but whose whole would not, instead of spending the first stage's
    model time on an answer that comes too late."""
    if not seconds or seconds <= 0:
        yield
        return
    token = _reserved.set(_reserved.get() + seconds)
    try:
        yield
    finally:
        _reserved.reset(token)


class BatchObserver(Protocol):
    """What a batcher reports (metrics.py implements it for Prometheus)."""

    def queued(self, depth: int) -> None: ...

    def batch(self, size: int, seconds: float) -> None: ...


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: Counter = field(default_factory=Counter)  # batch size -> how many batches had it
    rejected: int = 0  # refused: queue full (items or estimated seconds)
    refused_late: int = 0  # refused: the estimated wait would run past the request's deadline
    dropped: int = 0  # never computed: caller cancelled or deadline passed
    failed_batches: int = 0


@dataclass(eq=False)
class _Request:
    items: list[Any]
    key: Hashable
    future: asyncio.Future
    deadline: float | None
    enqueued: float
    cost: float


class Worker:
    """An executor and what its batchers need to know of it: how many calls are on it and when it last became
    free. Batchers given the same ``Worker`` wait for one another's calls (above)."""

    def __init__(self, executor: Executor | None):
        self.executor = executor
        self.running = 0
        self.free_since = 0.0  # time.monotonic() when the last call on it finished
        self._listeners: list[asyncio.Event] = []

    def listen(self, event: asyncio.Event) -> None:
        """Set ``event`` each time a call on this worker starts or finishes."""
        self._listeners.append(event)

    async def call(self, fn: Callable, *args: Any) -> Any:
        self.running += 1
        self._changed()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.running -= 1
            self.free_since = time.monotonic()
            self._changed()

    def _changed(self) -> None:
        for event in self._listeners:
            event.set()


def _one_unit(item: Any) -> float:
    return 1.0


class ServiceRate:
    """Seconds of batch wall time per unit of cost: an EWMA over measured batches, None until the first
    (unless seeded)."""

    def __init__(self, seed: float | None = None, weight: float = RATE_WEIGHT):
        if seed is not None and seed <= 0 or not 0 < weight <= 1:
            raise ValueError("the seed must be > 0 and the weight within (0, 1]")
        self.seconds_per_unit = seed
        self.weight = weight

    def observe(self, cost: float, seconds: float) -> None:
        if cost <= 0 or seconds < 0:
            return
        sample = seconds / cost
        old = self.seconds_per_unit
        self.seconds_per_unit = sample if old is None else old + self.weight * (sample - old)


def _expired(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline


def _check_deadline(name: str) -> float | None:
    """The deadline of this stage of the request (the caller's, less what later stages reserved)."""
    deadline, reserved = _deadline.get(), _reserved.get()
    if deadline is None:
        return None
    if _expired(deadline - reserved, time.monotonic()):
        if not _expired(deadline, time.monotonic()):
            raise DeadlineExceeded(
                f"the {name} request would leave too little of its deadline to the later stages (about "
                f"{reserved:.1f} s of work after it); retry later or give the call a longer deadline"
            )
        raise DeadlineExceeded(f"the deadline passed before the {name} request could be queued")
    return deadline - reserved


def _batch_error(name: str, n: int, error: Exception) -> XmodalError:
    """The error each request of a failed batch gets: its own copy (tracebacks must not be shared)."""
    if isinstance(error, XmodalError):
        return type(error)(str(error))
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":  # incl. torch.cuda's
        return ResourceExhausted(f"out of memory running a {name} batch of {n} items; retry with fewer or smaller inputs")
    return Internal(f"the {name} model failed on a batch of {n} items; see server logs")


class _Runner:
    def __init__(self, name: str, fn: BatchFn, executor: Worker | Executor | None, observer: BatchObserver | None):
        """``executor``: where ``fn`` runs (None: the loop's default executor); a ``Worker`` to share it."""
        self.name = name
        self.fn = fn
        self.worker = executor if isinstance(executor, Worker) else Worker(executor)
        self.observer = observer
        self.stats = BatchStats()
        self._closed = False

    def estimate(self, cost: float) -> float | None:
        """Seconds from now until a request of ``cost`` queued now would be done; None: no estimate."""
        return None

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
            results = await self.worker.call(self.fn, items, key)
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
    def __init__(self, name: str, fn: BatchFn, executor: Worker | Executor | None, *, max_size: int, max_delay: float,
                 queue_size: int, observer: BatchObserver | None = None, cost: CostFn | None = None,
                 max_wait: float | None = None, max_wait_setting: str = "max_wait", rate: ServiceRate | None = None):
        """``cost``: units of work per item (default 1); ``max_wait``: seconds of estimated work the queue may
        hold (None: no time limit), named ``max_wait_setting`` in refusals so an operator knows what to raise;
        ``rate``: the service-rate estimator (default: unseeded)."""
        super().__init__(name, fn, executor, observer)
        if max_size < 1 or queue_size < 1 or max_delay < 0 or (max_wait is not None and max_wait <= 0):
            raise ValueError("max_size and queue_size must be >= 1, max_delay >= 0 and max_wait > 0 (or None)")
        self.max_size = max_size
        self.max_delay = max_delay
        self.queue_size = queue_size
        self.cost = cost or _one_unit
        self.max_wait = max_wait
        self.max_wait_setting = max_wait_setting
        self.rate = rate or ServiceRate()
        self._queue: deque[_Request] = deque()
        self._depth = 0  # items in the queue (cancelled ones included until the collector skips them)
        self._queued_cost = 0.0  # their cost, likewise
        self._running = 0  # items in the batch being computed
        self._running_cost = 0.0
        self._running_since = 0.0  # time.monotonic() when it started
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        # Set when the queue reaches ``_target`` items, and when a call on the worker starts or finishes: the
        # collector's cue to look again at whether to stop waiting.
        self._recheck: asyncio.Event | None = None
        self._expect = 1  # items in flight when the last batch finished, capped at max_size
        self._target = max_size  # what the collector is waiting for right now

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def pending(self) -> int:
        """Items queued or being computed."""
        return self._depth + self._running

    @property
    def queued_cost(self) -> float:
        return self._queued_cost

    def estimated_wait(self, now: float | None = None) -> float | None:
        """Seconds before a request queued now would start: the queued work plus what is left of the batch
        in flight, at the measured rate; None before any batch was measured."""
        rate = self.rate.seconds_per_unit
        if rate is None:
            return None
        now = time.monotonic() if now is None else now
        in_flight = max(0.0, self._running_cost * rate - (now - self._running_since)) if self._running else 0.0
        return self._queued_cost * rate + in_flight

    def estimate(self, cost: float) -> float | None:
        wait = self.estimated_wait()
        return None if wait is None else wait + cost * self.rate.seconds_per_unit  # type: ignore[operator]

    async def submit(self, items: Sequence[Any], key: Hashable = None) -> list[Any]:
        """Queue one request's (already validated) items; returns their results in order."""
        self._check_open()
        deadline = _check_deadline(self.name)
        n = len(items)
        cost = sum(self.cost(it) for it in items)
        self._admit(n, cost, deadline)
        loop = asyncio.get_running_loop()
        if self._task is None:  # started lazily: the batcher is built off the event loop
            self._wake, self._recheck = asyncio.Event(), asyncio.Event()
            self.worker.listen(self._recheck)
            self._task = loop.create_task(self._collect(), name=f"xmodal-batcher-{self.name}")
        future = loop.create_future()
        self._queue.append(_Request(list(items), key, future, deadline, time.monotonic(), cost))
        self._queued_cost += cost
        self._set_depth(self._depth + n)
        self._wake.set()
        if self._depth >= self._target:
            self._recheck.set()
        # Cancelling the awaiting task cancels this future too; the collector then skips the request.
        return await future

    def _admit(self, n: int, cost: float, deadline: float | None) -> None:
        """Refuse at once what the queue cannot take or cannot finish in time (see the module docstring)."""
        # A request larger than the whole queue is still admitted into an empty one, so that
        # queue_size and max_wait never have to be tuned against the per-request limits.
        if self._depth and self._depth + n > self.queue_size:
            self.stats.rejected += 1
            raise ResourceExhausted(
                f"the {self.name} queue is full ({self._depth} items waiting, limit {self.queue_size}); "
                "retry with backoff"
            )
        now = time.monotonic()
        wait = self.estimated_wait(now)
        if wait is None:
            return
        if self._depth and self.max_wait is not None and wait > self.max_wait:
            self.stats.rejected += 1
            raise ResourceExhausted(
                f"the {self.name} queue is full: about {wait:.1f} s of work is waiting, more than its limit of "
                f"{self.max_wait:g} s ({self.max_wait_setting}); retry with backoff or on another instance"
            )
        done = wait + cost * self.rate.seconds_per_unit  # type: ignore[operator]
        if deadline is not None and now + done > deadline:
            self.stats.refused_late += 1
            later = _reserved.get()
            raise DeadlineExceeded(
                f"the {self.name} model would finish this request in about {done:.1f} s ({wait:.1f} s of work "
                f"ahead of it), after its deadline ({max(0.0, deadline - now):.1f} s left"
                + (f", keeping {later:.1f} s for the later stages" if later else "")
                + "); retry later or give the call a longer deadline"
            )

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        if self.observer is not None:
            self.observer.queued(depth)

    async def _collect(self) -> None:
        assert self._wake is not None and self._recheck is not None
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                self._target = min(self.max_size, self._expect)
                while self._depth < self._target and self.max_delay > 0:
                    # Wait for the expected batch: while the worker runs another stage's call (ours could
                    # not start anyway), then at most max_delay after the oldest request came or the worker
                    # became free, whichever is later: a request never waits longer than the model calls
                    # before it plus max_delay.
                    timeout = None
                    if not self.worker.running:
                        start = max(self._queue[0].enqueued, self.worker.free_since)
                        timeout = start + self.max_delay - time.monotonic()
                        if timeout <= 0:
                            break
                    self._recheck.clear()
                    try:
                        async with asyncio.timeout(timeout):
                            await self._recheck.wait()
                    except TimeoutError:
                        break
                batch = self._take()
                if batch:
                    await self._run(batch)
        finally:
            for req in self._queue:  # on close: nobody is left waiting forever
                if not req.future.done():
                    req.future.set_exception(Unavailable("the server is shutting down; retry on another instance"))
            self._queue.clear()
            self._queued_cost = 0.0
            self._set_depth(0)

    def _take(self) -> list[_Request]:
        """The oldest live request and later ones with its key, up to max_size items; drop dead ones."""
        now = time.monotonic()
        batch: list[_Request] = []
        rest: deque[_Request] = deque()
        size = 0
        for req in self._queue:
            n = len(req.items)
            if req.future.done():  # the caller cancelled (or went away)
                self.stats.dropped += 1
            elif _expired(req.deadline, now):
                self.stats.dropped += 1
                req.future.set_exception(DeadlineExceeded(
                    f"the deadline (less any time kept for later stages) passed while queued for the {self.name} model"))
            elif not batch or (req.key == batch[0].key and size + n <= self.max_size):
                batch.append(req)
                size += n
            else:
                rest.append(req)
                continue
            self._queued_cost -= req.cost
        self._queue = rest
        if not rest:
            self._queued_cost = 0.0  # no float residue on an empty queue
        self._set_depth(sum(len(req.items) for req in rest))
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        items = [it for req in batch for it in req.items]
        cost = sum(req.cost for req in batch)
        t0 = time.perf_counter()
        self._running, self._running_cost, self._running_since = len(items), cost, time.monotonic()
        try:
            results = await self.worker.call(self._call, items, batch[0].key)
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
            self._running, self._running_cost = 0, 0.0
            self._expect = max(1, min(self.max_size, len(items) + self._depth))
        seconds = time.perf_counter() - t0
        self.rate.observe(cost, seconds)
        self._record(len(items), seconds)
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
