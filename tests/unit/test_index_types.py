"""Index kinds of the FAISS backend (exact, IVF, HNSW, auto) on small clustered data: when each is built,
that filtered searches stay exact on ANN indexes, that deletes never come back, and what they persist."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal_server.index.backend import IndexSettings, NewItem, SearchParams
from xmodal_server.index.store import Store
from xmodal_server.index.vectors import EXACT_SUBSET_MAX, VectorIndex, ivf_trainable, nlist_for

DIM = 24
N = 12_000  # IVF is trained from 10,000 items


def clustered(n: int, seed: int, centres: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, DIM)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


XB = clustered(N, 0)
XQ = clustered(50, 1)


def items(ks) -> list[NewItem]:
    return [NewItem(id=f"i{k}", modality="text", vector=XB[k], metadata={"shard": str(k % 7)}) for k in ks]


def fill(coll, n: int = N) -> None:
    for k in range(0, n, 2000):
        coll.add(items(range(k, min(n, k + 2000))))


def settle(coll) -> None:
    while (worker := coll._worker) is not None:
        worker.join(120)


def exact_top(q: np.ndarray, k: int, keep: list[int]) -> list[str]:
    return [f"i{keep[j]}" for j in np.argsort(-(XB[keep] @ q), kind="stable")[:k]]


def recall(coll, k: int = 10, **kw) -> float:
    got = coll.search_many(XQ, k, **kw)
    live = list(range(N))
    return np.mean([len({h.id for h in got[q]} & set(exact_top(XQ[q], k, live))) / k for q in range(len(XQ))])


def test_nlist_grows_with_the_collection_with_at_least_39_points_per_list():
    assert [nlist_for(n) for n in (10_000, 100_000, 1_000_000, 4_000_000)] == [256, 2048, 4096, 8192]
    assert all(n >= 39 * nlist_for(n) for n in (10_000, 12_345, 99_999, 1_000_000))
    assert not ivf_trainable(9_999) and ivf_trainable(10_000)


@pytest.fixture(scope="module")
def ivf(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("ivf"))
    c = s.create("v", dim=DIM, space_id="sp", index_type="ivf")
    fill(c, 8_000)
    settle(c)
    assert c.vindex.kind == "flat"  # too few vectors to be worth training: exact until then
    fill_more = items(range(8_000, N))
    c.add(fill_more)
    settle(c)
    yield s, c
    s.close()


def test_ivf_is_trained_once_the_collection_is_big_enough(ivf):
    _, c = ivf
    assert c.vindex.kind == "ivf" and c.vindex.trained_on >= 10_000
    assert "IVF256" in c.describe()["index_state"]
    assert recall(c) >= 0.9
    assert recall(c, params=SearchParams(nprobe=256)) == 1.0  # every list visited: exact


def test_filtered_search_on_ivf_is_exact_among_matching_items(ivf):
    _, c = ivf
    keep = [k for k in range(N) if k % 7 in (2, 5)]
    assert len(keep) <= EXACT_SUBSET_MAX
    got = c.search_many(XQ, 10, (), (("shard", ("2", "5")),))
    assert all([h.id for h in got[q]] == exact_top(XQ[q], 10, keep) for q in range(len(XQ)))


def test_ivf_survives_a_restart_as_ivf(ivf, tmp_path):
    s, c = ivf
    c.delete(["i1", "i2"])
    before = [[h.id for h in hits] for hits in c.search_many(XQ, 5)]
    s.close()
    s2 = Store(c.path.parent.parent)
    c2 = s2.get("v")
    assert c2.vindex.kind == "ivf" and c2.count == N - 2
    assert [[h.id for h in hits] for hits in c2.search_many(XQ, 5)] == before
    s2.close()


def test_auto_is_exact_until_the_threshold_then_ivf(tmp_path):
    s = Store(tmp_path, settings=IndexSettings(auto_ivf_min=11_000))
    c = s.create("a", dim=DIM, space_id="sp", index_type="auto")
    fill(c, 10_500)
    settle(c)
    assert c.vindex.kind == "flat"  # trainable, but below the auto threshold
    c.add(items(range(10_500, N)))
    settle(c)
    assert c.vindex.kind == "ivf"
    s.close()


def test_hnsw_deletes_are_tombstones_never_returned_and_rebuilt_away(tmp_path):
    s = Store(tmp_path)
    c = s.create("h", dim=DIM, space_id="sp", index_type="hnsw")
    fill(c, 4_000)
    assert c.vindex.kind == "hnsw" and recall_hnsw_ok(c)
    gone = [f"i{k}" for k in range(0, 4_000, 5)]  # 20 %: below the rebuild threshold
    c.delete(gone)
    settle(c)
    assert len(c.vindex.dead) == 800 and c.count == 3_200
    assert set(gone).isdisjoint(h.id for hits in c.search_many(XB[:200], 20) for h in hits)
    keep = [k for k in range(4_000) if k % 5 and k % 7 == 3]
    got = c.search_many(XQ, 10, (), (("shard", ("3",)),))
    assert all([h.id for h in got[q]] == exact_top(XQ[q], 10, keep) for q in range(len(XQ)))
    c.delete([f"i{k}" for k in range(1, 4_000, 5)])  # 40 % tombstones: the graph is rebuilt without them
    settle(c)
    assert c.vindex.kind == "hnsw" and not c.vindex.dead and c.count == 2_400
    s.close()
    s2 = Store(tmp_path)
    assert s2.get("h").count == 2_400 and s2.get("h").vindex.kind == "hnsw"
    s2.close()


def recall_hnsw_ok(c) -> bool:
    got = c.search_many(XQ, 10)
    live = list(range(4_000))
    return np.mean([len({h.id for h in got[q]} & set(exact_top(XQ[q], 10, live))) / 10 for q in range(len(XQ))]) >= 0.9


def test_vector_index_round_trips_through_bytes():
    ids = np.arange(10, 10 + 2_000, dtype=np.int64)
    for kind in ("flat", "hnsw"):
        vi = VectorIndex.build(kind, DIM, ids, XB[:2_000])
        back = VectorIndex.from_bytes(vi.to_bytes(), kind, DIM)
        D0, I0 = vi.search(XQ, 5)
        D1, I1 = back.search(XQ, 5)
        assert np.array_equal(I0, I1) and np.allclose(D0, D1)
