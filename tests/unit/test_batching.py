"""The dynamic batcher with a fake model that records every batch it sees. No timing is asserted: a
gate (threading.Event) holds the model thread so that requests pile up deterministically."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from xmodal_server.batching import Batcher, Unbatched, Worker, request_deadline
from xmodal_server.api.errors import status_for
from xmodal_server.errors import DeadlineExceeded, Internal, InvalidInput, ResourceExhausted, Unavailable


class FakeModel:
    """Doubles each item; records (items, key) per call; can hold its thread or raise."""

    def __init__(self, fail: Exception | None = None, hold_on: object = None):
        self.seen: list[tuple[list, object]] = []
        self.fail = fail
        self.hold_on = hold_on  # an item whose batch waits for ``gate``
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, items, key):
        self.seen.append((list(items), key))
        self.entered.set()
        if self.hold_on in items:
            assert self.gate.wait(30), "test never opened the gate"
        if self.fail is not None:
            raise self.fail
        return [2 * x for x in items]


@pytest.fixture
def pool():
    with ThreadPoolExecutor(1) as executor:
        yield executor


def batcher(model, pool, **kw) -> Batcher:
    opts = dict(max_size=4, max_delay=0.05, queue_size=64)
    opts.update(kw)
    return Batcher("fake", model, pool, **opts)


async def started(model: FakeModel) -> None:
    assert await asyncio.to_thread(model.entered.wait, 30)


async def test_concurrent_requests_share_batches_up_to_max_size(pool):
    model = FakeModel()
    b = batcher(model, pool)
    results = await asyncio.gather(*(b.submit([i]) for i in range(10)))
    assert results == [[2 * i] for i in range(10)]
    assert [items for items, _ in model.seen] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert b.stats.sizes == {4: 2, 2: 1} and b.stats.items == 10
    await b.close()


async def test_a_multi_item_request_gets_its_own_slice_and_large_ones_are_chunked(pool):
    model = FakeModel()
    b = batcher(model, pool)
    small, large = await asyncio.gather(b.submit([1, 2]), b.submit(list(range(10))))
    assert small == [2, 4] and large == [2 * x for x in range(10)]
    assert all(len(items) <= 4 for items, _ in model.seen)
    await b.close()


async def test_only_requests_with_equal_keys_share_a_batch(pool):
    model = FakeModel()
    b = batcher(model, pool)
    await asyncio.gather(*(b.submit([i], key="ab"[i % 2]) for i in range(6)))
    assert sorted((key, items) for items, key in model.seen) == [("a", [0, 2, 4]), ("b", [1, 3, 5])]
    await b.close()


@pytest.mark.parametrize("error, expected", [
    (RuntimeError("boom"), Internal),  # a bug or a dependency failure: INTERNAL for each, logged once
    (InvalidInput("direct_weight=2 must be within [0, 1]"), InvalidInput),  # a domain error keeps its status
    (MemoryError(), ResourceExhausted),
])
async def test_a_failing_batch_fails_every_request_of_it_with_the_right_status(pool, error, expected):
    model = FakeModel(fail=error)
    b = batcher(model, pool)
    outcomes = await asyncio.gather(*(b.submit([i]) for i in range(3)), return_exceptions=True)
    assert len(model.seen) == 1 and all(isinstance(e, expected) for e in outcomes)
    assert len({id(e) for e in outcomes}) == 3  # each request its own exception object
    assert {status_for(e) for e in outcomes} == {status_for(expected("x"))}
    assert b.stats.failed_batches == 1
    await b.close()


async def test_a_wrong_number_of_results_fails_the_batch(pool):
    b = batcher(lambda items, key: [0], pool)
    outcomes = await asyncio.gather(b.submit([1]), b.submit([2]), return_exceptions=True)
    assert all(isinstance(e, Internal) for e in outcomes)
    await b.close()


async def test_cancelled_and_expired_requests_never_reach_the_model(pool):
    model = FakeModel(hold_on="hold")
    b = batcher(model, pool)
    first = asyncio.create_task(b.submit(["hold"]))
    await started(model)  # the model thread is now busy: everything below waits in the queue
    cancelled = asyncio.create_task(b.submit(["cancelled"]))
    with request_deadline(0.01):
        expired = asyncio.create_task(b.submit(["expired"]))  # the task inherits the deadline
    kept = asyncio.create_task(b.submit(["kept"]))
    await asyncio.sleep(0.05)  # all queued; the deadline of "expired" is now behind us
    cancelled.cancel()
    model.gate.set()
    assert await first == ["holdhold"] and await kept == ["keptkept"]
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    with pytest.raises(DeadlineExceeded):
        await expired
    assert [items for items, _ in model.seen] == [["hold"], ["kept"]]
    assert b.stats.dropped == 2
    assert status_for(DeadlineExceeded("x")) == grpc.StatusCode.DEADLINE_EXCEEDED
    await b.close()


async def test_a_request_past_its_deadline_is_refused_before_queueing(pool):
    model = FakeModel()
    b = batcher(model, pool)
    with request_deadline(0.0), pytest.raises(DeadlineExceeded):
        await b.submit([1])
    assert model.seen == []
    await b.close()


async def test_a_full_queue_refuses_at_once_with_resource_exhausted(pool):
    model = FakeModel(hold_on="hold")
    b = batcher(model, pool, queue_size=2)
    first = asyncio.create_task(b.submit(["hold"]))
    await started(model)
    queued = [asyncio.create_task(b.submit([x])) for x in ("a", "b")]
    await asyncio.sleep(0)
    assert b.depth == 2
    with pytest.raises(ResourceExhausted, match="queue is full"):
        await b.submit(["refused"])
    assert b.stats.rejected == 1
    model.gate.set()
    assert await first == ["holdhold"] and [await t for t in queued] == [["aa"], ["bb"]]
    # A request larger than the whole queue still gets in when the queue is empty.
    assert await b.submit(list("xyz")) == ["xx", "yy", "zz"]
    await b.close()


async def test_close_resolves_every_waiting_and_running_request(pool):
    model = FakeModel(hold_on="hold")
    b = batcher(model, pool)
    running = asyncio.create_task(b.submit(["hold"]))
    await started(model)
    waiting = asyncio.create_task(b.submit(["waiting"]))
    await asyncio.sleep(0)
    await b.close()
    for task in (running, waiting):
        with pytest.raises(Unavailable):
            await task
    with pytest.raises(Unavailable):
        await b.submit(["late"])
    model.gate.set()
    assert [items for items, _ in model.seen] == [["hold"]]


async def test_unbatched_runs_one_call_per_request(pool):
    model = FakeModel()
    u = Unbatched("fake", model, pool, None)
    assert await asyncio.gather(*(u.submit([i]) for i in range(3))) == [[0], [2], [4]]
    assert len(model.seen) == 3 and u.stats.sizes == {1: 3}
    model.fail = RuntimeError("boom")
    with pytest.raises(Internal):
        await u.submit([1])
    await u.close()
    with pytest.raises(Unavailable):
        await u.submit([1])


class FakeObserver:
    def __init__(self):
        self.depths, self.batches = [], []

    def queued(self, depth):
        self.depths.append(depth)

    def batch(self, size, seconds):
        self.batches.append(size)


async def test_the_observer_sees_queue_depth_and_batch_sizes(pool):
    observer = FakeObserver()
    b = batcher(FakeModel(), pool, observer=observer)
    await asyncio.gather(*(b.submit([i]) for i in range(6)))
    assert observer.batches == [4, 2] and max(observer.depths) == 6 and observer.depths[-1] == 0
    await b.close()


class SlowFakeModel(FakeModel):
    """A fake model whose every call takes ``seconds`` (a stand-in for a real forward pass)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def __call__(self, items, key):
        results = super().__call__(items, key)  # records the batch and signals ``entered`` first
        threading.Event().wait(self.seconds)
        return results


