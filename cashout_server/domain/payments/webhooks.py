"""Stripe's webhook: verify the signature, store each event once, and apply it to its payment.

* **Signature**: ``Stripe-Signature`` is checked on the raw body with the ``stripe`` library's own
  scheme (HMAC-SHA256 over ``"<t>.<body>"``), a timestamp no older than the tolerance, and, which
  the library does not check, no further than the tolerance in the future.
* **Once**: the event's id goes into ``stripe_events`` (unique) as the first write of the
  transaction that applies it. A repeat finds it and does nothing; two deliveries at once queue on
  the constraint and the second sees the first's commit. If applying fails, the whole
  transaction (event row included) rolls back and Stripe's retry applies it later.
* **Order**: a payment that is ``paid`` stays paid whatever arrives later (an expiry, a link
  update); a payment still ``creating`` (our call to Stripe has not returned yet) is found by the
  ``metadata[payment_id]`` the event carries.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import Money
from cashout_server.db.models import Item, Lead, LeadEvent, PaymentLink, StripeEvent, utcnow
from cashout_server.domain.sales.services import SaleInvalid, record_sale
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.payments")

PAID_TYPES = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
OPEN = ("creating", "open")


class SignatureInvalid(Exception):
    """The request is not a genuine, recent Stripe event (the reason is logged, never answered)."""


class WebhookNotConfigured(RuntimeError):
    """``CASHOUT_STRIPE_WEBHOOK_SECRET`` is unset."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an event: ``processed``, ``ignored``, ``failed`` (stored) or ``duplicate``."""

    status: str
    detail: str = ""


def verify(
    payload: bytes, header: str | None, secret: str, tolerance: int, *, now: float | None = None
) -> dict[str, Any]:
    """Check ``Stripe-Signature`` on the raw ``payload`` and return the event.

    Args:
        payload: the raw request body, exactly as received.
        header: the ``Stripe-Signature`` header.
        secret: the endpoint's signing secret (``whsec_...``).
        tolerance: seconds the signed timestamp may lie in the past or in the future.
        now: the current Unix time (for tests of the future check).

    Returns:
        The event object.

    Raises:
        SignatureInvalid: missing or wrong signature, a timestamp out of tolerance, or a body that is
            not an event.
    """
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise SignatureInvalid(str(exc)) from None
    assert header is not None  # verify_header refuses a missing header
    stamps = [part.partition("=")[2] for part in header.split(",") if part.partition("=")[0] == "t"]
    current = time.time() if now is None else now
    if int(stamps[0]) > current + tolerance:
        raise SignatureInvalid("timestamp too far in the future")
    try:
        event = json.loads(payload)
    except ValueError:
        raise SignatureInvalid("body is not JSON") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
        or not isinstance(event["data"].get("object"), dict)
    ):
        raise SignatureInvalid("body is not an event")
    return event


async def _find_payment(session: AsyncSession, obj: dict[str, Any]) -> PaymentLink | None:
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    conditions = []
    for value in (metadata.get("payment_id"), obj.get("client_reference_id")):
        if isinstance(value, str) and value:
            conditions.append(PaymentLink.public_id == value)
    for value in (obj.get("id"), obj.get("payment_link")):
        if isinstance(value, str) and value:
            conditions.append(PaymentLink.stripe_id == value)
    if not conditions:
        return None
    # Events about one payment (completed, then async_payment_succeeded) take turns on PostgreSQL.
    query = select(PaymentLink).where(or_(*conditions)).order_by(PaymentLink.id).limit(1).with_for_update()
    return await session.scalar(query)


