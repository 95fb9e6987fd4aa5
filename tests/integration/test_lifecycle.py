"""Health tells the truth: NOT_SERVING and UNAVAILABLE while models load, SERVING once warm."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from xmodal import AsyncClient, XmodalClientError

pytestmark = pytest.mark.slow


def test_not_ready_is_unavailable_then_serving(tmp_path):
    from xmodal_server.app import App
    from xmodal_server.config import Config

    async def scenario():
        app = App(Config(port=0, metrics_port=0, data_dir=str(tmp_path)))
        port = await app.start()  # returns once bound, before the models are loaded
        try:
            async with AsyncClient(f"127.0.0.1:{port}", timeout=30) as c:
                assert await c.health() == "NOT_SERVING"
                with pytest.raises(XmodalClientError) as e:
                    await c.search_text("faq", "hello")
                assert e.value.code == grpc.StatusCode.UNAVAILABLE and "loading" in e.value.details
                await asyncio.wait_for(app.ready, 600)
                assert await c.health() == "SERVING"
                assert (await c.embed_text(["async client works"])).vectors.shape == (1, 384)
        finally:
            await app.stop(0)

    asyncio.run(scenario())
