"""A shop to sell from in payment tests: items, leads, published listings, and Stripe events delivered to the app."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from cashout_server.db.models import Item, Lead
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime
from cashout_server.testing.fake_stripe import FakeStripe, sign_event

WEBHOOK_SECRET = "whsec_test_cashout_0123456789"


@dataclass
class Shop:
    """Items, leads and listings to sell, and a way to deliver Stripe events to the app."""

    api: httpx.AsyncClient
    runtime: Runtime
    fake: FakeStripe
    worker: DeliveryWorker

    async def item(self, title: str = "Road bike", price: int = 30000, **extra: Any) -> str:
        r = await self.api.post("/api/v1/items", json={"title": title, "list_price_minor": price, **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def lead(self, item_id: str | None, *, agreed_minor: int | None = None, platform: str = "scripted") -> str:
        async with self.runtime.session() as session:
            item_pk = await session.scalar(select(Item.id).where(Item.public_id == item_id)) if item_id else None
            lead = Lead(
                public_id=new_id("lead"),
                platform=platform,
                thread_id=new_id("message"),
                item_id=item_pk,
                state="negotiating",
                negotiation={"agreed_minor": agreed_minor} if agreed_minor is not None else {},
            )
            session.add(lead)
            await session.commit()
            return lead.public_id

    async def published_listings(self, item_id: str, count: int) -> list[str]:
        """``count`` listings of the item on scripted accounts, published by one delivery cycle."""
        ids = []
        for n in range(count):
            r = await self.api.post(
                "/api/v1/connections",
                json={"platform": "scripted", "name": f"Account {n}", "credentials": {"api_key": "k"}},
            )
            assert r.status_code == 201, r.text
            r = await self.api.post("/api/v1/listings", json={"item_id": item_id, "connection_id": r.json()["id"]})
            assert r.status_code == 201, r.text
            ids.append(str(r.json()["id"]))
            assert (await self.api.post(f"/api/v1/listings/{ids[-1]}/publish")).status_code == 202
        await self.worker.run_once()
        return ids

    async def pay(self, **body: Any) -> httpx.Response:
        return await self.api.post("/api/v1/payments", json=body)

    async def deliver(
        self,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str = WEBHOOK_SECRET,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST the event to the webhook as Stripe does (signed now unless told otherwise)."""
        body = json.dumps(event, indent=2).encode()
        header = signature if signature is not None else sign_event(body, secret, timestamp or int(time.time()))
        return await self.api.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json", "Authorization": ""},
        )
