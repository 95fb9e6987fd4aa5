#!/usr/bin/env python3
"""Exec probe for xmodal's gRPC port when it serves TLS: grpc.health.v1.Health/Check, exit 0 only if SERVING.

The kubelet's native gRPC probe speaks plaintext only, so k8s/components/tls runs this instead, with the
image's Python and grpcio. It connects to 127.0.0.1 on $XMODAL_PORT, trusts the CA of the pod's TLS Secret
(ca.crt) and verifies the server's certificate for --server-name, a name in its SANs (default: the Service
name, xmodal). When the server asks clients for certificates (XMODAL_TLS_CLIENT_CA_FILE is set: mutual
TLS), it presents the pod's own certificate and key, which must then be issued for client auth too and
signed by that CA. Health needs no token, so the auth component changes nothing here.
"""
from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default=f"127.0.0.1:{env.get('XMODAL_PORT', '50051')}")
    p.add_argument("--ca", default="/etc/xmodal/tls/ca.crt", help="PEM CA certificate(s) to trust")
    p.add_argument("--server-name", default="xmodal", help="name to verify in the server's certificate")
    p.add_argument("--cert", help="client certificate (default with mutual TLS: $XMODAL_TLS_CERT_FILE)")
    p.add_argument("--key", help="client key (default with mutual TLS: $XMODAL_TLS_KEY_FILE)")
    p.add_argument("--service", default="", help="health service name ('' = the whole server)")
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args(argv)
    cert, key = args.cert, args.key
    if cert is None and key is None and env.get("XMODAL_TLS_CLIENT_CA_FILE"):
        cert, key = env.get("XMODAL_TLS_CERT_FILE"), env.get("XMODAL_TLS_KEY_FILE")
    try:
        pem = [open(path, "rb").read() if path else None for path in (args.ca, key, cert)]
    except OSError as e:
        print(f"probe: cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    credentials = grpc.ssl_channel_credentials(*pem)
    options = [("grpc.ssl_target_name_override", args.server_name)]
    with grpc.secure_channel(args.address, credentials, options=options) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as e:
            print(f"probe: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
