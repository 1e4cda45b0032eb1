"""Automation rules: what each kind does to one item, explained on the item, and the run over all rules.

Every effect (and every decision not to act that a seller would wonder about) is an
:class:`~cashout_server.db.models.ItemEvent` naming the rule and saying why. Those events are
also the rules' memory: the last drop of a rule on an item, the last refresh of a listing, so a
second run in the same period does nothing. Times come in as ``now`` so the rules can be
exercised at any moment; the job passes the current time.

Changes that must reach a platform go through the outbox in the same transaction as the change
(price updates, takedowns, publications, replies), so the approval policy applies to them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cashout_server.contract import Capability
from cashout_server.db.models import (
    AutomationRule,
    Delivery,
    Item,
    ItemEvent,
    Lead,
    LeadMessage,
    Listing,
)
from cashout_server.domain.ai.schemas import ReplyDraftRequest
from cashout_server.domain.automation.params import (
    FollowUpParams,
    PriceDropParams,
    RelistParams,
    RuleInvalid,
    RuleKind,
    normalised,
    parse_params,
)
from cashout_server.domain.delivery.services import (
    OPEN_STATES,
    DeliveryAction,
    DeliveryState,
    enqueue,
    open_deliveries,
)
from cashout_server.domain.leads.services import LeadError, LeadState, add_event, money_text, queue_reply, writer_for
from cashout_server.domain.listings.services import ListingConflict, ListingStatus, publish, queue_updates, take_down
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.automation")

INACTIVE_ITEM_STATES = ("sold", "archived")
"""Items in these states are left alone by every rule."""
FOLLOW_UP_STATES = (LeadState.OPEN.value, LeadState.NEGOTIATING.value)
OFFER_STATES = (LeadState.NEGOTIATING.value, LeadState.AGREED.value)
_CLOSED = tuple(s.value for s in (LeadState.WON, LeadState.LOST, LeadState.SPAM, LeadState.ARCHIVED))


# --- rules ---------------------------------------------------------------------------------


async def get_rule(session: AsyncSession, public_id: str) -> AutomationRule | None:
    """The rule with ``public_id``, if any."""
    return await session.scalar(select(AutomationRule).where(AutomationRule.public_id == public_id))


async def _target_item(session: AsyncSession, item_public_id: str) -> Item:
    item = await session.scalar(select(Item).where(Item.public_id == item_public_id))
    if item is None:
        raise RuleInvalid(f"item_id: no item with id {item_public_id!r}")
    return item


def _check_target(item_id: str | None, category: str | None) -> None:
    if (item_id is None) == (category is None):
        raise RuleInvalid("give exactly one of item_id (one item) or category (every item in it)")


async def create_rule(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    item_id: str | None,
    category: str | None,
    params: dict[str, Any],
    enabled: bool,
    user_id: int | None,
) -> AutomationRule:
    """Add a rule for one item or one category (the caller commits).

    Raises:
        RuleInvalid: unknown kind, bad parameters, no or both targets, an unknown item.
    """
    _check_target(item_id, category)
    stored = normalised(kind, params)
    item = await _target_item(session, item_id) if item_id is not None else None
    rule = AutomationRule(
        public_id=new_id("rule"),
        name=name,
        kind=kind,
        item_id=item.id if item is not None else None,
        category=category,
        params=stored,
        enabled=enabled,
        created_by_id=user_id,
    )
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(
    session: AsyncSession,
    rule: AutomationRule,
    *,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    enabled: bool | None = None,
    item_id: str | None = None,
    category: str | None = None,
    retarget: bool = False,
) -> AutomationRule:
    """Change a rule; ``None`` leaves a field as it is (the caller commits).

    Args:
        session: the session.
        rule: the rule.
        name: a new name.
        params: new parameters (replace the old ones entirely; checked as on creation).
        enabled: switch it on or off.
        item_id: with ``retarget``: the new item (or ``None`` for a category rule).
        category: with ``retarget``: the new category (or ``None`` for an item rule).
        retarget: change what the rule applies to.

    Raises:
        RuleInvalid: as :func:`create_rule`.
    """
    if params is not None:
        rule.params = normalised(rule.kind, params)
    if retarget:
        _check_target(item_id, category)
        rule.item_id = (await _target_item(session, item_id)).id if item_id is not None else None
        rule.category = category
    if name is not None:
        rule.name = name
    if enabled is not None:
        rule.enabled = enabled
    await session.flush()
    return rule


async def rule_item_ids(session: AsyncSession, rule: AutomationRule) -> list[int]:
    """The items ``rule`` applies to now: its item, or its category's items (sold and archived left out)."""
    query = select(Item.id).where(Item.status.not_in(INACTIVE_ITEM_STATES)).order_by(Item.id)
    if rule.item_id is not None:
        query = query.where(Item.id == rule.item_id)
    elif rule.category is not None:
        query = query.where(Item.category == rule.category)
    else:
        return []
    return list(await session.scalars(query))


