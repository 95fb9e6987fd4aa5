"""Text validation: what the text encoders receive is clean, bounded, NFC-normalised Unicode.

Truncation to the model's token budget is not decided here: the encoder reports it per item.
"""
from __future__ import annotations

import unicodedata

from ..errors import InvalidInput
from . import MediaLimits


def check_text(text: str, limits: MediaLimits) -> str:
    """Return ``text`` NFC-normalised and stripped, or raise ``InvalidInput`` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, got {type(text).__name__}")
    # NUL is never meaningful in a query or caption, and it truncates strings in C-backed tokenisers
    # and logs; refuse it rather than silently drop part of the input.
    nul = text.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"text contains a NUL character at position {nul}; remove it")
    # Protobuf strings are valid UTF-8, but in-process callers can hand us lone surrogates (e.g. from
    # surrogateescape decoding). They cannot be encoded, tokenised or stored; report the first one.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput(
            f"text contains an invalid surrogate code point U+{ord(text[e.start]):04X} at position "
            f"{e.start}; send valid Unicode (UTF-8) text"
        ) from None
    text = text.strip()
    # Cheap bound before normalising: NFC can shorten text (combining marks, Hangul jamo fold ~3:1),
    # so the exact check comes after it, but 10 MB of combining marks would cost ~0.4 s of CPU.
    if len(text) > 4 * limits.max_text_chars:
        raise _too_long(len(text), limits)
    # NFC so that visually identical strings (precomposed vs combining accents) embed identically.
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise InvalidInput("text is empty (or only whitespace); send at least one visible character")
    if len(text) > limits.max_text_chars:
        raise _too_long(len(text), limits)
    return text


def _too_long(length: int, limits: MediaLimits) -> InvalidInput:
    return InvalidInput(
        f"text is {length} characters long, more than the limit {limits.max_text_chars}; "
        "shorten it or split it into several items"
    )
