"""Change events of a ``CollectionStore``: whoever keeps something derived from a collection's items (the
sound-alike indexes of SearchBySpeech, ``ranking/sound_alike.py``) subscribes here once, instead of every
write path remembering to tell it.

``WatchedStore`` wraps any backend's store; the collections it hands out are thin proxies that report after
each write (``written``) and the store reports a collection replaced or gone (``dropped``). A write that
failed may still have reached the backend (e.g. cancelled after its commit), so it is reported as well: a
listener that rebuilds too often costs time, one that misses a write serves stale data.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Sequence

from .backend import CollectionStore, IndexBackend, NewItem

log = logging.getLogger(__name__)

WRITTEN, DROPPED = "written", "dropped"
Listener = Callable[[str, str], None]  # (collection name, WRITTEN | DROPPED)


class WatchedCollection:
    """An ``IndexBackend`` that reports its writes; everything else is the backend's own."""

    def __init__(self, inner: IndexBackend, notify: Callable[[str, str], None]):
        self._inner = inner
        self._notify = notify

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _written(self, write: Callable[[], Any]) -> Any:
        try:
            return write()
        finally:
            self._notify(self._inner.name, WRITTEN)

    def add(self, items: Sequence[NewItem]) -> int:
        return self._written(lambda: self._inner.add(items))

    def upsert(self, items: Sequence[NewItem]) -> int:
        return self._written(lambda: self._inner.upsert(items))

    def delete(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        return self._written(lambda: self._inner.delete(ids))


class WatchedStore:
    """A ``CollectionStore`` whose changes reach the subscribed listeners. A collection keeps one proxy while
    it is open, so a proxy is as good an identity as the collection itself (batch keys, caches)."""

    def __init__(self, inner: CollectionStore):
        self._inner = inner
        self._listeners: list[Listener] = []
        self._proxies: dict[int, WatchedCollection] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _notify(self, name: str, event: str) -> None:
        for listener in self._listeners:
            try:
                listener(name, event)
            except Exception:  # a listener's bug must not fail a write that the store already made
                log.exception("change listener failed on %s %s", event, name)

    def _watched(self, coll: IndexBackend) -> WatchedCollection:
        with self._lock:
            proxy = self._proxies.get(id(coll))
            if proxy is None or proxy._inner is not coll:
                proxy = self._proxies[id(coll)] = WatchedCollection(coll, self._notify)
            return proxy

    def _forget(self, name: str) -> None:
        with self._lock:
            self._proxies = {k: p for k, p in self._proxies.items() if p._inner.name != name}
        self._notify(name, DROPPED)

    def create(self, name: str, **kwargs: Any) -> WatchedCollection:
        return self._watched(self._inner.create(name, **kwargs))

    def get(self, name: str) -> WatchedCollection:
        return self._watched(self._inner.get(name))

    def list(self) -> list[WatchedCollection]:
        return [self._watched(c) for c in self._inner.list()]

    def delete(self, name: str) -> None:
        try:
            self._inner.delete(name)
        finally:
            self._forget(name)

    def swap(self, name: str, staged: IndexBackend) -> WatchedCollection:
        """``staged`` came from ``staging`` (unwatched: nobody reads it before the swap)."""
        try:
            coll = self._inner.swap(name, staged)
        finally:
            self._forget(name)
        return self._watched(coll)
