"""Demo collections built on first start with ``--demo``: ``emoji`` (Noto emoji images, name as
metadata) and ``faq`` (the customer-service answers in ``faq.tsv``).

Items go through the same ``Service.add_items`` path as client requests. A collection whose item count
is short of what the demo expects (an interrupted first start) is rebuilt; a complete one is left alone.
"""
from __future__ import annotations

import csv
import json
import logging
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from ..config import Config
from ..encoders.base import IMAGE, TEXT
from ..errors import NotFound, Unavailable
from ..service import ItemInput, Service

log = logging.getLogger(__name__)

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
FAQ_TSV = Path(__file__).with_name("faq.tsv")


@dataclass(frozen=True)
class Emoji:
    unified: str
    name: str  # lower-cased, the caption of docs/EVALUATION.md
    short_name: str
    category: str
    subcategory: str
    png: bytes


def fetch_package(spec: str, cache_dir: Path) -> Path:
    """``npm pack`` a package into ``cache_dir`` once (no code is installed or run)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tgz = cache_dir / f"{name}-{version}.tgz"
    if tgz.exists():
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"the demo needs npm to download {spec}; install Node.js and npm, or run without --demo")
    log.info("downloading %s with npm pack", spec)
    proc = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", str(cache_dir)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not tgz.exists():
        raise Unavailable(f"npm pack {spec} failed: {proc.stderr.strip()[-500:]}")
    return tgz


def emoji_entries(tgz: Path, style: str) -> Iterator[tuple[dict, bytes]]:
    """(emoji.json entry, 64 px PNG) of every emoji an ``emoji-datasource-*`` package draws in ``style``;
    the Component category (skin tones, hair styles) is not a concept and is left out."""
    with tarfile.open(tgz) as tar:
        for e in json.load(tar.extractfile("package/emoji.json")):  # type: ignore[arg-type]
            if e["category"] == "Component" or not e.get(f"has_img_{style}"):
                continue
            member = tar.extractfile(f"package/img/{style}/64/{e['image']}")
            if member is not None:
                yield e, member.read()


def load_emoji(tgz: Path, style: str = "google") -> list[Emoji]:
    return [Emoji(e["unified"], e["name"].lower(), e["short_names"][0], e["category"], e.get("subcategory", ""), png)
            for e, png in emoji_entries(tgz, style)]


def load_faq(path: Path = FAQ_TSV) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


async def _fill(service: Service, name: str, description: str, items: list[ItemInput]) -> None:
    store = service.store
    try:
        existing = store.get(name)
    except NotFound:
        existing = None  # first start
    if existing is not None:
        if existing.count == len(items) and existing.space_id == service.embedder.space_id:
            log.info("demo collection %s present (%d items)", name, existing.count)
            return
        log.warning("demo collection %s incomplete or from another space: rebuilding", name)
        await service.delete_collection(name)
    await service.create_collection(name, description)
    step = service.config.max_batch
    with tqdm(total=len(items), desc=f"building demo '{name}'", unit="item") as bar:
        for i in range(0, len(items), step):
            added, _ = await service.add_items(name, items[i : i + step])
            bar.update(added)


async def ensure_demo(service: Service, config: Config) -> None:
    emoji = load_emoji(fetch_package(EMOJI_PACKAGE, config.data_path / "demo-cache"))
    if config.demo_limit:
        emoji = emoji[: config.demo_limit]
    await _fill(service, "emoji", "Noto emoji images; metadata name = caption", [
        ItemInput(id=e.short_name, kind=IMAGE, payload=e.png,
                  metadata={"name": e.name, "category": e.category, "subcategory": e.subcategory, "unified": e.unified})
        for e in emoji
    ])
    await _fill(service, "faq", "Northwind customer-service answers", [
        ItemInput(id=row["id"], kind=TEXT, payload=row["answer"],
                  metadata={"category": row["category"], "questions": row["questions"]})
        for row in load_faq()
    ])
