"""``/api/v1/rules`` and ``/api/v1/items/{item_id}/events``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from cashout_server.auth import principal_of
from cashout_server.db.models import AutomationRule, Item, ItemEvent
from cashout_server.deps import Db
from cashout_server.domain.automation import services
from cashout_server.domain.automation.params import RuleInvalid, RuleKind
from cashout_server.domain.automation.schemas import ItemEventOut, RuleCreate, RuleOut, RuleUpdate
from cashout_server.domain.items.services import get_item
from cashout_server.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, fetch_page
from cashout_server.problems import ProblemError, not_found


def _invalid(exc: RuleInvalid) -> ProblemError:
    return ProblemError(422, str(exc), slug="invalid-rule")


async def _item_public_ids(db: Db, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.execute(select(Item.id, Item.public_id).where(Item.id.in_(ids)))
    return dict(rows.all())


def rule_out(rule: AutomationRule, item_public_id: str | None) -> RuleOut:
    """The API view of a rule."""
    return RuleOut(
        id=rule.public_id,
        name=rule.name,
        kind=RuleKind(rule.kind),
        item_id=item_public_id,
        category=rule.category,
        params=dict(rule.params),
        enabled=rule.enabled,
        last_run_at=rule.last_run_at,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


async def _load(db: Db, rule_id: str) -> AutomationRule:
    rule = await services.get_rule(db, rule_id)
    if rule is None:
        raise not_found("rule", rule_id)
    return rule


async def _out(db: Db, rule: AutomationRule) -> RuleOut:
    names = await _item_public_ids(db, {rule.item_id} if rule.item_id is not None else set())
    return rule_out(rule, names.get(rule.item_id) if rule.item_id is not None else None)


class RuleController(Controller):
    """Automation rules: price drops, relisting stale listings, follow-ups to quiet buyers."""

    path = "/api/v1/rules"
    tags = ["automation"]

    @get("/", operation_id="listRules")
    async def list_rules(
        self,
        db: Db,
        kind: FromQuery[RuleKind | None] = None,
        item_id: FromQuery[str | None] = None,
        category: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[RuleOut]:
        """Rules, oldest first, filtered by kind, item or category."""
        query = select(AutomationRule)
        if kind is not None:
            query = query.where(AutomationRule.kind == kind.value)
        if item_id is not None:
            item = await get_item(db, item_id)
            if item is None:
                raise not_found("item", item_id)
            query = query.where(AutomationRule.item_id == item.id)
        if category is not None:
            query = query.where(AutomationRule.category == category)
        page, after = await fetch_page(db, query, AutomationRule.id, limit, cursor)
        names = await _item_public_ids(db, {r.item_id for r in page if r.item_id is not None})
        return Page(
            data=[rule_out(r, names.get(r.item_id) if r.item_id is not None else None) for r in page],
            next_cursor=after,
        )

    @post("/", operation_id="createRule")
    async def create_rule(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[RuleCreate]) -> RuleOut:
        """Add a rule for one item (``item_id``) or every item of a ``category``.

        Parameters per kind (checked, defaults filled in):

        * ``price_drop``: ``percent`` (0-100) or ``amount_minor``, ``every_days``; optional
          ``only_without_offers`` (``offer_days``, default 7) and ``min_price_minor``. Never below
          the item's floor (or ``min_price_minor``); an item with neither is not dropped.
        * ``relist``: ``after_days`` without leads before a live listing is refreshed.
        * ``follow_up``: ``after_hours`` of buyer silence; ``max_followups`` (default 1);
          ``auto_send`` (default false: drafts wait for approval).
        """
        try:
            rule = await services.create_rule(
                db,
                name=data.name,
                kind=data.kind.value,
                item_id=data.item_id,
                category=data.category,
                params=data.params,
                enabled=data.enabled,
                user_id=principal_of(request).user_id,
            )
        except RuleInvalid as exc:
            raise _invalid(exc) from None
        await db.commit()
        return await _out(db, rule)

    @get("/{rule_id:str}", operation_id="getRule")
    async def get_rule(self, db: Db, rule_id: FromPath[str]) -> RuleOut:
        """One rule."""
        return await _out(db, await _load(db, rule_id))

    @patch("/{rule_id:str}", operation_id="updateRule")
    async def update_rule(self, db: Db, rule_id: FromPath[str], data: JSONBody[RuleUpdate]) -> RuleOut:
        """Change a rule's name, parameters, target or whether it is enabled."""
        rule = await _load(db, rule_id)
        retarget = data.item_id is not msgspec.UNSET or data.category is not msgspec.UNSET
        try:
            await services.update_rule(
                db,
                rule,
                name=None if data.name is msgspec.UNSET else data.name,
                params=None if data.params is msgspec.UNSET else data.params,
                enabled=None if data.enabled is msgspec.UNSET else data.enabled,
                item_id=None if data.item_id is msgspec.UNSET else data.item_id,
                category=None if data.category is msgspec.UNSET else data.category,
                retarget=retarget,
            )
        except RuleInvalid as exc:
            await db.rollback()
            raise _invalid(exc) from None
        await db.commit()
        return await _out(db, rule)

    @delete("/{rule_id:str}", operation_id="deleteRule")
    async def delete_rule(self, db: Db, rule_id: FromPath[str]) -> None:
        """Delete a rule; what it did stays in the items' history."""
        rule = await _load(db, rule_id)
        await db.delete(rule)
        await db.commit()


class ItemEventController(Controller):
    """An item's explained history."""

    path = "/api/v1/items/{item_id:str}/events"
    tags = ["items", "automation"]

    @get("/", operation_id="listItemEvents")
    async def list_events(
        self,
        db: Db,
        item_id: FromPath[str],
        kind: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Page[ItemEventOut]:
        """What happened to the item and why (each rule's price drop, refresh or follow-up), oldest first."""
        item = await get_item(db, item_id)
        if item is None:
            raise not_found("item", item_id)
        query = select(ItemEvent).where(ItemEvent.item_id == item.id)
        if kind:
            query = query.where(ItemEvent.kind == kind)
        page, after = await fetch_page(db, query, ItemEvent.id, limit, cursor)
        rule_ids = {e.rule_id for e in page if e.rule_id is not None}
        rules: dict[int, str] = {}
        if rule_ids:
            found = await db.execute(
                select(AutomationRule.id, AutomationRule.public_id).where(AutomationRule.id.in_(rule_ids))
            )
            rules = dict(found.all())
        return Page(
            data=[
                ItemEventOut(
                    kind=e.kind,
                    detail=e.detail,
                    data=dict(e.data),
                    rule_id=rules.get(e.rule_id) if e.rule_id is not None else None,
                    created_at=e.created_at,
                )
                for e in page
            ],
            next_cursor=after,
        )
