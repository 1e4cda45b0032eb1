"""Listings: an item on one connection, and the publish / confirm / delist steps.

Publishing and delisting do not call the platform here: they write an outbox row (see
:mod:`cashout_server.domain.delivery`) in the same transaction as the listing's new status,
and the delivery worker calls the plugin.

Invariant: a publication whose outcome is unknown is never sent again blindly. Before the
plugin is called the listing is committed as ``publishing``; if the process dies there, or
the plugin raises ``OutcomeUnknown`` (or crashes), the listing is ``unknown`` and the next
attempt asks ``check_status`` first; only ``Absent`` allows sending it again.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cashout_server.contract import (
    Absent,
    Capability,
    Delisted,
    ItemData,
    ListingRequest,
    Money,
    NeedsAction,
    Pending,
    Published,
    Rejected,
    Sold,
)
from cashout_server.db.models import Connection, Delivery, Item, Listing, ListingEvent, Photo, utcnow
from cashout_server.domain.accounts.services import call_with_refresh
from cashout_server.domain.delivery.services import DeliveryAction, DeliveryState, enqueue, open_deliveries
from cashout_server.domain.delivery.services import cancel as cancel_delivery
from cashout_server.domain.photos.services import platform_photos
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime


class ListingStatus(enum.StrEnum):
    """Where a listing stands on its platform."""

    DRAFT = "draft"
    QUEUED = "queued"
    """Waiting for delivery (or for a person's approval); see the listing's ``delivery``."""
    PUBLISHING = "publishing"
    PENDING = "pending"
    NEEDS_ACTION = "needs_action"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DELISTED = "delisted"
    SOLD = "sold"
    """The item sold through this listing."""


class ListingConflict(Exception):
    """The listing is not in a state that allows the step; the message says why."""


NOT_LIVE = frozenset({ListingStatus.DRAFT, ListingStatus.REJECTED, ListingStatus.FAILED, ListingStatus.DELISTED})
"""States in which the listing is certainly not on the platform."""
_UNSETTLED = {ListingStatus.PUBLISHING, ListingStatus.UNKNOWN}


async def record(session: AsyncSession, listing: Listing, status: ListingStatus, detail: str = "") -> None:
    """Move ``listing`` to ``status`` and add the step to its history."""
    listing.status = status.value
    session.add(ListingEvent(listing_id=listing.id, status=status.value, detail=detail[:2000]))
    await session.flush()


async def create_listing(
    session: AsyncSession, runtime: Runtime, *, item: Item, connection: Connection, options: Mapping[str, str]
) -> Listing:
    """Create a draft listing of ``item`` on ``connection``.

    Raises:
        ListingConflict: the item is already listed on that connection, or the platform cannot publish.
    """
    if not runtime.registry.supports(connection.platform, Capability.PUBLISH):
        raise ListingConflict(f"platform {connection.platform!r} is not installed or cannot publish")
    existing = await session.scalar(
        select(Listing.public_id).where(Listing.item_id == item.id, Listing.connection_id == connection.id)
    )
    if existing:
        raise ListingConflict(f"the item already has listing {existing} on this connection")
    listing = Listing(
        public_id=new_id("listing"),
        item_id=item.id,
        connection_id=connection.id,
        idempotency_key=uuid.uuid4().hex,
        options=dict(options),
    )
    session.add(listing)
    await session.flush()
    await record(session, listing, ListingStatus.DRAFT, "created")
    return listing


COPY_TITLE = "copy_title"
"""Listing option: the title written for this platform (``POST /listings/{id}/copy``), sent instead of the item's."""
COPY_DESCRIPTION = "copy_description"
"""Listing option: the description written for this platform, sent instead of the item's."""


async def build_request(session: AsyncSession, runtime: Runtime, listing: Listing, item: Item) -> ListingRequest:
    """What a plugin receives for ``listing``: the item, its photos prepared for the platform, ids.

    Photos are the platform's variants (size, aspect, format and count from its descriptor's
    limits), made in the photo worker processes and cached; the listing option ``enhance``
    (``true``/``false``) overrides the auto-enhance setting.

    Raises:
        PhotoFileMissing: a photo's original is gone from the data folder.
        VariantTooLarge: the platform's byte limit cannot be met.
    """
    photos = list(await session.scalars(select(Photo).where(Photo.item_id == item.id).order_by(Photo.position)))
    desc = runtime.registry.descriptor(listing.connection.platform)
    enhance = listing.options.get("enhance")
    refs = await platform_photos(
        runtime.photos,
        photos,
        desc.limits,
        public_base_url=runtime.settings.server.base_url,
        enhance=None if enhance is None else enhance.lower() in ("1", "true", "yes"),
    )
    return ListingRequest(
        listing_id=listing.public_id,
        idempotency_key=listing.idempotency_key,
        item=ItemData(
            id=item.public_id,
            sku=item.sku,
            title=listing.options.get(COPY_TITLE) or item.title,
            description=listing.options.get(COPY_DESCRIPTION) or item.description,
            condition=item.condition,
            category=item.category,
            brand=item.brand,
            identifiers=dict(item.identifiers),
            quantity=item.quantity,
            price=Money(amount_minor=item.list_price_minor, currency=item.currency),
        ),
        photos=refs,
        external_id=listing.external_id,
        options={
            **{k: v for k, v in listing.options.items() if k not in (COPY_TITLE, COPY_DESCRIPTION)},
            **({"manage_url": listing.manage_url} if listing.manage_url else {}),
        },
    )


async def load_listing(session: AsyncSession, public_id: str) -> Listing | None:
    """The listing with its item and connection loaded."""
    return await session.scalar(
        select(Listing)
        .where(Listing.public_id == public_id)
        .options(selectinload(Listing.item), selectinload(Listing.connection))
    )


async def call_hook(runtime: Runtime, listing: Listing, hook: str, request: ListingRequest) -> Any:
    """Call ``hook`` for ``listing``; on ``AuthExpired`` refresh the credentials once and retry once."""
    return await call_with_refresh(runtime, listing.connection, hook, listing=request)


def _action(kind: str, outcome: NeedsAction) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(outcome)
    data.pop("type", None)
    data["kind"] = kind
    return data


async def apply_outcome(session: AsyncSession, listing: Listing, outcome: object, *, kind: str) -> None:
    """Record what a hook returned on the listing and in its history."""
    listing.last_error = None
    if isinstance(outcome, Published):
        listing.external_id = outcome.external_id
        listing.url = outcome.url
        listing.manage_url = outcome.manage_url or listing.manage_url
        listing.action = None
        listing.published_at = listing.published_at or utcnow()
        detail = f"live as {outcome.external_id}" + (f" ({'; '.join(outcome.warnings)})" if outcome.warnings else "")
        await record(session, listing, ListingStatus.PUBLISHED, detail)
    elif isinstance(outcome, Pending):
        listing.external_id = outcome.external_id or listing.external_id
        await record(session, listing, ListingStatus.PENDING, outcome.detail or "the platform has not decided yet")
    elif isinstance(outcome, NeedsAction):
        listing.action = _action(kind, outcome)
        await record(session, listing, ListingStatus.NEEDS_ACTION, outcome.instructions)
    elif isinstance(outcome, Rejected):
        fields = "; ".join(f"{k}: {v}" for k, v in outcome.fields.items())
        listing.last_error = outcome.reason + (f" ({fields})" if fields else "")
        await record(session, listing, ListingStatus.REJECTED, listing.last_error)
    elif isinstance(outcome, Delisted):
        listing.action = None
        await record(session, listing, ListingStatus.DELISTED, "taken down")
    elif isinstance(outcome, Sold):
        listing.action = None
        listing.external_id = outcome.external_id or listing.external_id
        await record(session, listing, ListingStatus.SOLD, "sold on the platform")
    elif isinstance(outcome, Absent):
        await record(session, listing, ListingStatus.FAILED, outcome.detail or "the platform has no trace of it")
    else:
        listing.last_error = f"the plugin returned {type(outcome).__name__}, which is not a contract outcome"
        await record(session, listing, ListingStatus.UNKNOWN, listing.last_error)


async def _settle_unknown(session: AsyncSession, listing: Listing, note: str) -> None:
    """A person settled the listing: its unknown deliveries are finished, queued publications and checks cancelled."""
    await session.execute(
        update(Delivery)
        .where(Delivery.listing_id == listing.id, Delivery.state == DeliveryState.UNKNOWN.value)
        .values(state=DeliveryState.DONE.value, finished_at=utcnow(), last_error=note)
    )
    for delivery in await open_deliveries(session, listing):
        action = DeliveryAction(delivery.action)
        if delivery.state != DeliveryState.IN_FLIGHT and action in (DeliveryAction.PUBLISH, DeliveryAction.CHECK):
            await cancel_delivery(session, delivery, reason=note)


async def confirm(session: AsyncSession, listing: Listing, *, external_id: str | None, url: str | None) -> Listing:
    """A person finished the step on the platform (assisted posting or delisting), or checked an unknown one.

    Raises:
        ListingConflict: nothing is waiting for confirmation, or no URL/id was given for a publication.
    """
    status = ListingStatus(listing.status)
    kind = (listing.action or {}).get("kind", "publish")
    if status not in (ListingStatus.NEEDS_ACTION, ListingStatus.UNKNOWN):
        raise ListingConflict(f"the listing is {status.value}; there is nothing to confirm")
    if kind == "delist" and status is ListingStatus.NEEDS_ACTION:
        listing.action = None
        await record(session, listing, ListingStatus.DELISTED, "a person confirmed it was taken down")
    else:
        if not external_id and not url:
            raise ListingConflict("give the listing's URL or id on the platform")
        listing.external_id = external_id or listing.external_id or url
        listing.url = url or listing.url
        listing.action = None
        listing.last_error = None
        listing.published_at = listing.published_at or utcnow()
        await record(
            session, listing, ListingStatus.PUBLISHED, f"a person confirmed it is live at {url or external_id}"
        )
    await _settle_unknown(session, listing, "settled by a person: live")
    await session.commit()
    return listing


async def mark_failed(session: AsyncSession, listing: Listing, *, reason: str) -> Listing:
    """A person checked an unknown publication and found it is not on the platform.

    Raises:
        ListingConflict: the listing's outcome is not unknown.
    """
    if ListingStatus(listing.status) not in (ListingStatus.UNKNOWN, ListingStatus.PUBLISHING):
        raise ListingConflict("only a listing whose outcome is unknown can be marked failed")
    listing.last_error = reason
    await record(session, listing, ListingStatus.FAILED, f"a person checked: {reason}")
    await _settle_unknown(session, listing, f"settled by a person: {reason}")
    await session.commit()
    return listing


async def publish(session: AsyncSession, runtime: Runtime, listing: Listing) -> Delivery:
    """Queue the listing for publication (the caller commits).

    A listing whose earlier outcome is unknown is queued to be checked first, never resent blindly.

    Raises:
        ListingConflict: it is live, waiting for a person or the platform, already queued, or
            the item is sold.
    """
    status = ListingStatus(listing.status)
    if status in (ListingStatus.PUBLISHED, ListingStatus.NEEDS_ACTION, ListingStatus.PENDING, ListingStatus.SOLD):
        raise ListingConflict(f"the listing is {status.value}; nothing to publish")
    if listing.item.quantity < 1 or listing.item.status == "sold":
        raise ListingConflict("the item is sold out")
    waiting = await open_deliveries(session, listing)
    if waiting:
        raise ListingConflict(f"the listing already has delivery {waiting[0].public_id} ({waiting[0].state})")
    if status is ListingStatus.DELISTED:
        # A new publication after a takedown: a fresh key, so the platform does not see a replay.
        listing.idempotency_key = uuid.uuid4().hex
    item = listing.item
    delivery = await enqueue(
        session,
        runtime,
        connection=listing.connection,
        listing=listing,
        action=DeliveryAction.PUBLISH,
        must_check=status in _UNSETTLED,
        summary=(
            f"Publish '{item.title}' at {Money(amount_minor=item.list_price_minor, currency=item.currency).format()} "
            f"on {listing.connection.name} ({listing.connection.platform})"
        ),
    )
    detail = "waiting for approval" if delivery.state == DeliveryState.AWAITING_APPROVAL else "queued for delivery"
    if status in _UNSETTLED:
        detail += "; the platform is checked first"
    await record(session, listing, ListingStatus.QUEUED, detail)
    return delivery


async def take_down(
    session: AsyncSession, runtime: Runtime, listing: Listing, *, reason: str, after_sale: bool
) -> Delivery | None:
    """Take a listing off its platform through the outbox (the caller commits).

    Publications not yet sent are cancelled instead. A listing whose platform cannot delist
    becomes ``needs_action`` with instructions for a person.

    Args:
        session: the session holding the change that causes the takedown.
        runtime: the runtime.
        listing: the listing, with item and connection loaded.
        reason: why (kept in the history).
        after_sale: the item sold: skip the approval policy (a sold item left listed is a double sale).

    Returns:
        The delist delivery, or ``None`` when nothing had to reach the platform.

    Raises:
        ListingConflict: the listing is not live and nothing is on its way.
    """
    status = ListingStatus(listing.status)
    # A queued listing is live only if an earlier attempt may have been applied (see below).
    maybe_live = status not in NOT_LIVE and status not in (ListingStatus.SOLD, ListingStatus.QUEUED)
    for delivery in await open_deliveries(session, listing):
        action = DeliveryAction(delivery.action)
        if delivery.state == DeliveryState.IN_FLIGHT:
            maybe_live = maybe_live or action is DeliveryAction.PUBLISH
            continue
        if action is DeliveryAction.DELIST:
            return delivery
        maybe_live = maybe_live or (action is DeliveryAction.PUBLISH and delivery.must_check)
        await cancel_delivery(session, delivery, reason=reason)
    if status is ListingStatus.QUEUED and not maybe_live:
        await record(session, listing, ListingStatus.DRAFT, f"publication cancelled: {reason}")
        return None
    if not maybe_live:
        if after_sale:
            return None
        raise ListingConflict(f"the listing is {status.value}; only a live listing can be delisted")
    if status is ListingStatus.NEEDS_ACTION and (listing.action or {}).get("kind") == "delist":
        return None
    if not runtime.registry.supports(listing.connection.platform, Capability.DELIST):
        where = listing.url or listing.manage_url
        await apply_outcome(
            session,
            listing,
            NeedsAction(
                instructions=(
                    f"Take this listing down by hand ({reason}); {listing.connection.platform} offers no way to do it "
                    "from here. Then confirm."
                ),
                url=where,
            ),
            kind="delist",
        )
        return None
    delivery = await enqueue(
        session,
        runtime,
        connection=listing.connection,
        listing=listing,
        action=DeliveryAction.DELIST,
        payload={"reason": reason},
        approval=not after_sale,
        summary=f"Delist '{listing.item.title}' from {listing.connection.name} ({reason})",
    )
    await record(session, listing, status, f"takedown queued: {reason}")
    return delivery


async def withdraw_or_delist(session: AsyncSession, runtime: Runtime, listing: Listing) -> Delivery | None:
    """A person asked to take the listing down (the caller commits).

    An assisted posting a person has not made yet is simply withdrawn.

    Raises:
        ListingConflict: the listing is not live.
    """
    if ListingStatus(listing.status) is ListingStatus.NEEDS_ACTION and (listing.action or {}).get("kind") == "publish":
        listing.action = None
        await record(session, listing, ListingStatus.DELISTED, "withdrawn before a person posted it")
        return None
    return await take_down(session, runtime, listing, reason="the seller asked", after_sale=False)


LISTED_FIELDS = frozenset({"title", "description", "condition", "category", "brand", "identifiers", "quantity"})
"""Item fields a platform shows; changing one (or the price) updates the live listings."""


async def queue_updates(session: AsyncSession, runtime: Runtime, item: Item, *, reason: str) -> list[Delivery]:
    """Queue an update of every live listing of ``item`` on a platform that can update (the caller commits).

    A listing that already has an update on its way gets no second one: the update sends the item
    as it is when it goes out.
    """
    listings = await session.scalars(
        select(Listing)
        .where(Listing.item_id == item.id, Listing.status == ListingStatus.PUBLISHED.value)
        .options(selectinload(Listing.item), selectinload(Listing.connection))
        .order_by(Listing.id)
    )
    queued: list[Delivery] = []
    for listing in listings:
        if not runtime.registry.supports(listing.connection.platform, Capability.UPDATE):
            continue
        if any(
            d.action == DeliveryAction.UPDATE and d.state != DeliveryState.IN_FLIGHT
            for d in await open_deliveries(session, listing)
        ):
            continue
        queued.append(
            await enqueue(
                session,
                runtime,
                connection=listing.connection,
                listing=listing,
                action=DeliveryAction.UPDATE,
                payload={"reason": reason},
                summary=f"Update '{item.title}' on {listing.connection.name}: {reason}",
            )
        )
    return queued
