"""The delivery worker: claims due outbox rows and calls the plugins, within every platform's limits.

Rules it keeps (ARCHITECTURE.md section 5):

* A claimed row is ``in_flight`` with a lease. If the worker dies, the row is recovered as
  "maybe applied": a publication is checked with ``check_status`` before anything is resent.
* Per-account concurrency is counted from the database at claim time, so several workers on
  PostgreSQL (claims serialised by an advisory lock, rows taken ``FOR UPDATE SKIP LOCKED``)
  never exceed it together. A platform's ``Retry-After`` is stored on the connection.
* Transient failures are retried with full-jitter exponential backoff up to
  ``delivery.max_attempts``, then the row is dead (visible, with its last error, retryable).
  Rejections are never retried. ``OutcomeUnknown`` is never resent blindly.
* A platform that keeps failing opens its circuit breaker: its rows wait, every other platform
  goes on at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from cashout_server.contract import (
    Absent,
    AuthExpired,
    OutcomeUnknown,
    Pending,
    RateLimited,
    ReauthRequired,
    Rejected,
    Sold,
    TransientError,
)
from cashout_server.db.models import Connection, Delivery, DeliveryAttempt, Listing, ListingEvent, utcnow
from cashout_server.domain.accounts.services import call_with_refresh
from cashout_server.domain.delivery.controls import Breaker, RateGate, full_jitter
from cashout_server.domain.delivery.services import (
    OPEN_STATES,
    DeliveryAction,
    DeliveryState,
    enqueue,
    recover_abandoned,
)
from cashout_server.domain.leads.sending import ReplyGone, load_reply, record_reply_failure, record_reply_outcome
from cashout_server.domain.listings.services import (
    ListingStatus,
    apply_outcome,
    build_request,
    call_hook,
    record,
)
from cashout_server.domain.photos.services import PhotoFileMissing
from cashout_server.domain.photos.variants import VariantTooLarge
from cashout_server.domain.sales.services import record_sale
from cashout_server.hooks import HookNotImplemented, PluginCrashed
from cashout_server.runtime import Runtime

log = logging.getLogger("cashout.delivery")

CLAIM_LOCK = 0x63617368_6F757401
"""PostgreSQL advisory lock key that serialises claims across workers ("cashout" + 1)."""

_HOOKS = {
    DeliveryAction.PUBLISH: "publish",
    DeliveryAction.UPDATE: "update_listing",
    DeliveryAction.DELIST: "delist",
    DeliveryAction.CHECK: "check_status",
    DeliveryAction.REPLY: "send_reply",
}


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: int
    connection_id: int
    platform: str


class DeliveryWorker:
    """Delivers outbox rows. ``start()``/``stop()`` in the server; ``run_once()`` for one cycle."""

    def __init__(self, runtime: Runtime, *, worker_id: str | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.delivery
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.breakers: dict[str, Breaker] = {}
        self.gates: dict[int, RateGate] = {}
        self.running: dict[int, asyncio.Task[None]] = {}
        self.counts: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._cycle_seen: set[int] | None = None
        self._rotation = 0
        self._sqlite_writes = asyncio.Lock()
        self._postgres = runtime.engine.dialect.name == "postgresql"

    # --- lifecycle ------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due deliveries now (something was enqueued or finished)."""
        self._wake.set()

    async def start(self) -> None:
        """Recover what a previous run left in flight, then deliver in the background."""
        await self.recover(startup=True)
        self.runtime.delivery_wakers.append(self.wake)
        self._loop_task = asyncio.create_task(self._loop(), name="cashout-delivery")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give running deliveries ``grace`` seconds, then cancel them.

        A cancelled delivery stays ``in_flight`` and is recovered (checked first) on the next start.
        """
        self._stopping = True
        if self.wake in self.runtime.delivery_wakers:
            self.runtime.delivery_wakers.remove(self.wake)
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self.running:
            _, pending = await asyncio.wait(list(self.running.values()), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _loop(self) -> None:
        last_renew = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim_and_start()
                if time.monotonic() - last_renew >= self.settings.lease_seconds / 3:
                    await self._renew_leases()
                    await self.recover(startup=False)
                    last_renew = time.monotonic()
            except Exception:
                log.exception("delivery worker: claiming failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)
            # Let a burst of completions or enqueues arrive before the next claim.
            await asyncio.sleep(0.002)

    async def run_once(self) -> dict[str, int]:
        """One delivery cycle: claim everything due, deliver it, and what that made due, until quiet.

        Returns:
            Counts of deliveries finished by outcome in this cycle.
        """
        before = Counter(self.counts)
        # Each delivery is attempted at most once per cycle: a retry due at once waits for the next.
        self._cycle_seen = set()
        try:
            await self.recover(startup=False)
            while True:
                await self._claim_and_start()
                if not self.running:
                    break
                await asyncio.wait(list(self.running.values()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._cycle_seen = None
        return dict(self.counts - before)

    async def recover(self, *, startup: bool) -> int:
        """Requeue deliveries abandoned in flight (their lease ran out; at a SQLite start-up, all)."""
        async with self._db(), self.runtime.session() as session:
            count = await recover_abandoned(session, everything=startup and not self._postgres)
            await session.commit()
        if count:
            log.warning("recovered %d delivery(ies) left in flight; they are checked before resending", count)
        return count

    async def _renew_leases(self) -> None:
        if not self.running:
            return
        async with self._db(), self.runtime.session() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(list(self.running)), Delivery.claimed_by == self.id)
                .values(lease_until=utcnow() + timedelta(seconds=self.settings.lease_seconds))
            )
            await session.commit()

    # --- claiming -------------------------------------------------------------------------

    def breaker_states(self) -> dict[str, str]:
        """Platform to its circuit breaker's state (``closed``, ``open``, ``half_open``)."""
        return {name: b.state for name, b in self.breakers.items()}

    def breaker(self, platform: str) -> Breaker:
        """This worker's circuit breaker for ``platform``."""
        found = self.breakers.get(platform)
        if found is None:
            found = self.breakers[platform] = Breaker(
                threshold=self.settings.breaker_threshold, cooldown=self.settings.breaker_cooldown
            )
        return found

    async def _claim_and_start(self) -> int:
        claims = await self._claim()
        for claim in claims:
            self.breaker(claim.platform).started()
            task = asyncio.create_task(self._deliver(claim), name=f"delivery-{claim.delivery_id}")
            self.running[claim.delivery_id] = task
        return len(claims)

    async def _claim(self) -> list[_Claim]:
        budget = self.settings.max_in_flight - len(self.running)
        if budget <= 0 or self._stopping:
            return []
        now = utcnow()
        async with self._db(), self.runtime.session() as session:
            if self._postgres:
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
            counted = await session.execute(
                select(Delivery.connection_id, func.count())
                .where(Delivery.state == DeliveryState.IN_FLIGHT.value)
                .group_by(Delivery.connection_id)
            )
            in_flight: dict[int, int] = {row[0]: row[1] for row in counted.all()}
            accounts = list(
                (
                    await session.execute(
                        select(
                            Connection.id,
                            Connection.platform,
                            Connection.max_concurrency,
                            Connection.requests_per_minute,
                        )
                        .where(
                            Connection.status == "active",
                            or_(Connection.throttled_until.is_(None), Connection.throttled_until <= now),
                        )
                        .order_by(Connection.id)
                    )
                ).all()
            )
            # Start each claim at the next account, so a full budget never starves the same ones.
            if accounts:
                self._rotation = (self._rotation + 1) % len(accounts)
                accounts = accounts[self._rotation :] + accounts[: self._rotation]
            earlier = aliased(Delivery)
            blocking = (
                select(earlier.id)
                .where(
                    or_(earlier.listing_id == Delivery.listing_id, earlier.lead_id == Delivery.lead_id),
                    earlier.id < Delivery.id,
                    earlier.action != DeliveryAction.CHECK.value,
                    earlier.state.in_([s.value for s in OPEN_STATES]),
                )
                .correlate(Delivery)
            )
            chosen: list[_Claim] = []
            trial_taken: set[str] = set()
            for account in accounts:
                if len(chosen) >= budget:
                    break
                if account.platform not in self.runtime.registry.platforms:
                    continue
                allowed = self.breaker(account.platform).allow()
                if allowed == 0 or (allowed == 1 and account.platform in trial_taken):
                    continue
                room = self._concurrency(account.platform, account.max_concurrency) - in_flight.get(account.id, 0)
                room = min(
                    room,
                    budget - len(chosen),
                    self._gate_room(account.id, account.platform, account.requests_per_minute),
                )
                if allowed == 1:
                    room = min(room, 1)
                if room <= 0:
                    continue
                query = (
                    select(Delivery.id)
                    .where(
                        Delivery.connection_id == account.id,
                        Delivery.state == DeliveryState.QUEUED.value,
                        Delivery.next_attempt_at <= now,
                        ~exists(blocking),
                    )
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(room)
                )
                if self._cycle_seen:
                    query = query.where(Delivery.id.not_in(self._cycle_seen))
                if self._postgres:
                    query = query.with_for_update(skip_locked=True)
                ids = list(await session.scalars(query))
                if ids and allowed == 1:
                    trial_taken.add(account.platform)
                chosen.extend(_Claim(i, account.id, account.platform) for i in ids)
            if not chosen:
                await session.rollback()
                return []
            locked = {c.delivery_id for c in chosen}
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(locked))
                .values(
                    state=DeliveryState.IN_FLIGHT.value,
                    lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                    claimed_by=self.id,
                    attempts=Delivery.attempts + 1,
                    updated_at=now,
                )
            )
            await self._mark_publishing(session, locked, now)
            # Committed before any plugin is called: a crash from here on leaves the rows in
            # flight, which recovery treats as "maybe applied".
            await session.commit()
        if self._cycle_seen is not None:
            self._cycle_seen.update(locked)
        for claim in chosen:
            gate = self.gates.get(claim.connection_id)
            if gate is not None:
                gate.take(1)
        return chosen

    @staticmethod
    async def _mark_publishing(session: AsyncSession, delivery_ids: set[int], now: datetime) -> None:
        """Listings whose publication was just claimed become ``publishing``, in the claim's transaction."""
        listing_ids = list(
            await session.scalars(
                select(Delivery.listing_id)
                .join(Listing, Listing.id == Delivery.listing_id)
                .where(
                    Delivery.id.in_(delivery_ids),
                    Delivery.action == DeliveryAction.PUBLISH.value,
                    Listing.status != ListingStatus.PUBLISHING.value,
                )
            )
        )
        if not listing_ids:
            return
        await session.execute(
            update(Listing)
            .where(Listing.id.in_(listing_ids))
            .values(status=ListingStatus.PUBLISHING.value, updated_at=now)
        )
        await session.execute(
            insert(ListingEvent),
            [
                {"listing_id": lid, "status": ListingStatus.PUBLISHING.value, "detail": "sending", "created_at": now}
                for lid in listing_ids
            ],
        )

    def _concurrency(self, platform: str, override: int | None) -> int:
        if override:
            return override
        return self.runtime.registry.platforms[platform].rate_limit.max_concurrency

    def _gate_room(self, connection_id: int, platform: str, override: int | None) -> int:
        """Requests the account's per-minute budget allows now (a large number when it has none)."""
        per_minute = override or self.runtime.registry.platforms[platform].rate_limit.requests_per_minute
        if not per_minute:
            self.gates.pop(connection_id, None)
            return 1_000_000
        gate = self.gates.get(connection_id)
        if gate is None or gate.per_minute != per_minute:
            gate = self.gates[connection_id] = RateGate(per_minute=per_minute)
        return gate.available()

    # --- delivering -----------------------------------------------------------------------

    def _db(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Hold while writing (SQLite only).

        SQLite has one writer: this process's writes take turns instead of waiting on each
        other's locks. PostgreSQL locks rows and needs no such turn-taking.
        """
        return contextlib.nullcontext() if self._postgres else self._sqlite_writes

    async def _deliver(self, claim: _Claim) -> None:
        try:
            async with self.runtime.session() as session:
                outcome = await self._attempt(session, claim)
                if outcome is not None:
                    self.counts[outcome] += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            # The row stays in flight and is recovered (checked first) when its lease runs out.
            log.exception("delivery %s: recording the result failed", claim.delivery_id)
            self.counts["error"] += 1
        finally:
            self.running.pop(claim.delivery_id, None)
            self._wake.set()

    async def _attempt(self, session: AsyncSession, claim: _Claim) -> str | None:
        started = utcnow()
        delivery = await session.scalar(
            select(Delivery)
            .where(Delivery.id == claim.delivery_id)
            .options(
                joinedload(Delivery.connection),
                joinedload(Delivery.listing).joinedload(Listing.item),
                joinedload(Delivery.listing).joinedload(Listing.connection),
            )
        )
        if delivery is None or delivery.state != DeliveryState.IN_FLIGHT or delivery.claimed_by != self.id:
            await session.rollback()
            return None
        action = DeliveryAction(delivery.action)
        if action is DeliveryAction.REPLY:
            return await self._attempt_reply(session, delivery, claim, started)
        listing = delivery.listing
        if (
            listing is None
            or (action is DeliveryAction.CHECK and ListingStatus(listing.status) is not ListingStatus.PENDING)
            or (action is DeliveryAction.UPDATE and ListingStatus(listing.status) is not ListingStatus.PUBLISHED)
        ):
            # Nothing to send: the listing is gone, settled, or no longer live (sold, delisted).
            async with self._db():
                state = DeliveryState.DEAD if listing is None else DeliveryState.DONE
                why = "no listing to deliver" if listing is None else f"skipped: the listing is {listing.status}"
                settled = await self._finish(session, delivery, state, why, hook="-")
                await session.commit()
            return settled
        try:
            request = await build_request(session, self.runtime, listing, listing.item)
        except (PhotoFileMissing, VariantTooLarge) as exc:
            # Retrying cannot fix this; a person must replace the photo.
            async with self._db():
                message = f"the photos cannot be prepared: {exc}"
                settled = await self._finish(
                    session, delivery, DeliveryState.DEAD, message, hook="-", fail_listing=True
                )
                await session.commit()
            return settled
        # End the read transaction (commit: a rollback would expire the loaded objects): the
        # connection goes back to the pool for the length of the call.
        await session.commit()
        attempt = DeliveryAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            hook=_HOOKS[action],
            outcome="started",
            started_at=started,
        )

        hook = _HOOKS[action]
        checked_absent = False
        outcome: object = None
        error: Exception | None = None
        try:
            if action is DeliveryAction.PUBLISH and delivery.must_check:
                hook = "check_status"
                outcome = await call_hook(self.runtime, listing, "check_status", request)
                if isinstance(outcome, Absent):
                    checked_absent = True
                    hook = "publish"
                    outcome = await call_hook(self.runtime, listing, "publish", request)
            else:
                outcome = await call_hook(self.runtime, listing, hook, request)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded below
            error = exc

        async with self._db():
            session.add(attempt)
            if checked_absent:
                delivery.must_check = False
                await record(session, listing, ListingStatus.PUBLISHING, "checked: not on the platform; sending again")
            if isinstance(error, HookNotImplemented) and hook == "check_status":
                message = "an earlier attempt may have been applied and the plugin cannot check"
                result = await self._unknown(session, delivery, attempt, message)
            elif isinstance(error, HookNotImplemented):
                attempt.outcome = "not_implemented"
                result = await self._finish(
                    session, delivery, DeliveryState.DEAD, str(error), hook=hook, attempt=attempt
                )
            elif error is not None:
                result = await self._failed(session, delivery, attempt, error, claim, hook=hook)
            else:
                result = await self._settle(session, delivery, attempt, outcome, claim)
            await session.commit()
        return result

    async def _attempt_reply(self, session: AsyncSession, delivery: Delivery, claim: _Claim, started: datetime) -> str:
        """Send one reply to a buyer. A reply cannot be looked up afterwards, so it is never re-sent blindly."""
        try:
            lead, message, request = await load_reply(session, delivery)
        except ReplyGone as exc:
            async with self._db():
                settled = await self._finish(session, delivery, DeliveryState.CANCELLED, str(exc), hook="-")
                await session.commit()
            return settled
        if delivery.must_check:
            async with self._db():
                why = "the worker stopped while sending it"
                await record_reply_failure(session, delivery, why, unknown=True)
                settled = await self._finish(session, delivery, DeliveryState.UNKNOWN, why, hook="send_reply")
                await session.commit()
            return settled
        connection = delivery.connection
        await session.commit()
        attempt = DeliveryAttempt(
            delivery_id=delivery.id, number=delivery.attempts, hook="send_reply", outcome="started", started_at=started
        )
        outcome: object = None
        error: Exception | None = None
        try:
            outcome = await call_with_refresh(self.runtime, connection, "send_reply", reply=request)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded below
            error = exc
        async with self._db():
            session.add(attempt)
            if isinstance(error, HookNotImplemented):
                attempt.outcome = "not_implemented"
                await record_reply_failure(session, delivery, str(error), unknown=False)
                result = await self._finish(
                    session, delivery, DeliveryState.DEAD, str(error), hook="send_reply", attempt=attempt
                )
            elif isinstance(error, OutcomeUnknown | PluginCrashed):
                self.breaker(claim.platform).trial_in_flight = False
                attempt.outcome = "unknown"
                attempt.finished_at = utcnow()
                attempt.detail = str(error)[:2000]
                await record_reply_failure(session, delivery, str(error), unknown=True)
                result = await self._finish(
                    session, delivery, DeliveryState.UNKNOWN, f"may have been sent: {error}", hook="send_reply"
                )
            elif error is not None:
                result = await self._failed(session, delivery, attempt, error, claim, hook="send_reply")
                if delivery.state == DeliveryState.DEAD:
                    await record_reply_failure(session, delivery, str(error), unknown=False)
            else:
                self.breaker(claim.platform).success()
                attempt.outcome = type(outcome).__name__.lower()
                attempt.finished_at = utcnow()
                tag = await record_reply_outcome(session, lead, message, outcome)
                result = await self._finish(session, delivery, DeliveryState.DONE, None, hook="send_reply", result=tag)
            await session.commit()
        return result

    async def _settle(
        self, session: AsyncSession, delivery: Delivery, attempt: DeliveryAttempt, outcome: object, claim: _Claim
    ) -> str:
        self.breaker(claim.platform).success()
        listing = delivery.listing
        assert listing is not None
        action = DeliveryAction(delivery.action)
        tag = type(outcome).__name__.lower()
        attempt.outcome = tag
        attempt.finished_at = utcnow()
        if isinstance(outcome, Sold):
            await apply_outcome(session, listing, outcome, kind="publish")
            await record_sale(
                session,
                self.runtime,
                item=listing.item,
                quantity=outcome.quantity,
                price=outcome.price,
                listing=listing,
                source="platform",
                note=f"reported sold by {listing.connection.platform}",
            )
        elif action is DeliveryAction.UPDATE and isinstance(outcome, Rejected):
            listing.last_error = f"the platform refused the update: {outcome.reason}"
            await record(session, listing, ListingStatus(listing.status), listing.last_error)
        else:
            kind = "delist" if action is DeliveryAction.DELIST else "publish"
            await apply_outcome(session, listing, outcome, kind=kind)
        if isinstance(outcome, Pending):
            checks = int(delivery.payload.get("checks", 0)) + (1 if action is DeliveryAction.CHECK else 0)
            wait = self.settings.pending_check_interval * min(2**checks, 60)
            when = outcome.check_after if outcome.check_after and outcome.check_after > utcnow() else None
            await enqueue(
                session,
                self.runtime,
                connection=delivery.connection,
                listing=listing,
                action=DeliveryAction.CHECK,
                payload={"checks": checks},
                not_before=when or utcnow() + timedelta(seconds=wait),
            )
        error = listing.last_error if isinstance(outcome, Rejected) else None
        return await self._finish(session, delivery, DeliveryState.DONE, error, hook=attempt.hook, result=tag)

    async def _failed(
        self,
        session: AsyncSession,
        delivery: Delivery,
        attempt: DeliveryAttempt,
        exc: Exception,
        claim: _Claim,
        *,
        hook: str,
    ) -> str:
        listing = delivery.listing
        action = DeliveryAction(delivery.action)
        breaker = self.breaker(claim.platform)
        attempt.finished_at = utcnow()
        attempt.outcome = type(exc).__name__
        attempt.detail = str(exc)[:2000]
        connection = delivery.connection
        if isinstance(exc, RateLimited):
            breaker.trial_in_flight = False
            wait = (
                exc.retry_after
                if exc.retry_after is not None
                else full_jitter(
                    delivery.attempts, base=max(self.settings.backoff_base, 5.0), cap=self.settings.backoff_cap
                )
            )
            until = utcnow() + timedelta(seconds=wait)
            connection.throttled_until = max(until, connection.throttled_until or until)
            # Being told to wait is not a failure: it does not use up an attempt.
            delivery.attempts -= 1
            return await self._requeue(
                session, delivery, f"rate limited by the platform; next attempt in {wait:.0f} s", until
            )
        if isinstance(exc, AuthExpired | ReauthRequired):
            breaker.trial_in_flight = False
            connection.status = "needs_reauth"
            connection.status_detail = str(exc) or "the platform no longer accepts the credentials"
            delivery.attempts -= 1
            message = f"waiting for the account to be reconnected: {connection.status_detail}"
            if listing is not None:
                listing.last_error = message
            return await self._requeue(session, delivery, message, utcnow())
        unknown = isinstance(exc, OutcomeUnknown | PluginCrashed) and action is DeliveryAction.PUBLISH
        if isinstance(exc, PluginCrashed) and not unknown:
            breaker.trial_in_flight = False
            return await self._finish(
                session, delivery, DeliveryState.DEAD, str(exc), hook=hook, attempt=attempt, fail_listing=True
            )
        if not isinstance(exc, PluginCrashed):
            breaker.failure()
        else:
            breaker.trial_in_flight = False
        if unknown:
            assert listing is not None
            delivery.must_check = True
            listing.last_error = f"outcome unknown: {exc}"
            await record(
                session, listing, ListingStatus.UNKNOWN, f"{listing.last_error}; it is checked before any resend"
            )
        if delivery.attempts >= self.settings.max_attempts:
            if delivery.must_check:
                return await self._unknown(
                    session, delivery, attempt, f"gave up after {delivery.attempts} attempts: {exc}"
                )
            return await self._finish(
                session,
                delivery,
                DeliveryState.DEAD,
                f"gave up after {delivery.attempts} attempts: {exc}",
                hook=hook,
                attempt=attempt,
                fail_listing=True,
            )
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        wait = max(
            retry_after or 0.0,
            full_jitter(delivery.attempts, base=self.settings.backoff_base, cap=self.settings.backoff_cap),
        )
        if action is DeliveryAction.PUBLISH and not unknown and listing is not None:
            await record(session, listing, ListingStatus.QUEUED, f"attempt {delivery.attempts} failed: {exc}; retrying")
        return await self._requeue(
            session, delivery, f"attempt {delivery.attempts} failed: {exc}", utcnow() + timedelta(seconds=wait)
        )

    async def _requeue(self, session: AsyncSession, delivery: Delivery, message: str, when: Any) -> str:
        delivery.state = DeliveryState.QUEUED.value
        delivery.next_attempt_at = when
        delivery.last_error = message
        delivery.lease_until = None
        delivery.claimed_by = None
        await session.flush()
        return "retry"

    async def _unknown(self, session: AsyncSession, delivery: Delivery, attempt: DeliveryAttempt, message: str) -> str:
        listing = delivery.listing
        assert listing is not None
        attempt.outcome = "unknown"
        attempt.finished_at = utcnow()
        listing.last_error = f"{message}; check the platform, then confirm the listing or mark it failed"
        await record(session, listing, ListingStatus.UNKNOWN, listing.last_error)
        return await self._finish(session, delivery, DeliveryState.UNKNOWN, message, hook=attempt.hook)

    async def _finish(
        self,
        session: AsyncSession,
        delivery: Delivery,
        state: DeliveryState,
        error: str | None,
        *,
        hook: str,
        attempt: DeliveryAttempt | None = None,
        fail_listing: bool = False,
        result: str | None = None,
    ) -> str:
        delivery.state = state.value
        delivery.last_error = error
        delivery.finished_at = utcnow()
        delivery.lease_until = None
        if attempt is not None:
            attempt.finished_at = attempt.finished_at or utcnow()
            attempt.detail = attempt.detail or (error or "")[:2000]
        listing = delivery.listing
        if fail_listing and listing is not None and error:
            listing.last_error = error
            if DeliveryAction(delivery.action) is DeliveryAction.PUBLISH:
                await record(session, listing, ListingStatus.FAILED, error)
            else:
                await record(session, listing, ListingStatus(listing.status), f"{delivery.action} failed: {error}")
        await session.flush()
        log.debug("delivery %s (%s via %s): %s", delivery.public_id, delivery.action, hook, result or state.value)
        return result or state.value
