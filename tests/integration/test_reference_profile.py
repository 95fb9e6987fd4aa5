"""The server on the reference profile (BERT, ResNet-50, Wav2Vec2-CTC), end to end over gRPC, with
random weights the test saves in the real formats. It proves the loading and serving paths, not quality."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import ServerThread
from reference_weights import save_bert, save_resnet50, save_wav2vec2
from xmodal import Client, Item

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference_server(tmp_path_factory):
    from xmodal_server.config import Config

    root = tmp_path_factory.mktemp("reference")
    for sub in ("bert", "w2v"):
        (root / sub).mkdir()
    config = Config(
        port=0, metrics_port=0, data_dir=str(root / "data"), profile="reference",
        text_model=str(save_bert(root / "bert")),
        image_model=str(save_resnet50(root / "resnet50.pth")),
        speech_model=str(save_wav2vec2(root / "w2v")),
    )
    runner = ServerThread(config).start()
    yield runner
    runner.stop()


def test_reference_profile_serves_every_modality(reference_server, speech_wav):
    with Client(reference_server.address) as c:
        info = c.info()
        assert info.profile == "reference" and info.space_id == "reference/zero-shot-v0"
        assert {e.name: e.feature_dim for e in info.encoders} == {"bert": 32, "resnet50": 2048, "wav2vec2-ctc": 32}
        assert info.shared_dim == 32 and info.aligned is False

        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (10, 200, 30)).save(buf, format="JPEG")
        assert c.embed_text(["a photo of a dog"]).vectors.shape == (1, 32)
        assert c.embed_image([buf.getvalue()]).vectors.shape == (1, 32)
        speech = c.embed_speech([speech_wav])
        assert speech.vectors.shape == (1, 32) and isinstance(speech.transcripts[0], str)

        c.create_collection("ref")
        c.add_items("ref", [Item.text("t", "the cat on the grass"), Item.image("i", buf.getvalue())])
        hits = c.search_image("ref", buf.getvalue(), top_k=2).hits
        assert hits[0].id == "i" and np.isclose(hits[0].score, 1.0, atol=1e-4)
