"""What `xmodal eval` publishes is what SearchBySpeech serves: the same clips against the same collection give
the same ids in the same order, through the server (index, batchers, Whisper on the model thread) and through
the evaluation's path (a matrix of similarities, scores from the score cache), both running the one plan and
ranker of ``ranking/``."""
from __future__ import annotations

import shutil
import subprocess
import uuid

import numpy as np
import pytest

from xmodal import Item
from xmodal_server.evaluation.rerank_eval import ScoreCache, plan_of, planned_sims

pytestmark = pytest.mark.slow

GALLERY = [
    "how long do I have to return an item", "how long do I have to return a gift",
    "how long do I have to exchange an item", "how long does a refund take", "what time does the store open",
    "how do I reset my router", "maldives flag", "indonesia flag", "mongolia flag", "seychelles flag",
    "turn on the kitchen light", "turn off the kitchen light", "turn off the bedroom light", "play some jazz",
    "set a timer for ten minutes", "set an alarm for seven", "what is the weather tomorrow",
    "You can return most items within 30 days of delivery for a full refund.",
    "Refunds reach your account within five business days.",
    "Our stores are open from 9am to 8pm Monday to Saturday.",
]
SAID = ["how long do I have to return an item", "maldives flag", "turn off the kitchen light",
        "when does the store open"]
TOP_K = 10


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    out = tmp_path_factory.mktemp("eval-clips")
    paths = []
    for i, text in enumerate(SAID):
        paths.append(out / f"clip{i}.wav")
        subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(paths[-1]), text], check=True)
    return paths


def test_eval_ranks_each_clip_as_the_server_serves_it(server, client, clips, tmp_path):
    name = f"eval-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    ids = [f"t{i}" for i in range(len(GALLERY))]
    for i in range(0, len(GALLERY), 16):  # the test server's max_batch
        client.add_items(name, [Item.text(j, t) for j, t in zip(ids[i:i + 16], GALLERY[i:i + 16])])

    served = [client.search_speech(name, clip.read_bytes(), top_k=TOP_K) for clip in clips]  # the server's defaults

    # The evaluation's inputs, from the same server: the clip's vector and transcript, the gallery's vectors.
    heard = client.embed_speech([clip.read_bytes() for clip in clips])
    gallery = np.concatenate([client.embed_text(GALLERY[i:i + 16]).vectors for i in range(0, len(GALLERY), 16)])
    sims = heard.vectors @ gallery.T
    config, speech = server.app.service.config, server.app.service.embedder.speech
    plan = plan_of(config.sound_alike_weight, config.rerank_candidates, config.rerank_sound_alike, speech.rerank_gate)
    ranked = planned_sims(plan, sims, list(clips), list(heard.transcripts), GALLERY, ScoreCache(speech, tmp_path), "t")

    for q, result in enumerate(served):
        assert result.transcript == heard.transcripts[q]
        evaluated = [ids[g] for g in np.argsort(-ranked[q], kind="stable")[:TOP_K]]
        assert evaluated == [h.id for h in result.hits], (SAID[q], result.transcript)
    # The plan's stages all ran somewhere: re-ranking scored texts, the sound-alike term was computed.
    assert any(h.transcript_logprob is not None for r in served for h in r.hits)
    assert any(h.sound_alike for r in served for h in r.hits)
    assert served[0].hits[0].id == "t0"
