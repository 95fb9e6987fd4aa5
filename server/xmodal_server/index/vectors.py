"""The in-memory FAISS index of one collection, of one of three kinds, behind one small class.

* ``flat``: ``IndexIDMap2(IndexFlatIP)``: exact inner product (= cosine on unit vectors).
* ``ivf``: ``IndexIVFFlat`` (inner product) with a hash-table direct map, so that ids can be removed and
  their vectors reconstructed. Trained on the collection's own vectors once it has ``IVF_MIN_ITEMS``
  (below that exact search costs about as little); ``nlist`` grows with the collection (``nlist_for``),
  never past 1/39 of it: FAISS needs about 39 training points per centroid.
* ``hnsw``: ``IndexIDMap2(IndexHNSWFlat)``. HNSW cannot remove a vector, so deleted ids become tombstones,
  excluded from every search by an IDSelector, until the collection rebuilds the graph
  (``tombstone_share``).

Ids are SQLite rowids. Filtered searches get the allowed ids. A flat index ranks exactly those (an
IDSelector in the scan: the true top-k among matching items, not a post-filtered top-k). IVF and HNSW do
the same whenever at most ``EXACT_SUBSET_MAX`` ids are allowed: their vectors are reconstructed and ranked
by brute force, which at that size is both exact and cheap. With more allowed ids the selector runs
inside the ANN search, so such a search is exactly as approximate as an unfiltered one (and IVF can return
fewer than k hits when few items of the visited lists match).
"""
from __future__ import annotations

import math

import faiss
import numpy as np

from .backend import SearchParams

KINDS = ("flat", "ivf", "hnsw")
EXACT_SUBSET_MAX = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# Defaults from bench/ann.py (bench/results/ann.txt, 1M clustered 384-d vectors, 1 thread): IVF4096 at
# nprobe 16: recall@10 0.989 at 16x exact QPS; HNSW at efSearch 64: 0.992 at 32x.
DEFAULT_EF_SEARCH = 64
IVF_PROBE_SHARE = 1 / 256  # nprobe = nlist / 256: 16 of the 4,096 lists at 1M items
MIN_NPROBE = 16  # at 100k items (2,048 lists) nprobe 8 stays below recall 0.95
IVF_MIN_ITEMS = 10_000
TRAIN_POINTS_PER_LIST = 64  # k-means sample: more than FAISS's minimum of 39, far fewer than all


