"""Batched index search and the torch exact search of the CUDA path, checked against FAISS on CPU.

The torch path runs here on CPU tensors, so its code is exercised without a GPU; the CUDA-only test
skips cleanly without one."""
import faiss
import numpy as np
import pytest
import torch

from xmodal_server.index.collection import NewItem
from xmodal_server.index.exact import TorchExactSearch, device_search_factory
from xmodal_server.index.store import Store

DIM = 64


def unit_rows(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    xb = unit_rows(600, 0)
    ids = np.random.default_rng(1).choice(10**6, size=600, replace=False).astype(np.int64)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    index.add_with_ids(xb, ids)
    return xb, ids, index, unit_rows(33, 2)


def faiss_search(index, xq, k, allowed=None):
    params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)) if allowed is not None else None
    return index.search(xq, k, params=params)


@pytest.mark.parametrize("filtered", [False, True])
def test_torch_fp32_exact_search_matches_faiss(data, filtered):
    xb, ids, index, xq = data
    allowed = ids[::3].copy() if filtered else None
    D, I = faiss_search(index, xq, 10, allowed)
    search = TorchExactSearch("cpu", "fp32")
    search.load(xb, ids)
    Dt, It = search.search(xq, 10, allowed)
    assert np.array_equal(It, I)
    assert np.allclose(Dt, D, atol=1e-5)


def test_torch_returns_fewer_columns_when_fewer_items_are_allowed(data):
    xb, ids, _, xq = data
    search = TorchExactSearch("cpu", "fp32")
    search.load(xb, ids)
    D, I = search.search(xq, 10, ids[:3].copy())
    assert I.shape == (len(xq), 3) and set(I.ravel()) <= set(ids[:3])


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_torch_reduced_precision_keeps_the_nearest_item(data, dtype):
    xb, ids, _, _ = data
    xq = xb[:20] + 0.05 * unit_rows(20, 3)  # each query next to one item
    search = TorchExactSearch("cpu", dtype)
    search.load(xb, ids)
    _, I = search.search(xq, 5, None)
    assert np.array_equal(I[:, 0], ids[:20])


def test_cpu_device_uses_faiss_directly():
    assert device_search_factory("cpu", "fp16") is None


def items(xb: np.ndarray, start: int = 0) -> list[NewItem]:
    return [NewItem(id=f"i{k}", modality="text" if k % 2 else "image", vector=v, metadata={"k": str(k)}, text=f"t{k}")
            for k, v in enumerate(xb, start)]


@pytest.mark.parametrize("modalities", [(), ("image",)])
def test_batched_search_returns_the_same_hits_as_single_searches(tmp_path, data, modalities):
    xb, _, _, xq = data  # 33 queries: FAISS takes its BLAS path for the batch, its scalar path for one
    c = Store(tmp_path).create("b", dim=DIM, space_id="sp")
    c.add(items(xb[:300]))
    batched = c.search_many(xq, 7, modalities)
    single = [c.search(q, 7, modalities) for q in xq]
    assert [[h.id for h in hits] for hits in batched] == [[h.id for h in hits] for hits in single]
    for b_hits, s_hits in zip(batched, single):
        assert [h.score for h in b_hits] == pytest.approx([h.score for h in s_hits], abs=1e-5)
        assert [(h.metadata, h.text, h.modality) for h in b_hits] == [(h.metadata, h.text, h.modality) for h in s_hits]


def test_a_collection_with_a_device_mirror_answers_like_the_cpu_index_and_follows_writes(tmp_path, data):
    xb, _, _, xq = data
    plain = Store(tmp_path / "cpu").create("p", dim=DIM, space_id="sp")
    mirrored = Store(tmp_path / "dev", device_search=lambda: TorchExactSearch("cpu", "fp32")).create("p", dim=DIM, space_id="sp")
    for c in (plain, mirrored):
        c.add(items(xb[:200]))
    ids = lambda c, m=(): [[h.id for h in hits] for hits in c.search_many(xq, 5, m)]  # noqa: E731
    assert ids(mirrored) == ids(plain) and ids(mirrored, ["text"]) == ids(plain, ["text"])
    for c in (plain, mirrored):  # the mirror is refreshed after writes
        c.delete([f"i{k}" for k in range(0, 200, 5)])
        c.add(items(xb[200:260], 200)[1::2])
    assert ids(mirrored) == ids(plain) and ids(mirrored, ["image"]) == ids(plain, ["image"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
def test_cuda_exact_search_agrees_with_faiss_cpu(data, dtype):
    xb, ids, index, xq = data
    D, I = faiss_search(index, xq, 10)
    search = device_search_factory("cuda", dtype)()
    search.load(xb, ids)
    Dg, Ig = search.search(xq, 10, None)
    assert np.array_equal(Ig[:, 0], I[:, 0])
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(Ig, I)])
    assert overlap >= (1.0 if dtype == "fp32" else 0.9)
    assert np.allclose(Dg, D, atol=1e-5 if dtype == "fp32" else 1e-2)
