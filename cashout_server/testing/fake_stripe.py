"""A fake Stripe API for tests: a real HTTP server on ``127.0.0.1`` speaking Stripe's v1 shapes.

It serves what cashout uses, the way Stripe does it:

* ``Authorization: Bearer sk_...`` (a 401 error body otherwise), form-encoded bodies with bracket
  nesting (``line_items[0][price_data][unit_amount]=2500``), unknown or missing parameters
  refused with Stripe's ``invalid_request_error`` bodies, a ``Request-Id`` on every response;
* ``POST /v1/prices`` (with ``product_data``), ``POST /v1/payment_links``, ``GET
  /v1/payment_links/{id}``, ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
  returning objects with exactly the keys of Stripe's own fixtures (``stripe/openapi``
  ``fixtures3.json``);
* ``Idempotency-Key``: the same key with the same parameters replays the first answer with
  ``Idempotent-Replayed: true``; with other parameters it is a 400 ``idempotency_error``; while
  the first request runs, a 409;
* faults for tests: answers of ``429 rate_limit_error`` or ``500 api_error`` (never executed),
  connections dropped before or after a request is applied (the client sees a network error),
  and latency.

Test helpers build what Stripe would send to a webhook: :meth:`FakeStripe.pay_session`,
:meth:`FakeStripe.pay_link`, :meth:`FakeStripe.event` and :func:`sign_event`, which signs exactly
as Stripe does (``t=<ts>,v1=hex(HMAC-SHA256(secret, "<ts>.<payload>"))``).

    with FakeStripe() as fake:
        ...  # CASHOUT_STRIPE_API_BASE=fake.url, CASHOUT_STRIPE_SECRET_KEY=fake.api_key
        event = fake.event("checkout.session.completed", fake.pay_session(session_id))
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from cashout_server.testing.loopback import LoopbackServer

__all__ = ["API_VERSION", "FakeStripe", "RecordedRequest", "parse_form", "sign_event"]

API_VERSION = "2026-06-24.dahlia"
"""The API version of the events the fake builds (FACTS.md section 8)."""

_DOC = "https://stripe.com/docs/error-codes"


def sign_event(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``, signed with the endpoint's ``secret``.

    Args:
        payload: the raw request body.
        secret: the endpoint's signing secret (``whsec_...``).
        timestamp: the signing time, in Unix seconds.

    Returns:
        ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<payload>">``.
    """
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def parse_form(body: str) -> dict[str, Any]:
    """Parse a Stripe form body (``a[b][0][c]=1``) into nested dicts and lists, values as strings.

    Raises:
        ValueError: a key that is not a bracket path, or one path used both as a value and a container.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body)):
        match = _KEY.match(key)
        if match is None:
            raise ValueError(key)
        parts = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(key)
            node = child
        last = parts[-1] or str(len(node))
        if isinstance(node.get(last), dict):
            raise ValueError(key)
        node[last] = value
    result: dict[str, Any] = _listify(root)
    return result


class _StripeError(Exception):
    """An error answer with Stripe's body."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = f"{_DOC}#{code.replace('_', '-')}"
        if param is not None:
            self.body["param"] = param


