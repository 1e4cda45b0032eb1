"""``/api/v1/deliveries`` (the outbox, with retry and cancel) and ``/api/v1/approvals`` (the queue a person decides)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from cashout_server.auth import principal_of
from cashout_server.db.models import Approval, Connection, Delivery, DeliveryAttempt, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.delivery import services
from cashout_server.domain.delivery.services import DeliveryAction, DeliveryState
from cashout_server.domain.leads.services import on_reply_decided
from cashout_server.domain.listings.services import ListingStatus, record
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import conflict, not_found


class DeliveryBrief(msgspec.Struct, kw_only=True):
    """Where a listing's latest delivery stands."""

    id: str
    action: DeliveryAction
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    """When the worker tries next (queued deliveries only)."""
    last_error: str | None


class AttemptOut(msgspec.Struct, kw_only=True):
    """One try at a delivery."""

    number: int
    hook: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    detail: str


class DeliveryOut(msgspec.Struct, kw_only=True):
    """One outbox row."""

    id: str
    action: DeliveryAction
    state: DeliveryState
    connection_id: str
    platform: str
    listing_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    must_check: bool
    """An earlier attempt may have been applied: the platform is asked before anything is resent."""
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    history: list[AttemptOut] | None = None
    """Every attempt (in ``GET /deliveries/{id}`` only)."""


class DeliveryCounts(msgspec.Struct, kw_only=True):
    """How many deliveries are in each state, per platform, and the worker's circuit breakers."""

    by_state: dict[str, int]
    by_platform: dict[str, dict[str, int]]
    breakers: dict[str, str]
    """Platform to ``closed``, ``open`` or ``half_open`` (this process's worker)."""


class ApprovalOut(msgspec.Struct, kw_only=True):
    """A change waiting for (or decided by) a person."""

    id: str
    action: str
    status: str
    summary: str
    delivery_id: str
    listing_id: str | None
    platform: str
    created_at: datetime
    decided_at: datetime | None
    note: str
    lead_id: str | None = None
    """For replies: the conversation (``GET /api/v1/leads/{lead_id}``)."""
    message_id: str | None = None
    """For replies: the drafted message on that lead."""


class Decision(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person's note on an approval decision."""

    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


def brief(delivery: Delivery) -> DeliveryBrief:
    """The short view of a delivery embedded in a listing."""
    return DeliveryBrief(
        id=delivery.public_id,
        action=DeliveryAction(delivery.action),
        state=DeliveryState(delivery.state),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.state == DeliveryState.QUEUED else None,
        last_error=delivery.last_error,
    )


def _out(delivery: Delivery, listing_public_id: str | None, history: list[AttemptOut] | None = None) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.public_id,
        action=DeliveryAction(delivery.action),
        state=DeliveryState(delivery.state),
        connection_id=delivery.connection.public_id,
        platform=delivery.connection.platform,
        listing_id=listing_public_id,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.state == DeliveryState.QUEUED else None,
        must_check=delivery.must_check,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        finished_at=delivery.finished_at,
        history=history,
    )


async def _load(db: Db, delivery_id: str) -> Delivery:
    delivery = await db.scalar(
        select(Delivery)
        .where(Delivery.public_id == delivery_id)
        .options(
            selectinload(Delivery.connection),
            selectinload(Delivery.listing).selectinload(Listing.item),
            selectinload(Delivery.listing).selectinload(Listing.connection),
        )
    )
    if delivery is None:
        raise not_found("delivery", delivery_id)
    return delivery


async def _detail(db: Db, delivery: Delivery) -> DeliveryOut:
    attempts = await db.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id).order_by(DeliveryAttempt.id)
    )
    history = [
        AttemptOut(
            number=a.number,
            hook=a.hook,
            started_at=a.started_at,
            finished_at=a.finished_at,
            outcome=a.outcome,
            detail=a.detail,
        )
        for a in attempts
    ]
    return _out(delivery, delivery.listing.public_id if delivery.listing else None, history)