# --- explaining ----------------------------------------------------------------------------


async def _history(session: AsyncSession, item: Item, rule: AutomationRule) -> list[ItemEvent]:
    """The rule's events on the item, newest first."""
    return list(
        await session.scalars(
            select(ItemEvent)
            .where(ItemEvent.item_id == item.id, ItemEvent.rule_id == rule.id)
            .order_by(ItemEvent.created_at.desc(), ItemEvent.id.desc())
            .limit(200)
        )
    )


def _explain(
    session: AsyncSession, item: Item, rule: AutomationRule, kind: str, detail: str, now: datetime, **data: Any
) -> ItemEvent:
    event = ItemEvent(
        item_id=item.id,
        kind=kind,
        detail=detail,
        data={"rule": rule.public_id, "rule_name": rule.name, **data},
        rule_id=rule.id,
        created_at=now,
    )
    session.add(event)
    return event


def _explain_skip(
    session: AsyncSession,
    history: Sequence[ItemEvent],
    item: Item,
    rule: AutomationRule,
    code: str,
    detail: str,
    now: datetime,
    *,
    listing: str | None = None,
    lead: str | None = None,
) -> bool:
    """Say once why the rule did nothing: not again while the reason stays the same.

    Returns:
        Whether a new event was added.
    """
    scope = {k: v for k, v in (("listing", listing), ("lead", lead)) if v is not None}
    for event in history:
        if all(event.data.get(k) == v for k, v in scope.items()):
            if event.kind == "rule_skipped" and event.data.get("skip") == code:
                return False
            break
    _explain(session, item, rule, "rule_skipped", detail, now, skip=code, **scope)
    return True


def _days(n: int) -> str:
    return "every day" if n == 1 else f"every {n} days"


# --- price drops ---------------------------------------------------------------------------


def next_price(price_minor: int, params: PriceDropParams) -> int:
    """The price after one drop, before any floor (half a minor unit rounds up the drop; at least 1)."""
    if params.percent is not None:
        drop = int((Decimal(price_minor) * Decimal(str(params.percent)) / 100).quantize(Decimal(1), ROUND_HALF_UP))
    else:
        assert params.amount_minor is not None
        drop = params.amount_minor
    return price_minor - max(drop, 1)


async def first_published_at(session: AsyncSession, item: Item) -> datetime | None:
    """When the item first went live anywhere (``None``: never)."""
    return await session.scalar(select(func.min(Listing.published_at)).where(Listing.item_id == item.id))


