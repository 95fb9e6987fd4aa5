"""What every benchmark's report starts with: the command, the commit, and the machine it ran on, plus a
``Report`` that prints each line as it comes and writes them all to ``--out`` at the end."""
from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command() -> str:
    """How this run was started, as a command to copy."""
    return " ".join(["python", os.path.relpath(sys.argv[0], REPO), *map(shlex.quote, sys.argv[1:])])


def commit() -> str:
    """Short hash of HEAD, marked when tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        # Result files written by an earlier run are not code: they do not make a run "uncommitted".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
                               cwd=REPO, capture_output=True, text=True).stdout
        return rev + ("+uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(torch_threads: bool = False) -> str:
    """CPU model, cores, GPU (when torch is importable), load average now; ``torch_threads``: add torch's
    version and intra-op thread count (what the model-bound benchmarks depend on)."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        extra = f"; torch {torch.__version__} with {torch.get_num_threads()} threads" if torch_threads else ""
    except ImportError:
        gpu, extra = "GPU unknown (no torch)", ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, {gpu}, Python {platform.python_version()}{extra}; "
            f"load average at start {load:.1f}")


def verdict(value: float, target: float, higher: bool = True) -> str:
    """``value`` against a target: "3.47 (>= 3: met)" (``higher``: at least ``target``; else at most)."""
    ok = value >= target if higher else value <= target
    return f"{value:5.2f} ({'>=' if higher else '<='} {target:g}: {'met' if ok else 'NOT met'})"


class Report:
    """Lines printed as they come (a long run shows progress) and kept for ``write``."""

    def __init__(self, title: str, torch_threads: bool = False):
        self.lines: list[str] = []
        self.log(f"# {title}")
        self.log(f"command: {command()}  (commit {commit()}, {time.strftime('%Y-%m-%d %H:%M:%S')})")
        self.log(f"machine: {machine(torch_threads)}")

    def log(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, path: str | Path | None) -> None:
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text("\n".join(self.lines) + "\n")
