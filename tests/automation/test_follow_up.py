"""Follow-ups to buyers who went quiet: drafted, gated by the approval policy, once per quiet spell."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from automation_support import NOW, Shop, days
from sqlalchemy import select, update

from cashout_server.db.models import Lead, LeadEvent, LeadMessage
from cashout_server.domain.automation.services import run_all
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db

AFTER_24H = {"after_hours": 24}


async def _quiet_lead(shop: Shop, *, hours: float = 30, **lead: Any) -> tuple[Any, Any, Lead]:
    con = await shop.connection(**lead.pop("connection", {}))
    item = await shop.item()
    await shop.live(item, con, published_at=NOW - days(10))
    row = await shop.lead(item, con, **lead)
    await shop.message(row, "in", "Is the bike still available?", NOW - days(2))
    await shop.message(row, "out", "Yes it is! When would you like to see it?", NOW - days(hours / 24))
    return con, item, row


async def _ours(runtime: Runtime, lead: Lead) -> list[LeadMessage]:
    async with runtime.session() as session:
        query = select(LeadMessage).where(LeadMessage.lead_id == lead.id, LeadMessage.author == "auto")
        return list(await session.scalars(query.order_by(LeadMessage.id)))


async def test_a_quiet_buyer_gets_a_drafted_follow_up_waiting_for_approval(
    shop: Shop, runtime: Runtime, api: httpx.AsyncClient
) -> None:
    _, item, lead = await _quiet_lead(shop)
    await shop.rule("follow_up", AFTER_24H, item=item)

    counts = await run_all(runtime, now=NOW)
    assert counts["follow_ups"] == 1

    shown = (await api.get(f"/api/v1/leads/{lead.public_id}")).json()
    [follow_up] = [m for m in shown["messages"] if m["direction"] == "out" and m["author"] == "auto"]
    assert follow_up["status"] == "awaiting_approval"
    assert "Trek road bike" in follow_up["body"] or "bike" in follow_up["body"].lower()
    assert "$150" not in follow_up["body"], "the floor never appears"
    [event] = await shop.events(item)
    assert event.kind == "follow_up" and "waits for approval" in event.detail
    assert event.data["lead"] == lead.public_id and "no reply 30 hours after our last message" in event.detail
    async with runtime.session() as session:
        kinds = list(await session.scalars(select(LeadEvent.kind).where(LeadEvent.lead_id == lead.id)))
    assert "follow_up" in kinds and "reply_waiting" in kinds

    assert (await run_all(runtime, now=NOW + days(3)))["follow_ups"] == 0, "one follow-up per quiet spell"
    assert len(await _ours(runtime, lead)) == 1


async def test_no_follow_up_before_after_hours_or_when_the_buyer_answered(shop: Shop, runtime: Runtime) -> None:
    _, item, lead = await _quiet_lead(shop, hours=20)
    await shop.rule("follow_up", AFTER_24H, item=item)
    assert (await run_all(runtime, now=NOW))["follow_ups"] == 0
    await shop.message(lead, "in", "Saturday works", NOW - days(0.1))
    assert (await run_all(runtime, now=NOW + days(5)))["follow_ups"] == 0
    assert await _ours(runtime, lead) == []


async def test_closed_leads_get_no_follow_up(shop: Shop, runtime: Runtime) -> None:
    _, item, _lead = await _quiet_lead(shop, state="lost")
    await shop.rule("follow_up", AFTER_24H, item=item)
    assert (await run_all(runtime, now=NOW))["follow_ups"] == 0


async def test_auto_send_goes_out_only_where_the_policy_allows(shop: Shop, runtime: Runtime) -> None:
    _, free_item, free = await _quiet_lead(shop)
    _, gated_item, gated = await _quiet_lead(shop, connection={"approval_policy": {"reply": True}})
    await shop.rule("follow_up", {**AFTER_24H, "auto_send": True}, item=free_item)
    await shop.rule("follow_up", {**AFTER_24H, "auto_send": True}, item=gated_item)
    await run_all(runtime, now=NOW)
    [sent] = await shop.deliveries(lead_id=free.id)
    [held] = await shop.deliveries(lead_id=gated.id)
    assert sent.action == "reply" and sent.state == "queued"
    assert held.state == "awaiting_approval"


async def test_max_followups_counts_follow_ups_in_the_same_quiet_spell(shop: Shop, runtime: Runtime) -> None:
    _, item, lead = await _quiet_lead(shop)
    await shop.rule("follow_up", {**AFTER_24H, "max_followups": 2}, item=item)
    await run_all(runtime, now=NOW)
    [first] = await _ours(runtime, lead)
    async with runtime.session() as session:  # the first follow-up was approved and sent
        await session.execute(update(LeadMessage).where(LeadMessage.id == first.id).values(status="sent"))
        await session.execute(update(Lead).where(Lead.id == lead.id).values(last_outbound_at=NOW + days(1)))
        await session.commit()
    assert (await run_all(runtime, now=NOW + days(1.5)))["follow_ups"] == 0, "24 hours after the follow-up"
    assert (await run_all(runtime, now=NOW + days(2.1)))["follow_ups"] == 1
    async with runtime.session() as session:
        await session.execute(update(LeadMessage).where(LeadMessage.lead_id == lead.id).values(status="sent"))
        await session.execute(update(Lead).where(Lead.id == lead.id).values(last_outbound_at=NOW + days(2.1)))
        await session.commit()
    assert (await run_all(runtime, now=NOW + days(9)))["follow_ups"] == 0, "two is the most"
    assert len(await _ours(runtime, lead)) == 2