async def active_offer(session: AsyncSession, item: Item, *, since: datetime) -> str | None:
    """Why the item counts as having an active offer (``None``: it does not).

    A lead negotiating or agreed, or an open lead with an offer made since ``since``.
    """
    negotiating = await session.scalar(
        select(Lead.public_id).where(Lead.item_id == item.id, Lead.state.in_(OFFER_STATES)).limit(1)
    )
    if negotiating is not None:
        return f"lead {negotiating} is negotiating or agreed"
    leads = list(await session.scalars(select(Lead).where(Lead.item_id == item.id, Lead.state.not_in(_CLOSED))))
    for lead in leads:
        for offer in (lead.negotiation or {}).get("offers", []):
            try:
                at = datetime.fromisoformat(str(offer.get("at")))
            except (TypeError, ValueError, AttributeError):
                continue
            if at.tzinfo is not None and at >= since:
                return f"lead {lead.public_id} made an offer on {at.date().isoformat()}"
    offered = await session.scalar(
        select(Lead.public_id)
        .join(LeadMessage, LeadMessage.lead_id == Lead.id)
        .where(
            Lead.item_id == item.id,
            Lead.state.not_in(_CLOSED),
            LeadMessage.direction == "in",
            LeadMessage.offer_minor.is_not(None),
            LeadMessage.sent_at >= since,
        )
        .limit(1)
    )
    if offered is not None:
        return f"lead {offered} made an offer in the last days"
    return None


async def apply_price_drop(
    session: AsyncSession, runtime: Runtime, rule: AutomationRule, item: Item, *, now: datetime
) -> str:
    """Drop the item's price once if the rule's period has passed (the caller commits).

    Returns:
        ``dropped``, ``not_due``, ``not_listed``, ``at_floor``, ``no_floor``, ``offers`` or ``raced``.
    """
    params = parse_params(rule.kind, rule.params)
    assert isinstance(params, PriceDropParams)
    history = await _history(session, item, rule)
    listed_at = await first_published_at(session, item)
    if listed_at is None:
        return "not_listed"
    last_drop = next((e for e in history if e.kind == "price_drop"), None)
    anchor = max(listed_at, last_drop.created_at) if last_drop is not None else listed_at
    if now < anchor + timedelta(days=params.every_days):
        return "not_due"
    bounds = {
        "floor": item.floor_price_minor,
        "minimum price": params.min_price_minor,
    }
    named = [(amount, what) for what, amount in bounds.items() if amount is not None]
    if not named:
        _explain_skip(
            session,
            history,
            item,
            rule,
            "no_floor",
            "No price drop: the item has no floor price and the rule no min_price_minor; "
            "set one so drops stop somewhere",
            now,
        )
        return "no_floor"
    bound, bound_name = max(named)
    old = item.list_price_minor
    cur = item.currency
    if old <= bound:
        _explain_skip(
            session,
            history,
            item,
            rule,
            "at_floor",
            f"No price drop: the price {money_text(old, cur)} is at the {bound_name} of {money_text(bound, cur)}",
            now,
        )
        return "at_floor"
    if params.only_without_offers:
        why = await active_offer(session, item, since=now - timedelta(days=params.offer_days))
        if why is not None:
            _explain_skip(
                session, history, item, rule, "offers", f"No price drop while there are active offers: {why}", now
            )
            return "offers"
    new = next_price(old, params)
    clamped = new <= bound
    new = max(new, bound)
    # Race-safe: another process (or a person's edit) that changed the price first wins.
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(Item)
            .where(Item.id == item.id, Item.list_price_minor == old)
            .values(list_price_minor=new)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        await session.refresh(item)
        return "raced"
    await session.refresh(item)
    step = f"{params.percent:g}%" if params.percent is not None else money_text(params.amount_minor, cur)
    limit_note = (
        f"clamped at the {bound_name} of {money_text(bound, cur)}; no further drops"
        if clamped
        else f"{bound_name} not reached"
    )
    reason = f"price drop by rule '{rule.name}': {money_text(old, cur)} to {money_text(new, cur)}"
    deliveries = await queue_updates(session, runtime, item, reason=reason)
    every = _days(params.every_days)
    detail = f"Dropped from {money_text(old, cur)} to {money_text(new, cur)} ({step} {every}; {limit_note})"
    if deliveries:
        waiting = sum(1 for d in deliveries if d.state == DeliveryState.AWAITING_APPROVAL)
        detail += f". Update queued for {len(deliveries)} live listing(s)" + (
            f", {waiting} waiting for approval" if waiting else ""
        )
    _explain(
        session,
        item,
        rule,
        "price_drop",
        detail,
        now,
        from_minor=old,
        to_minor=new,
        limit_reached=clamped,
        deliveries=[d.public_id for d in deliveries],
    )
    await session.flush()
    return "dropped"


