"""The set of collections under ``<data_dir>/collections``: create, open, list, delete.

Creation and deletion are atomic directory renames: a collection is built in a ``.tmp-*`` directory
and renamed into place, and deleted by renaming it to ``.deleted-*`` before removal, so a crash never
leaves a half-made collection under its real name. Leftovers are swept on open.

This is the FAISS embedded backend's ``CollectionStore`` (``backend.py``); each collection is a
``collection.Collection``. What collections report while opening (recovery, corruption, rebuilds) is kept
in ``events`` and sent to the sink the service installs (metrics).
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from ..errors import AlreadyExists, InvalidInput, NotFound
from . import snapshot
from .backend import EventSink, IndexSettings, check_index_type
from .collection import Collection, log_event
from .exact import DeviceSearch

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise InvalidInput(
            f"collection name {name!r} is invalid: use 1-64 characters of letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


MAX_EVENTS = 1000


class Store:
    def __init__(self, data_dir: Path, device_search: Callable[[], DeviceSearch] | None = None,
                 settings: IndexSettings | None = None):
        self.root = data_dir / "collections"
        self._device_search = device_search
        self.settings = settings or IndexSettings()
        self.events: list[tuple[str, str, str]] = []
        self._sink: EventSink | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        for old in self.root.glob(".swapped-*"):
            # A reindex swap interrupted between its two renames: the old version is intact, restore it.
            name = old.name.split("-", 1)[1].rsplit("-", 1)[0]
            if not (self.root / name).exists():
                log.warning("restoring %s from an interrupted reindex", name)
                old.rename(self.root / name)
        for leftover in [*self.root.glob(".tmp-*"), *self.root.glob(".deleted-*"), *self.root.glob(".swapped-*")]:
            log.warning("removing leftover %s from an interrupted create/delete/reindex", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        self._open: dict[str, Collection] = {}
        for path in sorted(p for p in self.root.iterdir() if p.is_dir() and NAME_RE.match(p.name)):
            self._open[path.name] = self._collection(path)

    def _event(self, collection: str, event: str, detail: str) -> None:
        log_event(collection, event, detail)
        self.events = [*self.events[-(MAX_EVENTS - 1):], (collection, event, detail)]
        if self._sink is not None:
            self._sink(collection, event, detail)

    def set_event_sink(self, sink: EventSink) -> None:
        for event in self.events:
            sink(*event)
        self._sink = sink

    def describe_backend(self, default: str) -> str:
        """``default`` describes the exact search path (CPU or a device mirror); collections choose their kind."""
        return f"{default}; per collection: exact, ivf (IndexIVFFlat), hnsw (IndexHNSWFlat) or auto; SQLite log + snapshots"

    def create(self, name: str, *, dim: int, space_id: str, description: str = "", index_type: str = "") -> Collection:
        check_name(name)
        with self._lock:
            if name in self._open:
                raise AlreadyExists(f"collection {name!r} already exists")
            staged = self.staging(name, dim=dim, space_id=space_id, description=description, index_type=index_type)
            staged.close()
            final = self.root / name
            staged.path.rename(final)
            _fsync_dir(self.root)
            self._open[name] = coll = self._collection(final)
            return coll

    def _collection(self, path: Path, create: dict[str, str] | None = None) -> Collection:
        return Collection(path, create=create, device_search=self._device_search, settings=self.settings,
                          on_event=self._event)

    def staging(self, name: str, *, dim: int, space_id: str, description: str, index_type: str = "") -> Collection:
        """An empty collection in a ``.tmp-*`` directory, to be filled and then ``swap``-ped in."""
        tmp = self.root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        meta = {"name": name, "description": description, "dim": str(dim), "space_id": space_id,
                "index_type": check_index_type(index_type, self.settings), "created_at": repr(time.time())}
        return self._collection(tmp, create=meta)

    def swap(self, name: str, staged: Collection) -> Collection:
        """Atomically replace collection ``name`` by a filled staging collection."""
        with self._lock:
            old = self.get(name)
            staged.close()
            old.close(snapshot_first=False)  # about to be replaced: no point persisting its index
            swapped = self.root / f".swapped-{name}-{uuid.uuid4().hex[:8]}"
            old.path.rename(swapped)  # a crash right here leaves no <name>: the next open restores it
            staged.path.rename(self.root / name)
            _fsync_dir(self.root)
            self._open[name] = coll = self._collection(self.root / name)
            shutil.rmtree(swapped, ignore_errors=True)
            return coll

    def get(self, name: str) -> Collection:
        try:
            return self._open[name]
        except KeyError:
            check_name(name)
            raise NotFound(f"collection {name!r} does not exist; list them with `xmodal collections list`") from None

    def list(self) -> list[Collection]:
        return [self._open[n] for n in sorted(self._open)]

    def delete(self, name: str) -> None:
        with self._lock:
            coll = self.get(name)
            del self._open[name]
            coll.close(snapshot_first=False)
            trash = self.root / f".deleted-{name}-{uuid.uuid4().hex[:8]}"
            coll.path.rename(trash)
            _fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)

    def close(self) -> None:
        for coll in self._open.values():
            coll.close()


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX needs the directory itself fsynced)."""
    snapshot.fsync_dir(path)
