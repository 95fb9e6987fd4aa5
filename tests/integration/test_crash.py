"""The crash harness (bench/crash_harness.py), shortened: 5 SIGKILLs of a real ``xmodal serve`` under
concurrent adds, upserts and deletes; after each restart nothing acknowledged may be missing, nothing
acknowledged as deleted may be back, and no request may be half-applied."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "crash_harness.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("crash_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_acknowledged_write_is_lost_across_sigkills(tmp_path, capsys):
    harness = load_harness()
    report = harness.run(cycles=5, data_dir=tmp_path, writers=3, seed=7, snapshot_ops=20)
    with capsys.disabled():
        print(f"\n[crash harness] {report}")
    assert report["lost"] == 0
    assert report["writes_acknowledged"] > 100 and set(report["acknowledged"]) == {"add", "upsert", "delete"}
    assert report["events"].get("unclean_shutdown", 0) >= 5 * 2  # both collections, every restart
    assert report["events"].get("snapshot_loaded", 0) >= 5  # restarts load a snapshot and replay after it
    assert report["clean_exit"] == 0