# --- relisting -----------------------------------------------------------------------------


def _listing_events(history: Sequence[ItemEvent], listing: Listing) -> list[ItemEvent]:
    return [e for e in history if e.data.get("listing") == listing.public_id]


async def _had_leads(session: AsyncSession, listing: Listing, since: datetime) -> bool:
    found = await session.scalar(
        select(Lead.id)
        .where(
            or_(
                Lead.listing_id == listing.id,
                and_(Lead.item_id == listing.item_id, Lead.connection_id == listing.connection_id),
            ),
            or_(Lead.created_at >= since, Lead.last_inbound_at >= since),
        )
        .limit(1)
    )
    return found is not None


async def _finish_relist(
    session: AsyncSession,
    runtime: Runtime,
    rule: AutomationRule,
    item: Item,
    listing: Listing,
    started: ItemEvent,
    now: datetime,
) -> str:
    """Second step of a delist-and-publish refresh: publish once the takedown went through."""
    delivery = await session.scalar(select(Delivery).where(Delivery.public_id == started.data.get("delivery")))
    where = f"{listing.connection.name} ({listing.connection.platform})"
    if delivery is not None and delivery.state in {s.value for s in OPEN_STATES}:
        return "waiting"
    if ListingStatus(listing.status) is ListingStatus.NEEDS_ACTION:
        return "waiting"
    if delivery is not None and delivery.state == DeliveryState.DONE and listing.status == ListingStatus.DELISTED:
        try:
            published = await publish(session, runtime, listing)
        except ListingConflict as exc:
            _explain(
                session,
                item,
                rule,
                "relist",
                f"Relisting on {where} stopped: taken down, but it cannot be published again ({exc})",
                now,
                listing=listing.public_id,
                stage="abandoned",
            )
            return "abandoned"
        waits = published.state == DeliveryState.AWAITING_APPROVAL
        _explain(
            session,
            item,
            rule,
            "relist",
            f"Relisting on {where}: taken down; publishing it again as a fresh listing"
            + (" (waiting for approval)" if waits else ""),
            now,
            listing=listing.public_id,
            stage="publish",
            delivery=published.public_id,
        )
        return "republished"
    state = delivery.state if delivery is not None else "gone"
    _explain(
        session,
        item,
        rule,
        "relist",
        f"Relisting on {where} stopped: the takedown did not go through (delivery {state}); "
        "the listing was left as it is",
        now,
        listing=listing.public_id,
        stage="abandoned",
    )
    return "abandoned"


