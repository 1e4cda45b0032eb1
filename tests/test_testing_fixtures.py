"""The pytest fixtures cashout ships for plugin authors work as documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from cashout_server.testing import MemoryState


async def test_context_and_listing_fixtures(
    cashout_context: Any, cashout_listing: Any, cashout_state: MemoryState, tmp_path: Path
) -> None:
    listing = cashout_listing(title="Desk lamp", photos=2, price_minor=1250)
    assert listing.item.title == "Desk lamp" and listing.item.price.amount_minor == 1250
    assert [Path(p.path).parent for p in listing.photos] == [tmp_path, tmp_path]
    for photo in listing.photos:
        with Image.open(photo.path) as img:
            assert img.format == "JPEG"
    async with cashout_context("myplatform", base_url="http://127.0.0.1:9", credentials={"k": "v"}) as ctx:
        assert ctx.connection.platform == "myplatform" and ctx.connection.credentials == {"k": "v"}
        assert str(ctx.http.base_url) == "http://127.0.0.1:9"
        await ctx.state.set("cursor", "42")
        assert "v" not in repr(ctx.connection)
    assert await cashout_state.get("cursor") == "42", "the context shares the test's state store"
