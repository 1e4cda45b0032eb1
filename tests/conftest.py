"""Fixtures: a migrated database (SQLite, or PostgreSQL with CASHOUT_TEST_DATABASE_URL), the real
app, tokens of each scope, and helpers for PostgreSQL availability.

* ``CASHOUT_TEST_DATABASE_URL`` unset: each test gets its own SQLite file, copied from one
  migrated template per session.
* set (``.ci/run`` does): one PostgreSQL database migrated once; every table is emptied before
  each test. Tests that use the database are marked ``db`` automatically, so ``pytest -m db``
  is the database suite.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cashout_test_support import require_postgres
from litestar import Litestar
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine

from cashout_server.app import create_app
from cashout_server.db.migrate import upgrade
from cashout_server.db.models import Base, Connection, Delivery
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.domain.users.services import create_user, ensure_owner, issue_token
from cashout_server.plugins import PluginRegistry, create_plugin_manager
from cashout_server.runtime import Runtime, build_runtime
from cashout_server.security.tokens import Role, Scope
from cashout_server.settings import Settings, load_settings

TEST_DB_URL = os.environ.get("CASHOUT_TEST_DATABASE_URL")
DB_FIXTURES = {"runtime", "settings", "app", "client", "api"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "cashout.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> str | None:
    if not TEST_DB_URL:
        return None
    require_postgres(TEST_DB_URL)
    upgrade(TEST_DB_URL)
    return TEST_DB_URL


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, pg_database: str | None) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if pg_database:
        asyncio.run(_truncate(pg_database))
        return load_settings(server={"data_dir": data_dir}, database={"url": pg_database})
    shutil.copy(sqlite_template, data_dir / "cashout.db")
    return load_settings(server={"data_dir": data_dir})


@pytest.fixture
def registry() -> PluginRegistry:
    """Every installed plugin, discovered through entry points as in production."""
    return create_plugin_manager()


@pytest.fixture
async def runtime(settings: Settings, registry: PluginRegistry) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, registry=registry)
    yield rt
    await rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Litestar:
    return create_app(runtime=runtime, scheduler=False, delivery_worker=False)


@pytest.fixture
def worker(runtime: Runtime) -> DeliveryWorker:
    """The delivery worker, driven by the test: ``await worker.run_once()`` is one delivery cycle."""
    return DeliveryWorker(runtime, worker_id="test-worker")


@pytest.fixture
def make_due(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """Skip the waiting: every queued delivery becomes due now and no account is throttled."""

    async def run() -> None:
        async with runtime.session() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.state == "queued")
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.execute(update(Connection).values(throttled_until=None))
            await session.commit()

    return run


@dataclass
class Tokens:
    owner: str
    admin: str
    member: str
    read: str


@pytest.fixture
async def tokens(runtime: Runtime) -> Tokens:
    async with runtime.session() as session:
        first = await ensure_owner(session, "owner@example.com")
        assert first is not None
        owner = first.row.user
        member = await create_user(session, email="member@example.com", role=Role.MEMBER)
        admin = await create_user(session, email="admin@example.com", role=Role.ADMIN)
        out = Tokens(
            owner=first.secret,
            admin=(await issue_token(session, admin, name="t", scope=Scope.ADMIN)).secret,
            member=(await issue_token(session, member, name="t", scope=Scope.WRITE)).secret,
            read=(await issue_token(session, owner, name="t", scope=Scope.READ)).secret,
        )
        await session.commit()
    return out


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    # The app runs in the test's own event loop (Litestar's AsyncTestClient would run it in a
    # portal thread, and asyncpg connections cannot move between loops).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def api(client: httpx.AsyncClient, tokens: Tokens) -> httpx.AsyncClient:
    """A client that sends the owner's admin token."""
    client.headers["Authorization"] = f"Bearer {tokens.owner}"
    return client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove every CASHOUT_ variable so settings tests see only what they set."""
    for name in list(os.environ):
        if name.startswith("CASHOUT_"):
            monkeypatch.delenv(name)
    return


# --- a scripted platform plugin for exercising the core ---------------------------------------

from collections.abc import Sequence  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import msgspec  # noqa: E402

from cashout_server import (  # noqa: E402
    Action,
    CampaignCreated,
    CampaignRequest,
    Capability,
    ConfigField,
    Delisted,
    FeedDocument,
    InboundEmail,
    InboundMessage,
    ListingRequest,
    MetricPoint,
    Money,
    PlatformDescriptor,
    PluginContext,
    PriceQuery,
    PriceQuote,
    Published,
    ReplyRequest,
    ReplySent,
    WebhookRequest,
    WebhookResponse,
    hookimpl,
)


class ScriptedPlatform:
    """A plugin whose answers a test scripts: ``publish_results`` are returned (or raised) in order."""

    def __init__(self) -> None:
        self.publish_results: list[object] = []
        self.status_results: list[object] = []
        self.delist_results: list[object] = []
        self.reply_results: list[object] = []
        self.replies: list[ReplyRequest] = []
        self.seen_photos: list[tuple[Any, ...]] = []
        self.calls: list[tuple[str, str]] = []
        self.seen_credentials: list[dict[str, str]] = []
        self.delay = 0.0
        """Seconds each publish takes (to observe concurrency)."""
        self.in_flight = 0
        self.max_in_flight = 0

    @hookimpl
    def platforms(self) -> list[PlatformDescriptor]:
        return [
            PlatformDescriptor(
                name="scripted",
                display_name="Scripted",
                capabilities=frozenset(
                    {
                        Capability.PUBLISH,
                        Capability.DELIST,
                        Capability.UPDATE,
                        Capability.LEADS,
                        Capability.REPLY,
                        Capability.METRICS,
                        Capability.PRICE_LOOKUP,
                        Capability.CAMPAIGNS,
                        Capability.FEED,
                        Capability.WEBHOOKS,
                    }
                ),
                credential_fields=(ConfigField(name="api_key", label="API key", secret=True),),
                setting_fields=(
                    ConfigField(name="region", label="Region", required=False, default="us", choices=("us", "eu")),
                ),
                approval_required=frozenset({Action.AD_SPEND}),
            )
        ]

    def _next(self, queue: list[object], default: object) -> object:
        result = queue.pop(0) if queue else default
        if isinstance(result, BaseException):
            raise result
        return result

    @hookimpl
    async def publish(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append(("publish", listing.idempotency_key))
        self.seen_credentials.append(dict(ctx.connection.credentials))
        self.seen_photos.append(tuple(listing.photos))
        if self.delay:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        return self._next(
            self.publish_results, Published(external_id=f"ext-{listing.listing_id}", url="https://scripted.test/1")
        )

    @hookimpl
    async def check_status(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append(("check_status", listing.idempotency_key))
        return self._next(self.status_results, Published(external_id="ext-found"))

    @hookimpl
    async def update_listing(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append(("update_listing", listing.idempotency_key))
        return Published(external_id=listing.external_id or "?")

    @hookimpl
    async def delist(self, ctx: PluginContext, listing: ListingRequest) -> object:
        self.calls.append(("delist", listing.idempotency_key))
        return self._next(self.delist_results, Delisted(external_id=listing.external_id))

    @hookimpl
    async def render_feed(self, ctx: PluginContext, listings: Sequence[ListingRequest]) -> FeedDocument:
        self.calls.append(("render_feed", ctx.feed_url or ""))
        rows = "".join(f"{item.listing_id},{item.item.title}\n" for item in listings)
        return FeedDocument(content_type="text/csv; charset=utf-8", body=f"id,title\n{rows}".encode())

    @hookimpl
    async def fetch_leads(self, ctx: PluginContext, since: datetime | None) -> Sequence[InboundMessage]:
        self.calls.append(("fetch_leads", str(since)))
        return [
            InboundMessage(
                platform="scripted",
                external_id="m1",
                thread_id="t1",
                body="Is this available?",
                sent_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        ]

    @hookimpl
    async def send_reply(self, ctx: PluginContext, reply: ReplyRequest) -> object:
        self.calls.append(("send_reply", reply.idempotency_key))
        self.replies.append(reply)
        return self._next(self.reply_results, ReplySent(external_id=f"r{len(self.replies)}"))

    @hookimpl
    async def handle_webhook(self, ctx: PluginContext, request: WebhookRequest) -> WebhookResponse:
        self.calls.append(("handle_webhook", request.method))
        if request.headers.get("x-scripted-token") != ctx.connection.credentials.get("api_key"):
            return WebhookResponse(status=403, body=b"bad token")
        if request.method == "GET":
            return WebhookResponse(body=request.query.get("challenge", "").encode())
        rows = msgspec.json.decode(request.body) if request.body else []
        messages = tuple(
            InboundMessage(
                platform="scripted",
                external_id=row["id"],
                thread_id=row["thread"],
                body=row["text"],
                sent_at=datetime.fromisoformat(row["at"]),
                sender_name=row.get("name"),
                sender_handle=row.get("handle"),
                listing_external_id=row.get("listing"),
            )
            for row in rows
        )
        return WebhookResponse(body=b"ok", messages=messages)

    @hookimpl
    async def fetch_metrics(self, ctx: PluginContext, since: datetime | None) -> Sequence[MetricPoint]:
        self.calls.append(("fetch_metrics", str(since)))
        at = datetime(2026, 1, 1, tzinfo=UTC)
        return [MetricPoint(subject="listing", external_id="x", name="views", value=3, at=at)]

    @hookimpl
    async def price_lookup(self, ctx: PluginContext, query: PriceQuery) -> Sequence[PriceQuote]:
        self.calls.append(("price_lookup", query.title or ""))
        return [PriceQuote(source="scripted", price=Money(amount_minor=1999))]

    @hookimpl
    async def create_campaign(self, ctx: PluginContext, campaign: CampaignRequest) -> CampaignCreated:
        self.calls.append(("create_campaign", campaign.idempotency_key))
        return CampaignCreated(external_id="c1")

    @hookimpl
    async def refresh_credentials(self, ctx: PluginContext) -> dict[str, str]:
        self.calls.append(("refresh_credentials", ctx.connection.id))
        return {"api_key": "refreshed-key"}

    @hookimpl
    def parse_lead_email(self, email: InboundEmail) -> InboundMessage | None:
        if not email.from_address.endswith("@scripted.test"):
            return None
        return InboundMessage(
            platform="scripted",
            external_id=email.message_id,
            thread_id=email.from_address,
            body=email.text,
            sent_at=email.received_at or datetime(2026, 1, 1, tzinfo=UTC),
        )


@pytest.fixture
def scripted() -> ScriptedPlatform:
    return ScriptedPlatform()


@pytest.fixture
def registry_with_scripted(scripted: ScriptedPlatform) -> PluginRegistry:
    return create_plugin_manager(extra=[("scripted", scripted)])


@pytest.fixture
def scripted_cls() -> type[ScriptedPlatform]:
    return ScriptedPlatform
