#!/usr/bin/env bash
# Protocol hygiene, run by scripts/test.sh (CI) before the tests; needs `bash scripts/setup.sh` first:
#   1. buf lint (STANDARD, protos/buf.yaml)
#   2. buf breaking (FILE rules) against the committed baseline image protos/baseline/xmodal-v1.binpb
#   3. every language's generated stubs up to date: scripts/gen_protos.sh into a temporary directory gives the same
#      files as the tree (on a clean clone in CI: as the commit)
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=tools/node_modules/.bin/buf
GENERATED="clients/python/xmodal/v1 clients/go/src/xmodal/v1 clients/cpp/gen clients/java/gen clients/node/src/gen"
[ -x "$BUF" ] || { echo "error: $BUF is missing; run: bash scripts/setup.sh" >&2; exit 1; }

echo "==> buf lint"
(cd protos && "../$BUF" lint)

echo "==> buf breaking (against protos/baseline/xmodal-v1.binpb)"
# To break the API deliberately (prefer a new package, xmodal.v2), or to record additive changes so that their
# later removal is caught, rebuild the baseline and commit it with the change:
#   (cd protos && ../tools/node_modules/.bin/buf build --exclude-source-info -o baseline/xmodal-v1.binpb)
if ! "$BUF" breaking protos --against protos/baseline/xmodal-v1.binpb; then
  echo "error: protos/ breaks wire or source compatibility with protos/baseline/xmodal-v1.binpb (see above);" \
       "if that is deliberate, rebuild the baseline as scripts/check_protos.sh explains" >&2
  exit 1
fi

echo "==> generated stubs up to date"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
scripts/gen_protos.sh "$fresh"
stale=0
for d in $GENERATED; do
  diff -r -q -x __pycache__ "$fresh/$d" "$d" || stale=1
done
if [ "$stale" -ne 0 ]; then
  echo "error: generated stubs are stale (above: fresh output vs the tree): run scripts/gen_protos.sh and commit the result" >&2
  exit 1
fi
