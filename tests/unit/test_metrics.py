"""Retrieval metrics on hand-computed cases, and the report writer round trip (no models, fast)."""
import json
import struct
import tracemalloc

import numpy as np
import pytest
import torch

from xmodal_server.evaluation import RetrievalResult, rank_of_correct, retrieval_metrics
from xmodal_server.evaluation.report import write_report

# 3 queries x 4 gallery items.
#   q0: correct 0, score 0.9 is the highest           -> rank 1
#   q1: correct 2, score 0.6 < 0.8 (g1) and 0.7 (g3)  -> rank 3
#   q2: correct 3, score 0.1 is the lowest            -> rank 4 (worst)
SIMS = np.array([
    [0.9, 0.1, 0.5, 0.3],
    [0.2, 0.8, 0.6, 0.7],
    [0.3, 0.5, 0.9, 0.1],
], dtype=np.float32)
CORRECT = [0, 2, 3]


def test_hand_computed_ranks_and_metrics():
    assert rank_of_correct(SIMS, CORRECT).tolist() == [1, 3, 4]
    m = retrieval_metrics("t2i", "m", SIMS, CORRECT)
    # ranks 1, 3, 4:
    #   R@1  = #(rank <= 1)/3 = 1/3
    #   R@5  = #(rank <= 5)/3 = 3/3 = 1   (a 4-item gallery: everything is in the top 5)
    #   R@10 = 1 likewise
    #   MRR  = (1/1 + 1/3 + 1/4)/3 = (12/12 + 4/12 + 3/12)/3 = 19/36 = 0.52777...
    assert (m.n_queries, m.gallery_size) == (3, 4)
    assert m.r1 == pytest.approx(1 / 3)
    assert m.r5 == 1.0 and m.r10 == 1.0
    assert m.mrr == pytest.approx(19 / 36)


def test_recall_at_k_below_gallery_size():
    # Gallery of 12, correct item at g0; the query row puts it at rank 1, 6 and 12.
    sims = np.zeros((3, 12))
    sims[0] = np.arange(12)[::-1]           # g0 highest -> rank 1
    sims[1] = np.arange(12)[::-1]
    sims[1, 0] = 5.5                         # g1..g5 score 10, 9, 8, 7, 6 > 5.5 -> rank 6
    sims[2] = np.arange(12)                  # g0 lowest -> rank 12
    assert rank_of_correct(sims, [0, 0, 0]).tolist() == [1, 6, 12]
    m = retrieval_metrics("t", "m", sims, [0, 0, 0])
    # R@1 = 1/3, R@5 = 1/3 (rank 6 misses), R@10 = 2/3, MRR = (1 + 1/6 + 1/12)/3 = 15/36
    assert (m.r1, m.r5, m.r10) == pytest.approx((1 / 3, 1 / 3, 2 / 3))
    assert m.mrr == pytest.approx(15 / 36)


def test_ties_are_optimistic():
    sims = np.array([
        [0.5, 0.5, 0.5, 0.1],   # correct 2 tied with two others, none strictly greater -> rank 1
        [0.9, 0.5, 0.5, 0.5],   # correct 1: only 0.9 strictly greater -> rank 2
        [0.0, 0.0, 0.0, 0.0],   # all equal -> rank 1
    ])
    assert rank_of_correct(sims, [2, 1, 3]).tolist() == [1, 2, 1]


def test_set_valued_correct_uses_best_ranked_item():
    row = [[0.2, 0.8, 0.6, 0.7]]
    assert rank_of_correct(row, [{1, 2}]).tolist() == [1]           # 0.8 is the top score
    assert rank_of_correct(row, [{2, 3}]).tolist() == [2]           # best correct 0.7, only 0.8 above
    assert rank_of_correct(row, [frozenset({0})]).tolist() == [4]
    # Mixed ints and sets in one call, plus a numpy int array.
    assert rank_of_correct(SIMS, [0, {1, 2}, 3]).tolist() == [1, 1, 4]
    assert rank_of_correct(SIMS, np.array(CORRECT)).tolist() == [1, 3, 4]


def test_perfect_and_worst():
    n = 20
    best = retrieval_metrics("t", "m", np.eye(n), list(range(n)))
    assert (best.r1, best.r5, best.r10, best.mrr) == (1.0, 1.0, 1.0, 1.0)
    worst = retrieval_metrics("t", "m", -np.eye(n), list(range(n)))  # correct item -1, others 0
    assert rank_of_correct(-np.eye(n), list(range(n))).tolist() == [n] * n
    assert (worst.r1, worst.r5, worst.r10) == (0.0, 0.0, 0.0)
    assert worst.mrr == pytest.approx(1 / n)


def test_nan_is_refused():
    sims = SIMS.copy()
    sims[1, 3] = np.nan  # not even the correct item's score: any NaN makes the ranking meaningless
    with pytest.raises(ValueError, match=r"NaN.*query 1, gallery item 3"):
        rank_of_correct(sims, CORRECT)
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics("t", "m", torch.from_numpy(sims), CORRECT)


