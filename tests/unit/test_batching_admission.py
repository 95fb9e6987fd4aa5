"""Admission by estimated time (batching.py): per-item cost, the measured service rate, refusals at once.

The rate is seeded (``ServiceRate(seed=...)``) where a test needs exact estimates, and the batch in flight is
held by a gate (threading.Event) so that queues build up deterministically; the only timings asserted are lower
bounds (a fake model that sleeps s seconds takes at least s)."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import torch

from xmodal_server.api.errors import status_for
from xmodal_server.batching import Batcher, ServiceRate, Unbatched, request_deadline, reserve_after
from xmodal_server.errors import DeadlineExceeded, ResourceExhausted
from xmodal_server.service.costs import rerank_item_texts, speech_item_seconds


class FakeCostedModel:
    """Items are (name, cost) pairs; returns each name; holds the thread on the batch holding ``hold``, and
    sleeps ``seconds`` per call (a stand-in for a forward pass)."""

    def __init__(self, seconds: float = 0.0):
        self.seen: list[str] = []
        self.seconds = seconds
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, items, key):
        names = [name for name, _ in items]
        self.seen.extend(names)
        self.entered.set()
        if "hold" in names:
            assert self.gate.wait(30), "test never opened the gate"
        threading.Event().wait(self.seconds)
        return names


def item_cost(item) -> float:
    return item[1]


@pytest.fixture
def pool():
    with ThreadPoolExecutor(1) as executor:
        yield executor


def batcher(model, pool, **kw) -> Batcher:
    opts = dict(max_size=4, max_delay=0.0, queue_size=64, cost=item_cost, max_wait=10.0, max_wait_setting="fake_queue_seconds")
    opts.update(kw)
    return Batcher("fake", model, pool, **opts)


async def hold_the_model(b: Batcher, model: FakeCostedModel, cost: float = 1e-6) -> asyncio.Task:
    """A batch that runs until the gate opens; its cost (default ~0) is what the estimate thinks is left of it."""
    task = asyncio.create_task(b.submit([("hold", cost)]))
    assert await asyncio.to_thread(model.entered.wait, 30)
    return task


def test_speech_costs_seconds_of_audio_in_every_prepared_form():
    # embedded Whisper: (log-mel, samples); reference Wav2Vec2: (input values, samples); fake profile: the wave
    assert speech_item_seconds((torch.zeros(80, 300), 48_000)) == 3.0
    assert speech_item_seconds((torch.zeros(48_000), np.int64(24_000))) == 1.5
    assert speech_item_seconds(np.zeros(8_000, np.float32)) == 0.5
    assert speech_item_seconds(np.zeros(10, np.float32)) == 0.1  # no clip is free
    assert speech_item_seconds("an unknown prepared form") == 1.0  # never raises: falls back to one unit
    assert rerank_item_texts((np.zeros(16_000), ["a", "b", "c"], None)) == 3.0
    assert rerank_item_texts((np.zeros(16_000), [], None)) == 1.0 and rerank_item_texts(object()) == 1.0


def test_the_rate_is_an_ewma_of_seconds_per_unit_from_the_first_batch():
    rate = ServiceRate()
    assert rate.seconds_per_unit is None  # nothing guessed before a batch is measured
    rate.observe(cost=4.0, seconds=2.0)
    assert rate.seconds_per_unit == 0.5  # the first batch sets it outright
    rate.observe(cost=1.0, seconds=1.5)
    assert rate.seconds_per_unit == pytest.approx(0.5 + 0.2 * (1.5 - 0.5))
    rate.observe(cost=0.0, seconds=9.0)  # nothing to divide by: ignored
    assert rate.seconds_per_unit == pytest.approx(0.7)
    with pytest.raises(ValueError):
        ServiceRate(seed=0.0)


async def test_the_batcher_measures_its_rate_from_real_batches(pool):
    model = FakeCostedModel(seconds=0.01)
    b = batcher(model, pool)
    assert b.rate.seconds_per_unit is None and b.estimated_wait() is None
    await b.submit([("a", 0.5), ("b", 1.5)])
    fast = b.rate.seconds_per_unit
    assert fast is not None and fast >= 0.01 / 2.0
    model.seconds = 0.5  # the model slows down (a longer clip mix, another encoder on the thread...)
    await b.submit([("c", 2.0)])
    assert b.rate.seconds_per_unit >= fast + 0.2 * (0.5 / 2.0 - fast) > fast
    await b.close()


async def test_the_queue_is_limited_by_seconds_of_work_not_by_items(pool):
    model = FakeCostedModel()
    b = batcher(model, pool, rate=ServiceRate(seed=1.0))  # 1 s per unit: an item's cost is its seconds
    held = await hold_the_model(b, model)
    cheap = [asyncio.create_task(b.submit([(f"t{i}", 0.01)])) for i in range(20)]  # 20 items, 0.2 s of work
    costly = [asyncio.create_task(b.submit([(name, c)])) for name, c in (("a", 4.0), ("b", 5.0))]
    await asyncio.sleep(0)
    assert b.depth == 22 and b.queued_cost == pytest.approx(9.2)
    late = asyncio.create_task(b.submit([("c", 2.0)]))  # waits ~9.2 s <= 10: admitted, though it takes the total past 10
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhausted, match=r"about 11\.2 s of work is waiting.*10 s \(fake_queue_seconds\); retry"):
        await b.submit([("refused", 0.01)])  # 23 items of 64: only time refuses it
    assert b.stats.rejected == 1 and status_for(ResourceExhausted("x")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    model.gate.set()
    assert await held == ["hold"]
    assert [await t for t in cheap + costly + [late]] == [[f"t{i}"] for i in range(20)] + [["a"], ["b"], ["c"]]
    assert "refused" not in model.seen and b.queued_cost == 0.0 and b.depth == 0
    await b.close()


async def test_a_request_that_cannot_finish_before_its_deadline_is_refused_at_once(pool):
    model = FakeCostedModel()
    b = batcher(model, pool, rate=ServiceRate(seed=1.0))
    held = await hold_the_model(b, model)
    queued = asyncio.create_task(b.submit([("a", 3.0)]))
    await asyncio.sleep(0)
    with request_deadline(2.0), pytest.raises(DeadlineExceeded, match=r"about 3\.5 s .*longer deadline") as refused:
        await b.submit([("late", 0.5)])  # 3 s ahead + its own 0.5 s > 2 s: refused while the model is still held
    assert not model.gate.is_set() and b.stats.refused_late == 1 and b.depth == 1
    assert status_for(refused.value) == grpc.StatusCode.DEADLINE_EXCEEDED
    with request_deadline(1.0), pytest.raises(DeadlineExceeded):
        await b.submit([("alone-too-long", 2.0)])  # its own work alone outlasts the deadline
    with request_deadline(10.0):
        in_time = asyncio.create_task(b.submit([("in-time", 0.5)]))
    no_deadline = asyncio.create_task(b.submit([("patient", 1.0)]))
    await asyncio.sleep(0)
    model.gate.set()
    assert [await t for t in (held, queued, in_time, no_deadline)] == [["hold"], ["a"], ["in-time"], ["patient"]]
    assert "late" not in model.seen and "alone-too-long" not in model.seen
    await b.close()


async def test_the_batch_in_flight_counts_for_what_is_left_of_it(pool):
    model = FakeCostedModel()
    b = batcher(model, pool, rate=ServiceRate(seed=1.0))
    held = await hold_the_model(b, model, cost=100.0)  # ~100 s of work on the model, nothing queued
    assert 90 < b.estimated_wait() <= 100
    with request_deadline(50.0), pytest.raises(DeadlineExceeded):
        await b.submit([("x", 0.1)])
    with request_deadline(200.0):
        after = asyncio.create_task(b.submit([("after", 0.1)]))
    await asyncio.sleep(0)
    model.gate.set()
    assert await held == ["hold"] and await after == ["after"]
    await b.close()


async def test_time_reserved_for_later_stages_is_taken_off_the_deadline(pool):
    model = FakeCostedModel()
    b = batcher(model, pool, rate=ServiceRate(seed=1.0))
    with request_deadline(5.0):
        with reserve_after(4.0), pytest.raises(DeadlineExceeded, match=r"keeping 4\.0 s for the later stages"):
            await b.submit([("first-stage", 2.0)])  # 2 s fits 5 s, but not the 1 s left before the later 4 s
        with reserve_after(6.0), pytest.raises(DeadlineExceeded, match=r"too little of its deadline.*about 6\.0 s"):
            await b.submit([("first-stage", 0.1)])  # nothing left at all: refused before its cost is even looked at
        with reserve_after(2.0):
            assert await b.submit([("fits", 2.0)]) == ["fits"]
        assert await b.submit([("no-reserve", 2.0)]) == ["no-reserve"]  # the reserve ends with its block
    assert model.seen == ["fits", "no-reserve"] and b.stats.refused_late == 1
    assert b.estimate(3.0) == pytest.approx(3.0 * b.rate.seconds_per_unit)  # nothing queued or in flight
    assert Unbatched("fake", model, pool, None).estimate(3.0) is None  # no queue of its own: no estimate
    await b.close()


async def test_an_unmeasured_batcher_admits_by_items_alone(pool):
    model = FakeCostedModel()
    b = batcher(model, pool, max_wait=0.001)  # a time limit, but no batch measured yet: no estimate to refuse on
    held = await hold_the_model(b, model, cost=100.0)
    with request_deadline(30.0):
        queued = [asyncio.create_task(b.submit([(f"q{i}", 100.0)])) for i in range(3)]
    await asyncio.sleep(0)
    assert b.depth == 3 and b.stats.rejected == b.stats.refused_late == 0
    model.gate.set()
    assert await held == ["hold"] and [await t for t in queued] == [["q0"], ["q1"], ["q2"]]
    assert b.rate.seconds_per_unit is not None  # measured now: the next overload is refused by time
    await b.close()


async def test_under_overload_every_future_is_resolved_and_no_refused_item_is_computed(pool):
    """Far more work than the queue's time limit, with deadlines of every length and some callers that leave:
    each request gets its results, ResourceExhausted or DeadlineExceeded (or its own cancellation), none hangs,
    and the model sees only the items of requests answered with results."""
    model = FakeCostedModel(seconds=0.002)
    b = batcher(model, pool, max_wait=0.05, rate=ServiceRate(seed=0.002))
    rng = np.random.default_rng(0)

    async def caller(i: int) -> list:
        with request_deadline(float(rng.choice([0.005, 0.02, 0.1, 1.0]))):
            return await b.submit([(f"r{i}", float(rng.uniform(0.5, 3.0)))])

    tasks = [asyncio.create_task(caller(i)) for i in range(300)]
    await asyncio.sleep(0)
    for t in tasks[::25]:
        t.cancel()
    done, pending = await asyncio.wait(tasks, timeout=30)
    assert not pending
    outcomes: dict[str, list[int]] = {"ok": [], "exhausted": [], "late": [], "cancelled": []}
    for i, t in enumerate(tasks):
        if t.cancelled():
            outcomes["cancelled"].append(i)
        elif t.exception() is None:
            assert t.result() == [f"r{i}"]
            outcomes["ok"].append(i)
        else:
            kind = {ResourceExhausted: "exhausted", DeadlineExceeded: "late"}[type(t.exception())]
            outcomes[kind].append(i)
    assert outcomes["ok"] and outcomes["exhausted"] and outcomes["late"]  # the run exercised all three answers
    assert sorted(model.seen) == sorted(f"r{i}" for i in outcomes["ok"])
    assert b.depth == 0 and b.queued_cost == 0.0
    await b.close()


async def test_a_speech_search_is_refused_by_the_embedding_when_no_time_is_left_for_its_reranking(tmp_path):
    """service/search.py reserves the re-ranking's estimated time while the query is embedded: a deadline that the
    whole search cannot meet is refused before the speech model spends anything on it."""
    from xmodal_server.app import build_service
    from xmodal_server.config import Config
    from xmodal_server.encoders.fake import pcm16, synthesize
    from xmodal_server.service import AudioInput, ItemInput, SearchRequest

    service = await asyncio.to_thread(build_service, Config(profile="fake", data_dir=str(tmp_path)), "cpu")
    try:
        await service.create_collection("c")
        await service.add_items("c", [ItemInput(f"t{i}", "text", t) for i, t in enumerate(["where is the station",
                                                                                          "a red bicycle", "the invoice"])])
        query = SearchRequest("c", "speech", AudioInput(pcm16(synthesize("where is the station")), pcm_sample_rate=16_000),
                              top_k=2, rerank=None)  # the server's default re-ranking: 5 candidates + 10 sound-alike
        speech, rerank = service.batchers["speech"], service.batchers["rerank"]
        rerank.rate = ServiceRate(seed=1.0)  # as if measured: 1 s per text scored, 16 texts -> 16 s kept
        with request_deadline(10.0), pytest.raises(DeadlineExceeded, match="the speech request would leave too little"):
            await service.search(query)
        assert speech.stats.items == 0 and rerank.stats.items == 0
        with request_deadline(60.0):
            hits, _, _ = await service.search(query)
        assert hits[0].id == "t0" and speech.stats.items == 1 and rerank.stats.items == 1
    finally:
        await service.aclose()
        service.store.close()


async def test_the_service_counts_speech_in_seconds_of_audio_under_its_own_limit(tmp_path):
    """The wiring (service/__init__.py) with the fake profile's real Service: the speech batcher costs a clip by
    its duration and answers to speech_queue_seconds; 0 turns a time limit off."""
    from xmodal_server.app import build_service
    from xmodal_server.config import Config
    from xmodal_server.encoders.fake import pcm16, synthesize
    from xmodal_server.service import AudioInput
    from xmodal_server.service.inputs import Clock

    config = Config(profile="fake", data_dir=str(tmp_path), speech_queue_seconds=3.0, batch_queue_seconds=0.0)
    service = await asyncio.to_thread(build_service, config, "cpu")
    try:
        b = service.batchers
        assert (b["speech"].max_wait, b["speech"].max_wait_setting) == (3.0, "speech_queue_seconds")
        assert b["rerank"].max_wait == 3.0 and b["text"].max_wait is None and b["search"].max_wait is None
        wave = synthesize("where is the station")
        clip = [AudioInput(pcm16(wave), pcm_sample_rate=16_000)]
        decoded = await service.decoder.decode(Clock(), "speech", clip, ["clip"])
        assert b["speech"].cost(decoded.prepared[0]) == pytest.approx(len(wave) / 16_000)
        assert b["text"].cost("any text") == 1.0
        await service.embed("speech", clip, "items")
        assert b["speech"].stats.items == 1 and b["speech"].rate.seconds_per_unit > 0
    finally:
        await service.aclose()
        service.store.close()
