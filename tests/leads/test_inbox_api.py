"""The inbox end to end: messages in through a webhook, understood, negotiated, answered through the outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cashout_server import NeedsAction
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.domain.leads.jobs import fetch_leads
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime

pytestmark = pytest.mark.db

Client = AsyncTestClient[Litestar]
KEY = "sk-scripted-1"


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


class Shop:
    """One scripted account with one published item (list $200, floor $150)."""

    def __init__(self, api: Client, worker: DeliveryWorker) -> None:
        self.api = api
        self.worker = worker
        self.connection = ""
        self.item = ""
        self.external = ""
        self.sent = 0

    async def open(self, **item: Any) -> Shop:
        body = {"title": "Trek road bike", "list_price_minor": 20000, "floor_price_minor": 15000, **item}
        r = await self.api.post("/api/v1/items", json=body)
        assert r.status_code == 201, r.text
        self.item = r.json()["id"]
        con = await self.api.post(
            "/api/v1/connections", json={"platform": "scripted", "name": "S", "credentials": {"api_key": KEY}}
        )
        assert con.status_code == 201, con.text
        self.connection = con.json()["id"]
        listing = await self.api.post("/api/v1/listings", json={"item_id": self.item, "connection_id": self.connection})
        listing_id = listing.json()["id"]
        assert (await self.api.post(f"/api/v1/listings/{listing_id}/publish")).status_code == 202
        await self.worker.run_once()
        self.external = (await self.api.get(f"/api/v1/listings/{listing_id}")).json()["external_id"]
        return self

    async def say(self, *texts: str, thread: str = "t1", token: str = KEY, start: int | None = None) -> Any:
        base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
        rows = []
        for n, text in enumerate(texts):
            self.sent += 1
            number = self.sent if start is None else start + n
            at = base + timedelta(seconds=20 * number)
            rows.append(
                {
                    "id": f"{thread}-m{number}",
                    "thread": thread,
                    "text": text,
                    "at": at.isoformat(),
                    "name": "Sam",
                    "handle": f"psid-{thread}",
                    "listing": self.external,
                }
            )
        return await self.api.post(
            f"/webhooks/scripted/{self.connection}",
            content=json.dumps(rows).encode(),
            headers={"x-scripted-token": token, "content-type": "application/json"},
        )

    async def lead(self, thread: str = "t1") -> dict[str, Any]:
        page = (await self.api.get("/api/v1/leads", params={"sort": "recent"})).json()["data"]
        [found] = [lead for lead in page if lead["thread_id"] == thread]
        return dict((await self.api.get(f"/api/v1/leads/{found['id']}")).json())


@pytest.fixture
async def shop(api: Client, worker: DeliveryWorker) -> Shop:
    return await Shop(api, worker).open()


def ours(lead: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in lead["messages"] if m["direction"] == "out"]


def kinds(lead: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in lead["timeline"]]


async def test_availability_is_answered_by_itself_through_the_outbox(
    shop: Shop, worker: DeliveryWorker, scripted: Any
) -> None:
    r = await shop.say("Hi, is this still available?")
    assert r.status_code == 200, r.text
    lead = await shop.lead()
    assert lead["item_id"] == shop.item and lead["intent"] == "availability"
    assert lead["state"] == "open" and 0 < lead["score"] <= 100
    assert lead["score_explanation"]["parts"], "the score says why"
    [reply] = ours(lead)
    assert reply["status"] == "queued" and reply["author"] == "auto"
    await worker.run_once()
    lead = await shop.lead()
    assert ours(lead)[0]["status"] == "sent"
    assert scripted.replies[-1].lead_external_id == "t1"
    assert scripted.replies[-1].to_address == "psid-t1"
    assert "available" in scripted.replies[-1].body.lower()
    assert {"classified", "scored", "reply_queued", "reply_sent"} <= set(kinds(lead))


async def test_the_same_messages_twice_are_stored_once(shop: Shop) -> None:
    await shop.say("Is it available?", start=1)
    await shop.say("Is it available?", start=1)
    lead = await shop.lead()
    assert len([m for m in lead["messages"] if m["direction"] == "in"]) == 1
    assert len(ours(lead)) == 1


async def test_a_burst_of_messages_is_answered_once(shop: Shop, worker: DeliveryWorker, scripted: Any) -> None:
    await shop.say("hello", "is this still available??", "hello?")
    await worker.run_once()
    lead = await shop.lead()
    assert len([m for m in lead["messages"] if m["direction"] == "in"]) == 3
    assert len([m for m in ours(lead) if m["status"] != "discarded"]) == 1
    assert len(scripted.replies) == 1
    # A follow-up "still there?" moments after our answer is not answered a second time.
    await shop.say("ok thanks")
    await worker.run_once()
    assert len(scripted.replies) == 1


async def test_scams_get_no_reply_and_are_flagged(shop: Shop, worker: DeliveryWorker, scripted: Any) -> None:
    await shop.say(
        "I will pay with Zelle now, my mover will pick it up. Please send me the 6 digit code Google sent you."
    )
    await worker.run_once()
    lead = await shop.lead()
    assert lead["state"] == "spam"
    assert lead["flags"], "the scam signals are named"
    assert ours(lead) == [] and scripted.replies == []
    assert "no_reply" in kinds(lead)
    assert lead["score"] < 20


async def test_an_offer_waits_for_approval_with_the_draft_ready(
    shop: Shop, api: Client, worker: DeliveryWorker, scripted: Any
) -> None:
    await shop.say("would you take 120 for it?")
    lead = await shop.lead()
    assert lead["intent"] == "offer"
    [draft] = ours(lead)
    assert draft["status"] == "awaiting_approval" and draft["approval_id"]
    assert lead["awaiting_approval"] == 1
    decision = [e for e in lead["timeline"] if e["kind"].startswith("decision_")]
    assert decision and decision[0]["detail"], "the engine explains its decision"
    assert "150" not in draft["body"], "the floor is never in a reply"
    await worker.run_once()
    assert scripted.replies == [], "nothing leaves before a person approves"
    waiting = (await api.get("/api/v1/leads", params={"needs_approval": "true"})).json()["data"]
    assert [w["id"] for w in waiting] == [lead["id"]]
    [approval] = (await api.get("/api/v1/approvals")).json()["data"]
    assert approval["action"] == "reply" and approval["id"] == draft["approval_id"]
    assert (approval["lead_id"], approval["message_id"]) == (lead["id"], draft["id"])

    r = await api.post(
        f"/api/v1/leads/{lead['id']}/messages/{draft['id']}/approve", json={"body": "I could do $185 for it."}
    )
    assert r.status_code == 200, r.text
    await worker.run_once()
    assert scripted.replies[-1].body == "I could do $185 for it."
    lead = (await api.get(f"/api/v1/leads/{lead['id']}")).json()
    assert ours(lead)[0]["status"] == "sent"
    assert "reply_approved" in kinds(lead) and "reply_edited" in kinds(lead)


async def test_a_person_cannot_counter_below_the_floor(shop: Shop, api: Client) -> None:
    await shop.say("would you take 120?")
    lead = await shop.lead()
    r = await api.post(f"/api/v1/leads/{lead['id']}/offers", json={"action": "counter", "amount_minor": 14000})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "floor" in r.json()["detail"]
    r = await api.post(f"/api/v1/leads/{lead['id']}/offers", json={"action": "counter", "amount_minor": 17500})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "negotiating"
    assert any(m["body"].endswith("$175.") and m["status"] == "queued" for m in ours(body))
    # The engine's earlier draft is replaced, not sent as well.
    assert [m["status"] for m in ours(body)].count("discarded") == 1


async def test_accepting_agrees_the_price(shop: Shop, api: Client) -> None:
    await shop.say("I can do 190 cash today")
    lead = await shop.lead()
    r = await api.post(f"/api/v1/leads/{lead['id']}/offers", json={"action": "accept"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "agreed"
    assert r.json()["negotiation"]["agreed_minor"] == 19000


async def test_discarding_a_draft_and_replying_by_hand(
    shop: Shop, api: Client, worker: DeliveryWorker, scripted: Any
) -> None:
    await shop.say("would you take 100?")
    lead = await shop.lead()
    [draft] = ours(lead)
    r = await api.post(f"/api/v1/leads/{lead['id']}/messages/{draft['id']}/discard")
    assert r.status_code == 200
    assert ours(r.json())[0]["status"] == "discarded"
    r = await api.post(f"/api/v1/leads/{lead['id']}/replies", json={"body": "Sorry, that's too low."})
    assert r.status_code == 201, r.text
    await worker.run_once()
    assert [rep.body for rep in scripted.replies] == ["Sorry, that's too low."]
    # A sent reply can no longer be edited or discarded.
    sent = next(m for m in ours((await api.get(f"/api/v1/leads/{lead['id']}")).json()) if m["status"] == "sent")
    r = await api.patch(f"/api/v1/leads/{lead['id']}/messages/{sent['id']}", json={"body": "changed"})
    assert r.status_code == 409


async def test_a_bad_webhook_token_stores_nothing(shop: Shop, api: Client) -> None:
    r = await shop.say("is it available", token="wrong")
    assert r.status_code == 403
    assert (await api.get("/api/v1/leads")).json()["data"] == []
    r = await api.get(
        f"/webhooks/scripted/{shop.connection}", params={"challenge": "abc"}, headers={"x-scripted-token": KEY}
    )
    assert r.status_code == 200 and r.text == "abc"
    r = await api.get("/webhooks/scripted/con_nope", headers={"x-scripted-token": KEY})
    assert r.status_code == 404


async def test_inbox_sorts_by_score_and_filters(shop: Shop, api: Client) -> None:
    await shop.say("Is this available? I can pick up today at 5, cash ready. Would you take 190?", thread="good")
    await shop.say("what's your lowest", thread="meh")
    await shop.say("Send me the code from the text message to verify you're real", thread="scam")
    page = (await api.get("/api/v1/leads")).json()["data"]
    scores = [lead["score"] for lead in page]
    assert scores == sorted(scores, reverse=True) and len(page) == 3
    assert page[-1]["state"] == "spam"
    spam = (await api.get("/api/v1/leads", params={"state": "spam"})).json()["data"]
    assert len(spam) == 1
    first = (await api.get("/api/v1/leads", params={"limit": 2})).json()
    second = (await api.get("/api/v1/leads", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [x["id"] for x in first["data"] + second["data"]] == [x["id"] for x in page]
    r = await api.get("/api/v1/leads", params={"state": "bogus"})
    assert r.status_code == 400
    r = await api.get("/api/v1/leads", params={"min_score": 101})
    assert r.status_code == 400


async def test_reply_outside_the_platform_window_waits_for_a_person(
    shop: Shop, api: Client, worker: DeliveryWorker, scripted: Any
) -> None:
    scripted.reply_results.append(NeedsAction(instructions="the 24-hour window has passed; answer in the app"))
    await shop.say("is it available")
    await worker.run_once()
    lead = await shop.lead()
    assert ours(lead)[0]["status"] == "needs_action"
    assert "reply_needs_action" in kinds(lead)


async def test_the_fetch_job_stores_messages_once_per_interval(shop: Shop, runtime: Runtime, api: Client) -> None:
    first = await fetch_leads(runtime)
    assert first["accounts"] == 1 and first["stored"] == 1
    again = await fetch_leads(runtime)
    assert again["accounts"] == 0, "the account's interval has not passed"
    lead = (await api.get("/api/v1/leads")).json()["data"]
    assert len(lead) == 1 and lead[0]["intent"] == "availability"
