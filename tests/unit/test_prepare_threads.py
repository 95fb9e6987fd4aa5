"""Only forward passes run on the model thread: tokenising, pixel and log-mel preparation run on the CPU pool
(or, for short texts, inline with their validation on the event loop) before the batcher.

The encoders here are fakes (named so) that record which thread ran each stage; they are driven through the
service's real Decoder -> Embedding -> Batcher path with concurrent requests, so that batches hold items of
several requests. The one input prepared on the model thread is a speech batch's transcripts (they exist
only after its forward pass), and the test checks that nothing else is.
"""
from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from xmodal_server.batching import Batcher
from xmodal_server.embedder import Embedder
from xmodal_server.encoders.base import (IMAGE, SPEECH, TEXT, EncoderInfo, Features, ImageEncoder, SpeechEncoder,
                                         TextEncoder)
from xmodal_server.encoders.heads import load_checkpoint
from xmodal_server.media import MediaLimits
from xmodal_server.service.decoding import INLINE_TEXT_CHARS, Decoder
from xmodal_server.service.embedding import Embedding
from xmodal_server.service.inputs import AudioInput, Clock

DIM = 8
CLASSES = [f"class {i}" for i in range(16)]


class _Recording:
    """Records (stage, thread name, items) for every call of prepare_items / collate / forward."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list]] = []

    def _note(self, stage: str, items) -> None:
        self.calls.append((stage, threading.current_thread().name, list(items)))

    def prepare_items(self, items):
        self._note("prepare", items)
        return [self._prepare_one(x) for x in items]

    def collate(self, prepared):
        self._note("collate", prepared)
        return np.stack(list(prepared)).astype(np.float32)

    def prepare(self, items):
        return self.collate(self.prepare_items(items))


class FakeRecordingTextEncoder(_Recording, TextEncoder):
    max_tokens = 16

    def __init__(self) -> None:
        super().__init__()
        self.info = EncoderInfo("fake-recording-text", TEXT, "fake (tests only)", DIM, "fake")

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _prepare_one(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(sum(text.encode()) + len(text))
        return rng.standard_normal(DIM)

    def forward(self, prepared, **_) -> Features:
        self._note("forward", prepared)
        return Features(prepared, truncated=[False] * len(prepared))


class FakeRecordingImageEncoder(_Recording, ImageEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.class_names = CLASSES
        self.info = EncoderInfo("fake-recording-image", IMAGE, "fake (tests only)", DIM, "fake")

    def _prepare_one(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image.convert("RGB").resize((2, 2)), np.float32).reshape(-1)[:DIM] / 255.0

    def forward(self, prepared, **_) -> Features:
        self._note("forward", prepared)
        probs = np.full((len(prepared), len(CLASSES)), 1.0 / len(CLASSES), np.float32)
        return Features(prepared, class_probs=probs)


class FakeRecordingSpeechEncoder(_Recording, SpeechEncoder):
    can_transcribe = True

    def __init__(self) -> None:
        super().__init__()
        self.info = EncoderInfo("fake-recording-speech", SPEECH, "fake (tests only)", DIM, "fake")

    def _prepare_one(self, wave: np.ndarray) -> np.ndarray:
        return np.full(DIM, float(np.abs(wave).mean()))

    def forward(self, prepared, transcribe: bool = False, **_) -> Features:
        self._note("forward", prepared)
        return Features(prepared, transcripts=[f"heard {i}" for i in range(len(prepared))] if transcribe else None)


def _png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 10), colour).save(buf, format="PNG")
    return buf.getvalue()


def _pcm(seed: int) -> AudioInput:
    wave = np.random.default_rng(seed).uniform(-0.3, 0.3, 8000)
    return AudioInput((wave * 32767).astype("<i2").tobytes(), pcm_sample_rate=16000)


def test_batches_get_prepared_items_and_the_model_thread_never_prepares():
    encoders = {TEXT: FakeRecordingTextEncoder(), IMAGE: FakeRecordingImageEncoder(), SPEECH: FakeRecordingSpeechEncoder()}
    embedder = Embedder("fake-recording", encoders, load_checkpoint(None), cache_dir=None)  # zero-shot heads
    for enc in encoders.values():
        enc.calls.clear()  # the embedder's own probe and ConSE class names ran on this thread
    pool = ThreadPoolExecutor(2, thread_name_prefix="xmodal-decode")
    decoder = Decoder(MediaLimits(), pool, embedder.prepare)
    batchers: list[Batcher] = []

    def runner(name, fn, executor, max_delay):
        batchers.append(Batcher(name, fn, executor, max_size=8, max_delay=max_delay, queue_size=64))
        return batchers[-1]

    embedding = Embedding(embedder, runner, max_delay=0.05)
    long_text = "word " * (INLINE_TEXT_CHARS // 4)  # past the inline limit: prepared on the pool
    payloads = {
        TEXT: [f"text number {i}" for i in range(5)] + [long_text, long_text + "again"],
        IMAGE: [_png((i * 30, 0, 0)) for i in range(5)],
        SPEECH: [_pcm(i) for i in range(5)],
    }

    async def one(kind, payload):
        clock = Clock()
        decoded = await decoder.decode(clock, kind, [payload], ["item"])
        return await embedding.embed(clock, kind, decoded)

    async def scenario():
        loop_thread = threading.current_thread().name
        outs = await asyncio.gather(*[one(k, p) for k, ps in payloads.items() for p in ps])
        for b in batchers:
            await b.close()
        return loop_thread, outs

    try:
        loop_thread, outs = asyncio.run(scenario())
    finally:
        embedding.model_pool.shutdown()
        pool.shutdown()
    assert all(o.vectors.shape == (1, DIM) for o in outs)
    model = {"xmodal-model"}
    for kind, enc in encoders.items():
        stages: dict[str, set[str]] = {}
        for stage, thread, _ in enc.calls:
            stages.setdefault(stage, set()).add(thread.split("_")[0])
        assert stages["collate"] == stages["forward"] == model, (kind, stages)
        prepared_on_model = [items for stage, thread, items in enc.calls if stage == "prepare" and thread.startswith("xmodal-model")]
        if kind == TEXT:
            # Short texts inline with their validation, long ones on the pool; on the model thread only the
            # speech batches' transcripts (the text side of the zero-shot speech head).
            assert {t.split("_")[0] for s, t, _ in enc.calls if s == "prepare"} >= {loop_thread, "xmodal-decode"}
            assert all(t.startswith("heard ") for items in prepared_on_model for t in items) and prepared_on_model
        else:
            assert {t.split("_")[0] for s, t, _ in enc.calls if s == "prepare"} == {"xmodal-decode"}, kind
        # Several requests shared a batch: collation is what joined them.
        assert max(len(items) for stage, _, items in enc.calls if stage == "collate") > 1, kind
