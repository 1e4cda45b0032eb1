"""Item shapes on the wire."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated

import msgspec

Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")]
Minor = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="amount in minor units (cents)")]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Description = Annotated[str, msgspec.Meta(max_length=50_000)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Quantity = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Facts = Annotated[
    dict[Annotated[str, msgspec.Meta(min_length=1, max_length=50)], Annotated[str, msgspec.Meta(max_length=500)]],
    msgspec.Meta(
        max_length=30,
        description="what buyers may be told, e.g. pickup_area, pickup_times, shipping; replies use only these",
    ),
]
NegotiationSettings = Annotated[
    dict[str, int | float],
    msgspec.Meta(
        max_length=20,
        description="negotiation strategy overrides: accept_at_minor, max_rounds, round_concession, ...",
    ),
]


class Condition(enum.StrEnum):
    """The item's condition."""

    NEW = "new"
    LIKE_NEW = "like_new"
    USED_GOOD = "used_good"
    USED_FAIR = "used_fair"
    FOR_PARTS = "for_parts"


class ItemStatus(enum.StrEnum):
    """Where the item is in its life."""

    DRAFT = "draft"
    ACTIVE = "active"
    SOLD = "sold"
    ARCHIVED = "archived"


IDENTIFIER_PATTERNS = {
    "upc": re.compile(r"^\d{12}$"),
    "ean": re.compile(r"^\d{13}$"),
    "gtin": re.compile(r"^\d{8}$|^\d{12,14}$"),
    "isbn": re.compile(r"^(\d{9}[\dX]|\d{13})$"),
    "asin": re.compile(r"^[A-Z0-9]{10}$"),
    "mpn": re.compile(r"^.{1,70}$"),
}


class ItemOut(msgspec.Struct, kw_only=True):
    """An item. Prices are integer minor units of ``currency``."""

    id: str
    sku: str | None
    title: str
    description: str
    condition: Condition
    category: str | None
    brand: str | None
    identifiers: dict[str, str]
    quantity: int
    currency: str
    cost_basis_minor: int | None
    list_price_minor: int
    floor_price_minor: int | None
    facts: dict[str, str]
    negotiation: dict[str, int | float]
    status: ItemStatus
    photo_count: int
    created_at: datetime
    updated_at: datetime


class ItemCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new item."""

    title: Title
    list_price_minor: Minor
    description: Description = ""
    condition: Condition = Condition.USED_GOOD
    sku: Short | None = None
    category: Short | None = None
    brand: Short | None = None
    identifiers: dict[str, str] = {}
    quantity: Quantity = 1
    currency: Currency = "USD"
    cost_basis_minor: Minor | None = None
    floor_price_minor: Minor | None = None
    facts: Facts = {}
    negotiation: NegotiationSettings = {}
    status: ItemStatus = ItemStatus.DRAFT


class ItemUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to an item: only the fields present change; ``null`` clears an optional field."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    list_price_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    condition: Condition | msgspec.UnsetType = msgspec.UNSET
    sku: Short | msgspec.UnsetType | None = msgspec.UNSET
    category: Short | msgspec.UnsetType | None = msgspec.UNSET
    brand: Short | msgspec.UnsetType | None = msgspec.UNSET
    identifiers: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    cost_basis_minor: Minor | msgspec.UnsetType | None = msgspec.UNSET
    floor_price_minor: Minor | msgspec.UnsetType | None = msgspec.UNSET
    facts: Facts | msgspec.UnsetType = msgspec.UNSET
    negotiation: NegotiationSettings | msgspec.UnsetType = msgspec.UNSET
    status: ItemStatus | msgspec.UnsetType = msgspec.UNSET