async def test_closed_loop_clients_that_arrived_in_two_groups_merge_into_full_batches(pool):
    """Two groups of 4 clients, the second arriving while the first one's batch runs. Each client sends
    its next request 1 ms after its answer (a network round trip). A batcher that only waits for requests
    younger than max_delay keeps the groups apart forever (batches of 4, "ping-pong"); expecting everyone
    who was in flight merges them into batches of 8 from the second batch on."""
    model = SlowFakeModel(0.05)  # longer than max_delay, as a real forward pass is
    b = batcher(model, pool, max_size=8, max_delay=0.02)

    async def client(first: int) -> None:
        for i in range(first, first + 12):
            await b.submit([i])
            await asyncio.sleep(0.001)

    async def late_group() -> None:
        await started(model)  # the first group's batch is on the model
        await asyncio.gather(*(client(100 * c) for c in range(4, 8)))

    await asyncio.gather(*(client(100 * c) for c in range(4)), late_group())
    sizes = [len(items) for items, _ in model.seen]
    assert sizes[0] == 4 and sum(sizes) == 96
    assert sizes[2:-1] == [8] * (len(sizes) - 3), sizes
    await b.close()


async def test_batchers_sharing_the_model_wait_through_each_others_calls(pool):
    """A speech search is two stages on one model thread: the speech batch, then its re-ranking. 8 closed-loop
    clients: after each speech batch the whole group goes through a second stage call (much longer than
    max_delay) before coming back. Batchers sharing a ``Worker`` keep waiting for the expected callers while
    the other stage's call runs, so every speech batch after the first holds all 8; with separate executors'
    clocks the wait would end during the second stage and the group split."""
    model, second = SlowFakeModel(0.01), SlowFakeModel(0.08)  # the second stage: 4x max_delay
    worker = Worker(pool)
    first_stage = batcher(model, worker, max_size=8, max_delay=0.02)
    second_stage = batcher(second, worker, max_size=8, max_delay=0.0)

    async def client(c: int) -> None:
        for i in range(6):
            [x] = await first_stage.submit([100 * c + i])
            await second_stage.submit([x])
            await asyncio.sleep(0.002)  # the answer's round trip and the next request's decoding

    async def late(c: int) -> None:
        await asyncio.sleep(0.003 * c)  # clients trickle in: the first batch is partial
        await client(c)

    await asyncio.gather(*(late(c) for c in range(8)))
    sizes = [len(items) for items, _ in model.seen]
    assert sum(sizes) == 48
    assert sizes[-3:-1] == [8, 8] and max(sizes) == 8, sizes  # the last: clients that started later finish later
    await first_stage.close()
    await second_stage.close()
