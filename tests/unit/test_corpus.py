"""The speech<->text sentence corpus: split rule, grouping, sizes, determinism (no models, no network)."""
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

import pytest

from xmodal_server.align.corpus import (COMMAND, EMOJI_CAPTION, FAQ_ANSWER, FAQ_QUESTION, Sentence, load_commands,
                                        load_corpus, speech_sentences, split_of)


@dataclass(frozen=True)
class FakeEmoji:
    unified: str
    name: str


# 40 made-up entries (codes in the real format) so that every split gets some captions
EMOJI = [FakeEmoji(f"1F{600 + i:03X}", f"TEST FACE NUMBER {w}") for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
    "november oscar papa quebec romeo sierra tango".split())]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(EMOJI)


def test_split_rule_matches_hand_computed_sha1():
    # sha1("set-timer") = 352826aa...8c9b; as an integer it is 0 mod 5 -> test
    assert hashlib.sha1(b"set-timer").hexdigest() == "352826aaa194a4a905b491980cb192832bd38c9b"
    assert int("352826aaa194a4a905b491980cb192832bd38c9b", 16) % 5 == 0
    assert split_of("set-timer") == "test"
    # sha1("1F44D") = 02da20fb...2bd4; 1 mod 5 -> val
    assert hashlib.sha1(b"1F44D").hexdigest() == "02da20fbc7870d18a17b3afc77e29060ea1d2bd4"
    assert int("02da20fbc7870d18a17b3afc77e29060ea1d2bd4", 16) % 5 == 1
    assert split_of("1F44D") == "val"
    # 2 mod 5 -> train
    assert split_of("order-track") == "train"


def test_every_group_lies_on_one_side(corpus):
    sides = defaultdict(set)
    for s in corpus:
        sides[(s.source == COMMAND, s.group)].add(s.split)
        assert s.split == split_of(s.group)
    assert all(len(v) == 1 for v in sides.values())
    # a FAQ row's questions and its answer share the row id
    for s in corpus:
        if s.source in (FAQ_QUESTION, FAQ_ANSWER):
            assert s.ref == s.group
    rows_q = {s.group for s in corpus if s.source == FAQ_QUESTION}
    rows_a = {s.group for s in corpus if s.source == FAQ_ANSWER}
    assert rows_q == rows_a


def test_all_splits_non_empty_for_every_source(corpus):
    have = {(s.source, s.split) for s in corpus}
    for source in (FAQ_QUESTION, FAQ_ANSWER, COMMAND, EMOJI_CAPTION):
        for split in ("train", "val", "test"):
            assert (source, split) in have, (source, split)


def test_sizes(corpus):
    commands = [s for s in corpus if s.source == COMMAND]
    assert len(commands) >= 900
    assert len({s.group for s in commands}) >= 250
    per_template = defaultdict(int)
    for template, _ in load_commands():
        per_template[template] += 1
    assert max(per_template.values()) <= 6
    assert len([s for s in corpus if s.source == FAQ_QUESTION]) >= 3 * 160
    assert len([s for s in corpus if s.source == EMOJI_CAPTION]) == len(EMOJI)


def test_commands_are_short_plain_spoken_text():
    for template, text in load_commands():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", template), template
        assert 3 <= len(text.split()) <= 14, text
        assert text.isascii() and not re.search(r"[\d\t\"']", text), text  # numbers are spelled out for TTS


def test_speech_subset_excludes_answers(corpus):
    spoken = speech_sentences(corpus)
    assert {s.source for s in spoken} == {FAQ_QUESTION, COMMAND, EMOJI_CAPTION}
    assert len(spoken) == sum(s.source != FAQ_ANSWER for s in corpus)
    assert not any(re.search(r"\d", s.text) for s in spoken if s.source == COMMAND)


def test_deterministic_and_without_duplicates(corpus):
    again = load_corpus(EMOJI)
    assert again == corpus
    texts = [s.text for s in corpus]
    assert len(texts) == len(set(texts))
    assert all(isinstance(s, Sentence) for s in corpus)
    # without emoji the other sources are unchanged, in the same order
    assert load_corpus() == [s for s in corpus if s.source != EMOJI_CAPTION]


def test_emoji_captions_are_lower_cased_and_keyed_by_unified(corpus):
    caps = [s for s in corpus if s.source == EMOJI_CAPTION]
    assert [s.text for s in caps] == [e.name.lower() for e in EMOJI]
    assert [s.group for s in caps] == [e.unified for e in EMOJI] == [s.ref for s in caps]