async def _paid(session: AsyncSession, runtime: Runtime, payment: PaymentLink, obj: dict[str, Any]) -> Outcome:
    reference = obj.get("payment_intent") or obj.get("id")
    if payment.status == "paid":
        return Outcome("ignored", f"payment {payment.public_id} was already paid (this one: {reference})")
    if payment.stripe_id is None:
        found = obj.get("payment_link") if payment.kind == "payment_link" else obj.get("id")
        payment.stripe_id = found if isinstance(found, str) else None
    payment.status = "paid"
    payment.paid_at = utcnow()
    amount = obj.get("amount_total")
    currency = obj.get("currency")
    price = (
        Money(amount_minor=amount, currency=currency.upper())
        if isinstance(amount, int) and isinstance(currency, str)
        else None
    )
    item = await session.get(Item, payment.item_id)
    lead = await session.get(Lead, payment.lead_id) if payment.lead_id is not None else None
    assert item is not None  # payments are deleted with their item
    if payment.purpose == "deposit":
        if lead is not None:
            if lead.state != "won":
                lead.state = "agreed"
            session.add(
                LeadEvent(
                    lead_id=lead.id,
                    kind="deposit",
                    detail="deposit paid" + (f": {price.format()}" if price is not None else ""),
                    data={
                        "payment_id": payment.public_id,
                        "amount_minor": amount,
                        "currency": price.currency if price is not None else None,
                        "payment_ref": reference,
                    },
                )
            )
        return Outcome("processed", f"deposit for {item.public_id} paid")
    try:
        sale = await record_sale(
            session,
            runtime,
            item=item,
            quantity=1,
            price=price,
            listing=None,
            source="payment",
            note=f"paid through Stripe ({payment.kind} {payment.public_id})",
            platform=lead.platform if lead is not None else None,
            lead=lead,
            payment_method="stripe",
            payment_ref=reference if isinstance(reference, str) else None,
        )
    except SaleInvalid as exc:
        log.warning("payment %s was paid but no sale could be recorded: %s", payment.public_id, exc)
        return Outcome("failed", f"paid, but the sale could not be recorded ({exc}): refund or record it by hand")
    payment.sale_id = sale.id
    return Outcome("processed", f"sale {sale.public_id} recorded")


async def _apply(session: AsyncSession, runtime: Runtime, event_type: str, obj: dict[str, Any]) -> Outcome:
    if event_type not in PAID_TYPES | {
        "checkout.session.expired",
        "checkout.session.async_payment_failed",
        "payment_link.updated",
    }:
        return Outcome("ignored", "event type not handled")
    payment = await _find_payment(session, obj)
    if payment is None:
        return Outcome("ignored", "not a cashout payment")
    if event_type == "checkout.session.completed" and obj.get("payment_status") != "paid":
        if obj.get("payment_status") == "unpaid":
            return Outcome("processed", f"payment {payment.public_id}: waiting for the payment to clear")
        return Outcome("ignored", f"payment status {obj.get('payment_status')!r}")
    if event_type in PAID_TYPES:
        return await _paid(session, runtime, payment, obj)
    if payment.status not in OPEN:
        return Outcome("ignored", f"payment {payment.public_id} is already {payment.status}")
    if event_type == "checkout.session.async_payment_failed":
        payment.status = "failed"
        return Outcome("processed", f"payment {payment.public_id} failed")
    if event_type == "checkout.session.expired":
        if payment.kind != "checkout_session":
            return Outcome("ignored", "a session of a payment link expired; the link stays open")
        payment.status = "expired"
        return Outcome("processed", f"payment {payment.public_id} expired")
    if obj.get("active") is False:
        payment.status = "expired"
        return Outcome("processed", f"payment link {payment.public_id} deactivated")
    return Outcome("ignored", "payment link still active")


async def handle_event(runtime: Runtime, event: dict[str, Any]) -> Outcome:
    """Store a verified event once and apply it (in one transaction of its own).

    Returns:
        What became of it; ``duplicate`` when it had been received before.
    """
    obj: dict[str, Any] = event["data"]["object"]
    created = event.get("created")
    async with runtime.session() as session:
        row = StripeEvent(
            event_id=event["id"],
            type=event["type"][:100],
            object_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
            created=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else utcnow(),
            status="received",
        )
        session.add(row)
        try:
            # First write of the transaction: a concurrent duplicate waits here, then fails.
            await session.flush()
        except IntegrityError:
            await session.rollback()
            return Outcome("duplicate", "event already received")
        outcome = await _apply(session, runtime, event["type"], obj)
        row.status = outcome.status
        row.detail = outcome.detail
        row.processed_at = utcnow()
        await session.commit()
    log.info("stripe event %s (%s): %s %s", event["id"], event["type"], outcome.status, outcome.detail)
    return outcome