class DeliveryController(Controller):
    """The outbox: every change on its way to a platform."""

    path = "/api/v1/deliveries"
    tags = ["deliveries"]

    @get("/", operation_id="listDeliveries")
    async def list_deliveries(
        self,
        db: Db,
        delivery_state: Annotated[DeliveryState | None, QueryParameter(name="state")] = None,
        action: FromQuery[DeliveryAction | None] = None,
        listing_id: FromQuery[str | None] = None,
        connection_id: FromQuery[str | None] = None,
        platform: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[DeliveryOut]:
        """Deliveries, oldest first, by state (``dead`` is the dead-letter list), action, listing or account."""
        query = (
            select(Delivery)
            .join(Connection, Connection.id == Delivery.connection_id)
            .outerjoin(Listing, Listing.id == Delivery.listing_id)
            .options(selectinload(Delivery.connection), selectinload(Delivery.listing))
        )
        if delivery_state is not None:
            query = query.where(Delivery.state == delivery_state.value)
        if action is not None:
            query = query.where(Delivery.action == action.value)
        if listing_id:
            query = query.where(Listing.public_id == listing_id)
        if connection_id:
            query = query.where(Connection.public_id == connection_id)
        if platform:
            query = query.where(Connection.platform == platform)
        rows, after = await fetch_page(db, query, Delivery.id, limit, cursor)
        return Page(data=[_out(d, d.listing.public_id if d.listing else None) for d in rows], next_cursor=after)

    @get("/counts", operation_id="countDeliveries")
    async def counts(self, runtime: RuntimeDep, db: Db) -> DeliveryCounts:
        """Deliveries per state and platform, and this process's circuit breakers."""
        rows = (
            await db.execute(
                select(Connection.platform, Delivery.state, func.count())
                .join(Connection, Connection.id == Delivery.connection_id)
                .group_by(Connection.platform, Delivery.state)
            )
        ).all()
        by_state: dict[str, int] = {}
        by_platform: dict[str, dict[str, int]] = {}
        for platform, state, n in rows:
            by_state[state] = by_state.get(state, 0) + n
            by_platform.setdefault(platform, {})[state] = n
        worker = runtime.delivery_worker
        breakers = worker.breaker_states() if worker is not None else {}
        return DeliveryCounts(by_state=by_state, by_platform=by_platform, breakers=breakers)

    @get("/{delivery_id:str}", operation_id="getDelivery")
    async def get_delivery(self, db: Db, delivery_id: FromPath[str]) -> DeliveryOut:
        """One delivery with every attempt."""
        return await _detail(db, await _load(db, delivery_id))

    @post("/{delivery_id:str}/retry", operation_id="retryDelivery", status_code=200)
    async def retry(self, runtime: RuntimeDep, db: Db, delivery_id: FromPath[str]) -> DeliveryOut:
        """Queue a dead delivery again now (an ``unknown`` publication is checked before anything is resent)."""
        delivery = await _load(db, delivery_id)
        try:
            await services.retry(db, runtime, delivery)
        except services.DeliveryConflict as exc:
            raise conflict(str(exc)) from None
        listing = delivery.listing
        if listing is not None and delivery.action == DeliveryAction.PUBLISH:
            await record(db, listing, ListingStatus.QUEUED, "queued again by a person")
        await db.commit()
        return await _detail(db, delivery)

    @post("/{delivery_id:str}/cancel", operation_id="cancelDelivery", status_code=200)
    async def cancel(self, db: Db, delivery_id: FromPath[str]) -> DeliveryOut:
        """Cancel a delivery that has not started."""
        delivery = await _load(db, delivery_id)
        try:
            await services.cancel(db, delivery, reason="cancelled by a person")
        except services.DeliveryConflict as exc:
            raise conflict(str(exc)) from None
        listing = delivery.listing
        if listing is not None and ListingStatus(listing.status) is ListingStatus.QUEUED:
            await record(db, listing, ListingStatus.DRAFT, "publication cancelled by a person")
        await db.commit()
        return await _detail(db, delivery)


def _approval_out(approval: Approval) -> ApprovalOut:
    delivery = approval.delivery
    return ApprovalOut(
        id=approval.public_id,
        action=approval.action,
        status=approval.status,
        summary=approval.summary,
        delivery_id=delivery.public_id,
        listing_id=delivery.listing.public_id if delivery.listing else None,
        platform=delivery.connection.platform,
        created_at=approval.created_at,
        decided_at=approval.decided_at,
        note=approval.note,
        lead_id=delivery.lead.public_id if delivery.lead is not None else None,
        message_id=str(delivery.payload["message"])
        if delivery.lead is not None and "message" in delivery.payload
        else None,
    )


_APPROVAL_LOAD = (
    selectinload(Approval.delivery).selectinload(Delivery.connection),
    selectinload(Approval.delivery).selectinload(Delivery.lead),
    selectinload(Approval.delivery).selectinload(Delivery.listing).selectinload(Listing.item),
    selectinload(Approval.delivery).selectinload(Delivery.listing).selectinload(Listing.connection),
)


class ApprovalController(Controller):
    """Changes that wait for a person, as the approval policy of their platform and action requires."""

    path = "/api/v1/approvals"
    tags = ["approvals"]

    @get("/", operation_id="listApprovals")
    async def list_approvals(
        self,
        db: Db,
        status: FromQuery[str | None] = "pending",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[ApprovalOut]:
        """Approvals, oldest first; by default the ones still waiting (``status=all`` for every one)."""
        query = select(Approval).options(*_APPROVAL_LOAD)
        if status and status != "all":
            query = query.where(Approval.status == status)
        rows, after = await fetch_page(db, query, Approval.id, limit, cursor)
        return Page(data=[_approval_out(a) for a in rows], next_cursor=after)

    @get("/{approval_id:str}", operation_id="getApproval")
    async def get_approval(self, db: Db, approval_id: FromPath[str]) -> ApprovalOut:
        """One approval."""
        return _approval_out(await self._load(db, approval_id))

    @post("/{approval_id:str}/approve", operation_id="approve", status_code=200)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        approval_id: FromPath[str],
        data: JSONBody[Decision | None] = None,
    ) -> ApprovalOut:
        """Approve: the delivery is queued now."""
        return await self._decide(request, runtime, db, approval_id, approve=True, note=data.note if data else "")

    @post("/{approval_id:str}/reject", operation_id="reject", status_code=200)
    async def reject(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        approval_id: FromPath[str],
        data: JSONBody[Decision | None] = None,
    ) -> ApprovalOut:
        """Reject: the delivery is cancelled and a queued publication goes back to draft."""
        return await self._decide(request, runtime, db, approval_id, approve=False, note=data.note if data else "")

    @staticmethod
    async def _load(db: Db, approval_id: str) -> Approval:
        approval = await db.scalar(select(Approval).where(Approval.public_id == approval_id).options(*_APPROVAL_LOAD))
        if approval is None:
            raise not_found("approval", approval_id)
        return approval

    async def _decide(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        approval_id: str,
        *,
        approve: bool,
        note: str,
    ) -> ApprovalOut:
        approval = await self._load(db, approval_id)
        user_id = principal_of(request).user_id
        try:
            delivery = await services.decide(db, runtime, approval, approve=approve, user_id=user_id, note=note)
        except services.DeliveryConflict as exc:
            raise conflict(str(exc)) from None
        if delivery.lead_id is not None:
            await on_reply_decided(db, delivery, approve=approve, note=note)
        listing = approval.delivery.listing
        if listing is not None:
            if approve:
                await record(db, listing, ListingStatus(listing.status), f"{approval.action} approved by a person")
            elif delivery.action == DeliveryAction.PUBLISH and ListingStatus(listing.status) is ListingStatus.QUEUED:
                await record(db, listing, ListingStatus.DRAFT, f"publication rejected by a person. {note}".strip())
            else:
                await record(db, listing, ListingStatus(listing.status), f"{approval.action} rejected by a person")
        await db.commit()
        return _approval_out(await self._load(db, approval_id))
