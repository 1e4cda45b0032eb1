"""``/api/v1/leads``: the inbox, each conversation's timeline, replies and offers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import Select, and_, or_, select

from cashout_server.auth import principal_of
from cashout_server.db.models import Approval, Connection, Delivery, Item, Lead, LeadEvent, LeadMessage, Listing
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.delivery.services import DeliveryConflict, DeliveryState
from cashout_server.domain.delivery.services import decide as decide_approval
from cashout_server.domain.leads import services
from cashout_server.domain.leads.services import LeadError, LeadState
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from cashout_server.problems import ProblemError, conflict, not_found

Body = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]


class MessageOut(msgspec.Struct, kw_only=True):
    """A message in a conversation: the buyer's, or ours (sent, or a draft on its way)."""

    id: str
    direction: str
    """``in`` from the buyer, ``out`` from the seller."""
    author: str
    """``buyer``, ``seller`` (a person), ``auto`` (cashout) or ``platform`` (answered on the platform)."""
    body: str
    sent_at: datetime
    status: str
    """``received``; ours: ``draft``, ``awaiting_approval``, ``queued``, ``sending``, ``sent``,
    ``needs_action``, ``failed``, ``unknown``, ``discarded``."""
    intent: str | None
    confidence: float | None
    reason: str | None
    offer_minor: int | None
    generated_by: str | None
    approval_id: str | None
    """The approval to decide (``awaiting_approval`` replies)."""


class EventOut(msgspec.Struct, kw_only=True):
    """A step in the lead's timeline, with why."""

    kind: str
    detail: str
    data: dict[str, Any]
    at: datetime


class LeadOut(msgspec.Struct, kw_only=True):
    """A conversation with one buyer about one item on one platform."""

    id: str
    platform: str
    thread_id: str
    """The platform's conversation id."""
    connection_id: str | None
    item_id: str | None
    listing_id: str | None
    buyer_name: str | None
    subject: str | None
    state: LeadState
    intent: str | None
    intent_confidence: float | None
    score: int
    score_explanation: dict[str, Any]
    flags: dict[str, Any]
    """Scam signals and warnings, name to reason."""
    negotiation: dict[str, Any]
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    awaiting_approval: int
    """Our replies on this lead waiting for a person."""
    created_at: datetime
    messages: list[MessageOut] | None = None
    """The conversation, oldest first (``GET /leads/{id}`` only)."""
    timeline: list[EventOut] | None = None
    """Every step with why (``GET /leads/{id}`` only)."""


class LeadPage(msgspec.Struct, kw_only=True):
    """One page of the inbox."""

    data: list[LeadOut]
    next_cursor: str | None


class LeadUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a lead: its state, or the item it is about."""

    state: LeadState | msgspec.UnsetType = msgspec.UNSET
    item_id: str | msgspec.UnsetType | None = msgspec.UNSET


class ReplyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A reply a person writes (it goes out without further approval)."""

    body: Body


class ApproveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Approve a drafted reply, optionally with the text edited."""

    body: Body | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class OfferAction(enum.StrEnum):
    """What a person does with the buyer's offer."""

    ACCEPT = "accept"
    COUNTER = "counter"
    DECLINE = "decline"
    OFFER = "offer"


class OfferIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Accept, counter or decline the buyer's offer, or make one; never below the item's floor."""

    action: OfferAction
    amount_minor: Annotated[int, msgspec.Meta(ge=1, le=10**12)] | None = None
    message: Body | None = None
    """The text to send; a short template is used when absent."""


class LeadSort(enum.StrEnum):
    """Inbox order."""

    SCORE = "score"
    RECENT = "recent"


# --- views -----------------------------------------------------------------------------------


async def _public_ids(db: Db, leads: list[Lead]) -> dict[tuple[str, int], str]:
    ids: dict[tuple[str, int], str] = {}
    for model, attr in ((Connection, "connection_id"), (Item, "item_id"), (Listing, "listing_id")):
        wanted = {getattr(lead, attr) for lead in leads if getattr(lead, attr) is not None}
        if wanted:
            rows = await db.execute(select(model.id, model.public_id).where(model.id.in_(wanted)))
            ids.update({(attr, row[0]): row[1] for row in rows.all()})
    return ids


async def _waiting(db: Db, lead_ids: list[int]) -> dict[int, int]:
    if not lead_ids:
        return {}
    rows = await db.execute(
        select(Delivery.lead_id).where(
            Delivery.lead_id.in_(lead_ids), Delivery.state == DeliveryState.AWAITING_APPROVAL.value
        )
    )
    out: dict[int, int] = {}
    for (lead_id,) in rows.all():
        if lead_id is not None:
            out[lead_id] = out.get(lead_id, 0) + 1
    return out


def _lead_out(lead: Lead, ids: dict[tuple[str, int], str], waiting: int) -> LeadOut:
    def pid(attr: str) -> str | None:
        value = getattr(lead, attr)
        return ids.get((attr, value)) if value is not None else None

    negotiation = {k: v for k, v in (lead.negotiation or {}).items() if k != "strategy"}
    return LeadOut(
        id=lead.public_id,
        platform=lead.platform,
        thread_id=lead.thread_id,
        connection_id=pid("connection_id"),
        item_id=pid("item_id"),
        listing_id=pid("listing_id"),
        buyer_name=lead.buyer_name,
        subject=lead.subject,
        state=LeadState(lead.state),
        intent=lead.intent,
        intent_confidence=lead.intent_confidence,
        score=lead.score,
        score_explanation=dict(lead.score_explanation or {}),
        flags=dict(lead.flags or {}),
        negotiation=negotiation,
        last_message_at=lead.last_message_at,
        last_inbound_at=lead.last_inbound_at,
        last_outbound_at=lead.last_outbound_at,
        awaiting_approval=waiting,
        created_at=lead.created_at,
    )


async def _detail(db: Db, lead: Lead) -> LeadOut:
    ids = await _public_ids(db, [lead])
    waiting = await _waiting(db, [lead.id])
    out = _lead_out(lead, ids, waiting.get(lead.id, 0))
    messages = list(
        await db.scalars(
            select(LeadMessage).where(LeadMessage.lead_id == lead.id).order_by(LeadMessage.sent_at, LeadMessage.id)
        )
    )
    approvals = {
        row[0]: row[1]
        for row in (
            await db.execute(
                select(Approval.delivery_id, Approval.public_id)
                .join(Delivery, Delivery.id == Approval.delivery_id)
                .where(Delivery.lead_id == lead.id, Approval.status == "pending")
            )
        ).all()
    }
    out.messages = [
        MessageOut(
            id=m.public_id,
            direction=m.direction,
            author=m.author,
            body=m.body,
            sent_at=m.sent_at,
            status=await services.message_state(db, m),
            intent=m.intent,
            confidence=m.confidence,
            reason=m.reason,
            offer_minor=m.offer_minor,
            generated_by=m.generated_by,
            approval_id=approvals.get(m.delivery_id) if m.delivery_id is not None else None,
        )
        for m in messages
    ]
    events = await db.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.id))
    out.timeline = [EventOut(kind=e.kind, detail=e.detail, data=dict(e.data or {}), at=e.created_at) for e in events]
    return out


async def _load(db: Db, lead_id: str) -> Lead:
    lead = await db.scalar(select(Lead).where(Lead.public_id == lead_id))
    if lead is None:
        raise not_found("lead", lead_id)
    return lead


async def _message(db: Db, lead: Lead, message_id: str) -> LeadMessage:
    message = await db.scalar(
        select(LeadMessage).where(LeadMessage.public_id == message_id, LeadMessage.lead_id == lead.id)
    )
    if message is None:
        raise not_found("message", message_id)
    return message


def _invalid(exc: LeadError) -> ProblemError:
    return ProblemError(422, str(exc), slug="invalid-request")


def _sorted_page(query: Select[Lead], sort: LeadSort, cursor: str | None, limit: int) -> Select[Lead]:
    # Score order pages on (score, id) packed into one integer cursor: stable under new messages.
    after = decode_cursor(cursor)
    if sort is LeadSort.SCORE:
        if after:
            score, lead_id = divmod(after, 10**12)
            query = query.where(or_(Lead.score < score, and_(Lead.score == score, Lead.id < lead_id)))
        return query.order_by(Lead.score.desc(), Lead.id.desc()).limit(limit + 1)
    if after:
        query = query.where(Lead.id < after)
    return query.order_by(Lead.id.desc()).limit(limit + 1)


class LeadController(Controller):
    """The inbox: every buyer conversation across platforms, scored, with drafts ready."""

    path = "/api/v1/leads"
    tags = ["leads"]

    @get("/", operation_id="listLeads")
    async def list_leads(
        self,
        db: Db,
        lead_state: Annotated[str | None, QueryParameter(name="state", description="comma-separated states")] = None,
        platform: FromQuery[str | None] = None,
        item_id: FromQuery[str | None] = None,
        min_score: Annotated[int | None, QueryParameter(ge=0, le=100)] = None,
        max_score: Annotated[int | None, QueryParameter(ge=0, le=100)] = None,
        needs_approval: FromQuery[bool | None] = None,
        sort: FromQuery[LeadSort] = LeadSort.SCORE,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> LeadPage:
        """The inbox: highest score first (``sort=recent`` for newest), filtered by state, platform, item, score."""
        query = select(Lead)
        if lead_state:
            wanted = [s.strip() for s in lead_state.split(",") if s.strip()]
            bad = [s for s in wanted if s not in LeadState.__members__.values()]
            if bad:
                raise ProblemError(400, f"unknown state {bad[0]!r}; use {', '.join(LeadState)}", slug="bad-filter")
            query = query.where(Lead.state.in_(wanted))
        if platform:
            query = query.where(Lead.platform == platform)
        if item_id:
            query = query.join(Item, Item.id == Lead.item_id).where(Item.public_id == item_id)
        if min_score is not None:
            query = query.where(Lead.score >= min_score)
        if max_score is not None:
            query = query.where(Lead.score <= max_score)
        if needs_approval:
            query = query.where(
                select(Delivery.id)
                .where(Delivery.lead_id == Lead.id, Delivery.state == DeliveryState.AWAITING_APPROVAL.value)
                .exists()
            )
        rows = list(await db.scalars(_sorted_page(query, sort, cursor, limit)))
        after = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            after = encode_cursor(last.score * 10**12 + last.id if sort is LeadSort.SCORE else last.id)
        ids = await _public_ids(db, rows)
        waiting = await _waiting(db, [r.id for r in rows])
        return LeadPage(data=[_lead_out(r, ids, waiting.get(r.id, 0)) for r in rows], next_cursor=after)

    @get("/{lead_id:str}", operation_id="getLead")
    async def get_lead(self, db: Db, lead_id: FromPath[str]) -> LeadOut:
        """One conversation: its messages (drafts included) and its timeline."""
        return await _detail(db, await _load(db, lead_id))

    @patch("/{lead_id:str}", operation_id="updateLead")
    async def update_lead(self, db: Db, lead_id: FromPath[str], data: JSONBody[LeadUpdate]) -> LeadOut:
        """Change the state (archive, lost, spam, reopen) or the item the lead is about."""
        lead = await _load(db, lead_id)
        if not isinstance(data.state, msgspec.UnsetType) and data.state != lead.state:
            await services.add_event(db, lead, "state", f"a person moved the lead from {lead.state} to {data.state}")
            lead.state = data.state.value
        if not isinstance(data.item_id, msgspec.UnsetType):
            if data.item_id is None:
                lead.item_id = None
                lead.listing_id = None
                await services.add_event(db, lead, "linked", "a person unlinked the item")
            else:
                item = await db.scalar(select(Item).where(Item.public_id == data.item_id))
                if item is None:
                    raise not_found("item", data.item_id)
                lead.item_id = item.id
                listing = await db.scalar(
                    select(Listing).where(Listing.item_id == item.id, Listing.connection_id == lead.connection_id)
                )
                lead.listing_id = listing.id if listing is not None else None
                await services.add_event(db, lead, "linked", f"a person linked the lead to {item.public_id}")
                await services.rescore(db, lead, item)
        await db.commit()
        return await _detail(db, lead)

    @post("/{lead_id:str}/replies", operation_id="replyToLead", status_code=201)
    async def reply(self, runtime: RuntimeDep, db: Db, lead_id: FromPath[str], data: JSONBody[ReplyIn]) -> LeadOut:
        """Send a reply written by a person (through the outbox; no further approval)."""
        lead = await _load(db, lead_id)
        try:
            await services.queue_reply(db, runtime, lead, data.body, author="seller")
        except LeadError as exc:
            raise _invalid(exc) from None
        await db.commit()
        return await _detail(db, lead)

    @patch("/{lead_id:str}/messages/{message_id:str}", operation_id="editReply")
    async def edit(self, db: Db, lead_id: FromPath[str], message_id: FromPath[str], data: JSONBody[ReplyIn]) -> LeadOut:
        """Edit our reply before it leaves (a draft, or one waiting for approval or its turn)."""
        lead = await _load(db, lead_id)
        message = await _message(db, lead, message_id)
        try:
            await services.edit_reply(db, lead, message, data.body)
        except LeadError as exc:
            raise conflict(str(exc)) from None
        await db.commit()
        return await _detail(db, lead)

    @post("/{lead_id:str}/messages/{message_id:str}/approve", operation_id="approveReply", status_code=200)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        lead_id: FromPath[str],
        message_id: FromPath[str],
        data: JSONBody[ApproveIn | None] = None,
    ) -> LeadOut:
        """Approve a drafted reply (optionally edited): it goes out through the outbox."""
        lead = await _load(db, lead_id)
        message = await _message(db, lead, message_id)
        try:
            if data is not None and data.body is not None:
                await services.edit_reply(db, lead, message, data.body)
            state = await services.message_state(db, message)
            if state == "draft":
                await services.send_draft(db, runtime, lead, message)
            elif state == "awaiting_approval" and message.delivery_id is not None:
                approval = await db.scalar(
                    select(Approval).where(Approval.delivery_id == message.delivery_id, Approval.status == "pending")
                )
                if approval is None:
                    raise LeadError("the reply has no pending approval")
                await decide_approval(
                    db,
                    runtime,
                    approval,
                    approve=True,
                    user_id=principal_of(request).user_id,
                    note=data.note if data else "",
                )
                await services.add_event(db, lead, "reply_approved", "a person approved the reply", message=message_id)
            else:
                raise LeadError(f"the reply is {state}; only a draft or one waiting for approval can be approved")
        except (LeadError, DeliveryConflict) as exc:
            raise conflict(str(exc)) from None
        await db.commit()
        return await _detail(db, lead)

    @post("/{lead_id:str}/messages/{message_id:str}/discard", operation_id="discardReply", status_code=200)
    async def discard(self, db: Db, lead_id: FromPath[str], message_id: FromPath[str]) -> LeadOut:
        """Drop our reply before it leaves."""
        lead = await _load(db, lead_id)
        message = await _message(db, lead, message_id)
        try:
            await services.discard_reply(db, lead, message)
        except LeadError as exc:
            raise conflict(str(exc)) from None
        await db.commit()
        return await _detail(db, lead)

    @post("/{lead_id:str}/offers", operation_id="answerOffer", status_code=200)
    async def offer(self, runtime: RuntimeDep, db: Db, lead_id: FromPath[str], data: JSONBody[OfferIn]) -> LeadOut:
        """Accept, counter or decline the buyer's offer, or make one. Never below the item's floor."""
        lead = await _load(db, lead_id)
        try:
            await services.answer_offer(
                db, runtime, lead, action=data.action.value, amount_minor=data.amount_minor, body=data.message
            )
        except LeadError as exc:
            raise _invalid(exc) from None
        await db.commit()
        return await _detail(db, lead)
