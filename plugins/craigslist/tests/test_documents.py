"""The XML the plugin sends and reads, the text it prepares, and the data it ships."""

from __future__ import annotations

import base64
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml
from cashout_craigslist import _bulk, descriptor
from cashout_craigslist._data import AREAS, BULK_CATEGORIES
from cashout_craigslist._text import TITLE_MAX

from cashout_server import Capability, Money, fit_title, whole_units
from cashout_server.testing import sample_jpeg

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared/platforms/fixtures/craigslist"
RSS = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
CL = "{http://www.craigslist.org/about/cl-bulk-ns/1.0}"

AUTH = _bulk.BulkAuth(username="bulkuser@example.com", password='pa"ss<&>', account_id="14")


def _posting(**overrides: object) -> _bulk.BulkPosting:
    values: dict[str, object] = {
        "key": "lst-key-1",
        "title": "1 Br Charmer in Chelsea",
        "description": "posting body goes here",
        "category": "fee",
        "area": "nyc",
        "subarea": "mnh",
        "price": "2450",
        "reply_email": "bulkuser1@bulkposterz.net",
        "privacy": "A",
        "images": (sample_jpeg(), b"second image bytes"),
    }
    values.update(overrides)
    return _bulk.BulkPosting(**values)  # type: ignore[arg-type]


def _paths(element: ET.Element, prefix: str = "") -> set[str]:
    out = set()
    for child in element:
        path = f"{prefix}/{child.tag}"
        out.add(path)
        out |= _paths(child, path)
    return out


def test_document_has_the_shape_of_craigslists_sample() -> None:
    ours = ET.fromstring(_bulk.build_rss(AUTH, [_posting()]))
    sample = ET.parse(FIXTURES / "sample_request_one_submission.xml").getroot()

    assert ours.tag == sample.tag == f"{RDF}RDF"
    # Every element path of the sample request appears in ours, in the same namespaces.
    assert _paths(sample) <= _paths(ours)
    assert _paths(ours) - _paths(sample) == {
        f"/{RSS}item/{CL}subarea",
        f"/{RSS}item/{CL}price",
        f"/{RSS}item/{CL}image",
    }


def test_document_carries_auth_key_and_item_fields() -> None:
    raw = _bulk.build_rss(AUTH, [_posting()])
    root = ET.fromstring(raw)

    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b'xmlns="http://purl.org/rss/1.0/"' in raw
    assert b'xmlns:cl="http://www.craigslist.org/about/cl-bulk-ns/1.0"' in raw
    channel = root.find(f"{RSS}channel")
    assert channel is not None
    assert [li.get(f"{RDF}resource") for li in channel.iter(f"{RDF}li")] == ["lst-key-1"]
    auth = channel.find(f"{CL}auth")
    assert auth is not None
    assert auth.attrib == {"username": "bulkuser@example.com", "password": 'pa"ss<&>', "accountID": "14"}

    items = root.findall(f"{RSS}item")
    assert len(items) == 1
    item = items[0]
    assert item.get(f"{RDF}about") == "lst-key-1"
    assert item.findtext(f"{RSS}title") == "1 Br Charmer in Chelsea"
    assert item.findtext(f"{RSS}description") == "posting body goes here"
    assert item.findtext(f"{CL}category") == "fee"
    assert item.findtext(f"{CL}area") == "nyc"
    assert item.findtext(f"{CL}subarea") == "mnh"
    assert item.findtext(f"{CL}price") == "2450"
    reply = item.find(f"{CL}replyEmail")
    assert reply is not None
    assert reply.text == "bulkuser1@bulkposterz.net"
    assert reply.attrib == {"privacy": "A", "outsideContactOK": "0"}
    images = item.findall(f"{CL}image")
    assert [i.get("position") for i in images] == ["0", "1"]
    assert [base64.b64decode(i.text or "") for i in images] == [sample_jpeg(), b"second image bytes"]


def test_description_is_cdata_and_survives_a_cdata_terminator() -> None:
    body = "Line one ]]> still body <b>not a tag</b> & an ampersand ]]]]> end"
    raw = _bulk.build_rss(AUTH, [_posting(description=body)])

    assert b"<description><![CDATA[Line one ]]]]><![CDATA[> still body <b>" in raw
    item = ET.fromstring(raw).find(f"{RSS}item")
    assert item is not None
    assert item.findtext(f"{RSS}description") == body


def test_optional_elements_are_left_out_when_empty() -> None:
    root = ET.fromstring(_bulk.build_rss(AUTH, [_posting(subarea=None, price=None, images=())]))
    item = root.find(f"{RSS}item")
    assert item is not None
    assert item.find(f"{CL}subarea") is None
    assert item.find(f"{CL}price") is None
    assert item.find(f"{CL}image") is None


