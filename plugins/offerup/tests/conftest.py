"""Fixtures: OfferUp connection settings. OfferUp has no API, so there is no fake server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cashout_server import ListingRequest
from cashout_server.testing import sample_listing

NOWHERE = "http://127.0.0.1:9"
"""A base URL nothing listens on: the plugin must never call it."""


@pytest.fixture
def settings() -> dict[str, str]:
    return {"category": "home_garden", "zip_code": "11211", "delivery": "local_pickup"}


@pytest.fixture
def make_listing(tmp_path: Path) -> Callable[..., ListingRequest]:
    def factory(**kwargs: Any) -> ListingRequest:
        kwargs.setdefault("photo_dir", tmp_path)
        return sample_listing(**kwargs)

    return factory


@pytest.fixture
def with_item() -> Callable[..., ListingRequest]:
    """Copy a listing with some of its item's fields changed."""

    def change(listing: ListingRequest, **changes: Any) -> ListingRequest:
        return msgspec.structs.replace(listing, item=msgspec.structs.replace(listing.item, **changes))

    return change
