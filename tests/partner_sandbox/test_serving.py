"""infra.serving runs any ASGI app inside the test's event loop and stops it cleanly."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from infra.serving import serve_in_background


async def test_an_app_served_in_the_background_answers_at_its_url_until_the_block_ends() -> None:
    app = FastAPI()
    app.get("/ping")(lambda: {"pong": True})

    async with serve_in_background(app) as url:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/ping")).json() == {"pong": True}

    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/ping")


async def test_a_port_already_taken_is_an_error_not_a_hang() -> None:
    async with serve_in_background(FastAPI()) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(RuntimeError, match="failed to start"):
            async with serve_in_background(FastAPI(), port=port):
                pass