async def apply_relist(
    session: AsyncSession, runtime: Runtime, rule: AutomationRule, item: Item, *, now: datetime
) -> list[str]:
    """Refresh the item's stale listings where their platforms allow it (the caller commits).

    A listing is stale when it has been live (since publication or the rule's last refresh) more
    than ``after_days`` days with no lead in that time. A platform that can update gets an
    update; one that can delist and publish gets a takedown now and a new publication on a later
    run once the takedown is done (never both at once); any other is explained and left alone.

    Returns:
        One outcome per listing looked at: ``updated``, ``delisting``, ``republished``, ``waiting``,
        ``abandoned``, ``fresh``, ``has_leads``, ``busy``, ``unsupported`` or ``conflict``.
    """
    params = parse_params(rule.kind, rule.params)
    assert isinstance(params, RelistParams)
    history = await _history(session, item, rule)
    listings = list(
        await session.scalars(
            select(Listing)
            .where(Listing.item_id == item.id)
            .options(selectinload(Listing.item), selectinload(Listing.connection))
            .order_by(Listing.id)
        )
    )
    outcomes: list[str] = []
    for listing in listings:
        mine = _listing_events(history, listing)
        last_relist = next((e for e in mine if e.kind == "relist"), None)
        if last_relist is not None and last_relist.data.get("stage") == "delist":
            outcomes.append(await _finish_relist(session, runtime, rule, item, listing, last_relist, now))
            continue
        if listing.status != ListingStatus.PUBLISHED or listing.published_at is None:
            continue
        fresh_since = listing.published_at
        if last_relist is not None:
            fresh_since = max(fresh_since, last_relist.created_at)
        if now - fresh_since < timedelta(days=params.after_days):
            outcomes.append("fresh")
            continue
        where = f"{listing.connection.name} ({listing.connection.platform})"
        age = (now - fresh_since).days
        if await _had_leads(session, listing, fresh_since):
            outcomes.append("has_leads")
            continue
        platform = listing.connection.platform
        if await open_deliveries(session, listing):
            outcomes.append("busy")
            continue
        why = f"live {age} days on {where} with no leads (rule: refresh after {params.after_days} days)"
        if runtime.registry.supports(platform, Capability.UPDATE):
            delivery = await enqueue(
                session,
                runtime,
                connection=listing.connection,
                listing=listing,
                action=DeliveryAction.UPDATE,
                payload={"reason": f"refresh by rule '{rule.name}'"},
                summary=f"Refresh '{item.title}' on {listing.connection.name}: {why}",
            )
            waits = delivery.state == DeliveryState.AWAITING_APPROVAL
            _explain(
                session,
                item,
                rule,
                "relist",
                f"Refreshed the listing: {why}; an update was queued" + (" (waiting for approval)" if waits else ""),
                now,
                listing=listing.public_id,
                stage="update",
                delivery=delivery.public_id,
            )
            outcomes.append("updated")
        elif runtime.registry.supports(platform, Capability.DELIST) and runtime.registry.supports(
            platform, Capability.PUBLISH
        ):
            try:
                delivery_or_none = await take_down(
                    session, runtime, listing, reason=f"relisting by rule '{rule.name}'", after_sale=False
                )
            except ListingConflict as exc:
                outcomes.append("conflict")
                _explain_skip(
                    session, history, item, rule, "conflict", f"Not relisted: {exc}", now, listing=listing.public_id
                )
                continue
            if delivery_or_none is None:
                outcomes.append("conflict")
                continue
            waits = delivery_or_none.state == DeliveryState.AWAITING_APPROVAL
            _explain(
                session,
                item,
                rule,
                "relist",
                f"Relisting: {why}; {platform} cannot update a listing, so it is taken down first"
                + (" (waiting for approval)" if waits else "")
                + " and published again once that is done",
                now,
                listing=listing.public_id,
                stage="delist",
                delivery=delivery_or_none.public_id,
            )
            outcomes.append("delisting")
        else:
            _explain_skip(
                session,
                history,
                item,
                rule,
                "unsupported",
                f"Not refreshed: {why}, but {platform} offers no way to update or relist it from here; "
                "refresh it on the platform by hand",
                now,
                listing=listing.public_id,
            )
            outcomes.append("unsupported")
    await session.flush()
    return outcomes


# --- follow-ups ----------------------------------------------------------------------------


def _follow_up_facts(item: Item) -> dict[str, str]:
    facts = {str(k): str(v) for k, v in (item.facts or {}).items() if v not in (None, "")}
    facts.setdefault("condition", item.condition.replace("_", " "))
    facts["status"] = "available"
    return facts


