"""Collections and their vector indexes, behind one interface (``backend.py``).

``open_store`` picks the backend named by the config: ``faiss`` (embedded: ``store.py``, ``collection.py``)
or ``milvus`` (``milvus.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .backend import CollectionStore, IndexSettings

if TYPE_CHECKING:
    from ..config import Config
    from .exact import DeviceSearch


def milvus_uri(config: "Config") -> str:
    """``--milvus-uri``, or Milvus Lite in a file under the data directory."""
    return config.milvus_uri or str(config.data_path / "milvus.db")


def open_store(config: "Config", device_search: Callable[[], "DeviceSearch"] | None = None) -> CollectionStore:
    settings = IndexSettings.from_config(config)
    if config.index_backend == "milvus":
        from .milvus import MilvusStore

        config.data_path.mkdir(parents=True, exist_ok=True)
        return MilvusStore(milvus_uri(config), config.milvus_token, settings)
    from .store import Store

    return Store(config.data_path, device_search, settings)
