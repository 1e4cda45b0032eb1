"""Scheduled lead work: fetching conversations per account, reading the mailbox, refitting scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select

from cashout_server.contract import Capability, InboundMessage, PluginError
from cashout_server.db.models import Connection, Item, Lead, LeadMessage, ScoreModel, ServerState, utcnow
from cashout_server.domain.accounts.services import call_with_refresh
from cashout_server.domain.leads.scoring import LeadFeatures, features_from, refit
from cashout_server.domain.leads.services import LeadState, _stored, current_weights, ingest_messages
from cashout_server.domain.mail.intake import poll_mailbox
from cashout_server.hooks import HookNotImplemented
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.leads.jobs")

TICK_SECONDS = 30
"""How often the fetch job looks for accounts that are due (each account has its own interval)."""


async def _last_fetch(runtime: Runtime, key: str) -> datetime | None:
    async with runtime.session() as session:
        row = await session.get(ServerState, key)
        return datetime.fromisoformat(row.value) if row is not None else None


async def _mark_fetch(runtime: Runtime, key: str, when: datetime) -> None:
    async with runtime.session() as session:
        row = await session.get(ServerState, key)
        if row is None:
            session.add(ServerState(key=key, value=when.isoformat()))
        else:
            row.value = when.isoformat()
        await session.commit()


async def fetch_leads(runtime: Runtime) -> dict[str, int]:
    """Fetch new buyer messages from every account whose fetch interval has passed.

    Each account's interval is its ``lead_fetch_interval``, else its plugin's
    ``leads_interval``, else ``CASHOUT_LEADS_FETCH_INTERVAL``.
    """
    counts = {"accounts": 0, "fetched": 0, "stored": 0, "failed": 0, "replies_queued": 0, "awaiting_approval": 0}
    async with runtime.session() as session:
        connections = list(await session.scalars(select(Connection).where(Connection.status == "active")))
    now = utcnow()
    for connection in connections:
        if not runtime.registry.supports(connection.platform, Capability.LEADS):
            continue
        desc = runtime.registry.descriptor(connection.platform)
        interval = connection.lead_fetch_interval or desc.leads_interval or runtime.settings.leads.fetch_interval
        key = f"leads.fetch.{connection.public_id}"
        last = await _last_fetch(runtime, key)
        if last is not None and now - last < timedelta(seconds=interval):
            continue
        counts["accounts"] += 1
        async with runtime.session() as session:
            since = await session.scalar(
                select(func.max(LeadMessage.sent_at))
                .join(Lead, Lead.id == LeadMessage.lead_id)
                .where(Lead.connection_id == connection.id, LeadMessage.direction == "in")
            )
        try:
            messages = await call_with_refresh(runtime, connection, "fetch_leads", since=since)
        except (PluginError, HookNotImplemented) as exc:
            counts["failed"] += 1
            log.warning("fetching leads of %s failed: %s", connection.public_id, exc)
            continue
        except Exception:
            counts["failed"] += 1
            log.exception("fetching leads of %s crashed", connection.public_id)
            continue
        await _mark_fetch(runtime, key, now)
        found = [m for m in messages if isinstance(m, InboundMessage)]
        counts["fetched"] += len(found)
        summary = await ingest_messages(runtime, found, connection_id=connection.id)
        for name in ("stored", "replies_queued", "awaiting_approval"):
            counts[name] += summary[name]
    return counts


async def poll_mail(runtime: Runtime) -> dict[str, int]:
    """Read new mail from the lead mailbox and store the buyer messages plugins recognise."""
    if not runtime.settings.mail.imap_host:
        return {"skipped": 1}
    stored = {"stored": 0, "replies_queued": 0, "awaiting_approval": 0}

    async def store(messages: Sequence[InboundMessage]) -> None:
        summary = await ingest_messages(runtime, messages)
        for name in stored:
            stored[name] += summary[name]

    totals: dict[str, int] = {}
    # A full batch means more mail is waiting: read on, within reason, rather than wait a whole interval.
    for _ in range(MAX_MAIL_BATCHES):
        counts = await poll_mailbox(runtime, store)
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value
        if not counts.get("more"):
            break
    totals.update(stored)
    return totals


MAX_MAIL_BATCHES = 10


MIN_OUTCOME_AGE = timedelta(days=14)
"""A lead counts as not sold once it has been quiet this long."""


async def refit_scores(runtime: Runtime) -> dict[str, int]:
    """Refit the lead-score weights from outcomes: leads that became sales versus leads that went quiet."""
    cutoff = utcnow() - MIN_OUTCOME_AGE
    samples: list[tuple[LeadFeatures, bool]] = []
    async with runtime.session() as session:
        leads = list(
            await session.scalars(
                select(Lead).where(
                    (Lead.state == LeadState.WON.value)
                    | (Lead.state.in_([LeadState.LOST.value, LeadState.ARCHIVED.value]))
                    | ((Lead.last_message_at < cutoff) & Lead.state.in_([LeadState.OPEN.value, LeadState.NEW.value]))
                )
            )
        )
        for lead in leads:
            inbound = list(
                await session.scalars(
                    select(LeadMessage)
                    .where(LeadMessage.lead_id == lead.id, LeadMessage.direction == "in")
                    .order_by(LeadMessage.sent_at)
                )
            )
            if not inbound:
                continue
            item = await session.get(Item, lead.item_id) if lead.item_id is not None else None
            features = features_from(
                [_stored(m) for m in inbound],
                [m.body for m in inbound],
                list_price_minor=item.list_price_minor if item else None,
                floor_price_minor=item.floor_price_minor if item else None,
                buyer_reply_seconds=None,
            )
            samples.append((features, lead.state == LeadState.WON.value))
        base = await current_weights(session)
        weights = refit(samples, base=base)
        if weights is None:
            return {"samples": len(samples), "refit": 0}
        won = sum(1 for _, sold in samples if sold)
        session.add(ScoreModel(weights=weights.to_json(), samples=len(samples), metrics={"won": won}))
        await session.commit()
    return {"samples": len(samples), "refit": 1}
