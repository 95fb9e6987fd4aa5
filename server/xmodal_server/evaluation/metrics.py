"""Retrieval metrics: the rank of the correct gallery item for each query, and R@K / MRR from those ranks.

Conventions (fixed, since numbers must stay comparable between checkpoints):

* ``sims[q, g]`` is the similarity of query ``q`` to gallery item ``g``; higher is better.
* A query may have several correct items (``correct[q]`` a set); the rank is that of the best-ranked one.
* Ties are resolved **optimistically**: rank = 1 + the number of gallery items whose score is *strictly
  greater* than the best correct item's score. A correct item tied with wrong ones therefore gets the best
  rank of its tie group. (A model that scores everything equal gets R@1 = 1 under this rule, so degenerate
  outputs must be caught by looking at the baselines, not by the tie rule.)
* NaN anywhere in ``sims`` is an error, not a silently bad rank: NaN compares false with everything, so
  it would make a query look perfect. ``+inf``/``-inf`` are ordinary (extreme) scores.

The ``(Q, G)`` matrix is processed in blocks of query rows, so the temporaries stay small (a few tens of
MB) whatever ``Q`` is; the matrix itself is never copied when it is already a float numpy array (or a
CPU float tensor, whose memory numpy shares).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

KS = (1, 5, 10)
# Elements per block of rows; bounds the temporaries (a bool mask and a NaN mask of this many elements).
_BLOCK_ELEMS = 1 << 22


def _as_matrix(sims: Any) -> np.ndarray:
    """A 2-D float numpy view of ``sims`` (numpy array, torch tensor, or nested sequences)."""
    if hasattr(sims, "detach") and hasattr(sims, "cpu"):  # a torch tensor, without importing torch
        t = sims.detach().cpu()
        if not t.is_floating_point() or str(t.dtype) == "torch.bfloat16":
            t = t.float()  # numpy has no bfloat16; ints become floats like any other input
        sims = t.numpy()
    arr = np.asarray(sims)
    if arr.ndim != 2:
        raise ValueError(f"sims must be a 2-D (queries x gallery) matrix, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise TypeError(f"sims must hold numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    return arr


def _is_index(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _flatten_correct(correct: Any, n_queries: int, gallery_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``correct`` as CSR-like arrays: the correct items of query q are ``items[offsets[q]:offsets[q+1]]``."""
    if isinstance(correct, np.ndarray) and correct.ndim == 1 and np.issubdtype(correct.dtype, np.integer):
        items = correct.astype(np.int64)
        offsets = np.arange(len(items) + 1, dtype=np.int64)
    else:
        if isinstance(correct, (str, bytes)) or not hasattr(correct, "__len__"):
            raise TypeError("correct must be a sequence with one entry (an index or a set of indices) per query")
        flat: list[int] = []
        offsets_list = [0]
        for q, c in enumerate(correct):
            if _is_index(c):
                flat.append(int(c))
            elif isinstance(c, (set, frozenset, list, tuple, np.ndarray)):
                members = list(np.asarray(c).ravel()) if isinstance(c, np.ndarray) else list(c)
                if not members:
                    raise ValueError(f"correct[{q}] is empty: every query needs at least one correct item")
                for m in members:
                    if not _is_index(m):
                        raise TypeError(f"correct[{q}] holds {m!r}; gallery indices must be integers")
                    flat.append(int(m))
            else:
                raise TypeError(f"correct[{q}] is {c!r}; expected a gallery index or a set of indices")
            offsets_list.append(len(flat))
        items = np.asarray(flat, dtype=np.int64)
        offsets = np.asarray(offsets_list, dtype=np.int64)
    if len(offsets) - 1 != n_queries:
        raise ValueError(f"correct has {len(offsets) - 1} entries but sims has {n_queries} queries (rows)")
    if items.size:
        bad = np.flatnonzero((items < 0) | (items >= gallery_size))
        if bad.size:
            q = int(np.searchsorted(offsets, bad[0], side="right") - 1)
            raise ValueError(
                f"correct[{q}] names gallery index {int(items[bad[0]])}, outside the gallery of {gallery_size} "
                f"items (valid: 0..{gallery_size - 1})"
            )
    return offsets, items


