"""The calls cashout makes to Stripe, through the official ``stripe`` library's async client.

Every POST carries an idempotency key derived from the payment row written before the call, so a
retry (by the library after a network error, or by a person after a crash) replays Stripe's first
answer and never creates a second object. Errors come back as :class:`StripeFailed` with Stripe's
message, with anything that looks like an API key masked.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from stripe.params import PaymentLinkCreateParams

from cashout_server.settings import StripeSettings

MAX_NETWORK_RETRIES = 2
"""Retries of a request after a network error, 409 or 5xx (the library's rules; same idempotency key)."""
TIMEOUT = 30.0
"""Seconds one request to Stripe may take."""

_SECRETISH = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


class StripeHTTPXClient(stripe.HTTPXClient):
    """The library's httpx client, sending the encoded form as ``content``.

    stripe 16 passes the already-encoded body as ``data=<str>``, which httpx deprecates (a
    ``DeprecationWarning`` on every POST); the bytes on the wire are the same.
    """

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Any, post_data: Any
    ) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args, kwargs


class StripeNotConfigured(RuntimeError):
    """``CASHOUT_STRIPE_SECRET_KEY`` is unset, so payments are off."""


@dataclass
class StripeFailed(Exception):
    """Stripe refused or could not be reached.

    Attributes:
        message: Stripe's message (keys masked).
        status: Stripe's HTTP status (``None``: no answer).
        retry_same_key: the outcome is unknown or nothing was done (network error, rate limit, a
            concurrent request with the key): retrying with the same idempotency key is right.
    """

    message: str
    status: int | None
    retry_same_key: bool

    def __str__(self) -> str:
        return self.message


def _failed(exc: stripe.StripeError) -> StripeFailed:
    message = _SECRETISH.sub("[redacted]", exc.user_message or type(exc).__name__)
    status = exc.http_status
    unknown = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or status == 409
    return StripeFailed(message=message, status=status, retry_same_key=unknown)


@dataclass
class Created:
    """What Stripe created: its id and the URL the buyer pays at."""

    stripe_id: str
    url: str


class StripeApi:
    """One use of Stripe's API (open it with :func:`stripe_api`)."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    async def create_payment_link(
        self,
        *,
        idempotency_key: str,
        amount_minor: int,
        currency: str,
        name: str,
        metadata: dict[str, str],
        redirect_url: str | None,
    ) -> Created:
        """Create a Price for ``name`` and a single-use Payment Link selling one of it.

        Raises:
            StripeFailed: Stripe refused or did not answer.
        """
        try:
            price = await self._client.v1.prices.create_async(
                {"currency": currency.lower(), "unit_amount": amount_minor, "product_data": {"name": name}},
                {"idempotency_key": f"{idempotency_key}-price"},
            )
            params: PaymentLinkCreateParams = {
                "line_items": [{"price": price.id, "quantity": 1}],
                "metadata": metadata,
                # One payment per link: a second buyer cannot pay for an item that is gone.
                "restrictions": {"completed_sessions": {"limit": 1}},
            }
            if redirect_url:
                params["after_completion"] = {"type": "redirect", "redirect": {"url": redirect_url}}
            link = await self._client.v1.payment_links.create_async(
                params,
                {"idempotency_key": f"{idempotency_key}-link"},
            )
        except stripe.StripeError as exc:
            raise _failed(exc) from None
        return Created(stripe_id=link.id, url=link.url)

    async def create_checkout_session(
        self,
        *,
        idempotency_key: str,
        amount_minor: int,
        currency: str,
        name: str,
        metadata: dict[str, str],
        client_reference_id: str,
        success_url: str,
    ) -> Created:
        """Create a Checkout Session (``mode=payment``) for one unit at ``amount_minor``.

        Raises:
            StripeFailed: Stripe refused or did not answer.
        """
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                {
                    "mode": "payment",
                    "line_items": [
                        {
                            "price_data": {
                                "currency": currency.lower(),
                                "unit_amount": amount_minor,
                                "product_data": {"name": name},
                            },
                            "quantity": 1,
                        }
                    ],
                    "success_url": success_url,
                    "client_reference_id": client_reference_id,
                    "metadata": metadata,
                },
                {"idempotency_key": f"{idempotency_key}-session"},
            )
        except stripe.StripeError as exc:
            raise _failed(exc) from None
        if session.url is None:
            raise StripeFailed(
                message="Stripe returned a Checkout Session without a URL", status=None, retry_same_key=False
            )
        return Created(stripe_id=session.id, url=session.url)


@asynccontextmanager
async def stripe_api(settings: StripeSettings) -> AsyncIterator[StripeApi]:
    """Stripe's async client for ``settings`` (closed on exit).

    Raises:
        StripeNotConfigured: no secret key is set.
    """
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise StripeNotConfigured("CASHOUT_STRIPE_SECRET_KEY is unset: set it to take payments through Stripe")
    http = StripeHTTPXClient(timeout=TIMEOUT)
    client = stripe.StripeClient(
        settings.secret_key.get_secret_value(),
        base_addresses={"api": settings.api_base.rstrip("/")},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http,
    )
    try:
        yield StripeApi(client)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
