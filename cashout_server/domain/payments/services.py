"""Payments: a Stripe payment link or Checkout Session for an item, sent to the buyer's lead.

The row comes first: :func:`create_payment` commits a ``payment_links`` row (``creating``, with its
idempotency key) before Stripe is called with that key. If the process dies or the answer is
lost, asking again for the same payment finds that row and calls Stripe with the same key, so
Stripe replays its first answer instead of creating a second link. The webhook
(:mod:`cashout_server.domain.payments.webhooks`) matches events to rows by ``metadata[payment_id]``,
so a payment made before its row left ``creating`` is still recorded.
"""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import Money
from cashout_server.db.models import Item, Lead, PaymentLink
from cashout_server.domain.payments.stripe_api import StripeFailed, StripeNotConfigured, stripe_api
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.payments")

Kind = Literal["payment_link", "checkout_session"]
Purpose = Literal["full", "deposit"]
KINDS: tuple[Kind, ...] = ("payment_link", "checkout_session")
PURPOSES: tuple[Purpose, ...] = ("full", "deposit")
STATUSES = ("creating", "open", "paid", "expired", "failed")

__all__ = [
    "KINDS",
    "PURPOSES",
    "STATUSES",
    "PaymentInvalid",
    "PaymentNotFound",
    "StripeFailed",
    "StripeNotConfigured",
    "create_payment",
    "payments_query",
]


class PaymentNotFound(LookupError):
    """An item or lead named in the request does not exist.

    Attributes:
        kind: ``item`` or ``lead``.
        public_id: the id asked for.
    """

    def __init__(self, kind: str, public_id: str) -> None:
        super().__init__(f"no {kind} with id {public_id!r}")
        self.kind = kind
        self.public_id = public_id


class PaymentInvalid(ValueError):
    """The payment cannot be made as asked; the message says why."""


def agreed_price(item: Item, lead: Lead | None) -> int:
    """The price the buyer agreed to in the lead's negotiation, else the item's list price."""
    agreed = lead.negotiation.get("agreed_minor") if lead is not None else None
    if isinstance(agreed, int) and not isinstance(agreed, bool) and agreed > 0:
        return agreed
    return item.list_price_minor


def _amount(item: Item, lead: Lead | None, purpose: Purpose, amount_minor: int | None) -> int:
    price = agreed_price(item, lead)
    if purpose == "deposit":
        if amount_minor is None:
            raise PaymentInvalid("a deposit needs an explicit amount_minor")
        if not 0 < amount_minor < price:
            raise PaymentInvalid(f"a deposit must be more than 0 and less than the price ({price})")
        return amount_minor
    amount = price if amount_minor is None else amount_minor
    if amount <= 0:
        raise PaymentInvalid("the amount must be more than 0")
    return amount


def _message(item: Item, payment: PaymentLink) -> str:
    amount = Money(amount_minor=payment.amount_minor, currency=payment.currency).format()
    what = "a deposit for" if payment.purpose == "deposit" else "payment for"
    return f"Here is the link for {what} {item.title} ({amount}): {payment.url}"


async def _send_to_lead(session: AsyncSession, runtime: Runtime, lead: Lead, item: Item, payment: PaymentLink) -> None:
    # The inbox may be absent from this build; the link is made either way and shown in the API.
    try:
        from cashout_server.domain.leads.services import queue_reply
    except ImportError:
        log.info("payment %s: no inbox to send the link through", payment.public_id)
        return
    try:
        await queue_reply(session, runtime, lead, _message(item, payment), author="seller", generated_by="template")
        await session.commit()
    except Exception:
        # The payment exists and is committed; failing the request would invite a second link.
        await session.rollback()
        log.exception("payment %s: the link could not be queued to lead %s", payment.public_id, lead.public_id)


