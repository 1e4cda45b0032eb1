"""Publishing, status and delisting against the real fake Bulk Posting Interface on loopback."""

from __future__ import annotations

import socket
from typing import Any

import cashout_craigslist as plugin
import pytest

from cashout_server import (
    Absent,
    NeedsAction,
    OutcomeUnknown,
    Published,
    RateLimited,
    ReauthRequired,
    Rejected,
    TransientError,
)
from cashout_server.testing import MemoryState, make_context, sample_jpeg, sample_listing

VALIDATE = "/bulk-rss/validate"
POST = "/bulk-rss/post"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- bulk path ---------------------------------------------------------------------------


async def test_publish_validates_then_posts_and_returns_the_posting(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    listing = sample_listing(photos=2)
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)

    assert fake.paths() == [VALIDATE, POST]
    assert len(fake.posts) == 1
    post = fake.posts[0]
    assert isinstance(outcome, Published)
    assert outcome.external_id == post.posting_id
    # The fake wraps the manage URL in newlines and spaces, as craigslist may.
    assert outcome.manage_url == post.manage_url
    assert post.manage_url.startswith("https://post.craigslist.org/manage/")
    assert outcome.url == f"https://nyc.craigslist.org/fee/{post.posting_id}.html"
    assert outcome.warnings == ()

    assert post.key == listing.idempotency_key
    assert post.fields["title"] == "Vintage Eames-style lounge chair"
    assert post.fields["description"] == listing.item.description
    assert post.fields["category"] == "fee"
    assert post.fields["area"] == "nyc"
    assert post.fields["price"] == "450"
    assert post.fields["replyEmail"] == "replies@example.com"
    assert post.images == [sample_jpeg(), sample_jpeg()]
    assert {r.content_type for r in fake.requests} == {'application/xml; charset="utf-8"'}
    assert fake.requests[0].body == fake.requests[1].body


