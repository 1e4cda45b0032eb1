"""The ``credentials.refresh`` job: refresh platform credentials before they expire.

Convention (docs/architecture.md, "Credential expiry"): a plugin that knows when its credentials
expire stores, next to them, either ``expires_at`` (ISO-8601, UTC) or ``expires_in`` (seconds)
with ``obtained_at`` (ISO-8601, UTC). Credentials without either are never refreshed ahead of
time; the delivery worker still refreshes them when a call answers ``AuthExpired``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cashout_server.contract import ReauthRequired
from cashout_server.db.models import Connection, utcnow
from cashout_server.domain.accounts.services import credential_values, plugin_context, refresh_credentials
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.jobs.credentials")

MIN_MARGIN = timedelta(minutes=10)
"""Refresh at least this long before expiry: twice the job's interval, plus room for clock skew."""
MARGIN_SHARE = 0.1
"""...or this share of the credentials' lifetime, when that is longer."""


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def credential_expiry(credentials: dict[str, str]) -> tuple[datetime, timedelta | None] | None:
    """When ``credentials`` expire and their lifetime (if known), by the convention of the module docstring."""
    obtained = _parse_time(credentials["obtained_at"]) if credentials.get("obtained_at") else None
    if credentials.get("expires_at"):
        expires = _parse_time(credentials["expires_at"])
        if expires is None:
            return None
        return expires, (expires - obtained if obtained else None)
    if credentials.get("expires_in") and obtained is not None:
        try:
            seconds = float(credentials["expires_in"])
        except ValueError:
            return None
        lifetime = timedelta(seconds=seconds)
        return obtained + lifetime, lifetime
    return None


def refresh_due(expires_at: datetime, lifetime: timedelta | None, now: datetime) -> bool:
    """Whether credentials expiring at ``expires_at`` should be refreshed now (margin: 10% of life, at least 10 min)."""
    margin = max(MIN_MARGIN, lifetime * MARGIN_SHARE) if lifetime else MIN_MARGIN
    return expires_at - margin <= now


async def refresh_expiring_credentials(runtime: Runtime) -> dict[str, int]:
    """Refresh the credentials of every active connection that expire soon (a scheduler job).

    Uses the same refresh as the delivery worker's ``AuthExpired`` path (one refresh at a time per
    connection; the plugin's answer is merged over the stored credentials, so a missing new refresh
    token keeps the old one). Only ``ReauthRequired`` marks a connection ``needs_reauth``; rate
    limits and transient failures leave it as it is, to be tried again at the next run.

    Returns:
        Counts: ``checked`` (connections with a known expiry), ``refreshed``, ``needs_reauth``,
        ``failed`` (tried again next run) and ``unsupported`` (the plugin cannot refresh).
    """
    counts: Counter[str] = Counter(checked=0, refreshed=0, needs_reauth=0, failed=0, unsupported=0)
    async with runtime.session() as session:
        rows = list(await session.scalars(select(Connection).where(Connection.status == "active")))
    for row in rows:
        if row.platform not in runtime.registry.platforms:
            continue
        before = credential_values(runtime, row)
        expiry = credential_expiry(before)
        if expiry is None:
            continue
        counts["checked"] += 1
        if not refresh_due(*expiry, utcnow()):
            continue
        try:
            async with plugin_context(runtime, row) as ctx:
                refreshed = await refresh_credentials(runtime, row, ctx)
        except ReauthRequired as exc:
            await _mark_needs_reauth(runtime, row.id, str(exc) or "the platform refused to refresh the credentials")
            counts["needs_reauth"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - rate limits, outages, plugin bugs: try again next run
            log.warning("refreshing the credentials of %s failed: %s", row.public_id, type(exc).__name__)
            counts["failed"] += 1
            continue
        if not refreshed:
            counts["unsupported"] += 1
            continue
        await _stamp_obtained(runtime, row, before)
        counts["refreshed"] += 1
    return dict(counts)


async def _mark_needs_reauth(runtime: Runtime, connection_id: int, detail: str) -> None:
    async with runtime.session() as session:
        stored = await session.get_one(Connection, connection_id)
        stored.status = "needs_reauth"
        stored.status_detail = detail[:500]
        await session.commit()


async def _stamp_obtained(runtime: Runtime, row: Connection, before: dict[str, str]) -> None:
    """A refresh that answered ``expires_in`` without ``obtained_at``: the lifetime starts now."""
    after = credential_values(runtime, row)
    if "expires_at" in after or "expires_in" not in after or after == before:
        return
    if after.get("obtained_at") and after.get("obtained_at") != before.get("obtained_at"):
        return
    after["obtained_at"] = utcnow().isoformat()
    token = runtime.keyring.encrypt(after)
    async with runtime.session() as session:
        stored = await session.get_one(Connection, row.id)
        stored.credentials_encrypted = token
        await session.commit()
    row.credentials_encrypted = token
