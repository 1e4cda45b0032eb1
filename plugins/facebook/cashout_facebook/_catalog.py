"""The connection's settings, catalog products built from listings, and Meta's batch answers.

A product's fields are the product feed's column names (``id``, ``title``, ``price`` as
``"25.00 USD"``, ``link``, ``image_link``...); the Catalog Batch API takes the same names in each
request's ``data`` and the feed CSV uses them as its header.
"""

from __future__ import annotations

import re
import string
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cashout_facebook._text import CATALOG_CONDITIONS, availability, feed_price
from cashout_server import ConnectionInfo, ListingRequest, Rejected, fit_text, fit_title

MODES = ("catalog", "feed", "marketplace")
RETAILER_ID_SOURCES = ("item_id", "sku")
FEED_INTERVALS = ("HOURLY", "DAILY")
DEFAULT_GRAPH_VERSION = "v26.0"

TITLE_MAX = 200
"""Meta's catalog title limit [third-party feed specs; not in FACTS.md]."""
DESCRIPTION_MAX = 9999
"""Meta's catalog description limit [third-party feed specs; not in FACTS.md]."""
ADDITIONAL_IMAGES_MAX = 20
"""``additional_image_link`` takes up to 20 URLs [third-party feed specs; not in FACTS.md]."""
RETAILER_ID_MAX = 100
"""Longest ``id`` Meta accepts [third-party feed specs; not in FACTS.md]."""

FEED_COLUMNS = (
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "link",
    "image_link",
    "additional_image_link",
    "brand",
    "gtin",
    "mpn",
    "product_type",
)
"""Required columns (id ... image_link, one of brand/gtin/mpn) plus the optional ones we fill."""

URL_PLACEHOLDERS = ("sku", "item_id", "listing_id", "retailer_id")

_GRAPH_VERSION = re.compile(r"^v\d+\.\d+$")
_CATALOG_ID = re.compile(r"^\d{1,30}$")
_GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
_GTIN_SOURCES = ("gtin", "upc", "ean", "isbn")


@dataclass(frozen=True)
class Settings:
    """A connection's settings, checked."""

    mode: str
    catalog_id: str
    graph_version: str
    product_url_template: str
    brand: str
    retailer_id_source: str
    feed_interval: str
    location: str
    marketplace_category: str

    def path(self, *parts: str) -> str:
        """A Graph API path under the configured version: ``/v26.0/<parts>``."""
        return "/" + "/".join((self.graph_version, *parts))


def _value(values: Mapping[str, str], name: str) -> str:
    return (values.get(name) or "").strip()


def _choice(values: Mapping[str, str], name: str, choices: Sequence[str], default: str) -> str | Rejected:
    value = _value(values, name) or default
    matched = next((c for c in choices if c.lower() == value.lower()), None)
    if matched is None:
        return Rejected(
            reason=f"{name} must be one of {', '.join(choices)}",
            fields={name: f"unknown value {value!r}"},
        )
    return matched


def graph_version(values: Mapping[str, str]) -> str | Rejected:
    """The ``graph_version`` setting, checked (``v26.0`` when unset).

    Args:
        values: the connection's settings.

    Returns:
        The version, or ``Rejected`` naming the setting.
    """
    version = _value(values, "graph_version") or DEFAULT_GRAPH_VERSION
    if not _GRAPH_VERSION.match(version):
        return Rejected(
            reason=f"graph_version must look like {DEFAULT_GRAPH_VERSION}",
            fields={"graph_version": f"unknown version {version!r}"},
        )
    return version


def read_settings(connection: ConnectionInfo) -> Settings | Rejected:
    """Check the connection's settings.

    Args:
        connection: the connection.

    Returns:
        The settings, or ``Rejected`` naming the setting that is wrong.
    """
    values = connection.settings
    mode = _choice(values, "mode", MODES, "catalog")
    if isinstance(mode, Rejected):
        return mode
    source = _choice(values, "retailer_id_source", RETAILER_ID_SOURCES, "item_id")
    if isinstance(source, Rejected):
        return source
    interval = _choice(values, "feed_interval", FEED_INTERVALS, "HOURLY")
    if isinstance(interval, Rejected):
        return interval
    version = graph_version(values)
    if isinstance(version, Rejected):
        return version
    catalog_id = _value(values, "catalog_id")
    if mode != "marketplace":
        if not catalog_id:
            return Rejected(
                reason=f"the {mode} mode needs the catalog's id", fields={"catalog_id": f"required in {mode} mode"}
            )
        if not _CATALOG_ID.match(catalog_id):
            return Rejected(
                reason="catalog_id must be the catalog's numeric id (Commerce Manager shows it)",
                fields={"catalog_id": f"not a catalog id: {catalog_id!r}"},
            )
    return Settings(
        mode=mode,
        catalog_id=catalog_id,
        graph_version=version,
        product_url_template=_value(values, "product_url_template"),
        brand=_value(values, "brand"),
        retailer_id_source=source,
        feed_interval=interval,
        location=_value(values, "location"),
        marketplace_category=_value(values, "marketplace_category"),
    )


