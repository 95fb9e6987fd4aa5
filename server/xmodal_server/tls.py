"""TLS and mutual TLS credentials of the gRPC port, read once at start.

gRPC only looks at certificates and keys when the first client connects, so a wrong file would show
up as failed handshakes in production. Every file is therefore read and checked here, before the port
is bound, with Python's ``ssl`` module doing the checks (is it PEM, does the key match the
certificate, does the CA file hold certificates) and each error naming the setting to fix.
"""
from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from .config import Config
from .errors import InvalidInput


def _read(setting: str, path: str, marker: bytes) -> bytes:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as e:
        raise InvalidInput(f"config {setting}={path!r}: cannot read it: {e.strerror or e}") from None
    if b"-----BEGIN " not in data or marker not in data:
        raise InvalidInput(f"config {setting}={path!r}: not a PEM file with a {marker.decode()} block")
    return data


def _refuse_password() -> bytes:
    # Without this, OpenSSL would prompt on the terminal for the pass phrase of an encrypted key.
    raise InvalidInput("config tls_key_file: the key is encrypted; gRPC needs an unencrypted PEM key")


def server_credentials(config: Config) -> grpc.ServerCredentials | None:
    """``None`` for plaintext; TLS credentials when cert and key are set, mutual TLS with a client CA."""
    if not config.tls_cert_file:
        return None
    cert = _read("tls_cert_file", config.tls_cert_file, b"CERTIFICATE")
    key = _read("tls_key_file", config.tls_key_file, b"PRIVATE KEY")
    if b"ENCRYPTED" in key:
        _refuse_password()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file, password=_refuse_password)
    except ssl.SSLError as e:
        raise InvalidInput(f"config tls_cert_file/tls_key_file: not a usable certificate and key pair "
                           f"(does the key belong to the certificate?): {e.reason or e}") from None
    ca = None
    if config.tls_client_ca_file:
        ca = _read("tls_client_ca_file", config.tls_client_ca_file, b"CERTIFICATE")
        try:
            ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as e:
            raise InvalidInput(f"config tls_client_ca_file={config.tls_client_ca_file!r}: "
                               f"no usable CA certificate: {e}") from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def describe(config: Config) -> str:
    if not config.tls_cert_file:
        return "plaintext"
    return "mutual TLS" if config.tls_client_ca_file else "TLS"