def nlist_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two at or below min(8 sqrt(n), n / 39), at least 16."""
    return max(16, 2 ** int(math.log2(max(1.0, min(8 * math.sqrt(n), n / 39)))))


def ivf_trainable(n: int) -> bool:
    return n >= IVF_MIN_ITEMS


def default_nprobe(nlist: int) -> int:
    return min(nlist, max(MIN_NPROBE, int(nlist * IVF_PROBE_SHARE)))


class VectorIndex:
    def __init__(self, kind: str, dim: int, index: faiss.Index, trained_on: int = 0):
        """Wrap an existing FAISS index; use ``empty``/``build``/``from_bytes`` to make one."""
        assert kind in KINDS, kind
        self.kind, self.dim, self.index = kind, dim, index
        self.trained_on = trained_on  # IVF: how many vectors its centroids were trained on
        self.dead: set[int] = set()  # HNSW tombstones

    # -- making one ---------------------------------------------------------------------------------
    @classmethod
    def empty(cls, kind: str, dim: int) -> "VectorIndex":
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            hnsw.hnsw.efSearch = DEFAULT_EF_SEARCH
            return cls(kind, dim, faiss.IndexIDMap2(hnsw))
        assert kind == "flat", "an IVF index starts from training vectors: use build()"
        return cls(kind, dim, faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def build(cls, kind: str, dim: int, ids: np.ndarray, xb: np.ndarray, seed: int = 1234) -> "VectorIndex":
        """An index of ``kind`` holding ``xb`` (n, dim) under ``ids``; IVF is trained on a sample of ``xb``."""
        if kind != "ivf":
            out = cls.empty(kind, dim)
        else:
            nlist = nlist_for(len(xb))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = seed
            sample = xb
            if len(xb) > TRAIN_POINTS_PER_LIST * nlist:
                pick = np.random.default_rng(seed).choice(len(xb), TRAIN_POINTS_PER_LIST * nlist, replace=False)
                sample = xb[np.sort(pick)]
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.nprobe = default_nprobe(nlist)
            out = cls(kind, dim, index, trained_on=len(xb))
        if len(ids):
            out.add(ids, xb)
        return out

    @classmethod
    def from_bytes(cls, data: np.ndarray, kind: str, dim: int, trained_on: int = 0) -> "VectorIndex":
        index = faiss.deserialize_index(data)
        if index.d != dim:
            raise ValueError(f"index has dim {index.d}, expected {dim}")
        return cls(kind, dim, index, trained_on)

    def to_bytes(self) -> np.ndarray:
        return faiss.serialize_index(self.index)

    # -- contents -----------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Live vectors (HNSW tombstones excluded)."""
        return self.index.ntotal - len(self.dead)

    @property
    def tombstone_share(self) -> float:
        return len(self.dead) / self.index.ntotal if self.index.ntotal else 0.0

    def held_ids(self) -> np.ndarray:
        """Every id in an ID-mapped (flat or HNSW) index, tombstones included."""
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, xb: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(xb, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if self.kind == "hnsw":
            self.dead.update(int(i) for i in ids)
        elif len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def flat_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(xb, ids) of a flat index, for a device mirror."""
        assert self.kind == "flat"
        return self.index.index.reconstruct_n(0, self.index.ntotal), faiss.vector_to_array(self.index.id_map).astype(np.int64)

    # -- search -------------------------------------------------------------------------------------
    def search(self, xq: np.ndarray, k: int, allowed: np.ndarray | None = None,
               params: SearchParams | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(D, I) like ``faiss.Index.search`` among ``allowed`` ids (all if None); -1 ids pad short rows."""
        xq = np.ascontiguousarray(xq, dtype=np.float32)
        params = params or SearchParams()
        if allowed is not None and self.kind != "flat" and len(allowed) <= EXACT_SUBSET_MAX:
            return self._exact_subset(xq, k, allowed)
        sel = None
        if allowed is not None:
            sel = faiss.IDSelectorBatch(allowed)
        elif self.dead:
            # ``dead_ids`` must outlive the search: IDSelectorNot does not own it.
            dead_ids = faiss.IDSelectorBatch(np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
            sel = faiss.IDSelectorNot(dead_ids)
        if self.kind == "ivf":
            sp = faiss.SearchParametersIVF(nprobe=min(params.nprobe or self.index.nprobe, self.index.nlist))
        elif self.kind == "hnsw":
            sp = faiss.SearchParametersHNSW(efSearch=max(k, params.ef_search or DEFAULT_EF_SEARCH))
        else:
            sp = faiss.SearchParameters()
        if sel is not None:
            sp.sel = sel
        return self.index.search(xq, k, params=sp)

    def _exact_subset(self, xq: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nq = len(xq)
        if len(allowed) == 0:
            return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        xs = self.index.reconstruct_batch(np.ascontiguousarray(allowed, dtype=np.int64))
        D = xq @ xs.T
        k = min(k, len(allowed))
        top = np.argpartition(-D, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(D, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(D, top, axis=1), allowed[top]

    def describe(self) -> str:
        if self.kind == "ivf":
            return f"IVF{self.index.nlist},Flat (inner product) trained on {self.trained_on:,} vectors, nprobe {self.index.nprobe}"
        if self.kind == "hnsw":
            return (f"HNSW{HNSW_M},Flat (inner product), efSearch {DEFAULT_EF_SEARCH}"
                    + (f", {len(self.dead):,} tombstones" if self.dead else ""))
        return "exact (IndexFlatIP)"
