#!/usr/bin/env bash
# Regenerates the Python stubs in clients/python/xmodal/v1 from protos/. The stubs are committed so that
# `pip install` needs no protoc; CI reruns this and fails on any diff (stale stubs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
out=clients/python
rm -f "$out"/xmodal/v1/*_pb2*.py "$out"/xmodal/v1/*_pb2*.pyi
"$PY" -m grpc_tools.protoc -Iprotos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/xmodal/v1/*.proto
touch "$out"/xmodal/v1/__init__.py