def retailer_id_for(listing: ListingRequest, settings: Settings) -> str:
    """The catalog ``id`` of a listing: stable, so a resend upserts instead of duplicating.

    Once Facebook knows the listing, its ``external_id`` (the retailer id we sent) wins, so
    editing the SKU later cannot orphan the product.

    Args:
        listing: the listing.
        settings: the connection's settings (``retailer_id_source``).

    Returns:
        The external id, else the item's SKU (when chosen and set), else the item's id.
    """
    if listing.external_id:
        return listing.external_id
    sku = (listing.item.sku or "").strip()
    if settings.retailer_id_source == "sku" and sku:
        return sku
    return listing.item.id


@dataclass(frozen=True)
class Product:
    """One catalog product: its retailer id and its non-empty feed columns."""

    retailer_id: str
    data: dict[str, str]


def _link(template: str, listing: ListingRequest, retailer_id: str) -> str | Rejected:
    if not template:
        return Rejected(
            reason="the link column needs a product page URL template",
            fields={"product_url_template": "required in catalog and feed modes, e.g. https://shop.example/p/{sku}"},
        )
    sku = (listing.item.sku or "").strip()
    values = {"sku": sku, "item_id": listing.item.id, "listing_id": listing.listing_id, "retailer_id": retailer_id}
    parts: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return Rejected(reason=f"product_url_template is malformed: {exc}", fields={"product_url_template": str(exc)})
    for literal, name, spec, conversion in parsed:
        parts.append(literal)
        if name is None:
            continue
        if name not in values or spec or conversion:
            allowed = ", ".join("{" + p + "}" for p in URL_PLACEHOLDERS)
            return Rejected(
                reason=f"product_url_template may only use {allowed}",
                fields={"product_url_template": f"unknown placeholder {{{name}}}"},
            )
        if not values[name]:
            return Rejected(
                reason="the product URL template uses {sku} but the item has no SKU",
                fields={"sku": "required by product_url_template"},
            )
        parts.append(urllib.parse.quote(values[name], safe=""))
    link = "".join(parts)
    if urllib.parse.urlsplit(link).scheme not in ("http", "https"):
        return Rejected(
            reason="product_url_template must give an http(s) URL",
            fields={"product_url_template": f"not an http(s) URL: {link[:200]!r}"},
        )
    return link


def _gtin(identifiers: Mapping[str, str]) -> str:
    lowered = {k.lower(): v.strip() for k, v in identifiers.items()}
    for key in _GTIN_SOURCES:
        value = lowered.get(key, "").replace("-", "")
        if _GTIN.match(value):
            return value
    return ""


def build_product(listing: ListingRequest, settings: Settings, retailer_id: str) -> Product | Rejected:
    """Build the catalog product for a listing, or say which field stops it.

    Args:
        listing: the listing with its item and prepared photos.
        settings: the connection's settings.
        retailer_id: the product's catalog ``id``.

    Returns:
        The product, or ``Rejected`` naming the missing or invalid field.
    """
    item = listing.item
    if not retailer_id or len(retailer_id) > RETAILER_ID_MAX:
        return Rejected(
            reason=f"the catalog id must be 1 to {RETAILER_ID_MAX} characters",
            fields={"id": f"{len(retailer_id)} characters"},
        )
    link = _link(settings.product_url_template, listing, retailer_id)
    if isinstance(link, Rejected):
        return link
    title = fit_title(item.title, TITLE_MAX)
    if not title:
        return Rejected(reason="the listing has no title", fields={"title": "required"})
    description = fit_text(item.description, DESCRIPTION_MAX)
    if not description:
        return Rejected(reason="Facebook's catalog needs a description", fields={"description": "required"})
    if not listing.photos:
        return Rejected(reason="Facebook's catalog needs at least one photo", fields={"image_link": "no photo"})
    urls = [photo.url for photo in listing.photos if photo.url]
    if not listing.photos[0].url:
        return Rejected(
            reason="the photos have no public URL for Facebook to fetch (set the server's public base URL)",
            fields={"image_link": f"photo {listing.photos[0].id} has no public URL"},
        )
    brand = (item.brand or "").strip() or settings.brand
    gtin = _gtin(item.identifiers)
    mpn = next((v.strip() for k, v in item.identifiers.items() if k.lower() == "mpn" and v.strip()), "")
    if not (brand or gtin or mpn):
        return Rejected(
            reason="Facebook's catalog needs a brand, GTIN or MPN: set the item's brand or the connection's brand",
            fields={"brand": "required when the item has no GTIN or MPN"},
        )
    data = {
        "id": retailer_id,
        "title": title,
        "description": description,
        "availability": availability(item.quantity),
        "condition": CATALOG_CONDITIONS.get(item.condition, "used"),
        "price": feed_price(item.price),
        "link": link,
        "image_link": urls[0],
        "additional_image_link": ",".join(urls[1 : 1 + ADDITIONAL_IMAGES_MAX]),
        "brand": brand[:100],
        "gtin": gtin,
        "mpn": mpn[:70],
        "product_type": (item.category or "").strip(),
    }
    return Product(retailer_id=retailer_id, data={k: v for k, v in data.items() if v})


