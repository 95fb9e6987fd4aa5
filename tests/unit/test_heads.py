import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from xmodal_server.encoders.heads import l2_normalise, load_checkpoint, mlp
from xmodal_server.errors import InvalidInput


def test_builtin_is_zero_shot_and_unaligned():
    c = load_checkpoint(None)
    assert c.id == "zero-shot-v0" and c.aligned is False
    assert (c.head_type("text"), c.head_type("image"), c.head_type("speech")) == ("identity", "conse", "transcribe")


def write(tmp_path, heads, weights=None, **extra):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "id": "t-1", "heads": heads, **extra}))
    if weights:
        save_file(weights, str(tmp_path / "heads.safetensors"))
    return str(tmp_path)


def test_mlp_checkpoint_loads_and_projects(tmp_path):
    w = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    path = write(tmp_path, {"text": {"type": "identity"}, "image": {"type": "mlp"}, "speech": {"type": "transcribe"}},
                 {"image.l0.weight": w, "image.l0.bias": np.zeros(4, np.float32)}, aligned=True, metrics={"r@1": 0.5})
    c = load_checkpoint(path)
    assert c.aligned and c.metrics == {"r@1": "0.5"}
    x = np.ones((2, 6), np.float32)
    assert np.allclose(mlp(c, "image", x), x @ w.T, atol=1e-5)
    with pytest.raises(InvalidInput, match="another profile"):
        mlp(c, "image", np.ones((1, 5), np.float32))


@pytest.mark.parametrize("heads, phrase", [
    ({"text": {"type": "identity"}, "image": {"type": "magic"}, "speech": {"type": "transcribe"}}, "expected one of"),
    ({"text": {"type": "identity"}, "image": {"type": "mlp"}, "speech": {"type": "transcribe"}}, "needs .image.l0.weight."),
])
def test_bad_checkpoints_are_refused(tmp_path, heads, phrase):
    with pytest.raises(InvalidInput, match=phrase):
        load_checkpoint(write(tmp_path, heads))


def test_backbone_weights_must_match_the_manifest(tmp_path):
    """Fine-tuned backbone layers (xmodal align --unfreeze-top) are listed in the head spec and stored as
    backbone.<modality>.<name>; one without the other is refused at load."""
    w = {"image.l0.weight": np.ones((4, 6), np.float32), "image.l0.bias": np.zeros(4, np.float32),
         "backbone.image._conv_head.weight": np.ones((2, 3, 1, 1), np.float32)}
    tuned = {"type": "mlp", "finetuned": {"top": 1, "layers": ["_conv_head"]}}
    heads = {"text": {"type": "identity"}, "image": tuned, "speech": {"type": "transcribe"}}
    c = load_checkpoint(write(tmp_path, heads, w))
    assert set(c.backbone_weights("image")) == {"_conv_head.weight"} and c.backbone_weights("speech") == {}
    with pytest.raises(InvalidInput, match="disagree on fine-tuned backbone layers"):
        load_checkpoint(write(tmp_path, {**heads, "image": {"type": "mlp"}}, w))


def test_shipped_checkpoint_backbone_weights_are_the_speech_decoder_adapters_alone():
    from xmodal_server.encoders.heads import default_checkpoint

    path = default_checkpoint("embedded")
    if path is None:
        pytest.skip("no shipped checkpoint")
    c = load_checkpoint(path)
    assert c.backbone_weights("image") == {} and c.backbone_weights("text") == {}
    speech = c.backbone_weights("speech")
    assert speech and all(k.startswith("model.decoder.layers.") and k.endswith((".lora_a", ".lora_b")) for k in speech)
    assert c.heads["speech"]["finetuned"]["decoder_adapters"]["layers"] == len(speech) // 2


def test_missing_manifest(tmp_path):
    with pytest.raises(InvalidInput, match="manifest.json"):
        load_checkpoint(str(tmp_path))


def test_l2_normalise_handles_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out[0], [0.6, 0.8]) and np.all(np.isfinite(out))
