"""Listings: an item on one connection, and the publish / confirm / delist steps.

Invariant: a publication whose outcome is unknown is never sent again blindly. Before the
plugin is called the listing is committed as ``publishing``; if the process dies there, or
the plugin raises ``OutcomeUnknown`` (or crashes), the listing is ``unknown`` and the next
publish asks ``check_status`` first; only ``Absent`` allows sending it again.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from cashout_server.contract import (
    Absent,
    AuthExpired,
    Capability,
    Delisted,
    ItemData,
    ListingRequest,
    Money,
    NeedsAction,
    OutcomeUnknown,
    Pending,
    PhotoRef,
    Published,
    RateLimited,
    ReauthRequired,
    Rejected,
    TransientError,
)
from cashout_server.db.models import Connection, Item, Listing, ListingEvent, Photo, utcnow
from cashout_server.domain.accounts.services import plugin_context, refresh_credentials
from cashout_server.hooks import HookNotImplemented, PluginCrashed, call_targeted
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime


class ListingStatus(enum.StrEnum):
    """Where a listing stands on its platform."""

    DRAFT = "draft"
    PUBLISHING = "publishing"
    PENDING = "pending"
    NEEDS_ACTION = "needs_action"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DELISTED = "delisted"


class ListingConflict(Exception):
    """The listing is not in a state that allows the step; the message says why."""


_PUBLISHABLE = {ListingStatus.DRAFT, ListingStatus.REJECTED, ListingStatus.FAILED, ListingStatus.DELISTED}
_UNSETTLED = {ListingStatus.PUBLISHING, ListingStatus.UNKNOWN, ListingStatus.PENDING}


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


async def build_request(session: AsyncSession, runtime: Runtime, listing: Listing, item: Item) -> ListingRequest:
    """What a plugin receives for ``listing``: the item, its cleaned photos (up to the limit), ids."""
    photos = await session.scalars(select(Photo).where(Photo.item_id == item.id).order_by(Photo.position))
    desc = runtime.registry.descriptor(listing.connection.platform)
    limit = desc.limits.photo_max_count
    refs = tuple(
        PhotoRef(
            id=p.public_id,
            path=str(runtime.photos.clean_path(p.clean_sha256)),
            content_type="image/jpeg",
            width=p.width,
            height=p.height,
            sha256=p.clean_sha256,
            url=f"{runtime.settings.server.base_url}/api/v1/photos/{p.public_id}/content",
        )
        for p in photos
    )
    return ListingRequest(
        listing_id=listing.public_id,
        idempotency_key=listing.idempotency_key,
        item=ItemData(
            id=item.public_id,
            sku=item.sku,
            title=item.title,
            description=item.description,
            condition=item.condition,
            category=item.category,
            brand=item.brand,
            identifiers=dict(item.identifiers),
            quantity=item.quantity,
            price=Money(amount_minor=item.list_price_minor, currency=item.currency),
        ),
        photos=refs[:limit] if limit is not None else refs,
        external_id=listing.external_id,
        options={**listing.options, **({"manage_url": listing.manage_url} if listing.manage_url else {})},
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
    platform = listing.connection.platform
    async with plugin_context(runtime, listing.connection) as ctx:
        try:
            return await call_targeted(runtime.registry, platform, hook, ctx=ctx, listing=request)
        except AuthExpired:
            if not await refresh_credentials(runtime, listing.connection, ctx):
                raise
    async with plugin_context(runtime, listing.connection) as ctx:
        return await call_targeted(runtime.registry, platform, hook, ctx=ctx, listing=request)


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
    elif isinstance(outcome, Absent):
        await record(session, listing, ListingStatus.FAILED, outcome.detail or "the platform has no trace of it")
    else:
        listing.last_error = f"the plugin returned {type(outcome).__name__}, which is not a contract outcome"
        await record(session, listing, ListingStatus.UNKNOWN, listing.last_error)


async def _apply_error(session: AsyncSession, listing: Listing, exc: Exception, *, before: ListingStatus) -> None:
    if isinstance(exc, OutcomeUnknown | PluginCrashed):
        listing.last_error = f"outcome unknown: {exc}"
        await record(session, listing, ListingStatus.UNKNOWN, listing.last_error)
        return
    if isinstance(exc, ReauthRequired | AuthExpired):
        listing.connection.status = "needs_reauth"
        listing.connection.status_detail = str(exc) or "the platform no longer accepts the credentials"
        listing.last_error = f"reconnect the account: {listing.connection.status_detail}"
    elif isinstance(exc, RateLimited):
        wait = f"; retry after {exc.retry_after:.0f} s" if exc.retry_after is not None else ""
        listing.last_error = f"rate limited by the platform{wait}"
    elif isinstance(exc, TransientError):
        listing.last_error = f"temporary failure: {exc}"
    else:
        listing.last_error = f"{type(exc).__name__}: {exc}"
    status = ListingStatus.FAILED if before in _PUBLISHABLE else before
    await record(session, listing, status, listing.last_error)


async def publish(session: AsyncSession, runtime: Runtime, listing: Listing) -> Listing:
    """Publish ``listing`` now and record the outcome.

    Raises:
        ListingConflict: it is already live, waiting for a person, or its last outcome is
            unknown and ``check_status`` could not settle it.
    """
    status = ListingStatus(listing.status)
    if status in (ListingStatus.PUBLISHED, ListingStatus.NEEDS_ACTION):
        raise ListingConflict(f"the listing is {status.value}; nothing to publish")
    request = await build_request(session, runtime, listing, listing.item)
    if status in _UNSETTLED:
        # A previous attempt may have reached the platform: ask before sending again.
        try:
            found = await call_hook(runtime, listing, "check_status", request)
        except HookNotImplemented:
            found = None
        except Exception as exc:  # noqa: BLE001 - any failure leaves the outcome unknown
            listing.last_error = f"could not check the earlier attempt: {exc}"
            await record(session, listing, ListingStatus.UNKNOWN, listing.last_error)
            await session.commit()
            raise ListingConflict(
                "an earlier attempt may have published this listing and its status cannot be checked now; "
                "check the platform, then confirm the listing or mark it failed"
            ) from None
        if not isinstance(found, Absent):
            if found is not None:
                await apply_outcome(session, listing, found, kind="publish")
                await session.commit()
                return listing
            raise ListingConflict("an earlier attempt may have published this listing; confirm or mark it failed")
        await record(session, listing, ListingStatus.FAILED, "check_status: absent; safe to publish again")
        status = ListingStatus.FAILED
    await record(session, listing, ListingStatus.PUBLISHING, "sending to the platform")
    await session.commit()
    try:
        outcome = await call_hook(runtime, listing, "publish", request)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the listing
        await _apply_error(session, listing, exc, before=status)
    else:
        await apply_outcome(session, listing, outcome, kind="publish")
    await session.commit()
    return listing


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
    await session.commit()
    return listing


async def delist(session: AsyncSession, runtime: Runtime, listing: Listing) -> Listing:
    """Take a live listing down (or tell the person how).

    Raises:
        ListingConflict: the listing is not live, or the platform cannot delist.
    """
    status = ListingStatus(listing.status)
    if status not in (ListingStatus.PUBLISHED, ListingStatus.PENDING, ListingStatus.NEEDS_ACTION):
        raise ListingConflict(f"the listing is {status.value}; only a live listing can be delisted")
    if status is ListingStatus.NEEDS_ACTION and (listing.action or {}).get("kind") == "publish":
        listing.action = None
        await record(session, listing, ListingStatus.DELISTED, "withdrawn before a person posted it")
        await session.commit()
        return listing
    if not runtime.registry.supports(listing.connection.platform, Capability.DELIST):
        raise ListingConflict(f"platform {listing.connection.platform!r} cannot delist")
    request = await build_request(session, runtime, listing, listing.item)
    try:
        outcome = await call_hook(runtime, listing, "delist", request)
    except Exception as exc:  # noqa: BLE001 - recorded on the listing, which stays live
        await _apply_error(session, listing, exc, before=status)
    else:
        await apply_outcome(session, listing, outcome, kind="delist")
    await session.commit()
    return listing
