"""Publishing through the API with a scripted plugin: every outcome and the never-re-send rule."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from cashout_server import (
    AuthExpired,
    NeedsAction,
    OutcomeUnknown,
    Pending,
    Published,
    RateLimited,
    ReauthRequired,
    Rejected,
)
from cashout_server.db.models import Connection
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


async def _publish(api: Client, listing_id: str) -> Any:
    return await api.post(f"/api/v1/listings/{listing_id}/publish")


async def test_publish_records_the_platform_id_and_history(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    r = await _publish(api, listing["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "published"
    assert body["external_id"] == f"ext-{listing['id']}"
    assert scripted.seen_credentials == [{"api_key": "sk-live-abc123"}]
    history = (await api.get(f"/api/v1/listings/{listing['id']}/history")).json()["data"]
    assert [h["status"] for h in history] == ["draft", "publishing", "published"]
    again = await _publish(api, listing["id"])
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert [name for name, _ in scripted.calls] == ["publish"], "a published listing is never sent again"


async def test_unknown_outcome_is_checked_not_resent(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("read timeout after sending")]
    r = await _publish(api, listing["id"])
    assert r.json()["status"] == "unknown"
    assert "outcome unknown" in r.json()["last_error"]
    # The platform says it did go live: the retry records that and never publishes again.
    r = await _publish(api, listing["id"])
    assert r.status_code == 200
    assert r.json()["status"] == "published"
    assert r.json()["external_id"] == "ext-found"
    assert [name for name, _ in scripted.calls] == ["publish", "check_status"]


async def test_unknown_outcome_absent_on_platform_is_published_again(api: Client, scripted: Any) -> None:
    from cashout_server import Absent

    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("reset")]
    scripted.status_results = [Absent()]
    await _publish(api, listing["id"])
    r = await _publish(api, listing["id"])
    assert r.json()["status"] == "published"
    keys = [key for name, key in scripted.calls if name == "publish"]
    assert len(keys) == 2 and keys[0] == keys[1], "the retry reuses the idempotency key"


async def test_unknown_outcome_that_cannot_be_checked_waits_for_a_person(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    scripted.publish_results = [OutcomeUnknown("timeout")]
    scripted.status_results = [OutcomeUnknown("no lookup")]
    await _publish(api, listing["id"])
    r = await _publish(api, listing["id"])
    assert r.status_code == 409
    assert "may have published" in r.json()["detail"]
    assert [name for name, _ in scripted.calls].count("publish") == 1
    # The person checks the platform and confirms where it is.
    r = await api.post(f"/api/v1/listings/{listing['id']}/confirm", json={"url": "https://scripted.test/77"})
    assert r.json()["status"] == "published"
    assert r.json()["url"] == "https://scripted.test/77"


async def test_person_marks_unknown_as_failed_then_it_can_be_published(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    scripted.publish_results = [RuntimeError("plugin bug after sending")]
    r = await _publish(api, listing["id"])
    assert r.json()["status"] == "unknown", "a crash may have happened after sending"
    r = await api.post(f"/api/v1/listings/{listing['id']}/mark-failed", json={"reason": "not on the site"})
    assert r.json()["status"] == "failed"
    r = await _publish(api, listing["id"])
    assert r.json()["status"] == "published"


@pytest.mark.parametrize(
    ("result", "status", "error_part"),
    [
        (Rejected(reason="title too long", fields={"title": "max 70"}), "rejected", "title: max 70"),
        (RateLimited("slow down", retry_after=30), "failed", "retry after 30 s"),
        (Pending(detail="in review"), "pending", None),
    ],
)
async def test_outcomes_are_recorded(
    api: Client, scripted: Any, result: object, status: str, error_part: str | None
) -> None:
    listing = await _listing(api)
    scripted.publish_results = [result]
    body = (await _publish(api, listing["id"])).json()
    assert body["status"] == status
    if error_part:
        assert error_part in body["last_error"]


async def test_needs_action_then_confirm(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    scripted.publish_results = [
        NeedsAction(instructions="Post it by hand", url="https://scripted.test/new", copy={"title": "Road bike"})
    ]
    body = (await _publish(api, listing["id"])).json()
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


async def test_auth_expired_refreshes_once_and_retries(api: Client, scripted: Any, runtime: Runtime) -> None:
    listing = await _listing(api)
    scripted.publish_results = [AuthExpired("token expired")]
    body = (await _publish(api, listing["id"])).json()
    assert body["status"] == "published"
    assert [name for name, _ in scripted.calls] == ["publish", "refresh_credentials", "publish"]
    assert scripted.seen_credentials[-1] == {"api_key": "refreshed-key"}
    async with runtime.session() as session:
        row = await session.scalar(select(Connection))
        assert row is not None and runtime.keyring.decrypt(row.credentials_encrypted or "") == {
            "api_key": "refreshed-key"
        }


async def test_reauth_required_marks_the_connection(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    scripted.publish_results = [ReauthRequired("password changed")]
    body = (await _publish(api, listing["id"])).json()
    assert body["status"] == "failed"
    con = (await api.get(f"/api/v1/connections/{listing['connection_id']}")).json()
    assert con["status"] == "needs_reauth"
    blocked = await _publish(api, listing["id"])
    assert blocked.status_code == 409
    fixed = await api.patch(f"/api/v1/connections/{listing['connection_id']}", json={"credentials": {"api_key": "new"}})
    assert fixed.json()["status"] == "active"
    assert (await _publish(api, listing["id"])).json()["status"] == "published"


async def test_delist_and_delete(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    await _publish(api, listing["id"])
    assert (await api.delete(f"/api/v1/listings/{listing['id']}")).status_code == 409
    assert (await api.delete(f"/api/v1/items/{listing['item_id']}")).status_code == 409
    body = (await api.post(f"/api/v1/listings/{listing['id']}/delist")).json()
    assert body["status"] == "delisted"
    assert (await api.delete(f"/api/v1/listings/{listing['id']}")).status_code == 204


async def test_one_listing_per_item_and_connection(api: Client) -> None:
    listing = await _listing(api)
    r = await api.post(
        "/api/v1/listings", json={"item_id": listing["item_id"], "connection_id": listing["connection_id"]}
    )
    assert r.status_code == 409


async def test_listing_filters(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    await _publish(api, listing["id"])
    assert len((await api.get("/api/v1/listings", params={"status": "published"})).json()["data"]) == 1
    assert (await api.get("/api/v1/listings", params={"status": "draft"})).json()["data"] == []
    assert len((await api.get("/api/v1/listings", params={"item_id": listing["item_id"]})).json()["data"]) == 1
    assert (await api.get("/api/v1/listings", params={"platform": "other"})).json()["data"] == []


async def test_options_change_only_while_not_live(api: Client, scripted: Any) -> None:
    listing = await _listing(api)
    r = await api.patch(f"/api/v1/listings/{listing['id']}", json={"options": {"category": "fuo"}})
    assert r.json()["options"] == {"category": "fuo"}
    await _publish(api, listing["id"])
    r = await api.patch(f"/api/v1/listings/{listing['id']}", json={"options": {}})
    assert r.status_code == 409


async def test_scheduler_job_settles_pending_listings(api: Client, scripted: Any, runtime: Runtime) -> None:
    from cashout_server.domain.listings.jobs import resolve_pending

    listing = await _listing(api)
    other = await _listing(api)
    scripted.publish_results = [Pending(detail="in review"), Pending(detail="in review")]
    await _publish(api, listing["id"])
    await _publish(api, other["id"])
    scripted.status_results = [
        Published(external_id="live-1", url="https://scripted.test/live-1"),
        RuntimeError("down"),
    ]
    summary = await resolve_pending(runtime)
    assert summary == {"checked": 2, "settled": 1, "errors": 1}
    first = (await api.get(f"/api/v1/listings/{listing['id']}")).json()
    assert first["status"] == "published" and first["external_id"] == "live-1"
    assert (await api.get(f"/api/v1/listings/{other['id']}")).json()["status"] == "pending", "failures leave it pending"
