"""TLS settings: pairs that must go together, and files checked at start with errors naming the setting."""
import pytest
from cryptography.hazmat.primitives import serialization

from tls_certs import make_certs
from xmodal_server import tls
from xmodal_server.config import Config, load_config
from xmodal_server.errors import InvalidInput


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("env, phrase", [
    ({"XMODAL_TLS_CERT_FILE": "a.pem"}, "set both"),
    ({"XMODAL_TLS_KEY_FILE": "a.key"}, "set both"),
    ({"XMODAL_TLS_CLIENT_CA_FILE": "ca.pem"}, "mutual TLS needs tls_cert_file"),
    ({"XMODAL_LOG_FORMAT": "xml"}, "must be one of text, json"),
])
def test_config_refuses_incomplete_tls(env, phrase):
    with pytest.raises(InvalidInput, match=phrase):
        load_config(env=env)


def test_plaintext_by_default():
    assert tls.server_credentials(Config()) is None and tls.describe(Config()) == "plaintext"


def test_good_files_give_credentials(certs):
    c = Config(tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key))
    assert tls.server_credentials(c) is not None and tls.describe(c) == "TLS"
    m = Config(tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key), tls_client_ca_file=str(certs.ca))
    assert tls.server_credentials(m) is not None and tls.describe(m) == "mutual TLS"


def test_each_bad_file_is_named(certs, tmp_path):
    def creds(**kw):
        base = {"tls_cert_file": str(certs.server_cert), "tls_key_file": str(certs.server_key)}
        return tls.server_credentials(Config(**{**base, **kw}))

    with pytest.raises(InvalidInput, match="config tls_cert_file=.*nope.pem.*cannot read it"):
        creds(tls_cert_file=str(tmp_path / "nope.pem"))
    with pytest.raises(InvalidInput, match="config tls_key_file=.*not a PEM file"):
        creds(tls_key_file=str(certs.server_cert))
    with pytest.raises(InvalidInput, match="config tls_client_ca_file=.*cannot read it"):
        creds(tls_client_ca_file=str(tmp_path / "ca-missing.pem"))
    with pytest.raises(InvalidInput, match="does the key belong to the certificate"):
        creds(tls_key_file=str(certs.client_key))


def test_an_encrypted_key_is_refused_without_prompting(certs, tmp_path):
    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(InvalidInput, match="encrypted"):
        tls.server_credentials(Config(tls_cert_file=str(certs.server_cert), tls_key_file=str(locked)))
