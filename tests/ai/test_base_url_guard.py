"""The base URL may not point the server at its own network (SSRF) unless the operator allows it."""

from __future__ import annotations

import pytest

from cashout_server.domain.ai.client import AIConfigError
from cashout_server.domain.ai.schemas import ListingCopyRequest
from cashout_server.domain.ai.writer import Writer
from cashout_server.settings import AISettings
from cashout_server.testing.fake_openai import FakeOpenAIServer


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.20:8080/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0:8000/v1",
        "http://100.64.0.1/v1",
        "http://localhost:11434/v1",  # a name: resolved, and it resolves to loopback
        "http://2130706433:8080/v1",  # 127.0.0.1 written as one number
    ],
)
def test_private_and_loopback_hosts_are_refused(url: str) -> None:
    with pytest.raises(AIConfigError, match="CASHOUT_AI_BASE_URL") as caught:
        Writer.from_settings(AISettings(base_url=url, model="m"))
    assert "CASHOUT_AI_ALLOW_PRIVATE_NETWORK" in str(caught.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/v1", "gopher://8.8.8.8/", "//example.com"])
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(AIConfigError, match="CASHOUT_AI_BASE_URL must be an http"):
        Writer.from_settings(AISettings(base_url=url, model="m", allow_private_network=True))


async def test_a_public_address_is_accepted() -> None:
    writer = Writer.from_settings(AISettings(base_url="https://8.8.8.8/v1", model="m"))
    assert writer.enabled
    await writer.aclose()


async def test_allow_private_network_lets_a_lan_server_through(fake: FakeOpenAIServer) -> None:
    fake.api_key = None
    local = fake.base_url.replace("127.0.0.1", "localhost")
    writer = Writer.from_settings(AISettings(base_url=local, model="llama3", allow_private_network=True))
    fake.script("TITLE: Lamp\nDESCRIPTION:\nA brass lamp.")
    try:
        copy = await writer.listing_copy(ListingCopyRequest(item_title="Lamp", title_max=80, description_max=500))
    finally:
        await writer.aclose()
    assert (copy.title, copy.generated_by) == ("Lamp", "model")
    # No key configured: a placeholder is sent, never the environment's OPENAI_API_KEY.
    assert fake.received[0].headers["Authorization"] == "Bearer not-needed"
