"""The outbox: changes that must reach a platform, written in the transaction that caused them.

A delivery row is created by :func:`enqueue` inside the caller's transaction, so the business
change and the promise to deliver it commit together or not at all. The worker
(:mod:`cashout_server.domain.delivery.worker`) claims due rows and calls the plugin.

States::

    awaiting_approval ──approve──> queued ──claim──> in_flight ──> done
           │ reject                  ^  │                 │
           v                         │  └─cancel─> cancelled
       cancelled                     └── retry (backoff, Retry-After, check first) ┘
                                                          │
                                             dead (gave up; retry action) / unknown (a person decides)
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cashout_server.contract import Action
from cashout_server.db.models import Approval, Connection, Delivery, Listing, utcnow
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime


class DeliveryState(enum.StrEnum):
    """Where a delivery stands."""

    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    UNKNOWN = "unknown"
    """It may have been applied and the platform cannot be asked: a person decides."""
    DEAD = "dead"
    """Given up after repeated failures, or failed in a way a retry cannot fix; see ``last_error``."""
    CANCELLED = "cancelled"


class DeliveryAction(enum.StrEnum):
    """What a delivery does on the platform."""

    PUBLISH = "publish"
    UPDATE = "update"
    DELIST = "delist"
    CHECK = "check"
    """Ask the platform about a listing it has not decided on (after ``Pending``)."""
    REPLY = "reply"
    """Send a message to a buyer (``lead_id`` set; the text is the lead message in the payload)."""


OPEN_STATES = (DeliveryState.AWAITING_APPROVAL, DeliveryState.QUEUED, DeliveryState.IN_FLIGHT)
_GATED = {
    DeliveryAction.PUBLISH: Action.PUBLISH,
    DeliveryAction.UPDATE: Action.UPDATE,
    DeliveryAction.DELIST: Action.DELIST,
    DeliveryAction.REPLY: Action.REPLY,
}


class DeliveryConflict(Exception):
    """The delivery is not in a state that allows the step; the message says why."""


def approval_required(runtime: Runtime, connection: Connection, action: DeliveryAction) -> bool:
    """Whether ``action`` on ``connection`` waits for a person: the connection's policy, else the plugin's default."""
    gated = _GATED.get(action)
    if gated is None:
        return False
    policy = connection.approval_policy or {}
    if gated.value in policy:
        return bool(policy[gated.value])
    desc = runtime.registry.platforms.get(connection.platform)
    return desc is not None and gated in desc.approval_required


def wake_after_commit(session: AsyncSession, runtime: Runtime) -> None:
    """Wake this process's delivery worker once the session's transaction commits."""

    def wake(_: Session) -> None:
        runtime.wake_delivery()

    if not event.contains(session.sync_session, "after_commit", wake):
        event.listen(session.sync_session, "after_commit", wake, once=True)


async def enqueue(
    session: AsyncSession,
    runtime: Runtime,
    *,
    connection: Connection,
    listing: Listing | None,
    action: DeliveryAction,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    must_check: bool = False,
    approval: bool = True,
    require_approval: bool = False,
    summary: str = "",
    lead_id: int | None = None,
) -> Delivery:
    """Add a delivery to the outbox in the caller's transaction (the caller commits).

    Args:
        session: the session holding the change that causes this delivery.
        runtime: the runtime (plugins, settings).
        connection: the account it goes to.
        listing: the listing it concerns, if any.
        action: what to do there.
        payload: extra data for the worker.
        not_before: earliest time to attempt it (default: now).
        must_check: an earlier attempt may have been applied; ask ``check_status`` before sending.
        approval: apply the approval policy (``False`` for takedowns after a sale, which must not wait).
        require_approval: wait for a person whatever the policy says (an uncertain auto-reply).
        summary: what a person approving it reads.
        lead_id: the conversation a reply answers.

    Returns:
        The new delivery (``queued`` or ``awaiting_approval``).
    """
    waits = require_approval or (approval and approval_required(runtime, connection, action))
    delivery = Delivery(
        public_id=new_id("delivery"),
        connection_id=connection.id,
        listing_id=listing.id if listing is not None else None,
        lead_id=lead_id,
        action=action.value,
        idempotency_key=uuid.uuid4().hex,
        payload=dict(payload or {}),
        state=(DeliveryState.AWAITING_APPROVAL if waits else DeliveryState.QUEUED).value,
        next_attempt_at=not_before or utcnow(),
        must_check=must_check,
    )
    session.add(delivery)
    await session.flush()
    if waits:
        session.add(
            Approval(
                public_id=new_id("approval"),
                delivery_id=delivery.id,
                action=_GATED[action].value,
                summary=summary or f"{action.value} on {connection.name} ({connection.platform})",
            )
        )
        await session.flush()
    wake_after_commit(session, runtime)
    return delivery


async def open_deliveries(session: AsyncSession, listing: Listing) -> list[Delivery]:
    """The listing's deliveries that are not finished, oldest first."""
    rows = await session.scalars(
        select(Delivery)
        .where(Delivery.listing_id == listing.id, Delivery.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Delivery.id)
    )
    return list(rows)