# --- Meta's answers ----------------------------------------------------------------------


def _messages(entries: object) -> list[str]:
    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            message = entry.get("message")
            if message:
                out.append(str(message))
        elif isinstance(entry, str) and entry:
            out.append(entry)
    return out


@dataclass(frozen=True)
class BatchAnswer:
    """What ``items_batch`` answered about our one request."""

    handle: str | None
    errors: list[str]
    warnings: list[str]


def read_batch_answer(body: Mapping[str, Any], retailer_id: str) -> BatchAnswer:
    """Read ``{"handles": [...], "validation_status": [...]}`` for ``retailer_id``.

    Args:
        body: the decoded answer.
        retailer_id: the id we sent (our batches carry one request).

    Returns:
        The handle (``None`` when nothing was ingested) and our record's errors and warnings.
    """
    handles = body.get("handles")
    handle = str(handles[0]) if isinstance(handles, list) and handles else None
    errors: list[str] = []
    warnings: list[str] = []
    statuses = body.get("validation_status")
    for status in statuses if isinstance(statuses, list) else []:
        if not isinstance(status, Mapping):
            continue
        rid = status.get("retailer_id")
        if rid is not None and str(rid) != retailer_id:
            continue
        errors += _messages(status.get("errors"))
        warnings += _messages(status.get("warnings"))
    return BatchAnswer(handle=handle, errors=errors, warnings=warnings)


@dataclass(frozen=True)
class BatchStatus:
    """What ``check_batch_request_status`` says about a handle, for our request."""

    status: str
    errors: list[str]
    warnings: list[str]
    invalid: bool


def _ours(entry: object, retailer_id: str) -> bool:
    if not isinstance(entry, Mapping):
        return True
    named = entry.get("retailer_id", entry.get("id"))
    return named is None or str(named) == retailer_id


def read_batch_status(body: Mapping[str, Any], retailer_id: str) -> BatchStatus | None:
    """Read ``{"data": [{"status", "errors", "ids_of_invalid_requests", ...}]}``.

    Args:
        body: the decoded answer (the unwrapped object is accepted too).
        retailer_id: the id we sent.

    Returns:
        The status, or ``None`` when the answer carries none.
    """
    data = body.get("data")
    record: object = data[0] if isinstance(data, list) and data else body
    if not isinstance(record, Mapping) or not record.get("status"):
        return None
    error_entries = record.get("errors")
    ours = [e for e in error_entries if _ours(e, retailer_id)] if isinstance(error_entries, list) else []
    warning_entries = record.get("warnings")
    warnings = [e for e in warning_entries if _ours(e, retailer_id)] if isinstance(warning_entries, list) else []
    invalid_ids = record.get("ids_of_invalid_requests")
    invalid = isinstance(invalid_ids, list) and retailer_id in [str(i) for i in invalid_ids]
    return BatchStatus(
        status=str(record["status"]).strip().lower(),
        errors=_messages(ours),
        warnings=_messages(warnings),
        invalid=invalid or bool(ours),
    )


def find_product(body: Mapping[str, Any], retailer_id: str) -> Mapping[str, Any] | None:
    """The product with ``retailer_id`` in a ``/products`` answer, if any."""
    data = body.get("data")
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, Mapping) and str(entry.get("retailer_id", retailer_id)) == retailer_id:
            return entry
    return None
