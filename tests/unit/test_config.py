import argparse

import pytest

from xmodal_server.config import Config, add_arguments, from_args, load_config
from xmodal_server.errors import InvalidInput


def test_defaults():
    c = load_config(env={})
    assert c.port == 50051 and c.profile == "embedded" and c.demo is False


def test_precedence_file_env_flags(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('port = 6000\nprofile = "reference"\nmax_batch = 8\n')
    c = load_config(f, env={"XMODAL_PORT": "7000", "XMODAL_DEMO": "true"}, overrides={"max_batch": 4, "host": None})
    assert (c.port, c.profile, c.max_batch, c.demo, c.host) == (7000, "reference", 4, True, "127.0.0.1")


def test_cli_flags_via_argparse(tmp_path):
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--port", "0", "--data-dir", str(tmp_path), "--demo", "--profile", "reference"])
    c = from_args(args, env={})
    assert c.port == 0 and c.data_dir == str(tmp_path) and c.demo and c.profile == "reference"


@pytest.mark.parametrize("env, phrase", [
    ({"XMODAL_PORT": "abc"}, "expected int"),
    ({"XMODAL_PORT": "70000"}, "0..65535"),
    ({"XMODAL_PROFILE": "huge"}, "must be one of"),
    ({"XMODAL_DEMO": "maybe"}, "expected bool"),
    ({"XMODAL_MAX_BATCH": "0"}, "at least 1"),
    ({"XMODAL_BATCH_MAX_SIZE": "0"}, "at least 1"),
    ({"XMODAL_BATCH_QUEUE_SIZE": "0"}, "at least 1"),
    ({"XMODAL_BATCH_MAX_DELAY_MS": "-1"}, ">= 0"),
    ({"XMODAL_BATCH_QUEUE_SECONDS": "-1"}, "batch_queue_seconds=-1.0: must be a number of seconds >= 0"),
    ({"XMODAL_SPEECH_QUEUE_SECONDS": "nan"}, "speech_queue_seconds=nan"),
    ({"XMODAL_METRICS_PORT": "-2"}, "-1 \\(off\\)"),
    ({"XMODAL_CUDA_DTYPE": "fp8"}, "must be one of"),
    ({"XMODAL_RERANK_CANDIDATES": "65"}, "rerank_candidates=65: must be 0 \\(off\\) to 64"),
    ({"XMODAL_RERANK_SOUND_ALIKE": "-1"}, "rerank_sound_alike=-1"),
    ({"XMODAL_SOUND_ALIKE_WEIGHT": "11"}, "sound_alike_weight=11"),
])
def test_bad_values_are_refused_with_a_clear_message(env, phrase):
    with pytest.raises(InvalidInput, match=phrase):
        load_config(env=env)


def test_batching_and_metrics_flags(tmp_path):
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--no-batching", "--batch-max-size", "8", "--metrics-port", "-1", "--cuda-dtype", "bf16"])
    c = from_args(args, env={})
    assert (c.batching, c.batch_max_size, c.metrics_port, c.cuda_dtype) == (False, 8, -1, "bf16")
    d = load_config(env={})
    assert (d.batching, d.metrics_port, d.cuda_dtype) == (True, 9090, "fp16")
    assert (d.batch_queue_seconds, d.speech_queue_seconds) == (10.0, 5.0)
    q = from_args(p.parse_args(["--speech-queue-seconds", "2.5", "--batch-queue-seconds", "0"]), env={})
    assert (q.speech_queue_seconds, q.batch_queue_seconds) == (2.5, 0.0)


def test_unknown_key_in_file(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text("prot = 1\n")
    with pytest.raises(InvalidInput, match="unknown keys"):
        load_config(f, env={})


def test_config_is_frozen():
    with pytest.raises(Exception):
        Config().port = 1  # type: ignore[misc]
