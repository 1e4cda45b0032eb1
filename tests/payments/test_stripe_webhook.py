"""The Stripe webhook: signatures, once-only events, out-of-order events, and the sale a payment records."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from payments.stripe_shop import Shop
from sqlalchemy import select

from cashout_server.db.models import Delivery, Lead, LeadEvent, Sale, StripeEvent


async def _payment(shop: Shop, item: str, **body: Any) -> dict[str, Any]:
    r = await shop.pay(item_id=item, **body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _completed_link(shop: Shop, payment: dict[str, Any]) -> dict[str, Any]:
    return shop.fake.event("checkout.session.completed", shop.fake.pay_link(payment["stripe_id"]))


async def _sales(shop: Shop) -> list[Sale]:
    async with shop.runtime.session() as session:
        return list(await session.scalars(select(Sale).order_by(Sale.id)))


async def _events(shop: Shop) -> list[StripeEvent]:
    async with shop.runtime.session() as session:
        return list(await session.scalars(select(StripeEvent).order_by(StripeEvent.id)))


async def test_a_paid_link_records_the_sale_marks_the_item_sold_and_delists_elsewhere(shop: Shop) -> None:
    item = await shop.item("Camera", 30000)
    listings = await shop.published_listings(item, 2)
    lead = await shop.lead(item, agreed_minor=28000)
    payment = await _payment(shop, item, lead_id=lead, kind="payment_link")
    event = await _completed_link(shop, payment)

    r = await shop.deliver(event)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "status": "processed"}

    paid = (await shop.api.get(f"/api/v1/payments/{payment['id']}")).json()
    assert paid["status"] == "paid" and paid["paid_at"] is not None and paid["sale_id"].startswith("sal_")
    assert (await shop.api.get(f"/api/v1/items/{item}")).json()["status"] == "sold"
    (sale,) = (await shop.api.get(f"/api/v1/items/{item}/sales")).json()["data"]
    pi = event["data"]["object"]["payment_intent"]
    assert sale["id"] == paid["sale_id"]
    assert (sale["price_minor"], sale["source"], sale["payment_method"], sale["payment_ref"]) == (
        28000,
        "payment",
        "stripe",
        pi,
    )
    assert (sale["lead_id"], sale["platform"]) == (lead, "scripted")
    async with shop.runtime.session() as session:
        delists = list(await session.scalars(select(Delivery).where(Delivery.action == "delist")))
        won = await session.scalar(select(Lead).where(Lead.public_id == lead))
        assert won is not None
        kinds = list(await session.scalars(select(LeadEvent.kind).where(LeadEvent.lead_id == won.id)))
    assert len(delists) == 2 and {d.state for d in delists} == {"queued"}, "every listing comes down"
    assert won.state == "won" and kinds.count("sale") == 1
    await shop.worker.run_once()
    statuses = [(await shop.api.get(f"/api/v1/listings/{lid}")).json()["status"] for lid in listings]
    assert statuses == ["delisted", "delisted"]


async def test_a_paid_checkout_session_without_a_lead_is_a_sale_too(shop: Shop) -> None:
    item = await shop.item("Lamp", 4500)
    payment = await _payment(shop, item, kind="checkout_session")
    r = await shop.deliver(shop.fake.event("checkout.session.completed", shop.fake.pay_session(payment["stripe_id"])))
    assert r.status_code == 200 and r.json()["status"] == "processed"
    (sale,) = await _sales(shop)
    assert (sale.price_minor, sale.platform, sale.lead_id) == (4500, None, None)


async def test_bad_missing_and_forged_signatures_are_refused_without_detail(shop: Shop) -> None:
    item = await shop.item()
    payment = await _payment(shop, item, kind="payment_link")
    event = await _completed_link(shop, payment)
    now = int(time.time())
    for r in [
        await shop.deliver(event, secret="whsec_not_ours"),
        await shop.deliver(event, signature=""),
        await shop.deliver(event, signature="t=abc,v1=def"),
        await shop.deliver(event, signature=f"t={now}"),
        await shop.deliver(event, signature=f"t={now},v0=00"),
    ]:
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"] == "signature verification failed"
    assert await _sales(shop) == [] and await _events(shop) == []


async def test_timestamps_are_refused_beyond_the_tolerance_in_the_past_and_the_future(shop: Shop) -> None:
    item = await shop.item()
    payment = await _payment(shop, item, kind="payment_link")
    event = await _completed_link(shop, payment)
    now = int(time.time())
    assert (await shop.deliver(event, timestamp=now - 301)).status_code == 400, "stale: a replayed capture"
    assert (await shop.deliver(event, timestamp=now + 305)).status_code == 400, "from the future"
    assert await _events(shop) == []
    assert (await shop.deliver(event, timestamp=now + 200)).status_code == 200, "clock skew within tolerance"
    assert len(await _sales(shop)) == 1


async def test_a_repeated_event_is_answered_200_and_changes_nothing(shop: Shop) -> None:
    item = await shop.item(quantity=3)
    payment = await _payment(shop, item, kind="payment_link")
    event = await _completed_link(shop, payment)
    assert (await shop.deliver(event)).json()["status"] == "processed"
    again = await shop.deliver(event)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(await _sales(shop)) == 1
    assert (await shop.api.get(f"/api/v1/items/{item}")).json()["quantity"] == 2


async def test_concurrent_duplicates_record_one_sale(shop: Shop) -> None:
    item = await shop.item(quantity=5)
    payment = await _payment(shop, item, kind="payment_link")
    event = await _completed_link(shop, payment)
    answers = await asyncio.gather(*(shop.deliver(event) for _ in range(6)))
    assert [r.status_code for r in answers] == [200] * 6
    assert sorted(r.json()["status"] for r in answers) == ["duplicate"] * 5 + ["processed"]
    assert len(await _sales(shop)) == 1
    assert [e.status for e in await _events(shop)] == ["processed"]
    assert (await shop.api.get(f"/api/v1/items/{item}")).json()["quantity"] == 4


async def test_late_expiry_and_link_updates_do_not_undo_a_payment(shop: Shop) -> None:
    item = await shop.item()
    session_payment = await _payment(shop, item, kind="checkout_session")
    completed = shop.fake.pay_session(session_payment["stripe_id"])
    expired = dict(completed, status="expired", payment_status="unpaid")
    assert (await shop.deliver(shop.fake.event("checkout.session.completed", completed))).json()["status"] == (
        "processed"
    )
    r = await shop.deliver(shop.fake.event("checkout.session.expired", expired))
    assert r.json()["status"] == "ignored"
    r = await shop.deliver(shop.fake.event("checkout.session.async_payment_failed", completed))
    assert r.json()["status"] == "ignored"
    assert (await shop.api.get(f"/api/v1/payments/{session_payment['id']}")).json()["status"] == "paid"

    other = await shop.item("Chair")
    link_payment = await _payment(shop, other, kind="payment_link")
    await shop.deliver(await _completed_link(shop, link_payment))
    link = dict(shop.fake.payment_links[link_payment["stripe_id"]], active=False)
    link.pop("_line_items")
    r = await shop.deliver(shop.fake.event("payment_link.updated", link))
    assert r.json()["status"] == "ignored"
    assert (await shop.api.get(f"/api/v1/payments/{link_payment['id']}")).json()["status"] == "paid"
    assert len(await _sales(shop)) == 2


async def test_an_unpaid_session_expires_and_a_deactivated_link_closes(shop: Shop) -> None:
    item = await shop.item()
    session_payment = await _payment(shop, item, kind="checkout_session")
    expired = shop.fake.expire_session(session_payment["stripe_id"])
    assert (await shop.deliver(shop.fake.event("checkout.session.expired", expired))).json()["status"] == "processed"
    assert (await shop.api.get(f"/api/v1/payments/{session_payment['id']}")).json()["status"] == "expired"
    link_payment = await _payment(shop, item, kind="payment_link")
    link = {k: v for k, v in shop.fake.payment_links[link_payment["stripe_id"]].items() if k != "_line_items"}
    assert (await shop.deliver(shop.fake.event("payment_link.updated", link))).json()["status"] == "ignored"
    link["active"] = False
    assert (await shop.deliver(shop.fake.event("payment_link.updated", link))).json()["status"] == "processed"
    assert (await shop.api.get(f"/api/v1/payments/{link_payment['id']}")).json()["status"] == "expired"
    assert await _sales(shop) == []


async def test_a_payment_completed_before_our_creation_answer_was_stored_is_recorded(shop: Shop) -> None:
    item = await shop.item("Guitar", 60000)
    shop.fake.drop_next = ["none"] + ["after"] * 3  # the price is made; the link too, but cashout never hears
    r = await shop.pay(item_id=item, kind="payment_link")
    assert r.status_code == 502
    (row,) = (await shop.api.get("/api/v1/payments")).json()["data"]
    assert row["status"] == "creating" and row["stripe_id"] is None
    (link_id,) = shop.fake.payment_links  # the buyer got the link some other way (a retry, a copy)

    event = shop.fake.event("checkout.session.completed", shop.fake.pay_link(link_id))
    assert (await shop.deliver(event)).json()["status"] == "processed"
    paid = (await shop.api.get(f"/api/v1/payments/{row['id']}")).json()
    assert paid["status"] == "paid" and paid["stripe_id"] == link_id and paid["sale_id"] is not None
    assert len(await _sales(shop)) == 1

    again = await shop.pay(item_id=item, kind="payment_link")
    assert again.status_code == 422 and "sold out" in again.json()["detail"]
    assert shop.fake.created()["payment_link"] == 1


async def test_the_webhook_overtaking_our_creation_answer_leaves_the_payment_paid(shop: Shop) -> None:
    """Stripe applied the request and the buyer paid before its answer reached us: the answer only adds the URL."""
    item = await shop.item("Desk", 20000)
    shop.fake.answer_delay = 1.0
    creating = asyncio.create_task(shop.pay(item_id=item, kind="checkout_session"))
    for _ in range(200):
        if shop.fake.sessions:
            break
        await asyncio.sleep(0.01)
    (session_id,) = shop.fake.sessions
    (row,) = (await shop.api.get("/api/v1/payments")).json()["data"]
    assert row["status"] == "creating"
    r = await shop.deliver(shop.fake.event("checkout.session.completed", shop.fake.pay_session(session_id)))
    assert r.json()["status"] == "processed"
    answer = await creating
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == row["id"] and body["status"] == "paid" and body["url"] is not None
    assert body["stripe_id"] == session_id and body["sale_id"] is not None
    assert shop.fake.created() == {"checkout.session": 1} and len(await _sales(shop)) == 1


async def test_a_deposit_marks_the_lead_agreed_and_sells_nothing(shop: Shop) -> None:
    item = await shop.item("Sofa", 50000)
    lead = await shop.lead(item, agreed_minor=45000)
    payment = await _payment(shop, item, lead_id=lead, kind="checkout_session", purpose="deposit", amount_minor=5000)
    event = shop.fake.event("checkout.session.completed", shop.fake.pay_session(payment["stripe_id"]))
    assert (await shop.deliver(event)).json()["status"] == "processed"
    assert await _sales(shop) == []
    assert (await shop.api.get(f"/api/v1/items/{item}")).json()["quantity"] == 1
    assert (await shop.api.get(f"/api/v1/payments/{payment['id']}")).json()["status"] == "paid"
    async with shop.runtime.session() as session:
        row = await session.scalar(select(Lead).where(Lead.public_id == lead))
        assert row is not None and row.state == "agreed"
        (deposit,) = await session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == row.id, LeadEvent.kind == "deposit")
        )
    assert deposit.kind == "deposit" and deposit.data["amount_minor"] == 5000
    assert deposit.data["payment_ref"] == event["data"]["object"]["payment_intent"]


async def test_a_delayed_payment_is_a_sale_when_it_succeeds(shop: Shop) -> None:
    item = await shop.item()
    payment = await _payment(shop, item, kind="checkout_session")
    pending = shop.fake.pay_session(payment["stripe_id"], payment_status="unpaid")
    assert (await shop.deliver(shop.fake.event("checkout.session.completed", pending))).json()["status"] == "processed"
    assert await _sales(shop) == []
    assert (await shop.api.get(f"/api/v1/payments/{payment['id']}")).json()["status"] == "open"
    cleared = dict(pending, payment_status="paid")
    r = await shop.deliver(shop.fake.event("checkout.session.async_payment_succeeded", cleared))
    assert r.json()["status"] == "processed" and len(await _sales(shop)) == 1


async def test_a_payment_for_an_item_already_sold_is_flagged_not_lost(shop: Shop) -> None:
    item = await shop.item()
    payment = await _payment(shop, item, kind="checkout_session")
    assert (await shop.api.post(f"/api/v1/items/{item}/sales", json={"price_minor": 100})).status_code == 201
    r = await shop.deliver(shop.fake.event("checkout.session.completed", shop.fake.pay_session(payment["stripe_id"])))
    assert r.status_code == 200 and r.json()["status"] == "failed", "Stripe must not retry forever"
    (stored,) = await _events(shop)
    assert "refund" in stored.detail and "sold out" in stored.detail
    assert (await shop.api.get(f"/api/v1/payments/{payment['id']}")).json()["status"] == "paid"
    assert len(await _sales(shop)) == 1


async def test_unknown_and_foreign_events_are_stored_as_ignored(shop: Shop) -> None:
    r = await shop.deliver(shop.fake.event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    foreign = {"id": "cs_test_someone_else", "object": "checkout.session", "payment_status": "paid", "metadata": {}}
    assert (await shop.deliver(shop.fake.event("checkout.session.completed", foreign))).json()["status"] == "ignored"
    assert [(e.type, e.status) for e in await _events(shop)] == [
        ("customer.created", "ignored"),
        ("checkout.session.completed", "ignored"),
    ]


async def test_without_a_webhook_secret_events_are_refused(shop: Shop) -> None:
    import dataclasses

    from cashout_server.settings import StripeSettings

    settings = shop.runtime.settings
    shop.runtime.settings = dataclasses.replace(settings, stripe=StripeSettings(api_base=shop.fake.url))
    try:
        r = await shop.deliver(shop.fake.event("customer.created", {"id": "cus_1", "object": "customer"}))
    finally:
        shop.runtime.settings = settings
    assert r.status_code == 400 and r.json()["detail"] == "signature verification failed"
    assert await _events(shop) == []