def rank_of_correct(
    sims: Any, correct: Sequence[int | set[int]] | np.ndarray, *, block_rows: int | None = None
) -> np.ndarray:
    """1-based rank of the best-ranked correct gallery item, per query.

    ``sims``: (Q, G) similarities (numpy array or torch tensor, any float dtype; higher = more similar).
    ``correct[q]``: the index of query q's correct gallery item, or a set of indices any of which counts.
    Ties are optimistic: rank = 1 + #items scoring strictly higher than the best correct item.
    Raises ``ValueError`` on NaN scores, out-of-range or empty ``correct`` entries, or a length mismatch.
    ``block_rows`` (query rows per block) only bounds memory; the result does not depend on it.
    Returns an int64 array of length Q with values in 1..G.
    """
    arr = _as_matrix(sims)
    n_q, n_g = arr.shape
    offsets, items = _flatten_correct(correct, n_q, n_g)
    ranks = np.empty(n_q, dtype=np.int64)
    if n_q == 0:
        return ranks
    step = block_rows if block_rows is not None else max(1, _BLOCK_ELEMS // max(n_g, 1))
    if step < 1:
        raise ValueError(f"block_rows must be >= 1, got {step}")
    for a in range(0, n_q, step):
        b = min(n_q, a + step)
        block = arr[a:b]
        nan_rows = np.isnan(block).any(axis=1)
        if nan_rows.any():
            q = a + int(np.flatnonzero(nan_rows)[0])
            g = int(np.flatnonzero(np.isnan(arr[q]))[0])
            raise ValueError(
                f"sims holds NaN (first at query {q}, gallery item {g}); NaN scores cannot be ranked — "
                "fix the embeddings (e.g. a zero vector normalised) instead of evaluating them"
            )
        lo, hi = offsets[a], offsets[b]
        counts = np.diff(offsets[a:b + 1])
        rows = np.repeat(np.arange(b - a), counts)
        scores = block[rows, items[lo:hi]]
        best = np.maximum.reduceat(scores, offsets[a:b] - lo)  # every query has >= 1 correct item
        ranks[a:b] = np.count_nonzero(block > best[:, None], axis=1) + 1
    return ranks


@dataclass(frozen=True)
class RetrievalResult:
    """One line of a report: one method on one task, with the sizes that give its numbers meaning."""

    task: str
    method: str
    n_queries: int
    gallery_size: int
    r1: float
    r5: float
    r10: float
    mrr: float

    def as_row(self) -> dict:
        """Plain dict (JSON-ready), keys as the field names."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "RetrievalResult":
        """Inverse of ``as_row`` (e.g. reading back ``results.json``)."""
        return cls(
            task=str(row["task"]), method=str(row["method"]), n_queries=int(row["n_queries"]),
            gallery_size=int(row["gallery_size"]), r1=float(row["r1"]), r5=float(row["r5"]),
            r10=float(row["r10"]), mrr=float(row["mrr"]),
        )


def metrics_from_ranks(task: str, method: str, ranks: Iterable[int] | np.ndarray, gallery_size: int) -> RetrievalResult:
    """R@1/5/10 and MRR from 1-based ranks (e.g. when ranks come from a FAISS search, not a full matrix)."""
    r = np.asarray(ranks, dtype=np.int64).ravel()
    if r.size == 0:
        raise ValueError(f"{task}/{method}: no queries; recall and MRR are undefined")
    if r.min() < 1 or r.max() > gallery_size:
        raise ValueError(f"{task}/{method}: ranks must lie in 1..{gallery_size} (the gallery size)")
    recall = {k: float(np.mean(r <= k)) for k in KS}
    return RetrievalResult(
        task=task, method=method, n_queries=int(r.size), gallery_size=int(gallery_size),
        r1=recall[1], r5=recall[5], r10=recall[10], mrr=float(np.mean(1.0 / r)),
    )


def retrieval_metrics(
    task: str, method: str, sims: Any, correct: Sequence[int | set[int]] | np.ndarray
) -> RetrievalResult:
    """R@K (K = 1, 5, 10: share of queries whose correct item is in the top K) and MRR (mean 1/rank)
    of ``sims`` (Q, G) against ``correct``; see ``rank_of_correct`` for the tie and NaN rules.
    With fewer than K gallery items R@K is 1 by definition; the gallery size is kept in the result."""
    arr = _as_matrix(sims)
    return metrics_from_ranks(task, method, rank_of_correct(arr, correct), gallery_size=arr.shape[1])
