"""Sound-alike matching of a spoken query's transcript against a collection's texts, for what the
transcript's embedding misses.

Why: when Whisper mishears a name ("mull dives flag" for "maldives flag", "mokolia flag" for "mongolia
flag") the transcript's sentence embedding lands on a neighbour in meaning ("indonesia flag"), and the right
text is often not even in the top 25. The misheard spelling still shares most of its letters and consonant
sounds with the right text. Validation (docs/decisions/0005-sound-alike-matching.md, whole-corpus gallery):
this matching alone put the right sentence first for 0.875 of 200 clips (the fused search: 0.775). A search
plan (``plan.py``) uses it twice: as a candidate source with a re-scoring stage in the ranking of every speech
search (cosine + weight x similarity; R@1 0.790 -> 0.872 over 811 clips at 0.6), and as extra re-ranking
candidates (R@1 after re-ranking 0.870 -> 0.950 with 10).

What is compared: character n-grams of the letters with word breaks removed (misheard word boundaries:
"sea chills" / "seychelles"), and n-grams of a sound skeleton: consonants folded into Soundex classes, every
vowel one symbol, repeats collapsed ("mull dives" and "maldives" both read 5a43a1a2; "mokolia" 5a2a4a shares
most of its n-grams with "mongolia" 5a52a4a). Digits are spelled out, as Whisper writes "8" where a gallery
says "eight" and the other way round. Weights: TF-IDF over the indexed texts, cosine similarity; the index is
an in-memory inverted file, built from the stored texts.
"""
from __future__ import annotations

import re
import threading
from array import array
from collections import Counter
from collections.abc import Collection, Iterable

import numpy as np

_CLASSES = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
            "l": "4", **dict.fromkeys("mn", "5"), "r": "6", **dict.fromkeys("aeiouy", "a")}
_DIGITS = "zero one two three four five six seven eight nine".split()


def _letters(text: str) -> str:
    spelled = re.sub(r"[0-9]", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return "".join(re.findall(r"[a-z]+", spelled))


def _skeleton(letters: str) -> str:
    out: list[str] = []
    for ch in letters:
        c = _CLASSES.get(ch, "")  # h and w carry no sound class of their own
        if c and (not out or out[-1] != c):
            out.append(c)
    return "".join(out)


def _grams(s: str, sizes: tuple[int, ...], tag: str) -> list[str]:
    s = f"^{s}$"
    return [tag + s[i:i + n] for n in sizes for i in range(len(s) - n + 1)]


def features(text: str) -> Counter[str]:
    """The n-grams a text is matched on (letters and sound skeleton, tagged apart)."""
    letters = _letters(text)
    return Counter(_grams(letters, (3,), "c") + _grams(_skeleton(letters), (3, 4), "s"))


class SoundAlikeIndex:
    """TF-IDF cosine over ``features``; items are (id, text), those with an empty text left out.

    Stored as a compressed sparse matrix, n-gram by item (8 bytes per distinct n-gram of a text), and a search
    is one bincount over the postings of the query's n-grams. Measured with 100,000 command-like texts on one
    core of this 2-core machine: built in 13 s (about 340 MB at the peak), 63 MB kept, 10 ms a search. Each
    item's own row is kept too (8 more bytes per n-gram, and the text's key): ``similarity`` reads an indexed
    text's weights there instead of extracting its n-grams again for every query (64 FAQ answers took ~60 ms)."""

    def __init__(self, items: Iterable[tuple[str, str]]):
        self.ids: list[str] = []
        self.vocab: dict[str, int] = {}
        grams, counts, sizes = array("i"), array("f"), array("i")
        texts: list[str] = []
        for item_id, text in items:
            found = features(text) if text else None
            if not found:
                continue
            self.ids.append(item_id)
            texts.append(text)
            sizes.append(len(found))
            for g, c in found.items():
                grams.append(self.vocab.setdefault(g, len(self.vocab)))
                counts.append(c)
        n, gram = len(self.ids), np.frombuffer(grams, np.int32) if grams else np.zeros(0, np.int32)
        item = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(sizes, np.int32) if sizes else 0)
        df = np.bincount(gram, minlength=len(self.vocab))
        self.idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        w = (np.frombuffer(counts, np.float32) if counts else np.zeros(0, np.float32)) * self.idf[gram]
        w /= np.sqrt(np.bincount(item, w * w, minlength=n))[item]
        order = np.argsort(gram, kind="stable")
        self.rows, self.vals = item[order], w[order].astype(np.float32)
        self.offsets = np.concatenate([[0], np.cumsum(df)])
        # Item by item (the order they were read in): row i is item_grams / item_vals[item_offsets[i]:...[i + 1]].
        self.item_grams, self.item_vals = gram, w.astype(np.float32)
        self.item_offsets = np.concatenate([[0], np.cumsum(np.frombuffer(sizes, np.int32) if sizes else [])]).astype(np.int64)
        self._row_of_text: dict[str, int] = {}
        for i, text in enumerate(texts):
            self._row_of_text.setdefault(text, i)

    def __len__(self) -> int:
        return len(self.ids)

    def _query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(n-gram numbers, unit weights) of ``text`` over the n-grams the index knows (others match nothing)."""
        known = [(self.vocab[g], c) for g, c in features(text).items() if g in self.vocab]
        gram = np.array([g for g, _ in known], dtype=np.int64)
        q = np.array([c for _, c in known], np.float64) * self.idf[gram]
        return gram, q / (np.linalg.norm(q) or 1.0)

    def similarity(self, query: str, texts: list[str]) -> np.ndarray:
        """Cosine of ``query`` with each of ``texts``, indexed or not, both seen through the n-grams this index
        knows, with its IDF (as ``scores`` sees the query): for an indexed text, equal to its entry in
        ``scores``; a text written after the index was built is compared the same way, so the transcript said
        word for word scores 1 whether or not the index has caught up."""
        gram, q = self._query(query)
        dense = np.zeros(len(self.vocab), np.float64)
        dense[gram] = q
        out = np.zeros(len(texts), np.float32)
        for j, text in enumerate(texts):
            row = self._row_of_text.get(text)
            if row is not None:  # indexed: its unit weights are stored
                at = slice(self.item_offsets[row], self.item_offsets[row + 1])
                d_gram, d = self.item_grams[at], self.item_vals[at]
            elif text:
                d_gram, d = self._query(text)
            else:
                continue
            out[j] = float(dense[d_gram] @ d)
        return out

    def scores(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` with every indexed item (in ``ids`` order)."""
        gram, q = self._query(text)
        if not len(gram):
            return np.zeros(len(self.ids), np.float32)
        spans = [slice(self.offsets[g], self.offsets[g + 1]) for g in gram]
        rows = np.concatenate([self.rows[s] for s in spans])
        vals = np.concatenate([self.vals[s] * w for s, w in zip(spans, q)])
        return np.bincount(rows, vals, minlength=len(self.ids)).astype(np.float32)

    def search(self, text: str, k: int, skip: Collection[str] = ()) -> list[tuple[str, float]]:
        """The best ``k`` items sharing at least one n-gram with ``text``, leaving out the ids in ``skip``
        (those a caller already holds): (id, score), best first."""
        return self.search_scores(self.scores(text), k, skip)

    def search_scores(self, s: np.ndarray, k: int, skip: Collection[str] = ()) -> list[tuple[str, float]]:
        """``search`` from the ``scores`` of a text already computed."""
        want = k + len(skip)  # enough that k remain once the skipped ones are left out
        if want < len(s):  # only the best need sorting
            part = np.argpartition(-s, want)[:want]
            top = part[np.argsort(-s[part], kind="stable")]
        else:
            top = np.argsort(-s, kind="stable")
        return [(self.ids[i], float(s[i])) for i in top if s[i] > 0 and self.ids[i] not in skip][:k]


