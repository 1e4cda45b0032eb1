"""Messenger leads of a Facebook Page: the Page inbox, replies through the Send API, and webhooks.

A buyer's conversation with the Page is identified by the pair (Page id, the buyer's Page-scoped
id, PSID). Webhooks carry only that pair, never the conversation's ``t_...`` id, so the thread id
the plugin reports is built from the pair for messages from :func:`fetch` and from
:func:`webhook` alike: ``"{page_id}:{psid}"`` (see :func:`thread_key`). Message ids (``m_...``)
are the same in the conversations edge, in the Send API's answer and in webhooks, so the core's
deduplication on ``(platform, external_id)`` merges the copies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cashout_facebook import _graph
from cashout_facebook._catalog import graph_version
from cashout_server import (
    AuthExpired,
    ConnectionInfo,
    InboundMessage,
    NeedsAction,
    PluginContext,
    ReauthRequired,
    Rejected,
    ReplyRequest,
    ReplySent,
    WebhookRequest,
    WebhookResponse,
    clean_text,
)

PLATFORM = "facebook"

PAGE_INBOX_URL = "https://business.facebook.com/latest/inbox/all"
"""Meta Business Suite's inbox; ``?asset_id={page_id}`` selects the Page (unverified path)."""

MESSAGE_MAX = 2000
"""Longest Messenger text message, counted here in UTF-16 code units to be safe (unverified)."""
WINDOW = timedelta(hours=24)
"""The standard messaging window: a Page may answer within 24 hours of the person's last message."""
FIRST_FETCH_LOOKBACK = timedelta(days=30)
"""How far back the first fetch of a connection reads conversations (older ones are not leads any more)."""
MAX_PAGES = 50
"""Pages of conversations (or of one conversation's messages) read per fetch, a guard against loops."""

CONVERSATION_FIELDS = "participants,updated_time,messages{message,from,created_time,id}"
MESSAGE_FIELDS = "message,from,created_time,id"
NO_TEXT = "(a message without text: a photo, sticker or file; see the Page inbox)"

