"""The clients in other languages (clients/node, go, cpp, java), each built from its committed generated stubs,
run their one example against the real server: health, EmbedText, SearchByText on `emoji`, SearchBySpeech on
`faq`. Their output must agree with the Python client's: the same vector (to 1e-6), the same hits, the same
transcript. Each client is built once per session, in its own ignored build directory. A missing toolchain fails
(CI installs them all with scripts/setup.sh), it does not skip.

Each example then runs against a second server with TLS and bearer tokens, configured by the environment variables
the Python CLI reads (XMODAL_TLS_CA, XMODAL_TOKEN): the same output with a token, UNAUTHENTICATED without."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import ServerThread
from tls_certs import make_certs
from xmodal import Client, Item

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / "clients"
SETUP = "run `bash scripts/setup.sh` (it installs every client's toolchain; CI runs it)"
QUERY = "red apple"
QUESTION = "how long do I have to return an item"
TOP_K = 3
LANGS = ["node", "go", "cpp", "java"]
READ_TOKEN = "clients-read-5c0e9a7b3d2f4e6a8b1c"    # what the examples send: searching needs scope read
WRITE_TOKEN = "clients-write-9f8e7d6c5b4a3f2e1d0c"  # the Python client's, to create the collections


# -- the collections and the question, made with the Python client -------------------------------

def disc(color) -> bytes:
    img = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(img).ellipse((12, 12, 84, 84), fill=color)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


COLLECTIONS = {
    "emoji": [
        Item.text("apple", "red apple", {"category": "food"}),
        Item.text("banana", "yellow banana", {"category": "food"}),
        Item.text("rocket", "rocket launching into space", {"category": "travel"}),
        Item.image("red-disc", disc((220, 20, 20)), {"category": "symbols"}),
        Item.image("blue-disc", disc((20, 20, 220)), {"category": "symbols"}),
    ],
    "faq": [
        Item.text("returns-window", "You can return most items within 30 days of delivery for a full refund."),
        Item.text("router-reset", "Hold the reset button on the back of the router for ten seconds."),
        Item.text("store-hours", "Our stores are open from 9am to 8pm Monday to Saturday."),
        Item.text("gift-cards", "Gift cards never expire and can be used online or in store."),
    ],
}


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory) -> Path:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail(f"espeak-ng is not installed: {SETUP}")
    out = tmp_path_factory.mktemp("clients") / "question.wav"
    subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(out), QUESTION], check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def reference(client, question_wav):
    """The collections (created when the server lacks them) and what the Python client gets from them."""
    existing = {c["name"] for c in client.list_collections()}
    for name, items in COLLECTIONS.items():
        if name not in existing:
            client.create_collection(name)
            client.add_items(name, items)
    embedded = client.embed_text([QUERY])
    return {
        "vector": embedded.vectors[0],
        "space_id": embedded.space_id,
        "text": client.search_text("emoji", QUERY, top_k=TOP_K),
        "speech": client.search_speech("faq", question_wav, top_k=TOP_K),
    }


# -- building each client once per session -----------------------------------------------------

@dataclass
class Toolchain:
    tools: list[str]                      # executables that must be on PATH
    paths: list[str] = field(default_factory=list)  # files or directories that must exist
    pkg_config: list[str] = field(default_factory=list)
    build: list[list[str]] = field(default_factory=list)
    run: list[str] = field(default_factory=list)  # the example; the arguments follow


JAVA_JARS = ["grpc-api", "grpc-core", "grpc-netty", "grpc-protobuf", "grpc-stub", "protobuf", "guava", "perfmark-api",
             "netty-codec-http2", "netty-transport", "geronimo-annotation-1.3-spec", "netty-tcnative"]
TOOLCHAINS = {
    "node": Toolchain(
        tools=["node"], paths=[str(CLIENTS / "node/node_modules/.bin/tsc"), str(CLIENTS / "node/node_modules/@grpc/grpc-js")],
        build=[[str(CLIENTS / "node/node_modules/.bin/tsc"), "-p", str(CLIENTS / "node/tsconfig.json")]],
        run=["node", str(CLIENTS / "node/dist/example.js")]),
    "go": Toolchain(
        tools=["go", "make"],
        paths=["/usr/share/gocode/src/google.golang.org/grpc", "/usr/share/gocode/src/google.golang.org/protobuf",
               "/usr/share/gocode/src/github.com/golang/protobuf/proto"],
        build=[["make", "-C", str(CLIENTS / "go")]], run=[str(CLIENTS / "go/build/xmodal-example")]),
    "cpp": Toolchain(
        tools=["make", "g++", "pkg-config"], pkg_config=["grpc++", "protobuf"],
        build=[["make", "-C", str(CLIENTS / "cpp"), "-j2"]], run=[str(CLIENTS / "cpp/build/xmodal-example")]),
    "java": Toolchain(
        tools=["make", "javac", "java"], paths=[f"/usr/share/java/{j}.jar" for j in JAVA_JARS],
        build=[["make", "-C", str(CLIENTS / "java")]], run=[str(CLIENTS / "java/build/xmodal-example")]),
}

_built: dict[str, list[str]] = {}


def built(lang: str) -> list[str]:
    """The command that runs `lang`'s example, built on first use; fails naming setup.sh when a tool is missing."""
    if lang in _built:
        return _built[lang]
    tc = TOOLCHAINS[lang]
    missing = [t for t in tc.tools if shutil.which(t) is None] + [p for p in tc.paths if not Path(p).exists()]
    if tc.pkg_config and shutil.which("pkg-config"):
        if subprocess.run(["pkg-config", "--exists", *tc.pkg_config]).returncode != 0:
            missing.append(f"pkg-config {' '.join(tc.pkg_config)}")
    if missing:
        pytest.fail(f"the {lang} client's toolchain is incomplete (missing: {', '.join(missing)}): {SETUP}")
    for cmd in tc.build:
        t0 = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"building the {lang} client failed ({' '.join(cmd)}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}\n"
                        f"if a tool or library is missing: {SETUP}")
        print(f"built the {lang} client in {time.monotonic() - t0:.1f}s")
    _built[lang] = tc.run
    return tc.run


