"""`xmodal align` and `xmodal eval` on a small real subset (emoji from npm, TTS speech, real recordings),
for both profiles: the loop runs, writes a checkpoint + report, and the server loads what it wrote."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ServerThread
from reference_weights import save_bert, save_resnet50, save_wav2vec2
from xmodal import Client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not (shutil.which("npm") and shutil.which("espeak-ng") and shutil.which("flite")):
        pytest.skip("needs npm, espeak-ng and flite (.ci/run installs them)")
    return tmp_path_factory.mktemp("align-work")


def run_cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_align_embedded_tiny_run_then_serve(work, tmp_path, speech_wav):
    out = tmp_path / "ckpt"
    run_cli("align", "--work-dir", str(work), "--limit", "12", "--epochs", "3", "--hidden", "64", "--out", str(out),
            "--train-styles", "")  # the extra art styles are two ~100 MB downloads
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["aligned"] is True and manifest["heads"]["speech"]["type"] == "fused"
    assert manifest["profile"] == "embedded" and manifest["data"]["limit"] == 12
    for f in ("report/report.md", "report/results.json", "report/recall.png", "report/curves.png", "heads.safetensors"):
        assert (out / f).stat().st_size > 0
    report = (out / "report" / "report.md").read_text()
    assert "untrained heads" in report and "true transcript (upper bound)" in report and "gallery" in report

    evaluated = tmp_path / "eval"
    run_cli("eval", "--work-dir", str(work), "--limit", "12", "--checkpoint", str(out), "--out", str(evaluated), "--rerank", "3")
    results = json.loads((evaluated / "results.json").read_text())["results"]
    reranked = {r["task"] for r in results if r["method"] == "fused + re-rank (top 3)"}
    assert {"speech→text (gallery: whole corpus)", "real human speech→text (20 clips)"} <= reranked, reranked
    assert list((work / "features").glob("rerank-scores-*.json"))  # scores cached for the next run

    from xmodal_server.config import Config

    server = ServerThread(Config(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), checkpoint=str(out))).start()
    try:
        with Client(server.address) as c:
            info = c.info()
            assert info.aligned and info.checkpoint_id == manifest["id"] and info.metrics
            for mode in ("direct", "transcribe", "fused"):
                e = c.embed_speech([speech_wav], mode=mode)
                assert e.vectors.shape == (1, 384)
    finally:
        server.stop()


def test_align_reference_architectures_with_tiny_random_weights(work, tmp_path):
    save_bert((tmp_path / "bert").mkdir() or tmp_path / "bert")
    save_wav2vec2((tmp_path / "w2v").mkdir() or tmp_path / "w2v")
    save_resnet50(tmp_path / "r50.pth")
    out = tmp_path / "ref-ckpt"
    run_cli("align", "--profile", "reference", "--work-dir", str(work), "--limit", "6", "--epochs", "2",
            "--hidden", "32", "--no-real", "--train-styles", "", "--out", str(out), "--text-model", str(tmp_path / "bert"),
            "--image-model", str(tmp_path / "r50.pth"), "--speech-model", str(tmp_path / "w2v"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["encoders"] == {"text": "bert", "image": "resnet50", "speech": "wav2vec2-ctc"}


def test_align_unfreeze_top_then_serve_the_finetuned_backbone(work, tmp_path):
    """--unfreeze-top 1: the checkpoint carries the fine-tuned layers; `xmodal eval` (trunk cache + trained
    layers) reproduces align's test numbers; the server loads the layers and serves images with them."""
    import io

    import numpy as np
    from PIL import Image

    out = tmp_path / "ft-ckpt"
    run_cli("align", "--work-dir", str(work), "--limit", "12", "--epochs", "2", "--hidden", "64", "--out", str(out),
            "--train-styles", "", "--no-real", "--unfreeze-top", "1", "--device", "cpu")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heads"]["image"]["finetuned"] == {"top": 1, "layers": ["_blocks.15", "_conv_head", "_bn1"]}
    assert manifest["config"]["unfreeze_top"] == 1
    from safetensors.numpy import load_file

    assert "backbone.image._blocks.15._project_conv.weight" in load_file(str(out / "heads.safetensors"))

    evaluated = tmp_path / "ft-eval"
    run_cli("eval", "--work-dir", str(work), "--limit", "12", "--checkpoint", str(out), "--out", str(evaluated))
    aligned = {(r["task"], r["method"]): r["mrr"] for r in json.loads((out / "report" / "results.json").read_text())["results"]}
    again = {(r["task"], r["method"]): r["mrr"] for r in json.loads((evaluated / "results.json").read_text())["results"]}
    assert all(abs(again[k] - v) < 1e-9 for k, v in aligned.items() if k in again)

    from xmodal_server.config import Config

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    server = ServerThread(Config(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), checkpoint=str(out))).start()
    try:
        with Client(server.address) as c:
            assert c.info().checkpoint_id == manifest["id"]
            v = c.embed_image([buf.getvalue()]).vectors
            assert v.shape == (1, 384) and abs(float(np.linalg.norm(v)) - 1) < 1e-4
    finally:
        server.stop()


def test_align_decoder_adapters_then_eval_and_serve(work, tmp_path, speech_wav):
    """--asr-epochs 1: the checkpoint carries the speech decoder's adapters; `xmodal eval` loads them, reproduces
    align's numbers and reports the pretrained decoder beside them; the server loads and serves them."""
    out = tmp_path / "asr-ckpt"
    run_cli("align", "--work-dir", str(work), "--limit", "12", "--epochs", "2", "--hidden", "64", "--out", str(out),
            "--train-styles", "", "--asr-epochs", "1", "--asr-rank", "4")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["heads"]["speech"]["finetuned"]["decoder_adapters"]["rank"] == 4
    assert manifest["config"]["asr_epochs"] == 1
    from safetensors.numpy import load_file

    weights = load_file(str(out / "heads.safetensors"))
    assert weights["backbone.speech.model.decoder.layers.0.fc1.lora_a"].shape == (4, 384)
    assert list((work / "asr-states").glob("states-*.npz"))  # encoder outputs cached for the next run

    evaluated = tmp_path / "asr-eval"
    run_cli("eval", "--work-dir", str(work), "--limit", "12", "--checkpoint", str(out), "--out", str(evaluated))
    aligned = {(r["task"], r["method"]): r["mrr"] for r in json.loads((out / "report" / "results.json").read_text())["results"]}
    results = json.loads((evaluated / "results.json").read_text())["results"]
    again = {(r["task"], r["method"]): r["mrr"] for r in results}
    assert all(abs(again[k] - v) < 1e-9 for k, v in aligned.items() if k in again)
    baseline = {r["task"] for r in results if r["method"] == "pretrained decoder: transcribe"}
    assert {"speech→text (gallery: whole corpus)", "real human speech→text (20 clips)"} <= baseline, baseline

    from xmodal_server.config import Config

    server = ServerThread(Config(port=0, metrics_port=0, data_dir=str(tmp_path / "data"), checkpoint=str(out))).start()
    try:
        with Client(server.address) as c:
            assert c.info().checkpoint_id == manifest["id"]
            e = c.embed_speech([speech_wav], mode="fused")
            assert e.vectors.shape == (1, 384) and e.transcripts[0]
    finally:
        server.stop()
