"""Exact inner-product search on an accelerator, mirroring a collection's CPU FAISS index.

The CPU ``IndexFlatIP`` stays the index of record (built from SQLite, updated on every write); when the
server runs on CUDA a collection also keeps a device copy of its vectors and searches there:

* ``FaissGpuSearch`` when this faiss build has GPU support (``faiss-gpu``): ``GpuIndexFlatIP``;
* ``TorchExactSearch`` otherwise: one matmul + ``topk`` in torch, fp16 by default on CUDA.

Both answer the same question as the CPU index (exact top-k by inner product among the allowed ids, ids
are SQLite rowids), so results agree up to the precision of the chosen dtype; with ``fp32`` they are
the same hits. ``search`` may return None to let the CPU index answer (GPU faiss takes no IDSelector).
"""
from __future__ import annotations

import threading
from typing import Callable, Protocol

import numpy as np

DTYPES = ("fp16", "bf16", "fp32")


class DeviceSearch(Protocol):
    def load(self, xb: np.ndarray, ids: np.ndarray) -> None:
        """Replace the device copy with these vectors (N, d) float32 and their int64 ids."""

    def search(self, xq: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """(D, I) like ``faiss.Index.search``: (nq, <=k) scores and ids, best first; or None."""


def torch_dtype(name: str):
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[name]


class TorchExactSearch:
    """Brute force in torch: scores = xq @ xb.T in ``dtype``, masked to the allowed ids, top-k in fp32."""

    def __init__(self, device: str, dtype: str = "fp32"):
        import torch

        self.device = torch.device(device)
        self.dtype = torch_dtype(dtype)
        self._xb = torch.empty(0, 0, device=self.device, dtype=self.dtype)
        self._ids = torch.empty(0, dtype=torch.int64, device=self.device)

    def load(self, xb: np.ndarray, ids: np.ndarray) -> None:
        import torch

        self._xb = torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32)).to(self.device, self.dtype)
        self._ids = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(self.device)

    def search(self, xq: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            q = torch.from_numpy(np.ascontiguousarray(xq, dtype=np.float32)).to(self.device, self.dtype)
            scores = (q @ self._xb.T).float()
            n = scores.shape[1]
            if allowed is not None:
                mask = torch.isin(self._ids, torch.from_numpy(allowed).to(self.device))
                scores.masked_fill_(~mask, float("-inf"))
                n = int(mask.sum())
            D, pos = torch.topk(scores, min(k, n), dim=1)
            return D.cpu().numpy(), self._ids[pos].cpu().numpy()


class FaissGpuSearch:
    """``GpuIndexFlatIP`` (fp16 storage when asked); filtered searches go back to the CPU index."""

    def __init__(self, resources, device: str, dtype: str):
        import faiss

        self._faiss = faiss
        self._res = resources
        self._config = faiss.GpuIndexFlatConfig()
        self._config.device = int(device.split(":")[1]) if ":" in device else 0
        self._config.useFloat16 = dtype == "fp16"
        self._index = None
        self._ids = np.empty(0, dtype=np.int64)

    def load(self, xb: np.ndarray, ids: np.ndarray) -> None:
        index = self._faiss.GpuIndexFlatIP(self._res, xb.shape[1], self._config)
        index.add(np.ascontiguousarray(xb, dtype=np.float32))
        self._index, self._ids = index, np.asarray(ids, dtype=np.int64)

    def search(self, xq: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        if allowed is not None or self._index is None:
            return None  # GPU flat indexes take no IDSelector; the CPU index is exact for these
        D, P = self._index.search(np.ascontiguousarray(xq, dtype=np.float32), k)
        return D, np.where(P >= 0, self._ids[np.maximum(P, 0)], -1)


def faiss_has_gpu() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def device_search_factory(device: str, dtype: str) -> Callable[[], DeviceSearch] | None:
    """What each collection uses to mirror its vectors on ``device``; None on CPU (FAISS CPU answers)."""
    if not device.startswith("cuda"):
        return None
    if faiss_has_gpu():
        import faiss

        lock, shared = threading.Lock(), {}

        def make() -> DeviceSearch:
            with lock:  # one StandardGpuResources (scratch memory) for all collections
                if "res" not in shared:
                    shared["res"] = faiss.StandardGpuResources()
            return FaissGpuSearch(shared["res"], device, dtype)

        return make
    return lambda: TorchExactSearch(device, dtype)


def describe(device: str, dtype: str) -> str:
    """For GetInfo: which path answers searches."""
    if not device.startswith("cuda"):
        return "on CPU"
    if faiss_has_gpu():
        return f"mirrored on {device} by faiss GpuIndexFlatIP ({'fp16' if dtype == 'fp16' else 'fp32'} storage; filtered searches on CPU)"
    return f"mirrored on {device} by torch exact search ({dtype} matmul + topk)"
