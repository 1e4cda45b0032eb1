"""The delivery engine with a scripted plugin: limits, retries, dead letters, approvals, sales, crashes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from cashout_server import OutcomeUnknown, RateLimited, TransientError
from cashout_server.db.models import Connection, Delivery, Item, Listing, Sale
from cashout_server.domain.delivery.controls import Breaker, RateGate, full_jitter
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime

Client = Any


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


async def _connection(api: Client, name: str = "S", **extra: Any) -> str:
    r = await api.post(
        "/api/v1/connections",
        json={"platform": "scripted", "name": name, "credentials": {"api_key": "k"}, **extra},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _item(api: Client, title: str = "Road bike", quantity: int = 1) -> str:
    r = await api.post("/api/v1/items", json={"title": title, "list_price_minor": 30000, "quantity": quantity})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _listing(api: Client, item_id: str, connection_id: str) -> str:
    r = await api.post("/api/v1/listings", json={"item_id": item_id, "connection_id": connection_id})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _get(api: Client, listing_id: str) -> dict[str, Any]:
    return dict((await api.get(f"/api/v1/listings/{listing_id}")).json())


async def _statuses(api: Client, listing_ids: list[str]) -> list[str]:
    return [(await _get(api, lid))["status"] for lid in listing_ids]


# --- pacing ------------------------------------------------------------------------------


def test_full_jitter_stays_under_a_doubling_ceiling() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)]:
        waits = [full_jitter(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8, "the whole range is used"


def test_breaker_opens_lets_one_trial_through_and_closes_on_success() -> None:
    now = [0.0]
    breaker = Breaker(threshold=3, cooldown=10.0, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow() == -1
        breaker.failure()
    assert breaker.state == "open" and breaker.allow() == 0
    now[0] = 10.0
    assert breaker.state == "half_open" and breaker.allow() == 1
    breaker.started()
    assert breaker.allow() == 0, "one trial at a time"
    breaker.failure()
    assert breaker.state == "open" and breaker.seconds_until_trial() == 20.0, "a failed trial doubles the wait"
    now[0] = 30.0
    breaker.started()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() == -1


def test_rate_gate_refills_continuously() -> None:
    gate = RateGate(per_minute=60)
    assert gate.available(now=0.0) == 60
    gate.take(60, now=0.0)
    assert gate.available(now=0.5) == 0
    assert gate.available(now=2.0) == 2


# --- the worker ---------------------------------------------------------------------------


async def test_concurrency_per_account_is_the_descriptors_unless_the_account_overrides(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    scripted.delay = 0.05
    con = await _connection(api)
    listings = [await _listing(api, await _item(api, f"Bike {n}"), con) for n in range(6)]
    for listing in listings:
        assert (await api.post(f"/api/v1/listings/{listing}/publish")).status_code == 202
    await worker.run_once()
    assert scripted.max_in_flight == 1, "the scripted descriptor allows one at a time"
    assert set(await _statuses(api, listings)) == {"published"}

    scripted.max_in_flight = 0
    faster = await _connection(api, "Fast")
    assert (await api.patch(f"/api/v1/connections/{faster}", json={"max_concurrency": 3})).status_code == 200
    listings = [await _listing(api, await _item(api, f"Lamp {n}"), faster) for n in range(6)]
    for listing in listings:
        await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    assert scripted.max_in_flight == 3


async def test_transient_failures_back_off_then_go_dead_with_the_last_error_and_can_be_retried(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any, runtime: Runtime
) -> None:
    listing = await _listing(api, await _item(api), await _connection(api))
    attempts = runtime.settings.delivery.max_attempts
    scripted.publish_results = [TransientError(f"HTTP 503 #{n}") for n in range(attempts)]
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    body = await _get(api, listing)
    assert body["delivery"]["state"] == "queued"
    assert body["delivery"]["next_attempt_at"] is not None
    for _ in range(attempts - 1):
        await make_due()
        worker.breakers.clear()  # the breaker's cooldown passes too (it is tested on its own)
        await worker.run_once()
    body = await _get(api, listing)
    assert body["status"] == "failed"
    assert body["delivery"]["state"] == "dead"
    assert f"gave up after {attempts} attempts: HTTP 503 #{attempts - 1}" in body["delivery"]["last_error"]
    dead = (await api.get("/api/v1/deliveries", params={"state": "dead"})).json()["data"]
    assert [d["id"] for d in dead] == [body["delivery"]["id"]]
    detail = (await api.get(f"/api/v1/deliveries/{body['delivery']['id']}")).json()
    assert [a["outcome"] for a in detail["history"]] == ["TransientError"] * attempts
    # A person retries it: it goes out now and succeeds.
    r = await api.post(f"/api/v1/deliveries/{body['delivery']['id']}/retry")
    assert r.status_code == 200 and r.json()["state"] == "queued"
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "published"
    assert (await api.post(f"/api/v1/deliveries/{body['delivery']['id']}/retry")).status_code == 409


async def test_retry_after_throttles_the_whole_account_and_does_not_use_up_attempts(
    api: Client, scripted: Any, worker: DeliveryWorker, runtime: Runtime
) -> None:
    con = await _connection(api)
    first = await _listing(api, await _item(api, "A"), con)
    second = await _listing(api, await _item(api, "B"), con)
    scripted.publish_results = [RateLimited("slow down", retry_after=120)]
    await api.post(f"/api/v1/listings/{first}/publish")
    await api.post(f"/api/v1/listings/{second}/publish")
    await worker.run_once()
    assert [name for name, _ in scripted.calls] == ["publish"], "the second waits for the account's Retry-After"
    async with runtime.session() as session:
        row = await session.scalar(select(Connection))
        assert row is not None and row.throttled_until is not None
        delivery = await session.scalar(select(Delivery).order_by(Delivery.id))
        assert delivery is not None and delivery.attempts == 0
        waited = (row.throttled_until - delivery.updated_at).total_seconds()
        assert 115 <= waited <= 121
        assert abs((delivery.next_attempt_at - row.throttled_until).total_seconds()) < 1


async def test_a_failing_platform_opens_its_breaker(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any, runtime: Runtime
) -> None:
    con = await _connection(api)
    assert (await api.patch(f"/api/v1/connections/{con}", json={"max_concurrency": 10})).status_code == 200
    listings = [await _listing(api, await _item(api, f"I{n}"), con) for n in range(8)]
    scripted.publish_results = [TransientError("down")] * 20
    for listing in listings:
        await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    threshold = runtime.settings.delivery.breaker_threshold
    assert worker.breaker("scripted").state == "open"
    await make_due()
    calls = len(scripted.calls)
    await worker.run_once()
    assert len(scripted.calls) == calls, "nothing goes to an open platform"
    assert threshold <= calls <= 8
    counts = (await api.get("/api/v1/deliveries/counts")).json()
    assert counts["by_platform"]["scripted"]["queued"] == 8


async def test_crash_after_claim_is_checked_before_resending(api: Client, scripted: Any, runtime: Runtime) -> None:
    listing = await _listing(api, await _item(api), await _connection(api))
    await api.post(f"/api/v1/listings/{listing}/publish")
    async with runtime.session() as session:
        # What a worker killed mid-call leaves behind: the row claimed, the listing "publishing".
        await session.execute(
            update(Delivery).values(
                state="in_flight",
                claimed_by="dead-worker",
                attempts=1,
                lease_until=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        await session.execute(update(Listing).values(status="publishing"))
        await session.commit()
    restarted = DeliveryWorker(runtime, worker_id="restarted")
    assert await restarted.recover(startup=True) == 1
    await restarted.run_once()
    body = await _get(api, listing)
    assert body["status"] == "published" and body["external_id"] == "ext-found"
    assert [name for name, _ in scripted.calls] == ["check_status"], "checked, never resent blindly"


async def test_outbox_row_and_business_change_commit_together(api: Client, runtime: Runtime) -> None:
    from cashout_server.domain.listings.services import load_listing, publish

    listing_id = await _listing(api, await _item(api), await _connection(api))

    async def crash_before_commit() -> None:
        async with runtime.session() as session:
            listing = await load_listing(session, listing_id)
            assert listing is not None
            await publish(session, runtime, listing)
            raise RuntimeError("crash after the business write, before commit")

    with pytest.raises(RuntimeError):
        await crash_before_commit()
    async with runtime.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert await session.scalar(select(Listing.status)) == "draft"
    # And the commit carries both.
    async with runtime.session() as session:
        listing = await load_listing(session, listing_id)
        assert listing is not None
        await publish(session, runtime, listing)
        await session.commit()
    async with runtime.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 1
        assert await session.scalar(select(Listing.status)) == "queued"


# --- approvals ------------------------------------------------------------------------------


async def test_approval_policy_holds_publications_until_a_person_decides(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    con = await _connection(api)
    r = await api.patch(f"/api/v1/connections/{con}", json={"approvals": {"publish": True}})
    assert r.status_code == 200, r.text
    assert r.json()["approvals"]["publish"] is True
    first = await _listing(api, await _item(api, "Approved one"), con)
    second = await _listing(api, await _item(api, "Rejected one"), con)
    for listing in (first, second):
        body = (await api.post(f"/api/v1/listings/{listing}/publish")).json()
        assert body["delivery"]["state"] == "awaiting_approval"
    await worker.run_once()
    assert scripted.calls == [], "nothing goes out before a person approves"
    waiting = (await api.get("/api/v1/approvals")).json()["data"]
    assert [a["listing_id"] for a in waiting] == [first, second]
    assert "Approved one" in waiting[0]["summary"]
    r = await api.post(f"/api/v1/approvals/{waiting[0]['id']}/approve", json={"note": "ok"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = await api.post(f"/api/v1/approvals/{waiting[1]['id']}/reject", json={"note": "wrong price"})
    assert r.json()["status"] == "rejected"
    assert (await api.post(f"/api/v1/approvals/{waiting[1]['id']}/approve")).status_code == 409
    await worker.run_once()
    assert (await _get(api, first))["status"] == "published"
    rejected = await _get(api, second)
    assert rejected["status"] == "draft" and rejected["delivery"]["state"] == "cancelled"
    assert (await api.get("/api/v1/approvals")).json()["data"] == []
    assert len((await api.get("/api/v1/approvals", params={"status": "all"})).json()["data"]) == 2


async def test_descriptor_default_policy_applies_until_the_account_overrides(api: Client, runtime: Runtime) -> None:
    from cashout_server.domain.delivery.services import DeliveryAction, approval_required

    con_id = await _connection(api)
    async with runtime.session() as session:
        con = await session.scalar(select(Connection).where(Connection.public_id == con_id))
        assert con is not None
        assert approval_required(runtime, con, DeliveryAction.PUBLISH) is False
        con.approval_policy = {"delist": True}
        assert approval_required(runtime, con, DeliveryAction.DELIST) is True
        assert approval_required(runtime, con, DeliveryAction.CHECK) is False


# --- sales ----------------------------------------------------------------------------------


async def test_a_sale_delists_everywhere_else_within_one_cycle(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    item = await _item(api, "Camera")
    cons = [await _connection(api, f"Account {n}") for n in range(3)]
    listings = [await _listing(api, item, con) for con in cons]
    for listing in listings:
        await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    assert set(await _statuses(api, listings)) == {"published"}

    r = await api.post(f"/api/v1/items/{item}/sales", json={"listing_id": listings[0], "price_minor": 28000})
    assert r.status_code == 201, r.text
    assert r.json()["quantity_left"] == 0
    assert (await api.get(f"/api/v1/items/{item}")).json()["status"] == "sold"
    await worker.run_once()
    assert (await _get(api, listings[0]))["status"] == "sold"
    assert await _statuses(api, listings[1:]) == ["delisted", "delisted"]
    assert [name for name, _ in scripted.calls].count("delist") == 2
    again = await api.post(f"/api/v1/items/{item}/sales", json={})
    assert again.status_code == 409 and "sold out" in again.json()["detail"]
    assert (await api.post(f"/api/v1/listings/{listings[1]}/publish")).status_code == 409


async def test_a_sale_ignores_the_delist_approval_policy(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    item = await _item(api)
    con = await _connection(api)
    await api.patch(f"/api/v1/connections/{con}", json={"approvals": {"delist": True}})
    listing = await _listing(api, item, con)
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    await api.post(f"/api/v1/items/{item}/sales", json={})
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "delisted", "a sold item must not wait to come down"


async def test_quantity_above_one_decrements_and_updates_until_zero(
    api: Client, scripted: Any, worker: DeliveryWorker, runtime: Runtime
) -> None:
    item = await _item(api, "Socks", quantity=3)
    cons = [await _connection(api, f"A{n}") for n in range(2)]
    listings = [await _listing(api, item, con) for con in cons]
    for listing in listings:
        await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    r = await api.post(f"/api/v1/items/{item}/sales", json={"quantity": 2, "listing_id": listings[0]})
    assert r.json()["quantity_left"] == 1
    await worker.run_once()
    assert [name for name, _ in scripted.calls].count("update_listing") == 2
    assert set(await _statuses(api, listings)) == {"published"}
    too_many = await api.post(f"/api/v1/items/{item}/sales", json={"quantity": 2})
    assert too_many.status_code == 409
    await api.post(f"/api/v1/items/{item}/sales", json={"quantity": 1})
    await worker.run_once()
    assert await _statuses(api, listings) == ["delisted", "delisted"]
    sales = (await api.get(f"/api/v1/items/{item}/sales")).json()["data"]
    assert [s["quantity"] for s in sales] == [2, 1]
    async with runtime.session() as session:
        assert await session.scalar(select(Item.quantity)) == 0
        assert await session.scalar(select(func.sum(Sale.quantity))) == 3


async def test_a_sale_cancels_publications_not_yet_sent(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    item = await _item(api)
    listing = await _listing(api, item, await _connection(api))
    await api.post(f"/api/v1/listings/{listing}/publish")
    await api.post(f"/api/v1/items/{item}/sales", json={})
    await worker.run_once()
    body = await _get(api, listing)
    assert body["status"] == "draft" and body["delivery"]["state"] == "cancelled"
    assert scripted.calls == []


async def test_a_sale_reported_by_the_platform_delists_elsewhere(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any
) -> None:
    from cashout_server import Money, Pending, Sold

    item = await _item(api)
    first, second = [await _listing(api, item, await _connection(api, f"C{n}")) for n in range(2)]
    scripted.publish_results = [Pending(detail="review")]
    await api.post(f"/api/v1/listings/{first}/publish")
    await api.post(f"/api/v1/listings/{second}/publish")
    await worker.run_once()
    # Whichever listing the platform reports sold first is sold; the other comes down.
    scripted.status_results = [Sold(price=Money(amount_minor=25000))]
    await make_due()
    await worker.run_once()
    assert sorted(await _statuses(api, [first, second])) == ["delisted", "sold"]
    sales = (await api.get(f"/api/v1/items/{item}/sales")).json()["data"]
    assert sales[0]["source"] == "platform" and sales[0]["price_minor"] == 25000


async def test_marking_the_item_sold_through_patch_is_a_sale(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    item = await _item(api)
    listing = await _listing(api, item, await _connection(api))
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    r = await api.patch(f"/api/v1/items/{item}", json={"status": "sold"})
    assert r.status_code == 200 and r.json()["quantity"] == 0
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "delisted"


async def test_unknown_delist_outcome_is_retried_not_dropped(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any
) -> None:
    item = await _item(api)
    listing = await _listing(api, item, await _connection(api))
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    scripted.delist_results = [OutcomeUnknown("timeout")]
    await api.post(f"/api/v1/items/{item}/sales", json={})
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "published"
    await make_due()
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "delisted"


async def test_sweep_queues_a_check_for_pending_listings_that_have_none(
    api: Client, scripted: Any, worker: DeliveryWorker, runtime: Runtime
) -> None:
    from cashout_server import Pending
    from cashout_server.domain.delivery.jobs import sweep_pending

    listing = await _listing(api, await _item(api), await _connection(api))
    scripted.publish_results = [Pending(detail="review")]
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    assert await sweep_pending(runtime) == {"checks_queued": 0, "unknown_rechecked": 0}, (
        "the pending outcome queued its own check"
    )
    async with runtime.session() as session:
        await session.execute(update(Delivery).where(Delivery.action == "check").values(state="cancelled"))
        await session.commit()
    assert await sweep_pending(runtime) == {"checks_queued": 1, "unknown_rechecked": 0}
    assert await sweep_pending(runtime) == {"checks_queued": 0, "unknown_rechecked": 0}


async def test_a_queued_update_never_revives_a_listing_that_sold(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    item = await _item(api, "Mugs", quantity=2)
    listings = [await _listing(api, item, await _connection(api, f"M{n}")) for n in range(2)]
    for listing in listings:
        await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    await api.post(f"/api/v1/items/{item}/sales", json={"quantity": 1})  # queues updates (1 left)
    await api.post(f"/api/v1/items/{item}/sales", json={"quantity": 1, "listing_id": listings[0]})
    await worker.run_once()
    assert await _statuses(api, listings) == ["sold", "delisted"]
    assert [name for name, _ in scripted.calls].count("update_listing") == 0, "updates to a sold item are moot"


async def test_the_plugin_gets_the_platforms_photo_variants_at_public_urls(
    api: Client, scripted: Any, worker: DeliveryWorker, client: Client
) -> None:
    import io
    from urllib.parse import urlsplit

    from PIL import Image

    item = await _item(api)
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (200, 120, 40)).save(buffer, "JPEG")
    r = await api.post(f"/api/v1/items/{item}/photos", files={"data": ("p.jpg", buffer.getvalue(), "image/jpeg")})
    assert r.status_code == 201, r.text
    listing = await _listing(api, item, await _connection(api))
    await api.post(f"/api/v1/listings/{listing}/publish")
    await worker.run_once()
    assert (await _get(api, listing))["status"] == "published"
    (photo,) = scripted.seen_photos[-1]
    assert max(photo.width, photo.height) <= 2048
    with Image.open(photo.path) as img:
        assert img.size == (photo.width, photo.height)
    assert photo.url.startswith("http") and "/media/" in photo.url
    served = await client.get(urlsplit(photo.url).path)  # no token: platforms fetch it themselves
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
