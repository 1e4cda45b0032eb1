"""Fixtures: a real fake Graph API on loopback, and connection settings that work against it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from cashout_server import ListingRequest
from cashout_server.testing import sample_listing


def _load_fake() -> ModuleType:
    # --import-mode=importlib puts no test directory on sys.path, so load the module by path.
    name = "cashout_facebook_tests_fake"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fake_graph.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fake_graph = _load_fake()

FEED_URL = "https://cashout.example/feeds/con_1/s3cr3t"


@pytest.fixture
def fake_module() -> ModuleType:
    return fake_graph


@pytest.fixture
def fake() -> Iterator[Any]:
    server = fake_graph.FakeGraph().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def credentials(fake: Any) -> dict[str, str]:
    return {"access_token": fake.token}


@pytest.fixture
def app_credentials(fake: Any) -> dict[str, str]:
    return {"access_token": fake.token, "app_id": fake.app_id, "app_secret": fake.app_secret}


@pytest.fixture
def page_credentials(fake: Any) -> dict[str, str]:
    """A connection with a Page for Messenger leads: Page token, app secret and webhook verify token."""
    return {
        "page_id": fake.page_id,
        "page_access_token": fake.page_token,
        "app_secret": fake.app_secret,
        "verify_token": "correct horse battery staple",
    }


@pytest.fixture
def catalog_settings(fake: Any) -> dict[str, str]:
    return {
        "mode": "catalog",
        "catalog_id": fake.catalog_id,
        "product_url_template": "https://shop.example/items/{item_id}",
        "brand": "Brooklyn Resale",
    }


@pytest.fixture
def feed_settings(catalog_settings: dict[str, str]) -> dict[str, str]:
    return {**catalog_settings, "mode": "feed"}


@pytest.fixture
def marketplace_settings() -> dict[str, str]:
    return {"mode": "marketplace", "location": "Brooklyn, NY"}


@pytest.fixture
def make_listing(tmp_path: Path) -> Callable[..., ListingRequest]:
    """``sample_listing`` whose photos have public URLs, as the server gives them."""

    def factory(*, urls: bool = True, **kwargs: Any) -> ListingRequest:
        kwargs.setdefault("photo_dir", tmp_path)
        listing = sample_listing(photo_base_url=None, **kwargs)
        if not urls:
            return listing
        photos = tuple(
            msgspec.structs.replace(p, url=f"https://cashout.example/photos/{p.id}.jpg") for p in listing.photos
        )
        return msgspec.structs.replace(listing, photos=photos)

    return factory


def item(listing: ListingRequest, **changes: Any) -> ListingRequest:
    return msgspec.structs.replace(listing, item=msgspec.structs.replace(listing.item, **changes))


@pytest.fixture
def with_item() -> Callable[..., ListingRequest]:
    """Copy a listing with some of its item's fields changed."""
    return item
