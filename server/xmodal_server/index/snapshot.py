"""Snapshots of a collection's FAISS index: written atomically, verified before use.

In the collection directory::

    snapshot-<seq>-<random>.faiss   the bytes of faiss.serialize_index
    snapshot.json                   {"file", "seq", "sha256", "bytes", "kind", "dim", "ntotal", "trained_on", ...}

``seq`` is the last operation of the collection's log (``ops`` in SQLite) that the index contains.

Writing: the index bytes go to ``<file>.tmp``, are fsynced and renamed; then the manifest the same way,
then the directory is fsynced. The manifest's rename is the commit point: a crash at any moment leaves
the previous manifest pointing at the previous, intact file (older files are removed only after the
commit, and leftovers are swept on open).

Reading: the manifest is parsed, and the file's size and SHA-256 compared with it, before FAISS sees a
byte. Any mismatch raises ``SnapshotInvalid``, which the collection reports and answers by rebuilding
from the log: a damaged snapshot is never loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

MANIFEST = "snapshot.json"
FORMAT = 1


class SnapshotInvalid(Exception):
    """The snapshot on disk cannot be trusted; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    file: str
    seq: int
    sha256: str
    bytes: int
    kind: str
    dim: int
    ntotal: int
    trained_on: int = 0
    format: int = FORMAT


def write(directory: Path, data: np.ndarray, *, seq: int, kind: str, dim: int, ntotal: int, trained_on: int = 0) -> Snapshot:
    """Durably replace the collection's snapshot by ``data`` (serialised index bytes) covering ``seq``."""
    # A fresh name each time: the file the current manifest names is never overwritten.
    name = f"snapshot-{seq:012d}-{uuid.uuid4().hex[:8]}.faiss"
    raw = memoryview(np.ascontiguousarray(data, dtype=np.uint8))
    _write_durably(directory / name, raw)
    snap = Snapshot(file=name, seq=seq, sha256=hashlib.sha256(raw).hexdigest(), bytes=raw.nbytes,
                    kind=kind, dim=dim, ntotal=ntotal, trained_on=trained_on)
    _write_durably(directory / MANIFEST, json.dumps(asdict(snap), indent=1).encode())
    fsync_dir(directory)
    sweep(directory, keep=name)
    return snap


def read(directory: Path) -> tuple[Snapshot, np.ndarray] | None:
    """The verified snapshot and its bytes; None when there is none; SnapshotInvalid when it is damaged."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        return None
    try:
        fields = json.loads(manifest.read_text())
        snap = Snapshot(**fields)
    except (ValueError, TypeError) as e:
        raise SnapshotInvalid(f"{manifest} is unreadable: {e}") from None
    if snap.format != FORMAT:
        raise SnapshotInvalid(f"{manifest}: format {snap.format}, this server reads format {FORMAT}")
    path = directory / snap.file
    if Path(snap.file).name != snap.file or not path.exists():
        raise SnapshotInvalid(f"{manifest} names {snap.file!r}, which does not exist")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise SnapshotInvalid(f"{path} is unreadable: {e}") from None
    if data.size != snap.bytes:
        raise SnapshotInvalid(f"{path} has {data.size} bytes, its manifest says {snap.bytes}")
    digest = hashlib.sha256(memoryview(data)).hexdigest()
    if digest != snap.sha256:
        raise SnapshotInvalid(f"{path}: SHA-256 {digest[:16]}... does not match its manifest's {snap.sha256[:16]}...")
    return snap, data


def sweep(directory: Path, keep: str | None = None) -> None:
    """Remove temporary files and snapshot files other than ``keep`` (default: the manifest's)."""
    if keep is None:
        try:
            keep = json.loads((directory / MANIFEST).read_text()).get("file")
        except (OSError, ValueError, AttributeError):
            keep = None
    for path in [*directory.glob("*.tmp"), *directory.glob("snapshot-*.faiss")]:
        if path.name != keep:
            path.unlink(missing_ok=True)


def _write_durably(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