async def latest_deliveries(session: AsyncSession, listing_ids: list[int]) -> dict[int, Delivery]:
    """The most recent delivery of each listing (checks excluded unless nothing else exists)."""
    if not listing_ids:
        return {}
    rows = await session.scalars(
        select(Delivery).where(Delivery.listing_id.in_(listing_ids)).order_by(Delivery.listing_id, Delivery.id)
    )
    out: dict[int, Delivery] = {}
    for row in rows:
        assert row.listing_id is not None
        current = out.get(row.listing_id)
        if current is None or row.action != DeliveryAction.CHECK or current.action == DeliveryAction.CHECK:
            out[row.listing_id] = row
    return out


async def cancel(session: AsyncSession, delivery: Delivery, *, reason: str) -> None:
    """Cancel a delivery that has not started (queued or awaiting approval).

    Raises:
        DeliveryConflict: it is in flight or finished.
    """
    if delivery.state not in (DeliveryState.QUEUED, DeliveryState.AWAITING_APPROVAL):
        raise DeliveryConflict(f"the delivery is {delivery.state}; only a queued or waiting one can be cancelled")
    delivery.state = DeliveryState.CANCELLED.value
    delivery.last_error = reason
    delivery.finished_at = utcnow()
    await session.execute(
        update(Approval)
        .where(Approval.delivery_id == delivery.id, Approval.status == "pending")
        .values(status="cancelled", decided_at=utcnow(), note=reason)
    )
    await session.flush()


async def retry(session: AsyncSession, runtime: Runtime, delivery: Delivery) -> None:
    """Put a dead (or unknown) delivery back in the queue, now.

    An ``unknown`` publication is retried by checking the platform first, never by sending blindly.

    Raises:
        DeliveryConflict: the delivery is not dead or unknown.
    """
    if delivery.state not in (DeliveryState.DEAD, DeliveryState.UNKNOWN):
        raise DeliveryConflict(f"the delivery is {delivery.state}; only a dead or unknown one can be retried")
    if delivery.state == DeliveryState.UNKNOWN:
        delivery.must_check = True
    delivery.state = DeliveryState.QUEUED.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.finished_at = None
    await session.flush()
    wake_after_commit(session, runtime)


async def decide(
    session: AsyncSession, runtime: Runtime, approval: Approval, *, approve: bool, user_id: int, note: str
) -> Delivery:
    """Approve (queue now) or reject (cancel) the delivery behind ``approval``.

    Raises:
        DeliveryConflict: the approval was already decided.
    """
    if approval.status != "pending":
        raise DeliveryConflict(f"the approval is already {approval.status}")
    delivery = await session.get_one(Delivery, approval.delivery_id)
    approval.status = "approved" if approve else "rejected"
    approval.decided_at = utcnow()
    approval.decided_by_id = user_id
    approval.note = note
    if approve:
        delivery.state = DeliveryState.QUEUED.value
        delivery.next_attempt_at = utcnow()
        wake_after_commit(session, runtime)
    else:
        delivery.state = DeliveryState.CANCELLED.value
        delivery.finished_at = utcnow()
        delivery.last_error = f"rejected by a person{': ' + note if note else ''}"
    await session.flush()
    return delivery


async def recover_abandoned(session: AsyncSession, *, everything: bool = False) -> int:
    """Return deliveries whose worker stopped mid-delivery to the queue, to be checked before resending.

    Args:
        session: a session (this commits nothing; the caller commits).
        everything: recover every in-flight row, not only those whose lease ran out (a single
            SQLite worker at start-up: nobody else can be delivering them).

    Returns:
        How many rows were recovered.
    """
    now = utcnow()
    query = select(Delivery).where(Delivery.state == DeliveryState.IN_FLIGHT.value)
    if not everything:
        query = query.where(or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
    rows = list(await session.scalars(query.with_for_update(skip_locked=True)))
    for row in rows:
        # The plugin may have been called and may have applied it; a publication is checked first.
        row.must_check = row.must_check or row.action in (DeliveryAction.PUBLISH, DeliveryAction.REPLY)
        row.state = DeliveryState.QUEUED.value
        row.next_attempt_at = now
        row.lease_until = None
        row.claimed_by = None
        row.last_error = "the worker stopped while delivering this; the platform is checked before anything is resent"
    await session.flush()
    return len(rows)


def in_seconds(seconds: float) -> datetime:
    """The time ``seconds`` from now."""
    return utcnow() + timedelta(seconds=seconds)
