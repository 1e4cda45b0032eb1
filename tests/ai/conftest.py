"""Fixtures: the fake model server on loopback and writers pointed at it through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from cashout_server.domain.ai.schemas import ReplyDraftRequest
from cashout_server.domain.ai.writer import Writer
from cashout_server.settings import AISettings
from cashout_server.testing.fake_openai import FakeOpenAIServer

API_KEY = "sk-test-cashout-5f3a9d7c1e2b4a68"


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    """A fake model server that insists on :data:`API_KEY`."""
    with FakeOpenAIServer(api_key=API_KEY, hang_seconds=30.0) as server:
        yield server


@pytest.fixture
def ai_settings(fake: FakeOpenAIServer) -> Callable[..., AISettings]:
    """Build ``settings.ai`` for the fake (loopback, so private networks are allowed)."""

    def build(**overrides: Any) -> AISettings:
        values: dict[str, Any] = {
            "base_url": fake.base_url,
            "model": "fake-model",
            "api_key": SecretStr(API_KEY),
            "timeout": 5.0,
            "allow_private_network": True,
        }
        values.update(overrides)
        return AISettings(**values)

    return build


@pytest.fixture
async def writer(ai_settings: Callable[..., AISettings]) -> AsyncIterator[Writer]:
    """A streaming writer against the fake."""
    w = Writer.from_settings(ai_settings())
    yield w
    await w.aclose()


@pytest.fixture
def api_key() -> str:
    """The key the fake insists on."""
    return API_KEY


def chair_offer() -> ReplyDraftRequest:
    """A buyer's lowball offer on a chair; the seller counters at $100 (floor $80, cost $50)."""
    return ReplyDraftRequest(
        intent="offer",
        item_title="Walnut lounge chair",
        list_price_minor=12000,
        currency="USD",
        facts={"condition": "used_good", "pickup_area": "Park Slope", "shipping": "no"},
        decision_kind="counter",
        decision_price_minor=10000,
        buyer_name="Sam",
        conversation=[("buyer", "Hi! Would you take $70 for the chair?")],
        secrets=["$80", "80.00", "$50", "50.00", "14 Elm Street"],
        forbidden_amounts_minor=[8000, 5000],
    )


@pytest.fixture
def offer() -> ReplyDraftRequest:
    """See :func:`chair_offer`."""
    return chair_offer()