async def _conversation(session: AsyncSession, lead: Lead) -> list[tuple[str, str]]:
    rows = list(
        await session.scalars(
            select(LeadMessage)
            .where(LeadMessage.lead_id == lead.id, LeadMessage.status.in_(["received", "sent"]))
            .order_by(LeadMessage.sent_at.desc(), LeadMessage.id.desc())
            .limit(8)
        )
    )
    return [("buyer" if m.direction == "in" else "seller", m.body) for m in reversed(rows)]


async def _follow_ups_since(session: AsyncSession, lead: Lead) -> int:
    """Our follow-ups in this quiet spell (since the buyer last wrote), whatever became of them."""
    # Rows are stored in order: a follow-up after the buyer's newest message has a higher id.
    last_in = await session.scalar(
        select(func.max(LeadMessage.id)).where(LeadMessage.lead_id == lead.id, LeadMessage.direction == "in")
    )
    query = select(func.count()).where(
        LeadMessage.lead_id == lead.id,
        LeadMessage.direction == "out",
        LeadMessage.intent == "follow_up",
        LeadMessage.id > (last_in or 0),
    )
    return int(await session.scalar(query) or 0)


async def _unsent_reply(session: AsyncSession, lead: Lead) -> bool:
    found = await session.scalar(
        select(LeadMessage.id)
        .where(
            LeadMessage.lead_id == lead.id, LeadMessage.direction == "out", LeadMessage.status.in_(["draft", "pending"])
        )
        .limit(1)
    )
    return found is not None


async def apply_follow_up(
    session: AsyncSession, runtime: Runtime, rule: AutomationRule, item: Item, *, now: datetime
) -> list[str]:
    """Draft a follow-up to each buyer on the item who went quiet after our last message (the caller commits).

    Quiet: the lead is open or negotiating, our last message went out more than ``after_hours``
    ago and the buyer has not written since, and fewer than ``max_followups`` follow-ups were
    made in this quiet spell. The draft waits for a person unless ``auto_send`` is set and the
    connection's approval policy lets replies go out alone.

    Returns:
        One outcome per quiet lead: ``queued``, ``awaiting_approval``, ``draft``, ``enough`` or ``no_text``.
    """
    params = parse_params(rule.kind, rule.params)
    assert isinstance(params, FollowUpParams)
    cutoff = now - timedelta(hours=params.after_hours)
    leads = list(
        await session.scalars(
            select(Lead)
            .where(
                Lead.item_id == item.id,
                Lead.state.in_(FOLLOW_UP_STATES),
                Lead.last_outbound_at.is_not(None),
                Lead.last_outbound_at <= cutoff,
                or_(Lead.last_inbound_at.is_(None), Lead.last_inbound_at < Lead.last_outbound_at),
            )
            .order_by(Lead.id)
        )
    )
    outcomes: list[str] = []
    for lead in leads:
        if await _unsent_reply(session, lead):
            continue
        if await _follow_ups_since(session, lead) >= params.max_followups:
            outcomes.append("enough")
            continue
        assert lead.last_outbound_at is not None
        forbidden = [
            a for a in (item.floor_price_minor, item.cost_basis_minor) if a is not None and a != item.list_price_minor
        ]
        draft = await writer_for(runtime).draft_reply(
            ReplyDraftRequest(
                intent="follow_up",
                item_title=item.title,
                list_price_minor=item.list_price_minor,
                currency=item.currency,
                facts=_follow_up_facts(item),
                buyer_name=lead.buyer_name,
                conversation=await _conversation(session, lead),
                secrets=[money_text(a, item.currency) for a in forbidden],
                forbidden_amounts_minor=forbidden,
                tone=runtime.settings.ai.tone,
            )
        )
        if not draft.text:
            outcomes.append("no_text")
            continue
        hours = (now - lead.last_outbound_at).total_seconds() / 3600
        why = (
            f"no reply {hours:.0f} hours after our last message "
            f"(rule '{rule.name}': after {params.after_hours:g} hours)"
        )
        try:
            message = await queue_reply(
                session,
                runtime,
                lead,
                draft.text,
                author="auto",
                generated_by=draft.generated_by,
                needs_approval=not params.auto_send,
                reason=f"follow-up: {why}",
            )
        except LeadError:
            outcomes.append("no_text")
            continue
        message.intent = "follow_up"
        message.reason = why
        state = "draft"
        if message.delivery_id is not None:
            delivery = await session.get_one(Delivery, message.delivery_id)
            state = "awaiting_approval" if delivery.state == DeliveryState.AWAITING_APPROVAL else "queued"
        said = {
            "awaiting_approval": "drafted; it waits for approval",
            "queued": "queued to send",
            "draft": "drafted; no account can send it",
        }[state]
        await add_event(
            session, lead, "follow_up", f"follow-up {said}: {why}", message=message.public_id, rule=rule.public_id
        )
        _explain(
            session,
            item,
            rule,
            "follow_up",
            f"Follow-up to {lead.buyer_name or 'a buyer'} ({lead.platform}) {said}: {why}",
            now,
            lead=lead.public_id,
            message=message.public_id,
            state=state,
        )
        outcomes.append(state)
    await session.flush()
    return outcomes


