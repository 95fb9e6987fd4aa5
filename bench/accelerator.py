"""Model and search speed on an accelerator: the GPU numbers issue 4 asks for, in one short run.

    python bench/accelerator.py --out bench/results/accelerator-h100.txt     # on a CUDA machine (minutes)
    python bench/accelerator.py --quick                                       # anywhere: a smoke run on CPU

Encoders: the reference architectures with random weights in their real formats (speed does not depend on
the values): ResNet-50 (224 px), BERT-base at 32 and 128 tokens, Wav2Vec2-base on 5 s clips; items/s of the
model call (``forward`` on prepared batches, under the server's autocast to ``--dtype``) at each batch size,
preprocessing excluded, synchronised before and after. Search: exact inner product over ``--vectors`` x 384
unit vectors, queries/s at batch 1 and 1024, faiss-cpu against the device path the server uses
(``index.exact.device_search_factory``: faiss GpuIndexFlatIP when faiss has GPU support, else torch matmul +
top-k) in the same run, and the share of top-10 ids the device path agrees on with faiss-cpu.
Anchors from the issue: ResNet-50 about 90k images/s on an H100 (MLPerf, INT8); BERT-base at 128 tokens near
36k sequences/s; aims: >= 20k ResNet-50 images/s and >= 10k BERT-base sequences/s in bf16.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))  # reference_weights: random weights in the real formats
from report import Report  # noqa: E402

DIM, K = 384, 10


def timed(fn: Callable[[], object], sync: Callable[[], None], seconds: float, min_calls: int = 3) -> float:
    """Seconds per call of ``fn`` after two warm-up calls (kernel selection, allocator)."""
    for _ in range(2):
        fn()
    sync()
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    sync()
    return (time.perf_counter() - t0) / calls


def inputs(modality: str, n: int, tokens: int = 0) -> list:
    rng = np.random.default_rng(0)
    if modality == "image":
        from PIL import Image

        return [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]
    if modality == "text":
        from reference_weights import BERT_WORDS

        # [CLS] + (tokens - 2) words of the tiny vocabulary (one token each) + [SEP] = exactly `tokens`.
        return [" ".join(BERT_WORDS[(i + j) % len(BERT_WORDS)] for j in range(tokens - 2)) for i in range(n)]
    return [rng.normal(0, 0.1, 5 * 16000).astype(np.float32) for _ in range(n)]  # 5 s at 16 kHz


def encoder_rows(report: Report, device: str, dtype: str, batches: list[int], seconds: float, work: Path) -> None:
    import torch
    from reference_weights import full_size_encoders

    from xmodal_server.app import model_context

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    ctx = model_context(device, dtype)
    report.log(f"\n## encoders on {device} ({dtype} autocast on CUDA), items/s of the model call, preprocessing excluded")
    report.log(f"{'model':<28} " + " ".join(f"{f'batch {b}':>12}" for b in batches))
    for modality, enc in full_size_encoders(work, device).items():
        for tokens in ((32, 128) if modality == "text" else (0,)):
            cells = []
            for b in batches:
                prepared = enc.prepare(inputs(modality, b, tokens))
                with ctx():
                    per_call = timed(lambda: enc.forward(prepared), sync, seconds)
                cells.append(f"{b / per_call:12,.1f}")
            label = {"image": "ResNet-50 224 px", "text": f"BERT-base {tokens} tokens", "speech": "Wav2Vec2-base 5 s clips"}[modality]
            report.log(f"{label:<28} " + " ".join(cells))
        del enc
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def search_rows(report: Report, device: str, dtype: str, n: int, batches: list[int], seconds: float) -> None:
    import faiss

    from xmodal_server.index.exact import device_search_factory

    from throughput import unit_vectors

    xb = np.concatenate(list(unit_vectors(n, DIM, 1)))
    xq = next(unit_vectors(max(batches), DIM, 2))
    cpu = faiss.IndexFlatIP(DIM)
    cpu.add(xb)
    make = device_search_factory(device, dtype)
    gpu = make() if make else None
    if gpu is not None:
        gpu.load(xb, np.arange(n, dtype=np.int64))
    report.log(f"\n## exact search, {n:,} x {DIM} unit vectors, top {K}, queries/s (faiss-cpu: {faiss.omp_get_max_threads()} threads)")
    report.log(f"{'path':<44} " + " ".join(f"{f'batch {b}':>12}" for b in batches) + "   top-10 agreement")
    rows = [("faiss-cpu IndexFlatIP", lambda q: cpu.search(q, K), lambda: None)]
    if gpu is not None:
        import torch

        rows.append((f"{type(gpu).__name__} on {device} ({dtype})", lambda q: gpu.search(q, K, None), torch.cuda.synchronize))
    _, truth = cpu.search(xq, K)
    for label, search, sync in rows:
        cells = [f"{b / timed(lambda b=b: search(xq[:b]), sync, seconds):12,.0f}" for b in batches]
        ids = search(xq)[1]
        agree = np.mean([len(set(a) & set(t)) / K for a, t in zip(ids, truth)])
        report.log(f"{label:<44} " + " ".join(cells) + f"   {agree:.4f}")
    if gpu is None:
        report.log(f"(no device path on {device}: the server searches with faiss-cpu there)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cuda:N or cpu")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="autocast dtype on CUDA (default bf16)")
    ap.add_argument("--batches", type=int, nargs="+", help="encoder batch sizes (default 64 256; quick 4)")
    ap.add_argument("--search-batches", type=int, nargs="+", help="query batch sizes (default 1 1024; quick 1 64)")
    ap.add_argument("--vectors", type=int, help="vectors in the searched set (default 1,000,000; quick 20,000)")
    ap.add_argument("--seconds", type=float, help="timing per cell (default 3; quick 0.2)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that works on CPU in a minute or two")
    ap.add_argument("--skip-encoders", action="store_true")
    ap.add_argument("--out", help="also write the report here, e.g. bench/results/accelerator-h100.txt")
    args = ap.parse_args()
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    batches = args.batches or ([4] if args.quick else [64, 256])
    search_batches = args.search_batches or ([1, 64] if args.quick else [1, 1024])
    n = args.vectors or (20_000 if args.quick else 1_000_000)
    seconds = args.seconds or (0.2 if args.quick else 3.0)
    report = Report("xmodal accelerator speed: reference encoders and exact search", torch_threads=True)
    if device.startswith("cuda"):
        report.log(f"device: {torch.cuda.get_device_name(device)}; torch CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory(prefix="xmodal-accel-") as tmp:
        if not args.skip_encoders:
            encoder_rows(report, device, args.dtype, batches, seconds, Path(tmp))
        search_rows(report, device, args.dtype, n, search_batches, seconds)
    report.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
