"""The clients in other languages (clients/node, go, cpp, java), each built from its committed generated stubs,
run their one example against the real server: health, EmbedText, SearchByText on `emoji`, SearchBySpeech on
`faq`. Their output must agree with the Python client's: the same vector (to 1e-6), the same hits, the same
transcript. Each client is built once per session, in its own ignored build directory. A missing toolchain fails
(CI installs them all with scripts/setup.sh), it does not skip."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from xmodal import Item

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / "clients"
SETUP = "run `bash scripts/setup.sh` (it installs every client's toolchain; CI runs it)"
QUERY = "red apple"
QUESTION = "how long do I have to return an item"
TOP_K = 3


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
             "netty-codec-http2", "netty-transport", "geronimo-annotation-1.3-spec"]
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


@pytest.mark.parametrize("lang", ["node", "go", "cpp", "java"])
def test_client_example_matches_the_python_client(lang, server, reference, question_wav):
    cmd = built(lang) + [server.address, str(question_wav), "emoji", "faq", QUERY]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
