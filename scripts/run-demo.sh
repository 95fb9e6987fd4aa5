#!/usr/bin/env bash
# The main job: set up what the demo server needs (scripts/setup.sh in demo mode: no speech synthesizers, no
# other clients' toolchains; a full dev install counts), then serve the embedded profile with the demo
# collections 'emoji' and 'faq' (built on first start; later starts load them). Extra arguments go to `xmodal serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
XMODAL_SETUP_MODE=demo bash scripts/setup.sh
exec .venv/bin/xmodal serve --demo "$@"
