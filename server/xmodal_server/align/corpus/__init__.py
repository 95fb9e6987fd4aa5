"""The sentence corpus for speech <-> text alignment (docs/EVALUATION.md, "Speech <-> text (v1)").

Sources, in this order: the FAQ's questions and paraphrases (``faq-question``), the FAQ's answers
(``faq-answer``), the short voice-assistant commands and questions of ``commands.tsv`` (``command``) and,
when emoji entries are given, the emoji captions (``emoji-caption``).

Each sentence has a *group*, the unit that is split: the FAQ row id (a row's questions and its answer fall
on one side), the command's template slug (near-duplicates made from one template stay together) or the
emoji's ``unified`` code (the same rule as the emoji image split). ``split_of(group)`` is docs/EVALUATION.md's
hash rule. Identical texts (compared case-, space- and punctuation-insensitively) are kept once, the first
one seen. Everything is deterministic: file order, then the order of the emoji entries given.
"""
from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ...demo import load_faq

COMMANDS_TSV = Path(__file__).with_name("commands.tsv")

FAQ_QUESTION = "faq-question"
FAQ_ANSWER = "faq-answer"
EMOJI_CAPTION = "emoji-caption"
COMMAND = "command"
SPOKEN_SOURCES = (FAQ_QUESTION, COMMAND, EMOJI_CAPTION)  # the long FAQ answers are not spoken
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sentence:
    text: str
    source: str  # "faq-question" | "faq-answer" | "emoji-caption" | "command"
    group: str  # the split unit: template slug, FAQ row id, or emoji unified code
    split: str  # "train" | "val" | "test"
    ref: str  # FAQ row id for FAQ questions/answers, emoji unified for captions, template for commands


def split_of(key: str) -> str:
    """docs/EVALUATION.md's rule: sha1(key) % 5 == 0 -> test, == 1 -> val, else train."""
    r = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % 5
    return "test" if r == 0 else "val" if r == 1 else "train"


def load_commands(path: Path = COMMANDS_TSV) -> list[tuple[str, str]]:
    """(template, sentence) pairs in file order."""
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["template"], row["sentence"])
                for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _caption(entry) -> str:
    name = getattr(entry, "name", None)
    if name is None:  # align.emoji.Concept carries the caption already lower-cased
        name = entry.caption
    return name.lower()


def load_corpus(emoji_entries: Iterable | None = None) -> list[Sentence]:
    """All sentences; ``emoji_entries``: objects with ``.unified`` and ``.name`` (or ``.caption``)."""
    raw: list[tuple[str, str, str]] = []  # (text, source, group); ref == group for every source
    faq = load_faq()
    for row in faq:
        raw += [(q.strip(), FAQ_QUESTION, row["id"]) for q in row["questions"].split(" || ") if q.strip()]
    raw += [(row["answer"].strip(), FAQ_ANSWER, row["id"]) for row in faq]
    raw += [(text.strip(), COMMAND, template) for template, text in load_commands()]
    if emoji_entries is not None:
        raw += [(_caption(e).strip(), EMOJI_CAPTION, e.unified) for e in emoji_entries]
    out, seen = [], set()
    for text, source, group in raw:
        k = _key(text)
        if not k or k in seen:
            continue
        seen.add(k)
        out.append(Sentence(text, source, group, split_of(group), group))
    return out


def speech_sentences(corpus: Iterable[Sentence]) -> list[Sentence]:
    """The subset to be spoken: FAQ questions, commands and emoji captions (not the FAQ answers)."""
    return [s for s in corpus if s.source in SPOKEN_SOURCES]
