"""Meta-tests on the plugin contract: every hook documented, every hook exercised, guide in sync."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cashout_server import (
    CampaignRequest,
    InboundEmail,
    Money,
    PriceQuery,
    ReplyRequest,
    WebhookRequest,
    contract,
    hookspecs,
)
from cashout_server.docgen import hook_names, render, render_configuration
from cashout_server.hooks import call_fanout, call_targeted
from cashout_server.plugins import create_plugin_manager
from cashout_server.testing import make_context, sample_listing

ROOT = Path(__file__).resolve().parents[1]

# One call per hook through the real call layer, with the arguments the core passes.
CALLS: dict[str, dict[str, Any]] = {
    "platforms": {},
    "publish": {"listing": sample_listing},
    "check_status": {"listing": sample_listing},
    "update_listing": {"listing": sample_listing},
    "delist": {"listing": sample_listing},
    "render_feed": {"listings": lambda: [sample_listing()]},
    "refresh_credentials": {},
    "fetch_leads": {"since": None},
    "send_reply": {"reply": ReplyRequest(lead_external_id="t1", body="Yes, still available", idempotency_key="k")},
    "parse_lead_email": {
        "email": InboundEmail(
            message_id="<m@x>",
            from_address="b@scripted.test",
            from_name="B",
            to_addresses=("me@x",),
            subject="Bike",
            text="Is it available?",
            received_at=datetime(2026, 1, 2, tzinfo=UTC),
        )
    },
    "handle_webhook": {
        "request": lambda: WebhookRequest(
            method="GET", headers={"x-scripted-token": "k"}, query={"challenge": "c1"}, body=b""
        )
    },
    "fetch_metrics": {"since": None},
    "price_lookup": {"query": PriceQuery(identifiers={"upc": "045496995002"})},
    "create_campaign": {
        "campaign": CampaignRequest(
            campaign_id="c", idempotency_key="k", name="Bikes", daily_budget=Money(amount_minor=500)
        )
    },
}
FANOUT = {"platforms", "parse_lead_email"}


def test_every_hook_is_documented() -> None:
    for name in hook_names():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc.splitlines()[0].endswith("."), f"{name}: summary line"
        assert "Kind: targeted" in doc or "Kind: fan-out" in doc, f"{name}: say targeted or fan-out"
        assert "Returns:" in doc and "Raises:" in doc, f"{name}: say what it returns and raises"
        params = list(inspect.signature(getattr(hookspecs, name)).parameters)
        if params:
            assert "Args:" in doc, name
            for param in params:
                assert f"{param}:" in doc, f"{name}: argument {param} undocumented"


def test_no_hook_is_firstresult() -> None:
    for name in hook_names():
        opts = getattr(hookspecs, name).cashout_spec
        assert not opts.get("firstresult"), f"{name}: async hooks must not be firstresult"


def test_every_hook_is_exercised_here() -> None:
    assert set(CALLS) == set(hook_names())


@pytest.mark.parametrize("hook", sorted(CALLS))
async def test_hook_through_the_call_layer(hook: str, scripted: Any) -> None:
    registry = create_plugin_manager(load_entrypoints=False, extra=[("scripted", scripted)])
    kwargs = {k: (v() if callable(v) and not isinstance(v, type) else v) for k, v in CALLS[hook].items()}
    if hook in FANOUT:
        results = await call_fanout(registry, hook, **kwargs)
        assert [r.error for r in results] == [None]
        assert results[0].value
        return
    async with make_context("scripted", base_url="http://127.0.0.1:9", credentials={"api_key": "k"}) as ctx:
        result = await call_targeted(registry, "scripted", hook, ctx=ctx, **kwargs)
    assert result is not None
    assert scripted.calls and scripted.calls[-1][0] == hook


def test_plugin_guide_is_generated_from_the_docstrings() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert guide == render(), "docs/plugins.md is stale: run `make docs`"
    for name in hook_names():
        assert f"### `{name}`" in guide
    config = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert config == render_configuration(), "docs/configuration.md is stale: run `make docs`"
    assert "`CASHOUT_DATABASE_URL`" in config


def test_contract_surface_imports_nothing_of_the_server() -> None:
    for module in (contract, hookspecs):
        source = inspect.getsource(module)
        for line in source.splitlines():
            if line.startswith(("import ", "from ")) and "cashout_server" in line:
                assert line.startswith(("from cashout_server.contract", "from cashout_server import")), line


def test_money_and_fees() -> None:
    assert Money(amount_minor=123456, currency="USD").format() == "1234.56 USD"
    assert Money(amount_minor=-5).format() == "-0.05 USD"
    fee = contract.FeeModel(percent_bps=1290, fixed_minor=30).fee_for(Money(amount_minor=10000))
    assert fee == Money(amount_minor=1320)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert contract.parse_retry_after("120", now=now) == 120.0
    assert contract.parse_retry_after(" 2.5 ") == 2.5
    assert contract.parse_retry_after("-3") == 0.0
    assert contract.parse_retry_after("inf") is None
    assert contract.parse_retry_after("Sun, 22 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert contract.parse_retry_after("Sun, 22 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert contract.parse_retry_after("soon", now=now) is None
    assert contract.parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("exc", "mutating", "kind"),
    [
        (httpx.ConnectError("refused"), True, contract.TransientError),
        (httpx.ConnectTimeout("slow"), True, contract.TransientError),
        (httpx.ReadTimeout("hung"), True, contract.OutcomeUnknown),
        (httpx.RemoteProtocolError("reset"), True, contract.OutcomeUnknown),
        (httpx.ReadTimeout("hung"), False, contract.TransientError),
    ],
)
def test_transport_errors_say_whether_the_request_may_have_been_applied(
    exc: Exception, mutating: bool, kind: type[Exception]
) -> None:
    error = contract.transport_error(exc, platform="Example", mutating=mutating)
    assert type(error) is kind
    assert "Example" in str(error)


def test_text_helpers_fit_platform_limits() -> None:
    from cashout_server import clean_text, fit_text, fit_title, whole_units

    assert fit_title("Vintage   Eames lounge chair, walnut and black leather", 30) == "Vintage Eames lounge chair"
    assert fit_title("Supercalifragilisticexpialidocious chair", 10) == "Supercalif", "hard cut over a lost title"
    assert fit_text("a" * 50, 10) == "a" * 9 + "…"
    assert clean_text("line\r\nbreak\x00\x0b\ufffe") == "line\nbreak"
    assert whole_units(Money(amount_minor=44950)) == "450"
    assert whole_units(Money(amount_minor=1999, currency="JPY")) == "1999"