_MARK = "leads:mark"
_PAGE_ID = re.compile(r"^\d{1,30}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_RECEIVED = b"EVENT_RECEIVED"
_FORBIDDEN = b"forbidden"


@dataclass(frozen=True)
class Page:
    """The connection's Facebook Page: its id, its Page access token and the Graph version."""

    page_id: str
    auth: _graph.Auth
    version: str

    def path(self, *parts: str) -> str:
        """A Graph API path under the configured version: ``/v26.0/<parts>``."""
        return "/" + "/".join((self.version, *parts))


def thread_key(page_id: str, psid: str) -> str:
    """The thread id of a buyer's conversation with a Page: ``"{page_id}:{psid}"``.

    Args:
        page_id: the Page's id.
        psid: the buyer's Page-scoped id.

    Returns:
        The same key for :func:`fetch` and :func:`webhook` messages of the same buyer and Page.
    """
    return f"{page_id}:{psid}"


def split_thread(thread_id: str) -> tuple[str, str] | None:
    """The ``(page_id, psid)`` of a thread id made by :func:`thread_key`, or ``None``."""
    page_id, sep, psid = thread_id.partition(":")
    return (page_id, psid) if sep and page_id and psid else None


def parse_time(value: object) -> datetime | None:
    """Read Graph's ``2026-11-20T10:15:00+0000`` (or any ISO 8601 time) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _id(value: object) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return _text(value)


def page_for(connection: ConnectionInfo) -> Page | None:
    """The connection's Page, or ``None`` when it has no Page configured (leads are then off).

    Args:
        connection: the connection.

    Returns:
        The Page with its token, or ``None`` when neither ``page_id`` nor ``page_access_token`` is set.

    Raises:
        ReauthRequired: only one of the two is set, the Page id is not numeric, or the
            ``graph_version`` setting is malformed; a person must fix the connection.
    """
    creds = connection.credentials
    page_id = _text(creds.get("page_id"))
    token = _text(creds.get("page_access_token"))
    if not page_id and not token:
        return None
    if not page_id:
        raise ReauthRequired("the Facebook connection has a Page access token but no page_id; add the Page's id")
    if not _PAGE_ID.match(page_id):
        raise ReauthRequired(f"page_id must be the Page's numeric id, not {page_id!r}")
    if not token:
        raise ReauthRequired("the Facebook connection has a page_id but no Page access token; add one")
    version = graph_version(connection.settings)
    if isinstance(version, Rejected):
        raise ReauthRequired(f"cannot read the Page inbox: {version.reason}")
    secret = _text(creds.get("app_secret")) or None
    return Page(page_id=page_id, auth=_graph.Auth(access_token=token, app_secret=secret), version=version)


def inbox_url(page_id: str | None) -> str:
    """Where a person answers the Page's messages (Meta Business Suite)."""
    return f"{PAGE_INBOX_URL}?asset_id={page_id}" if page_id else PAGE_INBOX_URL


async def _get(ctx: PluginContext, page: Page, path: str, params: Mapping[str, str]) -> dict[str, Any]:
    try:
        return await _graph.get(ctx.http, path, params, page.auth)
    except AuthExpired as exc:
        # refresh_credentials extends the user token, not a Page token: only a person can help.
        raise ReauthRequired(f"the Facebook Page access token expired; add a new one: {exc.message}") from exc
    except _graph.Refused as refused:
        raise ReauthRequired(
            f"Facebook refused to read the inbox of Page {page.page_id}: {refused.error.describe()}"
        ) from refused


# --- fetching ------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    # Meta leaves ``next`` out on the last page while the cursors stay; ``next`` itself carries
    # the access token in its query string, so the cursor is resent with our own parameters.
    paging = _mapping(body.get("paging"))
    if not paging.get("next"):
        return None
    after = _mapping(paging.get("cursors")).get("after")
    return after if isinstance(after, str) and after else None


def _message(page_id: str, psid: str, buyer_name: str | None, raw: object) -> InboundMessage | None:
    data = _mapping(raw)
    mid = _id(data.get("id"))
    sent_at = parse_time(data.get("created_time"))
    if not mid or sent_at is None:
        return None
    sender = _mapping(data.get("from"))
    outgoing = _id(sender.get("id")) == page_id
    name = _text(sender.get("name")) or buyer_name
    return InboundMessage(
        platform=PLATFORM,
        external_id=mid,
        thread_id=thread_key(page_id, psid),
        body=_text(data.get("message")) or NO_TEXT,
        sent_at=sent_at,
        sender_name=None if outgoing else name,
        sender_handle=psid,
        direction="out" if outgoing else "in",
    )


async def _conversation(
    ctx: PluginContext, page: Page, conversation: Mapping[str, Any], threshold: datetime
) -> list[InboundMessage]:
    buyers = [
        _mapping(p)
        for p in _list(_mapping(conversation.get("participants")).get("data"))
        if _id(_mapping(p).get("id")) not in ("", page.page_id)
    ]
    if not buyers:
        ctx.log.warning("facebook conversation %s has no participant but the Page", conversation.get("id"))
        return []
    psid = _id(buyers[0].get("id"))
    name = _text(buyers[0].get("name")) or None
    out: list[InboundMessage] = []
    block = _mapping(conversation.get("messages"))
    for _ in range(MAX_PAGES):
        reached_old = False
        for raw in _list(block.get("data")):
            message = _message(page.page_id, psid, name, raw)
            if message is None:
                continue
            if message.sent_at < threshold:
                reached_old = True  # newest first: the rest of the conversation is older still
                continue
            out.append(message)
        after = _next_cursor(block)
        conversation_id = _id(conversation.get("id"))
        if reached_old or after is None or not conversation_id:
            break
        block = await _get(
            ctx, page, page.path(conversation_id, "messages"), {"fields": MESSAGE_FIELDS, "after": after}
        )
    return out


async def _stored_mark(ctx: PluginContext) -> datetime | None:
    return parse_time(await ctx.state.get(_MARK))


async def fetch(ctx: PluginContext, since: datetime | None) -> list[InboundMessage]:
    """Read the Page's Messenger conversations updated since the last complete fetch.

    Args:
        ctx: the connection (``page_id``, ``page_access_token``), its HTTP client and state.
        since: the newest message the core already has, or ``None``.

    Returns:
        Buyer messages (``in``) and the Page's own (``out``) sent at or after the threshold.
    """
    page = page_for(ctx.connection)
    if page is None:
        return []
    # The core's ``since`` may come from a webhook that arrived while earlier messages were never
    # fetched, so the mark of the last complete fetch is kept too and the older of both wins.
    known = [_aware(t) for t in (since, await _stored_mark(ctx)) if t is not None]
    threshold = min(known) if known else _now() - FIRST_FETCH_LOOKBACK
    messages: list[InboundMessage] = []
    newest: datetime | None = None
    params = {"platform": "messenger", "fields": CONVERSATION_FIELDS}
    path = page.path(page.page_id, "conversations")
    after: str | None = None
    for _ in range(MAX_PAGES):
        body = await _get(ctx, page, path, {**params, "after": after} if after else params)
        done = False
        for raw in _list(body.get("data")):
            conversation = _mapping(raw)
            updated = parse_time(conversation.get("updated_time"))
            if updated is not None and updated < threshold:
                done = True  # newest first: every later conversation is older still
                break
            if updated is not None and (newest is None or updated > newest):
                newest = updated
            messages += await _conversation(ctx, page, conversation, threshold)
        after = None if done else _next_cursor(body)
        if after is None:
            break
    else:
        ctx.log.warning("facebook page %s: stopped after %d pages of conversations", page.page_id, MAX_PAGES)
        return messages
    if newest is not None:
        await ctx.state.set(_MARK, newest.isoformat())
    return messages


# --- replying ------------------------------------------------------------------------------


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def send(ctx: PluginContext, reply: ReplyRequest) -> ReplySent | NeedsAction:
    """Send a reply with the Send API inside the 24-hour window, else hand it to a person.

    Args:
        ctx: the connection (``page_id``, ``page_access_token``), its HTTP client.
        reply: the thread id (``"{page_id}:{psid}"``), the buyer's PSID in ``to_address``, the
            text and when the buyer last wrote.

    Returns:
        ``ReplySent`` with Meta's ``message_id``, or ``NeedsAction`` pointing at the Page inbox.
    """
    page = page_for(ctx.connection)
    if page is None:
        raise ReauthRequired("the Facebook connection has no Page (page_id, page_access_token) to reply from")
    url = inbox_url(page.page_id)
    text = clean_text(reply.body).strip()
    copy = {"body": text}
    thread = split_thread(reply.lead_external_id)
    if thread is not None and thread[0] != page.page_id:
        return NeedsAction(
            instructions=(
                f"This conversation belongs to Facebook Page {thread[0]}, but the connection now uses Page "
                f"{page.page_id}. Answer it in that Page's inbox."
            ),
            url=inbox_url(thread[0]),
            copy=copy,
        )
    psid = _text(reply.to_address) or (thread[1] if thread else "")
    if not psid:
        return NeedsAction(
            instructions="The buyer's Messenger id is unknown; answer in the Page inbox.", url=url, copy=copy
        )
    if not text:
        return NeedsAction(instructions="The reply is empty; write it in the Page inbox.", url=url, copy=copy)
    if _length(text) > MESSAGE_MAX:
        return NeedsAction(
            instructions=(
                f"The reply is {_length(text)} characters and Messenger takes at most {MESSAGE_MAX} per message. "
                "Shorten it and send it again, or send it in the Page inbox in parts."
            ),
            url=url,
            copy=copy,
        )
    last = _aware(reply.last_inbound_at) if reply.last_inbound_at is not None else None
    if last is None or _now() - last > WINDOW:
        return NeedsAction(
            instructions=(
                "Messenger lets a Page answer only within 24 hours of the buyer's last message, and that window "
                "has closed. Answer in the Page inbox (a person may reply there) or wait for the buyer to write again."
            ),
            url=url,
            copy=copy,
        )
    payload = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}}
    try:
        body = await _graph.post_json(
            ctx.http, page.path(page.page_id, "messages"), payload, page.auth, not_idempotent=True
        )
    except AuthExpired as exc:
        raise ReauthRequired(f"the Facebook Page access token expired; add a new one: {exc.message}") from exc
    except _graph.Refused as refused:
        error = refused.error
        if _graph.outside_window(error):
            why = (
                "this person isn't available on Messenger right now"
                if error.code == _graph.UNAVAILABLE_CODE
                else "the 24-hour messaging window has closed"
            )
            instructions = f"Facebook did not deliver the reply: {why} ({error.describe()}). Answer in the Page inbox."
        else:
            instructions = f"Facebook refused the reply: {error.describe()}. Answer in the Page inbox."
        ctx.log.info("facebook reply in thread %s not sent: %s", reply.lead_external_id, error.describe())
        return NeedsAction(instructions=instructions, url=url, copy=copy)
    message_id = _id(body.get("message_id")) or None
    ctx.log.info("facebook reply sent in thread %s as %s", reply.lead_external_id, message_id)
    return ReplySent(external_id=message_id)


