"""The narrow interface every backbone implements.

An encoder turns already-decoded, validated media into backbone features. It knows nothing about
gRPC, batching or the shared space: projection heads (``heads.py``) map its outputs into the space.
Work is split in two stages, as in infinity's abstract model: ``prepare`` (CPU-side, per batch:
tokenise / resize / log-mel) and ``forward`` (the model call). The batcher and the thread pool only
ever see these two methods.
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
