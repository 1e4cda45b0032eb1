"""``create_app()``: the Litestar application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router, get
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import cashout_server
from cashout_server.auth import PUBLIC_PATHS, TokenAuthMiddleware, access_guard
from cashout_server.db.migrate import current_revision, head_revision
from cashout_server.deps import RuntimeDep
from cashout_server.domain.accounts.controllers import ConnectionController
from cashout_server.domain.automation.controllers import ItemEventController, RuleController
from cashout_server.domain.delivery.controllers import ApprovalController, DeliveryController
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.domain.feeds.controllers import FeedController
from cashout_server.domain.items.controllers import ItemController
from cashout_server.domain.jobs.controllers import JobController
from cashout_server.domain.leads.controllers import LeadController
from cashout_server.domain.leads.webhooks import PlatformWebhookController
from cashout_server.domain.listings.controllers import ListingController
from cashout_server.domain.listings.copy import ListingCopyController
from cashout_server.domain.metrics.controllers import MetricController
from cashout_server.domain.payments.controllers import PaymentController, StripeWebhookController, paid_page
from cashout_server.domain.photos.controllers import MediaController, PhotoController, PhotoUploadController
from cashout_server.domain.platforms.controllers import PluginController
from cashout_server.domain.sales.controllers import SaleController
from cashout_server.domain.users.controllers import TokenController, UserController
from cashout_server.idempotency import IdempotencyKeyDocs, IdempotencyMiddleware
from cashout_server.problems import EXCEPTION_HANDLERS, ProblemError
from cashout_server.runtime import Runtime, build_runtime, check_credentials_decrypt
from cashout_server.scheduler import create_scheduler
from cashout_server.settings import Settings, load_settings

log = logging.getLogger("cashout")


@get("/healthz", operation_id="health", tags=["health"], exclude_from_auth=True)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches no database."""
    return {"status": "ok"}


@get("/readyz", operation_id="ready", tags=["health"], exclude_from_auth=True)
async def readyz(runtime: RuntimeDep) -> dict[str, str]:
    """Readiness: the database answers and its migrations are current."""
    try:
        async with runtime.session() as session:
            await session.execute(text("SELECT 1"))
        current = await current_revision(runtime.engine)
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        raise ProblemError(503, f"database unreachable: {type(exc).__name__}", slug="not-ready") from None
    head = head_revision()
    if current != head:
        raise ProblemError(503, f"database at migration {current}, code expects {head}", slug="not-ready")
    return {"status": "ready", "migration": head or ""}


async def _provide_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.session() as session:
        yield session


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    scheduler: bool = True,
    delivery_worker: bool | None = None,
) -> Litestar:
    """Build the application.

    Args:
        settings: settings to use (default: load from the environment and config file).
        runtime: a prepared runtime (tests pass one with their own plugin registry).
        scheduler: run the APScheduler jobs in this process.
        delivery_worker: run a delivery worker in this process (default: the ``delivery.worker`` setting).

    Migrations are applied before the app is built (``cashout serve`` and ``cashout db upgrade``
    do it); the app refuses to start when stored credentials do not decrypt.
    """
    rt = runtime or build_runtime(settings or load_settings())
    run_worker = rt.settings.delivery.worker if delivery_worker is None else delivery_worker

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await check_credentials_decrypt(rt)
        sched = create_scheduler(rt) if scheduler and rt.settings.scheduler.enabled else None
        worker = DeliveryWorker(rt) if run_worker else None
        if worker is not None:
            rt.delivery_worker = worker
            await worker.start()
        if sched is not None:
            await sched.start()
        try:
            yield
        finally:
            if sched is not None:
                await sched.stop()
            if worker is not None:
                await worker.stop()
                rt.delivery_worker = None
            if runtime is None:
                await rt.close()

    uploads = Router(
        path="/",
        route_handlers=[PhotoUploadController],
        request_max_body_size=rt.settings.photos.max_upload_bytes,
    )
    openapi = OpenAPIConfig(
        title="cashout",
        version=cashout_server.__version__,
        description="The cashout REST API. Send `Authorization: Bearer <token>` on every call but health.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={"token": SecurityScheme(type="http", scheme="bearer", description="cashout_pat_...")}
        ),
        security=[{"token": []}],
    )
    auth = DefineMiddleware(TokenAuthMiddleware, exclude=[f"^{p}" for p in PUBLIC_PATHS])

    def on_app_init(config: AppConfig) -> AppConfig:
        config.state["runtime"] = rt
        return config

    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            UserController,
            TokenController,
            ConnectionController,
            ItemController,
            uploads,
            PhotoController,
            MediaController,
            ListingController,
            ListingCopyController,
            DeliveryController,
            ApprovalController,
            SaleController,
            PaymentController,
            StripeWebhookController,
            paid_page,
            FeedController,
            LeadController,
            PlatformWebhookController,
            PluginController,
            JobController,
            RuleController,
            ItemEventController,
            MetricController,
        ],
        dependencies={
            "runtime": Provide(lambda: rt, use_cache=True, sync_to_thread=False),
            "db": Provide(_provide_db),
        },
        middleware=[auth, IdempotencyMiddleware()],  # in this order: keys belong to the authenticated user
        plugins=[IdempotencyKeyDocs()],
        guards=[access_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=[lifespan],
        on_app_init=[on_app_init],
        request_max_body_size=rt.settings.server.max_request_bytes,
        logging_config=None,  # `cashout serve` configures logging once, for every library alike
        debug=False,
    )


def app_factory() -> Litestar:
    """Entry point for ASGI servers (``uvicorn --factory cashout_server.app:app_factory``)."""
    return create_app()


__all__: list[Any] = ["app_factory", "create_app"]
