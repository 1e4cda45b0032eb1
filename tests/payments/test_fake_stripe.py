"""The fake Stripe speaks Stripe's shapes, and its signer matches the real library's verifier."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from cashout_server.domain.payments.stripe_api import StripeHTTPXClient
from cashout_server.testing.fake_stripe import API_VERSION, FakeStripe, parse_form, sign_event

FIXTURES = json.loads((Path(__file__).with_name("stripe_fixtures.json")).read_text())
SECRET = "whsec_abc123"


@pytest.fixture
def fake() -> Any:
    with FakeStripe() as server:
        yield server


def _client(fake: FakeStripe, key: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.url, headers={"Authorization": f"Bearer {key or fake.api_key}"})


SESSION_FORM = {
    "mode": "payment",
    "line_items[0][price_data][currency]": "usd",
    "line_items[0][price_data][unit_amount]": "2500",
    "line_items[0][price_data][product_data][name]": "Used bike",
    "line_items[0][quantity]": "1",
    "success_url": "https://example.com/paid",
    "client_reference_id": "pay_1",
    "metadata[payment_id]": "pay_1",
}


def test_the_signer_verifies_with_the_real_stripe_library() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event"}).encode()
    now = int(time.time())
    header = sign_event(payload, SECRET, now)
    assert stripe.WebhookSignature.verify_header(payload, header, SECRET, 300) is True
    assert header == stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET, now)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload + b" ", header, SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, sign_event(payload, SECRET, now - 301), SECRET, 300)


def test_bracket_forms_parse_into_nested_objects() -> None:
    body = httpx.QueryParams(SESSION_FORM).__str__()
    parsed = parse_form(body)
    assert parsed["line_items"] == [
        {
            "price_data": {"currency": "usd", "unit_amount": "2500", "product_data": {"name": "Used bike"}},
            "quantity": "1",
        }
    ]
    assert parsed["metadata"] == {"payment_id": "pay_1"}
    with pytest.raises(ValueError, match=r"a\[b\]"):
        parse_form("a=1&a[b]=2")


async def test_requests_without_a_valid_key_get_stripes_401(fake: FakeStripe) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as anonymous:
        r = await anonymous.post("/v1/prices", data={"currency": "usd", "unit_amount": "100"})
    assert r.status_code == 401 and r.headers["Request-Id"].startswith("req_")
    assert r.json()["error"]["type"] == "invalid_request_error" and "API key" in r.json()["error"]["message"]
    async with _client(fake, "sk_test_wrongwrongwrong1234") as wrong:
        r = await wrong.get("/v1/checkout/sessions/cs_test_x")
    assert r.status_code == 401 and "Invalid API Key provided" in r.json()["error"]["message"]
    assert "wrongwrongwrong" not in r.text, "Stripe masks the key it refuses"


async def test_objects_have_exactly_the_keys_of_stripes_fixtures(fake: FakeStripe) -> None:
    async with _client(fake) as c:
        price = (
            await c.post("/v1/prices", data={"currency": "usd", "unit_amount": "2500", "product_data[name]": "Bike"})
        ).json()
        link = (
            await c.post(
                "/v1/payment_links",
                data={
                    "line_items[0][price]": price["id"],
                    "line_items[0][quantity]": "1",
                    "metadata[item_id]": "itm_1",
                },
            )
        ).json()
        session = (await c.post("/v1/checkout/sessions", data=SESSION_FORM)).json()
        again = (await c.get(f"/v1/checkout/sessions/{session['id']}")).json()
    assert set(price) == set(FIXTURES["price"]) and price["unit_amount"] == 2500 and price["type"] == "one_time"
    assert set(link) == set(FIXTURES["payment_link"]) and link["id"].startswith("plink_")
    assert link["metadata"] == {"item_id": "itm_1"} and link["url"].startswith("https://")
    assert set(session) == set(FIXTURES["checkout.session"]) and session["id"].startswith("cs_test_")
    assert (session["status"], session["payment_status"], session["amount_total"]) == ("open", "unpaid", 2500)
    assert session["client_reference_id"] == "pay_1" and again == session
    completed = fake.event("checkout.session.completed", fake.pay_session(session["id"]))
    assert set(completed) == set(FIXTURES["event"]) and completed["api_version"] == API_VERSION
    paid = completed["data"]["object"]
    assert (paid["status"], paid["payment_status"]) == ("complete", "paid") and paid["payment_intent"].startswith("pi_")


async def test_missing_and_unknown_parameters_are_refused_like_stripe(fake: FakeStripe) -> None:
    async with _client(fake) as c:
        missing = await c.post("/v1/checkout/sessions", data={"mode": "payment", "success_url": "https://x"})
        unknown = await c.post("/v1/prices", data={"currency": "usd", "unit_amount": "1", "colour": "red"})
        no_price = await c.post("/v1/payment_links", data={"line_items[0][price]": "price_nope"})
        absent = await c.get("/v1/checkout/sessions/cs_test_nope")
    assert missing.status_code == 400
    assert missing.json()["error"] | {"doc_url": None} == {
        "type": "invalid_request_error",
        "code": "parameter_missing",
        "message": "Missing required param: line_items.",
        "param": "line_items",
        "doc_url": None,
    }
    assert unknown.json()["error"]["code"] == "parameter_unknown" and unknown.json()["error"]["param"] == "colour"
    assert no_price.json()["error"]["code"] == "resource_missing"
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "resource_missing"


async def test_idempotency_keys_replay_refuse_other_parameters_and_409_while_running(fake: FakeStripe) -> None:
    async with _client(fake) as c:
        first = await c.post("/v1/checkout/sessions", data=SESSION_FORM, headers={"Idempotency-Key": "k1"})
        replay = await c.post("/v1/checkout/sessions", data=SESSION_FORM, headers={"Idempotency-Key": "k1"})
        other = await c.post(
            "/v1/checkout/sessions",
            data={**SESSION_FORM, "client_reference_id": "pay_2"},
            headers={"Idempotency-Key": "k1"},
        )
        assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
        assert fake.created()["checkout.session"] == 1

        fake.latency = 0.3
        racing = await asyncio.gather(
            *(c.post("/v1/checkout/sessions", data=SESSION_FORM, headers={"Idempotency-Key": "k2"}) for _ in range(2))
        )
    assert sorted(r.status_code for r in racing) == [200, 409]
    assert next(r for r in racing if r.status_code == 409).json()["error"]["type"] == "idempotency_error"
    assert fake.created()["checkout.session"] == 2


async def test_fault_modes_answer_429_and_500_without_executing(fake: FakeStripe) -> None:
    fake.fail_next = [429, 500]
    async with _client(fake) as c:
        limited = await c.post("/v1/checkout/sessions", data=SESSION_FORM)
        broken = await c.post("/v1/checkout/sessions", data=SESSION_FORM)
        fine = await c.post("/v1/checkout/sessions", data=SESSION_FORM)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error" and limited.json()["error"]["code"] == "rate_limit"
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "api_error"
    assert fine.status_code == 200 and fake.created()["checkout.session"] == 1


async def test_a_dropped_answer_after_applying_is_replayed_by_the_real_library(fake: FakeStripe) -> None:
    fake.drop_next = ["after"]
    http = StripeHTTPXClient(timeout=5)
    client = stripe.StripeClient(
        fake.api_key, base_addresses={"api": fake.url}, max_network_retries=1, http_client=http
    )
    try:
        session = await client.v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {"currency": "usd", "unit_amount": 900, "product_data": {"name": "Lamp"}},
                        "quantity": 1,
                    }
                ],
                "success_url": "https://example.com/paid",
            },
            {"idempotency_key": "lost-answer"},
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert session.amount_total == 900
    assert fake.created()["checkout.session"] == 1, "the retry was replayed, not executed again"
    assert [r.replayed for r in fake.requests] == [False, True]
