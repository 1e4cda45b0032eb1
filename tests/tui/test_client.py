"""The API client, the configuration and the formatting helpers, without the UI."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import cashout_tui
from cashout_tui.__main__ import main, run
from cashout_tui.client import ApiError, CashoutClient, problem_from_response
from cashout_tui.common import plural
from cashout_tui.config import DEFAULT_URL, ConfigError, load_config
from cashout_tui.formatting import (
    PriceError,
    describe_delivery,
    describe_listing,
    format_bytes,
    format_money,
    listing_in_motion,
    next_attempt_text,
    parse_price,
    parse_time,
    relative_time,
)

SECRET = "cashout_pat_s3cr3t-value-that-must-not-leak"


def mock_client(handler: Callable[[httpx.Request], httpx.Response], token: str = SECRET) -> CashoutClient:
    return CashoutClient("http://example.test", token, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def problem(status: int, detail: str, **extra: object) -> httpx.Response:
    body = {"type": "https://cashout.invalid/problems/x", "title": "Title", "status": status, "detail": detail}
    body.update(extra)
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


# -- ApiError ---------------------------------------------------------------------------------


def test_problem_json_is_parsed() -> None:
    response = httpx.Response(
        422,
        json={
            "type": "https://cashout.invalid/problems/invalid-item",
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "floor_price_minor must not be above list_price_minor",
            "instance": "/api/v1/items",
        },
        headers={"content-type": "application/problem+json"},
    )
    error = problem_from_response(response)
    assert (error.status, error.title) == (422, "Unprocessable Content")
    assert error.detail == "floor_price_minor must not be above list_price_minor"
    assert error.type == "https://cashout.invalid/problems/invalid-item"
    assert str(error) == "Unprocessable Content (422): floor_price_minor must not be above list_price_minor"


def test_problem_field_errors_are_listed() -> None:
    response = httpx.Response(
        400,
        json={
            "title": "Bad Request",
            "status": 400,
            "detail": "Validation failed for POST /api/v1/items",
            "errors": [{"message": "Expected `int` >= 0", "key": "list_price_minor", "source": "body"}],
        },
    )
    error = problem_from_response(response)
    assert error.errors == [{"message": "Expected `int` >= 0", "key": "list_price_minor", "source": "body"}]
    assert str(error) == (
        "Bad Request (400): Validation failed for POST /api/v1/items — list_price_minor: Expected `int` >= 0"
    )


def test_non_json_error_uses_the_http_phrase() -> None:
    error = problem_from_response(httpx.Response(502, text="<html>  upstream\n down </html>"))
    assert (error.status, error.title, error.detail) == (502, "Bad Gateway", "<html> upstream down </html>")
    assert str(error) == "Bad Gateway (502): <html> upstream down </html>"


async def test_client_raises_api_error_and_sends_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return problem(404, "no item with id 'itm_x'", title="Not Found")

    client = mock_client(handler)
    with pytest.raises(ApiError) as caught:
        await client.get_item("itm_x")
    assert caught.value.status == 404
    assert str(caught.value) == "Not Found (404): no item with id 'itm_x'"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert str(seen[0].url) == "http://example.test/api/v1/items/itm_x"


async def test_token_never_in_repr_or_errors() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        # A careless server that echoes the header it got must not make the token visible.
        return problem(401, f"bad header {request.headers['authorization']}", title="Unauthorized")

    client = mock_client(echo)
    assert SECRET not in repr(client)
    assert SECRET not in str(client)
    assert repr(client) == "CashoutClient(base_url='http://example.test', token='<redacted>')"
    with pytest.raises(ApiError) as caught:
        await client.me()
    error = caught.value
    for text in (str(error), repr(error), error.message, error.detail, str(error.args)):
        assert SECRET not in text
    assert "<redacted>" in str(error)


async def test_connection_failure_is_readable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ApiError) as caught:
        await mock_client(refuse).list_items()
    assert caught.value.status == 0
    assert str(caught.value) == "cannot reach the server at http://example.test: [Errno 111] Connection refused"


async def test_timeout_is_readable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiError, match=r"^the server at http://example.test did not answer in time$"):
        await mock_client(slow).me()


async def test_real_unreachable_port(unused_port: int) -> None:
    async with CashoutClient(f"http://127.0.0.1:{unused_port}/", SECRET) as client:
        with pytest.raises(ApiError, match=rf"^cannot reach the server at http://127.0.0.1:{unused_port}: "):
            await client.me()


async def test_credentials_in_url_are_not_shown() -> None:
    client = CashoutClient("http://user:pw@example.test:8080/base/", SECRET, http=httpx.AsyncClient())
    assert client.base_url == "http://example.test:8080/base"
    assert "pw" not in repr(client)
    await client._http.aclose()


async def test_all_items_follows_cursors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}], "next_cursor": "c1"})
        assert cursor == "c1"
        return httpx.Response(200, json={"data": [{"id": "c"}], "next_cursor": None})

    items = await mock_client(handler).all_items()
    assert [i["id"] for i in items] == ["a", "b", "c"]


async def test_non_json_success_is_an_api_error() -> None:
    client = mock_client(lambda request: httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(ApiError, match="did not answer with JSON"):
        await client.me()


async def test_client_against_the_real_server(make_client: Callable[[str], CashoutClient], tokens, png: bytes) -> None:
    owner = make_client(tokens.owner)
    assert (await owner.me())["email"] == "owner@example.com"
    item = await owner.create_item({"title": "Lamp", "list_price_minor": 2500, "condition": "like_new"})
    assert (item["title"], item["list_price_minor"], item["condition"]) == ("Lamp", 2500, "like_new")
    photo = await owner.upload_photo(item["id"], png, filename="lamp.png", content_type="image/png")
    assert (photo["width"], photo["height"]) == (64, 48)
    assert [p["id"] for p in await owner.list_photos(item["id"])] == [photo["id"]]
    assert (await owner.update_item(item["id"], {"list_price_minor": 2000}))["list_price_minor"] == 2000
    assert any(p["name"] == "craigslist" for p in await owner.list_plugins())

    reader = make_client(tokens.read)
    assert [i["id"] for i in await reader.all_items()] == [item["id"]]
    with pytest.raises(ApiError) as caught:
        await reader.create_item({"title": "Nope", "list_price_minor": 1})
    assert caught.value.status == 403
    assert tokens.read not in str(caught.value)

    with pytest.raises(ApiError) as caught:
        await owner.create_item({"title": "Bad", "list_price_minor": -5})
    assert caught.value.status == 400
    assert "list_price_minor" in str(caught.value)

    await owner.delete_item(item["id"])
    with pytest.raises(ApiError, match=r"^Not Found \(404\): no item with id"):
        await owner.get_item(item["id"])


# -- configuration ----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CASHOUT_URL", "CASHOUT_TOKEN", "CASHOUT_TUI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_config_default_url_and_home_file(clean_env: Path) -> None:
    write_config(clean_env / ".config" / "cashout" / "tui.toml", 'token = "from-home-file"\n')
    config = load_config()
    assert (config.url, config.token) == (DEFAULT_URL, "from-home-file")
    assert config.source == {"url": "default", "token": str(clean_env / ".config" / "cashout" / "tui.toml")}


def test_config_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_config(tmp_path / "tui.toml", 'url = "http://file:1"\ntoken = "file-token"\n')
    monkeypatch.setenv("CASHOUT_TUI_CONFIG", str(path))
    config = load_config()
    assert (config.url, config.token) == ("http://file:1", "file-token")

    monkeypatch.setenv("CASHOUT_URL", "http://env:2/")
    monkeypatch.setenv("CASHOUT_TOKEN", "env-token")
    config = load_config()
    assert (config.url, config.token) == ("http://env:2", "env-token")

    config = load_config(url="http://arg:3", token="arg-token")
    assert (config.url, config.token) == ("http://arg:3", "arg-token")

    config = load_config(token="arg-token")  # each setting resolves on its own
    assert (config.url, config.token) == ("http://env:2", "arg-token")
    assert config.source == {"url": "$CASHOUT_URL", "token": "argument"}


def test_config_missing_token_is_readable(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match=r"no API token: pass --token, set \$CASHOUT_TOKEN"):
        load_config(url="http://x:1")


def test_config_file_problems(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASHOUT_TUI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(token="t")
    bad = write_config(tmp_path / "bad.toml", "url = \n")
    monkeypatch.setenv("CASHOUT_TUI_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(token="t")
    wrong = write_config(tmp_path / "wrong.toml", "token = 5\n")
    monkeypatch.setenv("CASHOUT_TUI_CONFIG", str(wrong))
    with pytest.raises(ConfigError, match="'token' must be a string"):
        load_config()
    monkeypatch.delenv("CASHOUT_TUI_CONFIG")
    with pytest.raises(ConfigError, match="must start with http"):
        load_config(url="example.test", token="t")


def test_config_repr_hides_token(clean_env: Path) -> None:
    config = load_config(token=SECRET)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_run_without_token_exits_with_message(clean_env: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        run(url="http://127.0.0.1:1")
    assert str(caught.value.code).startswith("cashout tui: no API token")
    with pytest.raises(SystemExit) as caught:
        main(["--url", "http://127.0.0.1:1"])
    assert "no API token" in str(caught.value.code)


# -- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("12", "USD", 1200),
        (" $1,234.56 ", "USD", 123456),
        ("0", "USD", 0),
        ("0.99", "EUR", 99),
        ("1500", "JPY", 1500),
    ],
)
def test_parse_price(text: str, currency: str, minor: int) -> None:
    assert parse_price(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "USD", "price is required"),
        ("abc", "USD", "price must be a number like 12.50, not 'abc'"),
        ("12.5.0", "USD", "price must be a number like 12.50"),
        ("nan", "USD", "price must be a number"),
        ("-1", "USD", "price cannot be negative"),
        ("1.005", "USD", "at most 2 decimal places"),
        ("10.5", "JPY", "no decimal places"),
        ("100000000000", "USD", "too large"),
    ],
)
def test_parse_price_errors(text: str, currency: str, message: str) -> None:
    with pytest.raises(PriceError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_price(text, currency)


def test_format_money_and_bytes() -> None:
    assert format_money(1250, "USD") == "12.50 USD"
    assert format_money(123456789, "USD") == "1,234,567.89 USD"
    assert format_money(1500, "JPY") == "1,500 JPY"
    assert format_money(None, "USD") == ""
    assert format_bytes(512) == "512 B"
    assert format_bytes(2048) == "2.0 KB"
    assert format_bytes(3 * 1024 * 1024) == "3.0 MB"


def test_describe_listing_outcomes() -> None:
    base = {
        "id": "lst_1",
        "item_id": "itm_1",
        "connection_id": "con_1",
        "platform": "ebay",
        "external_id": None,
        "url": None,
        "options": {},
        "action": None,
        "last_error": None,
        "published_at": None,
        "created_at": "",
        "updated_at": "",
    }
    published = {**base, "status": "published", "url": "https://ebay.example/itm/1", "external_id": "1"}
    assert describe_listing(published) == "Published on ebay: https://ebay.example/itm/1"  # type: ignore[arg-type]
    rejected = {**base, "status": "rejected", "last_error": "title too long"}
    assert describe_listing(rejected) == "Rejected by ebay: title too long"  # type: ignore[arg-type]
    unknown = {**base, "status": "unknown", "last_error": "timeout"}
    assert "It will not be sent again" in describe_listing(unknown)  # type: ignore[arg-type]
    action = {"kind": "publish", "instructions": "Post it", "url": "https://x", "copy": {"body": "a\nb", "title": "T"}}
    text = describe_listing({**base, "status": "needs_action", "action": action})  # type: ignore[arg-type]
    assert text.splitlines() == [
        "Needs action on ebay: Post it",
        "Go to: https://x",
        "",
        "Ready-to-paste copy:",
        "title: T",
        "body:",
        "  a",
        "  b",
        "",
        "When it is posted, paste its URL below and press Confirm.",
    ]


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamp", "text"),
    [
        ("2026-03-01T12:00:42Z", "in 42s"),
        ("2026-03-01T12:00:00.400000Z", "now"),
        ("2026-03-01T12:05:30+00:00", "in 5m"),
        ("2026-03-01T14:30:00Z", "in 2h30m"),
        ("2026-03-01T15:00:00Z", "in 3h"),
        ("2026-03-04T12:00:00Z", "in 3d"),
        ("2026-03-01T11:59:50Z", "10s ago"),
        ("2026-03-01T11:00:00", "1h ago"),  # no zone: UTC
        (None, ""),
        ("not a time", ""),
    ],
)
def test_relative_time(stamp: str | None, text: str) -> None:
    assert relative_time(stamp, NOW) == text


def test_parse_time_reads_api_timestamps() -> None:
    assert parse_time("2026-03-01T12:00:00.123456Z") == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("") is None


def brief(state: str, action: str = "publish", attempts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": "dlv_1", "action": action, "state": state, "attempts": attempts, "next_attempt_at": None,
            "last_error": None, **extra}  # fmt: skip


def test_describe_delivery_and_next_attempt() -> None:
    waiting = brief("queued", attempts=2, next_attempt_at="2026-03-01T12:00:08Z", last_error="HTTP 503")
    assert describe_delivery(waiting, NOW) == "publish queued · 2 attempts · next in 8s · last error: HTTP 503"  # type: ignore[arg-type]
    due = brief("queued", next_attempt_at="2026-03-01T11:59:00Z")
    assert next_attempt_text(due, NOW) == "due now"  # type: ignore[arg-type]
    assert describe_delivery(due, NOW) == "publish queued · 0 attempts · next due now"  # type: ignore[arg-type]
    done = brief("done", attempts=1)
    assert next_attempt_text(done, NOW) == ""  # type: ignore[arg-type]
    assert describe_delivery(done, NOW) == "publish done · 1 attempt"  # type: ignore[arg-type]
    assert describe_delivery(brief("awaiting_approval", "delist"), NOW).startswith("delist waiting for approval")  # type: ignore[arg-type]
    assert describe_delivery(None) == ""


def listing_with(status: str, delivery: dict[str, Any] | None) -> Any:
    return {"id": "lst_1", "item_id": "itm_1", "connection_id": "con_1", "platform": "ebay", "status": status,
            "external_id": None, "url": None, "options": {}, "action": None, "last_error": None,
            "published_at": None, "created_at": "", "updated_at": "", "delivery": delivery}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "delivery", "moving"),
    [
        ("queued", brief("queued"), True),
        ("publishing", brief("in_flight", attempts=1), True),
        ("queued", brief("done", attempts=1), True),  # the listing moves on when the outcome is recorded
        ("queued", brief("awaiting_approval"), False),  # nothing happens until a person decides
        ("published", brief("done", attempts=1), False),
        ("published", brief("queued", "delist"), True),  # a takedown on its way
        ("published", brief("queued", "update"), True),
        ("pending", brief("queued", "check"), False),  # the platform decides on its own schedule
        ("failed", brief("dead", attempts=5), False),
        ("needs_action", brief("done", attempts=1), False),
        ("draft", None, False),
    ],
)
def test_listing_in_motion(status: str, delivery: dict[str, Any] | None, moving: bool) -> None:
    assert listing_in_motion(listing_with(status, delivery)) is moving


def test_describe_listing_with_its_delivery() -> None:
    queued = listing_with("queued", brief("queued"))
    assert describe_listing(queued).splitlines() == [
        "Queued for ebay: the server's delivery worker sends it shortly.",
        "Delivery: publish queued · 0 attempts · next due now",
    ]
    approval = listing_with("queued", brief("awaiting_approval"))
    assert describe_listing(approval).splitlines() == [
        "Waiting for approval before it goes to ebay.",
        "Delivery: publish waiting for approval · 0 attempts",
        "A person must approve it first (a on the items screen).",
    ]
    dead = listing_with("failed", brief("dead", attempts=5, last_error="gave up after 5 attempts: HTTP 503"))
    dead["last_error"] = "gave up after 5 attempts: HTTP 503"
    assert describe_listing(dead).splitlines() == [
        "Failed on ebay: gave up after 5 attempts: HTTP 503",
        "Delivery: publish dead · 5 attempts · last error: gave up after 5 attempts: HTTP 503",
        "The server gave up on it: retry it from the outbox (o on the items screen).",
    ]
    assert describe_listing(listing_with("sold", brief("done", attempts=1))) == "Sold through ebay."
    published = listing_with("published", brief("done", attempts=1))
    published["url"] = "https://ebay.example/1"
    assert describe_listing(published) == "Published on ebay: https://ebay.example/1"


def test_plural() -> None:
    assert [plural(1, "delivery"), plural(2, "delivery"), plural(0, "item"), plural(3, "day")] == [
        "1 delivery",
        "2 deliveries",
        "0 items",
        "3 days",
    ]


# -- boundaries -------------------------------------------------------------------------------


def test_tui_never_imports_the_server() -> None:
    package = Path(cashout_tui.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "cashout_server"]
    assert offenders == []
    assert len(list(package.rglob("*.py"))) >= 5


def test_problem_json_fixture_roundtrip() -> None:
    # The error reads the same from bytes the server would send.
    raw = json.dumps({"title": "Conflict", "status": 409, "detail": "the listing is needs_action"}).encode()
    error = problem_from_response(httpx.Response(409, content=raw))
    assert str(error) == "Conflict (409): the listing is needs_action"
