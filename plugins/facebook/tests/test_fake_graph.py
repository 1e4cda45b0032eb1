"""The fake speaks the Graph API's shapes (FACTS.md sections 2-3 and Meta's codegen specs)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest


def _batch(fake: Any, records: list[dict[str, Any]], **params: str) -> httpx.Response:
    form = {
        "access_token": fake.token,
        "item_type": "PRODUCT_ITEM",
        "requests": json.dumps(records),
        **params,
    }
    return httpx.post(f"{fake.url}/v26.0/{fake.catalog_id}/items_batch", data=form)


def _record(rid: str = "sku-123", **changes: str) -> dict[str, Any]:
    data = {
        "id": rid,
        "title": "Lounge chair",
        "description": "Walnut and leather.",
        "availability": "in stock",
        "condition": "used",
        "price": "25.00 USD",
        "link": "https://shop.example/p/sku-123",
        "image_link": "https://cdn.example/sku-123.jpg",
        "brand": "Acme",
        **changes,
    }
    return {"method": "CREATE", "data": data}


def test_required_params_come_from_the_codegen_spec(fake_module: ModuleType) -> None:
    assert fake_module.required_params("ProductCatalog", "POST", "items_batch") == ("item_type", "requests")
    assert fake_module.required_params("ProductCatalog", "GET", "check_batch_request_status") == ("handle",)


@pytest.mark.parametrize("missing", ["item_type", "requests"])
def test_items_batch_without_a_required_param_is_a_meta_error(fake: Any, missing: str) -> None:
    form = {"access_token": fake.token, "item_type": "PRODUCT_ITEM", "requests": json.dumps([_record()])}
    del form[missing]
    response = httpx.post(f"{fake.url}/v26.0/{fake.catalog_id}/items_batch", data=form)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["message"] == f"(#100) The parameter {missing} is required"
    assert set(error) >= {"message", "type", "code", "is_transient", "fbtrace_id"}


def test_items_batch_answers_handles_and_validation_status(fake: Any) -> None:
    response = _batch(fake, [_record("ok"), _record("bad", price="25 dollars", condition="mint")])
    assert response.status_code == 200
    body = response.json()
    assert len(body["handles"]) == 1
    assert body["validation_status"] == [
        {
            "retailer_id": "bad",
            "errors": [
                {"message": "Invalid value 'mint' for field 'condition'."},
                {
                    "message": "Invalid value '25 dollars' for field 'price': use a positive amount and an ISO 4217 "
                    "currency code, e.g. 9.99 USD."
                },
            ],
            "warnings": [],
        }
    ]
    assert [c.retailer_ids for c in fake.calls] == [["ok", "bad"]]
    assert "access_token" not in fake.calls[0].params


def test_nothing_valid_means_no_handle(fake: Any) -> None:
    record = _record()
    del record["data"]["brand"]
    body = _batch(fake, [record]).json()
    assert body["handles"] == []
    assert body["validation_status"][0]["errors"] == [
        {"message": "One of the fields 'brand', 'gtin' or 'mpn' is required."}
    ]


def test_batch_is_in_progress_then_finished_and_the_product_exists(fake: Any) -> None:
    handle = _batch(fake, [_record()]).json()["handles"][0]
    status_url = f"{fake.url}/v26.0/{fake.catalog_id}/check_batch_request_status"
    params = {"handle": handle, "load_ids_of_invalid_requests": "true"}
    headers = {"Authorization": f"Bearer {fake.token}"}
    first = httpx.get(status_url, params=params, headers=headers).json()
    second = httpx.get(status_url, params=params, headers=headers).json()
    assert first["data"][0]["status"] == "in_progress"
    assert second == {
        "data": [
            {
                "handle": handle,
                "status": "finished",
                "errors": [],
                "errors_total_count": 0,
                "warnings": [],
                "warnings_total_count": 0,
                "ids_of_invalid_requests": [],
            }
        ]
    }
    found = httpx.get(
        f"{fake.url}/v26.0/{fake.catalog_id}/products",
        params={"filter": json.dumps({"retailer_id": {"eq": "sku-123"}}), "fields": "id,retailer_id"},
        headers=headers,
    ).json()
    assert found["data"] == [{"id": fake.product("sku-123").id, "retailer_id": "sku-123"}]
    assert "cursors" in found["paging"]


def test_every_answer_carries_usage_headers_as_json_strings(fake: Any) -> None:
    response = _batch(fake, [_record()])
    assert json.loads(response.headers["X-App-Usage"])["call_count"] >= 0
    usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    assert usage[fake.catalog_id][0]["estimated_time_to_regain_access"] == 0


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80004, 80014])
def test_throttles_are_http_400_with_the_code(fake: Any, code: int) -> None:
    fake.fail_next(code, headers={"X-Ad-Account-Usage": json.dumps({"reset_time_duration": 100})})
    response = _batch(fake, [_record()])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert json.loads(response.headers["X-Ad-Account-Usage"]) == {"reset_time_duration": 100}
    assert fake.calls == []


@pytest.mark.parametrize(
    ("token", "code", "subcode"),
    [("EAAB-expired-token", 190, 463), ("EAAB-other", 190, None), ("", 104, None)],
)
def test_tokens_are_checked(fake: Any, token: str, code: int, subcode: int | None) -> None:
    response = httpx.get(f"{fake.url}/v26.0/{fake.catalog_id}/products", params={"access_token": token})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error.get("error_subcode"), error["type"]) == (code, subcode, "OAuthException")


def test_unknown_objects_are_graph_method_exceptions(fake: Any) -> None:
    response = httpx.get(f"{fake.url}/v26.0/424242/products", params={"access_token": fake.token})
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["error_subcode"]) == (400, 100, 33)
    assert error["type"] == "GraphMethodException"


def test_token_exchange(fake: Any) -> None:
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": fake.app_id,
        "client_secret": fake.app_secret,
        "fb_exchange_token": fake.token,
    }
    body = httpx.get(f"{fake.url}/v26.0/oauth/access_token", params=params).json()
    assert body["token_type"] == "bearer"
    assert body["access_token"] in fake.access_tokens
    assert body["expires_in"] > 0


def test_write_that_hangs_is_applied_before_the_late_answer(fake: Any) -> None:
    fake.in_progress_polls = 0
    fake.hang_next(5.0, path="items_batch")
    form = {"access_token": fake.token, "item_type": "PRODUCT_ITEM", "requests": json.dumps([_record()])}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake.url}/v26.0/{fake.catalog_id}/items_batch", data=form, timeout=0.5)
    assert fake.product("sku-123") is not None
    assert fake.creates("sku-123") == 1


def test_latency_delays_every_answer(fake: Any) -> None:
    fake.latency = 0.3
    response = httpx.get(f"{fake.url}/v26.0/{fake.catalog_id}/products", params={"access_token": fake.token})
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3


def test_feed_ingestion_validates_rows(fake: Any) -> None:
    csv_text = (
        '"id","title","description","availability","condition","price","link","image_link","brand"\r\n'
        '"a","Chair","Nice","in stock","used","9.99 USD","https://s.example/a","https://s.example/a.jpg","Acme"\r\n'
        '"b","Lamp","Nice","in stock","used","free","https://s.example/b","https://s.example/b.jpg","Acme"\r\n'
    )
    errors = fake.ingest_csv(csv_text.encode())
    assert len(errors) == 1 and errors[0].startswith("line 3: Invalid value 'free' for field 'price'")
    assert fake.product("a") is not None and fake.product("b") is None


def test_fake_runs_standalone_and_prints_its_url() -> None:
    script = Path(__file__).with_name("fake_graph.py")
    with subprocess.Popen(  # noqa: S603 - this test's own fake, run by the current interpreter
        [sys.executable, str(script), "--port", "0", "--token", "tok", "--catalog-id", "42"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split(" at ", 1)[1].split(" ", 1)[0]
            response = httpx.get(f"{url}/v26.0/42/products", params={"access_token": "tok"})
            assert response.status_code == 200
            assert response.json() == {"data": []}
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert proc.wait(timeout=10) == 0
            assert proc.stdout.read() == "stopped; 0 product(s) in the catalog\n"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def test_send_api_required_params_come_from_the_codegen_spec(fake_module: ModuleType) -> None:
    assert fake_module.required_params("Page", "POST", "messages") == ("recipient",)


def test_conversations_speak_graph_shapes(fake: Any) -> None:
    fake.conversation_page_size = 1
    fake.add_message("6203948571029384", "Still available?", name="Dana Buyer")
    fake.add_message("7102938475610293", "Price?", name="Sam Buyer")
    fields = "participants,updated_time,messages{message,from,created_time,id}"
    response = httpx.get(
        f"{fake.url}/v26.0/{fake.page_id}/conversations",
        params={"platform": "messenger", "fields": fields},
        headers={"Authorization": f"Bearer {fake.page_token}"},
    )
    assert response.status_code == 200
    body = response.json()
    (conversation,) = body["data"]
    assert conversation["id"].startswith("t_")
    assert conversation["updated_time"].endswith("+0000")
    people = {p["id"]: p["name"] for p in conversation["participants"]["data"]}
    assert people == {"7102938475610293": "Sam Buyer", fake.page_id: fake.page_name}
    (message,) = conversation["messages"]["data"]
    assert set(message) == {"id", "message", "from", "created_time"}
    assert message["id"].startswith("m_")
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    assert f"access_token={fake.page_token}" in body["paging"]["next"]
    usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    assert usage[fake.page_id][0]["type"] == "pages"


def test_page_edges_refuse_a_user_token(fake: Any) -> None:
    response = httpx.get(
        f"{fake.url}/v26.0/{fake.page_id}/conversations", headers={"Authorization": f"Bearer {fake.token}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 190


def test_send_api_enforces_the_window_and_records_sends(fake: Any) -> None:
    psid = "6203948571029384"
    fake.add_message(psid, "hello")
    url = f"{fake.url}/v26.0/{fake.page_id}/messages"
    auth = {"Authorization": f"Bearer {fake.page_token}"}
    payload = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": "hi!"}}
    sent = httpx.post(url, json=payload, headers=auth)
    assert sent.status_code == 200
    assert set(sent.json()) == {"recipient_id", "message_id"}
    assert fake.sends() == [{"recipient": psid, "messaging_type": "RESPONSE", "text": "hi!"}]
    missing = httpx.post(url, json={"message": {"text": "hi"}}, headers=auth)
    assert missing.json()["error"]["message"] == "(#100) The parameter recipient is required"
    fake.window_hours = 0
    late = httpx.post(url, json=payload, headers=auth)
    error = late.json()["error"]
    assert (late.status_code, error["code"], error["error_subcode"]) == (400, 10, 2018278)
