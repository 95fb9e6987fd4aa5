"""Packages per audience: the client distribution (clients/python, xmodal-client) needs grpcio, protobuf and numpy
only and owns the one `xmodal` command; the server distribution (the top-level pyproject.toml, xmodal-server)
serves without ever importing training or evaluation (xmodal_server.align, xmodal_server.evaluation, matplotlib),
which are the `train` extra's. Here in the dev venv, with the missing packages simulated by an import blocker; the
real client-only venv is tests/integration/test_client_package.py (slow: it installs one)."""
from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np

from processes import serving
from xmodal import Client, Item

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"
SERVER = REPO / "server" / "xmodal_server"
CLIENT_DEPS = {"grpcio", "grpcio-health-checking", "protobuf", "numpy"}
TRAINING = ("xmodal_server.align", "xmodal_server.evaluation", "matplotlib")


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0).lower()


def _blocker(blocked: tuple[str, ...], log: Path | None = None) -> str:
    """Python source that makes these modules (and their submodules) unimportable, as if not installed, and
    logs every attempt (an attempt that a caller swallowed still shows)."""
    return textwrap.dedent(f"""
        import importlib.abc, sys
        class _Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
                    if {str(log) if log else None!r}:
                        with open({str(log) if log else None!r}, "a") as f:
                            f.write(name + "\\n")
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, _Blocker())
    """)


# ---- the two pyproject files ---------------------------------------------------------------------------------

def test_the_client_distribution_needs_grpcio_protobuf_numpy_only_and_owns_the_command():
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())
    project = client["project"]
    assert project["name"] == "xmodal-client"
    assert {_name(r) for r in project["dependencies"]} == CLIENT_DEPS
    assert project["scripts"] == {"xmodal": "xmodal.cli:main"}
    packages = client["tool"]["setuptools"]["packages"]
    on_disk = sorted(str(p.parent.relative_to(CLIENT)).replace("/", ".") for p in (CLIENT / "xmodal").rglob("__init__.py"))
    assert sorted(packages) == on_disk == ["xmodal", "xmodal.v1"]


def test_the_server_distribution_depends_on_the_client_and_declares_no_script():
    server = tomllib.loads((REPO / "pyproject.toml").read_text())
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    project = server["project"]
    assert project["name"] == "xmodal-server" and "scripts" not in project  # one owner of bin/xmodal
    assert f"xmodal-client=={client['version']}" in project["dependencies"]
    assert server["tool"]["setuptools"]["packages"]["find"]["where"] == ["server"]
    # What both need is pinned alike, so that installing them together never conflicts.
    pins = {_name(r): r for r in project["dependencies"]}
    assert {_name(r): r for r in client["dependencies"]} == {k: pins[k] for k in CLIENT_DEPS}
    extras = project["optional-dependencies"]
    assert "matplotlib" in extras["train"] and set(extras["train"]) <= set(extras["dev"])
    assert "matplotlib" not in {_name(r) for r in project["dependencies"]}


# ---- the client package alone ---------------------------------------------------------------------------------

def test_the_client_package_imports_nothing_beyond_its_dependencies():
    """Module-level imports of clients/python/xmodal: the standard library, the declared dependencies and
    itself. The server, tqdm and torch are imported inside the functions that need them, behind a check."""
    allowed = {"grpc", "grpc_health", "google", "numpy", "xmodal"} | set(sys.stdlib_module_names)
    for path in (CLIENT / "xmodal").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.relative_to(REPO)} imports {name} at module level"


