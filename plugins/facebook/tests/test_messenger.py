"""Messenger leads: the Page inbox, replies in the 24-hour window, and signed webhooks."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import cashout_facebook as plugin
import pytest

from cashout_server import (
    InboundMessage,
    NeedsAction,
    OutcomeUnknown,
    PluginContext,
    RateLimited,
    ReauthRequired,
    ReplyRequest,
    ReplySent,
    TransientError,
    WebhookRequest,
)
from cashout_server.testing import MemoryState, make_context

PSID = "6203948571029384"
OTHER = "7102938475610293"
Context = Callable[..., AbstractAsyncContextManager[PluginContext]]


@pytest.fixture
def context(fake: Any, page_credentials: dict[str, str]) -> Context:
    """Contexts for a marketplace-mode connection with a Page (leads work in every mode)."""

    def factory(**kwargs: Any) -> AbstractAsyncContextManager[PluginContext]:
        kwargs.setdefault("credentials", page_credentials)
        kwargs.setdefault("settings", {"mode": "marketplace"})
        return make_context("facebook", base_url=fake.url, **kwargs)

    return factory


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def _reply(text: str = "Yes, it's still available.", *, psid: str = PSID, page_id: str, **kwargs: Any) -> ReplyRequest:
    kwargs.setdefault("last_inbound_at", _ago(minutes=5))
    return ReplyRequest(
        lead_external_id=plugin.thread_key(page_id, psid),
        body=text,
        idempotency_key="rpl_1",
        to_address=psid,
        **kwargs,
    )


def _conversation_gets(fake: Any) -> int:
    return sum(1 for method, path in fake.requests if method == "GET" and path.endswith("/conversations"))


def _message_posts(fake: Any) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and path.endswith("/messages"))


# --- fetch_leads -------------------------------------------------------------------------------


async def test_fetch_maps_buyer_and_page_messages(fake: Any, context: Context) -> None:
    asked = fake.add_message(PSID, "Is the lounge chair still available?", name="Dana Buyer", at=_ago(hours=2))
    answered = fake.add_message(PSID, "It is! Want to see it?", at=_ago(hours=1), from_page=True)
    async with context() as ctx:
        messages = await plugin.fetch_leads(ctx=ctx, since=None)
    by_id = {m.external_id: m for m in messages}
    assert set(by_id) == {asked.id, answered.id}
    thread = f"{fake.page_id}:{PSID}"
    assert by_id[asked.id] == InboundMessage(
        platform="facebook",
        external_id=asked.id,
        thread_id=thread,
        body="Is the lounge chair still available?",
        sent_at=asked.created,
        sender_name="Dana Buyer",
        sender_handle=PSID,
        direction="in",
    )
    mine = by_id[answered.id]
    assert (mine.direction, mine.thread_id, mine.sender_handle, mine.sender_name) == ("out", thread, PSID, None)
    assert mine.sent_at == answered.created


async def test_fetch_reads_every_page_of_conversations(fake: Any, context: Context) -> None:
    fake.conversation_page_size = 2
    buyers = [f"60000000000000{n:02d}" for n in range(5)]
    for n, psid in enumerate(buyers):
        fake.add_message(psid, f"hi from {n}", name=f"Buyer {n}", at=_ago(minutes=50 - n))
    async with context() as ctx:
        messages = await plugin.fetch_leads(ctx=ctx, since=None)
    assert sorted(m.sender_handle or "" for m in messages) == buyers
    assert _conversation_gets(fake) == 3


async def test_fetch_stops_at_conversations_older_than_since(fake: Any, context: Context) -> None:
    fake.conversation_page_size = 1
    for n in range(6):
        fake.add_message(f"61000000000000{n:02d}", f"message {n}", at=_ago(hours=6 - n))
    async with context() as ctx:
        messages = await plugin.fetch_leads(ctx=ctx, since=_ago(hours=2, minutes=30))
    assert sorted(m.body for m in messages) == ["message 4", "message 5"]
    assert _conversation_gets(fake) == 3  # two new conversations, then the first old one ends it


async def test_fetch_pages_through_a_long_conversation(fake: Any, context: Context) -> None:
    fake.message_page_size = 2
    sent = [fake.add_message(PSID, f"part {n}", at=_ago(minutes=10 - n)).id for n in range(5)]
    fake.add_message(PSID, "very old", at=_ago(days=3))
    async with context() as ctx:
        messages = await plugin.fetch_leads(ctx=ctx, since=_ago(hours=1))
    assert sorted(m.external_id for m in messages) == sorted(sent)
    assert sum(1 for m, p in fake.requests if p.endswith("/messages") and m == "GET") == 2


async def test_the_first_fetch_reads_thirty_days_back(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "recent", at=_ago(days=29))
    fake.add_message(OTHER, "ancient", at=_ago(days=31))
    async with context() as ctx:
        messages = await plugin.fetch_leads(ctx=ctx, since=None)
    assert [m.body for m in messages] == ["recent"]


async def test_messages_missed_before_a_webhook_are_still_fetched(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "first", at=_ago(hours=3))
    state = MemoryState()
    async with context(state=state) as ctx:
        assert [m.body for m in await plugin.fetch_leads(ctx=ctx, since=None)] == ["first"]
        missed = fake.add_message(OTHER, "never pushed", at=_ago(hours=2))
        pushed = fake.add_message(PSID, "pushed by webhook", at=_ago(hours=1))
        # The core's newest message came from a webhook: newer than the one it never saw.
        messages = await plugin.fetch_leads(ctx=ctx, since=pushed.created)
    assert {missed.id, pushed.id} <= {m.external_id for m in messages}


async def test_a_connection_without_a_page_has_no_leads(fake: Any, credentials: dict[str, str]) -> None:
    async with make_context("facebook", base_url=fake.url, credentials=credentials) as ctx:
        assert await plugin.fetch_leads(ctx=ctx, since=None) == []
    assert fake.requests == []


async def test_a_page_without_its_token_needs_a_person(fake: Any) -> None:
    creds = {"page_id": fake.page_id}
    async with make_context("facebook", base_url=fake.url, credentials=creds) as ctx:
        with pytest.raises(ReauthRequired, match="no Page access token"):
            await plugin.fetch_leads(ctx=ctx, since=None)


async def test_a_user_token_in_place_of_the_page_token_needs_a_person(fake: Any, page_credentials: Any) -> None:
    creds = {**page_credentials, "page_access_token": fake.token}
    async with make_context("facebook", base_url=fake.url, credentials=creds) as ctx:
        with pytest.raises(ReauthRequired, match="Page Access Token"):
            await plugin.fetch_leads(ctx=ctx, since=None)


async def test_an_expired_page_token_needs_a_person(fake: Any, context: Context) -> None:
    # refresh_credentials extends the user token, never the Page token, so AuthExpired would loop.
    fake.fail_next(190, subcode=463, message="Error validating access token: Session has expired")
    async with context() as ctx:
        with pytest.raises(ReauthRequired, match="Page access token expired"):
            await plugin.fetch_leads(ctx=ctx, since=None)


async def test_a_missing_messaging_permission_needs_a_person(fake: Any, context: Context) -> None:
    fake.fail_next(230, message="(#230) Requires pages_messaging permission to manage the object")
    async with context() as ctx:
        with pytest.raises(ReauthRequired, match="pages_messaging"):
            await plugin.fetch_leads(ctx=ctx, since=None)


@pytest.mark.parametrize(("code", "minutes"), [(4, 0), (17, 3), (32, 7), (613, 12)])
async def test_throttled_fetch_is_rate_limited(fake: Any, context: Context, code: int, minutes: int) -> None:
    usage = {"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 30}
    headers = {
        "X-Business-Use-Case-Usage": json.dumps({fake.page_id: [{**usage, "estimated_time_to_regain_access": minutes}]})
    }
    fake.fail_next(code, headers=headers, path="conversations")
    async with context() as ctx:
        with pytest.raises(RateLimited) as raised:
            await plugin.fetch_leads(ctx=ctx, since=None)
    assert raised.value.retry_after == (minutes * 60 or 300.0)


async def test_a_meta_outage_during_fetch_is_transient(fake: Any, context: Context) -> None:
    fake.fail_next(2, status=503, is_transient=True, message="Service temporarily unavailable")
    async with context() as ctx:
        with pytest.raises(TransientError):
            await plugin.fetch_leads(ctx=ctx, since=None)


async def test_an_unreachable_graph_api_is_transient(page_credentials: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_context("facebook", base_url=f"http://127.0.0.1:{port}", credentials=page_credentials) as ctx:
        with pytest.raises(TransientError):
            await plugin.fetch_leads(ctx=ctx, since=None)


# --- send_reply --------------------------------------------------------------------------------


async def test_reply_inside_the_window_is_sent_and_comes_back_as_the_pages_own(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))
        assert isinstance(outcome, ReplySent)
        assert outcome.external_id is not None and outcome.external_id.startswith("m_")
        assert fake.sends() == [{"recipient": PSID, "messaging_type": "RESPONSE", "text": "Yes, it's still available."}]
        fetched = {m.external_id: m for m in await plugin.fetch_leads(ctx=ctx, since=_ago(hours=1))}
    assert fetched[outcome.external_id].direction == "out"
    assert fetched[outcome.external_id].thread_id == f"{fake.page_id}:{PSID}"


async def test_reply_without_to_address_uses_the_thread_id(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    reply = ReplyRequest(
        lead_external_id=plugin.thread_key(fake.page_id, PSID),
        body="Yes.",
        idempotency_key="rpl_2",
        last_inbound_at=_ago(minutes=5),
    )
    async with context() as ctx:
        assert isinstance(await plugin.send_reply(ctx=ctx, reply=reply), ReplySent)
    assert [s["recipient"] for s in fake.sends()] == [PSID]


@pytest.mark.parametrize("last_inbound", [None, timedelta(hours=24, minutes=1), timedelta(days=3)])
async def test_reply_outside_the_window_waits_for_a_person(
    fake: Any, context: Context, last_inbound: timedelta | None
) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(days=4))
    when = None if last_inbound is None else datetime.now(UTC) - last_inbound
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id, last_inbound_at=when))
    assert isinstance(outcome, NeedsAction)
    assert "24 hours" in outcome.instructions
    assert outcome.url == f"https://business.facebook.com/latest/inbox/all?asset_id={fake.page_id}"
    assert outcome.copy == {"body": "Yes, it's still available."}
    assert _message_posts(fake) == 0


async def test_metas_window_refusal_waits_for_a_person(fake: Any, context: Context) -> None:
    # The core believes the buyer wrote recently; Meta knows better.
    fake.add_message(PSID, "Still for sale?", at=_ago(hours=30))
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))
    assert isinstance(outcome, NeedsAction)
    assert "24-hour messaging window has closed" in outcome.instructions
    assert "2018278" in outcome.instructions
    assert fake.sends() == []


async def test_an_unavailable_person_waits_for_a_person(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    fake.unavailable_psids.add(PSID)
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))
    assert isinstance(outcome, NeedsAction)
    assert "isn't available" in outcome.instructions


async def test_a_reply_over_2000_characters_is_never_cut(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "Tell me everything", at=_ago(minutes=5))
    long_text = "word " * 400 + "end"  # 2003 characters
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(long_text, page_id=fake.page_id))
        assert isinstance(outcome, NeedsAction)
        assert "2003 characters" in outcome.instructions
        assert outcome.copy == {"body": long_text}
        assert _message_posts(fake) == 0
        exact = "x" * 2000
        assert isinstance(await plugin.send_reply(ctx=ctx, reply=_reply(exact, page_id=fake.page_id)), ReplySent)
    assert [s["text"] for s in fake.sends()] == [exact]


async def test_a_thread_of_another_page_is_not_answered_from_this_one(fake: Any, context: Context) -> None:
    async with context() as ctx:
        outcome = await plugin.send_reply(ctx=ctx, reply=_reply(page_id="999000111", psid=PSID))
    assert isinstance(outcome, NeedsAction)
    assert outcome.url is not None and outcome.url.endswith("asset_id=999000111")
    assert fake.requests == []


async def test_throttled_reply_is_rate_limited(fake: Any, context: Context) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    usage = {"type": "pages", "call_count": 100, "total_cputime": 5, "total_time": 5}
    headers = {
        "X-Business-Use-Case-Usage": json.dumps({fake.page_id: [{**usage, "estimated_time_to_regain_access": 4}]})
    }
    fake.fail_next(613, headers=headers, path="messages")
    async with context() as ctx:
        with pytest.raises(RateLimited) as raised:
            await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))
    assert raised.value.retry_after == 240.0
    assert fake.sends() == []


async def test_a_timeout_after_sending_is_outcome_unknown(fake: Any, page_credentials: dict[str, str]) -> None:
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    fake.hang_next(5.0, path="messages")
    async with make_context("facebook", base_url=fake.url, credentials=page_credentials, http_timeout=0.5) as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))
    assert len(fake.sends()) == 1  # the buyer has it: the core must not send it blindly again


async def test_a_server_error_on_send_is_outcome_unknown(fake: Any, context: Context) -> None:
    # A message has no idempotency key, and a 5xx does not say it was not delivered.
    fake.add_message(PSID, "Still for sale?", at=_ago(minutes=5))
    fake.fail_next(2, status=500, is_transient=True, message="An unexpected error has occurred.", path="messages")
    async with context() as ctx:
        with pytest.raises(OutcomeUnknown):
            await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))


async def test_replying_without_a_page_needs_a_person(fake: Any, credentials: dict[str, str]) -> None:
    async with make_context("facebook", base_url=fake.url, credentials=credentials) as ctx:
        with pytest.raises(ReauthRequired):
            await plugin.send_reply(ctx=ctx, reply=_reply(page_id=fake.page_id))


# --- handle_webhook ----------------------------------------------------------------------------


def _get(query: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="GET", headers={}, query=query, body=b"")


def _post(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


async def test_subscription_check_echoes_the_challenge(context: Context, page_credentials: dict[str, str]) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": page_credentials["verify_token"],
        "hub.challenge": "1158201444",
    }
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_get(query))
    assert (answer.status, answer.body, answer.messages) == (200, b"1158201444", ())
    assert answer.content_type.startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "correct horse battery staple", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
async def test_subscription_check_with_a_wrong_token_is_forbidden(context: Context, query: dict[str, str]) -> None:
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_get(query))
    assert answer.status == 403
    assert b"1" not in answer.body


async def test_subscription_check_without_a_configured_token_is_forbidden(
    context: Context, page_credentials: dict[str, str]
) -> None:
    creds = {k: v for k, v in page_credentials.items() if k != "verify_token"}
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    async with context(credentials=creds) as ctx:
        assert (await plugin.handle_webhook(ctx=ctx, request=_get(query))).status == 403


async def test_a_signed_message_event_becomes_a_lead_message(
    fake: Any, fake_module: ModuleType, context: Context
) -> None:
    event = fake_module.message_event(
        page_id=fake.page_id, psid=PSID, mid="m_abc123", text="Would you take $300?", timestamp_ms=1795170900123
    )
    body, headers = fake_module.signed_webhook(fake.page_id, [event], fake.app_secret)
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert answer.status == 200
    assert answer.messages == (
        InboundMessage(
            platform="facebook",
            external_id="m_abc123",
            thread_id=f"{fake.page_id}:{PSID}",
            body="Would you take $300?",
            sent_at=datetime.fromtimestamp(1795170900.123, UTC),
            sender_handle=PSID,
            direction="in",
        ),
    )


@pytest.mark.parametrize("how", ["missing", "wrong_secret", "tampered", "sha1", "not_hex", "bare_hex"])
async def test_a_badly_signed_event_is_forbidden(
    fake: Any, fake_module: ModuleType, context: Context, how: str
) -> None:
    event = fake_module.message_event(
        page_id=fake.page_id, psid=PSID, mid="m_x", text="hello", timestamp_ms=1795170900000
    )
    body, headers = fake_module.signed_webhook(fake.page_id, [event], fake.app_secret)
    good = headers["x-hub-signature-256"]
    if how == "missing":
        del headers["x-hub-signature-256"]
    elif how == "wrong_secret":
        headers["x-hub-signature-256"] = fake_module.sign(body, "not-the-app-secret")
    elif how == "tampered":
        body = body.replace(b"hello", b"HELLO")
    elif how == "sha1":
        headers["x-hub-signature-256"] = "sha1=" + good.removeprefix("sha256=")[:40]
    elif how == "not_hex":
        headers["x-hub-signature-256"] = "sha256=" + "z" * 64
    else:
        headers["x-hub-signature-256"] = good.removeprefix("sha256=")
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert answer.status == 403
    assert answer.messages == ()


async def test_without_an_app_secret_no_event_is_trusted(
    fake: Any, fake_module: ModuleType, context: Context, page_credentials: dict[str, str]
) -> None:
    event = fake_module.message_event(page_id=fake.page_id, psid=PSID, mid="m_x", text="hi", timestamp_ms=1)
    body, headers = fake_module.signed_webhook(fake.page_id, [event], "")
    creds = {k: v for k, v in page_credentials.items() if k != "app_secret"}
    async with context(credentials=creds) as ctx:
        assert (await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))).status == 403


async def test_echoes_are_the_pages_own_and_receipts_are_ignored(
    fake: Any, fake_module: ModuleType, context: Context
) -> None:
    events = [
        fake_module.message_event(
            page_id=fake.page_id, psid=PSID, mid="m_echo", text="Sure, $320.", timestamp_ms=1795170960000, echo=True
        ),
        fake_module.receipt_event(page_id=fake.page_id, psid=PSID, kind="delivery", timestamp_ms=1795170961000),
        fake_module.receipt_event(page_id=fake.page_id, psid=PSID, kind="read", timestamp_ms=1795170962000),
        fake_module.message_event(
            page_id=fake.page_id,
            psid=PSID,
            mid="m_photo",
            text=None,
            timestamp_ms=1795170963000,
            attachments=[{"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}],
        ),
    ]
    body, headers = fake_module.signed_webhook(fake.page_id, events, fake.app_secret)
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert answer.status == 200
    echo, photo = answer.messages
    assert (echo.external_id, echo.direction, echo.sender_handle, echo.body) == ("m_echo", "out", PSID, "Sure, $320.")
    assert echo.thread_id == f"{fake.page_id}:{PSID}"
    assert (photo.external_id, photo.direction) == ("m_photo", "in")
    assert "photo" in photo.body


@pytest.mark.parametrize("object_type", ["instagram", "user", "permissions"])
async def test_other_objects_are_accepted_and_dropped(
    fake: Any, fake_module: ModuleType, context: Context, object_type: str
) -> None:
    event = fake_module.message_event(page_id=fake.page_id, psid=PSID, mid="m_ig", text="hey", timestamp_ms=1)
    body, headers = fake_module.signed_webhook(fake.page_id, [event], fake.app_secret, object_type=object_type)
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert (answer.status, answer.messages) == (200, ())


async def test_events_of_another_page_are_left_to_its_connection(
    fake: Any, fake_module: ModuleType, context: Context
) -> None:
    event = fake_module.message_event(page_id="999000111", psid=PSID, mid="m_other", text="hey", timestamp_ms=1)
    body, headers = fake_module.signed_webhook("999000111", [event], fake.app_secret)
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert (answer.status, answer.messages) == (200, ())


async def test_signed_garbage_is_a_bad_request(fake: Any, fake_module: ModuleType, context: Context) -> None:
    body = b"{not json"
    headers = {"x-hub-signature-256": fake_module.sign(body, fake.app_secret)}
    async with context() as ctx:
        answer = await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))
    assert (answer.status, answer.messages) == (400, ())


async def test_webhook_and_fetch_agree_on_thread_and_message_ids(
    fake: Any, fake_module: ModuleType, context: Context
) -> None:
    """One buyer, one lead: both ways of learning of a message name the same thread and message."""
    asked = fake.add_message(PSID, "Can I pick it up tonight?", at=_ago(minutes=20))
    body, headers = fake_module.signed_webhook(fake.page_id, [fake.event_for(asked)], fake.app_secret)
    async with context() as ctx:
        pushed = (await plugin.handle_webhook(ctx=ctx, request=_post(body, headers))).messages
        reply = await plugin.send_reply(ctx=ctx, reply=_reply("Yes, after 6.", page_id=fake.page_id))
        assert isinstance(reply, ReplySent)
        sent = next(m for c in fake.conversations.values() for m in c.messages if m.id == reply.external_id)
        echo_body, echo_headers = fake_module.signed_webhook(fake.page_id, [fake.event_for(sent)], fake.app_secret)
        echoed = (await plugin.handle_webhook(ctx=ctx, request=_post(echo_body, echo_headers))).messages
        fetched = await plugin.fetch_leads(ctx=ctx, since=None)
    by_webhook = {m.external_id: (m.thread_id, m.direction, m.sender_handle) for m in (*pushed, *echoed)}
    by_fetch = {m.external_id: (m.thread_id, m.direction, m.sender_handle) for m in fetched}
    assert by_webhook == by_fetch
    assert by_fetch == {
        asked.id: (f"{fake.page_id}:{PSID}", "in", PSID),
        reply.external_id: (f"{fake.page_id}:{PSID}", "out", PSID),
    }
