"""Test certificates minted with ``cryptography``: a CA, a server certificate for localhost/127.0.0.1,
and client certificates (one from the CA, one from a stranger CA). EC P-256 keys: fast to make."""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate signed by a CA the server does not trust
    stranger_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert: x509.Certificate | None = None, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        assert key is not None
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(cn: str, ca: x509.Certificate, ca_key, usage, sans=()) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("xmodal test CA")
    server, server_key = _leaf("localhost", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                               [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client, client_key = _leaf("xmodal test client", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    other, other_key = _ca("stranger CA")
    stranger, stranger_key = _leaf("stranger", other, other_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Certs(
        ca=_write(folder / "ca.pem", ca),
        server_cert=_write(folder / "server.pem", server), server_key=_write(folder / "server.key", key=server_key),
        client_cert=_write(folder / "client.pem", client), client_key=_write(folder / "client.key", key=client_key),
        stranger_cert=_write(folder / "stranger.pem", stranger),
        stranger_key=_write(folder / "stranger.key", key=stranger_key),
    )


def mtls_client(address: str, certs: Certs, token: str | None = None, timeout: float = 60, **kw):
    """A client that presents the CA-signed client certificate (and ``token``, if any)."""
    from xmodal import Client

    return Client(address, timeout=timeout, tls_ca=certs.ca, tls_cert=certs.client_cert, tls_key=certs.client_key,
                  token=token, **kw)


def status_of(fn):
    """The gRPC status code a client call ends with (OK when it succeeds)."""
    import grpc

    from xmodal import XmodalClientError

    try:
        fn()
    except XmodalClientError as e:
        return e.code
    return grpc.StatusCode.OK
