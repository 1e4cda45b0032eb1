"""Listing copy within each platform's limits, from the model or the template."""

from __future__ import annotations

import pytest

from cashout_server.domain.ai.checks import check_text, rules_for_listing
from cashout_server.domain.ai.schemas import ListingCopyRequest
from cashout_server.domain.ai.templates import listing_template
from cashout_server.domain.ai.writer import Writer, parse_listing
from cashout_server.settings import AISettings
from cashout_server.testing.fake_openai import FakeOpenAIServer

LONG_DESCRIPTION = (
    "Mid-century style lounge chair with a solid walnut shell and black leather cushions. "
    "Light wear on the armrests, no tears. Smoke-free home. " * 60
)


def chair(title_max: int, description_max: int) -> ListingCopyRequest:
    return ListingCopyRequest(
        item_title="Vintage Eames-style walnut lounge chair with ottoman, black leather, very comfortable, rare find",
        title_max=title_max,
        description_max=description_max,
        description=LONG_DESCRIPTION,
        condition="used_good",
        brand="Plycraft",
        category="Furniture",
        photo_captions=["front view", "leather close-up"],
        list_price_minor=45000,
        secrets=["$300", "300.00"],
        forbidden_amounts_minor=[30000],
    )


@pytest.mark.parametrize(("title_max", "description_max"), [(100, 5000), (80, 1000), (70, 250)])
async def test_template_copy_fits_each_platform(title_max: int, description_max: int) -> None:
    writer = Writer.from_settings(AISettings(base_url=None, model=None))
    request = chair(title_max, description_max)

    copy = await writer.listing_copy(request)

    assert copy.generated_by == "template"
    assert 0 < len(copy.title) <= title_max
    assert 0 < len(copy.description) <= description_max
    assert "Condition: Used good." in listing_template(chair(100, 10_000))[1]
    rules = rules_for_listing(request, max_length=title_max + description_max + 2)
    assert check_text(f"{copy.title}\n\n{copy.description}", rules) == ()


async def test_model_copy_is_used_when_it_fits(writer: Writer, fake: FakeOpenAIServer) -> None:
    fake.script(
        "**TITLE:** Plycraft walnut lounge chair and ottoman\nDESCRIPTION:\nSolid walnut, black leather, light wear."
    )

    copy = await writer.listing_copy(chair(80, 1000))

    assert (copy.title, copy.description) == (
        "Plycraft walnut lounge chair and ottoman",
        "Solid walnut, black leather, light wear.",
    )
    assert (copy.generated_by, copy.attempts) == ("model", 1)
    system = fake.chat_requests()[0]["messages"][0]["content"]
    assert "at most 80 characters" in system and "at most 1000 characters" in system
    assert "$300" not in fake.prompt_text()


async def test_a_title_too_long_for_the_platform_is_regenerated(writer: Writer, fake: FakeOpenAIServer) -> None:
    too_long = "TITLE: " + "Plycraft walnut lounge chair " * 4 + "\nDESCRIPTION:\nSolid walnut."
    fake.script(too_long, "TITLE: Plycraft walnut lounge chair\nDESCRIPTION:\nSolid walnut.")

    copy = await writer.listing_copy(chair(80, 1000))

    assert (copy.title, copy.generated_by, copy.attempts) == ("Plycraft walnut lounge chair", "model", 2)
    assert copy.check_failures[0].startswith("has a title that is too long")
    assert "title that is too long" in fake.chat_requests()[1]["messages"][-1]["content"]


async def test_unusable_copy_falls_back_to_the_fitted_template(writer: Writer, fake: FakeOpenAIServer) -> None:
    fake.script(
        "Here is your listing! Plycraft chair, call 555-867-5309.",
        "TITLE: Brand new Plycraft chair\nDESCRIPTION:\nComes with a 2 year warranty. Only $300!",
    )
    request = chair(80, 1000)

    copy = await writer.listing_copy(request)

    assert copy.generated_by == "template"
    assert (copy.title, copy.description) == listing_template(request)
    assert copy.check_failures[0] == "is not in the TITLE / DESCRIPTION form"
    assert "calls the item new, but its condition is not new" in copy.check_failures
    assert "contains a confidential value" in copy.check_failures


def test_parse_listing_reads_the_two_parts() -> None:
    assert parse_listing("TITLE: Lamp\n\nDESCRIPTION:\nBrass lamp.\nWorks.") == ("Lamp", "Brass lamp.\nWorks.")
    assert parse_listing('Title: "Lamp"\nDescription: Brass lamp.') == ("Lamp", "Brass lamp.")
    assert parse_listing("A brass lamp.") is None
