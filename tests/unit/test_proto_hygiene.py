"""scripts/check_protos.sh (run by scripts/test.sh, so by CI) fails on a breaking API change and on stale
generated stubs of any language. Each case runs the real script on a copy of the protos and stubs in a temporary
directory, after a control run that passes on the unmodified copy. Needs `bash scripts/setup.sh` (buf, protoc
and its plugins, ts-proto); a missing tool fails the test with that message."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATED = ["clients/python/xmodal/v1", "clients/go/src/xmodal/v1", "clients/cpp/gen", "clients/java/gen",
             "clients/node/src/gen"]
COPIED = ["protos", "clients/third_party", "scripts/check_protos.sh", "scripts/gen_protos.sh", *GENERATED]
LINKED = ["tools/node_modules", "clients/node/node_modules"]  # buf, ts-proto: pinned by their lockfiles


@pytest.fixture
def tree(tmp_path) -> Path:
    """The parts of the repository the check reads, copied (node_modules linked)."""
    for rel in LINKED:
        if not (REPO / rel).is_dir():
            pytest.fail(f"{rel} is missing: run `bash scripts/setup.sh`")
    for rel in COPIED:
        src, dst = REPO / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    for rel in LINKED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).symlink_to(REPO / rel)
    return tmp_path


def check(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}  # grpcio-tools for the Python stubs
    return subprocess.run(["bash", str(root / "scripts/check_protos.sh")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_unmodified_copy_passes(tree):
    done = check(tree)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("old, new, rule", [
    ("  uint32 dim = 4;\n", "", 'field "4" with name "dim" on message "Collection" was deleted'),  # removed
    ("  string description = 2;\n", "  string description = 99;\n", "was deleted"),  # renumbered: 2 is gone
    ("  uint64 item_count = 3;\n", "  string item_count = 3;\n", 'changed type from "uint64" to "string"'),
])
def test_a_breaking_change_fails(tree, old, new, rule):
    edit(tree / "protos/xmodal/v1/collection.proto", old, new)
    done = check(tree)
    assert done.returncode != 0
    assert rule in done.stdout + done.stderr
    assert "breaks wire or source compatibility with protos/baseline/xmodal-v1.binpb" in done.stderr


def test_a_hand_edited_or_missing_stub_fails_in_every_language(tree):
    edited = ["clients/go/src/xmodal/v1/search.pb.go", "clients/cpp/gen/xmodal/v1/search.pb.h",
              "clients/node/src/gen/xmodal/v1/search.ts", "clients/python/xmodal/v1/search_pb2.py"]
    for rel in edited:
        with open(tree / rel, "a") as f:
            f.write("\n// edited by hand\n")
    (tree / "clients/java/gen/xmodal/v1/SearchServiceGrpc.java").unlink()
    done = check(tree)
    assert done.returncode != 0
    assert "generated stubs are stale" in done.stderr
    for rel in edited:
        assert f"and {rel} differ" in done.stdout
    assert "Only in" in done.stdout and "SearchServiceGrpc.java" in done.stdout


def test_a_compatible_proto_change_without_regenerating_fails_as_stale(tree):
    edit(tree / "protos/xmodal/v1/search.proto", "  string text = 5;\n", "  string text = 5;\n  string source = 99;\n")
    done = check(tree)
    assert done.returncode != 0
    assert "breaks wire" not in done.stderr  # an added field is compatible ...
    assert "generated stubs are stale" in done.stderr  # ... but every language's stubs must be regenerated
    for d in ("clients/go", "clients/cpp", "clients/java", "clients/node", "clients/python"):
        assert d in done.stdout