async def test_retry_after_success_returns_the_stored_posting_without_posting_again(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    listing = sample_listing()
    state = MemoryState()
    outcomes = []
    for _ in range(2):
        async with make_context(
            "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
        ) as ctx:
            outcomes.append(await plugin.publish(ctx=ctx, listing=listing))

    assert outcomes[0] == outcomes[1]
    assert fake.paths() == [VALIDATE, POST]
    assert len(fake.posts) == 1


async def test_warnings_and_a_missing_view_url_are_reported(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.warnings = ["Posting fee of $10 charged."]
    fake.view_urls = False
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, Published)
    assert outcome.warnings == ("Posting fee of $10 charged.",)
    assert outcome.url is None


async def test_long_title_is_cut_before_craigslist_sees_it(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    title = "Mid-century modern walnut credenza with sliding doors, original hardware and key"
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing(title=title))
    assert isinstance(outcome, Published)
    assert fake.posts[0].fields["title"] == "Mid-century modern walnut credenza with sliding doors, original"


async def test_listing_category_option_overrides_the_connection(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    settings = {**bulk_settings, "category": "fuo"}
    async with make_context("craigslist", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        bulk = await plugin.publish(ctx=ctx, listing=sample_listing(options={"category": "apa"}))
        assisted = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(bulk, Published)
    assert fake.posts[0].fields["category"] == "apa"
    assert isinstance(assisted, NeedsAction)
    assert assisted.copy["category"] == "fuo"
    assert len(fake.posts) == 1


async def test_validation_failure_is_rejected_and_nothing_is_posted(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    # The fake stops serving nyc, as craigslist would answer for an area it refuses.
    del fake.areas["nyc"]
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "Invalid area 'nyc'."
    assert outcome.fields == {"area": "Invalid area 'nyc'."}
    assert fake.paths() == [VALIDATE]
    assert fake.posts == []
    assert state.values == {}


async def test_empty_description_is_rejected_by_validation(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing(description=""))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "Missing description."
    assert outcome.fields == {"description": "Missing description."}
    assert fake.posts == []


@pytest.mark.parametrize(
    ("settings_patch", "field"),
    [
        ({"area": "xyz"}, "area"),
        ({"area": ""}, "area"),
        ({"subarea": "sfc"}, "subarea"),
        ({"category": ""}, "category"),
        ({"privacy": "Q"}, "privacy"),
    ],
)
async def test_bad_settings_are_rejected_without_calling_craigslist(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str], settings_patch: dict[str, str], field: str
) -> None:
    settings = {**bulk_settings, **settings_patch}
    async with make_context("craigslist", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, Rejected)
    assert field in outcome.fields
    assert fake.requests == []


async def test_reply_email_defaults_to_an_email_username(fake: Any, credentials: dict[str, str]) -> None:
    settings = {"area": "nyc", "subarea": "brk", "category": "fee"}
    async with make_context("craigslist", base_url=fake.url, settings=settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, Published)
    assert fake.posts[0].fields["replyEmail"] == credentials["username"]
    assert fake.posts[0].fields["subarea"] == "brk"


async def test_wrong_password_needs_reauth(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    creds = {**credentials, "password": "wrong"}
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=creds) as ctx:
        with pytest.raises(ReauthRequired, match="Invalid username or password"):
            await plugin.publish(ctx=ctx, listing=sample_listing())
    assert fake.posts == []


@pytest.mark.parametrize("message", ["Must supply username", "Must supply password", "AccountID required"])
async def test_credential_messages_need_reauth(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str], message: str
) -> None:
    fake.fail_next(403, body=message)
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        with pytest.raises(ReauthRequired, match=message):
            await plugin.publish(ctx=ctx, listing=sample_listing())


async def test_location_403_is_a_rejection_naming_the_area(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(403, body="Invalid mapLocation: location is outside the posting area")
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "Invalid mapLocation: location is outside the posting area"
    assert set(outcome.fields) == {"area"}


async def test_unparseable_rss_415_is_a_rejection(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(415, body="Failed to parse RSS: mismatched tag at line 3")
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert outcome == Rejected(reason="Failed to parse RSS: mismatched tag at line 3")


async def test_429_is_rate_limited_with_retry_after(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(429, retry_after="42", body="Too many requests")
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        with pytest.raises(RateLimited) as raised:
            await plugin.publish(ctx=ctx, listing=sample_listing())
    assert raised.value.retry_after == 42.0
    assert fake.posts == []


async def test_503_is_transient_and_a_retry_posts_once(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(503, retry_after="5", path=POST)
    listing = sample_listing()
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        with pytest.raises(TransientError) as raised:
            await plugin.publish(ctx=ctx, listing=listing)
        assert raised.value.retry_after == 5.0
        assert state.values == {}
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, Published)
    assert fake.paths() == [VALIDATE, POST, VALIDATE, POST]
    assert len(fake.posts) == 1


async def test_500_on_validate_is_transient(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(500, path=VALIDATE)
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials) as ctx:
        with pytest.raises(TransientError):
            await plugin.publish(ctx=ctx, listing=sample_listing())
    assert fake.paths() == [VALIDATE]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_server_error_on_post_is_an_unknown_outcome(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str], status: int
) -> None:
    fake.fail_next(status, path=POST)
    listing = sample_listing()
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
    assert fake.paths() == [VALIDATE, POST]


async def test_connection_refused_is_transient(bulk_settings: dict[str, str], credentials: dict[str, str]) -> None:
    state = MemoryState()
    async with make_context(
        "craigslist",
        base_url=f"http://127.0.0.1:{_closed_port()}",
        settings=bulk_settings,
        credentials=credentials,
        state=state,
    ) as ctx:
        with pytest.raises(TransientError):
            await plugin.publish(ctx=ctx, listing=sample_listing())
    assert state.values == {}


async def test_post_that_times_out_after_sending_is_never_posted_twice(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.post_delay = 5.0  # the fake records the posting, then answers too late
    listing = sample_listing()
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state, http_timeout=0.5
    ) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        assert len(fake.posts) == 1

        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        with pytest.raises(OutcomeUnknown):
            await plugin.check_status(ctx=ctx, listing=listing)

    assert fake.paths() == [VALIDATE, POST]
    assert len(fake.posts) == 1


# --- status and delisting ----------------------------------------------------------------


async def test_check_status_reports_the_stored_posting(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    listing = sample_listing()
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        published = await plugin.publish(ctx=ctx, listing=listing)
        status = await plugin.check_status(ctx=ctx, listing=listing)
    assert isinstance(published, Published)
    assert status == published
    assert fake.paths() == [VALIDATE, POST]


async def test_check_status_of_an_unsent_listing_is_absent(fake: Any, bulk_settings: dict[str, str]) -> None:
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings) as ctx:
        status = await plugin.check_status(ctx=ctx, listing=sample_listing())
    assert isinstance(status, Absent)
    assert fake.requests == []


async def test_check_status_of_an_unrecorded_posting_id_is_unknown(fake: Any, bulk_settings: dict[str, str]) -> None:
    async with make_context("craigslist", base_url=fake.url, settings=bulk_settings) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.check_status(ctx=ctx, listing=sample_listing(external_id="7712345678"))


async def test_delist_hands_over_the_manage_link(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        published = await plugin.publish(ctx=ctx, listing=sample_listing())
        assert isinstance(published, Published)
        outcome = await plugin.delist(ctx=ctx, listing=sample_listing(external_id=published.external_id))
    assert isinstance(outcome, NeedsAction)
    assert outcome.url == fake.posts[0].manage_url
    assert "delete this posting" in outcome.instructions
    assert fake.paths() == [VALIDATE, POST]


async def test_delist_uses_a_manage_url_option_or_the_account_page(
    fake: Any, assisted_settings: dict[str, str]
) -> None:
    manage = "https://post.craigslist.org/manage/7712345678/abcde"
    async with make_context("craigslist", base_url=fake.url, settings=assisted_settings) as ctx:
        with_link = await plugin.delist(ctx=ctx, listing=sample_listing(options={"manage_url": manage}))
        by_hand = await plugin.delist(ctx=ctx, listing=sample_listing(external_id="7712345678"))
    assert isinstance(with_link, NeedsAction)
    assert with_link.url == manage
    assert isinstance(by_hand, NeedsAction)
    assert by_hand.url == "https://accounts.craigslist.org/login/home"
    assert "7712345678" in by_hand.instructions
    assert fake.requests == []


# --- assisted path -----------------------------------------------------------------------


async def test_by_owner_category_needs_a_person_with_ready_copy(fake: Any, assisted_settings: dict[str, str]) -> None:
    title = "Mid-century modern walnut credenza with sliding doors, original hardware and key"
    listing = sample_listing(title=title, photos=3)
    async with make_context("craigslist", base_url=fake.url, settings=assisted_settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
    assert isinstance(outcome, NeedsAction)
    assert outcome.url == "https://post.craigslist.org/c/nyc"
    assert len(outcome.copy["title"]) <= 70
    assert outcome.copy == {
        "title": "Mid-century modern walnut credenza with sliding doors, original",
        "body": listing.item.description,
        "price": "450",
        "category": "fuo",
        "area": "nyc",
    }
    assert outcome.photo_ids == ("pho_0", "pho_1", "pho_2")
    assert fake.requests == []


async def test_by_owner_category_is_assisted_even_with_a_bulk_account(
    fake: Any, assisted_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    async with make_context(
        "craigslist", base_url=fake.url, settings=assisted_settings, credentials=credentials
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, NeedsAction)
    assert fake.requests == []


async def test_bulk_category_without_a_bulk_account_is_assisted(fake: Any, bulk_settings: dict[str, str]) -> None:
    settings = {**bulk_settings, "subarea": "brk"}
    async with make_context("craigslist", base_url=fake.url, settings=settings) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=sample_listing())
    assert isinstance(outcome, NeedsAction)
    assert outcome.copy["category"] == "fee"
    assert outcome.copy["subarea"] == "brk"
    assert fake.requests == []


async def test_post_refused_item_is_rejected_and_may_be_retried(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    listing = sample_listing()
    answer = f"""<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns:cl="http://www.craigslist.org/about/cl-bulk-ns/1.0">
  <item rdf:about="{listing.idempotency_key}">
    <cl:postedStatus>INVALID</cl:postedStatus>
    <cl:postedExplanation>Account balance too low.</cl:postedExplanation>
  </item>
</rdf:RDF>"""
    fake.fail_next(200, body=answer, path=POST)
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=listing)
        assert outcome == Rejected(reason="Account balance too low.")
        assert state.values == {}
        assert isinstance(await plugin.check_status(ctx=ctx, listing=listing), Absent)


async def test_unreadable_answer_to_post_is_an_unknown_outcome(
    fake: Any, bulk_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    fake.fail_next(200, body="<html>Service maintenance</html>", path=POST)
    listing = sample_listing()
    state = MemoryState()
    async with make_context(
        "craigslist", base_url=fake.url, settings=bulk_settings, credentials=credentials, state=state
    ) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        with pytest.raises(OutcomeUnknown):
            await plugin.check_status(ctx=ctx, listing=listing)
    assert fake.paths() == [VALIDATE, POST]
