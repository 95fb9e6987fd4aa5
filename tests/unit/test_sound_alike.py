"""Sound-alike matching (ranking/sound_alike.py) for SearchBySpeech re-ranking candidates, on hand-made cases; the
per-collection index cache against a fake collection (FakeCollection: texts() only, no store)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from xmodal_server.ranking.sound_alike import SoundAlikeIndexes, SoundAlikeIndex, _skeleton, features
from xmodal_server.ranking.likelihood import rerank_order

FLAGS = ["maldives flag", "mongolia flag", "indonesia flag", "guadeloupe flag", "panama flag", "seychelles flag",
         "chile flag", "set a timer for eight minutes", "set a timer for five minutes", ""]


def test_the_sound_skeleton_hears_through_misspelt_names():
    assert _skeleton("mulldives") == _skeleton("maldives") == "5a43a1a2"
    assert (_skeleton("mokolia"), _skeleton("mongolia")) == ("5a2a4a", "5a52a4a")  # close, not equal: n-grams overlap
    assert _skeleton("seachills") == "2a2a42" and _skeleton("seychelles") == "2a2a4a2"
    assert set(features("timer 8")) == set(features("timer eight"))  # digits are spelled out


@pytest.mark.parametrize("heard, meant", [
    ("mull dives flag", "maldives flag"),
    ("mokolia flag", "mongolia flag"),
    ("sea-chills flag", "seychelles flag"),
    ("Set a timer for 8 minutes.", "set a timer for eight minutes"),
])
def test_a_misheard_transcript_finds_the_text_it_sounds_like(heard, meant):
    index = SoundAlikeIndex((str(i), t) for i, t in enumerate(FLAGS))
    assert len(index) == len(FLAGS) - 1  # the empty text is left out
    best = index.search(heard, 3)
    assert FLAGS[int(best[0][0])] == meant, best
    assert index.search(heard, 2, skip={best[0][0]}) == best[1:3]  # still 2 once the best is skipped
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)


def test_scores_are_cosines_and_unrelated_texts_are_not_returned():
    index = SoundAlikeIndex([("a", "maldives flag"), ("b", "ooo")])
    s = index.scores("maldives flag")
    assert s[0] == pytest.approx(1.0, abs=1e-5) and s[1] == 0.0
    assert [i for i, _ in index.search("maldives flag", 5)] == ["a"]
    assert index.search("maldives flag", 5, skip={"a"}) == []  # what the caller holds is left out
    assert SoundAlikeIndex([]).search("anything", 3) == []


def test_sound_alike_extras_join_only_by_passing_the_gate():
    # Hits 0-2 came from the search; 3 and 4 are sound-alike extras. Heard -0.3, gate 0.5.
    scores = [0.9, 0.8, 0.7, 0.5, 0.4]
    logprobs = [-2.0, -0.4, None, -0.2, -3.0]
    assert rerank_order(scores, logprobs, heard=-0.3, gate=0.5, searched=3) == [3, 1, 0, 2]  # 4 dropped
    # Nothing passes: exactly the search's hits and order (a spoken question against written answers).
    assert rerank_order(scores, [-3.0, -3.0, None, -3.0, -3.0], heard=-0.3, gate=0.5, searched=3) == [0, 1, 2]


class FakeCollection:
    """Stands in for an IndexBackend: texts() rows (id, text) only."""

    def __init__(self, texts: dict[str, str]):
        self.stored = dict(texts)
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()

    def texts(self):
        self.gate.wait(5)
        self.reads += 1
        return list(self.stored.items())


def _wait_for(cond, seconds=5.0):
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_collection_texts_builds_once_then_rebuilds_in_the_background_after_writes():
    cache, coll = SoundAlikeIndexes(), FakeCollection({"a": "maldives flag"})
    first = cache.get("c", coll)
    assert cache.get("c", coll) is first and coll.reads == 1  # no write: no rebuild
    coll.stored["b"] = "mongolia flag"
    coll.gate.clear()  # hold the rebuild until the stale index has been served
    cache.changed("c")
    assert cache.get("c", coll) is first  # the stale index answers at once
    coll.gate.set()
    _wait_for(lambda: cache.get("c", coll) is not first)
    assert [i for i, _ in cache.get("c", coll).search("mokolia flag", 1)] == ["b"] and coll.reads == 2


def test_warm_builds_in_the_background_and_a_query_waits_for_it_rather_than_building_again():
    cache, coll = SoundAlikeIndexes(), FakeCollection({"a": "maldives flag"})
    coll.gate.clear()  # hold the warm-up build
    cache.warm("c", coll)
    got = []
    query = threading.Thread(target=lambda: got.append(cache.get("c", coll)))
    query.start()
    time.sleep(0.1)
    assert not got  # the query waits for the build under way
    coll.gate.set()
    query.join(5)
    assert got and got[0] is cache.get("c", coll) and coll.reads == 1  # one build served both
    cache.warm("c", coll)
    assert coll.reads == 1  # already built: warm does nothing


def test_a_new_collection_object_or_forget_builds_afresh():
    cache = SoundAlikeIndexes()
    old, new = FakeCollection({"a": "maldives flag"}), FakeCollection({"z": "panama flag"})
    cache.get("c", old)
    assert [i for i, _ in cache.get("c", new).search("panama flag", 1)] == ["z"]  # reindexed: another object
    cache.forget("c")
    assert cache.get("c", new) is not None and new.reads == 2
    assert np.isfinite(cache.get("c", new).scores("panama")).all()


def test_similarity_of_any_text_equals_the_indexed_score_and_treats_new_texts_fairly():
    index = SoundAlikeIndex((str(i), t) for i, t in enumerate(FLAGS))
    query = "mull dives flag"
    indexed = index.scores(query)
    again = index.similarity(query, [FLAGS[int(i)] for i in index.ids])
    assert np.allclose(again, indexed, atol=1e-5)
    # Texts the index never saw are seen through its n-grams, as the query is: the transcript itself, written
    # after the index was built, scores 1 and beats every indexed text; unrelated or empty texts: 0.
    fresh = index.similarity(query, ["mull dives flag", "zzz qqq", ""])
    assert fresh[0] == pytest.approx(1.0, abs=1e-5) and fresh[0] > indexed.max() and fresh[1] == 0.0 and fresh[2] == 0.0
    # An indexed text's stored row gives what extracting its n-grams again gives (the path a new text takes).
    mixed = [FLAGS[3], "mull dives flag", FLAGS[0], "", FLAGS[3]]
    stored = index.similarity(query, mixed)
    index._row_of_text.clear()
    np.testing.assert_allclose(stored, index.similarity(query, mixed), atol=1e-6)
