"""Re-ranking a spoken query's hits by the speech model's own likelihood of each hit's text.

Why: over a gallery of utterances (commands, canonical questions, the protocol's corpus) the transcript's
embedding is only as good as the transcript: one misheard word moves it to a neighbouring sentence, while the
right sentence is usually among the first 25 hits. Asking the speech model how well each of those texts
explains the audio recovers it.

Why gated: a text that was never said (an FAQ answer to a spoken question) is explained badly by the audio
whatever it means; ranking answers by that likelihood alone cut the spoken FAQ R@1 from 0.587 to 0.051. So
only hits whose text explains the audio about as well as the model's own transcript (per token, within the
encoder's ``rerank_gate``) move up; when no hit passes, the order is the search's. Validation
(docs/decisions/0001-rerank-gate.md, top 25): speech→text over the whole corpus 0.670 -> 0.790 (ceiling
0.795), spoken FAQ unchanged (0.587). One rule, used by the server and ``xmodal eval --rerank``.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

MAX_CANDIDATES = 64
# A text far longer than what was heard cannot have been said in the clip, so it cannot pass the gate and
# need not be scored: the decoder's cost grows with every token, and an answer collection's long texts were
# most of it. Measured over the cached scores (docs/decisions/0008-skip-unsayable-texts.md):
# on the validation clips this rule skips 85 % of the scored characters and no text that passed the gate (the
# closest skipped one was 2.97 per token below the transcript; the gate is 2.0), the most generous of the rules
# tried that skip about as much; on test it skips 54 % and again nothing that passed. The sentences said ran at
# most 19.1 characters a second, below the 20 that are always allowed.
SAYABLE_PER_HEARD, SAYABLE_SLACK, SAYABLE_PER_SECOND = 3.0, 20, 20.0


def rerank_order(scores: Sequence[float], logprobs: Sequence[float | None], heard: float, gate: float,
                 searched: int | None = None) -> list[int]:
    """The new order (indices into the hits) of hits ranked best first by ``scores``.

    ``logprobs[i]``: mean log-probability per token of hit i's text as the transcript (None: not scored);
    ``heard``: the same for the model's own transcript. Hits with ``logprob >= heard - gate`` come first,
    highest log-probability first (ties: by score); the others follow in their original order.
    ``searched``: only the first ``searched`` hits came from the search; the rest are sound-alike candidates
    (``ranking/sound_alike.py``) that join only by passing the gate, so a query whose candidates all fail (a spoken
    question against written answers) keeps exactly the search's hits and order.
    """
    searched = len(scores) if searched is None else searched
    passed = [i for i, lp in enumerate(logprobs) if lp is not None and lp >= heard - gate]
    passed.sort(key=lambda i: (-float(logprobs[i]), -float(scores[i]), i))  # type: ignore[arg-type]
    inside = set(passed)
    return passed + [i for i in range(searched) if i not in inside]


def sayable(text: str, heard: str, seconds: float) -> bool:
    """Whether ``text`` could have been said in a clip of ``seconds`` whose transcript is ``heard`` (both in
    ``spoken_form``): at most 3 x the transcript's length + 20 characters, or 20 characters a second, whichever
    allows more (so a transcript that lost words does not exclude the sentence that was said)."""
    return len(text) <= max(SAYABLE_PER_HEARD * len(heard) + SAYABLE_SLACK, SAYABLE_PER_SECOND * seconds)


def spoken_form(text: str) -> str:
    """The form every text is scored in: lower case, no punctuation. Whisper writes "How long...?" while a
    gallery may hold "how long ...": scored as written, the casing alone cost a verbatim text about 0.35 per
    token against the model's own transcript, as much as a wrong word. Both sides in one form cancel that.
    Apostrophes stay inside words ("what's") only: a quotation mark is a token Whisper never emits, which
    would make the whole text impossible (log-probability -inf)."""
    text = re.sub(r"[^a-z0-9']+", " ", text.lower())
    return " ".join(re.sub(r"(?<![a-z0-9])'|'(?![a-z0-9])", " ", text).split()) or "."


def per_token(logprob_sums: np.ndarray, token_counts: Sequence[int]) -> np.ndarray:
    """Summed log-probabilities -> means per token (texts of different lengths compare)."""
    return np.asarray(logprob_sums, dtype=np.float64) / np.maximum(np.asarray(token_counts, dtype=np.float64), 1.0)
