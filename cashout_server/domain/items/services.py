"""Items: validation beyond types, creation and updates."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.db.models import Item, Photo
from cashout_server.domain.items.schemas import IDENTIFIER_PATTERNS, ItemCreate, ItemUpdate
from cashout_server.domain.negotiation.engine import Strategy
from cashout_server.ids import new_id


class ItemInvalid(ValueError):
    """An item that fails a rule spanning fields (floor above list price, a bad UPC)."""


def clean_identifiers(values: dict[str, str]) -> dict[str, str]:
    """Normalise identifiers (strip spaces and dashes, upper-case) and check their formats.

    Raises:
        ItemInvalid: an unknown identifier kind or a malformed value.
    """
    out: dict[str, str] = {}
    for kind, raw in values.items():
        key = kind.lower()
        pattern = IDENTIFIER_PATTERNS.get(key)
        if pattern is None:
            raise ItemInvalid(f"unknown identifier {kind!r}; use {', '.join(IDENTIFIER_PATTERNS)}")
        value = raw.strip() if key == "mpn" else raw.replace("-", "").replace(" ", "").upper()
        if not pattern.match(value):
            raise ItemInvalid(f"identifiers.{key}: {raw!r} is not a valid {key.upper()}")
        out[key] = value
    return out


def _check_prices(item: Item) -> None:
    if item.floor_price_minor is not None and item.floor_price_minor > item.list_price_minor:
        raise ItemInvalid("floor_price_minor must not be above list_price_minor")
    try:
        Strategy.from_item(item.list_price_minor, item.floor_price_minor, item.negotiation or {})
    except ValueError as exc:
        raise ItemInvalid(f"negotiation: {exc}") from None


async def sku_taken(session: AsyncSession, sku: str | None, *, except_id: int | None = None) -> bool:
    """Whether another item already uses ``sku``."""
    if sku is None:
        return False
    query = select(Item.id).where(Item.sku == sku)
    if except_id is not None:
        query = query.where(Item.id != except_id)
    return await session.scalar(query) is not None


async def create_item(session: AsyncSession, data: ItemCreate) -> Item:
    """Create an item.

    Raises:
        ItemInvalid: identifiers, prices or a duplicate SKU.
    """
    values: dict[str, Any] = msgspec.structs.asdict(data)
    values["identifiers"] = clean_identifiers(data.identifiers)
    if await sku_taken(session, data.sku):
        raise ItemInvalid(f"sku {data.sku!r} is already used by another item")
    item = Item(public_id=new_id("item"), **{k: (v.value if hasattr(v, "value") else v) for k, v in values.items()})
    _check_prices(item)
    session.add(item)
    await session.flush()
    return item


async def update_item(session: AsyncSession, item: Item, data: ItemUpdate) -> Item:
    """Apply the fields present in ``data``.

    Raises:
        ItemInvalid: as :func:`create_item`.
    """
    for name in data.__struct_fields__:
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if name == "identifiers":
            value = clean_identifiers(value)
        if name == "sku" and await sku_taken(session, value, except_id=item.id):
            raise ItemInvalid(f"sku {value!r} is already used by another item")
        setattr(item, name, value.value if hasattr(value, "value") else value)
    _check_prices(item)
    await session.flush()
    return item


async def photo_counts(session: AsyncSession, item_ids: list[int]) -> dict[int, int]:
    """Number of photos per item id."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(Photo.item_id, func.count()).where(Photo.item_id.in_(item_ids)).group_by(Photo.item_id)
    )
    return dict(rows.all())


async def get_item(session: AsyncSession, public_id: str) -> Item | None:
    """The item with ``public_id``."""
    return await session.scalar(select(Item).where(Item.public_id == public_id))
