"""``xmodal serve`` as a subprocess on 127.0.0.1:0, of this source tree or of another one (``src``: e.g. a git
worktree of an earlier commit), for the benchmarks that time servers over loopback gRPC (throughput.py,
speech_latency.py)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

READY = re.compile(r"xmodal SERVING on ([\d.]+):(\d+)")
METRICS = re.compile(r"metrics on :(\d+)/metrics")


class ServerProcess:
    """``xmodal serve`` on 127.0.0.1:0; its output is drained by a thread so it can never block."""

    def __init__(self, data_dir: Path, flags: list[str], src: Path | None = None):
        """``src``: run the server code of that source tree (its server/ and clients/python/ first on the path)."""
        cmd = [sys.executable, "-m", "xmodal.cli", "serve", "--host", "127.0.0.1", "--port", "0",
               "--metrics-port", "0", "--data-dir", str(data_dir), "--log-level", "WARNING", *flags]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(src / "server"), str(src / "clients" / "python"), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     cwd=str(src) if src is not None else None)
        self.log: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            if m := METRICS.search(line):
                self.metrics_port = int(m.group(1))
            if m := READY.search(line):
                self.address = f"127.0.0.1:{m.group(2)}"
                break
        else:
            sys.exit("the server did not start:\n" + "".join(self.log[-30:]))
        threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True).start()  # type: ignore[arg-type]

    def batches(self) -> dict[str, tuple[float, float]]:
        """Per batcher: (number of batches, items in them) so far, from the server's /metrics."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30) as r:
            text = r.read().decode()
        found = re.findall(r'^xmodal_batch_size_(count|sum)\{batcher="(\w+)"\} (\S+)$', text, re.M)
        values = {(stat, name): float(v) for stat, name, v in found}
        return {name: (values[("count", name)], values[("sum", name)]) for _, name, _ in found}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def source_commit(src: Path) -> str:
    """Short hash of HEAD of the source tree ``src`` ("unknown" when it is not a git checkout)."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True).stdout.strip() or "unknown"


def check_source_tree(src: Path) -> Path:
    """``src`` resolved, or exit naming what is missing: a tree with server/xmodal_server."""
    src = src.resolve()
    if not (src / "server" / "xmodal_server").is_dir():
        sys.exit(f"--baseline-src {src}: no server/xmodal_server there")
    return src
