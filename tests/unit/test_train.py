"""The training loop on a synthetic task (named as such): targets are a fixed random rotation of the
inputs plus noise, so a head can learn it; the loop must make the loss fall and recall rise far above
chance on held-out pairs."""
import numpy as np
import torch

from xmodal_server.align.model import MLPHead, info_nce
from xmodal_server.align.train import PairTask, TrainConfig, train


def synthetic_task(n: int, seed: int, name: str = "image") -> tuple[PairTask, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(0).standard_normal((24, 16)).astype(np.float32)  # the same map for every split
    x = rng.standard_normal((n, 24)).astype(np.float32)
    y = x @ w + 0.1 * rng.standard_normal((n, 16)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return PairTask(name, x, [row[None] for row in y], np.arange(n)), x, y


def test_loss_falls_and_recall_is_far_above_chance():
    task, _, _ = synthetic_task(400, 1)
    _, xv, yv = synthetic_task(100, 2)
    cfg = TrainConfig(epochs=15, hidden=64, depth=2, batch=64, lr=3e-3)

    def validate(t):
        q = t.project("image", xv)
        r1 = float(np.mean(np.argmax(q @ yv.T, axis=1) == np.arange(len(yv))))
        return {"R@1": r1, "score": r1}

    trained = train([task], {"image": 1.0}, cfg, validate, progress=False)
    losses = [v for _, v in trained.curves["train loss (image)"]]
    assert losses[-1] < 0.5 * losses[0]
    assert trained.best_score > 0.5  # chance is 1/100
    assert all(e >= 1 for e in trained.best_epoch.values()) and len(trained.val_history) == 15


def test_export_round_trips_through_the_server_head():
    from xmodal_server.encoders.heads import Checkpoint, mlp

    task, x, _ = synthetic_task(64, 3)
    trained = train([task], {"image": 1.0}, TrainConfig(epochs=1, hidden=32, batch=32), progress=False)
    ckpt = Checkpoint(id="t", aligned=True, note="", heads={}, weights=trained.export())
    served = mlp(ckpt, "image", x)
    served /= np.linalg.norm(served, axis=1, keepdims=True)
    assert np.allclose(served, trained.project("image", x), atol=1e-5)


def test_info_nce_groups_are_not_negatives():
    a = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    same = info_nce(a, a, torch.tensor(10.0), torch.tensor([0, 0, 1, 1]))
    plain = info_nce(a, a, torch.tensor(10.0))
    assert same < plain  # masking positives of the same group can only lower the loss


def test_linear_head_is_depth_one():
    head = MLPHead(5, 3, depth=1)
    assert len(head.layers) == 1 and set(head.export("x")) == {"x.l0.weight", "x.l0.bias"}


def test_each_head_keeps_its_own_best_epoch():
    image, _, _ = synthetic_task(64, 4, "image")
    speech, _, _ = synthetic_task(64, 5, "speech")
    probe = np.random.default_rng(6).standard_normal((4, 24)).astype(np.float32)
    seen = {}

    def validate(t):  # a fake validation: image peaks at epoch 2, speech improves to the end
        epoch = len(seen) + 1
        seen[epoch] = t.project("image", probe)
        return {"score/image": -abs(epoch - 2), "score/speech": epoch, "score": 0.0}

    trained = train([image, speech], {"image": 0.5, "speech": 0.5}, TrainConfig(epochs=5, hidden=32, batch=16),
                    validate, progress=False)
    assert trained.best_epoch == {"image": 2, "speech": 5}
    np.testing.assert_allclose(trained.project("image", probe), seen[2], atol=1e-6)


def test_unfreeze_flags_are_checked_against_the_backbones():
    import pytest

    from xmodal_server.align.pipeline import backbone_top
    from xmodal_server.encoders.base import EncoderInfo

    class FakeFineTunable:  # the FineTunable protocol, nothing behind it
        info = EncoderInfo("fake-image", "image", "fake", 4, "fake")
        max_unfreeze = 3

        def trunk(self, prepared, n): ...
        def top_layers(self, n): ...
        def load_finetuned(self, state, where): ...

    class FakeFrozen:
        info = EncoderInfo("fake-frozen", "image", "fake", 4, "fake")

    encoders = {"image": FakeFineTunable(), "speech": FakeFrozen()}
    assert backbone_top(encoders, TrainConfig()) == {}  # default: frozen, today's behaviour
    assert backbone_top(encoders, TrainConfig(unfreeze_top=2)) == {"image": 2}
    with pytest.raises(ValueError, match="has 3 layers"):
        backbone_top(encoders, TrainConfig(unfreeze_top=4))
    with pytest.raises(ValueError, match="only the image backbone"):
        backbone_top(encoders, TrainConfig(unfreeze_top=1, unfreeze=("image", "speech")))
    with pytest.raises(ValueError, match="does not support --unfreeze-top"):
        backbone_top({"image": FakeFrozen()}, TrainConfig(unfreeze_top=1))
