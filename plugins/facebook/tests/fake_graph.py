"""A fake of the Graph API's catalog endpoints: a real HTTP server on loopback.

It speaks the shapes of FACTS.md sections 2 and 3 and the Meta codegen specs in
shared/platforms/fixtures/meta: form-encoded or query parameters with nested values as JSON
strings; ``access_token`` (or ``Authorization: Bearer``) checked, with Meta's 190 errors;
``POST /{catalog}/items_batch`` validating its required parameters (from the spec) and each
record's feed fields into ``validation_status``; ``check_batch_request_status`` answering
``in_progress`` and then ``finished``; ``/{catalog}/products`` lookups by retailer id;
``/{catalog}/product_feeds``; the ``fb_exchange_token`` token exchange; Meta's error bodies with
HTTP 400 for throttling and the usage headers as JSON strings.

For Messenger leads it keeps one Page's conversations: ``GET /{page}/conversations`` (newest
first, cursor-paged, nested ``messages{...}`` paged too, Graph's ``+0000`` string times),
``GET /{t_id}/messages``, and the Send API ``POST /{page}/messages`` (JSON body, Page token only,
the 24-hour window enforced with Meta's 10/2018278 error, 551 for unavailable people). Module
helpers build webhook bodies and their ``X-Hub-Signature-256``.

It records every mutating call (path, parameters without the token, retailer ids) so tests can
count creates, and injects faults: the next N requests fail with a given code, status and
headers; latency on every request; or a write applied and then answered too late.

Standalone, for manual end-to-end demos::

    python plugins/facebook/tests/fake_graph.py --port 8082 --token EAAB-good-token --catalog-id 900100200300
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cashout_server.testing.loopback import ThreadedHTTPFake

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/platforms/fixtures/meta"

# ProductItem enums [C SDK, FACTS.md section 3].
AVAILABILITY = (
    "in stock",
    "out of stock",
    "preorder",
    "available for order",
    "discontinued",
    "pending",
    "mark_as_sold",
)
CONDITIONS = ("new", "refurbished", "used", "used_like_new", "used_good", "used_fair", "open_box_new", "cpo")
REQUIRED_FIELDS = ("id", "title", "description", "availability", "condition", "price", "link", "image_link")
KNOWN_FIELDS = frozenset(
    {
        *REQUIRED_FIELDS,
        "additional_image_link",
        "brand",
        "gtin",
        "mpn",
        "product_type",
        "google_product_category",
        "fb_product_category",
        "sale_price",
        "sale_price_effective_date",
        "item_group_id",
        "color",
        "size",
        "gender",
        "age_group",
        "shipping",
        "quantity_to_sell_on_facebook",
        "inventory",
        *(f"custom_label_{n}" for n in range(5)),
    }
)
TITLE_MAX = 200
DESCRIPTION_MAX = 9999
ID_MAX = 100
REQUESTS_MAX = 5000
FEED_INTERVALS = ("HOURLY", "DAILY", "WEEKLY")
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
    80014: (
        "(#80014) There have been too many calls for the batch uploads to this catalog account. "
        "Wait a bit and try again."
    ),
}
MESSENGER_TEXT_MAX = 2000
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
WINDOW_MESSAGE = (
    "(#10) This message is sent outside of allowed window. Learn more about the new policy here: "
    "https://developers.facebook.com/docs/messenger-platform/policy-overview"
)
GRAPH_TIME = "%Y-%m-%dT%H:%M:%S+0000"
_PRICE = re.compile(r"^(\d+(?:\.\d{1,3})?) ([A-Z]{3})$")
_VERSIONED = re.compile(r"^/(v\d+\.\d+)/(.*)$")


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    with (FIXTURES / f"codegen-spec-{name}.json").open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def required_params(node: str, method: str, endpoint: str) -> tuple[str, ...]:
    """Parameters the codegen spec marks required for ``method /{node}/{endpoint}``."""
    for api in _spec(node)["apis"]:
        if api.get("method") == method and api.get("endpoint") == endpoint:
            return tuple(p["name"] for p in api.get("params", []) if p.get("required"))
    raise KeyError(f"{node} has no {method} {endpoint}")


@dataclass
class Call:
    """One mutating request (credentials removed)."""

    method: str
    path: str
    params: dict[str, str]
    ops: list[tuple[str, str]] = field(default_factory=list)
    """``(CREATE|UPDATE|DELETE, retailer id)`` of every record of an ``items_batch`` call."""

    @property
    def retailer_ids(self) -> list[str]:
        """The retailer ids the call named."""
        return [rid for _, rid in self.ops]


@dataclass
class Batch:
    """One accepted ``items_batch`` call, processed asynchronously."""

    handle: str
    catalog_id: str
    records: list[tuple[str, dict[str, str]]]
    polls_left: int
    status: str = "in_progress"
    errors: list[dict[str, str]] = field(default_factory=list)
    invalid_ids: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Product:
    """A product in a catalog."""

    id: str
    catalog_id: str
    retailer_id: str
    data: dict[str, str]


@dataclass
class Feed:
    """A scheduled product feed."""

    id: str
    catalog_id: str
    name: str
    schedule: dict[str, Any] | None


@dataclass
class Message:
    """One Messenger message in a Page conversation."""

    id: str
    from_id: str
    from_name: str
    text: str
    created: datetime


@dataclass
class Conversation:
    """A buyer's Messenger conversation with the Page (messages oldest first)."""

    id: str
    psid: str
    name: str
    messages: list[Message] = field(default_factory=list)

    @property
    def updated(self) -> datetime:
        """When the last message was sent."""
        return max(m.created for m in self.messages)


