#!/usr/bin/env bash
# Regenerates every client's stubs from protos/ (and the vendored grpc.health.v1 proto in clients/third_party):
#   Python  clients/python/xmodal/v1   grpcio-tools (pinned by pyproject.toml)
#   Go      clients/go/src/xmodal/v1   Debian protoc + protoc-gen-go + protoc-gen-go-grpc (GOPATH import path xmodal/v1)
#   C++     clients/cpp/gen            Debian protoc + grpc_cpp_plugin
#   Java    clients/java/gen           Debian protoc + grpc_java_plugin
#   Node    clients/node/src/gen       Debian protoc + ts-proto (pinned in clients/node/package-lock.json)
# The stubs are committed so that building a client needs no protoc. `scripts/gen_protos.sh DIR` writes the same
# tree under DIR instead of in place: scripts/check_protos.sh (CI) does that and fails on any difference (stale
# stubs). Generation is reproducible only with the pinned tools, so a different version is an error here rather
# than a confusing diff later: run `bash scripts/setup.sh` to install them.
set -euo pipefail
ROOT=.
if [ -n "${1:-}" ]; then mkdir -p "$1" && ROOT=$(cd "$1" && pwd); fi
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=.venv/bin/python

# Upstream versions of the Debian (bookworm) packages whose output is committed.
PINS="protobuf-compiler=3.21.12 protoc-gen-go=1.28.1 protoc-gen-go-grpc=1.33.3 protobuf-compiler-grpc=1.51.1
      protobuf-compiler-grpc-java-plugin=1.41.3+ds"
for pin in $PINS; do
  pkg=${pin%%=*} want=${pin#*=}
  have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null | sed 's/^[0-9]*://; s/-[^-]*$//') || true
  if [ "$have" != "$want" ]; then
    echo "error: gen_protos.sh needs Debian package $pkg $want (found '${have:-none}'); run: bash scripts/setup.sh" >&2
    exit 1
  fi
done
TS_PROTO=clients/node/node_modules/.bin/protoc-gen-ts_proto
if [ ! -x "$TS_PROTO" ]; then
  echo "error: $TS_PROTO is missing (ts-proto, pinned in clients/node/package-lock.json); run: bash scripts/setup.sh" >&2
  exit 1
fi

PROTOS=(protos/xmodal/v1/*.proto)
HEALTH=clients/third_party/grpc/health/v1/health.proto

# Python
out=$ROOT/clients/python
rm -f "$out"/xmodal/v1/*_pb2*.py "$out"/xmodal/v1/*_pb2*.pyi && mkdir -p "$out"
"$PY" -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" "${PROTOS[@]}"
touch "$out"/xmodal/v1/__init__.py

# Go: the protos declare no go_package (they stay language-neutral), so each file is mapped to the GOPATH
# import path here. The health client comes with Debian's grpc-go (google.golang.org/grpc/health/grpc_health_v1).
out=$ROOT/clients/go/src
rm -rf "$out"/xmodal/v1 && mkdir -p "$out"
gomap=""
for f in "${PROTOS[@]}"; do gomap="$gomap,M${f#protos/}=xmodal/v1;xmodalv1"; done
protoc -Iprotos --go_out="$out" --go_opt="${gomap#,}" --go-grpc_out="$out" --go-grpc_opt="${gomap#,}" "${PROTOS[@]}"

# C++
out=$ROOT/clients/cpp/gen
rm -rf "$out" && mkdir -p "$out"
protoc -Iprotos -Iclients/third_party --cpp_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "${PROTOS[@]}" "$HEALTH"

# Java (Debian's grpc-java has no grpc-services jar, hence the generated health stub)
out=$ROOT/clients/java/gen
rm -rf "$out" && mkdir -p "$out"
protoc -Iprotos -Iclients/third_party --java_out="$out" --grpc-java_out="$out" \
  --plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin "${PROTOS[@]}" "$HEALTH"

# TypeScript (ts-proto: message types + @grpc/grpc-js service clients)
out=$ROOT/clients/node/src/gen
rm -rf "$out" && mkdir -p "$out"
protoc -Iprotos -Iclients/third_party --plugin=protoc-gen-ts_proto="$TS_PROTO" --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,env=node,esModuleInterop=true,useOptionals=messages \
  "${PROTOS[@]}" "$HEALTH"
