#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check: buf lint, stale generated stubs, the test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast unit tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

echo "==> buf lint"
(cd protos && ../tools/node_modules/.bin/buf lint)

echo "==> generated stubs up to date"
scripts/gen_protos.sh
if ! git diff --quiet -- clients/python/xmodal/v1 || [ -n "$(git status --porcelain -- clients/python/xmodal/v1)" ]; then
  git status --short -- clients/python/xmodal/v1
  echo "error: clients/python/xmodal/v1 is stale: run scripts/gen_protos.sh and commit the result" >&2
  exit 1
fi

echo "==> pytest"
export HF_HUB_OFFLINE=1
python -m pytest -ra "$@"