def graph_time(when: datetime) -> str:
    """Graph's time format: ``2026-11-20T10:15:00+0000`` (UTC)."""
    return when.astimezone(UTC).strftime(GRAPH_TIME)


def _cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode().rstrip("=")


def _offset(kind: str, cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, _, number = text.partition(":")
        if name == kind:
            return max(0, int(number))
    except ValueError:
        pass
    raise GraphError("(#100) Invalid cursor", code=100)


def _split_fields(fields: str) -> dict[str, str]:
    """``a,b{c,d}`` to ``{"a": "", "b": "c,d"}`` (nested field lists kept as text)."""
    out: dict[str, str] = {}
    depth = 0
    start = 0
    for index, char in enumerate(fields + ","):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            part = fields[start:index].strip()
            start = index + 1
            if part:
                name, _, rest = part.partition("{")
                out[name.strip()] = rest.rstrip("}")
    return out


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=<hex HMAC-SHA256(app secret, body)>``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def message_event(
    *,
    page_id: str,
    psid: str,
    mid: str,
    text: str | None,
    timestamp_ms: int,
    echo: bool = False,
    attachments: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``messaging`` event with a message: from the buyer, or an echo of the Page's own."""
    message: dict[str, Any] = {"mid": mid}
    if echo:
        message["is_echo"] = True
        message["app_id"] = 1234567890
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = [dict(a) for a in attachments]
    message.update(extra or {})
    sender, recipient = (page_id, psid) if echo else (psid, page_id)
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": timestamp_ms, "message": message}


def receipt_event(*, page_id: str, psid: str, kind: str, timestamp_ms: int) -> dict[str, Any]:
    """A ``delivery`` or ``read`` receipt event (no message)."""
    detail: dict[str, Any] = {"watermark": timestamp_ms}
    if kind == "delivery":
        detail["mids"] = []
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": timestamp_ms, kind: detail}


def webhook_body(page_id: str, events: Sequence[Mapping[str, Any]], *, object_type: str = "page") -> bytes:
    """The raw body of a Page webhook call: ``{"object":"page","entry":[{"id","time","messaging"}]}``."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    entry = {"id": page_id, "time": now_ms, "messaging": [dict(e) for e in events]}
    return json.dumps({"object": object_type, "entry": [entry]}, separators=(",", ":")).encode()


def signed_webhook(
    page_id: str, events: Sequence[Mapping[str, Any]], app_secret: str, *, object_type: str = "page"
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and the lower-cased headers Meta sends with it (signature included)."""
    body = webhook_body(page_id, events, object_type=object_type)
    return body, {"content-type": "application/json", "x-hub-signature-256": sign(body, app_secret)}


@dataclass
class _Fault:
    remaining: int
    status: int
    error: dict[str, Any] | None
    headers: dict[str, str]
    body: str | None
    path: str | None
    method: str | None


@dataclass
class _Hang:
    remaining: int
    seconds: float
    path: str | None


class GraphError(Exception):
    """An error answer: HTTP status and Meta's error object."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        status: int = 400,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        is_transient: bool = False,
        user_title: str = "",
        user_msg: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.error: dict[str, Any] = {
            "message": message,
            "type": error_type,
            "code": code,
            "is_transient": is_transient,
            "fbtrace_id": "A" + secrets.token_urlsafe(15),
        }
        if subcode is not None:
            self.error["error_subcode"] = subcode
        if user_title:
            self.error["error_user_title"] = user_title
        if user_msg:
            self.error["error_user_msg"] = user_msg


def _bad_param(message: str) -> GraphError:
    return GraphError(f"(#100) {message}", code=100)


def _no_object(method: str, object_id: str) -> GraphError:
    return GraphError(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        code=100,
        subcode=33,
        error_type="GraphMethodException",
    )


def _is_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_product(data: Mapping[str, Any], *, partial: bool = False) -> tuple[list[str], list[str]]:
    """Check one product's feed fields; returns (errors, warnings) as Meta-style messages.

    Args:
        data: the record's ``data`` (or a feed row).
        partial: an ``UPDATE`` of an existing product: only the given fields are checked.
    """
    errors: list[str] = []
    warnings: list[str] = []
    values = {k: ("" if v is None else str(v)).strip() for k, v in data.items()}
    if not partial:
        errors += [f"Required field '{name}' is missing." for name in REQUIRED_FIELDS if not values.get(name)]
        if not any(values.get(k) for k in ("brand", "gtin", "mpn")):
            errors.append("One of the fields 'brand', 'gtin' or 'mpn' is required.")
    if len(values.get("id", "")) > ID_MAX:
        errors.append(f"Field 'id' is longer than {ID_MAX} characters.")
    if len(values.get("title", "")) > TITLE_MAX:
        errors.append(f"Field 'title' is longer than {TITLE_MAX} characters.")
    if len(values.get("description", "")) > DESCRIPTION_MAX:
        errors.append(f"Field 'description' is longer than {DESCRIPTION_MAX} characters.")
    if values.get("availability") and values["availability"] not in AVAILABILITY:
        errors.append(f"Invalid value '{values['availability']}' for field 'availability'.")
    if values.get("condition") and values["condition"] not in CONDITIONS:
        errors.append(f"Invalid value '{values['condition']}' for field 'condition'.")
    if values.get("price"):
        match = _PRICE.match(values["price"])
        if match is None or float(match.group(1)) <= 0:
            errors.append(
                f"Invalid value '{values['price']}' for field 'price': use a positive amount and an ISO 4217 "
                "currency code, e.g. 9.99 USD."
            )
    for name in ("link", "image_link"):
        if values.get(name) and not _is_url(values[name]):
            errors.append(f"Field '{name}' must be an http or https URL.")
    if values.get("additional_image_link"):
        urls = [u for u in re.split(r"[,;| ]+", values["additional_image_link"]) if u]
        if len(urls) > 20 or not all(_is_url(u) for u in urls):
            errors.append("Field 'additional_image_link' must list up to 20 http or https URLs.")
    warnings += [f"Unknown field '{name}' was ignored." for name in values if name not in KNOWN_FIELDS]
    return errors, warnings


@dataclass
class FakeGraph(ThreadedHTTPFake):
    """The fake's state and knobs; :meth:`start` serves it on ``127.0.0.1``.

    Attributes:
        access_tokens: tokens it accepts.
        expired_tokens: tokens it answers with 190/463 (expired).
        app_id, app_secret: the app for ``appsecret_proof`` and the token exchange.
        require_appsecret_proof: refuse calls without a proof (a proof that is sent is always checked).
        refuse_expired_exchange: the exchange refuses expired tokens (190/463), as Meta probably does.
        exchange_expires_in: ``expires_in`` of exchanged tokens (``None`` leaves it out).
        catalogs: catalog ids that exist.
        page_id, page_name: the Page whose Messenger inbox the fake keeps.
        page_tokens: Page access tokens it accepts (only these may use the Page's edges).
        window_hours: the standard messaging window of the Send API.
        unavailable_psids: people the Send API answers with code 551.
        conversation_page_size, message_page_size: default page sizes (``limit`` overrides the first).
        clock: the fake's "now" (``None`` for the real clock).
        conversations: PSID to the buyer's conversation with the Page.
        in_progress_polls: status polls a batch answers ``in_progress`` before it is processed.
        batch_final_status: the status a processed batch ends in (``finished``, ``error``, ``canceled``).
        processing_errors: retailer id to the error a batch reports for it at processing time.
        record_warnings: warnings added to every accepted record's validation status.
        latency: seconds every request waits before it is handled.
        requests: ``(method, path)`` of every request.
        calls: every mutating request that passed authentication.
        products: ``(catalog id, retailer id)`` to product.
        batches: handle to batch.
        feeds: feed id to feed.
    """

    access_tokens: set[str] = field(default_factory=lambda: {"EAAB-good-token"})
    expired_tokens: set[str] = field(default_factory=lambda: {"EAAB-expired-token"})
    app_id: str = "1234567890"
    app_secret: str = "fake-app-secret"
    require_appsecret_proof: bool = False
    refuse_expired_exchange: bool = False
    exchange_expires_in: int | None = 5183944
    catalogs: set[str] = field(default_factory=lambda: {"900100200300"})
    in_progress_polls: int = 1
    batch_final_status: str = "finished"
    processing_errors: dict[str, str] = field(default_factory=dict)
    record_warnings: list[str] = field(default_factory=list)
    latency: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    products: dict[tuple[str, str], Product] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    page_id: str = "105200300400"
    page_name: str = "Brooklyn Resale"
    page_tokens: set[str] = field(default_factory=lambda: {"EAAP-page-token"})
    window_hours: float = 24.0
    unavailable_psids: set[str] = field(default_factory=set)
    conversation_page_size: int = 25
    message_page_size: int = 25
    clock: datetime | None = None
    conversations: dict[str, Conversation] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _hangs: list[_Hang] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(7700000000000001))
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return sorted(self.access_tokens)[0]

    @property
    def page_token(self) -> str:
        """A Page access token the fake accepts."""
        return sorted(self.page_tokens)[0]

    def now(self) -> datetime:
        """The fake's current time."""
        return self.clock or datetime.now(UTC)

    def add_message(
        self, psid: str, text: str, *, name: str = "Jordan Buyer", at: datetime | None = None, from_page: bool = False
    ) -> Message:
        """Put a message in the buyer's conversation (created on first use): the buyer's, or the Page's own."""
        with self._lock:
            conversation = self.conversations.get(psid)
            if conversation is None:
                conversation = Conversation(id=f"t_{next(self._ids)}", psid=psid, name=name)
                self.conversations[psid] = conversation
            sender = (self.page_id, self.page_name) if from_page else (psid, conversation.name)
            message = Message(
                id="m_" + secrets.token_urlsafe(32),
                from_id=sender[0],
                from_name=sender[1],
                text=text,
                created=(at or self.now()).astimezone(UTC).replace(microsecond=0),
            )
            conversation.messages.append(message)
            conversation.messages.sort(key=lambda m: m.created)
            return message

    def sends(self) -> list[dict[str, str]]:
        """Every Send API call that passed authentication: recipient, messaging type and text."""
        with self._lock:
            return [dict(c.params) for c in self.calls if c.path == f"/{self.page_id}/messages"]

    def event_for(self, message: Message) -> dict[str, Any]:
        """The webhook ``messaging`` event Meta sends for a stored message (an echo when the Page sent it)."""
        with self._lock:
            psid = next(c.psid for c in self.conversations.values() if message in c.messages)
        return message_event(
            page_id=self.page_id,
            psid=psid,
            mid=message.id,
            text=message.text,
            timestamp_ms=int(message.created.timestamp() * 1000),
            echo=message.from_id == self.page_id,
        )

    @property
    def catalog_id(self) -> str:
        """A catalog that exists."""
        return sorted(self.catalogs)[0]

    thread_name = "fake-graph"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler of this fake."""
        return _Handler

    def fail_next(
        self,
        code: int | None = None,
        *,
        status: int = 400,
        count: int = 1,
        subcode: int | None = None,
        message: str | None = None,
        error_type: str = "OAuthException",
        is_transient: bool = False,
        user_title: str = "",
        user_msg: str = "",
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (whose path contains ``path``) with an error.

        With ``code``, the body is Meta's error object (default messages for the throttling
        codes); with ``body``, that raw text; with neither, an empty body.
        """
        error = None
        if code is not None:
            error = GraphError(
                message or THROTTLE_MESSAGES.get(code, f"(#{code}) Fake failure"),
                code=code,
                status=status,
                subcode=subcode,
                error_type=error_type,
                is_transient=is_transient,
                user_title=user_title,
                user_msg=user_msg,
            ).error
        with self._lock:
            self._faults.append(_Fault(count, status, error, dict(headers or {}), body, path, method))

    def hang_next(self, seconds: float, *, path: str | None = None, count: int = 1) -> None:
        """Apply the next ``count`` mutating requests (to ``path``), then wait ``seconds`` before answering."""
        with self._lock:
            self._hangs.append(_Hang(count, seconds, path))

    def ops(self, method: str | None = None, retailer_id: str | None = None) -> list[tuple[str, str]]:
        """Every ``(method, retailer id)`` sent to ``items_batch``, filtered."""
        with self._lock:
            return [
                (m, rid)
                for call in self.calls
                for m, rid in call.ops
                if (method is None or m == method) and (retailer_id is None or rid == retailer_id)
            ]

    def creates(self, retailer_id: str) -> int:
        """How many ``CREATE`` requests named ``retailer_id``."""
        return len(self.ops("CREATE", retailer_id))

    def product(self, retailer_id: str, catalog_id: str | None = None) -> Product | None:
        """The product with ``retailer_id`` in the catalog, if any."""
        with self._lock:
            return self.products.get((catalog_id or self.catalog_id, retailer_id))

    def process_batches(self) -> None:
        """Finish every batch still in progress, as if Meta caught up."""
        with self._lock:
            for batch in self.batches.values():
                if batch.status == "in_progress":
                    self._finish(batch)

    def ingest_csv(self, body: bytes, catalog_id: str | None = None) -> list[str]:
        """Ingest a CSV feed as a scheduled fetch would: upsert valid rows, return the errors."""
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
        errors: list[str] = []
        with self._lock:
            for number, row in enumerate(rows, start=2):
                problems, _ = validate_product({k: v for k, v in row.items() if v})
                if problems:
                    errors += [f"line {number}: {p}" for p in problems]
                    continue
                self._upsert(catalog_id or self.catalog_id, {k: v for k, v in row.items() if v})
        return errors

    # --- protocol -------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.path is None or fault.path in path) and fault.method in (None, method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def _take_hang(self, path: str) -> float:
        with self._lock:
            for hang in self._hangs:
                if hang.path is None or hang.path in path:
                    hang.remaining -= 1
                    if hang.remaining <= 0:
                        self._hangs.remove(hang)
                    return hang.seconds
            return 0.0

    def _usage_headers(self, catalog_id: str | None, kind: str = "catalog_management") -> dict[str, str]:
        count = len(self.requests) % 100
        headers = {
            "X-App-Usage": json.dumps({"call_count": count, "total_time": count, "total_cputime": count}),
            "x-fb-trace-id": secrets.token_urlsafe(8),
            "x-fb-rev": "1012345678",
        }
        if catalog_id:
            usage = {
                "type": kind,
                "call_count": count,
                "total_cputime": count,
                "total_time": count,
                "estimated_time_to_regain_access": 0,
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps({catalog_id: [usage]})
        return headers

    def _check_auth(self, params: Mapping[str, str], authorization: str) -> str:
        token = params.get("access_token", "")
        if not token and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if not token:
            raise GraphError("An access token is required to request this resource.", code=104)
        if token in self.expired_tokens:
            raise GraphError(
                "Error validating access token: Session has expired on Friday, 13-Nov-26 08:00:00 PST. "
                "The current time is Friday, 13-Nov-26 09:12:41 PST.",
                code=190,
                subcode=463,
            )
        if token not in self.access_tokens and token not in self.page_tokens:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        proof = params.get("appsecret_proof")
        if proof is None and self.require_appsecret_proof:
            raise _bad_param("API calls from the server require an appsecret_proof argument")
        if proof is not None:
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, expected):
                raise _bad_param("Invalid appsecret_proof provided in the API argument")
        return token

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes, float]:
        """Answer one request: status, headers, body and seconds to wait before answering.

        ``headers`` are the request's, with lower-case names.
        """
        split = urllib.parse.urlsplit(target)
        path = split.path
        with self._lock:
            self.requests.append((method, path))
        if self.latency > 0:
            self._stopping.wait(self.latency)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method == "POST" and body and content_type == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
        document: Any = None
        if method == "POST" and body and content_type == "application/json":
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            if isinstance(document, dict):
                params.update({k: v for k, v in document.items() if isinstance(v, str)})
        versioned = _VERSIONED.match(path)
        version = versioned.group(1) if versioned else "v26.0"
        rest = versioned.group(2) if versioned else path.lstrip("/")
        segments = [s for s in rest.split("/") if s]
        if segments and segments[0] == self.page_id:
            response_headers = self._usage_headers(self.page_id, "pages")
        else:
            response_headers = self._usage_headers(segments[0] if segments and segments[0] in self.catalogs else None)
        response_headers["Content-Type"] = "application/json; charset=UTF-8"

        fault = self._take_fault(method, path)
        if fault is not None:
            response_headers.update(fault.headers)
            if fault.error is not None:
                payload = json.dumps({"error": fault.error}).encode()
            else:
                payload = (fault.body or "").encode()
                if fault.body is not None and not fault.body.lstrip().startswith("{"):
                    response_headers["Content-Type"] = "text/html; charset=utf-8"
            return fault.status, response_headers, payload, 0.0

        hang = 0.0
        try:
            result = self._route(method, segments, params, headers.get("authorization", ""), document, version)
            if method == "POST" and segments[-1:] != ["access_token"]:
                hang = self._take_hang(path)
            status = 200
            payload = json.dumps(result).encode()
        except GraphError as exc:
            status = exc.status
            response_headers.update(exc.headers)
            payload = json.dumps({"error": exc.error}).encode()
        return status, response_headers, payload, hang

    def _route(
        self,
        method: str,
        segments: list[str],
        params: dict[str, str],
        authorization: str,
        document: Any = None,
        version: str = "v26.0",
    ) -> Any:
        if segments == ["oauth", "access_token"]:
            return self._exchange(params)
        token = self._check_auth(params, authorization)
        if not segments:
            raise _no_object(method, "")
        head = segments[0]
        with self._lock:
            if head == self.page_id and len(segments) == 2:
                if token not in self.page_tokens:
                    raise GraphError("(#190) This method must be called with a Page Access Token", code=190)
                edge = segments[1]
                if (method, edge) == ("GET", "conversations"):
                    return self._conversations(params, token, version)
                if (method, edge) == ("POST", "messages"):
                    return self._send(document)
            conversation = next((c for c in self.conversations.values() if c.id == head), None)
            if conversation is not None and segments[1:] == ["messages"] and method == "GET":
                if token not in self.page_tokens:
                    raise GraphError("(#190) This method must be called with a Page Access Token", code=190)
                return self._messages_page(conversation, params.get("fields", "id"), params, token, version)
            if head in self.catalogs and len(segments) == 2:
                edge = segments[1]
                if (method, edge) == ("POST", "items_batch"):
                    return self._items_batch(head, params)
                if (method, edge) == ("GET", "check_batch_request_status"):
                    return self._batch_status(head, params)
                if (method, edge) == ("GET", "products"):
                    return self._products(head, params)
                if (method, edge) == ("POST", "product_feeds"):
                    return self._create_feed(head, params)
                if (method, edge) == ("GET", "product_feeds"):
                    return self._list_feeds(head, params)
            if head in self.feeds and len(segments) == 1:
                if method == "POST":
                    return self._update_feed(self.feeds[head], params)
                return self._feed_fields(self.feeds[head], params.get("fields", "id,name,schedule"))
        raise _no_object(method, head)

    def _record(self, path: str, params: Mapping[str, str], ops: list[tuple[str, str]] | None = None) -> None:
        clean = {k: v for k, v in params.items() if k not in ("access_token", "appsecret_proof")}
        self.calls.append(Call("POST", path, clean, ops or []))

    # --- endpoints ------------------------------------------------------------------------

    def _exchange(self, params: Mapping[str, str]) -> dict[str, Any]:
        if params.get("grant_type") != "fb_exchange_token":
            raise _bad_param("Unsupported grant_type")
        if params.get("client_id") != self.app_id:
            raise GraphError("Error validating application. Invalid application ID.", code=101)
        if params.get("client_secret") != self.app_secret:
            raise GraphError("Error validating client secret.", code=1)
        old = params.get("fb_exchange_token", "")
        if old in self.expired_tokens and self.refuse_expired_exchange:
            raise GraphError("Error validating access token: Session has expired.", code=190, subcode=463)
        if old not in self.access_tokens and old not in self.expired_tokens:
            raise GraphError("Invalid OAuth access token - Cannot parse access token", code=190)
        new = "EAAB-" + secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens.add(new)
        answer: dict[str, Any] = {"access_token": new, "token_type": "bearer"}
        if self.exchange_expires_in is not None:
            answer["expires_in"] = self.exchange_expires_in
        return answer

    def _items_batch(self, catalog_id: str, params: dict[str, str]) -> dict[str, Any]:
        for name in required_params("ProductCatalog", "POST", "items_batch"):
            if not params.get(name):
                raise _bad_param(f"The parameter {name} is required")
        if params["item_type"] != "PRODUCT_ITEM":
            raise _bad_param("Param item_type must be one of {PRODUCT_ITEM} in this fake")
        upsert_text = params.get("allow_upsert", "true").lower()
        if upsert_text not in ("true", "false", "1", "0"):
            raise _bad_param("Param allow_upsert must be a boolean")
        allow_upsert = upsert_text in ("true", "1")
        try:
            records = json.loads(params["requests"])
        except ValueError:
            raise _bad_param("Param requests must be a JSON-encoded array") from None
        if not isinstance(records, list) or not records:
            raise _bad_param("Param requests must be a non-empty array")
        if len(records) > REQUESTS_MAX:
            raise _bad_param(f"Param requests must have at most {REQUESTS_MAX} elements")

        ops: list[tuple[str, str]] = []
        accepted: list[tuple[str, dict[str, str]]] = []
        statuses: list[dict[str, Any]] = []
        for record in records:
            data = record.get("data") if isinstance(record, dict) else None
            op = str(record.get("method", "")).upper() if isinstance(record, dict) else ""
            rid = str(data.get("id", "")) if isinstance(data, dict) else ""
            ops.append((op, rid))
            errors: list[str] = []
            warnings: list[str] = []
            if op not in ("CREATE", "UPDATE", "DELETE"):
                errors.append("Field 'method' must be one of CREATE, UPDATE, DELETE.")
            elif not isinstance(data, dict) or not rid:
                errors.append("Required field 'id' is missing.")
            elif op != "DELETE":
                exists = (catalog_id, rid) in self.products
                if op == "UPDATE" and not exists and not allow_upsert:
                    errors.append(f"Item with id '{rid}' does not exist and allow_upsert is false.")
                else:
                    errors, warnings = validate_product(data, partial=op == "UPDATE" and exists)
            if not errors:
                warnings += self.record_warnings
                accepted.append((op, {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}))
            if errors or warnings:
                statuses.append(
                    {
                        "retailer_id": rid,
                        "errors": [{"message": m} for m in errors],
                        "warnings": [{"message": m} for m in warnings],
                    }
                )
        self._record(f"/{catalog_id}/items_batch", params, ops)
        handles: list[str] = []
        if accepted:
            handle = "AQ" + secrets.token_urlsafe(18)
            batch = Batch(handle, catalog_id, accepted, polls_left=self.in_progress_polls)
            self.batches[handle] = batch
            handles.append(handle)
            if batch.polls_left <= 0:
                self._finish(batch)
        return {"handles": handles, "validation_status": statuses}

    def _upsert(self, catalog_id: str, data: dict[str, str]) -> None:
        key = (catalog_id, data["id"])
        existing = self.products.get(key)
        if existing is not None:
            existing.data.update(data)
        else:
            self.products[key] = Product(str(next(self._ids)), catalog_id, data["id"], dict(data))

    def _finish(self, batch: Batch) -> None:
        batch.status = self.batch_final_status
        if batch.status != "finished":
            return
        for op, data in batch.records:
            rid = data["id"]
            if rid in self.processing_errors:
                batch.errors.append({"id": rid, "message": self.processing_errors[rid]})
                batch.invalid_ids.append(rid)
            elif op == "DELETE":
                self.products.pop((batch.catalog_id, rid), None)
            else:
                self._upsert(batch.catalog_id, data)

    def _batch_status(self, catalog_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        for name in required_params("ProductCatalog", "GET", "check_batch_request_status"):
            if not params.get(name):
                raise _bad_param(f"The parameter {name} is required")
        batch = self.batches.get(params["handle"])
        if batch is None or batch.catalog_id != catalog_id:
            raise _bad_param("Param handle is not a valid batch request handle")
        if batch.status == "in_progress":
            if batch.polls_left > 0:
                batch.polls_left -= 1
            else:
                self._finish(batch)
        answer: dict[str, Any] = {
            "handle": batch.handle,
            "status": batch.status,
            "errors": list(batch.errors),
            "errors_total_count": len(batch.errors),
            "warnings": list(batch.warnings),
            "warnings_total_count": len(batch.warnings),
        }
        if params.get("load_ids_of_invalid_requests", "").lower() in ("true", "1"):
            answer["ids_of_invalid_requests"] = list(batch.invalid_ids)
        return {"data": [answer]}

    def _products(self, catalog_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        wanted: str | None = None
        if params.get("filter"):
            try:
                rule = json.loads(params["filter"])
                wanted = str(rule["retailer_id"]["eq"])
            except (ValueError, KeyError, TypeError):
                raise _bad_param('Param filter must be a JSON object such as {"retailer_id":{"eq":...}}') from None
        fields = [f for f in params.get("fields", "id").split(",") if f]
        found = [p for p in self.products.values() if p.catalog_id == catalog_id and wanted in (None, p.retailer_id)]
        data = []
        for product in found:
            view = {
                "id": product.id,
                "retailer_id": product.retailer_id,
                "availability": product.data.get("availability", ""),
                "review_status": "approved",
                "name": product.data.get("title", ""),
                "price": product.data.get("price", ""),
            }
            data.append({k: view[k] for k in fields if k in view})
        answer: dict[str, Any] = {"data": data}
        if data:
            answer["paging"] = {"cursors": {"before": "QVFIUmFl", "after": "QVFIUmFm"}}
        return answer

    def _schedule(self, params: Mapping[str, str]) -> dict[str, Any] | None:
        if "schedule" not in params:
            return None
        try:
            schedule = json.loads(params["schedule"])
        except ValueError:
            raise _bad_param("Param schedule must be a JSON object") from None
        if (
            not isinstance(schedule, dict)
            or schedule.get("interval") not in FEED_INTERVALS
            or not _is_url(str(schedule.get("url", "")))
        ):
            raise _bad_param("Param schedule must have an interval (HOURLY, DAILY, WEEKLY) and an http(s) url")
        return schedule

    def _create_feed(self, catalog_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        schedule = self._schedule(params)
        self._record(f"/{catalog_id}/product_feeds", params)
        feed = Feed(str(next(self._ids)), catalog_id, params.get("name", ""), schedule)
        self.feeds[feed.id] = feed
        return {"id": feed.id}

    def _list_feeds(self, catalog_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        fields = params.get("fields", "id,name")
        return {"data": [self._feed_fields(f, fields) for f in self.feeds.values() if f.catalog_id == catalog_id]}

    def _feed_fields(self, feed: Feed, fields: str) -> dict[str, Any]:
        view: dict[str, Any] = {"id": feed.id, "name": feed.name, "schedule": feed.schedule}
        return {k: view[k] for k in fields.split(",") if k in view and view[k] is not None}

    def _update_feed(self, feed: Feed, params: Mapping[str, str]) -> dict[str, Any]:
        schedule = self._schedule(params)
        self._record(f"/{feed.id}", params)
        if schedule is not None:
            feed.schedule = schedule
        if params.get("name"):
            feed.name = params["name"]
        return {"success": True}

    # --- Messenger ------------------------------------------------------------------------

    def _next_url(self, version: str, path: str, params: Mapping[str, str], token: str, after: str) -> str:
        # Meta's ``next`` is a full URL that repeats the access token in its query string.
        query = {k: v for k, v in params.items() if k not in ("after", "before", "appsecret_proof")}
        query.update({"access_token": token, "after": after})
        return f"{self.url}/{version}/{path}?{urllib.parse.urlencode(query)}"

    def _message_view(self, message: Message, fields: str) -> dict[str, Any]:
        wanted = _split_fields(fields or "id")
        view: dict[str, Any] = {"id": message.id}
        if "created_time" in wanted:
            view["created_time"] = graph_time(message.created)
        if "from" in wanted:
            view["from"] = {
                "name": message.from_name,
                "email": f"{message.from_id}@facebook.com",
                "id": message.from_id,
            }
        if "message" in wanted:
            view["message"] = message.text
        return view

    def _messages_page(
        self, conversation: Conversation, fields: str, params: Mapping[str, str], token: str, version: str
    ) -> dict[str, Any]:
        newest_first = sorted(conversation.messages, key=lambda m: m.created, reverse=True)
        start = _offset("m", params.get("after"))
        chunk = newest_first[start : start + self.message_page_size]
        answer: dict[str, Any] = {"data": [self._message_view(m, fields) for m in chunk]}
        if chunk:
            after = _cursor("m", start + len(chunk))
            answer["paging"] = {"cursors": {"before": _cursor("m", start), "after": after}}
            if start + len(chunk) < len(newest_first):
                query = {"fields": fields}
                answer["paging"]["next"] = self._next_url(version, f"{conversation.id}/messages", query, token, after)
        return answer

    def _conversations(self, params: Mapping[str, str], token: str, version: str) -> dict[str, Any]:
        platform = params.get("platform", "messenger")
        if platform not in ("messenger", "instagram"):
            raise _bad_param("Param platform must be one of {MESSENGER, INSTAGRAM}")
        found = [] if platform == "instagram" else [c for c in self.conversations.values() if c.messages]
        found.sort(key=lambda c: (c.updated, c.id), reverse=True)
        try:
            size = int(params.get("limit") or self.conversation_page_size)
        except ValueError:
            raise _bad_param("Param limit must be an integer") from None
        start = _offset("t", params.get("after"))
        chunk = found[start : start + size]
        wanted = _split_fields(params.get("fields", "id"))
        data = []
        for conversation in chunk:
            view: dict[str, Any] = {"id": conversation.id}
            if "updated_time" in wanted:
                view["updated_time"] = graph_time(conversation.updated)
            if "participants" in wanted:
                people = [
                    (conversation.name, conversation.psid),
                    (self.page_name, self.page_id),
                ]
                view["participants"] = {"data": [{"name": n, "email": f"{i}@facebook.com", "id": i} for n, i in people]}
            if "messages" in wanted:
                view["messages"] = self._messages_page(conversation, wanted["messages"], {}, token, version)
            data.append(view)
        answer: dict[str, Any] = {"data": data}
        if chunk:
            after = _cursor("t", start + len(chunk))
            answer["paging"] = {"cursors": {"before": _cursor("t", start), "after": after}}
            if start + len(chunk) < len(found):
                answer["paging"]["next"] = self._next_url(
                    version, f"{self.page_id}/conversations", params, token, after
                )
        return answer

    def _send(self, document: Any) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise _bad_param("The Send API takes a JSON object body")
        for name in required_params("Page", "POST", "messages"):
            if name not in document:
                raise _bad_param(f"The parameter {name} is required")
        recipient = document["recipient"]
        psid = str(recipient.get("id", "")) if isinstance(recipient, dict) else ""
        messaging_type = document.get("messaging_type", "RESPONSE")
        if messaging_type not in MESSAGING_TYPES:
            raise _bad_param("Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        message = document.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text:
            raise _bad_param("Param message must have a non-empty text")
        if len(text) > MESSENGER_TEXT_MAX:
            raise _bad_param(f"Length of param message[text] must be less than or equal to {MESSENGER_TEXT_MAX}")
        conversation = self.conversations.get(psid)
        if conversation is None:
            raise GraphError("(#100) No matching user found", code=100, subcode=2018001)
        if psid in self.unavailable_psids:
            raise GraphError("(#551) This person isn't available right now.", code=551, subcode=1545041)
        last_in = max((m.created for m in conversation.messages if m.from_id == psid), default=None)
        if last_in is None or self.now() - last_in > timedelta(hours=self.window_hours):
            raise GraphError(WINDOW_MESSAGE, code=10, subcode=2018278)
        sent = self.add_message(psid, text, from_page=True)
        self.calls.append(
            Call(
                "POST",
                f"/{self.page_id}/messages",
                {"recipient": psid, "messaging_type": str(messaging_type), "text": text},
            )
        )
        return {"recipient_id": psid, "message_id": sent.id}

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (cut short by :meth:`stop`)."""
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no keep-alive socket outlives a test.
    fake: FakeGraph

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload, hang = self.fake.handle(
            method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        self.fake.wait(hang)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    """Run the fake until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", default="EAAB-good-token")
    parser.add_argument("--catalog-id", default="900100200300")
    parser.add_argument("--in-progress-polls", type=int, default=1)
    parser.add_argument("--page-id", default="105200300400")
    parser.add_argument("--page-token", default="EAAP-page-token")
    args = parser.parse_args(argv)
    fake = FakeGraph(
        access_tokens={args.token},
        catalogs={args.catalog_id},
        in_progress_polls=args.in_progress_polls,
        page_id=args.page_id,
        page_tokens={args.page_token},
    )
    fake.start(args.host, args.port)
    print(f"fake Graph API at {fake.url} (catalog {args.catalog_id}; Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        print(f"stopped; {len(fake.products)} product(s) in the catalog", flush=True)


if __name__ == "__main__":
    main()
