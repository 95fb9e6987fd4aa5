"""The client distribution on its own, as a user installs it: a fresh venv, `pip install ./clients/python`
(grpcio, protobuf, numpy; no torch, no server code; at most 150 MB), then its `xmodal` command, `Client` and
`AsyncClient` against the real server, with the same vectors as the server's. `xmodal serve` there says what
to install. Needs the package index (or pip's cache) for the client's four dependencies."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MAX_VENV_MB = 150
NOT_CLIENT = ("torch", "xmodal-server", "transformers", "tqdm", "matplotlib", "pillow", "faiss-cpu")


def _size_mb(folder: Path) -> float:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            total += os.lstat(os.path.join(root, name)).st_size
    return total / 2**20


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("client-only")
    # A copy of the source, so that the build's egg-info and build/ stay out of the working tree.
    source = base / "src"
    shutil.copytree(REPO / "clients" / "python", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           str(source)], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def _run(venv: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # Outside the repository and without the dev venv on the path: only what the client venv holds is importable.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "XMODAL_ADDRESS")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env, cwd=venv)


def test_the_client_installs_alone_small_and_without_torch(client_venv):
    size = _size_mb(client_venv)
    print(f"client-only venv: {size:.1f} MB")
    assert size <= MAX_VENV_MB, f"the client-only venv is {size:.0f} MB"
    py = str(client_venv / "bin" / "python")
    listed = json.loads(_run(client_venv, py, "-m", "pip", "list", "--format", "json").stdout)
    names = {d["name"].lower().replace("_", "-") for d in listed}
    assert {"xmodal-client", "grpcio", "grpcio-health-checking", "protobuf", "numpy"} <= names
    assert not names & set(NOT_CLIENT), names
    for module in ("torch", "xmodal_server", "tqdm"):
        proc = _run(client_venv, py, "-c", f"import {module}")
        assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr, module
    proc = _run(client_venv, py, "-c", "import xmodal, xmodal.cli; print(xmodal.__file__)")
    assert proc.returncode == 0 and str(client_venv) in proc.stdout, proc.stderr  # the installed copy


def test_serve_align_eval_say_what_to_install(client_venv):
    xmodal = str(client_venv / "bin" / "xmodal")
    for argv in (["serve", "--demo"], ["align"], ["eval", "--limit", "5"]):
        proc = _run(client_venv, xmodal, *argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert "needs the xmodal server package" in proc.stderr and "pip install ./clients/python" in proc.stderr
    assert "not installed here" in " ".join(_run(client_venv, xmodal, "--help").stdout.split())


def test_the_command_and_both_clients_work_against_the_server(client_venv, server, client):
    texts = ["hello", "a red apple"]
    want = client.embed_text(texts).vectors  # the server's own vectors, through the dev venv's client
    address = server.address

    proc = _run(client_venv, str(client_venv / "bin" / "xmodal"), "--address", address, "embed", "--text", "hello",
                "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dim"] == want.shape[1] == len(out["vector"])
    np.testing.assert_allclose(out["vector"], want[0], atol=1e-6)
    assert _run(client_venv, str(client_venv / "bin" / "xmodal"), "--address", address, "health").stdout.strip() == "SERVING"

    code = textwrap.dedent(f"""
        import asyncio, json, sys
        from xmodal import AsyncClient, Client
        texts = {texts!r}
        sync = Client({address!r}).embed_text(texts).vectors
        async def main():
            async with AsyncClient({address!r}) as c:
                return (await c.embed_text(texts)).vectors
        aio = asyncio.run(main())
        print(json.dumps({{"sync": sync.tolist(), "async": aio.tolist(), "modules": sorted(sys.modules)}}))
        """)
    proc = _run(client_venv, str(client_venv / "bin" / "python"), "-c", code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("sync", "async"):
        got = np.asarray(out[key], dtype=np.float32)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert not [m for m in out["modules"] if m.split(".")[0] in ("torch", "xmodal_server")]
