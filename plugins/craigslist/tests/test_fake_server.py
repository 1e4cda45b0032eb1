"""The fake speaks craigslist's documented protocol (checked with craigslist's own samples)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from cashout_craigslist import _bulk

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/platforms/fixtures/craigslist"
SAMPLE_ACCOUNT = ("bulkuser@example.com", "REDACTED", "14")


@pytest.fixture
def sample_fake(fake: Any, fake_module: ModuleType) -> Any:
    fake.accounts = [fake_module.Account(*SAMPLE_ACCOUNT)]
    return fake


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml", "application/x-www-form-urlencoded"])
def test_craigslists_sample_request_validates_in_every_accepted_content_type(
    sample_fake: Any, content_type: str
) -> None:
    body = (FIXTURES / "sample_request_two_submissions.xml").read_bytes()
    response = httpx.post(f"{sample_fake.url}/bulk-rss/validate", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    results = _bulk.parse_response(response.content)
    assert {k: (r.status, r.explanation) for k, r in results.items()} == {
        "valid1": ("VALID", "This posting seems to be valid."),
        "valid2": ("VALID", "This posting seems to be valid."),
    }
    assert sample_fake.posts == []


def test_post_records_each_posting_and_answers_posted(sample_fake: Any) -> None:
    body = (FIXTURES / "sample_request_two_submissions.xml").read_bytes()
    response = httpx.post(f"{sample_fake.url}/bulk-rss/post", content=body, headers={"Content-Type": "text/xml"})
    assert response.status_code == 200
    assert b"<cl:previewHTML><![CDATA[" in response.content
    assert b"<cl:postingManageURL>\n" in response.content  # whitespace a client must strip
    results = _bulk.parse_response(response.content)
    assert [p.key for p in sample_fake.posts] == ["valid1", "valid2"]
    for post in sample_fake.posts:
        assert results[post.key].status == "POSTED"
        assert results[post.key].explanation == "Successfully enqueued posting."
        assert results[post.key].posting_id == post.posting_id
        assert results[post.key].manage_url == post.manage_url
    assert sample_fake.posts[0].posting_id != sample_fake.posts[1].posting_id


def test_invalid_items_get_a_non_valid_status(sample_fake: Any) -> None:
    body = (FIXTURES / "sample_request_one_submission.xml").read_text()
    body = body.replace("<cl:area>atl</cl:area>", "<cl:area>zzz</cl:area>").replace(">fee<", ">fuo<")
    response = httpx.post(f"{sample_fake.url}/bulk-rss/post", content=body, headers={"Content-Type": "text/xml"})
    result = _bulk.parse_response(response.content)["valid1"]
    assert result.status == "INVALID"
    assert result.explanation == "Invalid category 'fuo'. Invalid area 'zzz'."
    assert sample_fake.posts == []


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ('username="" password="REDACTED" accountID="14"', "Must supply username"),
        ('username="bulkuser@example.com" accountID="14"', "Must supply password"),
        ('username="bulkuser@example.com" password="REDACTED"', "AccountID required"),
        ('username="bulkuser@example.com" password="nope" accountID="14"', "Invalid username or password"),
    ],
)
def test_credential_problems_are_plain_text_403(sample_fake: Any, auth: str, message: str) -> None:
    body = (FIXTURES / "sample_request_one_submission.xml").read_text()
    body = body.replace('username="bulkuser@example.com" password="REDACTED" accountID="14"', auth)
    response = httpx.post(f"{sample_fake.url}/bulk-rss/validate", content=body, headers={"Content-Type": "text/xml"})
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == message


def test_unparseable_xml_is_a_plain_text_415(sample_fake: Any) -> None:
    response = httpx.post(
        f"{sample_fake.url}/bulk-rss/validate", content=b"<rdf:RDF><oops>", headers={"Content-Type": "text/xml"}
    )
    assert response.status_code == 415
    assert response.text.startswith("Failed to parse RSS: ")


def test_injected_faults_hit_only_their_path_and_count(sample_fake: Any) -> None:
    body = (FIXTURES / "sample_request_one_submission.xml").read_bytes()
    sample_fake.fail_next(429, count=2, retry_after="3", path="/bulk-rss/post")
    headers = {"Content-Type": "text/xml"}
    assert httpx.post(f"{sample_fake.url}/bulk-rss/validate", content=body, headers=headers).status_code == 200
    first = httpx.post(f"{sample_fake.url}/bulk-rss/post", content=body, headers=headers)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert httpx.post(f"{sample_fake.url}/bulk-rss/post", content=body, headers=headers).status_code == 429
    assert httpx.post(f"{sample_fake.url}/bulk-rss/post", content=body, headers=headers).status_code == 200
    assert len(sample_fake.posts) == 1


def test_fake_runs_standalone_and_prints_its_url() -> None:
    script = Path(__file__).with_name("fake_craigslist.py")
    with subprocess.Popen(  # noqa: S603 - this test's own fake, run by the current interpreter
        [sys.executable, str(script), "--port", "0", "--username", "u", "--password", "p", "--account-id", "14"],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split(" at ", 1)[1].split(" ", 1)[0]
            body = (FIXTURES / "sample_request_one_submission.xml").read_text()
            body = body.replace('username="bulkuser@example.com" password="REDACTED"', 'username="u" password="p"')
            response = httpx.post(f"{url}/bulk-rss/validate", content=body, headers={"Content-Type": "text/xml"})
            assert response.status_code == 200
            assert _bulk.parse_response(response.content)["valid1"].status == "VALID"
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert proc.wait(timeout=10) == 0
            assert proc.stdout.read() == "stopped; 0 posting(s) published\n"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
