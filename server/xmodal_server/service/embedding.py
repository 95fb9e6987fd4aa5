"""Embedding: prepared items (``decoding.py``: tokens, pixels, log-mel made on the CPU pool) -> their encoder's
dynamic batcher -> vectors of the shared space, on the single model thread (torch already uses every core inside
one call), which only collates (pads) and runs the models. Requests share a batch only with equal options.
The speech model's scoring of texts against a clip (SearchBySpeech re-ranking) runs here too: it is a model
call like the others."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Hashable, Sequence

import numpy as np

from ..batching import Batcher, Unbatched, Worker
from ..embedder import Embedded, Embedder
from ..encoders.base import IMAGE, SPEECH, TEXT
from .decoding import Decoded
from .inputs import Clock, SpeechOptions

RERANK = "rerank"  # the batcher of the speech model's text scoring, beside the three encoders'

RunnerFactory = Callable[[str, Callable, "Worker | None", float], "Batcher | Unbatched"]


class Embedding:
    def __init__(self, embedder: Embedder, runner: RunnerFactory, max_delay: float,
                 model_context: Callable[[], ContextManager] = nullcontext):
        """``model_context``: entered around every model call on the model thread (e.g. CUDA autocast)."""
        self.embedder = embedder
        self.model_pool = ThreadPoolExecutor(1, thread_name_prefix="xmodal-model")
        model = Worker(self.model_pool)  # shared: a batcher waits for its callers while the others' calls run
        self._model_context = model_context
        self.batchers: dict[str, Batcher | Unbatched] = {
            kind: runner(kind, self._model_call_for(kind), model, max_delay) for kind in (TEXT, IMAGE, SPEECH)
        }
        # One clip per item; concurrent requests' clips are scored in one decoder pass.
        self.batchers[RERANK] = runner(RERANK, self._likelihood_call, model, 0.0)

    def speech_mode(self, speech: SpeechOptions | None) -> str:
        """The mode a speech request runs in: its own, or the checkpoint's default when left empty."""
        return (speech and speech.mode) or self.embedder.speech_modes[0]

    async def embed(self, clock: Clock, kind: str, decoded: Decoded, speech: SpeechOptions | None = None) -> Embedded:
        """Decoded, valid, prepared items -> their encoder's batcher -> vectors (one request's share of a batch)."""
        key = None
        if kind == SPEECH:
            # The default mode spelled out or left empty is the same option.
            speech = speech or SpeechOptions()
            key = SpeechOptions(self.speech_mode(speech), speech.direct_weight, speech.keep_state)
        rows = await clock.wait("model_ms", self.batchers[kind].submit(decoded.prepared, key))
        return _merge_rows(rows)

    async def likelihoods(self, clock: Clock, wave: np.ndarray, texts: list[str], state: Any) -> np.ndarray:
        """Mean log-probability per token of each text as the transcript of ``wave`` (``state``: the clip's
        encoder output kept from its embedding, or None)."""
        [lp] = await clock.wait("model_ms", self.batchers[RERANK].submit([(wave, texts, state)]))
        return lp

    def _model_call_for(self, kind: str) -> Callable[[list[Any], Hashable], list[tuple]]:
        def call(items: list[Any], key: Hashable) -> list[tuple]:
            """One batch of prepared items on the model thread; one (vector, truncated, transcript, encoder state)
            row per item."""
            with self._model_context():
                if kind == SPEECH:
                    out = self.embedder.embed_prepared(SPEECH, items, key.mode, key.direct_weight, key.keep_state)  # type: ignore[union-attr]
                else:
                    out = self.embedder.embed_prepared(kind, items)
            return _split_rows(out)
        return call

    def _likelihood_call(self, items: list[tuple[np.ndarray, list[str], Any]], key: Hashable) -> list[np.ndarray]:
        with self._model_context():
            return self.embedder.speech.transcript_logprobs_many(items)


def _split_rows(out: Embedded) -> list[tuple]:
    n = out.vectors.shape[0]
    return [
        (out.vectors[i], out.truncated[i] if out.truncated is not None else None,
         out.transcripts[i] if out.transcripts is not None else None,
         out.states[i] if out.states is not None else None)
        for i in range(n)
    ]


def _merge_rows(rows: Sequence[tuple]) -> Embedded:
    """Inverse of ``_split_rows`` for one request's rows (all from one encoder, so all alike)."""
    return Embedded(
        np.stack([r[0] for r in rows]).astype(np.float32, copy=False),
        truncated=[r[1] for r in rows] if rows[0][1] is not None else None,
        transcripts=[r[2] for r in rows] if rows[0][2] is not None else None,
        states=[r[3] for r in rows] if rows[0][3] is not None else None,
    )
