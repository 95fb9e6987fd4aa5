"""Reference-profile encoders (ResNet-50, Wav2Vec2 CTC) loaded through their real loading paths.

No hub is reachable here, so the weights are random: saved with ``torch.save`` / ``save_pretrained``
by the fixtures and read back by the factories exactly as pretrained ones would be.
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from reference_weights import VOCAB, save_bert, save_resnet50, save_wav2vec2
from xmodal_server.encoders import reference
from xmodal_server.encoders.registry import EncoderSpec, build

# ------------------------------------------------------------------------------------------- ResNet-50


@pytest.fixture(scope="module")
def resnet_files(tmp_path_factory):
    """One random state dict, saved as a plain file and as torchvision's cached IMAGENET1K_V2 file."""
    from torchvision.models import ResNet50_Weights

    root = tmp_path_factory.mktemp("resnet")
    path = save_resnet50(root / "resnet50.pth")
    torch_home = root / "torch_home"
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    os.link(path, checkpoints / os.path.basename(ResNet50_Weights.IMAGENET1K_V2.url))
    return path, torch_home


@pytest.fixture(scope="module")
def resnet_enc(resnet_files):
    return build(EncoderSpec("resnet50", str(resnet_files[0])))


def _images():
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA"),  # converted
    ]


def test_resnet_outputs(resnet_enc):
    imgs = _images()
    out = resnet_enc.encode(imgs)
    assert out.features.shape == (2, 2048) and out.features.dtype == np.float32
    assert out.class_probs.shape == (2, 1000) and out.class_probs.dtype == np.float32
    np.testing.assert_allclose(out.class_probs.sum(1), 1.0, rtol=1e-5)
    assert len(resnet_enc.class_names) == 1000 and resnet_enc.class_names[0] == "tench"
    assert resnet_enc.info.feature_dim == 2048 and resnet_enc.info.modality == "image"
    assert not resnet_enc.model.training
    # An image's row does not depend on its batch-mates (determinism: the next test).
    single = resnet_enc.encode(imgs[1:]).features[0]
    np.testing.assert_allclose(single, out.features[1], rtol=1e-4, atol=1e-4 * np.abs(single).max())


def test_resnet_default_source_reads_torch_hub_cache(resnet_files, resnet_enc, monkeypatch):
    path, torch_home = resnet_files
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    enc = reference.resnet50(EncoderSpec("resnet50", None))
    assert "IMAGENET1K_V2" in enc.info.source
    # Same weights through both paths, and deterministic: identical outputs.
    img = _images()[:1]
    np.testing.assert_array_equal(enc.encode(img).features, resnet_enc.encode(img).features)


def test_resnet_missing_cache_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(OSError, match="resnet50-11ad3fa6.pth") as info:
        reference.resnet50(EncoderSpec("resnet50", "torchvision"))
    assert str(tmp_path / "hub" / "checkpoints") in str(info.value)


def test_resnet_bad_sources(tmp_path):
    from torchvision.models import resnet18

    with pytest.raises(ValueError, match="Hub ids"):
        reference.resnet50(EncoderSpec("resnet50", "timm/resnet50.a1_in1k"))
    with pytest.raises(ValueError, match="does not exist"):
        reference.resnet50(EncoderSpec("resnet50", str(tmp_path / "missing.pth")))
    wrong = tmp_path / "r18.pt"
    torch.save(resnet18().state_dict(), wrong)
    with pytest.raises(ValueError, match="not a torchvision resnet50 state dict"):
        reference.resnet50(EncoderSpec("resnet50", str(wrong)))
    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole module, not a state dict
    with pytest.raises(ValueError, match="pickled modules are refused"):
        reference.resnet50(EncoderSpec("resnet50", str(pickled)))


