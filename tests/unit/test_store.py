"""The durable store on real files (SQLite + FAISS), without models: vectors are made up here."""
import numpy as np
import pytest

from xmodal_server.errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound
from xmodal_server.index.collection import NewItem
from xmodal_server.index.store import Store

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def items(n: int, start: int = 0, modality: str = "text") -> list[NewItem]:
    return [NewItem(id=f"i{k}", modality=modality, vector=unit(k), metadata={"k": str(k)}, text=f"t{k}")
            for k in range(start, start + n)]


def test_add_search_reopen(tmp_path):
    s = Store(tmp_path)
    c = s.create("a", dim=DIM, space_id="sp")
    c.add(items(50))
    hits = c.search(unit(7), 3)
    assert hits[0].id == "i7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata == {"k": "7"} and hits[0].text == "t7"
    c.delete(["i7", "i9"])
    s.close()

    s2 = Store(tmp_path)  # a restart: everything is rebuilt from the files
    c2 = s2.get("a")
    assert c2.count == 48 and c2.space_id == "sp"
    assert c2.search(unit(7), 1)[0].id != "i7"
    found, missing = c2.get(["i1", "i7"], include_vectors=True)
    assert [f.id for f in found] == ["i1"] and missing == ["i7"]
    assert np.allclose(found[0].vector, unit(1))


def test_modality_filter_is_exact_top_k_among_matching(tmp_path):
    c = Store(tmp_path).create("m", dim=DIM, space_id="sp")
    c.add(items(40, 0, "text") + items(40, 40, "image"))
    q = unit(3)
    # Brute force over image items only is the ground truth.
    truth = sorted(((float(unit(k) @ q), f"i{k}") for k in range(40, 80)), reverse=True)[:5]
    got = c.search(q, 5, ["image"])
    assert [h.id for h in got] == [t[1] for t in truth]
    assert all(h.modality == "image" for h in got)


def test_duplicate_ids_write_nothing(tmp_path):
    c = Store(tmp_path).create("d", dim=DIM, space_id="sp")
    c.add(items(3))
    with pytest.raises(AlreadyExists):
        c.add(items(2, 10) + items(1, 2))
    assert c.count == 3 and c.get(["i10"], False)[1] == ["i10"]


def test_wrong_dim_writes_nothing(tmp_path):
    c = Store(tmp_path).create("w", dim=DIM, space_id="sp")
    bad = NewItem(id="x", modality="vector", vector=np.ones(3, np.float32))
    with pytest.raises(InvalidInput):
        c.add(items(2) + [bad])
    assert c.count == 0


def test_names_and_lifecycle(tmp_path):
    s = Store(tmp_path)
    s.create("ok_1", dim=DIM, space_id="sp")
    with pytest.raises(AlreadyExists):
        s.create("ok_1", dim=DIM, space_id="sp")
    for bad in ("", "../x", "a/b", "-lead", "x" * 65):
        with pytest.raises(InvalidInput):
            s.create(bad, dim=DIM, space_id="sp")
    with pytest.raises(NotFound):
        s.get("nope")
    s.delete("ok_1")
    assert [c.name for c in s.list()] == [] and not (tmp_path / "collections" / "ok_1").exists()


def test_leftovers_of_interrupted_create_are_swept(tmp_path):
    (tmp_path / "collections" / ".tmp-half-1234").mkdir(parents=True)
    s = Store(tmp_path)
    assert s.list() == [] and not (tmp_path / "collections" / ".tmp-half-1234").exists()


def test_space_mismatch_is_failed_precondition(tmp_path):
    c = Store(tmp_path).create("s", dim=DIM, space_id="embedded/zero-shot-v0")
    c.check_space("embedded/zero-shot-v0")
    with pytest.raises(FailedPrecondition, match="reindex"):
        c.check_space("reference/zero-shot-v0")


def test_swap_replaces_atomically_and_recovers_an_interrupted_swap(tmp_path):
    s = Store(tmp_path)
    s.create("x", dim=DIM, space_id="old").add(items(3))
    staged = s.staging("x", dim=DIM, space_id="new", description="")
    staged.add(items(2, 10))
    swapped = s.swap("x", staged)
    assert swapped.space_id == "new" and swapped.count == 2
    s.close()
    # Simulate a crash between the two renames of a swap: the old version is parked, nothing under "x".
    root = tmp_path / "collections"
    (root / "x").rename(root / ".swapped-x-deadbeef")
    (root / ".tmp-x-cafebabe").mkdir()
    s2 = Store(tmp_path)
    assert s2.get("x").count == 2 and s2.get("x").space_id == "new"
    assert not list(root.glob(".swapped-*")) and not list(root.glob(".tmp-*"))
