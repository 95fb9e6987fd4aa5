"""Image–caption pairs from the emoji sets, split by concept as docs/EVALUATION.md (emoji v1) says.

A concept is one ``emoji.json`` entry (its ``unified`` code), Component excluded, base image only. The
caption is the lower-cased ``name``; ``short_names`` and the (sub)category are extra *training* text only.
Both art styles (Google/Noto and Twitter/Twemoji) of a concept share its split.

``TRAIN_STYLES`` (Apple, Facebook) add images of *training* concepts only: more drawings of one concept
teach the head what the concept is rather than how one artist draws it (validation MRR 0.418 vs 0.403,
R@1 0.312 vs 0.295, means of 3 seeds),
and the protocol's test galleries stay Google and Twitter.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..demo import emoji_entries, fetch_package
from .corpus import split_of

PACKAGES = {"google": "emoji-datasource-google@16.0.0", "twitter": "emoji-datasource-twitter@16.0.0",
            "apple": "emoji-datasource-apple@16.0.0", "facebook": "emoji-datasource-facebook@16.0.0"}
PROTOCOL_STYLES = ("google", "twitter")
TRAIN_STYLES = ("apple", "facebook")


@dataclass(frozen=True)
class Concept:
    unified: str
    caption: str  # lower-cased name: the only test-time text
    extra_texts: tuple[str, ...]  # short names and category phrases: training augmentation
    split: str  # train / val / test, from sha1(unified)
    images: dict  # style -> PNG bytes


def _style_images(style: str, cache_dir: Path, entries: dict[str, dict]) -> dict[str, bytes]:
    """unified -> 64 px PNG of one art style; fills ``entries`` with the emoji.json rows seen."""
    out = {}
    for e, png in emoji_entries(fetch_package(PACKAGES[style], cache_dir), style):
        entries.setdefault(e["unified"], e)
        out[e["unified"]] = png
    return out


def load_concepts(cache_dir: Path, styles: tuple[str, ...] = PROTOCOL_STYLES,
                  train_styles: tuple[str, ...] = ()) -> list[Concept]:
    """The protocol's concepts (defined by ``styles``), with ``train_styles`` images on training concepts."""
    entries: dict[str, dict] = {}
    images: dict[str, dict[str, bytes]] = {}
    for style in styles:
        for unified, png in _style_images(style, cache_dir, entries).items():
            images.setdefault(unified, {})[style] = png
    for style in train_styles:
        for unified, png in _style_images(style, cache_dir, {}).items():
            if unified in images and split_of(unified) == "train":
                images[unified][style] = png
    concepts = []
    for unified in sorted(entries):
        e = entries[unified]
        extras = tuple(dict.fromkeys(
            [s.replace("_", " ") for s in e.get("short_names", [])]
            + [f"{e.get('subcategory', '').replace('-', ' ')}: {e['name'].lower()}"]
        ))
        concepts.append(Concept(unified, e["name"].lower(), extras, split_of(unified), images[unified]))
    return concepts