def _missing(param: str) -> _StripeError:
    return _StripeError(
        400, "invalid_request_error", f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _integer(params: dict[str, Any], path: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _StripeError(
        400, "invalid_request_error", f"Invalid integer: {value}", code="parameter_invalid_integer", param=path
    )


def _unknown(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise _StripeError(
                400,
                "invalid_request_error",
                f"Received unknown parameter: {name}",
                code="parameter_unknown",
                param=name,
            )


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    meta = params.get("metadata", {})
    if meta == "":
        return {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _StripeError(
            400, "invalid_request_error", "Invalid hash", code="parameter_invalid_hash", param="metadata"
        )
    return {k: v for k, v in meta.items() if v != ""}


def _rand(n: int = 24) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


_PRICE_PARAMS = frozenset(
    {
        "currency",
        "unit_amount",
        "unit_amount_decimal",
        "product",
        "product_data",
        "metadata",
        "nickname",
        "lookup_key",
        "active",
        "tax_behavior",
        "recurring",
        "expand",
    }
)
_LINK_PARAMS = frozenset(
    {
        "line_items",
        "metadata",
        "after_completion",
        "restrictions",
        "allow_promotion_codes",
        "payment_intent_data",
        "currency",
        "customer_creation",
        "inactive_message",
        "payment_method_types",
        "submit_type",
        "expand",
    }
)
_SESSION_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "customer",
        "customer_email",
        "expires_at",
        "payment_intent_data",
        "payment_method_types",
        "currency",
        "locale",
        "ui_mode",
        "allow_promotion_codes",
        "submit_type",
        "expand",
    }
)


@dataclass
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, Any]
    status: int
    replayed: bool = False


@dataclass
class _Stored:
    fingerprint: str
    status: int = 0
    body: bytes = b""
    done: bool = False


@dataclass
class FakeStripe(LoopbackServer):
    """The fake Stripe API on ``127.0.0.1``, served from its own thread and event loop.

    Attributes:
        api_key: the secret key it accepts (others get a 401).
        fail_next: statuses (429 or 500) to answer the next requests with, in order, without executing them.
        drop_next: for the next POSTs in order, ``"before"`` (nothing applied) or ``"after"`` (applied,
            answer lost) closes the connection without an answer; ``"none"`` answers normally.
        latency: seconds each POST takes while its idempotency key is held (to observe 409s).
        answer_delay: seconds between applying a POST and answering it (events may overtake the answer).
    """

    api_key: str = "sk_test_cashout_fake"
    fail_next: list[int] = field(default_factory=list)
    drop_next: list[str] = field(default_factory=list)
    latency: float = 0.0
    answer_delay: float = 0.0
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_links: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    _idempotency: dict[tuple[str, str], _Stored] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The API base URL (``CASHOUT_STRIPE_API_BASE``)."""
        return f"http://127.0.0.1:{self.port}"

    def created(self) -> Counter[str]:
        """How many objects of each kind were created (``price``, ``payment_link``, ``checkout.session``)."""
        return Counter(
            obj["object"] for store in (self.prices, self.payment_links, self.sessions) for obj in store.values()
        )

    # --- lifecycle ------------------------------------------------------------------------

    thread_name = "fake-stripe"

    def build_app(self) -> web.Application:
        """The routes of this fake."""
        app = web.Application()
        app.router.add_post("/v1/prices", self._post)
        app.router.add_post("/v1/payment_links", self._post)
        app.router.add_post("/v1/checkout/sessions", self._post)
        app.router.add_get("/v1/payment_links/{id}", self._get)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get)
        return app

    # --- HTTP -----------------------------------------------------------------------------

    @staticmethod
    def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Request-Id": f"req_{_rand(14)}", "Stripe-Version": API_VERSION, **(extra or {})}

    def _json(self, status: int, body: bytes, *, replayed: bool = False) -> web.Response:
        extra = {"Idempotent-Replayed": "true"} if replayed else None
        return web.Response(body=body, status=status, content_type="application/json", headers=self._headers(extra))

    def _error(self, exc: _StripeError, *, headers: dict[str, str] | None = None) -> web.Response:
        body = json.dumps({"error": exc.body}, indent=2).encode()
        return web.Response(
            body=body, status=exc.status, content_type="application/json", headers=self._headers(headers)
        )

    def _auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise _StripeError(
                401,
                "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
                "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise _StripeError(401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")

    async def _get(self, request: web.Request) -> web.Response:
        try:
            self._auth(request)
        except _StripeError as exc:
            return self._error(exc)
        store = self.sessions if "/checkout/" in request.path else self.payment_links
        obj = store.get(request.match_info["id"])
        if obj is None:
            kind = "checkout.session" if store is self.sessions else "payment_link"
            return self._error(
                _StripeError(
                    404,
                    "invalid_request_error",
                    f"No such {kind}: '{request.match_info['id']}'",
                    code="resource_missing",
                    param="id" if store is self.payment_links else "session",
                )
            )
        self.requests.append(RecordedRequest("GET", request.path, None, dict(request.query), 200))
        return self._json(200, json.dumps(obj).encode())

    async def _post(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        key = request.headers.get("Idempotency-Key")
        record = RecordedRequest("POST", request.path, key, {}, 0)
        self.requests.append(record)
        try:
            self._auth(request)
            try:
                params = parse_form(text)
            except ValueError:
                raise _StripeError(
                    400, "invalid_request_error", "Invalid request body: could not parse form data"
                ) from None
            record.params = params
        except _StripeError as exc:
            record.status = exc.status
            return self._error(exc)
        if self.fail_next:
            status = self.fail_next.pop(0)
            record.status = status
            if status == 429:
                return self._error(
                    _StripeError(
                        429,
                        "rate_limit_error",
                        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                        code="rate_limit",
                    )
                )
            return self._error(
                _StripeError(
                    status,
                    "api_error",
                    "Sorry, something went wrong. We've already been notified of the problem, but if you need any "
                    "help, you can reach us at support.stripe.com/contact.",
                )
            )
        drop = self.drop_next.pop(0) if self.drop_next else None
        if drop == "before":
            record.status = -1
            return self._drop(request)
        fingerprint = hashlib.sha256(f"{request.path}\n{text}".encode()).hexdigest()
        stored: _Stored | None = None
        if key is not None:
            slot = (self.api_key, key)
            stored = self._idempotency.get(slot)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    record.status = 400
                    return self._error(
                        _StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request.",
                        )
                    )
                if not stored.done:
                    record.status = 409
                    return self._error(
                        _StripeError(
                            409,
                            "idempotency_error",
                            "There is currently another in-progress request using this Idempotent Key (that probably "
                            f"means you submitted twice, and the other request is still going through): {key}. "
                            "Please try again later.",
                        )
                    )
                record.status, record.replayed = stored.status, True
                if drop == "after":
                    return self._drop(request)
                return self._json(stored.status, stored.body, replayed=True)
            stored = self._idempotency[slot] = _Stored(fingerprint)
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            status, obj = 200, self._create(request.path, params)
            body = json.dumps(obj, indent=2).encode()
        except _StripeError as exc:
            # Validation failures are not saved: the key may be used again (as on Stripe).
            if stored is not None:
                del self._idempotency[(self.api_key, key or "")]
            record.status = exc.status
            return self._error(exc)
        if stored is not None:
            stored.status, stored.body, stored.done = status, body, True
        record.status = status
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        if drop == "after":
            return self._drop(request)
        return self._json(status, body)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    # --- objects --------------------------------------------------------------------------

    def _create(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if path == "/v1/prices":
            return self._create_price(params)
        if path == "/v1/payment_links":
            return self._create_link(params)
        return self._create_session(params)

    def _now(self) -> int:
        return int(time.time())

    def _create_price(self, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, _PRICE_PARAMS)
        if "currency" not in params:
            raise _missing("currency")
        if "unit_amount" not in params:
            raise _missing("unit_amount")
        amount = _integer(params, "unit_amount", params["unit_amount"])
        if amount < 0:
            raise _StripeError(
                400,
                "invalid_request_error",
                "This value must be greater than or equal to 0.",
                code="parameter_invalid_integer",
                param="unit_amount",
            )
        product_id = params.get("product")
        if product_id is None:
            data = params.get("product_data")
            if not isinstance(data, dict):
                raise _missing("product")
            if not data.get("name"):
                raise _missing("product_data[name]")
            product = copy.deepcopy(_PRODUCT)
            product_id = f"prod_{_rand(14)}"
            product.update(
                id=product_id,
                name=data["name"],
                description=None,
                created=self._now(),
                updated=self._now(),
                default_price=None,
                package_dimensions=None,
                metadata={},
            )
            self.products[product_id] = product
        elif product_id not in self.products:
            raise _StripeError(
                400,
                "invalid_request_error",
                f"No such product: '{product_id}'",
                code="resource_missing",
                param="product",
            )
        price = copy.deepcopy(_PRICE)
        price.update(
            id=f"price_{_rand()}",
            created=self._now(),
            currency=str(params["currency"]).lower(),
            product=product_id,
            unit_amount=amount,
            unit_amount_decimal=str(amount),
            type="one_time",
            recurring=None,
            transform_quantity=None,
            custom_unit_amount=None,
            metadata=_metadata(params),
        )
        self.prices[price["id"]] = price
        return price

    def _line_items(self, params: dict[str, Any]) -> list[tuple[int, str, int]]:
        """``(unit_amount, currency, quantity)`` of each line item."""
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise _missing("line_items")
        out = []
        for n, line in enumerate(items):
            if not isinstance(line, dict):
                raise _StripeError(400, "invalid_request_error", "Invalid array", param="line_items")
            quantity = _integer(params, f"line_items[{n}][quantity]", line.get("quantity", "1"))
            if "price" in line:
                price = self.prices.get(line["price"])
                if price is None:
                    raise _StripeError(
                        400,
                        "invalid_request_error",
                        f"No such price: '{line['price']}'",
                        code="resource_missing",
                        param=f"line_items[{n}][price]",
                    )
                out.append((int(price["unit_amount"]), str(price["currency"]), quantity))
            elif isinstance(line.get("price_data"), dict):
                data = line["price_data"]
                if "currency" not in data:
                    raise _missing(f"line_items[{n}][price_data][currency]")
                if "unit_amount" not in data:
                    raise _missing(f"line_items[{n}][price_data][unit_amount]")
                product = data.get("product_data")
                if not isinstance(product, dict) or not product.get("name"):
                    raise _missing(f"line_items[{n}][price_data][product_data][name]")
                amount = _integer(params, f"line_items[{n}][price_data][unit_amount]", data["unit_amount"])
                out.append((amount, str(data["currency"]).lower(), quantity))
            else:
                raise _missing(f"line_items[{n}][price]")
        return out

    def _create_link(self, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, _LINK_PARAMS)
        lines = self._line_items(params)
        link = copy.deepcopy(_PAYMENT_LINK)
        link_id = f"plink_{_rand()}"
        limit = params.get("restrictions", {}).get("completed_sessions", {}).get("limit")
        after = params.get("after_completion") or {"type": "hosted_confirmation"}
        link.update(
            id=link_id,
            url=f"https://buy.stripe.com/test_{_rand(20)}",
            currency=lines[0][1],
            metadata=_metadata(params),
            restrictions=(
                {"completed_sessions": {"count": 0, "limit": _integer(params, "restrictions", limit)}}
                if limit is not None
                else None
            ),
            after_completion=(
                {"hosted_confirmation": {"custom_message": None}, "type": "hosted_confirmation"}
                if after.get("type") != "redirect"
                else {"redirect": {"url": after.get("redirect", {}).get("url")}, "type": "redirect"}
            ),
            shipping_address_collection=None,
            transfer_data=None,
            payment_intent_data=None,
            subscription_data=None,
        )
        link["_line_items"] = lines  # kept for pay_link; removed from answers below
        self.payment_links[link_id] = link
        return {k: v for k, v in link.items() if not k.startswith("_")}

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        _unknown(params, _SESSION_PARAMS)
        mode = params.get("mode")
        if mode is None:
            raise _missing("mode")
        if mode != "payment":
            raise _StripeError(
                400, "invalid_request_error", f"Invalid mode: {mode}", code="parameter_invalid_string", param="mode"
            )
        lines = self._line_items(params)
        if "success_url" not in params and params.get("ui_mode") not in ("embedded", "custom"):
            raise _missing("success_url")
        return self._session(params, lines)

    def _session(
        self, params: dict[str, Any], lines: list[tuple[int, str, int]], *, payment_link: str | None = None
    ) -> dict[str, Any]:
        session = copy.deepcopy(_CHECKOUT_SESSION)
        session_id = f"cs_test_{_rand(58)}"
        total = sum(amount * quantity for amount, _, quantity in lines)
        session.update(
            id=session_id,
            created=self._now(),
            expires_at=self._now() + 24 * 3600,
            amount_subtotal=total,
            amount_total=total,
            currency=lines[0][1],
            client_reference_id=params.get("client_reference_id"),
            metadata=_metadata(params),
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            customer_details=None,
            payment_intent=None,
            payment_link=payment_link,
            payment_status="unpaid",
            status="open",
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            shipping_address_collection=None,
            shipping_cost=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            currency_conversion=None,
            collected_information=None,
        )
        self.sessions[session_id] = session
        return session

    # --- what a buyer and Stripe's event system do ----------------------------------------

    def pay_session(
        self, session_id: str, *, payment_status: str = "paid", email: str = "buyer@example.com"
    ) -> dict[str, Any]:
        """The buyer completes the Checkout Session: it becomes ``complete`` and (by default) ``paid``.

        Returns:
            The completed session object (put it in :meth:`event`).
        """
        session = self.sessions[session_id]
        session.update(
            status="complete",
            payment_status=payment_status,
            payment_intent=f"pi_{_rand()}",
            url=None,
            customer_details={
                "address": {
                    "city": None,
                    "country": "US",
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": email,
                "name": "Buyer",
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
                "business_name": None,
                "individual_name": None,
            },
        )
        return copy.deepcopy(session)

    def pay_link(self, link_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """A buyer opens the payment link and pays: Stripe makes a Checkout Session carrying the link's metadata.

        Returns:
            The completed session object.
        """
        link = self.payment_links[link_id]
        session = self._session({"metadata": dict(link["metadata"])}, link["_line_items"], payment_link=link_id)
        if link["restrictions"] is not None:
            link["restrictions"]["completed_sessions"]["count"] += 1
        return self.pay_session(session["id"], payment_status=payment_status)

    def expire_session(self, session_id: str) -> dict[str, Any]:
        """The session expires unpaid; returns the expired session object."""
        session = self.sessions[session_id]
        session.update(status="expired", url=None)
        return copy.deepcopy(session)

    def event(self, type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """A webhook event wrapping ``obj``, with the envelope of Stripe's event fixture."""
        return {
            "id": f"evt_{_rand()}",
            "object": "event",
            "api_version": API_VERSION,
            "created": self._now() if created is None else created,
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }


# --- object templates: Stripe's own fixtures (stripe/openapi fixtures3.json), values overwritten per object ---

_PRICE: dict[str, Any] = {
    "active": True,
    "billing_scheme": "per_unit",
    "created": 1234567890,
    "currency": "usd",
    "custom_unit_amount": {"maximum": None, "minimum": None, "preset": None},
    "id": "price_1PgafmB7WZ01zgkW6dKueIc5",
    "livemode": False,
    "lookup_key": None,
    "metadata": {},
    "nickname": None,
    "object": "price",
    "product": "prod_QXg1hqf4jFNsqG",
    "recurring": {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "usage_type": "licensed",
        "trial_period_days": None,
    },
    "tax_behavior": "unspecified",
    "tiers_mode": None,
    "transform_quantity": {"divide_by": 1592560163, "round": "down"},
    "type": "recurring",
    "unit_amount": 2000,
    "unit_amount_decimal": "2000",
}

_PRODUCT: dict[str, Any] = {
    "active": True,
    "created": 1234567890,
    "default_price": "price_1PgafmB7WZ01zgkW02Hf9z6c",
    "description": "Comfortable gray cotton t-shirt",
    "id": "prod_QXg1hqf4jFNsqG",
    "images": [],
    "livemode": False,
    "marketing_features": [],
    "metadata": {},
    "name": "T-shirt",
    "object": "product",
    "package_dimensions": {"height": 1221029593, "length": 1106363674, "weight": 791592328, "width": 113126854},
    "shippable": None,
    "statement_descriptor": None,
    "tax_code": None,
    "unit_label": None,
    "updated": 1234567890,
    "url": None,
    "type": "good",
}

_PAYMENT_LINK: dict[str, Any] = {
    "active": True,
    "after_completion": {"hosted_confirmation": {"custom_message": None}, "type": "hosted_confirmation"},
    "allow_promotion_codes": False,
    "application": None,
    "application_fee_amount": None,
    "application_fee_percent": None,
    "automatic_tax": {"enabled": False, "liability": {"type": "account"}},
    "billing_address_collection": "auto",
    "consent_collection": {
        "payment_method_reuse_agreement": {"position": "hidden"},
        "promotions": None,
        "terms_of_service": None,
    },
    "currency": "usd",
    "custom_fields": [],
    "custom_text": {
        "after_submit": {"message": "message"},
        "shipping_address": {"message": "message"},
        "submit": {"message": "message"},
        "terms_of_service_acceptance": {"message": "message"},
    },
    "customer_creation": "if_required",
    "id": "plink_1Pgc78B7WZ01zgkWC75kX0jg",
    "inactive_message": None,
    "invoice_creation": {
        "enabled": True,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "account"},
            "metadata": None,
            "rendering_options": {"amount_tax_display": None, "template": None},
        },
    },
    "livemode": False,
    "metadata": {},
    "object": "payment_link",
    "on_behalf_of": None,
    "payment_intent_data": {
        "capture_method": None,
        "description": None,
        "metadata": {"undefined": "metadata"},
        "setup_future_usage": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "transfer_group": None,
    },
    "payment_method_collection": "if_required",
    "payment_method_types": None,
    "phone_number_collection": {"enabled": False},
    "restrictions": {"completed_sessions": {"count": 94851343, "limit": 102976443}},
    "shipping_address_collection": {"allowed_countries": ["SC"]},
    "shipping_options": [],
    "submit_type": "auto",
    "subscription_data": {
        "description": None,
        "invoice_settings": {"issuer": {"type": "account"}},
        "metadata": {"undefined": "metadata"},
        "trial_period_days": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
    },
    "tax_id_collection": {"enabled": False, "required": "never"},
    "transfer_data": {"amount": None, "destination": {"id": "obj_123", "object": "account"}},
    "url": "https://sangeekp-15t6ai--payment_links_ingress-mydev.dev.stripe.me/test_eVa16Q1Vd7yU1Ne8ww",
    "managed_payments": {"enabled": True},
    "payment_method_options": {"card": {"restrictions": {"brands_blocked": ["discover_global_network"]}}},
}