@pytest.mark.parametrize("correct, error", [
    ([0, 2], "2 entries but sims has 3"),
    ([0, 4, 3], "outside the gallery of 4"),
    ([0, -1, 3], "outside the gallery"),
    ([0, set(), 3], "empty"),
    ([0, 1.0, 3], "expected a gallery index"),
    ([0, True, 3], "expected a gallery index"),
])
def test_bad_correct_is_refused(correct, error):
    with pytest.raises((ValueError, TypeError), match=error):
        rank_of_correct(SIMS, correct)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        rank_of_correct(np.zeros(4), [0])
    with pytest.raises(ValueError, match="no queries"):
        retrieval_metrics("t", "m", np.zeros((0, 4)), [])
    assert rank_of_correct(np.zeros((0, 4)), []).shape == (0,)


def test_torch_tensors_accepted():
    t = torch.tensor(SIMS, requires_grad=True)
    assert rank_of_correct(t, CORRECT).tolist() == [1, 3, 4]
    assert rank_of_correct(t.detach().to(torch.bfloat16), CORRECT).tolist() == [1, 3, 4]
    assert rank_of_correct(torch.tensor(SIMS).double(), torch.tensor(CORRECT).numpy()).tolist() == [1, 3, 4]


def test_blocks_do_not_change_ranks_and_match_argsort():
    rng = np.random.default_rng(0)
    sims = rng.standard_normal((57, 31)).astype(np.float32)
    sims[:, 5] = sims[:, 6]  # some ties
    correct = [int(c) for c in rng.integers(0, 31, 57)]
    correct[3] = {1, 5, 6}
    ref = rank_of_correct(sims, correct)
    for block_rows in (1, 2, 7, 57, 1000):
        assert np.array_equal(rank_of_correct(sims, correct, block_rows=block_rows), ref)
    # Brute force with the same optimistic rule.
    for q, c in enumerate(correct):
        cs = c if isinstance(c, set) else {c}
        best = max(sims[q, g] for g in cs)
        assert ref[q] == 1 + sum(sims[q] > best)
        if len(cs) == 1 and np.count_nonzero(sims[q] == best) == 1:  # no tie: same as a plain sort
            assert ref[q] == 1 + list(np.argsort(-sims[q], kind="stable")).index(next(iter(cs)))


def test_large_matrix_stays_within_memory():
    n = 5000
    sims = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)  # 100 MB
    correct = np.arange(n)
    tracemalloc.start()
    try:
        m = retrieval_metrics("t", "m", sims, correct)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB: the matrix must not be copied or compared whole"
    assert m.gallery_size == n and 0 <= m.r1 <= m.r5 <= m.r10 <= 1


# ---------------------------------------------------------------- report

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


RESULTS = [
    RetrievalResult("text→image", "random projection", 387, 387, 0.0026, 0.0129, 0.0284, 0.0161),
    RetrievalResult("text→image", "trained heads", 387, 387, 0.3824, 0.6616, 0.7700, 0.5071),
    RetrievalResult("speech→text (all sentences)", "direct", 1200, 5321, 0.41, 0.66, 0.74, 0.52),
    RetrievalResult("speech→text (all sentences)", "cascade", 1200, 5321, 0.83, 0.93, 0.95, 0.87),
    RetrievalResult("speech→text (all sentences)", "cascade, test only", 1200, 800, 0.9, 0.95, 0.97, 0.92),
]


def test_report_round_trip(tmp_path):
    out = tmp_path / "run1"
    meta = {"checkpoint": "ckpt-abc", "protocol": "v1", "command": "xmodal eval | tee x"}
    curves = {"train loss": [(0, 3.0), (100, 1.5), (200, 1.0)], "val loss": [(0, 3.2), (200, float("nan"))]}
    md_path = write_report(RESULTS, out, title="Eval", meta=meta, curves=curves)
    assert md_path == out / "report.md"
    for name in ("report.md", "results.json", "recall.png", "curves.png"):
        assert (out / name).is_file()
    assert not list(out.glob(".*tmp"))  # no temp files left behind
    for name in ("recall.png", "curves.png"):
        data = (out / name).read_bytes()
        w, h = _png_size(data)
        assert w >= 400 and h >= 300 and len(data) > 10_000

    doc = json.loads((out / "results.json").read_text())
    assert [RetrievalResult.from_row(r) for r in doc["results"]] == RESULTS
    assert doc["meta"] == meta and doc["title"] == "Eval"
    assert doc["curves"]["val loss"] == [[0, 3.2], [200, None]]

    md = md_path.read_text()
    assert "# Eval" in md and "ckpt-abc" in md and "xmodal eval \\| tee x" in md
    assert "## text→image — gallery 387" in md
    assert "## speech→text (all sentences) — galleries 800, 5,321" in md  # a task with two gallery sizes
    assert "| trained heads | 387 | 387 | 0.382 | 0.662 | 0.770 | 0.507 |" in md
    assert "| cascade | 1,200 | 5,321 | 0.830 | 0.930 | 0.950 | 0.870 |" in md
    assert "| cascade, test only | 1,200 | 800 | 0.900 | 0.950 | 0.970 | 0.920 |" in md

    # Rewriting without curves drops the stale curves.png and its link.
    write_report(RESULTS[:1], out, title="Eval 2", meta={})
    assert not (out / "curves.png").exists() and "curves.png" not in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["curves"] is None


def test_report_refuses_no_results(tmp_path):
    with pytest.raises(ValueError):
        write_report([], tmp_path, title="x", meta={})