class SoundAlikeIndexes:
    """One ``SoundAlikeIndex`` per collection, for SearchBySpeech: built from the stored texts in the background
    when the server starts (``warm``) or else on a collection's first speech query with a transcript (that query
    waits: about 1.3 s per 10,000 texts), rebuilt in the background after the server writes to it. A query that
    finds a build of its collection under way waits for it rather than building a second one.

    A stale index is safe: every candidate it names is read back from the collection before use (a deleted
    item is gone; modality and metadata filters are checked on what is stored), and the service compares each
    hit's stored text afresh (``SoundAlikeIndex.similarity``), so staleness only delays when a new text can be
    found by sound; the vector search finds it at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()  # notified when a build ends
        self._built: dict[str, tuple[object, int, SoundAlikeIndex]] = {}  # name -> (collection, generation, index)
        self._generation: Counter[str] = Counter()
        self._building: set[str] = set()

    def changed(self, name: str) -> None:
        """The server wrote to collection ``name`` (call after the write)."""
        with self._lock:
            self._generation[name] += 1

    def forget(self, name: str) -> None:
        with self._lock:
            self._built.pop(name, None)
            self._generation[name] += 1

    def warm(self, name: str, coll) -> None:
        """Start building ``coll``'s index in the background unless it has one or one is under way."""
        with self._lock:
            have = self._built.get(name)
            if (have is not None and have[0] is coll) or name in self._building:
                return
            self._building.add(name)
            self._start(name, coll, self._generation[name])

    def get(self, name: str, coll) -> SoundAlikeIndex:
        """The index of ``coll`` (blocking: call it off the event loop)."""
        with self._lock:
            while True:
                generation, have = self._generation[name], self._built.get(name)
                if have is not None and have[0] is coll:
                    if have[1] != generation and name not in self._building:
                        self._building.add(name)
                        self._start(name, coll, generation)
                    return have[2]
                if name not in self._building:
                    break
                self._lock.wait()  # a build is under way (warm, or another query's first use): its result serves
            self._building.add(name)
        return self._build(name, coll, generation)  # none yet for this collection (first use, reindexed)

    def _start(self, name: str, coll, generation: int) -> None:
        threading.Thread(target=self._build, args=(name, coll, generation), daemon=True,
                         name=f"sound-alike-{name}").start()

    def _build(self, name: str, coll, generation: int) -> SoundAlikeIndex:
        try:
            index = SoundAlikeIndex(coll.texts())
            with self._lock:
                have = self._built.get(name)
                if have is None or have[0] is not coll or have[1] < generation:
                    self._built[name] = (coll, generation, index)
            return index
        finally:
            with self._lock:
                self._building.discard(name)
                self._lock.notify_all()
