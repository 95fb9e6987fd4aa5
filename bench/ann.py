"""ANN benchmark of the FAISS backend's index kinds (``index/vectors.py``, the classes the server runs):
recall@10 against exact search, queries per second (one batch of queries, 1 thread and all threads),
bytes per vector and build time, for exact, IVF at several nprobe and HNSW at several efSearch, each QPS
also as a ratio to exact search measured in the same run on the same data.

Data: clustered, like embeddings and unlike uniform noise: unit vectors drawn from a two-level Gaussian
mixture (``--centres`` centres around 100 super-centres); queries are fresh draws from the same mixture.
The spread around a centre is anisotropic (standard deviations falling as i^-alpha over a random basis):
real embeddings vary along few directions locally, and with isotropic noise in 384-d every cluster is
trivially separable (IVF recall 1.0 at nprobe 8 at any noise level: measured while writing this).
With the defaults a query's nearest neighbour has cosine ~0.84 and its 10th ~0.76.

    python bench/ann.py --n 1000000 100000 --out bench/results/ann.txt   # the run of record
    python bench/ann.py --n 100000                                       # a quick look
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py, also when a test imports this file
from report import Report  # noqa: E402
from xmodal_server.index.backend import SearchParams
from xmodal_server.index.vectors import DEFAULT_EF_SEARCH, VectorIndex, default_nprobe, nlist_for

K = 10


def mixture(n: int, dim: int, centres: int, seed: int, spread: float, alpha: float, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: centre = super-centre + 0.7 N(0, I); point = centre + spread * N(0, S), where S
    has the spectrum i^-2alpha (scaled to trace dim) in a random basis."""
    rng = np.random.default_rng(1234)  # the mixture itself is the same for data and queries
    supers = rng.standard_normal((100, dim), dtype=np.float32)
    cs = supers[rng.integers(0, 100, centres)] + 0.7 * rng.standard_normal((centres, dim), dtype=np.float32)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = np.arange(1, dim + 1) ** -alpha
    shape = (scales[:, None] * np.sqrt(dim / (scales**2).sum()) * basis.T).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        x = cs[rng.integers(0, centres, m)] + spread * (rng.standard_normal((m, dim), dtype=np.float32) @ shape)
        out[i : i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def timed_search(vi: VectorIndex, xq: np.ndarray, params: SearchParams, threads: int, repeat: int = 3) -> tuple[np.ndarray, float]:
    """Best of ``repeat`` timed runs after one warm-up."""
    faiss.omp_set_num_threads(threads)
    vi.search(xq[:50], K, None, params)
    best, I = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, I = vi.search(xq, K, None, params)
        best = min(best, time.perf_counter() - t0)
    return I, len(xq) / best


def recall(I: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(I, truth)]))


def section(n: int, xb: np.ndarray, xq: np.ndarray, kinds: list[str], args, log) -> None:
    ids = np.arange(n, dtype=np.int64)
    cores = os.cpu_count() or 1
    log(f"\n## N = {n:,} x {xb.shape[1]}, {len(xq):,} queries, k = {K} (load average at start {os.getloadavg()[0]:.1f})")
    log(f"{'index':<28} {'params':<22} {'recall@10':>9} {'QPS 1 thr':>10} {'x exact':>8} {f'QPS {cores} thr':>10} "
        f"{'x exact':>8} {'bytes/vec':>9} {'build s':>8}")
    faiss.omp_set_num_threads(cores)
    t0 = time.perf_counter()
    exact = VectorIndex.build("flat", xb.shape[1], ids, xb)
    build = time.perf_counter() - t0
    truth, q1 = timed_search(exact, xq, SearchParams(), 1)
    _, qn = timed_search(exact, xq, SearchParams(), cores)
    base = (q1, qn)
    sizes: dict[int, float] = {}

    def row(name: str, p: str, vi: VectorIndex, params: SearchParams, build_s: float, measured=None) -> None:
        I, r1, rn = measured or (*timed_search(vi, xq, params, 1), timed_search(vi, xq, params, cores)[1])
        if id(vi) not in sizes:
            sizes[id(vi)] = vi.to_bytes().size / n  # serialised size, as in a snapshot
        nbytes = sizes[id(vi)]
        log(f"{name:<28} {p:<22} {recall(I, truth):>9.3f} {r1:>10.0f} {r1 / base[0]:>8.1f} {rn:>10.0f} {rn / base[1]:>8.1f} "
            f"{nbytes:>9.0f} {build_s:>8.1f}")

    row("exact (IndexFlatIP)", "", exact, SearchParams(), build, measured=(truth, q1, qn))
    if "ivf" in kinds:
        faiss.omp_set_num_threads(cores)
        t0 = time.perf_counter()
        ivf = VectorIndex.build("ivf", xb.shape[1], ids, xb)
        build = time.perf_counter() - t0
        name = f"IVF{nlist_for(n)},Flat"
        for nprobe in sorted({*args.nprobe, default_nprobe(nlist_for(n))}):
            mark = " (default)" if nprobe == default_nprobe(nlist_for(n)) else ""
            row(name, f"nprobe {nprobe}{mark}", ivf, SearchParams(nprobe=nprobe), build)
        del ivf
    if "hnsw" in kinds:
        faiss.omp_set_num_threads(cores)
        t0 = time.perf_counter()
        hnsw = VectorIndex.build("hnsw", xb.shape[1], ids, xb)
        build = time.perf_counter() - t0
        for ef in sorted({*args.ef_search, DEFAULT_EF_SEARCH}):
            mark = " (default)" if ef == DEFAULT_EF_SEARCH else ""
            row("HNSW32,Flat efC 80", f"efSearch {ef}{mark}", hnsw, SearchParams(ef_search=ef), build)
        del hnsw
    # The machine may be shared: exact again, to show how far the baseline drifted during the section.
    row("exact again (drift check)", "", exact, SearchParams(), build)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[1_000_000], help="collection sizes, one section each")
    p.add_argument("--hnsw-max", type=int, default=1_000_000,
                   help="skip HNSW above this size (its build is the slow part: ~5 min for 1M on 2 cores)")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--centres", type=int, default=4000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--spread", type=float, default=2.0, help="scale of the spread around a centre")
    p.add_argument("--alpha", type=float, default=1.0, help="decay of the spread's spectrum (0: isotropic)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[8, 12, 16, 24, 32])
    p.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128])
    p.add_argument("--out", help="also write the report here")
    args = p.parse_args()
    report = Report("xmodal ANN indexes: recall@10 and QPS against exact search")
    log = report.log
    log(f"faiss {faiss.__version__} ({faiss.get_compile_options().strip()})")
    log(f"# data: {args.centres} Gaussian centres around 100 super-centres, anisotropic spread {args.spread} "
        f"(spectrum i^-{args.alpha}), unit vectors; queries from the same mixture. QPS: one batch of all queries, "
        "best of 3; 'x exact' = QPS / exact QPS at the same N and thread count. The machine is shared: load average "
        "is printed per section.")
    t0 = time.perf_counter()
    xb = mixture(max(args.n), args.dim, args.centres, 0, args.spread, args.alpha)
    xq = mixture(args.queries, args.dim, args.centres, 1, args.spread, args.alpha)
    log(f"# generated in {time.perf_counter() - t0:.0f}s")
    for n in args.n:  # smaller sizes are prefixes of the same draw
        section(n, xb[:n], xq, ["ivf", "hnsw"] if n <= args.hnsw_max else ["ivf"], args, log)
    report.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
