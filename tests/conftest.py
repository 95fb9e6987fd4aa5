"""Shared fixtures. The ``server`` fixture runs the real xmodal server (real embedded models, real
FAISS, real files) in-process on 127.0.0.1 with port 0, once per test session."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class ServerThread:
    """The real App on its own event loop in a background thread."""

    def __init__(self, config):
        self.config = config
        self.port = 0
        self.app = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xmodal-test-server", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from xmodal_server.app import App

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.app = App(self.config)
        try:
            self.port = await self.app.start()
            await self.app.ready
        except BaseException as e:  # surfaced to the test by wait_ready
            self.error = e
            self._ready.set()
            await self.app.stop(0)
            return
        self._ready.set()
        await self._stop.wait()
        await self.app.stop(1)

    def start(self, timeout: float = 600) -> "ServerThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("server did not become ready")
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from xmodal_server.config import Config

    data = tmp_path_factory.mktemp("xmodal-data")
    runner = ServerThread(Config(host="127.0.0.1", port=0, metrics_port=0, data_dir=str(data), max_batch=16)).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def client(server):
    from xmodal import Client

    with Client(server.address, timeout=120) as c:
        yield c


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """A spoken question synthesised with espeak-ng (installed by .ci/run)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    out = tmp_path_factory.mktemp("speech") / "question.wav"
    subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(out), "how long do I have to return an item"], check=True)
    return out


REPO = Path(__file__).resolve().parents[1]


# -- the fast tier: the same real server with the fake encoder profile (encoders/fake.py) -----------------------

def fake_config(data_dir, **overrides):
    """Settings of a test server with the ``fake`` profile: tiny deterministic encoders, no model loaded, so it
    starts in a few seconds (imports only). Its results mean nothing beyond the fakes' rules; tests only."""
    from xmodal_server.config import Config

    settings = dict(host="127.0.0.1", port=0, metrics_port=-1, data_dir=str(data_dir), profile="fake", max_batch=16)
    return Config(**{**settings, **overrides})


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory):
    """The real App (gRPC, batchers, FAISS, SQLite) in-process on 127.0.0.1, port 0, with the fake profile and
    its default checkpoint (the built-in zero-shot heads), once per test session."""
    runner = ServerThread(fake_config(tmp_path_factory.mktemp("xmodal-fake"))).start(timeout=120)
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def fake_client(fake_server):
    from xmodal import Client

    with Client(fake_server.address, timeout=30) as c:
        yield c
