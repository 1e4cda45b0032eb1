"""Leads: storing buyers' messages once, understanding them, negotiating and answering.

A message arrives from ``fetch_leads``, a webhook or the mailbox and goes through
:func:`ingest_messages`: it is deduplicated on ``(platform, external_id)``, attached to its
conversation (a lead: one buyer, one item, one platform), linked to the item and listing where
that can be inferred, classified and scored. Then :func:`respond` decides what to do for the
lead as a whole, so a burst of messages is answered once: scams and spam get no reply, offers
go through the negotiation engine, and a reply is drafted and either queued in the outbox
(confident answers of fixed facts) or left waiting for a person with the draft ready to edit.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.contract import Capability, InboundMessage
from cashout_server.db.models import (
    Connection,
    Delivery,
    Item,
    Lead,
    LeadEvent,
    LeadMessage,
    Listing,
    ScoreModel,
    utcnow,
)
from cashout_server.domain.ai.writer import ReplyDraftRequest, Writer
from cashout_server.domain.delivery.services import (
    DeliveryAction,
    DeliveryConflict,
    DeliveryState,
    approval_required,
    enqueue,
)
from cashout_server.domain.delivery.services import cancel as cancel_delivery
from cashout_server.domain.leads.policy import decide_auto_reply
from cashout_server.domain.leads.scoring import DEFAULT_WEIGHTS, Weights, features_from, score
from cashout_server.domain.leads.understanding import Classification, Intent, classify
from cashout_server.domain.negotiation.engine import BundleItem, NegotiationState, Strategy, decide
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime
from cashout_server.text import minor_unit

log = logging.getLogger("cashout.leads")


class LeadState(enum.StrEnum):
    """Where a conversation stands."""

    NEW = "new"
    OPEN = "open"
    NEGOTIATING = "negotiating"
    AGREED = "agreed"
    WON = "won"
    LOST = "lost"
    SPAM = "spam"
    ARCHIVED = "archived"


CLOSED_STATES = frozenset({LeadState.WON, LeadState.LOST, LeadState.SPAM, LeadState.ARCHIVED})

# Which of several intents in a burst the one answer must address first.
_PRIORITY = {
    "scam": 0,
    "offer": 1,
    "pickup": 2,
    "price_question": 3,
    "shipping": 4,
    "question": 5,
    "availability": 6,
    "other": 7,
    "spam": 8,
}

PENDING = "pending"
"""A reply of ours with a delivery not finished (its delivery says whether it waits for a person)."""


class LeadError(Exception):
    """A request about a lead that cannot be carried out; the message says why."""


@dataclass
class IngestSummary:
    """What one batch of messages did."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    leads_created: int = 0
    replies_queued: int = 0
    awaiting_approval: int = 0
    lead_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        """Counts for a job summary."""
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "leads_created": self.leads_created,
            "replies_queued": self.replies_queued,
            "awaiting_approval": self.awaiting_approval,
        }


async def add_event(session: AsyncSession, lead: Lead, kind: str, detail: str, **data: Any) -> LeadEvent:
    """Add a step to the lead's timeline (the caller commits)."""
    event = LeadEvent(lead_id=lead.id, kind=kind, detail=detail, data=data, created_at=utcnow())
    session.add(event)
    return event


def money_text(amount_minor: int | None, currency: str) -> str:
    """``$120`` / ``$95.50`` / ``120.00 EUR`` for timelines and replies."""
    if amount_minor is None:
        return "-"
    unit = minor_unit(currency)
    whole, cents = divmod(abs(amount_minor), unit) if unit > 1 else (abs(amount_minor), 0)
    sign = "-" if amount_minor < 0 else ""
    number = f"{whole}" if cents == 0 else f"{whole}.{cents:0{len(str(unit)) - 1}d}"
    return f"{sign}${number}" if currency.upper() == "USD" else f"{sign}{number} {currency.upper()}"


# --- ingest ----------------------------------------------------------------------------------


