"""Meta's errors, throttling and token lifecycle, mapped to the contract's errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import cashout_facebook as plugin
import pytest

from cashout_server import (
    Absent,
    AuthExpired,
    OutcomeUnknown,
    Pending,
    Published,
    RateLimited,
    ReauthRequired,
    Rejected,
    TransientError,
)
from cashout_server.testing import MemoryState, make_context


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _buc(minutes: int, kind: str = "catalog_management") -> dict[str, str]:
    usage = {"type": kind, "call_count": 100, "total_cputime": 40, "total_time": 40}
    return {
        "X-Business-Use-Case-Usage": json.dumps(
            {"900100200300": [{**usage, "estimated_time_to_regain_access": minutes}]}
        )
    }


def _ad_account(seconds: int) -> dict[str, str]:
    usage = {"acc_id_util_pct": 100, "reset_time_duration": seconds, "ads_api_access_tier": "standard_access"}
    return {"X-Ad-Account-Usage": json.dumps(usage)}


@pytest.mark.parametrize(
    ("code", "subcode", "headers", "retry_after"),
    [
        (4, None, {"X-App-Usage": json.dumps({"call_count": 100, "total_time": 20, "total_cputime": 20})}, 300.0),
        (17, 2446079, _buc(7, "ads_management"), 420.0),
        (32, None, {}, 300.0),
        (613, 1487742, _ad_account(100), 100.0),
        (80004, None, _buc(3, "ads_management"), 180.0),
        (80014, None, _buc(12), 720.0),
        (80014, None, {**_buc(1), **_ad_account(90), "Retry-After": "30"}, 90.0),
        (80014, None, _buc(0), 300.0),
    ],
)
async def test_throttling_is_rate_limited_with_the_wait_from_the_headers(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    code: int,
    subcode: int | None,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    fake.fail_next(code, subcode=subcode, headers=headers)
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        with pytest.raises(RateLimited) as raised:
            await plugin.publish(ctx=ctx, listing=make_listing())
    assert raised.value.retry_after == retry_after
    assert f"code {code}" in raised.value.message
    assert fake.calls == []


async def test_throttled_status_poll_is_rate_limited_too(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    listing = make_listing()
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        await plugin.publish(ctx=ctx, listing=listing)
        fake.fail_next(80014, headers=_buc(2), path="check_batch_request_status")
        with pytest.raises(RateLimited) as raised:
            await plugin.check_status(ctx=ctx, listing=listing)
    assert raised.value.retry_after == 120.0


async def test_expired_token_is_auth_expired(
    fake: Any, catalog_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    creds = {"access_token": "EAAB-expired-token"}
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=creds) as ctx:
        with pytest.raises(AuthExpired, match="Session has expired"):
            await plugin.publish(ctx=ctx, listing=make_listing())
        with pytest.raises(AuthExpired):
            await plugin.check_status(ctx=ctx, listing=make_listing())
    assert fake.calls == []


@pytest.mark.parametrize(
    ("code", "subcode", "message"),
    [
        (190, None, "Invalid OAuth access token - Cannot parse access token"),
        (
            190,
            460,
            "Error validating access token: The session has been invalidated because the user changed their password",
        ),
        (200, None, "(#200) Requires catalog_management permission to manage the object"),
        (10, None, "(#10) Application does not have permission for this action"),
    ],
)
async def test_unusable_tokens_need_a_person(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    code: int,
    subcode: int | None,
    message: str,
) -> None:
    fake.fail_next(code, subcode=subcode, message=message)
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        with pytest.raises(ReauthRequired) as raised:
            await plugin.publish(ctx=ctx, listing=make_listing())
    assert message in raised.value.message


async def test_wrong_token_needs_a_person(
    fake: Any, catalog_settings: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials={"access_token": "EAAB-nope"}
    ) as ctx:
        with pytest.raises(ReauthRequired, match="Invalid OAuth access token"):
            await plugin.publish(ctx=ctx, listing=make_listing())


@pytest.mark.parametrize(
    ("status", "code", "is_transient", "headers", "retry_after"),
    [
        (500, 1, True, {}, None),
        (503, 2, True, {"Retry-After": "20"}, 20.0),
        (400, 2, False, {}, None),
        (400, 100, True, {}, None),
        (502, None, False, {}, None),
    ],
)
async def test_temporary_failures_are_transient(
    fake: Any,
    catalog_settings: dict[str, str],
    credentials: dict[str, str],
    make_listing: Callable[..., Any],
    status: int,
    code: int | None,
    is_transient: bool,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    if code is None:
        fake.fail_next(status=status, body="<html>Bad Gateway</html>", headers=headers)
    else:
        message = "An unexpected error has occurred."
        fake.fail_next(code, status=status, is_transient=is_transient, message=message, headers=headers)
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        with pytest.raises(TransientError) as raised:
            await plugin.publish(ctx=ctx, listing=make_listing())
    assert raised.value.retry_after == retry_after


async def test_meta_error_with_blamed_fields_is_rejected(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    body = {
        "error": {
            "message": "(#100) Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": 1487390,
            "is_transient": False,
            "error_user_title": "Invalid requests",
            "error_user_msg": "The requests parameter is not valid.",
            "error_data": {"blame_field_specs": [["requests"]]},
            "fbtrace_id": "AbCdEf123",
        }
    }
    fake.fail_next(status=400, body=json.dumps(body))
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
    assert outcome == Rejected(
        reason="The requests parameter is not valid.", fields={"requests": "The requests parameter is not valid."}
    )


async def test_user_facing_message_is_the_rejection_reason(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.fail_next(
        100,
        subcode=2804050,
        message="(#100) Invalid parameter",
        user_title="Catalog item price invalid",
        user_msg="The price must be a positive amount followed by a currency code.",
    )
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        outcome = await plugin.publish(ctx=ctx, listing=make_listing())
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "The price must be a positive amount followed by a currency code."
    assert set(outcome.fields) == {"price"}


async def test_connection_refused_is_transient(
    catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    async with make_context(
        "facebook",
        base_url=f"http://127.0.0.1:{_closed_port()}",
        settings=catalog_settings,
        credentials=credentials,
    ) as ctx:
        with pytest.raises(TransientError):
            await plugin.publish(ctx=ctx, listing=make_listing())
        with pytest.raises(TransientError):
            await plugin.check_status(ctx=ctx, listing=make_listing())


async def test_unreadable_answer_to_a_write_is_an_unknown_outcome(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.fail_next(status=200, body="<html>maintenance</html>", path="items_batch")
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=make_listing())


# --- nothing published twice ---------------------------------------------------------------


async def test_write_applied_then_timed_out_is_found_by_check_status_and_never_sent_twice(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.in_progress_polls = 0  # Meta applies the batch at once...
    fake.hang_next(5.0, path="items_batch")  # ...and the answer comes after the client gave up
    listing = make_listing()
    state = MemoryState()
    async with make_context(
        "facebook",
        base_url=fake.url,
        settings=catalog_settings,
        credentials=credentials,
        state=state,
        http_timeout=0.5,
    ) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        assert state.values == {}, "no handle came back"
        status = await plugin.check_status(ctx=ctx, listing=listing)
    assert isinstance(status, Published)
    assert status.external_id == listing.item.id
    assert fake.creates(listing.item.id) == 1
    assert len(fake.products) == 1


async def test_only_absent_leads_to_a_second_create_and_it_upserts(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    fake.in_progress_polls = 3  # Meta is slow: the lost batch is still queued when we look
    fake.hang_next(5.0, path="items_batch")
    listing = make_listing()
    state = MemoryState()
    async with make_context(
        "facebook",
        base_url=fake.url,
        settings=catalog_settings,
        credentials=credentials,
        state=state,
        http_timeout=0.5,
    ) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.publish(ctx=ctx, listing=listing)
        status = await plugin.check_status(ctx=ctx, listing=listing)
        assert isinstance(status, Absent)
        assert fake.creates(listing.item.id) == 1
        # The core may now send again: same retailer id, so both batches land on one product.
        again = await plugin.publish(ctx=ctx, listing=listing)
        assert isinstance(again, Pending)
    fake.process_batches()
    assert fake.creates(listing.item.id) == 2
    assert list(fake.products) == [(fake.catalog_id, listing.item.id)]


# --- refreshing the token ------------------------------------------------------------------


async def test_refresh_exchanges_the_token_and_the_retry_works(
    fake: Any, catalog_settings: dict[str, str], app_credentials: dict[str, str], make_listing: Callable[..., Any]
) -> None:
    creds = {**app_credentials, "access_token": "EAAB-expired-token"}
    before = datetime.now(UTC)
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=creds) as ctx:
        with pytest.raises(AuthExpired):
            await plugin.publish(ctx=ctx, listing=make_listing())
        fresh = await plugin.refresh_credentials(ctx=ctx)
    assert set(fresh) == {"access_token", "expires_at"}
    assert fresh["access_token"] in fake.access_tokens
    expires = datetime.fromisoformat(fresh["expires_at"])
    assert before + timedelta(days=59) < expires < before + timedelta(days=61)
    assert ("GET", "/v26.0/oauth/access_token") in fake.requests

    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials={**creds, **fresh}
    ) as ctx:
        assert isinstance(await plugin.publish(ctx=ctx, listing=make_listing()), Pending)


async def test_refresh_without_expires_in_returns_only_the_token(
    fake: Any, catalog_settings: dict[str, str], app_credentials: dict[str, str]
) -> None:
    fake.exchange_expires_in = None
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=app_credentials
    ) as ctx:
        fresh = await plugin.refresh_credentials(ctx=ctx)
    assert set(fresh) == {"access_token"}


async def test_refresh_without_app_credentials_needs_a_person(
    fake: Any, catalog_settings: dict[str, str], credentials: dict[str, str]
) -> None:
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=credentials) as ctx:
        with pytest.raises(ReauthRequired, match="System User token"):
            await plugin.refresh_credentials(ctx=ctx)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("patch", "refuse_expired", "match"),
    [
        ({"access_token": "EAAB-expired-token"}, True, "Session has expired"),
        ({"app_secret": "wrong"}, False, "Error validating client secret"),
        ({"app_id": "999"}, False, "Invalid application ID"),
        ({"access_token": "EAAB-unknown"}, False, "Invalid OAuth access token"),
    ],
)
async def test_refused_exchange_needs_a_person(
    fake: Any,
    catalog_settings: dict[str, str],
    app_credentials: dict[str, str],
    patch: dict[str, str],
    refuse_expired: bool,
    match: str,
) -> None:
    fake.refuse_expired_exchange = refuse_expired
    creds = {**app_credentials, **patch}
    async with make_context("facebook", base_url=fake.url, settings=catalog_settings, credentials=creds) as ctx:
        with pytest.raises(ReauthRequired, match=match):
            await plugin.refresh_credentials(ctx=ctx)


async def test_throttled_or_failing_exchange_is_retried_later(
    fake: Any, catalog_settings: dict[str, str], app_credentials: dict[str, str]
) -> None:
    fake.fail_next(4, headers={"Retry-After": "60"})
    fake.fail_next(2, status=500, is_transient=True, message="Service temporarily unavailable")
    async with make_context(
        "facebook", base_url=fake.url, settings=catalog_settings, credentials=app_credentials
    ) as ctx:
        with pytest.raises(RateLimited) as raised:
            await plugin.refresh_credentials(ctx=ctx)
        assert raised.value.retry_after == 60.0
        with pytest.raises(TransientError):
            await plugin.refresh_credentials(ctx=ctx)
