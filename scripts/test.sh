#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check: buf lint and breaking, stale generated stubs, the test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

# buf lint, buf breaking against the committed protos/baseline/xmodal-v1.binpb, stale stubs of every language.
# To bump the baseline deliberately: (cd protos && ../tools/node_modules/.bin/buf build --exclude-source-info -o baseline/xmodal-v1.binpb)
scripts/check_protos.sh

echo "==> pytest"
export HF_HUB_OFFLINE=1
python -m pytest -ra "$@"