# --- running -------------------------------------------------------------------------------


async def apply_rule(
    session: AsyncSession, runtime: Runtime, rule: AutomationRule, item: Item, *, now: datetime
) -> Counter[str]:
    """Apply one rule to one item (the caller commits); counts of what happened."""
    counts: Counter[str] = Counter()
    if not rule.enabled or item.status in INACTIVE_ITEM_STATES:
        counts["skipped"] += 1
        return counts
    kind = RuleKind(rule.kind)
    if kind is RuleKind.PRICE_DROP:
        outcome = await apply_price_drop(session, runtime, rule, item, now=now)
        counts["price_drops" if outcome == "dropped" else "skipped"] += 1
    elif kind is RuleKind.RELIST:
        for outcome in await apply_relist(session, runtime, rule, item, now=now):
            if outcome in ("updated", "delisting"):
                counts["relists"] += 1
            elif outcome == "republished":
                counts["republished"] += 1
            else:
                counts["skipped"] += 1
    else:
        for outcome in await apply_follow_up(session, runtime, rule, item, now=now):
            counts["follow_ups" if outcome in ("queued", "awaiting_approval", "draft") else "skipped"] += 1
    return counts


async def run_all(runtime: Runtime, *, now: datetime) -> dict[str, int]:
    """Apply every enabled rule to each of its items, one transaction per rule and item.

    A rule that fails on one item is logged and counted; the other items and rules still run.

    Returns:
        Counts: rules, items, price_drops, relists, republished, follow_ups, skipped, failed.
    """
    names = ("rules", "items", "price_drops", "relists", "republished", "follow_ups", "skipped", "failed")
    totals: Counter[str] = Counter(dict.fromkeys(names, 0))
    async with runtime.session() as session:
        rule_ids = list(
            await session.scalars(
                select(AutomationRule.id).where(AutomationRule.enabled.is_(True)).order_by(AutomationRule.id)
            )
        )
    for rule_id in rule_ids:
        async with runtime.session() as session:
            rule = await session.get(AutomationRule, rule_id)
            if rule is None or not rule.enabled:
                continue
            item_ids = await rule_item_ids(session, rule)
        totals["rules"] += 1
        for item_id in item_ids:
            totals["items"] += 1
            try:
                async with runtime.session() as session:
                    rule = await session.get_one(AutomationRule, rule_id)
                    item = await session.get_one(Item, item_id)
                    totals.update(await apply_rule(session, runtime, rule, item, now=now))
                    await session.commit()
            except Exception:
                totals["failed"] += 1
                log.exception("automation rule %s failed on item %s", rule_id, item_id)
        async with runtime.session() as session:
            await session.execute(update(AutomationRule).where(AutomationRule.id == rule_id).values(last_run_at=now))
            await session.commit()
    return dict(totals)