def _client_only(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    blocked = ("xmodal_server", "torch", "tqdm", "matplotlib", "PIL", "soundfile", "transformers", "faiss")
    script = tmp_path / "client_only.py"
    script.write_text(_blocker(blocked) + textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_without_the_server_serve_align_and_eval_say_what_to_install(tmp_path):
    proc = _client_only("""
        import contextlib, io, sys
        from xmodal.cli import main
        for argv in (["serve", "--demo", "--port", "0"], ["serve", "--help"], ["serve"], ["align", "--limit", "2"],
                     ["eval"]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = main(argv)
            print(argv[0], rc, err.getvalue().strip().replace("\\n", " "))
        """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    for line in lines:
        verb, rc, message = line.split(" ", 2)
        assert rc == "2", line
        assert f"`xmodal {verb}` needs the xmodal server package" in message and "pip install ./clients/python" in message
        assert "scripts/setup.sh" in message
    assert all('".[train]"' in line for line in lines if line.startswith(("align", "eval")))


def test_without_the_server_the_client_verbs_parse_and_help_says_so(tmp_path):
    proc = _client_only("""
        from xmodal.cli import build_parser
        p = build_parser()
        assert p.parse_args(["--address", "h:1", "embed", "--text", "hello", "--json"]).text == "hello"
        assert p.parse_args(["search", "faq", "--speech", "q.wav", "--rerank", "5"]).rerank == 5
        print(p.format_help())
        """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not installed here: needs the server package" in " ".join(proc.stdout.split())


def test_bulk_add_shows_progress_without_tqdm(tmp_path):
    proc = _client_only("""
        from xmodal import Item
        from xmodal.cli import _bulk_add
        class FakeClient:
            def add_items(self, collection, items):
                return len(items)
        print(_bulk_add(FakeClient(), "things", [Item.text(str(i), "x") for i in range(40)]))
        """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "40"
    assert "adding to things: 40/40 items" in proc.stderr


def test_the_server_import_failing_for_another_reason_is_not_hidden(tmp_path):
    """Only a missing xmodal_server means 'client alone': a server whose own import breaks (here: a dependency
    of its config module is missing) shows that error instead of claiming the server is not installed."""
    fake = tmp_path / "fake" / "xmodal_server"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "config.py").write_text("import a_dependency_that_is_not_installed\n")
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", "serve", "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path / "fake")})
    assert proc.returncode == 1 and "No module named 'a_dependency_that_is_not_installed'" in proc.stderr
    assert "needs the xmodal server package" not in proc.stderr


# ---- the serving path never touches training or evaluation ----------------------------------------------------

def _absolute(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_serving_module_imports_training_or_evaluation():
    """Every import statement (lazy ones inside functions too) of every xmodal_server module outside align/ and
    evaluation/. Those two may import the serving code, never the other way round."""
    offenders = []
    for path in SERVER.rglob("*.py"):
        rel = path.relative_to(SERVER.parent).with_suffix("")
        parts = rel.parts
        if parts[1] in ("align", "evaluation"):
            continue
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if parts[-1] == "__init__" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(package + ".x", node)  # relative to the module's package
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if any(name == t or name.startswith(t + ".") for t in TRAINING):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_xmodal_serve_runs_with_training_and_evaluation_unimportable(tmp_path):
    """`xmodal serve` (the fake profile: no model to load) as a process in which xmodal_server.align,
    xmodal_server.evaluation and matplotlib cannot be imported; every attempt is logged, even a swallowed one."""
    log = tmp_path / "attempts"
    script = tmp_path / "serve.py"
    script.write_text(_blocker(TRAINING, log) + textwrap.dedent("""
        import sys
        from xmodal.cli import main
        sys.exit(main(sys.argv[1:]))
        """))
    with serving([sys.executable, str(script), "serve", "--profile", "fake", "--host", "127.0.0.1", "--port", "0",
                  "--metrics-port", "-1", "--data-dir", str(tmp_path / "data")]) as (proc, address, out):
        with Client(address, timeout=30) as c:
            c.create_collection("things")
            c.add_items("things", [Item.text("a", "a red apple"), Item.text("b", "a blue car")])
            assert c.search_text("things", "a red apple", top_k=1).hits[0].id == "a"
            vec = c.embed_text(["hello"]).vectors[0]
            assert np.isclose(np.linalg.norm(vec), 1, atol=1e-3)
            c.info()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(out) + proc.stdout.read()
    assert not log.exists(), f"the serving path tried to import: {log.read_text().split()}"
