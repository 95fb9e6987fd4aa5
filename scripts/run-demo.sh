#!/usr/bin/env bash
# The main job: set up (scripts/setup.sh), then serve the embedded profile with the demo collections
# 'emoji' and 'faq' (built on first start; later starts load them). Extra arguments go to `xmodal serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/xmodal serve --demo "$@"
