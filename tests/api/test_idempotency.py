"""``Idempotency-Key`` on POST routes: replay, misuse, concurrency, retention, uploads and docs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, Response, post
from litestar.config.app import AppConfig
from litestar.middleware.base import DefineMiddleware
from litestar.params import JSONBody
from PIL import Image
from sqlalchemy import select, update

from cashout_server.auth import TokenAuthMiddleware
from cashout_server.db.models import IdempotencyRecord, User, utcnow
from cashout_server.domain.items import services as item_services
from cashout_server.idempotency import IdempotencyMiddleware, _Fingerprint, purge_idempotency_keys
from cashout_server.problems import EXCEPTION_HANDLERS
from cashout_server.runtime import Runtime
from cashout_server.scheduler import JOBS
from cashout_server.settings import ConfigError, load_settings

Tokens = Any  # the conftest fixture's dataclass (owner, admin, member, read)

LAMP = {"title": "Lamp", "list_price_minor": 2500}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def item_titles(api: httpx.AsyncClient) -> list[str]:
    r = await api.get("/api/v1/items", params={"limit": "200"})
    assert r.status_code == 200, r.text
    return [i["title"] for i in r.json()["data"]]


async def records(runtime: Runtime) -> list[IdempotencyRecord]:
    async with runtime.session() as session:
        return list(await session.scalars(select(IdempotencyRecord).order_by(IdempotencyRecord.id)))


async def test_same_key_and_body_replays_the_stored_response(api: httpx.AsyncClient, runtime: Runtime) -> None:
    first = await api.post("/api/v1/items", json=LAMP, headers=key("lamp-1"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await api.post("/api/v1/items", json=LAMP, headers=key("lamp-1"))
    assert again.status_code == 201
    assert again.content == first.content, "byte-for-byte the first response"
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["content-length"] == str(len(first.content))
    assert again.headers["idempotent-replayed"] == "true"
    assert await item_titles(api) == ["Lamp"], "the route ran once"
    [row] = await records(runtime)
    assert (row.key, row.method, row.path, row.status_code) == ("lamp-1", "POST", "/api/v1/items", 201)
    assert row.expires_at - row.created_at == timedelta(hours=24)


async def test_same_key_with_another_body_or_route_is_refused(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/v1/items", json=LAMP, headers=key("k"))).status_code == 201
    other = await api.post("/api/v1/items", json={**LAMP, "title": "Desk"}, headers=key("k"))
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert "already used for a different request" in problem["detail"]
    assert "POST /api/v1/items" in problem["detail"]
    elsewhere = await api.post("/api/v1/connections", json={"platform": "x"}, headers=key("k"))
    assert elsewhere.status_code == 422 and elsewhere.json()["type"].endswith("/idempotency-key-reused")
    query = await api.post("/api/v1/items?x=1", json=LAMP, headers=key("k"))
    assert query.status_code == 422, "the query string is part of the request"
    assert await item_titles(api) == ["Lamp"]


async def test_without_a_key_every_post_runs(api: httpx.AsyncClient, runtime: Runtime) -> None:
    one = await api.post("/api/v1/items", json=LAMP)
    two = await api.post("/api/v1/items", json=LAMP)
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert await item_titles(api) == ["Lamp", "Lamp"]
    assert await records(runtime) == []


async def test_keys_belong_to_their_user(api: httpx.AsyncClient, tokens: Tokens) -> None:
    mine = await api.post("/api/v1/items", json=LAMP, headers=key("shared"))
    theirs = await api.post(
        "/api/v1/items", json=LAMP, headers={**key("shared"), "Authorization": f"Bearer {tokens.member}"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert await item_titles(api) == ["Lamp", "Lamp"]


@pytest.fixture
def slow_create(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Make item creation wait for ``release`` after setting ``entered``: a request held in progress."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = item_services.create_item

    async def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(item_services, "create_item", slow)
    return entered, release


async def test_a_second_request_while_the_first_runs_gets_409(
    api: httpx.AsyncClient, slow_create: tuple[asyncio.Event, asyncio.Event]
) -> None:
    entered, release = slow_create
    first = asyncio.create_task(api.post("/api/v1/items", json=LAMP, headers=key("busy")))
    await asyncio.wait_for(entered.wait(), 5)
    second = await asyncio.wait_for(api.post("/api/v1/items", json=LAMP, headers=key("busy")), 5)
    assert second.status_code == 409
    assert second.headers["retry-after"] == "1"
    assert second.json()["type"].endswith("/idempotency-key-in-progress")
    assert "still in progress" in second.json()["detail"]
    other_body = await asyncio.wait_for(
        api.post("/api/v1/items", json={**LAMP, "title": "Desk"}, headers=key("busy")), 10
    )
    assert other_body.status_code == 422, "another body is a misuse even while the first runs"
    release.set()
    done = await asyncio.wait_for(first, 10)
    assert done.status_code == 201
    third = await api.post("/api/v1/items", json=LAMP, headers=key("busy"))
    assert third.status_code == 201 and third.content == done.content
    assert third.headers["idempotent-replayed"] == "true"
    assert await item_titles(api) == ["Lamp"]


async def test_two_simultaneous_requests_with_one_key_run_once(
    api: httpx.AsyncClient, slow_create: tuple[asyncio.Event, asyncio.Event]
) -> None:
    _, release = slow_create
    tasks = [asyncio.create_task(api.post("/api/v1/items", json=LAMP, headers=key("race"))) for _ in range(2)]
    done, _pending = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1 and next(iter(done)).result().status_code == 409
    release.set()
    statuses = sorted(r.status_code for r in await asyncio.wait_for(asyncio.gather(*tasks), 10))
    assert statuses == [201, 409]
    assert await item_titles(api) == ["Lamp"]


async def test_an_expired_key_counts_as_unused(api: httpx.AsyncClient, runtime: Runtime) -> None:
    first = await api.post("/api/v1/items", json=LAMP, headers=key("old"))
    async with runtime.session() as session:
        await session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    again = await api.post("/api/v1/items", json=LAMP, headers=key("old"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await item_titles(api) == ["Lamp", "Lamp"]
    [row] = await records(runtime)
    assert row.expires_at > utcnow() + timedelta(hours=23) and row.response_body == again.content


async def test_a_key_abandoned_in_progress_is_taken_over(api: httpx.AsyncClient, runtime: Runtime) -> None:
    async with runtime.session() as session:
        owner_id = await session.scalar(select(User.id).where(User.email == "owner@example.com"))
        assert owner_id is not None
        long_ago = utcnow() - timedelta(minutes=20)
        session.add(
            IdempotencyRecord(
                user_id=owner_id,
                key="crashed",
                method="POST",
                path="/api/v1/items",
                fingerprint="0" * 64,
                status_code=None,
                created_at=long_ago,
                expires_at=long_ago + timedelta(hours=24),
            )
        )
        await session.commit()
    r = await api.post("/api/v1/items", json=LAMP, headers=key("crashed"))
    assert r.status_code == 201, r.text
    assert await item_titles(api) == ["Lamp"]


async def test_a_5xx_is_not_stored_and_the_retry_runs(
    api: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = item_services.create_item
    calls: list[int] = []

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return await original(*args, **kwargs)

    monkeypatch.setattr(item_services, "create_item", flaky)
    failed = await api.post("/api/v1/items", json=LAMP, headers=key("flaky"))
    assert failed.status_code == 500
    assert await records(runtime) == [], "nothing kept for a 5xx"
    retried = await api.post("/api/v1/items", json=LAMP, headers=key("flaky"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert len(calls) == 2
    assert await item_titles(api) == ["Lamp"]
    [row] = await records(runtime)
    assert row.status_code == 201


async def test_a_4xx_from_the_route_is_stored_but_a_refusal_is_not(
    api: httpx.AsyncClient, runtime: Runtime, tokens: Tokens
) -> None:
    bad = {"title": "Lamp", "list_price_minor": 100, "floor_price_minor": 500}
    first = await api.post("/api/v1/items", json=bad, headers=key("bad"))
    assert first.status_code == 422 and first.headers["content-type"] == "application/problem+json"
    again = await api.post("/api/v1/items", json=bad, headers=key("bad"))
    assert (again.status_code, again.content) == (422, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    read_only = {**key("ro"), "Authorization": f"Bearer {tokens.read}"}
    refused = await api.post("/api/v1/items", json=LAMP, headers=read_only)
    assert refused.status_code == 403
    assert [r.key for r in await records(runtime)] == ["bad"], "a 403 is not kept: a write token may retry"
    assert (await api.post("/api/v1/items", json=LAMP, headers=key("ro"))).status_code == 201


@pytest.mark.parametrize(
    "value",
    [b"", b"   ", b"x" * 256, "cl\u00e9".encode(), b"tab\there", b'"unterminated\\"'],
    ids=["empty", "blank", "too-long", "non-ascii", "control", "bad-quoting"],
)
async def test_an_invalid_key_is_a_400(api: httpx.AsyncClient, runtime: Runtime, value: bytes) -> None:
    r = await api.post("/api/v1/items", json=LAMP, headers={"Idempotency-Key": value})  # type: ignore[dict-item]
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/invalid-idempotency-key")
    assert "1 to 255 printable ASCII" in r.json()["detail"]
    assert await item_titles(api) == [] and await records(runtime) == []


async def test_two_key_headers_are_a_400(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/items", json=LAMP, headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
    assert r.status_code == 400 and "not several" in r.json()["detail"]


async def test_longest_key_and_the_quoted_form(api: httpx.AsyncClient, runtime: Runtime) -> None:
    longest = "k" * 255
    assert (await api.post("/api/v1/items", json=LAMP, headers=key(longest))).status_code == 201
    bare = await api.post("/api/v1/items", json=LAMP, headers=key('a "quoted" key'))
    quoted = await api.post("/api/v1/items", json=LAMP, headers=key('"a \\"quoted\\" key"'))
    assert bare.status_code == quoted.status_code == 201
    assert quoted.headers["idempotent-replayed"] == "true", "the IETF draft's quoted string names the same key"
    assert sorted(r.key for r in await records(runtime)) == ['a "quoted" key', longest]


async def test_the_body_size_limit_holds_before_anything_is_stored(api: httpx.AsyncClient, runtime: Runtime) -> None:
    huge = {"title": "x" * 2_000_000, "list_price_minor": 1}
    r = await api.post("/api/v1/items", json=huge, headers=key("huge"))
    assert r.status_code == 413
    assert await records(runtime) == []


async def test_purge_removes_only_expired_keys(api: httpx.AsyncClient, runtime: Runtime) -> None:
    for name in ("stale", "fresh"):
        assert (await api.post("/api/v1/items", json={**LAMP, "title": name}, headers=key(name))).status_code == 201
    async with runtime.session() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "stale")
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    assert await purge_idempotency_keys(runtime) == {"deleted": 1}
    assert [r.key for r in await records(runtime)] == ["fresh"]
    assert await purge_idempotency_keys(runtime) == {"deleted": 0}
    assert (JOBS["idempotency.purge"].func, JOBS["idempotency.purge"].interval_seconds) == (
        purge_idempotency_keys,
        3600,
    )


def test_retention_is_at_least_24_hours(tmp_path: Path, no_env: None) -> None:
    assert load_settings(server={"data_dir": tmp_path}).server.idempotency_ttl_hours == 24
    assert load_settings(server={"data_dir": tmp_path, "idempotency_ttl_hours": 72}).server.idempotency_ttl_hours == 72
    with pytest.raises(ConfigError, match="CASHOUT_IDEMPOTENCY_TTL_HOURS"):
        load_settings(server={"data_dir": tmp_path, "idempotency_ttl_hours": 23})


async def test_openapi_documents_the_header_on_post_operations(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in ("/api/v1/items", "/api/v1/items/{item_id}/photos", "/api/v1/listings/{listing_id}/publish"):
        params = schema["paths"][path]["post"]["parameters"]
        [header] = [p for p in params if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and header["required"] is False
        assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    listing = schema["paths"]["/api/v1/items"]["get"].get("parameters", [])
    assert all(p["name"] != "Idempotency-Key" for p in listing), "GET routes do not take it"


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


async def test_a_photo_upload_replays(api: httpx.AsyncClient) -> None:
    item_id = (await api.post("/api/v1/items", json={"title": "Chair", "list_price_minor": 4000})).json()["id"]
    url = f"/api/v1/items/{item_id}/photos"
    red = _png((200, 0, 0))
    # httpx picks a new random multipart boundary for every request, as most clients do on a retry.
    first = await api.post(url, files={"data": ("red.png", red, "image/png")}, headers=key("photo-1"))
    assert first.status_code == 201, first.text
    again = await api.post(url, files={"data": ("red.png", red, "image/png")}, headers=key("photo-1"))
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    photos = (await api.get(url)).json()["data"]
    assert [p["id"] for p in photos] == [first.json()["id"]]
    blue = await api.post(url, files={"data": ("red.png", _png((0, 0, 200)), "image/png")}, headers=key("photo-1"))
    assert blue.status_code == 422 and blue.json()["type"].endswith("/idempotency-key-reused")
    assert len((await api.get(url)).json()["data"]) == 1


def test_the_fingerprint_ignores_the_multipart_boundary_however_the_body_is_split() -> None:
    def body(boundary: str, content: bytes) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="a.png"\r\n\r\n'.encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )

    def digest(boundary: str, content: bytes, size: int) -> str:
        fp = _Fingerprint("POST", "/api/v1/x", f"multipart/form-data; boundary={boundary}")
        data = body(boundary, content)
        for at in range(0, len(data), size):
            fp.update(data[at : at + size])
        return fp.hexdigest()

    expected = digest("aaaa1111", b"payload", 10_000)
    assert {digest("aaaa1111", b"payload", n) for n in range(1, 40)} == {expected}
    assert digest("bbbb2222", b"payload", 7) == expected
    assert digest("aaaa1111", b"payloaD", 7) != expected
    plain = _Fingerprint("POST", "/api/v1/x", "application/json")
    plain.update(body("aaaa1111", b"payload"))
    assert plain.hexdigest() != expected, "outside multipart the body is hashed as it is"


@post("/api/v1/things", status_code=201)
async def make_thing(data: JSONBody[dict[str, str]]) -> Response[dict[str, str]]:
    made.append(data["name"])
    return Response(
        {"name": data["name"]},
        status_code=201,
        headers={"Location": f"/api/v1/things/{len(made)}", "X-Request-Only": str(len(made))},
    )


made: list[str] = []


@pytest.fixture
async def things(runtime: Runtime, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """A tiny app whose POST sets Location, behind the same authentication and idempotency layers."""
    made.clear()

    def on_init(config: AppConfig) -> AppConfig:
        config.state["runtime"] = runtime
        return config

    app = Litestar(
        route_handlers=[make_thing],
        middleware=[DefineMiddleware(TokenAuthMiddleware), IdempotencyMiddleware()],
        exception_handlers=EXCEPTION_HANDLERS,
        on_app_init=[on_init],
        openapi_config=None,
    )
    headers = {"Authorization": f"Bearer {tokens.owner}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        yield c


async def test_location_is_replayed_and_per_response_headers_are_not(things: httpx.AsyncClient) -> None:
    first = await things.post("/api/v1/things", json={"name": "a"}, headers=key("t1"))
    assert first.status_code == 201 and first.headers["location"] == "/api/v1/things/1"
    again = await things.post("/api/v1/things", json={"name": "a"}, headers=key("t1"))
    assert again.status_code == 201 and again.headers["location"] == "/api/v1/things/1"
    assert again.content == first.content and "x-request-only" not in again.headers
    assert made == ["a"]