async def create_payment(
    session: AsyncSession,
    runtime: Runtime,
    *,
    item_public_id: str,
    lead_public_id: str | None,
    kind: Kind,
    purpose: Purpose,
    amount_minor: int | None,
    user_id: int | None = None,
) -> PaymentLink:
    """Create a Stripe payment link or Checkout Session for one unit of an item and send it to the lead.

    Commits twice: the ``creating`` row before Stripe is called, its URL and ``open`` status after.
    A ``creating`` row for the same item, lead, kind, purpose and amount (left by a crash or a
    lost answer) is taken up again with its idempotency key instead of making a new one.

    Args:
        session: the session (committed here).
        runtime: the runtime (Stripe settings).
        item_public_id: the item sold (``itm_...``).
        lead_public_id: the buyer's lead (``led_...``); the link is queued to them as a reply.
        kind: ``payment_link`` (reusable URL, single payment) or ``checkout_session`` (expires in 24 h).
        purpose: ``full`` (pays for the item: a sale) or ``deposit`` (holds it: the lead becomes agreed).
        amount_minor: minor units; default the lead's agreed price, else the list price. A deposit
            needs it, below the price.
        user_id: who asked.

    Returns:
        The payment row (``open`` with its URL; ``paid`` if the webhook was faster).

    Raises:
        PaymentNotFound: no such item or lead.
        PaymentInvalid: a bad kind, purpose or amount, a sold-out item, a lead about another item.
        StripeNotConfigured: no Stripe secret key.
        StripeFailed: Stripe refused or did not answer (the row is ``failed``, or still ``creating``
            when retrying with the same key is right).
    """
    if kind not in KINDS:
        raise PaymentInvalid(f"kind must be one of {', '.join(KINDS)}")
    if purpose not in PURPOSES:
        raise PaymentInvalid(f"purpose must be one of {', '.join(PURPOSES)}")
    settings = runtime.settings.stripe
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise StripeNotConfigured("CASHOUT_STRIPE_SECRET_KEY is unset: set it to take payments through Stripe")
    item = await session.scalar(select(Item).where(Item.public_id == item_public_id))
    if item is None:
        raise PaymentNotFound("item", item_public_id)
    lead: Lead | None = None
    if lead_public_id is not None:
        lead = await session.scalar(select(Lead).where(Lead.public_id == lead_public_id))
        if lead is None:
            raise PaymentNotFound("lead", lead_public_id)
        if lead.item_id is not None and lead.item_id != item.id:
            raise PaymentInvalid(f"the lead {lead_public_id!r} is about another item")
    if item.quantity < 1 or item.status == "sold":
        raise PaymentInvalid("the item is sold out")
    amount = _amount(item, lead, purpose, amount_minor)

    payment = await session.scalar(
        select(PaymentLink)
        .where(
            PaymentLink.item_id == item.id,
            PaymentLink.lead_id == lead.id if lead is not None else PaymentLink.lead_id.is_(None),
            PaymentLink.kind == kind,
            PaymentLink.purpose == purpose,
            PaymentLink.amount_minor == amount,
            PaymentLink.currency == item.currency,
            PaymentLink.status == "creating",
        )
        .order_by(PaymentLink.id)
        .limit(1)
    )
    if payment is None:
        public_id = new_id("payment")
        payment = PaymentLink(
            public_id=public_id,
            item_id=item.id,
            lead_id=lead.id if lead is not None else None,
            kind=kind,
            purpose=purpose,
            amount_minor=amount,
            currency=item.currency,
            status="creating",
            idempotency_key=f"cashout-{public_id}",
            created_by_id=user_id,
        )
        session.add(payment)
    await session.commit()

    metadata = {"payment_id": payment.public_id, "item_id": item.public_id, "purpose": purpose}
    if lead is not None:
        metadata["lead_id"] = lead.public_id
    name = f"Deposit: {item.title}" if purpose == "deposit" else item.title
    try:
        async with stripe_api(settings) as api:
            if kind == "payment_link":
                created = await api.create_payment_link(
                    idempotency_key=payment.idempotency_key,
                    amount_minor=amount,
                    currency=item.currency,
                    name=name[:250],
                    metadata=metadata,
                    redirect_url=settings.success_url,
                )
            else:
                created = await api.create_checkout_session(
                    idempotency_key=payment.idempotency_key,
                    amount_minor=amount,
                    currency=item.currency,
                    name=name[:250],
                    metadata=metadata,
                    client_reference_id=payment.public_id,
                    success_url=settings.success_url or f"{runtime.settings.server.base_url}/paid",
                )
    except StripeFailed as exc:
        if not exc.retry_same_key:
            await session.execute(
                update(PaymentLink)
                .where(PaymentLink.id == payment.id, PaymentLink.status == "creating")
                .values(status="failed")
            )
            await session.commit()
        raise
    # The webhook may have been faster (and set the status to paid): only "creating" becomes "open".
    await session.execute(
        update(PaymentLink).where(PaymentLink.id == payment.id).values(stripe_id=created.stripe_id, url=created.url)
    )
    await session.execute(
        update(PaymentLink).where(PaymentLink.id == payment.id, PaymentLink.status == "creating").values(status="open")
    )
    await session.commit()
    await session.refresh(payment)
    if lead is not None and payment.status == "open":
        await _send_to_lead(session, runtime, lead, item, payment)
    return payment


def payments_query(
    *, item_id: int | None = None, lead_id: int | None = None, status: str | None = None
) -> Select[PaymentLink]:
    """Payments filtered by item, lead and status, unordered."""
    query = select(PaymentLink)
    if item_id is not None:
        query = query.where(PaymentLink.item_id == item_id)
    if lead_id is not None:
        query = query.where(PaymentLink.lead_id == lead_id)
    if status is not None:
        query = query.where(PaymentLink.status == status)
    return query
