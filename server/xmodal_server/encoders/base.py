"""The narrow interface every backbone implements.

An encoder turns already-decoded, validated media into backbone features. It knows nothing about
gRPC, batching or the shared space: projection heads (``heads.py``) map its outputs into the space.
Work is split in stages, as in infinity's ``encode_pre`` / ``encode_core`` (``inference/batch_handler.py``):

* ``prepare_items`` (CPU, per request, on the service's CPU pool before the batcher): tokenise / letterbox and
  normalise / log-mel, one prepared item per input, nothing shared between items (no padding);
* ``collate`` (on the model thread, cheap): pad or stack the prepared items of one batch, which may come from
  several requests;
* ``forward`` (on the model thread): the model call on a collated batch.

``prepare(items)`` = ``collate(prepare_items(items))`` and ``encode`` = ``forward(prepare(...))`` give the
same batch as before for the align / eval code paths. An encoder that overrides only ``prepare`` and
``forward`` (the tests' fakes) still works: its ``prepare_items`` passes the items through and ``collate``
prepares them, on the model thread.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

TEXT = "text"
IMAGE = "image"
SPEECH = "speech"
MODALITIES = (TEXT, IMAGE, SPEECH)


@dataclass(frozen=True)
class EncoderInfo:
    name: str  # registry name, e.g. "minilm-l6-v2"
    modality: str  # one of MODALITIES
    architecture: str  # human-readable, e.g. "BertModel 6x384, mean pooling"
    feature_dim: int  # width of ``Features.features``
    source: str  # where the weights were loaded from (path or hub id)


@dataclass
class Features:
    """Backbone output for a batch of N items."""

    features: np.ndarray  # (N, feature_dim) float32, not normalised
    # Image encoders with an ImageNet head: (N, 1000) softmax probabilities (for ConSE).
    class_probs: np.ndarray | None = None
    # Speech encoders that can transcribe (asked with transcribe=True): one string per item.
    transcripts: list[str] | None = None
    # Text encoders: per item, whether the input was cut at ``max_tokens``.
    truncated: list[bool] | None = None
    # Speech encoders asked with keep_state=True: per item, what ``transcript_logprobs`` needs of the clip
    # (opaque outside the encoder), so re-ranking does not run the clip through the encoder a second time.
    states: list[Any] | None = None


class Encoder(abc.ABC):
    info: EncoderInfo

    @abc.abstractmethod
    def prepare(self, items: Sequence[Any]) -> Any:
        """CPU preprocessing of a batch. Text: list[str]; image: list of RGB ``PIL.Image``;
        speech: list of 1-D float32 numpy arrays at 16 kHz mono in [-1, 1]."""

    @abc.abstractmethod
    def forward(self, prepared: Any, **kwargs: Any) -> Features:
        """Model compute on a prepared batch; returns one row per item, in order."""

    def prepare_items(self, items: Sequence[Any]) -> list[Any]:
        """Per item, the CPU work that needs no batch-mates (tokens, normalised pixels, log-mel), in order.
        Runs off the model thread, so it must not touch state that ``forward`` changes. Default: the items
        themselves (``collate`` then prepares them)."""
        return list(items)

    def collate(self, prepared: Sequence[Any]) -> Any:
        """``prepare_items`` outputs (of one or several requests) -> what ``forward`` takes: padding and stacking
        only, as it runs on the model thread. Default: ``prepare`` (for encoders that do not split)."""
        return self.prepare(prepared)

    def forward_items(self, prepared: Sequence[Any], **kwargs: Any) -> Features:
        """The model thread's share: collate prepared items and run the model on them."""
        return self.forward(self.collate(prepared), **kwargs)

    def encode(self, items: Sequence[Any], **kwargs: Any) -> Features:
        return self.forward(self.prepare(items), **kwargs)

    def warmup(self) -> None:
        """Run one tiny batch so the first real request does not pay for lazy init."""


class TextEncoder(Encoder):
    max_tokens: int

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of model tokens (special tokens included) the text would take untruncated."""


class ImageEncoder(Encoder):
    # Names of the classes behind ``Features.class_probs`` (ImageNet-1k order), or empty.
    class_names: list[str]


class SpeechEncoder(Encoder):
    # Whether ``forward(..., transcribe=True)`` fills ``Features.transcripts``.
    can_transcribe: bool
    # SearchBySpeech re-ranking (``ranking/likelihood.py``): how far below the transcript's own log-probability per token
    # a text may score and still count as said verbatim; None = this encoder cannot score texts.
    rerank_gate: float | None = None

    def transcript_logprobs(self, wave: np.ndarray, texts: Sequence[str], state: Any = None) -> np.ndarray:
        """(len(texts),) mean log-probability per token of each text as the transcript of ``wave``;
        ``state``: the clip's ``Features.states`` row from ``forward(..., keep_state=True)``, if kept."""
        raise NotImplementedError(f"{self.info.name} cannot score texts (rerank_gate is None)")

    def transcript_logprobs_many(self, requests: Sequence[tuple[np.ndarray, Sequence[str], Any]]) -> list[np.ndarray]:
        """``transcript_logprobs`` for several (wave, texts, state) at once: the re-ranking batcher's call, so an
        encoder that can score many clips in one pass (Whisper) overrides it."""
        return [self.transcript_logprobs(wave, texts, state) for wave, texts, state in requests]
