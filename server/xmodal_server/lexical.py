"""Sound-alike matching of a spoken query's transcript against a collection's texts: re-ranking candidates
that the transcript's embedding misses.

Why: when Whisper mishears a name ("mull dives flag" for "maldives flag", "mokolia flag" for "mongolia
flag") the transcript's sentence embedding lands on a neighbour in meaning ("indonesia flag"), and the right
text is often not even in the top 25, so re-ranking by the audio cannot recover it. The misheard spelling
still shares most of its letters and consonant sounds with the right text. On 200 validation clips against
the whole corpus (bench/results/lexical_candidates_trial.txt) this matching alone put the right sentence first
for 0.875 of clips (the fused search: 0.775); added to the re-ranking's top 25, 10 sound-alike texts raised the
share of clips whose right sentence gets scored from 0.870 to 0.960, and R@1 after re-ranking from 0.870 to 0.950.

What is compared: character n-grams of the letters with word breaks removed (misheard word boundaries:
"sea chills" / "seychelles"), and n-grams of a sound skeleton: consonants folded into Soundex classes, every
vowel one symbol, repeats collapsed ("mull dives" and "maldives" both read 5a43a1a2; "mokolia" 5a2a4a shares
most of its n-grams with "mongolia" 5a52a4a). Digits are spelled out, as
Whisper writes "8" where a gallery says "eight" and the other way round. Weights: TF-IDF over the indexed
texts, cosine similarity; the index is an in-memory inverted file, built from the stored texts.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable

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


class LexicalIndex:
    """TF-IDF cosine over ``features``; items are (id, text), those with an empty text left out."""

    def __init__(self, items: Iterable[tuple[str, str]]):
        self.ids: list[str] = []
        docs: list[Counter[str]] = []
        for item_id, text in items:
            if text:
                self.ids.append(item_id)
                docs.append(features(text))
        df = Counter(g for d in docs for g in d)
        self.idf = {g: math.log((1 + len(docs)) / (1 + n)) + 1.0 for g, n in df.items()}
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for i, d in enumerate(docs):
            w = self._weights(d)
            for g, v in w.items():
                rows, vals = postings.setdefault(g, ([], []))
                rows.append(i)
                vals.append(v)
        self.postings = {g: (np.array(r, np.int64), np.array(v, np.float32)) for g, (r, v) in postings.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def _weights(self, counts: Counter[str]) -> dict[str, float]:
        w = {g: c * self.idf[g] for g, c in counts.items() if g in self.idf}
        norm = math.sqrt(sum(v * v for v in w.values())) or 1.0
        return {g: v / norm for g, v in w.items()}

    def scores(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` with every indexed item (in ``ids`` order)."""
        out = np.zeros(len(self.ids), np.float32)
        for g, v in self._weights(features(text)).items():
            rows, vals = self.postings[g]
            out[rows] += vals * v
        return out

    def search(self, text: str, k: int) -> list[tuple[str, float]]:
        """The best ``k`` items sharing at least one n-gram with ``text``: (id, score), best first."""
        s = self.scores(text)
        top = np.argsort(-s, kind="stable")[:k]
        return [(self.ids[i], float(s[i])) for i in top if s[i] > 0]


class CollectionTexts:
    """One ``LexicalIndex`` per collection, for SearchBySpeech re-ranking: built from the stored texts on a
    collection's first re-ranked query, rebuilt in the background after the server writes to it.

    A stale index is safe: every candidate it names is read back from the collection before use (a deleted
    item is gone; modality and metadata filters are checked on what is stored), so staleness only delays
    when a new text can join as a sound-alike candidate; the vector search finds it at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[str, tuple[object, int, LexicalIndex]] = {}  # name -> (collection, generation, index)
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

    def get(self, name: str, coll) -> LexicalIndex:
        """The index of ``coll`` (blocking: call it off the event loop)."""
        with self._lock:
            generation, have = self._generation[name], self._built.get(name)
            if have is not None and have[0] is coll:
                if have[1] != generation and name not in self._building:
                    self._building.add(name)
                    threading.Thread(target=self._build, args=(name, coll, generation), daemon=True,
                                     name=f"sound-alike-{name}").start()
                return have[2]
        return self._build(name, coll, generation)  # none yet for this collection (first use, reindexed)

    def _build(self, name: str, coll, generation: int) -> LexicalIndex:
        try:
            index = LexicalIndex((r[0], r[2]) for r in coll.payloads())
            with self._lock:
                have = self._built.get(name)
                if have is None or have[0] is not coll or have[1] < generation:
                    self._built[name] = (coll, generation, index)
            return index
        finally:
            with self._lock:
                self._building.discard(name)
