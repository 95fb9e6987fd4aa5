"""The ``xmodal`` command line contract, run as a user would run it, against the real server."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def xmodal(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "XMODAL_ADDRESS": server.address}
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"xmodal {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_collections_add_search_embed(server, tmp_path, speech_wav):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    assert "created" in xmodal(server, "collections", "create", name).stdout
    assert name in xmodal(server, "collections", "list").stdout

    xmodal(server, "add", name, "--id", "t1", "--text", "blue running shoes", "--meta", "brand=acme", "--meta", "size=42")
    tsv = tmp_path / "items.tsv"
    tsv.write_text("id\ttext\tcategory\nt2\tred leather handbag\tbags\nt3\tstainless steel kettle\tkitchen\n")
    assert "added 2 items" in xmodal(server, "add", name, "--from-tsv", str(tsv)).stdout

    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (80, 80), (250, 0, 0)).save(media / "red.png")
    Image.new("RGB", (80, 80), (0, 0, 250)).save(media / "blue.jpg")
    shutil.copy(speech_wav, media / "question.wav")
    (media / "notes.txt").write_text("ignored: not an image or audio file")
    added = xmodal(server, "add", name, "--from-dir", str(media))
    assert "added 3 items" in added.stdout
    assert "adding to" in added.stderr  # the progress bar goes to stderr

    out = json.loads(xmodal(server, "search", name, "--text", "sneakers for jogging", "--top-k", "3", "--json").stdout)
    assert [set(h) >= {"id", "score", "modality", "metadata"} for h in out["hits"]] == [True] * 3
    assert out["hits"][0]["id"] == "t1" and out["hits"][0]["metadata"] == {"brand": "acme", "size": "42"}
    assert out["hits"][0]["score"] >= out["hits"][1]["score"]

    img = json.loads(xmodal(server, "search", name, "--image", str(media / "red.png"), "--modality", "image", "--json").stdout)
    assert img["hits"][0]["id"] == "red" and {h["modality"] for h in img["hits"]} == {"image"}

    spoken = json.loads(xmodal(server, "search", name, "--speech", str(speech_wav), "--json").stdout)
    assert "return" in spoken["transcript"].lower()

    emb = json.loads(xmodal(server, "embed", "--text", "hello", "--json").stdout)
    assert emb["dim"] == 384 and len(emb["vector"]) == 384

    info = json.loads(xmodal(server, "info", "--json").stdout)
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint

    assert info["profile"] == "embedded" and info["checkpoint_id"] == load_checkpoint(default_checkpoint("embedded")).id
    text = xmodal(server, "info").stdout
    assert "top 5 by default" in text and "sound-alike weight 0.6" in text  # the server's speech defaults
    assert "checkpoint metrics (test split, from xmodal align" in text and "emoji text→image" in text

    assert "deleted 1" in xmodal(server, "delete", name, "t1").stdout
    assert "deleted" in xmodal(server, "collections", "delete", name).stdout


def test_failed_call_exits_nonzero_with_status_name(server):
    proc = xmodal(server, "search", "no-such-collection", "--text", "x", check=False)
    assert proc.returncode == 1
    assert "NOT_FOUND" in proc.stderr and "does not exist" in proc.stderr


def test_unreachable_server_says_unavailable(server):
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", "--address", "127.0.0.1:1", "--timeout", "5", "info"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "UNAVAILABLE" in proc.stderr


def test_help_documents_every_config_field():
    from dataclasses import fields

    from xmodal_server.config import Config

    text = subprocess.run([sys.executable, "-m", "xmodal.cli", "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for f in fields(Config):
        assert "--" + f.name.replace("_", "-") in text
        assert "XMODAL_" + f.name.upper() in text