def test_images_beyond_24_are_not_sent() -> None:
    root = ET.fromstring(_bulk.build_rss(AUTH, [_posting(images=tuple(bytes([n]) for n in range(30)))]))
    positions = [i.get("position") for i in root.iter(f"{CL}image")]
    assert positions == [str(n) for n in range(24)]


def test_sample_validation_response_is_read() -> None:
    results = _bulk.parse_response((FIXTURES / "sample_response_validation.xml").read_bytes())
    assert set(results) == {"NYCBrokerHousingSample1", "NYCBrokerHousingSample2"}
    first = results["NYCBrokerHousingSample1"]
    assert first.status == "VALID"
    assert first.explanation == "This posting seems to be valid."
    assert first.posting_id is None


def test_post_response_urls_lose_their_whitespace() -> None:
    body = b"""<rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns:cl="http://www.craigslist.org/about/cl-bulk-ns/1.0">
  <item rdf:about="k1">
    <cl:postedStatus>POSTED</cl:postedStatus>
    <cl:postedExplanation>Successfully enqueued posting.</cl:postedExplanation>
    <cl:postingID>
      159144091
    </cl:postingID>
    <cl:postingManageURL>
      https://post.craigslist.org/manage/159144091/
      to6s1
    </cl:postingManageURL>
    <cl:postingViewURL>  https://newyork.craigslist.org/mnh/fee/159144091.html </cl:postingViewURL>
    <cl:warning>Posting fee of $10 charged.</cl:warning>
    <cl:warning> Image 3 was resized. </cl:warning>
  </item>
</rdf:RDF>"""
    result = _bulk.parse_response(body)["k1"]
    assert result.status == "POSTED"
    assert result.posting_id == "159144091"
    assert result.manage_url == "https://post.craigslist.org/manage/159144091/to6s1"
    assert result.view_url == "https://newyork.craigslist.org/mnh/fee/159144091.html"
    assert result.warnings == ("Posting fee of $10 charged.", "Image 3 was resized.")


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
)
def test_unreadable_or_unsafe_answers_are_refused(body: bytes) -> None:
    with pytest.raises(_bulk.ResponseError):
        _bulk.parse_response(body)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Vintage Eames-style lounge chair", "Vintage Eames-style lounge chair"),
        ("  Two\nlines\tand   spaces ", "Two lines and spaces"),
        (
            "Mid-century modern walnut credenza with sliding doors, original hardware and key",
            "Mid-century modern walnut credenza with sliding doors, original",
        ),
        ("x" * 120, "x" * 70),
        ("a " + "y" * 100, ("a " + "y" * 100)[:70]),
    ],
)
def test_titles_fit_the_limit_at_a_word_boundary(title: str, expected: str) -> None:
    cut = fit_title(title, TITLE_MAX)
    assert cut == expected
    assert len(cut) <= 70


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [(45000, "USD", "450"), (45049, "USD", "450"), (45050, "USD", "451"), (0, "USD", "0"), (1200, "JPY", "1200")],
)
def test_prices_are_whole_currency_units(minor: int, currency: str, expected: str) -> None:
    assert whole_units(Money(amount_minor=minor, currency=currency)) == expected


def test_shipped_areas_match_craigslists_list() -> None:
    with (FIXTURES / "areas.yml").open() as fh:
        areas = yaml.load(fh, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader only builds strings
    assert set(AREAS) == set(areas)
    for code, info in areas.items():
        assert AREAS[code].name == info["desc"]
        assert dict(AREAS[code].subareas) == {sub: v["desc"] for sub, v in info.items() if sub != "desc"}


def test_shipped_bulk_categories_match_craigslists_list() -> None:
    with (FIXTURES / "categories.yml").open() as fh:
        groups = yaml.load(fh, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader only builds strings
    assert dict(BULK_CATEGORIES) == {code: name for group in groups.values() for code, name in group.items()}
    with (FIXTURES / "unsupported_categories.yml").open() as fh:
        unsupported = yaml.load(fh, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader only builds strings
    assert not {code for group in unsupported.values() for code in group} & set(BULK_CATEGORIES)


def test_descriptor_declares_what_the_core_needs() -> None:
    desc = descriptor()
    assert desc.capabilities == {Capability.PUBLISH, Capability.DELIST, Capability.ASSISTED, Capability.REPLY}
    assert desc.limits.title_max == 70
    assert desc.limits.photo_max_count == 24
    assert desc.limits.photo_formats == ("JPEG",)
    assert desc.rate_limit.max_concurrency == 1
    assert desc.default_base_url == "https://post.craigslist.org"
    creds = {f.name: f for f in desc.credential_fields}
    assert set(creds) == {"username", "password", "account_id"}
    assert creds["password"].secret
    assert not any(f.required for f in creds.values())
    settings = {f.name: f for f in desc.setting_fields}
    assert settings["area"].required
    assert settings["category"].required
    assert settings["privacy"].choices == ("A", "C", "P")
    assert settings["privacy"].default == "C"
