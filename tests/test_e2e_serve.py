"""The whole slice through a real `cashout serve` process: first start, token, item, photo,
Craigslist connection (pointed at the loopback fake), publish, and the listing's history."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from cashout_test_support import start_server
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CASHOUT = Path(sys.executable).with_name("cashout")


def _fake_module() -> ModuleType:
    name = "cashout_e2e_fake_craigslist"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "plugins/craigslist/tests/fake_craigslist.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_craigslist() -> Iterator[Any]:
    server = _fake_module().FakeCraigslist().start()
    yield server
    server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    running = start_server(tmp_path / "data", tmp_path / "server.log")
    output = running.log()
    assert running.token, f"no first-start token printed:\n{output}"
    assert f"serving at {running.url}" in output
    yield running.url, running.token, running.proc
    running.stop()
    assert token_hidden(running.log(), running.token), "the token appears only in the first-start notice"


def token_hidden(log_text: str, token: str) -> bool:
    return log_text.count(token) == 1


def test_script_publishes_to_craigslist_through_the_real_server(
    server: tuple[str, str, subprocess.Popen[str]], fake_craigslist: Any
) -> None:
    url, token, proc = server
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        item = api.post(
            "/items",
            json={
                "title": "2BR near the park, broker fee",
                "description": "Sunny, renovated.",
                "list_price_minor": 350000,
            },
        ).json()
        jpeg = io.BytesIO()
        Image.new("RGB", (640, 480), (90, 140, 200)).save(jpeg, "JPEG")
        photo = api.post(f"/items/{item['id']}/photos", files={"data": ("flat.jpg", jpeg.getvalue(), "image/jpeg")})
        assert photo.status_code == 201, photo.text
        con = api.post(
            "/connections",
            json={
                "platform": "craigslist",
                "name": "NYC bulk",
                "settings": {
                    "area": "nyc",
                    "category": "fee",
                    "reply_email": "rentals@example.com",
                    "base_url": fake_craigslist.url,
                },
                "credentials": {"username": "bulkuser@example.com", "password": "s3cret", "account_id": "14"},
            },
        )
        assert con.status_code == 201, con.text
        assert "s3cret" not in con.text
        listing = api.post("/listings", json={"item_id": item["id"], "connection_id": con.json()["id"]}).json()
        queued = api.post(f"/listings/{listing['id']}/publish")
        assert queued.status_code == 202, queued.text
        assert queued.json()["status"] == "queued"
        # The server's own delivery worker sends it; a script polls the listing.
        deadline = time.monotonic() + 30
        body = queued.json()
        while body["status"] in ("queued", "publishing") and time.monotonic() < deadline:
            time.sleep(0.1)
            body = api.get(f"/listings/{listing['id']}").json()
        assert body["status"] == "published", body
        assert body["delivery"]["state"] == "done" and body["delivery"]["attempts"] == 1
        assert body["external_id"] == fake_craigslist.posts[0].posting_id
        assert body["manage_url"] == body["manage_url"].strip() and body["manage_url"].startswith("https://")
        assert len(fake_craigslist.posts) == 1
        assert len(fake_craigslist.posts[0].images) == 1, "the photo went along"
        history = [h["status"] for h in api.get(f"/listings/{listing['id']}/history").json()["data"]]
        assert history == ["draft", "queued", "publishing", "published"]
        plugins = api.get("/plugins").json()["data"]
        assert any(p["name"] == "craigslist" for p in plugins)
        assert proc.poll() is None
