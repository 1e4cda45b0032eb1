"""Publishing through the API and the outbox with a scripted plugin: every outcome, the never-re-send rule."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from cashout_server import (
    Absent,
    AuthExpired,
    NeedsAction,
    OutcomeUnknown,
    Pending,
    Published,
    RateLimited,
    ReauthRequired,
    Rejected,
    TransientError,
)
from cashout_server.db.models import Connection
from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime

Client = AsyncTestClient[Litestar]


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


async def _listing(api: Client, **options: str) -> dict[str, Any]:
    item = (await api.post("/api/v1/items", json={"title": "Road bike", "list_price_minor": 30000})).json()
    con = await api.post(
        "/api/v1/connections",
        json={"platform": "scripted", "name": "S", "credentials": {"api_key": "sk-live-abc123"}},
    )
    assert con.status_code == 201, con.text
    r = await api.post(
        "/api/v1/listings", json={"item_id": item["id"], "connection_id": con.json()["id"], "options": options}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _publish(api: Client, worker: DeliveryWorker, listing_id: str) -> Any:
    """Publish through the API, run one delivery cycle, and return the listing as it then is."""
    r = await api.post(f"/api/v1/listings/{listing_id}/publish")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    await worker.run_once()
    return await api.get(f"/api/v1/listings/{listing_id}")


async def _again(api: Client, worker: DeliveryWorker, make_due: Any, listing_id: str) -> Any:
    """Let the waiting retry happen now, and return the listing."""
    await make_due()
    await worker.run_once()
    return await api.get(f"/api/v1/listings/{listing_id}")


async def test_publish_records_the_platform_id_and_history(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "published"
    assert body["external_id"] == f"ext-{listing['id']}"
    assert body["delivery"]["state"] == "done" and body["delivery"]["attempts"] == 1
    assert scripted.seen_credentials == [{"api_key": "sk-live-abc123"}]
    history = (await api.get(f"/api/v1/listings/{listing['id']}/history")).json()["data"]
    assert [h["status"] for h in history] == ["draft", "queued", "publishing", "published"]
    again = await api.post(f"/api/v1/listings/{listing['id']}/publish")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    await worker.run_once()
    assert [name for name, _ in scripted.calls] == ["publish"], "a published listing is never sent again"


async def test_publishing_twice_while_queued_is_refused(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    assert (await api.post(f"/api/v1/listings/{listing['id']}/publish")).status_code == 202
    second = await api.post(f"/api/v1/listings/{listing['id']}/publish")
    assert second.status_code == 409
    assert "already has delivery" in second.json()["detail"]
    await worker.run_once()
    assert [name for name, _ in scripted.calls] == ["publish"]


async def test_unknown_outcome_is_checked_not_resent(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("read timeout after sending")]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "unknown"
    assert "outcome unknown" in body["last_error"]
    assert body["delivery"]["state"] == "queued", "it is retried, by checking first"
    # The platform says it did go live: the retry records that and never publishes again.
    body = (await _again(api, worker, make_due, listing["id"])).json()
    assert body["status"] == "published"
    assert body["external_id"] == "ext-found"
    assert [name for name, _ in scripted.calls] == ["publish", "check_status"]


async def test_unknown_outcome_absent_on_platform_is_published_again(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("reset")]
    scripted.status_results = [Absent()]
    await _publish(api, worker, listing["id"])
    body = (await _again(api, worker, make_due, listing["id"])).json()
    assert body["status"] == "published"
    keys = [key for name, key in scripted.calls if name == "publish"]
    assert [name for name, _ in scripted.calls] == ["publish", "check_status", "publish"]
    assert len(keys) == 2 and keys[0] == keys[1], "the retry reuses the idempotency key"


async def test_unknown_outcome_that_cannot_be_checked_waits_for_a_person(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any, runtime: Runtime
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("timeout")]
    scripted.status_results = [OutcomeUnknown("no lookup")] * 20
    await _publish(api, worker, listing["id"])
    for _ in range(runtime.settings.delivery.max_attempts):
        worker.breakers.clear()  # the breaker's cooldown passes too (it is tested on its own)
        body = (await _again(api, worker, make_due, listing["id"])).json()
    assert body["status"] == "unknown"
    assert body["delivery"]["state"] == "unknown"
    assert "confirm the listing or mark it failed" in body["last_error"]
    assert [name for name, _ in scripted.calls].count("publish") == 1, "never resent blindly"
    # The person checks the platform and confirms where it is.
    r = await api.post(f"/api/v1/listings/{listing['id']}/confirm", json={"url": "https://scripted.test/77"})
    assert r.json()["status"] == "published"
    assert r.json()["url"] == "https://scripted.test/77"
    assert r.json()["delivery"]["state"] == "done"


async def test_person_marks_unknown_as_failed_then_it_can_be_published(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [RuntimeError("plugin bug after sending")]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "unknown", "a crash may have happened after sending"
    r = await api.post(f"/api/v1/listings/{listing['id']}/mark-failed", json={"reason": "not on the site"})
    assert r.json()["status"] == "failed"
    assert r.json()["delivery"]["state"] == "cancelled", "the queued check is withdrawn"
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "published"
    assert [name for name, _ in scripted.calls] == ["publish", "publish"]


@pytest.mark.parametrize(
    ("result", "status", "delivery_state", "error_part"),
    [
        (Rejected(reason="title too long", fields={"title": "max 70"}), "rejected", "done", "title: max 70"),
        (RateLimited("slow down", retry_after=30), "publishing", "queued", "rate limited"),
        (TransientError("HTTP 503"), "queued", "queued", "HTTP 503"),
        (Pending(detail="in review"), "pending", "done", None),
    ],
)
async def test_outcomes_are_recorded(
    api: Client,
    scripted: Any,
    worker: DeliveryWorker,
    result: object,
    status: str,
    delivery_state: str,
    error_part: str | None,
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [result]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == status
    assert body["delivery"]["state"] == delivery_state
    if error_part:
        assert error_part in (body["last_error"] or body["delivery"]["last_error"])


async def test_needs_action_then_confirm(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    scripted.publish_results = [
        NeedsAction(instructions="Post it by hand", url="https://scripted.test/new", copy={"title": "Road bike"})
    ]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "needs_action"
    assert body["action"]["kind"] == "publish"
    assert body["action"]["copy"] == {"title": "Road bike"}
    bad = await api.post(f"/api/v1/listings/{listing['id']}/confirm", json={})
    assert bad.status_code == 409
    body = (
        await api.post(
            f"/api/v1/listings/{listing['id']}/confirm", json={"url": "https://scripted.test/9", "external_id": "9"}
        )
    ).json()
    assert body["status"] == "published"
    assert body["external_id"] == "9"


async def test_auth_expired_refreshes_once_and_retries(
    api: Client, scripted: Any, runtime: Runtime, worker: DeliveryWorker
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [AuthExpired("token expired")]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["status"] == "published"
    assert [name for name, _ in scripted.calls] == ["publish", "refresh_credentials", "publish"]
    assert scripted.seen_credentials[-1] == {"api_key": "refreshed-key"}
    async with runtime.session() as session:
        row = await session.scalar(select(Connection))
        assert row is not None and runtime.keyring.decrypt(row.credentials_encrypted or "") == {
            "api_key": "refreshed-key"
        }


async def test_reauth_required_waits_for_the_account_then_delivers(
    api: Client, scripted: Any, worker: DeliveryWorker
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [ReauthRequired("password changed")]
    body = (await _publish(api, worker, listing["id"])).json()
    assert body["delivery"]["state"] == "queued", "nothing is dropped while the account is broken"
    assert "reconnected" in body["last_error"]
    con = (await api.get(f"/api/v1/connections/{listing['connection_id']}")).json()
    assert con["status"] == "needs_reauth"
    await worker.run_once()
    assert [name for name, _ in scripted.calls] == ["publish"], "a broken account is not called again"
    fixed = await api.patch(f"/api/v1/connections/{listing['connection_id']}", json={"credentials": {"api_key": "new"}})
    assert fixed.json()["status"] == "active"
    await worker.run_once()
    body = (await api.get(f"/api/v1/listings/{listing['id']}")).json()
    assert body["status"] == "published"
    assert scripted.seen_credentials[-1] == {"api_key": "new"}


async def test_delist_and_delete(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    await _publish(api, worker, listing["id"])
    assert (await api.delete(f"/api/v1/listings/{listing['id']}")).status_code == 409
    assert (await api.delete(f"/api/v1/items/{listing['item_id']}")).status_code == 409
    r = await api.post(f"/api/v1/listings/{listing['id']}/delist")
    assert r.status_code == 202
    assert r.json()["delivery"]["action"] == "delist"
    await worker.run_once()
    body = (await api.get(f"/api/v1/listings/{listing['id']}")).json()
    assert body["status"] == "delisted"
    assert (await api.delete(f"/api/v1/listings/{listing['id']}")).status_code == 204


async def test_delisting_a_queued_publication_cancels_it(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    await api.post(f"/api/v1/listings/{listing['id']}/publish")
    r = await api.post(f"/api/v1/listings/{listing['id']}/delist")
    assert r.status_code == 202
    assert r.json()["status"] == "draft"
    assert r.json()["delivery"]["state"] == "cancelled"
    await worker.run_once()
    assert scripted.calls == [], "nothing reached the platform"


async def test_one_listing_per_item_and_connection(api: Client) -> None:
    listing = await _listing(api)
    r = await api.post(
        "/api/v1/listings", json={"item_id": listing["item_id"], "connection_id": listing["connection_id"]}
    )
    assert r.status_code == 409


async def test_listing_filters(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    await _publish(api, worker, listing["id"])
    assert len((await api.get("/api/v1/listings", params={"status": "published"})).json()["data"]) == 1
    assert (await api.get("/api/v1/listings", params={"status": "draft"})).json()["data"] == []
    assert len((await api.get("/api/v1/listings", params={"item_id": listing["item_id"]})).json()["data"]) == 1
    assert (await api.get("/api/v1/listings", params={"platform": "other"})).json()["data"] == []


async def test_options_change_only_while_not_live(api: Client, scripted: Any, worker: DeliveryWorker) -> None:
    listing = await _listing(api)
    r = await api.patch(f"/api/v1/listings/{listing['id']}", json={"options": {"category": "fuo"}})
    assert r.json()["options"] == {"category": "fuo"}
    await _publish(api, worker, listing["id"])
    r = await api.patch(f"/api/v1/listings/{listing['id']}", json={"options": {}})
    assert r.status_code == 409


async def test_pending_listings_are_checked_until_the_platform_decides(
    api: Client, scripted: Any, worker: DeliveryWorker, make_due: Any
) -> None:
    listing = await _listing(api)
    other = await _listing(api)
    scripted.publish_results = [Pending(detail="in review"), Pending(detail="in review")]
    await _publish(api, worker, listing["id"])
    await _publish(api, worker, other["id"])
    checks = (await api.get("/api/v1/deliveries", params={"action": "check", "state": "queued"})).json()["data"]
    assert len(checks) == 2 and all(c["next_attempt_at"] for c in checks), "a check is scheduled for each"
    scripted.status_results = [
        Published(external_id="live-1", url="https://scripted.test/live-1"),
        Pending(detail="still in review"),
    ]
    await make_due()
    await worker.run_once()
    # Whichever is checked first goes live; the other is still undecided.
    bodies = [(await api.get(f"/api/v1/listings/{lid}")).json() for lid in (listing["id"], other["id"])]
    assert sorted(b["status"] for b in bodies) == ["pending", "published"]
    assert [b["external_id"] for b in bodies if b["status"] == "published"] == ["live-1"]
    checks = (await api.get("/api/v1/deliveries", params={"action": "check", "state": "queued"})).json()["data"]
    assert len(checks) == 1, "the undecided one is checked again later"