# -- the example's output ------------------------------------------------------------------------

def run_example(lang: str, address: str, question_wav: Path, **env: str) -> subprocess.CompletedProcess:
    """The example with the usual arguments; of the XMODAL_* variables, only those given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XMODAL_")}
    cmd = built(lang) + [address, str(question_wav), "emoji", "faq", QUERY]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**clean, **env})


HIT = re.compile(r"^(text_hit|speech_hit) (\d+) id=(\S+) score=(\S+) modality=(\S+) text=(.*)$")


def parse(out: str) -> dict:
    got: dict = {"text_hit": [], "speech_hit": []}
    for line in out.splitlines():
        if m := HIT.match(line):
            got[m[1]].append({"rank": int(m[2]), "id": m[3], "score": float(m[4]), "modality": m[5]})
        elif line.startswith("vector: ["):
            got["vector"] = np.array([float(x) for x in line[len("vector: ["):].rstrip("]").split(",")])
        elif ": " in line:
            key, _, value = line.partition(": ")
            got.setdefault(key, value)
    return got


def assert_matches_reference(lang: str, done: subprocess.CompletedProcess, reference: dict) -> None:
    assert done.returncode == 0, f"{lang} example failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    got = parse(done.stdout)

    assert got.get("health") == "SERVING"
    assert got.get("space") == reference["space_id"]

    vector = got.get("vector")
    assert vector is not None, f"no `vector: [...]` line in:\n{done.stdout[:2000]}"
    assert vector.shape == reference["vector"].shape == (384,)
    assert np.max(np.abs(vector - reference["vector"])) <= 1e-6

    ref_text = reference["text"].hits
    assert [h["id"] for h in got["text_hit"]] == [h.id for h in ref_text] and ref_text[0].id == "apple"
    assert [h["rank"] for h in got["text_hit"]] == list(range(1, len(ref_text) + 1))
    assert np.allclose([h["score"] for h in got["text_hit"]], [h.score for h in ref_text], atol=1e-4)
    assert [h["modality"] for h in got["text_hit"]] == [f"MODALITY_{h.modality.upper()}" for h in ref_text]

    ref_speech = reference["speech"]
    assert got.get("transcript") == ref_speech.transcript and "return" in ref_speech.transcript.lower()
    assert [h["id"] for h in got["speech_hit"]] == [h.id for h in ref_speech.hits]
    assert got["speech_hit"][0]["id"] == "returns-window"
    assert np.allclose([h["score"] for h in got["speech_hit"]], [h.score for h in ref_speech.hits], atol=1e-4)


@pytest.mark.parametrize("lang", LANGS)
def test_client_example_matches_the_python_client(lang, server, reference, question_wav):
    assert_matches_reference(lang, run_example(lang, server.address, question_wav), reference)


# -- the same examples over TLS with a bearer token ----------------------------------------------

# gRPC over TLS needs ALPN, which Debian's netty 4.1.48 offers only through netty-tcnative (OpenSSL), not the
# JDK's own TLS: clients/java/Makefile puts it on the classpath and its JNI library on java.library.path.
TLS_LANGS = LANGS


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory):
    """A second real server: TLS (no client certificates) and tokens, holding the same collections."""
    from xmodal_server.config import Config

    root = tmp_path_factory.mktemp("secure-clients")
    certs = make_certs(root / "certs")
    tokens = root / "tokens.txt"
    tokens.write_text(f"{READ_TOKEN} read\n{WRITE_TOKEN} write\n")
    runner = ServerThread(Config(host="127.0.0.1", port=0, metrics_port=0, data_dir=str(root / "data"), max_batch=16,
                                 tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key),
                                 auth_tokens_file=str(tokens))).start()
    runner.certs = certs
    try:
        with Client(runner.address, timeout=120, tls_ca=certs.ca, token=WRITE_TOKEN) as c:
            for name, items in COLLECTIONS.items():
                c.create_collection(name)
                c.add_items(name, items)
        yield runner
    finally:
        runner.stop()


@pytest.mark.parametrize("lang", TLS_LANGS)
def test_client_example_over_tls_with_a_token(lang, secure_server, reference, question_wav):
    done = run_example(lang, secure_server.address, question_wav,
                       XMODAL_TLS_CA=str(secure_server.certs.ca), XMODAL_TOKEN=READ_TOKEN)
    assert_matches_reference(lang, done, reference)


# Each language's name for the status: grpc-go's codes.Code prints as "Unauthenticated".
UNAUTHENTICATED = re.compile(r"^error: (UNAUTHENTICATED|Unauthenticated): ", re.MULTILINE)


@pytest.mark.parametrize("lang", TLS_LANGS)
def test_client_example_over_tls_without_a_token_is_refused(lang, secure_server, question_wav):
    done = run_example(lang, secure_server.address, question_wav, XMODAL_TLS_CA=str(secure_server.certs.ca))
    assert done.returncode != 0, f"{lang} example succeeded without a token:\n{done.stdout[-2000:]}"
    # Health needs no token, so the TLS connection itself worked; EmbedText is the call refused.
    assert parse(done.stdout).get("health") == "SERVING", done.stdout[-2000:] + done.stderr[-2000:]
    assert UNAUTHENTICATED.search(done.stderr), f"{lang} example's stderr:\n{done.stderr[-4000:]}"


@pytest.mark.parametrize("lang", TLS_LANGS)
def test_client_example_verifies_the_tls_server_name(lang, secure_server, question_wav):
    """XMODAL_TLS_SERVER_NAME replaces the address's host in the certificate check: a name the certificate
    lacks fails the handshake (UNAVAILABLE, grpc-go's "Unavailable") before the first call is answered."""
    done = run_example(lang, secure_server.address, question_wav, XMODAL_TLS_CA=str(secure_server.certs.ca),
                       XMODAL_TOKEN=READ_TOKEN, XMODAL_TLS_SERVER_NAME="elsewhere.example")
    assert done.returncode != 0 and "health: " not in done.stdout, done.stdout[-2000:]
    assert re.search(r"^error: (UNAVAILABLE|Unavailable): ", done.stderr, re.MULTILINE), done.stderr[-4000:]
