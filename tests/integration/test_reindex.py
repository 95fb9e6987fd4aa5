"""A collection remembers its space; another checkpoint refuses it (FAILED_PRECONDITION) until
`reindex` re-embeds it from the stored payloads. The second checkpoint here has random weights made by
the test (a stand-in for a newly trained one), so only the mechanics are checked, not quality."""
from __future__ import annotations

import io
import json

import grpc
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from conftest import ServerThread
from xmodal_server.encoders.efficientnet_lite import FEATURE_DIM
from xmodal import Client, Item, XmodalClientError

pytestmark = pytest.mark.slow


def random_checkpoint(path) -> str:
    rng = np.random.default_rng(0)
    weights = {
        "image.l0.weight": rng.standard_normal((384, FEATURE_DIM)).astype(np.float32) * 0.03,
        "image.l0.bias": np.zeros(384, np.float32),
        "speech.l0.weight": rng.standard_normal((384, 384)).astype(np.float32) * 0.05,
        "speech.l0.bias": np.zeros(384, np.float32),
    }
    path.mkdir()
    save_file(weights, str(path / "heads.safetensors"))
    (path / "manifest.json").write_text(json.dumps({
        "format": 1, "id": "test-random-heads", "aligned": True, "note": "random weights made by a test",
        "heads": {"text": {"type": "identity"}, "image": {"type": "mlp", "conse_weight": 0.2},
                  "speech": {"type": "fused", "direct_weight": 0.3, "default_mode": "fused"}},
    }))
    return str(path)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_other_checkpoint_refuses_until_reindexed(tmp_path, speech_wav):
    from xmodal_server.config import Config

    data = tmp_path / "data"
    first = ServerThread(Config(port=0, metrics_port=0, data_dir=str(data), checkpoint="builtin")).start()
    try:
        with Client(first.address) as c:
            with pytest.raises(XmodalClientError) as e:  # the zero-shot heads have no direct speech path
                c.embed_speech([speech_wav], mode="direct")
            assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and "not available" in e.value.details
            c.create_collection("mixed")
            c.add_items("mixed", [Item.text("t", "refunds take five days", {"k": "v"}), Item.image("i", png()),
                                  Item.speech("s", speech_wav)])
            c.create_collection("vectors")
            c.add_items("vectors", [Item.vector("v", np.ones(384))])
    finally:
        first.stop()

    second = ServerThread(Config(port=0, metrics_port=0, data_dir=str(data), checkpoint=random_checkpoint(tmp_path / "ck"))).start()
    try:
        with Client(second.address) as c:
            with pytest.raises(XmodalClientError) as e:
                c.search_text("mixed", "refund")
            assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "reindex" in e.value.details
            info, n = c.reindex_collection("mixed")
            assert n == 3 and info["space_id"] == "embedded/test-random-heads" and info["item_count"] == 3
            hits = c.search_text("mixed", "refunds take five days", top_k=3).hits
            assert hits[0].id == "t" and hits[0].metadata == {"k": "v"}
            items, _ = c.get_items("mixed", ["s"])
            assert "return" in items[0]["text"].lower()  # re-transcribed from the stored audio
            with pytest.raises(XmodalClientError) as e:
                c.reindex_collection("vectors")
            assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "precomputed" in e.value.details
            assert c.info().speech_modes[0] == 3  # SPEECH_MODE_FUSED is the default of this checkpoint
    finally:
        second.stop()