async def ingest_messages(
    runtime: Runtime, messages: Sequence[InboundMessage], *, connection_id: int | None = None
) -> dict[str, int]:
    """Store buyer messages once each, then decide a response per touched conversation.

    Args:
        runtime: the runtime.
        messages: messages from ``fetch_leads``, a webhook or ``parse_lead_email``, in any order,
            possibly seen before.
        connection_id: the account they were fetched through, when known.

    Returns:
        Counts: received, stored, duplicates, leads created, replies queued or awaiting approval.
    """
    summary = IngestSummary(received=len(messages))
    fresh: dict[int, list[int]] = {}
    ordered = sorted(messages, key=lambda m: m.sent_at)

    async def store_all() -> None:
        fresh.clear()
        async with runtime.session() as session:
            for message in ordered:
                try:
                    async with session.begin_nested():
                        stored = await _store(session, runtime, message, connection_id, summary)
                except IntegrityError:
                    # Another process stored the same message (or created the lead) at the same time.
                    summary.duplicates += 1
                    continue
                if stored is not None and stored.direction == "in":
                    fresh.setdefault(stored.lead_id, []).append(stored.id)
            await session.commit()

    await _retry_when_locked(store_all, summary)
    for lead_id, message_ids in fresh.items():
        outcome = ""

        async def answer(lead_id: int = lead_id, message_ids: list[int] = message_ids) -> None:
            nonlocal outcome
            async with runtime.session() as session:
                lead = await session.get_one(Lead, lead_id)
                outcome = await respond(session, runtime, lead, message_ids)
                await session.commit()

        await _retry_when_locked(answer)
        if outcome == "queued":
            summary.replies_queued += 1
        elif outcome == "awaiting_approval":
            summary.awaiting_approval += 1
    return summary.as_dict()


LOCK_RETRIES = 5


async def _retry_when_locked(work: Callable[[], Awaitable[None]], summary: IngestSummary | None = None) -> None:
    """Run ``work`` again when SQLite reports the database locked (its one writer was busy).

    Safe because ingestion is idempotent: a message already stored is recognised and skipped.
    """
    for attempt in range(LOCK_RETRIES):
        if summary is not None:
            summary.stored = summary.duplicates = summary.leads_created = 0
        try:
            await work()
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == LOCK_RETRIES - 1:
                raise
            log.info("the database was locked; storing the messages again (attempt %d)", attempt + 2)
            await asyncio.sleep(0.05 * 3**attempt)


async def _store(
    session: AsyncSession,
    runtime: Runtime,
    message: InboundMessage,
    connection_id: int | None,
    summary: IngestSummary,
) -> LeadMessage | None:
    seen = await session.scalar(
        select(LeadMessage.id).where(
            LeadMessage.platform == message.platform, LeadMessage.external_id == message.external_id
        )
    )
    if seen is not None:
        summary.duplicates += 1
        return None
    lead = await session.scalar(
        select(Lead).where(Lead.platform == message.platform, Lead.thread_id == message.thread_id)
    )
    if lead is None:
        lead = await _new_lead(session, runtime, message, connection_id)
        summary.leads_created += 1
    if lead.item_id is None:
        await _link(session, lead, message)
    item = await session.get(Item, lead.item_id) if lead.item_id is not None else None
    inbound = message.direction != "out"
    row = LeadMessage(
        public_id=new_id("message"),
        lead_id=lead.id,
        platform=message.platform,
        external_id=message.external_id,
        direction="in" if inbound else "out",
        body=message.body,
        sent_at=message.sent_at,
        status="received" if inbound else "sent",
        author="buyer" if inbound else "platform",
        created_at=utcnow(),
    )
    if inbound:
        found = classify(
            message.body, list_price_minor=item.list_price_minor if item else None, subject=message.subject
        )
        row.intent = found.intent.value
        row.confidence = found.confidence
        row.reason = found.reason
        row.offer_minor = message.offer.amount_minor if message.offer is not None else found.offer_minor
        if message.offer is not None:
            row.intent = Intent.OFFER.value
            row.reason = f"the platform marks it as an offer of {money_text(row.offer_minor, message.offer.currency)}"
        lead.last_inbound_at = max(lead.last_inbound_at or message.sent_at, message.sent_at)
        lead.buyer_name = message.sender_name or lead.buyer_name
        lead.buyer_handle = message.sender_handle or lead.buyer_handle
        lead.subject = message.subject or lead.subject
    else:
        lead.last_outbound_at = max(lead.last_outbound_at or message.sent_at, message.sent_at)
        _note_first_response(lead, message.sent_at)
    lead.last_message_at = max(lead.last_message_at or message.sent_at, message.sent_at)
    lead.updated_at = utcnow()
    session.add(row)
    await session.flush()
    summary.stored += 1
    summary.lead_ids.add(lead.id)
    who = "buyer" if inbound else "seller (on the platform)"
    await add_event(session, lead, "message", f"message from the {who}", message=row.public_id)
    return row


