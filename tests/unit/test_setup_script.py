"""scripts/setup.sh's pip retry (pip_install): CI once failed when PyPI dropped a 196 MB wheel mid-download. The
function is cut out of the real script and run against a fake interpreter (a shell script that logs its arguments
and fails the first installs), so the test needs no network and no pip."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup.sh"


def _pip_install_function() -> str:
    text = SETUP.read_text()
    start = text.index("pip_install() {")
    return text[start:text.index("\n}\n", start) + 3]


def _fake_python(tmp_path: Path, failures: int, knows_resume: bool) -> Path:
    """A fake `python -m pip ...`: logs each call, answers `install --help`, fails the first `failures` installs."""
    fake = tmp_path / "fake-python"
    fake.write_text(f"""#!/usr/bin/env bash
if [ "$4" = "--help" ]; then {'echo "  --resume-retries <resume_retries>"' if knows_resume else 'echo "  --retries"'}; exit 0; fi
echo "$*" >> "{tmp_path}/calls"
n=$(wc -l < "{tmp_path}/calls")
[ "$n" -gt {failures} ]
""")
    fake.chmod(0o755)
    return fake


def _run(tmp_path: Path, failures: int, knows_resume: bool = True) -> tuple[subprocess.CompletedProcess, list[str]]:
    fake = _fake_python(tmp_path, failures, knows_resume)
    script = f"set -euo pipefail\n{_pip_install_function()}\npip_install {fake} --no-deps some-pkg==1.0\n"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "XMODAL_PIP_RETRY_DELAY": "0"})
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return proc, calls


def test_a_dropped_download_is_retried_until_pip_succeeds(tmp_path):
    proc, calls = _run(tmp_path, failures=2)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 3 and len(set(calls)) == 1
    assert calls[0] == "-m pip install -q --disable-pip-version-check --resume-retries 30 --no-deps some-pkg==1.0"
    assert proc.stderr.count("retrying") == 2


def test_gives_up_after_four_attempts_and_says_what_to_do(tmp_path):
    proc, calls = _run(tmp_path, failures=10)
    assert proc.returncode == 1 and len(calls) == 4
    assert "failed 4 times" in proc.stderr and "rerun bash scripts/setup.sh" in proc.stderr


def test_an_old_pip_without_resume_is_not_given_the_flag(tmp_path):
    proc, calls = _run(tmp_path, failures=0, knows_resume=False)
    assert proc.returncode == 0 and calls == ["-m pip install -q --disable-pip-version-check --no-deps some-pkg==1.0"]
