"""``/webhooks/{platform}/{connection_id}``: calls platforms make to us, verified by their plugin.

The route needs no API token: the plugin's ``handle_webhook`` checks the platform's own
signature over the raw body (or a verify token) and says what to answer. Buyer messages the
call carries are stored exactly like fetched ones, after the answer is decided.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy import select

from cashout_server.contract import Capability, WebhookRequest, WebhookResponse
from cashout_server.db.models import Connection
from cashout_server.deps import Db, RuntimeDep
from cashout_server.domain.accounts.services import plugin_context
from cashout_server.domain.leads.services import ingest_messages
from cashout_server.hooks import call_targeted
from cashout_server.problems import ProblemError, not_found

log = logging.getLogger("cashout.webhooks")

MAX_WEBHOOK_BYTES = 1024 * 1024


class PlatformWebhookController(Controller):
    """Webhooks of platform plugins (Messenger messages, subscription checks)."""

    path = "/webhooks"
    tags = ["webhooks"]

    @get("/{platform:str}/{connection_id:str}", operation_id="platformWebhookCheck", security=[{}])
    async def check(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        platform: FromPath[str],
        connection_id: FromPath[str],
    ) -> Response[bytes]:
        """A platform's subscription check (for example Messenger's ``hub.challenge``), answered by its plugin."""
        return await _handle(request, runtime, db, platform, connection_id)

    @post(
        "/{platform:str}/{connection_id:str}",
        operation_id="platformWebhook",
        security=[{}],
        request_max_body_size=MAX_WEBHOOK_BYTES,
    )
    async def event(
        self,
        request: Request[Any, Any, Any],
        runtime: RuntimeDep,
        db: Db,
        platform: FromPath[str],
        connection_id: FromPath[str],
    ) -> Response[bytes]:
        """An event from a platform; the plugin verifies its signature and any buyer messages are stored."""
        return await _handle(request, runtime, db, platform, connection_id)


async def _handle(
    request: Request[Any, Any, Any], runtime: RuntimeDep, db: Db, platform: str, connection_id: str
) -> Response[bytes]:
    connection = await db.scalar(
        select(Connection).where(Connection.public_id == connection_id, Connection.platform == platform)
    )
    if connection is None or not runtime.registry.supports(platform, Capability.WEBHOOKS):
        raise not_found("webhook", f"{platform}/{connection_id}")
    body = await request.body()
    call = WebhookRequest(
        method=request.method.upper(),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params.items()),
        body=body,
    )
    async with plugin_context(runtime, connection) as ctx:
        try:
            answer = await call_targeted(runtime.registry, platform, "handle_webhook", ctx=ctx, request=call)
        except Exception:
            log.exception("webhook of %s failed in its plugin", connection.public_id)
            raise ProblemError(500, "the plugin could not handle the webhook", slug="webhook-failed") from None
    if not isinstance(answer, WebhookResponse):
        raise ProblemError(500, "the plugin returned no webhook answer", slug="webhook-failed")
    if answer.messages and 200 <= answer.status < 300:
        await ingest_messages(runtime, answer.messages, connection_id=connection.id)
    return Response(content=answer.body, status_code=answer.status, media_type=answer.content_type)
