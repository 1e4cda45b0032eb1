"""``/api/v1/payments`` (Stripe payment links and Checkout Sessions) and the public ``/webhooks/stripe``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from cashout_server.auth import principal_of
from cashout_server.db.models import Item, Lead, PaymentLink, Sale
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.payments import services, webhooks
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, not_found

log = logging.getLogger("cashout.payments")

PublicId = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Status = Literal["creating", "open", "paid", "expired", "failed"]


class PaymentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A payment to ask a buyer for."""

    item_id: PublicId
    """The item (``itm_...``)."""
    lead_id: PublicId | None = None
    """The buyer's lead (``led_...``); the link is sent to them as a reply."""
    kind: services.Kind = "payment_link"
    """``payment_link`` (a link that takes one payment) or ``checkout_session`` (expires after 24 hours)."""
    purpose: services.Purpose = "full"
    """``full`` (a paid one records the sale) or ``deposit`` (holds the item; the lead becomes agreed)."""
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=10**12)] | None = None
    """Default: the price agreed in the lead's negotiation, else the list price. Required for a deposit."""


class PaymentOut(msgspec.Struct, kw_only=True):
    """A payment link or Checkout Session."""

    id: str
    item_id: str
    lead_id: str | None
    kind: str
    purpose: str
    amount_minor: int
    currency: str
    status: str
    """``creating``, ``open``, ``paid``, ``expired`` or ``failed``."""
    url: str | None
    """Where the buyer pays (``null`` until Stripe has answered)."""
    stripe_id: str | None
    sale_id: str | None
    created_at: datetime
    paid_at: datetime | None


async def _outs(db: Db, rows: list[PaymentLink]) -> list[PaymentOut]:
    items = {i.id: i.public_id for i in await db.scalars(select(Item).where(Item.id.in_({r.item_id for r in rows})))}
    lead_ids = {r.lead_id for r in rows if r.lead_id is not None}
    leads = (
        dict((await db.execute(select(Lead.id, Lead.public_id).where(Lead.id.in_(lead_ids)))).all()) if lead_ids else {}
    )
    sale_ids = {r.sale_id for r in rows if r.sale_id is not None}
    sales = (
        dict((await db.execute(select(Sale.id, Sale.public_id).where(Sale.id.in_(sale_ids)))).all()) if sale_ids else {}
    )
    return [
        PaymentOut(
            id=r.public_id,
            item_id=items[r.item_id],
            lead_id=leads.get(r.lead_id) if r.lead_id is not None else None,
            kind=r.kind,
            purpose=r.purpose,
            amount_minor=r.amount_minor,
            currency=r.currency,
            status=r.status,
            url=r.url,
            stripe_id=r.stripe_id,
            sale_id=sales.get(r.sale_id) if r.sale_id is not None else None,
            created_at=r.created_at,
            paid_at=r.paid_at,
        )
        for r in rows
    ]


