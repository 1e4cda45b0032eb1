"""Fixtures for the TUI tests: a CashoutClient that talks to the real app in-process."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from cashout_tui.client import CashoutClient

BASE_URL = "http://testserver"


@pytest.fixture
async def http(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient) -> Callable[[str], CashoutClient]:
    def make(token: str) -> CashoutClient:
        return CashoutClient(BASE_URL, token, http=http)

    return make


@pytest.fixture
def tui_client(make_client: Callable[[str], CashoutClient], tokens) -> CashoutClient:
    return make_client(tokens.owner)


@pytest.fixture
def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
