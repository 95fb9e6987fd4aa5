"""The evaluation report: ``report.md`` (human), ``results.json`` (machine), ``recall.png`` and, with
training curves, ``curves.png``, all in one output directory.

Every number appears with its gallery size (docs/EVALUATION.md): in the tables each row carries its gallery
column, and in the bar chart each task group is labelled with its gallery size. Every file is written
atomically (temporary file in the same directory, fsync, ``os.replace``), so a crash mid-write leaves the
previous version or the new one, never half a file; ``report.md`` is written last, so once it is present
the files it links to are too. Plots use matplotlib's Agg canvas directly (no pyplot, no global backend
switch), so this works headless and does not disturb a caller's own matplotlib setup.
"""
from __future__ import annotations

import io
import json
import math
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from .metrics import RetrievalResult

REPORT_SCHEMA = 1
_COLUMNS = ("method", "queries", "gallery", "R@1", "R@5", "R@10", "MRR")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a report is meant to be read by others
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _cell(value: Any) -> str:
    """A markdown table cell: pipes escaped, newlines as <br>."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _tasks(results: list[RetrievalResult]) -> dict[str, list[RetrievalResult]]:
    """Results grouped by task, tasks and methods in order of first appearance."""
    by_task: dict[str, list[RetrievalResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    return by_task


def _gallery_label(rows: list[RetrievalResult]) -> str:
    sizes = sorted({r.gallery_size for r in rows})
    if len(sizes) == 1:
        return f"gallery {sizes[0]:,}"
    return "galleries " + ", ".join(f"{s:,}" for s in sizes)


def _markdown(results: list[RetrievalResult], title: str, meta: dict[str, str], has_curves: bool) -> str:
    out = [f"# {title}", ""]
    if meta:
        out += ["| | |", "|---|---|"]
        out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in meta.items()]
        out.append("")
    out += [
        "R@K: share of queries whose correct item is among the top K of the gallery; MRR: mean of 1/rank. "
        "Ties are ranked optimistically (rank = 1 + items scoring strictly higher). "
        "Each number holds for the gallery size on its row.",
        "",
    ]
    for task, rows in _tasks(results).items():
        out += [f"## {task} — {_gallery_label(rows)}", ""]
        out.append("| " + " | ".join(_COLUMNS) + " |")
        out.append("|---|" + "---:|" * (len(_COLUMNS) - 1))
        for r in rows:
            cells = [_cell(r.method), f"{r.n_queries:,}", f"{r.gallery_size:,}",
                     f"{r.r1:.3f}", f"{r.r5:.3f}", f"{r.r10:.3f}", f"{r.mrr:.3f}"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += ["## Plots", "", "![R@1 and R@10 per task and method](recall.png)", ""]
    if has_curves:
        out += ["![Training curves](curves.png)", ""]
    return "\n".join(out)


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _json(results, title, meta, curves) -> str:
    doc = {
        "schema": REPORT_SCHEMA,
        "title": title,
        "meta": {str(k): str(v) for k, v in meta.items()},
        "results": [r.as_row() for r in results],
        # Non-finite curve values (a diverged loss) become null: strict JSON has no NaN/Infinity.
        "curves": None if curves is None else {
            name: [[int(step), _finite_or_none(v)] for step, v in points] for name, points in curves.items()
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _new_figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # matplotlib is a dev/eval dependency, not a server one
        raise ImportError("the evaluation report needs matplotlib: pip install matplotlib") from e
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _short(v: float) -> str:
    """Bar label: 2 decimals, 3 below 0.01 so that chance-level values do not all read 0.00."""
    return f"{v:.3f}" if 0 < v < 0.01 else f"{v:.2f}"


def _recall_png(results: list[RetrievalResult]) -> bytes:
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    by_task = _tasks(results)
    methods = list(dict.fromkeys(r.method for r in results))
    palette = colormaps["tab10"] if len(methods) <= 10 else colormaps["tab20"]
    color = {m: palette(i % palette.N) for i, m in enumerate(methods)}

    n_bars = sum(len(rows) for rows in by_task.values())
    bar_w, group_gap = 0.8, 1.0
    width = min(24.0, max(6.5, 1.5 + 0.55 * n_bars + 0.5 * len(by_task) + 2.6))
    fig = _new_figure(width, 4.8)
    ax = fig.add_subplot()

    x, centers, labels = 0.0, [], []
    bar_ticks, bar_labels = [], []  # per-bar gallery size, for groups whose bars have different galleries
    annotate = n_bars <= 40
    for task, rows in by_task.items():
        start = x
        mixed = len({r.gallery_size for r in rows}) > 1
        for r in rows:
            c = color[r.method]
            ax.bar(x, r.r10, bar_w, color=c, alpha=0.35, edgecolor=c, linewidth=0.8, zorder=2)
            ax.bar(x, r.r1, bar_w * 0.6, color=c, zorder=3)
            if annotate:
                ax.text(x, r.r10 + 0.015, _short(r.r10), ha="center", va="bottom", fontsize=7, color="0.35")
                # R@1: inside its bar when tall enough, else just above it, else stacked above the R@10 label.
                if r.r1 >= 0.12:
                    y1, va, fc = r.r1 - 0.015, "top", "white"
                elif r.r10 - r.r1 >= 0.08:
                    y1, va, fc = r.r1 + 0.012, "bottom", "black"
                else:
                    y1, va, fc = r.r10 + 0.06, "bottom", "black"
                ax.text(x, y1, _short(r.r1), ha="center", va=va, fontsize=7, color=fc, fontweight="bold", zorder=4)
            if mixed:
                bar_ticks.append(x)
                bar_labels.append(f"G={r.gallery_size:,}")
            x += 1.0
        centers.append((start + x - 1.0) / 2)
        wrapped = textwrap.fill(task, 22, break_on_hyphens=False)
        labels.append(f"{wrapped}\n({'gallery per bar' if mixed else _gallery_label(rows)})")
        x += group_gap

    ax.set_xticks(centers, labels, fontsize=8.5)
    ax.tick_params(axis="x", which="major", length=0)
    if bar_ticks:  # the gallery size under each bar of a mixed group, the task label below those
        ax.xaxis.remove_overlapping_locs = False  # a bar at a group centre keeps its label
        ax.set_xticks(bar_ticks, bar_labels, minor=True, fontsize=6.5, color="0.3")
        ax.tick_params(axis="x", which="minor", length=0, pad=2)
        ax.tick_params(axis="x", which="major", pad=13)
    ax.set_xlim(-0.8, x - group_gap - 0.2)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("recall")
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(axis="y", color="0.88", zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title("Retrieval: R@1 (solid, inner) and R@10 (light, behind)", fontsize=10.5)

    handles = [Patch(facecolor=color[m], label=m) for m in methods]
    handles += [Patch(facecolor="0.3", label="R@1 (solid, inner bar)"),
                Patch(facecolor="0.3", alpha=0.35, edgecolor="0.3", label="R@10 (light, outer bar)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8.5,
              title="method", title_fontsize=9)
    return _png(fig)


def _curves_png(curves: dict[str, list[tuple[int, float]]]) -> bytes:
    fig = _new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    values = []
    for name, points in curves.items():
        pts = [(s, v) for s, v in points if math.isfinite(float(v))]
        if not pts:
            continue
        steps, ys = zip(*sorted(pts))
        values += ys
        ax.plot(steps, ys, label=name, marker="o" if len(pts) <= 30 else None, markersize=3, linewidth=1.6)
    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.grid(color="0.9")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if values:
        ax.legend(frameon=False, fontsize=9)
    else:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center")
    ax.set_title("Training curves", fontsize=10.5)
    return _png(fig)


def write_report(
    results: list[RetrievalResult],
    out_dir: Path,
    *,
    title: str,
    meta: dict[str, str],
    curves: dict[str, list[tuple[int, float]]] | None = None,
) -> Path:
    """Write ``report.md``, ``results.json``, ``recall.png`` and (if ``curves``) ``curves.png`` into
    ``out_dir`` (created if needed); return the path of ``report.md``.

    ``meta``: what makes the numbers reproducible (checkpoint id, protocol version, command, commit, date,
    machine, ...), printed in order as a table. ``curves``: name -> [(step, value), ...], e.g. training and
    validation loss. Without curves, a ``curves.png`` left in ``out_dir`` by an earlier report is removed
    so that it is not mistaken for this run's.
    """
    results = list(results)
    if not results:
        raise ValueError("write_report needs at least one result")
    if curves is not None and not curves:
        curves = None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    _atomic_write(out_dir / "results.json", _json(results, title, meta, curves).encode("utf-8"))
    _atomic_write(out_dir / "recall.png", _recall_png(results))
    if curves is not None:
        _atomic_write(out_dir / "curves.png", _curves_png(curves))
    else:
        (out_dir / "curves.png").unlink(missing_ok=True)
    md_path = out_dir / "report.md"
    _atomic_write(md_path, _markdown(results, title, meta, curves is not None).encode("utf-8"))
    return md_path
