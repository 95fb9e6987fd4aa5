"""Checks of what a request names (ids, metadata, filters, search knobs, vectors, counts): each raises
``InvalidInput`` saying what was wrong and where. Media (images, audio, text) are checked where they are
decoded (``media/``, ``decoding.py``)."""
from __future__ import annotations

import math
import unicodedata
from typing import Sequence

import numpy as np

from ..errors import InvalidInput
from ..index.backend import SearchParams, Where

MAX_ID_CHARS = 256
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_VALUE_CHARS = 4096
MAX_FILTER_CONDITIONS = 16
MAX_FILTER_VALUES = 1024
MAX_NPROBE = 65536
MAX_EF_SEARCH = 4096


def item_label(index: int, item_id: str) -> str:
    """How an error names an item of a request: its position and (a prefix of) its id."""
    return f"items[{index}] (id {item_id[:64]!r})"


def check_id(item_id: str, where: str) -> str:
    if not item_id:
        raise InvalidInput(f"{where}: id is empty; every item needs a unique id")
    if len(item_id) > MAX_ID_CHARS:
        raise InvalidInput(f"{where}: id has {len(item_id)} characters, more than {MAX_ID_CHARS}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in item_id):
        raise InvalidInput(f"{where}: id contains control characters")
    return item_id


def check_ids(ids: Sequence[str]) -> list[str]:
    """The ids of a DeleteItems/GetItems request, each checked and named by its position."""
    if not ids:
        raise InvalidInput("no ids given")
    for i, item_id in enumerate(ids):
        check_id(item_id, f"ids[{i}]")
    return list(ids)


def check_metadata(metadata: dict[str, str], where: str) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidInput(f"{where}: {len(metadata)} metadata entries, more than {MAX_METADATA_ENTRIES}")
    for k, v in metadata.items():
        if not k or len(k) > MAX_METADATA_KEY_CHARS:
            raise InvalidInput(f"{where}: metadata key {k[:40]!r} must have 1..{MAX_METADATA_KEY_CHARS} characters")
        if len(v) > MAX_METADATA_VALUE_CHARS:
            raise InvalidInput(f"{where}: metadata value of {k!r} exceeds {MAX_METADATA_VALUE_CHARS} characters")
    return dict(metadata)


def check_where(conditions: Sequence[tuple[str, Sequence[str]]]) -> Where:
    """A metadata filter (AND of "key is one of values"), checked and normalised so that equal filters
    compare equal (they share a search batch). Whether each key exists is the index's to say."""
    if len(conditions) > MAX_FILTER_CONDITIONS:
        raise InvalidInput(f"filter: {len(conditions)} conditions, more than {MAX_FILTER_CONDITIONS}")
    out = []
    for i, (key, values) in enumerate(conditions):
        where = f"filter[{i}] (key {key[:40]!r})"
        if not key or len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidInput(f"{where}: the key must have 1..{MAX_METADATA_KEY_CHARS} characters")
        if not 1 <= len(values) <= MAX_FILTER_VALUES:
            raise InvalidInput(f"{where}: {len(values)} values; give 1..{MAX_FILTER_VALUES} (one: equality, several: any of)")
        if any(len(v) > MAX_METADATA_VALUE_CHARS for v in values):
            raise InvalidInput(f"{where}: a value exceeds {MAX_METADATA_VALUE_CHARS} characters")
        out.append((key, tuple(sorted(set(values)))))
    return tuple(sorted(out))


def check_search_params(params: SearchParams) -> SearchParams:
    if params.nprobe > MAX_NPROBE or params.ef_search > MAX_EF_SEARCH:
        raise InvalidInput(f"search options: nprobe must be 0..{MAX_NPROBE} and ef_search 0..{MAX_EF_SEARCH} (0 = default)")
    return params


def check_vector(vector: np.ndarray, dim: int, where: str) -> np.ndarray:
    """A vector given by the caller, as a unit float32 row of the shared space."""
    if vector.shape != (dim,):
        raise InvalidInput(f"{where}: vector has {vector.size} values, the space has dim {dim}")
    if not np.all(np.isfinite(vector)):
        raise InvalidInput(f"{where}: vector contains NaN or infinite values")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise InvalidInput(f"{where}: vector has zero norm; cosine similarity is undefined")
    return (vector / norm).astype(np.float32)


def check_batch(n: int, what: str, max_batch: int) -> None:
    if n == 0:
        raise InvalidInput(f"no {what} given; send 1..{max_batch}")
    if n > max_batch:
        raise InvalidInput(f"{n} {what} in one request, more than max_batch={max_batch}; split it")


def check_top_k(top_k: int, max_top_k: int) -> int:
    if not 1 <= top_k <= max_top_k:
        raise InvalidInput(f"top_k={top_k} is out of range: use 1..{max_top_k}")
    return top_k
