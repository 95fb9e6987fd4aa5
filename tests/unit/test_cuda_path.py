"""The CUDA hooks of app.py: autocast around model calls, and which search path GetInfo names.
CPU stays the default; the CUDA-only test skips cleanly without a GPU (the integration suite runs the
whole server on CUDA by itself when one is present: --device auto)."""
from contextlib import nullcontext

import pytest
import torch

from xmodal_server.app import index_backend_name, model_context


def test_cpu_and_fp32_run_models_as_they_are():
    assert model_context("cpu", "fp16") is nullcontext
    assert model_context("cuda", "fp32") is nullcontext


def test_info_names_the_search_path():
    assert index_backend_name("cpu").endswith("search on CPU)")
    on_cuda = index_backend_name("cuda", "fp16")
    assert "torch exact search (fp16" in on_cuda or "GpuIndexFlatIP" in on_cuda


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype, expected", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_cuda_model_calls_run_in_the_configured_dtype(dtype, expected):
    x = torch.ones(4, 4, device="cuda")
    with model_context("cuda", dtype)():
        assert (x @ x).dtype == expected


def test_the_accelerator_benchmark_runs_and_its_device_path_agrees_with_faiss_cpu():
    """bench/accelerator.py is what a session with a GPU runs once; here its search half runs on whatever
    device exists (CPU in CI: faiss-cpu only), so the script cannot rot between GPU sessions."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "accelerator.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--skip-encoders", "--vectors", "5000"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    lines = out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("path ")) + 1:]
    rows = [line for line in table if line and not line.startswith("(")]
    assert any(line.startswith("faiss-cpu IndexFlatIP") for line in rows), out
    assert all(float(line.split()[-1]) >= 0.99 for line in rows), out  # the device path returns the same top-10
