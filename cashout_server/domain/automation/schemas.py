"""Automation rule shapes on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from cashout_server.domain.automation.params import RuleKind

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Params = Annotated[
    dict[str, Any],
    msgspec.Meta(
        max_length=20,
        description=(
            "price_drop: percent or amount_minor, every_days, only_without_offers, offer_days, min_price_minor; "
            "relist: after_days; follow_up: after_hours, max_followups, auto_send"
        ),
    ),
]


class RuleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new rule: for one item (``item_id``) or every item of a ``category``."""

    name: Name
    kind: RuleKind
    params: Params
    item_id: str | None = None
    category: Category | None = None
    enabled: bool = True


class RuleUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a rule: only the fields present change. ``params`` replaces the parameters whole.

    Send ``item_id`` or ``category`` (with the other ``null``) to change what the rule applies to;
    the kind cannot change.
    """

    name: Name | msgspec.UnsetType = msgspec.UNSET
    params: Params | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    item_id: str | msgspec.UnsetType | None = msgspec.UNSET
    category: Category | msgspec.UnsetType | None = msgspec.UNSET


class RuleOut(msgspec.Struct, kw_only=True):
    """A rule, its parameters as stored (defaults filled in) and when it last ran."""

    id: str
    name: str
    kind: RuleKind
    item_id: str | None
    category: str | None
    params: dict[str, Any]
    enabled: bool
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ItemEventOut(msgspec.Struct, kw_only=True):
    """Something that happened to an item and why (``rule_id``: the rule that did it, if any)."""

    kind: str
    detail: str
    data: dict[str, Any]
    rule_id: str | None
    created_at: datetime
