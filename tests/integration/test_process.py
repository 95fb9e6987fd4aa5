"""The server as a real process: ``xmodal serve`` starts, serves, is killed, restarts with its data."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xmodal import Client, Item

pytestmark = pytest.mark.slow

READY = re.compile(r"xmodal SERVING on ([\d.]+):(\d+) after ([\d.]+)s")


class ServerProcess:
    def __init__(self, data_dir: Path, *extra: str):
        self.log: list[str] = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xmodal.cli", "serve", "--port", "0", "--metrics-port", "0", "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.address, self.ready_seconds = self._wait_ready(timeout=600)

    def _wait_ready(self, timeout: float) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            m = READY.search(line)
            if m:
                return f"127.0.0.1:{m.group(2)}", float(m.group(3))
            if time.monotonic() > deadline:
                break
        self.proc.kill()
        raise AssertionError("server never became ready:\n" + "".join(self.log[-40:]))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def test_acknowledged_items_survive_sigkill_and_restart(tmp_path, capsys):
    first = ServerProcess(tmp_path)
    try:
        with Client(first.address) as c:
            assert c.health() == "SERVING"
            c.create_collection("notes")
            c.add_items("notes", [Item.text(f"n{i}", f"note number {i} about topic {i % 7}", {"i": str(i)}) for i in range(40)])
            c.delete_items("notes", ["n3"])
            c.create_collection("doomed")
            c.delete_collection("doomed")
    finally:
        first.kill()  # no graceful shutdown: acknowledged writes must already be durable

    second = ServerProcess(tmp_path)
    try:
        with Client(second.address) as c:
            cols = {x["name"]: x for x in c.list_collections()}
            assert set(cols) == {"notes"} and cols["notes"]["item_count"] == 39
            items, missing = c.get_items("notes", [f"n{i}" for i in range(40)])
            assert missing == ["n3"] and items[0]["metadata"] == {"i": "0"}
            assert c.search_text("notes", "note number 12 about topic 5", top_k=1).hits[0].id == "n12"
        assert second.terminate() == 0
    finally:
        if second.proc.poll() is None:
            second.kill()
    with capsys.disabled():
        # Measured, not asserted (timings belong in bench/): the second start has warm caches.
        print(f"\n[time to SERVING] first start {first.ready_seconds:.1f}s, restart {second.ready_seconds:.1f}s")


def test_demo_builds_emoji_and_faq_then_later_starts_load_them(tmp_path):
    """The README's main job, shortened with --demo-limit (the full set is 1,906 images)."""
    import json
    import shutil

    if shutil.which("npm") is None:
        pytest.skip("npm is needed to download the emoji set (.ci/run installs it)")
    first = ServerProcess(tmp_path, "--demo", "--demo-limit", "40")
    try:
        assert any("building demo 'emoji'" in line for line in first.log)
        with Client(first.address) as c:
            cols = {x["name"]: x["item_count"] for x in c.list_collections()}
            assert cols == {"emoji": 40, "faq": 169}
            hits = c.search_text("emoji", "red apple", top_k=3).hits
            assert len(hits) == 3 and all(h.modality == "image" and h.metadata["name"] for h in hits)
            faq = c.search_text("faq", "how long do I have to return an item", top_k=1).hits
            assert faq[0].id == "returns-window"
        cli = subprocess.run([sys.executable, "-m", "xmodal.cli", "--address", first.address, "search", "emoji",
                              "--text", "red apple", "--json"], capture_output=True, text=True, check=True)
        assert len(json.loads(cli.stdout)["hits"]) == 10  # default --top-k
    finally:
        first.terminate()
    second = ServerProcess(tmp_path, "--demo", "--demo-limit", "40")
    try:
        assert not any("building demo" in line for line in second.log)  # loaded, not rebuilt
        with Client(second.address) as c:
            assert {x["name"]: x["item_count"] for x in c.list_collections()} == {"emoji": 40, "faq": 169}
    finally:
        second.terminate()