# ------------------------------------------------------------------------------------- Wav2Vec2 CTC
@pytest.fixture(scope="module", params=[False, True], ids=["no-mask", "mask"])
def speech_enc(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp("w2v")
    save_wav2vec2(directory, with_mask=request.param)
    enc = build(EncoderSpec("wav2vec2-ctc", str(directory)))
    assert enc.use_mask is request.param
    return enc


def _clips():
    rng = np.random.default_rng(1)
    # Different lengths (two equal, to share a pass without a mask), one shorter than a frame.
    return [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (6000, 2500, 2500, 1001, 7)]


def test_speech_outputs(speech_enc):
    clips = _clips()
    out = speech_enc.encode(clips, transcribe=True)
    assert out.features.shape == (5, 32) and out.features.dtype == np.float32
    assert speech_enc.info.feature_dim == 32 and speech_enc.can_transcribe
    assert not speech_enc.model.training
    assert len(out.transcripts) == 5
    for text in out.transcripts:
        assert isinstance(text, str) and text == text.lower().strip()
    # Deterministic; transcribing does not change features; a clip's row and transcript do not
    # depend on its batch-mates.
    plain = speech_enc.encode(clips)
    assert plain.transcripts is None
    np.testing.assert_array_equal(plain.features, out.features)
    for i, clip in enumerate(clips):
        single = speech_enc.encode([clip], transcribe=True)
        np.testing.assert_allclose(single.features[0], out.features[i], atol=1e-4)
        assert single.transcripts[0] == out.transcripts[i]
    speech_enc.warmup()


def test_speech_greedy_ctc_decoding(speech_enc):
    # A head that always says "H": repeats collapse to one letter, lower-cased.
    head = speech_enc.model.lm_head
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    try:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.bias[VOCAB["H"]] = 10.0
        assert speech_enc.encode(_clips()[:2], transcribe=True).transcripts == ["h", "h"]
    finally:
        head.load_state_dict(saved)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers' fallback path for the empty dir
def test_speech_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        reference.wav2vec2_ctc(EncoderSpec("wav2vec2-ctc", str(tmp_path / "missing")))
    with pytest.raises(OSError, match="processor files"):
        reference.wav2vec2_ctc(EncoderSpec("wav2vec2-ctc", str(tmp_path)))  # empty directory


def test_speech_unreachable_hub_says_pass_a_directory(tmp_path):
    # A fresh interpreter: the HF offline switch is read at import time. Offline mode stands in for
    # an unreachable hub (the real thing retries for ~100 s before failing the same way).
    code = (
        "from xmodal_server.encoders.reference import wav2vec2_ctc\n"
        "from xmodal_server.encoders.registry import EncoderSpec\n"
        "try:\n    wav2vec2_ctc(EncoderSpec('wav2vec2-ctc', None))\n"
        "except OSError as e:\n    print('ERR', e)\n"
    )
    server = os.path.dirname(os.path.dirname(os.path.dirname(reference.__file__)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path),
               PYTHONPATH=os.pathsep.join([server, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert "ERR" in out.stdout, out.stderr
    assert "--speech-model DIR" in out.stdout and "facebook/wav2vec2-base-960h" in out.stdout


# ------------------------------------------------------------------------------------ BERT (text)
def test_bert_from_local_directory(tmp_path):
    from xmodal_server.encoders.hf_text import bert

    save_bert(tmp_path)
    enc = bert(EncoderSpec("bert", str(tmp_path)))
    texts = ["a photo of a dog", "cat", "the cat running on the grass"]
    out = enc.encode(texts)
    assert out.features.shape == (3, 32) and out.features.dtype == np.float32
    assert enc.info.feature_dim == 32 and enc.count_tokens("cat") == 3  # [CLS] cat [SEP]
    np.testing.assert_array_equal(enc.encode(texts).features, out.features)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(enc.encode([text]).features[0], out.features[i], atol=1e-4)


def test_speech_ctc_text_scores_match_a_hand_count(speech_enc):
    # A head with uniform outputs: every frame path has probability V^-T, and a one-letter text "h" has
    # T(T+1)/2 alignments (one run of h among blanks), so log p = log(T(T+1)/2) - T log V, over 2 tokens.
    head = speech_enc.model.lm_head
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    clip = _clips()[0]
    frames = int(speech_enc.model._get_feat_extract_output_lengths(torch.tensor([len(clip)]))[0])
    try:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
        lp = speech_enc.transcript_logprobs(clip, ["h", "hat"])
        expected = (np.log(frames * (frames + 1) / 2) - frames * np.log(len(VOCAB))) / 2
        assert lp.shape == (2,) and lp[0] == pytest.approx(expected, rel=1e-4)
        with torch.no_grad():
            head.bias[VOCAB["H"]] = 10.0  # now every frame says "H": "h" explains the clip, "hat" does not
        lp = speech_enc.transcript_logprobs(clip, ["h", "hat"])
        assert lp[0] > lp[1] + 1 and speech_enc.rerank_gate is not None
    finally:
        head.load_state_dict(saved)


def test_speech_ctc_kept_state_scores_like_a_fresh_pass(speech_enc):
    clips = _clips()
    out = speech_enc.encode(clips, transcribe=True, keep_state=True)
    for clip, state in zip(clips, out.states):
        np.testing.assert_allclose(speech_enc.transcript_logprobs(clip, ["h", "hat"], state),
                                   speech_enc.transcript_logprobs(clip, ["h", "hat"]), atol=1e-3)
