"""The store's change events (index/changes.py) on a real FAISS store: whoever keeps something derived from a
collection hears of every write, failed ones included, and of a collection replaced or gone."""
import pytest

from xmodal_server.errors import AlreadyExists
from xmodal_server.index.changes import DROPPED, WRITTEN, WatchedStore
from xmodal_server.index.store import Store

from test_store import DIM, items


def test_writes_and_drops_reach_the_listener(tmp_path):
    store = WatchedStore(Store(tmp_path))
    heard = []
    store.subscribe(lambda name, event: heard.append((name, event)))
    c = store.create("a", dim=DIM, space_id="sp")
    assert store.get("a") is c and store.list() == [c]  # one proxy per open collection: a stable identity
    c.add(items(3))
    c.upsert(items(2))
    c.delete(["i0"])
    with pytest.raises(AlreadyExists):
        c.add(items(1, start=1))  # refused, yet reported: a failed write may have reached the backend
    assert heard == [("a", WRITTEN)] * 4
    assert c.count == 2 and c.search_many  # everything else is the backend's own

    staged = store.staging("a", dim=DIM, space_id="sp2", description="", index_type="")
    staged.add(items(1))
    assert len(heard) == 4  # a staged copy is out of sight until it is swapped in
    swapped = store.swap("a", staged)
    assert heard[-1] == ("a", DROPPED) and store.get("a") is swapped and swapped is not c
    store.delete("a")
    assert heard[-1] == ("a", DROPPED)
    store.close()


def test_a_failing_listener_does_not_fail_the_write(tmp_path):
    store = WatchedStore(Store(tmp_path))
    store.subscribe(lambda name, event: 1 / 0)
    c = store.create("a", dim=DIM, space_id="sp")
    assert c.add(items(2)) == 2
    store.close()
