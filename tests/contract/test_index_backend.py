"""One contract for every index backend (``index/backend.py``), run against each of them: FAISS embedded
(SQLite + FAISS on real files) and Milvus (Milvus Lite, started in-process from a local file).

Vectors are made up here: no models. Filtered searches are checked against a brute-force numpy top-k over
the matching items, exactly (ids in order), on exact indexes.
"""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from xmodal_server.errors import AlreadyExists, InvalidInput, NotFound
from xmodal_server.index.backend import NewItem

DIM = 32
N = 240
COLORS = ("red", "green", "blue")
SIZES = ("S", "M", "L")
BACKENDS = ["faiss", "milvus"]


def unit_rows(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


XB = unit_rows(N, 0)


def meta(k: int) -> dict[str, str]:
    return {"color": COLORS[k % 3], "size": SIZES[(k // 3) % 3], "k": str(k)}


def modality(k: int) -> str:
    return "image" if k % 4 == 0 else "text"


def items(ks) -> list[NewItem]:
    return [NewItem(id=f"i{k}", modality=modality(k), vector=XB[k], metadata=meta(k), text=f"t{k}") for k in ks]


def open_store(kind: str, path):
    if kind == "faiss":
        from xmodal_server.index.store import Store

        return Store(path)
    pytest.importorskip("milvus_lite")
    from xmodal_server.index.milvus import MilvusStore

    return MilvusStore(str(path / "milvus.db"))


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    s = open_store(request.param, tmp_path_factory.mktemp(request.param))
    yield s
    s.close()


@pytest.fixture
def coll(store):
    c = store.create(f"c-{uuid.uuid4().hex[:8]}", dim=DIM, space_id="sp", index_type="exact")
    c.add(items(range(N)))
    return c


def ids_of(hits) -> list[str]:
    return [h.id for h in hits]


def test_add_get_count(coll):
    assert coll.count == N
    found, missing = coll.get(["i7", "nope", "i4"], include_vectors=True)
    assert ids_of(found) == ["i7", "i4"] and missing == ["nope"]
    assert found[0].metadata == meta(7) and found[0].text == "t7" and found[0].modality == "text"
    assert found[1].modality == "image" and np.allclose(found[1].vector, XB[4], atol=1e-6)
    assert coll.get(["i7"], include_vectors=False)[0][0].vector is None


def test_add_of_an_existing_id_fails_and_writes_nothing(coll):
    new = NewItem(id="fresh", modality="text", vector=XB[0], metadata={"color": "red"})
    with pytest.raises(AlreadyExists, match="i3"):
        coll.add([new, *items([3])])
    assert coll.count == N and coll.get(["fresh"], False)[1] == ["fresh"]


def test_upsert_replaces_existing_and_inserts_new(coll):
    v = unit_rows(1, 99)[0]
    replaced = coll.upsert([NewItem(id="i3", modality="text", vector=v, metadata={"color": "violet"}, text="new"),
                            NewItem(id="extra", modality="text", vector=unit_rows(1, 98)[0], metadata={"color": "red"})])
    assert replaced == 1 and coll.count == N + 1
    [got], _ = coll.get(["i3"], include_vectors=True)
    assert got.metadata == {"color": "violet"} and got.text == "new" and np.allclose(got.vector, v, atol=1e-6)
    top = coll.search_many(v[None], 1)[0][0]
    assert top.id == "i3" and top.score == pytest.approx(1.0, abs=1e-4)
    assert "i3" not in ids_of(coll.search_many(XB[3][None], 3)[0])  # the old vector is gone
    assert ids_of(coll.search_many(v[None], 5, where=(("color", ("violet",)),))[0]) == ["i3"]
    assert "i3" not in ids_of(coll.search_many(v[None], N, where=(("color", ("green", "red")),))[0])


def test_delete_reports_missing_and_removes_from_search(coll):
    assert coll.delete(["i1", "i2", "ghost"]) == (2, ["ghost"])
    assert coll.count == N - 2
    assert {"i1", "i2"}.isdisjoint(ids_of(coll.search_many(XB[1][None], N)[0]))
    assert coll.get(["i1"], False) == ([], ["i1"])


def test_texts_lists_every_item_with_a_text_after_writes(coll):
    coll.upsert([NewItem(id="i5", modality="text", vector=XB[5], text="five again"),
                 NewItem(id="mute", modality="image", vector=XB[6])])  # no text: not listed
    coll.delete(["i2"])
    got = dict(coll.texts())
    assert got == {**{f"i{k}": f"t{k}" for k in range(N) if k not in (2, 5)}, "i5": "five again"}


def truth(q: np.ndarray, k: int, where=(), modalities=()) -> list[str]:
    keep = [j for j in range(N)
            if all(meta(j)[key] in values for key, values in where) and (not modalities or modality(j) in modalities)]
    scores = XB[keep] @ q
    return [f"i{keep[j]}" for j in np.argsort(-scores, kind="stable")[:k]]


FILTERS = {
    "equality": ((("color", ("red",)),), ()),
    "in": ((("size", ("M", "S")),), ()),
    "and": ((("color", ("blue", "green")), ("size", ("L",))), ()),
    "and_modality": ((("color", ("red",)),), ("image",)),
    "single_item": ((("k", ("17",)),), ()),
}


@pytest.mark.parametrize("case", FILTERS)
def test_filtered_search_is_the_exact_top_k_among_matching_items(coll, case):
    where, modalities = FILTERS[case]
    xq = unit_rows(6, 5)
    got = coll.search_many(xq, 10, modalities, where)
    for q in range(len(xq)):
        assert ids_of(got[q]) == truth(xq[q], 10, where, modalities), (case, q)
        expected = np.array([XB[int(h.id[1:])] @ xq[q] for h in got[q]])
        assert np.allclose([h.score for h in got[q]], expected, atol=1e-4)
        assert all(all(h.metadata[k] in v for k, v in where) for h in got[q])


def test_top_k_beyond_the_matching_items_returns_all_of_them(coll):
    where = (("color", ("red",)), ("size", ("S",)))
    hits = coll.search_many(XB[:1], 200, (), where)[0]
    assert sorted(ids_of(hits)) == sorted(truth(XB[0], N, where))


def test_filter_on_an_unknown_field_is_invalid(coll):
    with pytest.raises(InvalidInput, match="colour"):
        coll.search_many(XB[:1], 5, (), (("colour", ("red",)),))


def test_wrong_dimension_is_invalid_and_writes_nothing(coll):
    bad = NewItem(id="short", modality="vector", vector=np.ones(3, np.float32))
    good = NewItem(id="fine", modality="text", vector=XB[0], metadata={})
    for write in (coll.add, coll.upsert):
        with pytest.raises(InvalidInput, match="short"):
            write([good, bad])
    assert coll.count == N and coll.get(["fine", "short"], False)[1] == ["fine", "short"]


def test_collections_lifecycle(store):
    name = f"life-{uuid.uuid4().hex[:6]}"
    c = store.create(name, dim=DIM, space_id="sp", description="d", index_type="hnsw")
    assert c.describe()["index_type"] == "hnsw" and c.describe()["item_count"] == 0
    assert name in [x.name for x in store.list()] and store.get(name).dim == DIM
    with pytest.raises(AlreadyExists):
        store.create(name, dim=DIM, space_id="sp")
    with pytest.raises(InvalidInput):
        store.create("bad/name", dim=DIM, space_id="sp")
    with pytest.raises(InvalidInput, match="index type"):
        store.create("other", dim=DIM, space_id="sp", index_type="lsh")
    store.delete(name)
    with pytest.raises(NotFound):
        store.get(name)


@pytest.mark.parametrize("kind", BACKENDS)
def test_everything_survives_close_and_reopen(kind, tmp_path):
    s = open_store(kind, tmp_path)
    c = s.create("keep_1-a", dim=DIM, space_id="sp", index_type="exact")
    c.add(items(range(100)))
    c.upsert([NewItem(id="i5", modality="text", vector=XB[150], metadata={"color": "gold"}, text="moved")])
    c.delete(["i6"])
    before = [ids_of(h) for h in c.search_many(XB[:4], 10, (), (("color", ("red", "gold")),))]
    s.close()

    s2 = open_store(kind, tmp_path)
    try:
        c2 = s2.get("keep_1-a")
        assert [x.name for x in s2.list()] == ["keep_1-a"] and c2.count == 99 and c2.space_id == "sp"
        assert [ids_of(h) for h in c2.search_many(XB[:4], 10, (), (("color", ("red", "gold")),))] == before
        assert c2.get(["i5", "i6"], False)[0][0].text == "moved" and c2.get(["i6"], False)[1] == ["i6"]
    finally:
        s2.close()