async def _new_lead(
    session: AsyncSession, runtime: Runtime, message: InboundMessage, connection_id: int | None
) -> Lead:
    if connection_id is None:
        # Mail-borne leads name only the platform: use its account when there is exactly one.
        ids = list(await session.scalars(select(Connection.id).where(Connection.platform == message.platform).limit(2)))
        connection_id = ids[0] if len(ids) == 1 else None
    lead = Lead(
        public_id=new_id("lead"),
        platform=message.platform,
        thread_id=message.thread_id,
        connection_id=connection_id,
        buyer_name=message.sender_name,
        buyer_handle=message.sender_handle,
        subject=message.subject,
        state=LeadState.NEW.value,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(lead)
    await session.flush()
    await add_event(session, lead, "created", f"new conversation on {message.platform}")
    return lead


_WORD = re.compile(r"[a-z0-9]+")


async def _link(session: AsyncSession, lead: Lead, message: InboundMessage) -> None:
    """Attach the lead to its listing (by the platform's id) or its item (by the title named)."""
    if message.listing_external_id:
        query = (
            select(Listing)
            .join(Connection, Listing.connection_id == Connection.id)
            .where(Listing.external_id == message.listing_external_id, Connection.platform == message.platform)
        )
        if lead.connection_id is not None:
            query = query.where(Listing.connection_id == lead.connection_id)
        listing = (await session.scalars(query.limit(1))).first()
        if listing is not None:
            lead.listing_id = listing.id
            lead.item_id = listing.item_id
            lead.connection_id = lead.connection_id or listing.connection_id
            await add_event(session, lead, "linked", f"linked to listing {listing.public_id} by the platform's id")
            return
    hint = message.item_hint or message.subject
    if not hint:
        return
    words = set(_WORD.findall(hint.lower()))
    if not words:
        return
    # Items listed on this platform first; the best title overlap wins only when it is clear.
    candidates = (
        await session.execute(
            select(Item.id, Item.title, Listing.id)
            .join(Listing, Listing.item_id == Item.id)
            .join(Connection, Listing.connection_id == Connection.id)
            .where(Connection.platform == message.platform, Item.status != "archived")
        )
    ).all()
    best: list[tuple[float, int, int]] = []
    for item_id, title, listing_id in candidates:
        title_words = set(_WORD.findall(title.lower()))
        if not title_words:
            continue
        overlap = len(words & title_words) / len(title_words)
        best.append((overlap, item_id, listing_id))
    best.sort(reverse=True)
    if best and best[0][0] >= 0.6 and (len(best) == 1 or best[1][0] < best[0][0] or best[1][1] == best[0][1]):
        _, item_id, listing_id = best[0]
        lead.item_id = item_id
        lead.listing_id = listing_id
        await add_event(session, lead, "linked", f"linked to the item by its title in {hint!r}")


def _note_first_response(lead: Lead, when: datetime) -> None:
    if lead.first_response_seconds is None and lead.last_inbound_at is not None and when >= lead.last_inbound_at:
        lead.first_response_seconds = int((when - lead.last_inbound_at).total_seconds())


# --- responding ------------------------------------------------------------------------------


async def current_weights(session: AsyncSession) -> Weights:
    """The newest refit score weights, else the defaults."""
    row = await session.scalar(select(ScoreModel).order_by(ScoreModel.id.desc()).limit(1))
    return Weights.from_json(row.weights) if row is not None else DEFAULT_WEIGHTS


async def _inbound(session: AsyncSession, lead: Lead) -> list[LeadMessage]:
    return list(
        await session.scalars(
            select(LeadMessage)
            .where(LeadMessage.lead_id == lead.id, LeadMessage.direction == "in")
            .order_by(LeadMessage.sent_at, LeadMessage.id)
        )
    )


def _classification(row: LeadMessage) -> Classification:
    return classify(row.body) if row.intent is None else _stored(row)


def _stored(row: LeadMessage) -> Classification:
    # Rebuild from what was stored at ingest; the classifier is not re-run on old messages.
    found = classify(row.body)
    if found.intent.value == row.intent:
        return found
    return Classification(
        intent=Intent(row.intent or "other"),
        confidence=row.confidence or 0.0,
        reason=row.reason or "",
        offer_minor=row.offer_minor,
        bundle=found.bundle,
        scam_signals=found.scam_signals,
        secondary=found.secondary,
    )


async def rescore(session: AsyncSession, lead: Lead, item: Item | None) -> None:
    """Recompute the lead's score from all its buyer messages and store the explanation."""
    inbound = await _inbound(session, lead)
    if not inbound:
        return
    found = [_classification(row) for row in inbound]
    reply_seconds = None
    if lead.last_outbound_at is not None and lead.last_inbound_at is not None:
        delta = (lead.last_inbound_at - lead.last_outbound_at).total_seconds()
        reply_seconds = int(delta) if delta >= 0 else None
    features = features_from(
        found,
        [row.body for row in inbound],
        list_price_minor=item.list_price_minor if item else None,
        floor_price_minor=item.floor_price_minor if item else None,
        buyer_reply_seconds=reply_seconds,
    )
    result = score(features, await current_weights(session))
    lead.score = result.score
    lead.score_explanation = {
        "score": result.score,
        "parts": [{"name": p.name, "points": p.points, "reason": p.reason} for p in result.explanation],
    }


def _primary(found: Sequence[tuple[LeadMessage, Classification]]) -> tuple[LeadMessage, Classification]:
    return min(found, key=lambda pair: (_PRIORITY.get(pair[1].intent.value, 9), -pair[0].id))


async def respond(session: AsyncSession, runtime: Runtime, lead: Lead, message_ids: Sequence[int]) -> str:
    """Decide the one answer to a burst of new buyer messages on ``lead`` (the caller commits).

    Returns:
        ``queued`` (going out), ``awaiting_approval`` (draft waiting for a person), ``draft``
        (no account to send through), or ``none`` (no reply: scam, spam, closed lead, burst).
    """
    rows = [await session.get_one(LeadMessage, mid) for mid in message_ids]
    item = await session.get(Item, lead.item_id) if lead.item_id is not None else None
    found = [(row, _stored(row)) for row in rows]
    await rescore(session, lead, item)
    for row, c in found:
        await add_event(
            session,
            lead,
            "classified",
            f"{c.intent.value} ({c.confidence:.2f}): {c.reason}",
            message=row.public_id,
            intent=c.intent.value,
            confidence=c.confidence,
        )
    await add_event(session, lead, "scored", f"score {lead.score}", **lead.score_explanation)
    signals = {s.name: s.reason for _, c in found for s in c.scam_signals}
    if signals:
        lead.flags = {**(lead.flags or {}), **signals}
    row, primary = _primary(found)
    lead.intent = primary.intent.value
    lead.intent_confidence = primary.confidence
    if LeadState(lead.state) in CLOSED_STATES:
        await add_event(session, lead, "no_reply", f"no reply: the conversation is {lead.state}")
        return "none"
    if primary.intent in (Intent.SCAM, Intent.SPAM):
        lead.state = LeadState.SPAM.value
        why = "; ".join(signals.values()) or primary.reason
        await add_event(session, lead, "no_reply", f"no reply: looks like {primary.intent.value} ({why})")
        return "none"
    if lead.state == LeadState.NEW:
        lead.state = LeadState.OPEN.value

    decision = None
    if primary.intent is Intent.OFFER and primary.offer_minor is not None and item is not None:
        decision = await _negotiate(session, lead, item, primary)

    superseded = await _supersede_pending(session, lead)
    if (
        not superseded
        and decision is None
        and lead.last_outbound_at is not None
        and lead.last_inbound_at is not None
        and rows
        and min(r.sent_at for r in rows) - lead.last_outbound_at
        <= timedelta(seconds=runtime.settings.leads.burst_window)
        and primary.intent in (Intent.AVAILABILITY, Intent.OTHER)
    ):
        await add_event(session, lead, "burst", "no second answer: this buyer was answered moments ago")
        return "none"

    draft = await _draft(session, runtime, lead, item, primary, decision)
    if draft is None:
        await add_event(session, lead, "no_reply", "nothing to answer")
        return "none"
    text, generated_by, notes = draft
    connection = await session.get(Connection, lead.connection_id) if lead.connection_id is not None else None
    policy_gate = connection is not None and approval_required(runtime, connection, DeliveryAction.REPLY)
    auto = decide_auto_reply(
        intent=primary.intent.value,
        confidence=primary.confidence,
        enabled=runtime.settings.leads.auto_reply,
        threshold=runtime.settings.leads.auto_reply_confidence,
        overrides=connection.auto_reply if connection is not None else {},
        facts=item.facts if item is not None else {},
        approval_policy_requires=policy_gate,
    )
    if decision is not None and decision.kind == "hold":
        auto = type(auto)(False, "the negotiation needs a person's decision")
    message = await queue_reply(
        session,
        runtime,
        lead,
        text,
        author="auto",
        generated_by=generated_by,
        needs_approval=not auto.send,
        reason=auto.reason,
        covers=len(rows),
    )
    if notes:
        await add_event(session, lead, "draft_checks", "; ".join(notes), message=message.public_id)
    return await message_state(session, message)


async def _negotiate(session: AsyncSession, lead: Lead, item: Item, offer: Classification) -> Any:
    assert offer.offer_minor is not None
    try:
        strategy = Strategy.from_item(item.list_price_minor, item.floor_price_minor, item.negotiation or {})
    except ValueError as exc:
        await add_event(session, lead, "negotiation_error", f"the item's negotiation settings are invalid: {exc}")
        return None
    state = NegotiationState.from_json(lead.negotiation or {})
    bundle = None
    if offer.bundle:
        others = await _bundle_items(session, lead, item)
        if others:
            bundle = [BundleItem(list_minor=item.list_price_minor, floor_minor=item.floor_price_minor), *others]
    decision, new_state = decide(
        strategy, state, offer.offer_minor, now=utcnow(), listed_at=item.created_at, bundle=bundle
    )
    lead.negotiation = {**new_state.to_json(), "currency": item.currency}
    if decision.kind == "accept":
        lead.state = LeadState.AGREED.value
        lead.negotiation = {**lead.negotiation, "agreed_minor": decision.price_minor}
    elif decision.kind in ("counter", "hold"):
        lead.state = LeadState.NEGOTIATING.value
    await add_event(
        session,
        lead,
        "offer",
        f"buyer offered {money_text(offer.offer_minor, item.currency)}" + (" for a bundle" if bundle else ""),
        amount_minor=offer.offer_minor,
    )
    await add_event(
        session,
        lead,
        f"decision_{decision.kind}",
        decision.explanation,
        price_minor=decision.price_minor,
        by="engine",
    )
    return decision


async def _bundle_items(session: AsyncSession, lead: Lead, item: Item) -> list[BundleItem]:
    """Other items of the same seller on the same platform the buyer has asked about."""
    rows = await session.execute(
        select(Item.list_price_minor, Item.floor_price_minor)
        .join(Lead, Lead.item_id == Item.id)
        .where(
            Lead.platform == lead.platform,
            Lead.buyer_handle == lead.buyer_handle,
            Lead.id != lead.id,
            Item.id != item.id,
            Lead.buyer_handle.is_not(None),
        )
        .distinct()
    )
    return [BundleItem(list_minor=lp, floor_minor=fp) for lp, fp in rows.all()]


async def _supersede_pending(session: AsyncSession, lead: Lead) -> bool:
    """Withdraw our reply that has not left yet: the new draft answers everything at once."""
    pending = list(
        await session.scalars(
            select(LeadMessage).where(
                LeadMessage.lead_id == lead.id, LeadMessage.direction == "out", LeadMessage.status == PENDING
            )
        )
    )
    replaced = False
    for row in pending:
        delivery = await session.get(Delivery, row.delivery_id) if row.delivery_id is not None else None
        if delivery is None:
            continue
        try:
            await cancel_delivery(session, delivery, reason="replaced by a reply that answers the newer messages too")
        except DeliveryConflict:
            continue
        row.status = "discarded"
        replaced = True
        await add_event(session, lead, "superseded", "an unsent reply was replaced by one answering every new message")
    drafts = await session.scalars(
        select(LeadMessage).where(
            LeadMessage.lead_id == lead.id, LeadMessage.direction == "out", LeadMessage.status == "draft"
        )
    )
    for row in drafts:
        row.status = "discarded"
        replaced = True
    return replaced


def _facts(item: Item | None) -> dict[str, str]:
    if item is None:
        return {}
    facts = {str(k): str(v) for k, v in (item.facts or {}).items() if v not in (None, "")}
    facts.setdefault("condition", item.condition.replace("_", " "))
    if item.brand:
        facts.setdefault("brand", item.brand)
    facts["status"] = "sold" if item.status == "sold" else "available"
    return facts


def _secret_strings(item: Item | None) -> list[str]:
    if item is None:
        return []
    out: list[str] = []
    for amount in (item.floor_price_minor, item.cost_basis_minor):
        if amount is None:
            continue
        out.append(money_text(amount, item.currency))
    return out


async def _draft(
    session: AsyncSession,
    runtime: Runtime,
    lead: Lead,
    item: Item | None,
    primary: Classification,
    decision: Any,
) -> tuple[str, str, list[str]] | None:
    history = list(
        await session.scalars(
            select(LeadMessage)
            .where(LeadMessage.lead_id == lead.id, LeadMessage.status.in_(["received", "sent"]))
            .order_by(LeadMessage.sent_at.desc(), LeadMessage.id.desc())
            .limit(8)
        )
    )
    conversation = [("buyer" if m.direction == "in" else "seller", m.body) for m in reversed(history)]
    price = decision.price_minor if decision is not None else None
    allowed = {p for p in (price, item.list_price_minor if item else None) if p is not None}
    forbidden = [
        amount
        for amount in ((item.floor_price_minor, item.cost_basis_minor) if item else ())
        if amount is not None and amount not in allowed
    ]
    secrets = (
        [s for s in _secret_strings(item) if all(s != money_text(a, item.currency) for a in allowed)] if item else []
    )
    intent = primary.intent.value
    if item is None and primary.intent in (Intent.PRICE_QUESTION, Intent.OFFER):
        intent = "question"  # no item, no price to talk about: a person answers
    request = ReplyDraftRequest(
        intent=intent,
        item_title=item.title if item else (lead.subject or "your item"),
        list_price_minor=item.list_price_minor if item else 0,
        currency=item.currency if item else "USD",
        facts=_facts(item),
        decision_kind=decision.kind if decision is not None else None,
        decision_price_minor=price,
        buyer_name=lead.buyer_name,
        conversation=conversation,
        secrets=secrets,
        forbidden_amounts_minor=forbidden,
        max_length=_reply_limit(runtime, lead.platform),
        tone=runtime.settings.ai.tone,
    )
    draft = await writer_for(runtime).draft_reply(request)
    if not draft.text:
        return None
    return draft.text, draft.generated_by, list(draft.check_failures)


def _reply_limit(runtime: Runtime, platform: str) -> int:
    # Messenger caps a message at 2,000 characters; mail-borne replies have no hard cap.
    return 2000 if platform == "facebook" else 1000


_writers: dict[int, Writer] = {}


def writer_for(runtime: Runtime) -> Writer:
    """The runtime's text writer (one per runtime, built from ``settings.ai``)."""
    key = id(runtime)
    writer = _writers.get(key)
    if writer is None:
        writer = Writer.from_settings(runtime.settings.ai)
        _writers[key] = writer
    return writer


# --- replies -------------------------------------------------------------------------------


async def message_state(session: AsyncSession, message: LeadMessage) -> str:
    """What a person sees for one of our messages: its own status, or its delivery's while pending."""
    if message.status != PENDING or message.delivery_id is None:
        return message.status
    delivery = await session.get(Delivery, message.delivery_id)
    if delivery is None:
        return "discarded"
    return {
        DeliveryState.AWAITING_APPROVAL.value: "awaiting_approval",
        DeliveryState.QUEUED.value: "queued",
        DeliveryState.IN_FLIGHT.value: "sending",
        DeliveryState.CANCELLED.value: "discarded",
        DeliveryState.DEAD.value: "failed",
        DeliveryState.UNKNOWN.value: "unknown",
        DeliveryState.DONE.value: "sent",
    }.get(delivery.state, delivery.state)


async def queue_reply(
    session: AsyncSession,
    runtime: Runtime,
    lead: Lead,
    body: str,
    *,
    author: str = "seller",
    generated_by: str | None = None,
    needs_approval: bool = False,
    reason: str = "",
    covers: int = 1,
) -> LeadMessage:
    """Add our reply to the conversation and, where an account can send it, to the outbox.

    The message and its delivery are written in the caller's transaction. A reply by a person
    (``author="seller"``) counts as approved; an automatic one waits when ``needs_approval``.

    Args:
        session: the session (the caller commits).
        runtime: the runtime.
        lead: the conversation.
        body: the text to send.
        author: ``seller`` (a person) or ``auto``.
        generated_by: ``model`` or ``template`` for drafts.
        needs_approval: hold it in the approvals queue for a person.
        reason: why it goes out alone or waits (shown in the timeline).
        covers: how many buyer messages it answers.

    Returns:
        The new message (``pending`` with a delivery, or ``draft`` when nothing can send it).

    Raises:
        LeadError: the text is empty.
    """
    text = body.strip()
    if not text:
        raise LeadError("a reply needs some text")
    message = LeadMessage(
        public_id=new_id("message"),
        lead_id=lead.id,
        platform=lead.platform,
        external_id=None,
        direction="out",
        body=text,
        sent_at=utcnow(),
        status="draft",
        author=author,
        generated_by=generated_by,
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    connection = await session.get(Connection, lead.connection_id) if lead.connection_id is not None else None
    can_send = connection is not None and runtime.registry.supports(connection.platform, Capability.REPLY)
    if connection is None or not can_send:
        why = (
            "no account of this platform is connected to send it through"
            if connection is None
            else f"{connection.platform} has no way to send replies; answer on the platform"
        )
        await add_event(session, lead, "draft", f"reply drafted ({why})", message=message.public_id)
        return message
    summary = f"reply to {lead.buyer_name or 'a buyer'} on {connection.platform}: {text[:160]}"
    delivery = await enqueue(
        session,
        runtime,
        connection=connection,
        listing=None,
        action=DeliveryAction.REPLY,
        payload={"message": message.public_id},
        approval=author != "seller",
        require_approval=needs_approval and author != "seller",
        summary=summary,
        lead_id=lead.id,
    )
    message.delivery_id = delivery.id
    message.status = PENDING
    waits = delivery.state == DeliveryState.AWAITING_APPROVAL
    what = "waits for approval" if waits else "queued to send"
    extra = f" (answers {covers} messages)" if covers > 1 else ""
    await add_event(
        session,
        lead,
        "reply_waiting" if waits else "reply_queued",
        f"reply {what}{extra}" + (f": {reason}" if reason else ""),
        message=message.public_id,
        delivery=delivery.public_id,
    )
    return message


async def latest_inbound(session: AsyncSession, lead: Lead) -> LeadMessage | None:
    """The buyer's newest message in the conversation."""
    return (
        await session.scalars(
            select(LeadMessage)
            .where(LeadMessage.lead_id == lead.id, LeadMessage.direction == "in")
            .order_by(LeadMessage.sent_at.desc(), LeadMessage.id.desc())
            .limit(1)
        )
    ).first()


async def edit_reply(session: AsyncSession, lead: Lead, message: LeadMessage, body: str) -> None:
    """Change the text of our reply while it has not left (a draft, or waiting for approval or its turn).

    Raises:
        LeadError: it is being sent or was sent; or the text is empty.
    """
    text = body.strip()
    if not text:
        raise LeadError("a reply needs some text")
    if message.direction != "out":
        raise LeadError("only our own replies can be edited")
    state = await message_state(session, message)
    if state not in ("draft", "awaiting_approval", "queued"):
        raise LeadError(f"the reply is {state}; it can no longer be edited")
    if state == "queued" and message.delivery_id is not None:
        delivery = await session.get_one(Delivery, message.delivery_id)
        if delivery.state != DeliveryState.QUEUED:
            raise LeadError(f"the reply is {delivery.state}; it can no longer be edited")
    message.body = text
    await add_event(session, lead, "reply_edited", "a person edited the reply", message=message.public_id)


async def send_draft(session: AsyncSession, runtime: Runtime, lead: Lead, message: LeadMessage) -> LeadMessage:
    """Send a draft that had no delivery (an account was connected since): queue it as a person's reply."""
    if message.status != "draft":
        raise LeadError(f"the message is {message.status}, not a draft")
    message.status = "discarded"
    return await queue_reply(session, runtime, lead, message.body, author="seller", generated_by=message.generated_by)


async def discard_reply(session: AsyncSession, lead: Lead, message: LeadMessage, *, note: str = "") -> None:
    """Drop our reply that has not left yet.

    Raises:
        LeadError: it is being sent or was sent.
    """
    state = await message_state(session, message)
    if state == "draft":
        message.status = "discarded"
    elif state in ("awaiting_approval", "queued") and message.delivery_id is not None:
        delivery = await session.get_one(Delivery, message.delivery_id)
        try:
            await cancel_delivery(session, delivery, reason=note or "discarded by a person")
        except DeliveryConflict as exc:
            raise LeadError(str(exc)) from exc
        message.status = "discarded"
    else:
        raise LeadError(f"the reply is {state}; it can no longer be discarded")
    await add_event(session, lead, "reply_discarded", note or "a person discarded the reply", message=message.public_id)


async def on_reply_decided(session: AsyncSession, delivery: Delivery, *, approve: bool, note: str) -> None:
    """Note in the lead's timeline that a person approved or rejected a drafted reply."""
    if delivery.lead_id is None:
        return
    lead = await session.get_one(Lead, delivery.lead_id)
    message = await session.scalar(
        select(LeadMessage).where(LeadMessage.public_id == str(delivery.payload.get("message", "")))
    )
    if message is not None and not approve:
        message.status = "discarded"
    what = "approved" if approve else "rejected"
    await add_event(
        session,
        lead,
        f"reply_{what}",
        f"a person {what} the reply" + (f": {note}" if note else ""),
        message=message.public_id if message is not None else None,
    )


# --- offers by a person ----------------------------------------------------------------------


async def answer_offer(
    session: AsyncSession,
    runtime: Runtime,
    lead: Lead,
    *,
    action: str,
    amount_minor: int | None,
    body: str | None,
) -> LeadMessage | None:
    """A person accepts, counters or declines the buyer's offer (or makes one).

    Counters are never below the item's floor: a person who wants less lowers the floor first.

    Returns:
        The reply queued to the buyer (a person's reply goes out without further approval),
        or ``None`` for ``decline`` without a message.

    Raises:
        LeadError: no item, no offer to accept, or a price below the floor.
    """
    if lead.item_id is None:
        raise LeadError("link the lead to an item first (PATCH the lead with its item)")
    item = await session.get_one(Item, lead.item_id)
    state = dict(lead.negotiation or {})
    offers = state.get("offers") or []
    last_offer = offers[-1]["amount_minor"] if offers and isinstance(offers[-1], dict) else None
    if last_offer is None:
        last_offer = await session.scalar(
            select(LeadMessage.offer_minor)
            .where(LeadMessage.lead_id == lead.id, LeadMessage.offer_minor.is_not(None))
            .order_by(LeadMessage.sent_at.desc())
            .limit(1)
        )
    floor = item.floor_price_minor
    if action == "accept":
        price = amount_minor if amount_minor is not None else last_offer
        if price is None:
            raise LeadError("there is no offer to accept; give an amount")
    elif action in ("counter", "offer"):
        if amount_minor is None:
            raise LeadError(f"{action} needs an amount")
        price = amount_minor
    elif action == "decline":
        price = None
    else:
        raise LeadError("action must be accept, counter, offer or decline")
    if price is not None and price <= 0:
        raise LeadError("the amount must be positive")
    if price is not None and floor is not None and price < floor:
        raise LeadError("that is below the item's floor price; change the floor on the item first")
    if action == "accept":
        lead.state = LeadState.AGREED.value
        state["agreed_minor"] = price
        state["status"] = "agreed"
        text = body or f"Deal at {money_text(price, item.currency)}. When would suit you to pick it up?"
    elif action in ("counter", "offer"):
        lead.state = LeadState.NEGOTIATING.value
        state["last_counter_minor"] = price
        text = body or f"The best I can do is {money_text(price, item.currency)}."
    else:
        state["status"] = "declined"
        text = body or "Thanks for the offer, but I can't go that low."
    lead.negotiation = state
    await add_event(
        session,
        lead,
        f"decision_{'counter' if action == 'offer' else action}",
        f"a person chose to {action}" + (f" at {money_text(price, item.currency)}" if price is not None else ""),
        price_minor=price,
        by="person",
    )
    await _supersede_pending(session, lead)
    return await queue_reply(session, runtime, lead, text, author="seller")


# --- reading --------------------------------------------------------------------------------


async def unanswered_count(session: AsyncSession) -> int:
    """Leads whose last message is the buyer's and that are still open."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(
                Lead.state.in_([LeadState.NEW.value, LeadState.OPEN.value, LeadState.NEGOTIATING.value]),
                Lead.last_inbound_at.is_not(None),
            )
        )
        or 0
    )
