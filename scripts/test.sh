#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check: buf lint and breaking, stale generated stubs, the test suite.
# Extra arguments go to pytest. CI runs it without any: the whole suite, real models included.
# The fast tier: `scripts/test.sh -m "not slow"` (pytest part ~65-75 s on 2 cores, ~410 tests): unit and contract
# tests, and every RPC against the real server with the fake encoder profile (tests/fast/, --profile fake:
# tiny deterministic stand-ins, no model loaded). `-m slow` runs only the tests that load the real models.
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
