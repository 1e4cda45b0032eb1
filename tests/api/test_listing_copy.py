"""Listing copy per platform: written within the platform's limits, checked, stored and sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime
from cashout_server.testing.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.db

Client = AsyncTestClient[Litestar]
LONG = "Vintage 1984 Schwinn Le Tour road bike, 58 cm steel frame, original decals " * 5


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def _listing(api: Client) -> str:
    item = await api.post(
        "/api/v1/items",
        json={
            "title": LONG[:300],
            "description": "Rides well. New tyres last spring.",
            "list_price_minor": 42000,
            "floor_price_minor": 35500,
            "cost_basis_minor": 12000,
            "facts": {"pickup_area": "Mission District"},
        },
    )
    assert item.status_code == 201, item.text
    con = await api.post(
        "/api/v1/connections", json={"platform": "scripted", "name": "S", "credentials": {"api_key": "k"}}
    )
    listing = await api.post("/api/v1/listings", json={"item_id": item.json()["id"], "connection_id": con.json()["id"]})
    return str(listing.json()["id"])


async def test_templates_fit_the_platform_and_the_copy_is_sent(
    api: Client, worker: DeliveryWorker, scripted: Any
) -> None:
    listing = await _listing(api)
    r = await api.post(f"/api/v1/listings/{listing}/copy")
    assert r.status_code == 200, r.text
    copy = r.json()
    assert copy["generated_by"] == "template" and copy["applied"]
    assert 0 < len(copy["title"]) <= copy["title_max"] == 150
    assert "355" not in copy["description"] and "120" not in copy["description"]
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    sent = scripted.calls
    assert ("publish", sent[-1][1]) == sent[-1]
    stored = (await api.get(f"/api/v1/listings/{listing}")).json()
    assert stored["options"]["copy_title"] == copy["title"]


async def test_a_model_writes_it_and_never_sees_the_floor(
    api: Client, runtime: Runtime, fake: FakeOpenAIServer
) -> None:
    runtime.settings.ai.base_url = fake.base_url
    runtime.settings.ai.model = "fake-model"
    runtime.settings.ai.allow_private_network = True
    fake.script(
        "TITLE: Schwinn Le Tour 58 cm steel road bike\nDESCRIPTION: Classic 1984 Le Tour, rides well, new tyres.",
    )
    listing = await _listing(api)
    r = await api.post(f"/api/v1/listings/{listing}/copy", json={"apply": False})
    assert r.status_code == 200, r.text
    copy = r.json()
    assert copy["generated_by"] == "model", copy["check_failures"]
    assert copy["title"] == "Schwinn Le Tour 58 cm steel road bike"
    assert not copy["applied"]
    prompt = fake.prompt_text()
    assert "355" not in prompt and "120.00" not in prompt and "$120" not in prompt
    stored = (await api.get(f"/api/v1/listings/{listing}")).json()
    assert "copy_title" not in stored["options"]


async def test_a_model_answer_that_leaks_the_floor_is_replaced(
    api: Client, runtime: Runtime, fake: FakeOpenAIServer
) -> None:
    runtime.settings.ai.base_url = fake.base_url
    runtime.settings.ai.model = "fake-model"
    runtime.settings.ai.allow_private_network = True
    leak = "TITLE: Schwinn road bike\nDESCRIPTION: Will take $355 at the lowest."
    fake.script(leak, leak)
    listing = await _listing(api)
    copy = (await api.post(f"/api/v1/listings/{listing}/copy")).json()
    assert copy["generated_by"] == "template"
    assert copy["check_failures"]
    assert "355" not in copy["description"]


async def test_unknown_listing_is_404(api: Client) -> None:
    r = await api.post("/api/v1/listings/lst_00000000000000000000000000/copy")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