# --- webhooks ------------------------------------------------------------------------------


def _first(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    return value if isinstance(value, str) else ""


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _subscribe(ctx: PluginContext, request: WebhookRequest) -> WebhookResponse:
    expected = _text(ctx.connection.credentials.get("verify_token"))
    mode = _first(request.query, "hub.mode")
    token = _first(request.query, "hub.verify_token")
    challenge = _first(request.query, "hub.challenge")
    if not expected or mode != "subscribe" or not _same(token, expected):
        ctx.log.warning("facebook webhook subscription refused for connection %s", ctx.connection.id)
        return WebhookResponse(status=403, body=_FORBIDDEN)
    if not challenge:
        return WebhookResponse(status=400, body=b"hub.challenge missing")
    return WebhookResponse(status=200, body=challenge.encode(), content_type="text/plain; charset=utf-8")


def signed(body: bytes, signature: str, app_secret: str) -> bool:
    """Whether ``signature`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` keyed with the app secret.

    Args:
        body: the raw request body.
        signature: the ``X-Hub-Signature-256`` header's value.
        app_secret: the app's secret.

    Returns:
        ``True`` only for a well-formed, matching signature (compared in constant time).
    """
    match = _SIGNATURE.match(signature.strip())
    if match is None or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


def _hint(message: Mapping[str, Any]) -> str | None:
    # Best effort (unverified shapes): a click-to-Messenger ad names its title, a Shops product
    # inquiry names the product's Meta id. Neither is the retailer id the listing was published as.
    referral = _mapping(message.get("referral"))
    ad_title = _text(_mapping(referral.get("ads_context_data")).get("ad_title"))
    if ad_title:
        return ad_title
    product = _id(_mapping(referral.get("product")).get("id"))
    return f"Facebook catalog product {product}" if product else None


def _event_message(page_id: str, event: Mapping[str, Any]) -> InboundMessage | None:
    message = _mapping(event.get("message"))
    if not message:
        return None  # delivery and read receipts, postbacks, reactions: not messages
    echo = message.get("is_echo") is True
    sender = _id(_mapping(event.get("sender")).get("id"))
    recipient = _id(_mapping(event.get("recipient")).get("id"))
    psid = recipient if echo else sender
    mid = _id(message.get("mid"))
    stamp = event.get("timestamp")
    if not psid or psid == page_id or not mid or isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    text = _text(message.get("text"))
    if not text and not _list(message.get("attachments")):
        return None
    return InboundMessage(
        platform=PLATFORM,
        external_id=mid,
        thread_id=thread_key(page_id, psid),
        body=text or NO_TEXT,
        sent_at=datetime.fromtimestamp(stamp / 1000, UTC),
        sender_handle=psid,
        item_hint=_hint(message),
        direction="out" if echo else "in",
    )


def webhook(ctx: PluginContext, request: WebhookRequest) -> WebhookResponse:
    """Answer Meta's subscription check, or verify and read a signed Page event.

    Args:
        ctx: the connection (``verify_token``, ``app_secret``, ``page_id``).
        request: the call as received.

    Returns:
        The challenge echoed (``GET``), ``403`` for a wrong verify token or signature, ``200``
        with the event's messages, ``200`` with none for events that are not Page messages.
    """
    method = request.method.upper()
    if method == "GET":
        return _subscribe(ctx, request)
    if method != "POST":
        return WebhookResponse(status=405, body=b"method not allowed")
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = _text(ctx.connection.credentials.get("app_secret"))
    if not signed(request.body, headers.get("x-hub-signature-256", ""), secret):
        ctx.log.warning("facebook webhook with a missing or wrong signature for connection %s", ctx.connection.id)
        return WebhookResponse(status=403, body=_FORBIDDEN)
    try:
        data = json.loads(request.body)
    except ValueError:
        return WebhookResponse(status=400, body=b"not JSON")
    # Meta retries anything but a 200, so events this plugin does not use are accepted and dropped.
    if not isinstance(data, Mapping) or data.get("object") != "page":
        return WebhookResponse(status=200, body=_RECEIVED)
    page_id = _text(ctx.connection.credentials.get("page_id"))
    messages: list[InboundMessage] = []
    for raw_entry in _list(data.get("entry")):
        entry = _mapping(raw_entry)
        if _id(entry.get("id")) != page_id or not page_id:
            # One callback URL serves every Page an app subscribes; another Page's events are
            # left to that Page's own connection, which reads them by polling.
            ctx.log.info(
                "facebook webhook event for Page %s ignored by connection %s", entry.get("id"), ctx.connection.id
            )
            continue
        for event in _list(entry.get("messaging")):
            message = _event_message(page_id, _mapping(event))
            if message is not None:
                messages.append(message)
    return WebhookResponse(status=200, body=_RECEIVED, messages=tuple(messages))