_CHECKOUT_SESSION: dict[str, Any] = {
    "after_expiration": {"recovery": {"allow_promotion_codes": True, "enabled": True, "expires_at": None, "url": None}},
    "allow_promotion_codes": None,
    "amount_subtotal": None,
    "amount_total": None,
    "automatic_tax": {"enabled": False, "liability": {"type": "account"}, "status": None, "provider": None},
    "billing_address_collection": None,
    "cancel_url": "https://example.com/cancel",
    "client_reference_id": None,
    "client_secret": None,
    "consent": {"promotions": None, "terms_of_service": None},
    "consent_collection": {
        "payment_method_reuse_agreement": {"position": "hidden"},
        "promotions": None,
        "terms_of_service": None,
    },
    "created": 1234567890,
    "currency": None,
    "custom_fields": [],
    "custom_text": {
        "after_submit": {"message": "message"},
        "shipping_address": {"message": "message"},
        "submit": {"message": "message"},
        "terms_of_service_acceptance": {"message": "message"},
    },
    "customer": None,
    "customer_creation": None,
    "customer_details": {
        "address": {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None},
        "email": "example@example.com",
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": None,
        "business_name": None,
        "individual_name": None,
    },
    "customer_email": None,
    "expires_at": 1234567890,
    "id": "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY",
    "invoice": None,
    "invoice_creation": {
        "enabled": True,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "account"},
            "metadata": None,
            "rendering_options": {"amount_tax_display": None, "template": None},
        },
    },
    "livemode": False,
    "locale": None,
    "metadata": {},
    "mode": "payment",
    "object": "checkout.session",
    "payment_intent": "pi_1PgafyB7WZ01zgkWSjxsAJo3",
    "payment_link": None,
    "payment_method_collection": None,
    "payment_method_configuration_details": {"id": "obj_123", "parent": None},
    "payment_method_options": {},
    "payment_method_types": ["card"],
    "payment_status": "unpaid",
    "phone_number_collection": {"enabled": False},
    "recovered_from": None,
    "saved_payment_method_options": {
        "allow_redisplay_filters": None,
        "payment_method_remove": None,
        "payment_method_save": None,
    },
    "setup_intent": None,
    "shipping_address_collection": {"allowed_countries": ["SC"]},
    "shipping_cost": {
        "amount_subtotal": 1555417355,
        "amount_tax": 1424534716,
        "amount_total": 1117121693,
        "shipping_rate": None,
    },
    "shipping_options": [],
    "status": "open",
    "submit_type": None,
    "subscription": None,
    "success_url": "https://example.com/success",
    "total_details": {"amount_discount": 406046392, "amount_shipping": None, "amount_tax": 1424534716},
    "ui_mode": None,
    "url": "https://checkout.stripe.com/pay/c/cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY",
    "adaptive_pricing": {"enabled": True},
    "discounts": None,
    "collected_information": {
        "shipping_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "name": "name",
        },
        "business_name": None,
        "individual_name": None,
    },
    "permissions": {"update_shipping_details": None},
    "wallet_options": {},
    "origin_context": None,
    "currency_conversion": {
        "amount_subtotal": 1555417355,
        "amount_total": 1117121693,
        "fx_rate": "291452898",
        "source_currency": "usd",
    },
    "customer_account": None,
    "integration_identifier": None,
    "managed_payments": {"enabled": True},
}
