"""Test helpers and the conformance suite for cashout plugins (ours and third parties').

Part of the public plugin surface. Typical use in a plugin's own tests::

    from cashout_server.testing import ConformanceSuite, ConformanceTarget, make_context

    class TestMyPluginConforms(ConformanceSuite):
        @pytest.fixture
        def target(self, fake_server_url):
            return ConformanceTarget(plugin=my_plugin, platform="myplatform",
                                     settings={...}, credentials={...}, base_url=fake_server_url)

The suite needs ``pytest`` and an asyncio test runner (``pytest-asyncio`` in auto mode).
"""

from __future__ import annotations

import base64
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from cashout_server.contract import (
    ConnectionInfo,
    ItemData,
    ListingRequest,
    Money,
    OutboundEmail,
    PhotoRef,
    PluginContext,
)
from cashout_server.http import new_client
from cashout_server.testing.conformance import ConformanceSuite, ConformanceTarget

__all__ = [
    "ConformanceSuite",
    "ConformanceTarget",
    "MemoryState",
    "make_context",
    "sample_jpeg",
    "sample_listing",
]

# A real 8x8 baseline JPEG (grey), so plugins that embed or upload photos get valid bytes
# without the test helpers depending on an imaging library.
_JPEG_8X8 = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcp"
    "LDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgED"
    "AwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RF"
    "RkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJ"
    "ytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APn+iiiiv//Z"
)


def sample_jpeg() -> bytes:
    """Return the bytes of a small valid JPEG."""
    return _JPEG_8X8


class MemoryState:
    """An in-memory :class:`~cashout_server.contract.StateStore` for tests."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        """Return the stored value or ``None``."""
        return self.values.get(key)

    async def set(self, key: str, value: str | None) -> None:
        """Store ``value``; ``None`` deletes the key."""
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


@asynccontextmanager
async def make_context(
    platform: str,
    *,
    base_url: str,
    settings: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
    state: MemoryState | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    http_timeout: float = 10.0,
    public_base_url: str = "http://127.0.0.1:8000",
    feed_url: str | None = None,
    send_email: Callable[[OutboundEmail], Awaitable[None]] | None = None,
) -> AsyncIterator[PluginContext]:
    """Build a :class:`PluginContext` like the server does, pointed at ``base_url``.

    ``ctx.http`` is the server's own client (httpx over aiohttp, with its error mapping) unless
    ``transport`` replaces it, so a plugin's tests see the errors it will see in production.

    Saved credentials are merged into ``ctx.connection.credentials`` of later contexts only if
    you pass the returned context's ``saved`` list on; the list is exposed as
    ``ctx.saved_credentials`` (an attribute of the test double, not of the contract).
    """
    saved: list[dict[str, str]] = []

    async def save(creds: Mapping[str, str]) -> None:
        saved.append(dict(creds))

    http = (
        httpx.AsyncClient(base_url=base_url, transport=transport, timeout=http_timeout)
        if transport is not None
        else new_client(base_url=base_url, timeout=http_timeout)
    )
    async with http:
        ctx = PluginContext(
            connection=ConnectionInfo(
                id=f"con_{uuid.uuid4().hex[:12]}",
                platform=platform,
                name=f"test {platform}",
                settings=dict(settings or {}),
                credentials=dict(credentials or {}),
            ),
            http=http,
            state=state or MemoryState(),
            save_credentials=save,
            public_base_url=public_base_url,
            log=logging.getLogger(f"cashout.plugin.{platform}"),
            feed_url=feed_url,
            send_email=send_email,
        )
        yield ctx


def sample_listing(
    *,
    title: str = "Vintage Eames-style lounge chair",
    description: str = "Solid walnut shell, black leather, no tears. Pickup in Brooklyn.",
    price_minor: int = 45000,
    currency: str = "USD",
    category: str | None = None,
    photos: int = 1,
    photo_dir: Path | None = None,
    external_id: str | None = None,
    idempotency_key: str | None = None,
    options: Mapping[str, str] | None = None,
    photo_base_url: str | None = "http://127.0.0.1:8000/media",
) -> ListingRequest:
    """Build a realistic :class:`ListingRequest` with real JPEG files on disk.

    Each photo's ``url`` is ``{photo_base_url}/{sha256}.jpg`` (as the server's public media URLs
    are), or ``None`` when ``photo_base_url`` is ``None``.
    """
    folder = photo_dir or Path(tempfile.mkdtemp(prefix="cashout-test-photos-"))
    refs = []
    for n in range(photos):
        path = folder / f"photo{n}.jpg"
        path.write_bytes(_JPEG_8X8)
        refs.append(
            PhotoRef(
                id=f"pho_{n}",
                path=str(path),
                content_type="image/jpeg",
                width=8,
                height=8,
                sha256=f"{n:064x}",
                url=f"{photo_base_url}/{n:064x}.jpg" if photo_base_url else None,
            )
        )
    return ListingRequest(
        listing_id=f"lst_{uuid.uuid4().hex[:12]}",
        idempotency_key=idempotency_key or uuid.uuid4().hex,
        item=ItemData(
            id=f"itm_{uuid.uuid4().hex[:12]}",
            sku="SKU-1",
            title=title,
            description=description,
            condition="used_good",
            category=category,
            brand=None,
            identifiers={},
            quantity=1,
            price=Money(amount_minor=price_minor, currency=currency),
        ),
        photos=tuple(refs),
        external_id=external_id,
        options=dict(options or {}),
    )
