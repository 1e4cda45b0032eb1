"""The world the automation tests build: limited platforms and a shop written straight to the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cashout_server import Capability, Delisted, ListingRequest, PlatformDescriptor, PluginContext, Published, hookimpl
from cashout_server.db.models import AutomationRule, Connection, Delivery, Item, ItemEvent, Lead, LeadMessage, Listing
from cashout_server.domain.automation.services import create_rule
from cashout_server.ids import new_id
from cashout_server.runtime import Runtime

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class LimitedPlatform:
    """A platform with only some capabilities (no updates; maybe no delisting)."""

    def __init__(self, name: str, capabilities: Sequence[Capability]) -> None:
        self.name = name
        self.capabilities = frozenset(capabilities)
        self.calls: list[str] = []

    @hookimpl
    def platforms(self) -> list[PlatformDescriptor]:
        return [PlatformDescriptor(name=self.name, display_name=self.name.title(), capabilities=self.capabilities)]

    @hookimpl
    async def publish(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append("publish")
        return Published(external_id=f"{self.name}-{len(self.calls)}")

    @hookimpl
    async def delist(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append("delist")
        return Delisted(external_id=listing.external_id)


class Shop:
    """Writes the world a rule looks at."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def connection(self, platform: str = "scripted", **fields: Any) -> Connection:
        async with self.runtime.session() as session:
            row = Connection(
                public_id=new_id("connection"),
                platform=platform,
                name=f"My {platform}",
                credentials_encrypted=self.runtime.keyring.encrypt({"api_key": "k"})
                if platform == "scripted"
                else None,
                **fields,
            )
            session.add(row)
            await session.commit()
            return row

    async def item(self, **fields: Any) -> Item:
        values: dict[str, Any] = {
            "title": "Trek road bike",
            "condition": "used_good",
            "list_price_minor": 20000,
            "floor_price_minor": 15000,
            "status": "active",
            **fields,
        }
        async with self.runtime.session() as session:
            row = Item(public_id=new_id("item"), **values)
            session.add(row)
            await session.commit()
            return row

    async def live(self, item: Item, connection: Connection, *, published_at: datetime) -> Listing:
        async with self.runtime.session() as session:
            row = Listing(
                public_id=new_id("listing"),
                item_id=item.id,
                connection_id=connection.id,
                idempotency_key=new_id("listing"),
                status="published",
                external_id=f"ext-{item.public_id}",
                published_at=published_at,
            )
            session.add(row)
            await session.commit()
            return row

    async def lead(self, item: Item, connection: Connection, **fields: Any) -> Lead:
        async with self.runtime.session() as session:
            row = Lead(
                public_id=new_id("lead"),
                platform=connection.platform,
                thread_id=new_id("lead"),
                connection_id=connection.id,
                item_id=item.id,
                buyer_name="Sam",
                buyer_handle="sam-1",
                **{"state": "open", **fields},
            )
            session.add(row)
            await session.commit()
            return row

    async def message(self, lead: Lead, direction: str, body: str, at: datetime, **fields: Any) -> None:
        async with self.runtime.session() as session:
            session.add(
                LeadMessage(
                    public_id=new_id("message"),
                    lead_id=lead.id,
                    platform=lead.platform,
                    external_id=new_id("message"),
                    direction=direction,
                    body=body,
                    sent_at=at,
                    status="received" if direction == "in" else "sent",
                    author="buyer" if direction == "in" else "seller",
                    **fields,
                )
            )
            row = await session.get_one(Lead, lead.id)
            if direction == "in":
                row.last_inbound_at = at
            else:
                row.last_outbound_at = at
            row.last_message_at = at
            await session.commit()

    async def rule(
        self, kind: str, params: dict[str, Any], *, item: Item | None = None, category: str | None = None
    ) -> AutomationRule:
        async with self.runtime.session() as session:
            row = await create_rule(
                session,
                name=f"{kind} rule",
                kind=kind,
                item_id=item.public_id if item is not None else None,
                category=category,
                params=params,
                enabled=True,
                user_id=None,
            )
            await session.commit()
            return row

    async def price(self, item: Item) -> int:
        async with self.runtime.session() as session:
            return int(await session.scalar(select(Item.list_price_minor).where(Item.id == item.id)) or 0)

    async def events(self, item: Item) -> list[ItemEvent]:
        async with self.runtime.session() as session:
            return list(
                await session.scalars(select(ItemEvent).where(ItemEvent.item_id == item.id).order_by(ItemEvent.id))
            )

    async def deliveries(self, **where: Any) -> list[Delivery]:
        async with self.runtime.session() as session:
            query = select(Delivery).order_by(Delivery.id)
            for name, value in where.items():
                query = query.where(getattr(Delivery, name) == value)
            return list(await session.scalars(query))


def days(n: float) -> timedelta:
    return timedelta(days=n)
