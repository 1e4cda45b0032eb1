"""Creating payment links and Checkout Sessions through the API, against the fake Stripe on loopback."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from payments.stripe_shop import Shop
from sqlalchemy import func, select

from cashout_server.db.models import LeadMessage, PaymentLink
from cashout_server.settings import StripeSettings


async def test_a_payment_link_for_the_leads_agreed_price(shop: Shop) -> None:
    item = await shop.item("Road bike", 30000)
    lead = await shop.lead(item, agreed_minor=27500)
    r = await shop.pay(item_id=item, lead_id=lead, kind="payment_link", purpose="full")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("pay_") and body["status"] == "open"
    assert (body["amount_minor"], body["currency"], body["kind"], body["purpose"]) == (
        27500,
        "USD",
        "payment_link",
        "full",
    )
    assert (body["item_id"], body["lead_id"]) == (item, lead)
    (link,) = shop.fake.payment_links.values()
    assert body["url"] == link["url"] and body["stripe_id"] == link["id"]
    assert link["metadata"] == {"payment_id": body["id"], "item_id": item, "lead_id": lead, "purpose": "full"}
    assert link["restrictions"]["completed_sessions"]["limit"] == 1, "a link takes one payment"
    (price,) = shop.fake.prices.values()
    assert (price["unit_amount"], price["currency"]) == (27500, "usd")
    assert shop.fake.products[price["product"]]["name"] == "Road bike"
    keys = [r.idempotency_key for r in shop.fake.requests]
    assert all(k and body["id"] in k for k in keys), "every POST carries the payment's idempotency key"
    assert (await shop.api.get(f"/api/v1/payments/{body['id']}")).json() == body


async def test_a_checkout_session_for_the_list_price_lands_on_the_public_url(shop: Shop) -> None:
    item = await shop.item("Lamp", 4500)
    r = await shop.pay(item_id=item, kind="checkout_session", purpose="full")
    assert r.status_code == 201, r.text
    body = r.json()
    (session,) = shop.fake.sessions.values()
    assert body["stripe_id"] == session["id"] and body["url"] == session["url"] and body["lead_id"] is None
    assert session["amount_total"] == 4500 and session["client_reference_id"] == body["id"]
    assert session["metadata"] == {"payment_id": body["id"], "item_id": item, "purpose": "full"}
    assert session["success_url"] == f"{shop.runtime.settings.server.base_url}/paid"


async def test_a_deposit_needs_an_amount_below_the_price(shop: Shop) -> None:
    item = await shop.item("Sofa", 50000)
    lead = await shop.lead(item, agreed_minor=40000)
    for amount, status in [(None, 422), (40000, 422), (45000, 422)]:
        r = await shop.pay(item_id=item, lead_id=lead, kind="checkout_session", purpose="deposit", amount_minor=amount)
        assert r.status_code == status, (amount, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await shop.pay(item_id=item, lead_id=lead, kind="checkout_session", purpose="deposit", amount_minor=5000)
    assert r.status_code == 201 and r.json()["purpose"] == "deposit" and r.json()["amount_minor"] == 5000
    (session,) = shop.fake.sessions.values()
    assert session["amount_total"] == 5000
    assert shop.fake.created() == {"checkout.session": 1}, "refused requests never reached Stripe"


async def test_unknown_ids_are_404_and_a_sold_item_cannot_be_paid_for(shop: Shop) -> None:
    item = await shop.item()
    assert (await shop.pay(item_id="itm_nope", kind="payment_link")).status_code == 404
    r = await shop.pay(item_id=item, lead_id="led_nope", kind="payment_link")
    assert r.status_code == 404 and "led_nope" in r.json()["detail"]
    other = await shop.lead(await shop.item("Other"))
    assert (await shop.pay(item_id=item, lead_id=other, kind="payment_link")).status_code == 422
    assert (await shop.api.post(f"/api/v1/items/{item}/sales", json={})).status_code == 201
    r = await shop.pay(item_id=item, kind="payment_link")
    assert r.status_code == 422 and "sold out" in r.json()["detail"]
    assert (await shop.api.get("/api/v1/payments/pay_nope")).status_code == 404
    assert shop.fake.requests == []


async def test_without_a_secret_key_payments_are_off(shop: Shop) -> None:
    item = await shop.item()
    settings = shop.runtime.settings
    shop.runtime.settings = dataclasses.replace(settings, stripe=StripeSettings(api_base=shop.fake.url))
    try:
        r = await shop.pay(item_id=item, kind="payment_link")
    finally:
        shop.runtime.settings = settings
    assert r.status_code == 409 and "CASHOUT_STRIPE_SECRET_KEY is unset" in r.json()["detail"]


async def test_stripe_errors_are_502_with_stripes_message_and_never_the_key(shop: Shop) -> None:
    item = await shop.item()
    settings = shop.runtime.settings
    bad_key = "sk_test_thisisnotthekey0000"
    shop.runtime.settings = dataclasses.replace(
        settings, stripe=StripeSettings(secret_key=bad_key, api_base=shop.fake.url)
    )
    try:
        r = await shop.pay(item_id=item, kind="payment_link")
    finally:
        shop.runtime.settings = settings
    assert r.status_code == 502 and r.headers["content-type"].startswith("application/problem+json")
    assert "Invalid API Key provided" in r.json()["detail"]
    assert "thisisnotthekey" not in r.text and "sk_test" not in r.text
    assert r.json()["stripe_status"] == 401 and r.json()["retry_same_request"] is False
    failed = (await shop.api.get("/api/v1/payments", params={"status": "failed"})).json()["data"]
    assert [p["item_id"] for p in failed] == [item]


async def test_a_rate_limited_request_keeps_its_row_and_the_retry_uses_the_same_key(shop: Shop) -> None:
    item = await shop.item()
    shop.fake.fail_next = [429]
    r = await shop.pay(item_id=item, kind="checkout_session")
    assert r.status_code == 502 and r.json()["retry_same_request"] is True and "rate limit" in r.json()["detail"]
    (creating,) = (await shop.api.get("/api/v1/payments", params={"status": "creating"})).json()["data"]
    r = await shop.pay(item_id=item, kind="checkout_session")
    assert r.status_code == 201 and r.json()["id"] == creating["id"]
    assert shop.fake.created() == {"checkout.session": 1}


@pytest.mark.parametrize("where", ["before", "after"])
async def test_a_crash_between_the_row_and_stripes_answer_never_makes_a_second_link(shop: Shop, where: str) -> None:
    """Stripe's answer never arrives (the library's retries included): the row stays ``creating``.

    ``before``: the request never reached Stripe. ``after``: Stripe made the link and the answer was
    lost, which is what a crash of cashout right after the call looks like from Stripe's side.
    """
    item = await shop.item()
    shop.fake.drop_next = [where] * 3
    r = await shop.pay(item_id=item, kind="payment_link")
    assert r.status_code == 502 and r.json()["retry_same_request"] is True
    assert shop.fake.created() == ({"price": 1} if where == "after" else {})
    (row,) = (await shop.api.get("/api/v1/payments")).json()["data"]
    assert row["status"] == "creating" and row["url"] is None

    again = await shop.pay(item_id=item, kind="payment_link")
    assert again.status_code == 201, again.text
    assert again.json()["id"] == row["id"] and again.json()["status"] == "open"
    assert shop.fake.created() == {"price": 1, "payment_link": 1}, "the retry replayed, it did not create twice"
    async with shop.runtime.session() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentLink)) == 1


async def test_payments_list_filters_by_item_lead_and_status(shop: Shop) -> None:
    first, second = await shop.item("A"), await shop.item("B")
    lead = await shop.lead(second)
    ids = []
    for body in [
        {"item_id": first, "kind": "payment_link"},
        {"item_id": second, "lead_id": lead, "kind": "checkout_session"},
        {"item_id": second, "kind": "payment_link"},
    ]:
        r = await shop.pay(**body)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])

    async def listed(**params: str | int) -> list[str]:
        r = await shop.api.get("/api/v1/payments", params=params)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["data"]]

    assert await listed() == ids
    assert await listed(item_id=second) == ids[1:]
    assert await listed(lead_id=lead) == [ids[1]]
    assert await listed(status="paid") == []
    page = (await shop.api.get("/api/v1/payments", params={"limit": 2})).json()
    rest = (await shop.api.get("/api/v1/payments", params={"cursor": page["next_cursor"]})).json()
    assert [p["id"] for p in page["data"] + rest["data"]] == ids and rest["next_cursor"] is None
    assert (await shop.api.get("/api/v1/payments", params={"lead_id": "led_nope"})).status_code == 404


async def test_the_link_is_sent_to_the_lead_as_a_reply(shop: Shop) -> None:
    item = await shop.item("Camera", 20000)
    lead = await shop.lead(item)
    r = await shop.pay(item_id=item, lead_id=lead, kind="checkout_session")
    assert r.status_code == 201, r.text
    async with shop.runtime.session() as session:
        messages = list(await session.scalars(select(LeadMessage).where(LeadMessage.direction == "out")))
    assert len(messages) == 1
    assert r.json()["url"] in messages[0].body and "200.00 USD" in messages[0].body
    assert (messages[0].author, messages[0].generated_by) == ("seller", "template")


async def test_buyers_land_on_a_thank_you_page_without_a_token(client: Any) -> None:
    r = await client.get("/paid")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "payment was received" in r.text