class PaymentController(Controller):
    """Payments through Stripe."""

    path = "/api/v1/payments"
    tags = ["payments"]

    @get("/", operation_id="listPayments")
    async def list_payments(
        self,
        db: Db,
        item_id: FromQuery[str | None] = None,
        lead_id: FromQuery[str | None] = None,
        status: FromQuery[Status | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[PaymentOut]:
        """Payments, oldest first, by item, lead or status."""
        item_pk = lead_pk = None
        if item_id:
            item_pk = await db.scalar(select(Item.id).where(Item.public_id == item_id))
            if item_pk is None:
                raise not_found("item", item_id)
        if lead_id:
            lead_pk = await db.scalar(select(Lead.id).where(Lead.public_id == lead_id))
            if lead_pk is None:
                raise not_found("lead", lead_id)
        query = services.payments_query(item_id=item_pk, lead_id=lead_pk, status=status)
        rows, after = await fetch_page(db, query, PaymentLink.id, limit, cursor)
        return Page(data=await _outs(db, rows), next_cursor=after)

    @get("/{payment_id:str}", operation_id="getPayment")
    async def get_payment(self, db: Db, payment_id: FromPath[str]) -> PaymentOut:
        """One payment."""
        row = await db.scalar(select(PaymentLink).where(PaymentLink.public_id == payment_id))
        if row is None:
            raise not_found("payment", payment_id)
        return (await _outs(db, [row]))[0]

    @post("/", operation_id="createPayment")
    async def create_payment(
        self, request: Request[Any, Any, Any], runtime: RuntimeDep, db: Db, data: JSONBody[PaymentCreate]
    ) -> PaymentOut:
        """Create a Stripe payment link or Checkout Session for one unit of an item.

        With a lead, the link is queued to the buyer as a reply. When Stripe's answer was lost (a
        502 saying so, or a crash), asking again for the same payment replays Stripe's first answer:
        no second link is created. A paid ``full`` payment records the sale (see ``/webhooks/stripe``).
        """
        try:
            row = await services.create_payment(
                db,
                runtime,
                item_public_id=data.item_id,
                lead_public_id=data.lead_id,
                kind=data.kind,
                purpose=data.purpose,
                amount_minor=data.amount_minor,
                user_id=principal_of(request).user_id,
            )
        except services.PaymentNotFound as exc:
            raise not_found(exc.kind, exc.public_id) from None
        except services.PaymentInvalid as exc:
            raise ProblemError(422, str(exc), slug="invalid-payment") from None
        except services.StripeNotConfigured as exc:
            raise ProblemError(409, str(exc), slug="stripe-not-configured") from None
        except services.StripeFailed as exc:
            raise ProblemError(
                502,
                f"Stripe: {exc.message}",
                slug="stripe-error",
                stripe_status=exc.status,
                retry_same_request=exc.retry_same_key,
            ) from None
        return (await _outs(db, [row]))[0]


class StripeWebhookReceipt(msgspec.Struct, kw_only=True):
    """The answer Stripe gets (it only looks at the status)."""

    received: bool
    status: str


class StripeWebhookController(Controller):
    """Events from Stripe; authenticated by their signature, not by a token."""

    path = "/webhooks/stripe"
    tags = ["webhooks"]

    @post("/", operation_id="stripeWebhook", status_code=200, exclude_from_auth=True, security=[{}])
    async def receive(self, request: Request[Any, Any, Any], runtime: RuntimeDep) -> StripeWebhookReceipt:
        """A Stripe event, signed with the endpoint's secret (``Stripe-Signature``).

        Each event is applied once however often it arrives; a paid Checkout Session records the
        sale (or, for a deposit, marks the lead agreed). Events of other types are stored and ignored.
        """
        settings = runtime.settings.stripe
        if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
            # Nothing can be verified: refuse like a bad signature (Stripe retries) and tell the operator.
            log.warning("refused a Stripe webhook request: CASHOUT_STRIPE_WEBHOOK_SECRET is unset")
            raise ProblemError(400, "signature verification failed", slug="invalid-signature")
        payload = await request.body()
        try:
            event = webhooks.verify(
                payload,
                request.headers.get("stripe-signature"),
                settings.webhook_secret.get_secret_value(),
                settings.webhook_tolerance,
            )
        except webhooks.SignatureInvalid as exc:
            log.warning("refused a Stripe webhook request: %s", exc)
            raise ProblemError(400, "signature verification failed", slug="invalid-signature") from None
        outcome = await webhooks.handle_event(runtime, event)
        return StripeWebhookReceipt(received=True, status=outcome.status)


PAID_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment received</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Thank you, your payment was received.</h1>
<p>The seller has been told and will be in touch about pickup or delivery. You can close this page.</p>
</body></html>
"""


@get("/paid", operation_id="paymentReceived", exclude_from_auth=True, security=[{}], tags=["payments"])
async def paid_page() -> Response[bytes]:
    """Where buyers land after paying through Checkout (unless ``CASHOUT_STRIPE_SUCCESS_URL`` is set)."""
    return Response(content=PAID_PAGE, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})
