"""A small typed client for the cashout REST API, over ``httpx.AsyncClient``.

Every call sends ``Authorization: Bearer <token>``. Answers other than 2xx raise
:class:`ApiError` built from the RFC 9457 problem details the server returns; a server that
cannot be reached raises :class:`ApiError` too (with ``status`` 0), so callers handle one
exception type. The token never appears in a ``repr``, ``str`` or error message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Generic, Literal, NotRequired, Required, TypedDict, TypeVar, cast

import httpx

__all__ = [
    "ApiError",
    "Approval",
    "CashoutClient",
    "Condition",
    "Connection",
    "Delivery",
    "DeliveryAction",
    "DeliveryAttempt",
    "DeliveryBrief",
    "DeliveryCounts",
    "DeliveryState",
    "Item",
    "ItemCreate",
    "Lead",
    "LeadEvent",
    "LeadMessage",
    "LeadState",
    "Listing",
    "ListingAction",
    "ListingStatus",
    "OfferAction",
    "Page",
    "Photo",
    "Plugin",
    "Sale",
    "User",
]

T = TypeVar("T")

ListingStatus = Literal[
    "draft",
    "queued",
    "publishing",
    "pending",
    "needs_action",
    "published",
    "rejected",
    "failed",
    "unknown",
    "delisted",
    "sold",
]
DeliveryState = Literal["awaiting_approval", "queued", "in_flight", "done", "unknown", "dead", "cancelled"]
DeliveryAction = Literal["publish", "update", "delist", "check"]
Condition = Literal["new", "like_new", "used_good", "used_fair", "for_parts"]

USER_AGENT = "cashout-tui/0.1"
MAX_PAGE = 200
"""The largest page the API serves."""
_REDACTED = "<redacted>"


class User(TypedDict):
    """The user a token belongs to (``GET /api/v1/users/me``)."""

    id: str
    email: str
    name: str
    role: str
    disabled: bool
    created_at: str


class Item(TypedDict):
    """An item. Prices are integer minor units of ``currency``."""

    id: str
    sku: str | None
    title: str
    description: str
    condition: str
    category: str | None
    brand: str | None
    identifiers: dict[str, str]
    quantity: int
    currency: str
    cost_basis_minor: int | None
    list_price_minor: int
    floor_price_minor: int | None
    status: str
    photo_count: int
    created_at: str
    updated_at: str


class ItemCreate(TypedDict, total=False):
    """The body of ``POST /api/v1/items``: ``title`` and ``list_price_minor`` are required."""

    title: Required[str]
    list_price_minor: Required[int]
    description: str
    condition: Condition
    sku: str | None
    category: str | None
    brand: str | None
    identifiers: dict[str, str]
    quantity: int
    currency: str
    cost_basis_minor: int | None
    floor_price_minor: int | None
    status: str


class Photo(TypedDict):
    """A photo record; ``width``/``height``/``bytes`` describe the cleaned copy served."""

    id: str
    item_id: str
    position: int
    width: int
    height: int
    bytes: int
    sha256: str
    original_format: str
    filename: str | None
    content_url: str
    created_at: str


class ListingAction(TypedDict, total=False):
    """What a person must do when a listing is ``needs_action``."""

    kind: str
    instructions: str
    url: str | None
    copy: dict[str, str]
    photo_ids: list[str]


class DeliveryBrief(TypedDict):
    """Where a listing's latest delivery to its platform stands (embedded in every listing)."""

    id: str
    action: DeliveryAction
    state: DeliveryState
    attempts: int
    next_attempt_at: str | None
    last_error: str | None


class DeliveryAttempt(TypedDict):
    """One try at a delivery."""

    number: int
    hook: str
    started_at: str
    finished_at: str | None
    outcome: str
    detail: str


class Delivery(TypedDict):
    """One row of the outbox: a change on its way to a platform.

    ``history`` is present only in :meth:`CashoutClient.get_delivery` (and retry/cancel) answers.
    """

    id: str
    action: DeliveryAction
    state: DeliveryState
    connection_id: str
    platform: str
    listing_id: str | None
    attempts: int
    next_attempt_at: str | None
    must_check: bool
    last_error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    history: NotRequired[list[DeliveryAttempt] | None]


class DeliveryCounts(TypedDict):
    """Deliveries per state and per platform, and the server worker's circuit breakers."""

    by_state: dict[str, int]
    by_platform: dict[str, dict[str, int]]
    breakers: dict[str, str]


class Approval(TypedDict):
    """A change waiting for (or decided by) a person."""

    id: str
    action: str
    status: str
    summary: str
    delivery_id: str
    listing_id: str | None
    platform: str
    created_at: str
    decided_at: str | None
    note: str


class Sale(TypedDict):
    """A recorded sale; ``quantity_left`` is how many units of the item remain after it."""

    id: str
    item_id: str
    quantity: int
    price_minor: int | None
    currency: str
    connection_id: str | None
    source: str
    note: str
    created_at: str
    quantity_left: int


class Listing(TypedDict):
    """An item on one connection; ``delivery`` is its latest delivery to the platform, if any."""

    id: str
    item_id: str
    connection_id: str
    platform: str
    status: ListingStatus
    external_id: str | None
    url: str | None
    manage_url: NotRequired[str | None]
    options: dict[str, str]
    action: ListingAction | None
    last_error: str | None
    published_at: str | None
    created_at: str
    updated_at: str
    delivery: NotRequired[DeliveryBrief | None]


class Connection(TypedDict):
    """An account on a platform; credentials are write-only, only their names are shown.

    ``approvals`` says, per action (``publish``, ``update``, ``delist``, ...), whether a person must
    approve it; ``throttled_until`` is set while the platform asked to wait.
    """

    id: str
    platform: str
    name: str
    settings: dict[str, str]
    credentials_set: list[str]
    status: str
    status_detail: str | None
    max_concurrency: NotRequired[int]
    requests_per_minute: NotRequired[int | None]
    approvals: NotRequired[dict[str, bool]]
    throttled_until: NotRequired[str | None]
    feed_url: NotRequired[str | None]
    created_at: str
    updated_at: str


class Plugin(TypedDict):
    """An installed plugin and the platforms (descriptors) it serves."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str]
    platforms: list[dict[str, Any]]
    errors: list[str]


# --- leads (types) --------------------------------------------------------------------------------

LeadState = Literal["new", "open", "negotiating", "agreed", "won", "lost", "spam", "archived"]
OfferAction = Literal["accept", "counter", "decline", "offer"]


class LeadMessage(TypedDict):
    """A message in a conversation: the buyer's (``in``), or ours (``out``: sent, or a draft on its way).

    ``status`` is ``received`` for the buyer's; ours are ``draft``, ``awaiting_approval``, ``queued``,
    ``sending``, ``sent``, ``needs_action``, ``failed``, ``unknown`` or ``discarded``.
    """

    id: str
    direction: str
    author: str
    body: str
    sent_at: str
    status: str
    intent: str | None
    confidence: float | None
    reason: str | None
    offer_minor: int | None
    generated_by: str | None
    approval_id: str | None


class LeadEvent(TypedDict):
    """A step in a lead's timeline, with why."""

    kind: str
    detail: str
    data: dict[str, Any]
    at: str


class Lead(TypedDict):
    """A conversation with one buyer about one item on one platform.

    ``messages`` and ``timeline`` are present only in :meth:`CashoutClient.get_lead` (and the
    answers of the calls that change a lead).
    """

    id: str
    platform: str
    connection_id: str | None
    item_id: str | None
    listing_id: str | None
    buyer_name: str | None
    subject: str | None
    state: LeadState
    intent: str | None
    intent_confidence: float | None
    score: int
    score_explanation: dict[str, Any]
    flags: dict[str, Any]
    negotiation: dict[str, Any]
    last_message_at: str | None
    last_inbound_at: str | None
    last_outbound_at: str | None
    awaiting_approval: int
    created_at: str
    messages: NotRequired[list[LeadMessage] | None]
    timeline: NotRequired[list[LeadEvent] | None]


# --- end of leads (types) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` back to get the next one (``None`` on the last)."""

    data: list[T]
    next_cursor: str | None = None


@dataclass(eq=False)
class ApiError(Exception):
    """A call failed: the server said no (``status`` is its HTTP status) or could not be reached (``status`` 0).

    Attributes:
        status: the HTTP status, or 0 when no answer came.
        title: the problem's short title, e.g. ``Unauthorized``.
        detail: the human explanation.
        errors: per-field problems, when the server lists them.
        type: the problem type URI, when given.
    """

    status: int
    title: str
    detail: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    type: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def message(self) -> str:
        """A readable one-line explanation, with per-field problems appended."""
        if self.status == 0:
            text = self.detail or self.title
        else:
            text = f"{self.title} ({self.status})"
            if self.detail and self.detail != self.title:
                text += f": {self.detail}"
        problems = [_describe_field_error(e) for e in self.errors]
        if problems:
            text += " — " + "; ".join(p for p in problems if p)
        return text

    def __str__(self) -> str:
        return self.message


def _describe_field_error(error: dict[str, Any]) -> str:
    message = str(error.get("message") or error.get("detail") or "").strip()
    key = error.get("key") or error.get("field") or error.get("pointer")
    return f"{key}: {message}" if key and message else message


def problem_from_response(response: httpx.Response) -> ApiError:
    """Build an :class:`ApiError` from an error response (problem+json, plain JSON or text).

    Args:
        response: a response whose status is not 2xx.

    Returns:
        The error describing it.
    """
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        return ApiError(
            status=status,
            title=str(body.get("title") or phrase),
            detail=str(body.get("detail") or ""),
            errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
            type=str(body["type"]) if body.get("type") else None,
        )
    text = " ".join(response.text.split())[:300]
    return ApiError(status=status, title=phrase, detail=text)


def _display_url(url: httpx.URL) -> str:
    """The URL without any user:password part, for messages."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}".rstrip("/")


class CashoutClient:
    """The cashout REST API, one method per call.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``; optional when ``http`` has a base URL.
        token: the API token sent as ``Authorization: Bearer <token>``.
        http: an ``httpx.AsyncClient`` to use (tests pass one over ``httpx.ASGITransport``); it is
            left open by :meth:`aclose`. Without it the client creates and owns one.
        timeout: seconds to wait for the server, when the client creates its own ``httpx`` client.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str = "",
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        if base_url is None:
            if http is None or not str(http.base_url):
                raise ValueError("base_url is required unless the httpx client has one")
            base_url = str(http.base_url)
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self.__token = token
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    @property
    def base_url(self) -> str:
        """The server's URL (without any credentials in it)."""
        return _display_url(self._base)

    def __repr__(self) -> str:
        return f"CashoutClient(base_url={self.base_url!r}, token={_REDACTED!r})"

    async def aclose(self) -> None:
        """Close the underlying ``httpx`` client if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> CashoutClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self.__token, _REDACTED) if self.__token else text

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        url = self._base.join(path.lstrip("/"))
        headers = {"Authorization": f"Bearer {self.__token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, url, params=query, json=json_body, files=files, headers=headers)
        except httpx.TimeoutException:
            raise ApiError(0, "Timeout", f"the server at {self.base_url} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            reason = self._redact(str(exc)) or type(exc).__name__
            raise ApiError(0, "Unreachable", f"cannot reach the server at {self.base_url}: {reason}") from None
        if not response.is_success:
            error = problem_from_response(response)
            error.detail = self._redact(error.detail)
            raise ApiError(error.status, error.title, error.detail, errors=error.errors, type=error.type)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(
                response.status_code, "Bad response", f"the server at {self.base_url} did not answer with JSON"
            ) from None

    async def _page(self, path: str, params: dict[str, Any]) -> Page[Any]:
        body = await self._request("GET", path, params=params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ApiError(0, "Bad response", f"{path} did not answer with a list")
        cursor = body.get("next_cursor")
        return Page(data=list(body["data"]), next_cursor=str(cursor) if cursor else None)

    async def _all(self, path: str, params: dict[str, Any], max_rows: int) -> list[Any]:
        rows: list[Any] = []
        cursor: str | None = None
        while len(rows) < max_rows:
            page = await self._page(path, {**params, "limit": MAX_PAGE, "cursor": cursor})
            rows.extend(page.data)
            cursor = page.next_cursor
            if cursor is None:
                break
        return rows[:max_rows]

    # -- users ------------------------------------------------------------------------------------

    async def me(self) -> User:
        """The user the token belongs to.

        Returns:
            The user.
        """
        return cast(User, await self._request("GET", "/api/v1/users/me"))

    # -- items ------------------------------------------------------------------------------------

    async def list_items(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
        q: str | None = None,
        sku: str | None = None,
    ) -> Page[Item]:
        """One page of items, oldest first.

        Args:
            limit: rows per page (1-200).
            cursor: ``next_cursor`` of the previous page.
            status: only items with this status.
            q: words that must appear in the title.
            sku: only the item with this SKU.

        Returns:
            The page.
        """
        params = {"limit": limit, "cursor": cursor, "status": status, "q": q, "sku": sku}
        return cast(Page[Item], await self._page("/api/v1/items", params))

    async def all_items(self, *, max_rows: int = 10_000) -> list[Item]:
        """Every item (following cursors), oldest first, up to ``max_rows``.

        Args:
            max_rows: stop after this many.

        Returns:
            The items.
        """
        return cast(list[Item], await self._all("/api/v1/items", {}, max_rows))

    async def get_item(self, item_id: str) -> Item:
        """One item.

        Args:
            item_id: the item's id.

        Returns:
            The item.
        """
        return cast(Item, await self._request("GET", f"/api/v1/items/{item_id}"))

    async def create_item(self, data: ItemCreate) -> Item:
        """Add an item.

        Args:
            data: the new item's fields.

        Returns:
            The item as stored.
        """
        return cast(Item, await self._request("POST", "/api/v1/items", json_body=dict(data)))

    async def update_item(self, item_id: str, changes: dict[str, Any]) -> Item:
        """Change an item; only the fields given change.

        Args:
            item_id: the item's id.
            changes: field name to new value (``None`` clears an optional field).

        Returns:
            The item as stored.
        """
        return cast(Item, await self._request("PATCH", f"/api/v1/items/{item_id}", json_body=changes))

    async def delete_item(self, item_id: str) -> None:
        """Delete an item that is not live anywhere.

        Args:
            item_id: the item's id.
        """
        await self._request("DELETE", f"/api/v1/items/{item_id}")

    # -- photos -----------------------------------------------------------------------------------

    async def list_photos(self, item_id: str) -> list[Photo]:
        """An item's photos in order.

        Args:
            item_id: the item's id.

        Returns:
            The photo records.
        """
        return cast(list[Photo], (await self._page(f"/api/v1/items/{item_id}/photos", {})).data)

    async def upload_photo(
        self, item_id: str, content: bytes, *, filename: str = "photo.jpg", content_type: str = "image/jpeg"
    ) -> Photo:
        """Upload a photo (JPEG, PNG, WebP or HEIC) to an item.

        Args:
            item_id: the item's id.
            content: the image file's bytes.
            filename: the file name the server records.
            content_type: the file's media type.

        Returns:
            The photo record.
        """
        files = {"data": (filename, content, content_type)}
        return cast(Photo, await self._request("POST", f"/api/v1/items/{item_id}/photos", files=files))

    # -- listings ---------------------------------------------------------------------------------

    async def list_listings(
        self,
        *,
        item_id: str | None = None,
        connection_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Listing]:
        """One page of listings.

        Args:
            item_id: only this item's listings.
            connection_id: only listings on this connection.
            status: only listings with this status.
            limit: rows per page (1-200).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            The page.
        """
        params = {
            "item_id": item_id,
            "connection_id": connection_id,
            "status": status,
            "limit": limit,
            "cursor": cursor,
        }
        return cast(Page[Listing], await self._page("/api/v1/listings", params))

    async def item_listings(self, item_id: str) -> list[Listing]:
        """Every listing of one item.

        Args:
            item_id: the item's id.

        Returns:
            The listings, oldest first.
        """
        return cast(list[Listing], await self._all("/api/v1/listings", {"item_id": item_id}, 1_000))

    async def get_listing(self, listing_id: str) -> Listing:
        """One listing.

        Args:
            listing_id: the listing's id.

        Returns:
            The listing.
        """
        return cast(Listing, await self._request("GET", f"/api/v1/listings/{listing_id}"))

    async def create_listing(self, item_id: str, connection_id: str, options: dict[str, str] | None = None) -> Listing:
        """Create a draft listing of an item on a connection.

        Args:
            item_id: the item's id.
            connection_id: the connection's id.
            options: platform-specific listing options.

        Returns:
            The draft listing.
        """
        body = {"item_id": item_id, "connection_id": connection_id, "options": options or {}}
        return cast(Listing, await self._request("POST", "/api/v1/listings", json_body=body))

    async def publish_listing(self, listing_id: str) -> Listing:
        """Queue a listing for publication (``202``); the server's delivery worker sends it later.

        The answer is the listing as ``queued`` with its ``delivery`` (``queued``, or
        ``awaiting_approval`` when the account's policy wants a person to approve it). Follow it
        with :meth:`get_listing` until it settles: ``published``, ``pending``, ``needs_action``
        (with ``action``), ``rejected``, ``failed`` or ``unknown`` (with ``last_error``).

        Args:
            listing_id: the listing's id.

        Returns:
            The listing as queued.
        """
        return cast(Listing, await self._request("POST", f"/api/v1/listings/{listing_id}/publish"))

    async def confirm_listing(
        self, listing_id: str, *, url: str | None = None, external_id: str | None = None
    ) -> Listing:
        """Confirm a step a person did on the platform (e.g. posted it by hand).

        Args:
            listing_id: the listing's id.
            url: the listing's URL on the platform.
            external_id: the listing's id on the platform.

        Returns:
            The listing after confirmation.
        """
        body = {k: v for k, v in {"url": url, "external_id": external_id}.items() if v is not None}
        return cast(Listing, await self._request("POST", f"/api/v1/listings/{listing_id}/confirm", json_body=body))

    async def delist_listing(self, listing_id: str) -> Listing:
        """Take a listing down (``202``): a takedown is queued in the outbox.

        A publication not yet sent is cancelled instead (the listing goes back to ``draft``); on
        assisted platforms the listing becomes ``needs_action`` with instructions.

        Args:
            listing_id: the listing's id.

        Returns:
            The listing, its ``delivery`` being the queued takedown when there is one.
        """
        return cast(Listing, await self._request("POST", f"/api/v1/listings/{listing_id}/delist"))

    # -- deliveries (the outbox) ------------------------------------------------------------------

    async def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        action: DeliveryAction | None = None,
        listing_id: str | None = None,
        connection_id: str | None = None,
        platform: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        """One page of the outbox, oldest first.

        Args:
            state: only deliveries in this state (``dead`` is the dead-letter list).
            action: only this kind of change.
            listing_id: only this listing's deliveries.
            connection_id: only deliveries to this account.
            platform: only deliveries to this platform.
            limit: rows per page (1-200).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            The page (without ``history``).
        """
        params = {
            "state": state,
            "action": action,
            "listing_id": listing_id,
            "connection_id": connection_id,
            "platform": platform,
            "limit": limit,
            "cursor": cursor,
        }
        return cast(Page[Delivery], await self._page("/api/v1/deliveries", params))

    async def all_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        listing_id: str | None = None,
        platform: str | None = None,
        max_rows: int = 1_000,
    ) -> list[Delivery]:
        """Every delivery matching the filters (following cursors), oldest first, up to ``max_rows``.

        Args:
            state: only deliveries in this state.
            listing_id: only this listing's deliveries.
            platform: only deliveries to this platform.
            max_rows: stop after this many.

        Returns:
            The deliveries.
        """
        params = {"state": state, "listing_id": listing_id, "platform": platform}
        return cast(list[Delivery], await self._all("/api/v1/deliveries", params, max_rows))

    async def get_delivery(self, delivery_id: str) -> Delivery:
        """One delivery with every attempt in ``history``.

        Args:
            delivery_id: the delivery's id.

        Returns:
            The delivery.
        """
        return cast(Delivery, await self._request("GET", f"/api/v1/deliveries/{delivery_id}"))

    async def retry_delivery(self, delivery_id: str) -> Delivery:
        """Queue a ``dead`` (or ``unknown``) delivery again now; other states answer ``409``.

        Args:
            delivery_id: the delivery's id.

        Returns:
            The delivery, now ``queued``, with its history.
        """
        return cast(Delivery, await self._request("POST", f"/api/v1/deliveries/{delivery_id}/retry"))

    async def cancel_delivery(self, delivery_id: str) -> Delivery:
        """Cancel a delivery that has not started (``queued`` or ``awaiting_approval``); others answer ``409``.

        A cancelled publication puts its listing back to ``draft``.

        Args:
            delivery_id: the delivery's id.

        Returns:
            The delivery, now ``cancelled``, with its history.
        """
        return cast(Delivery, await self._request("POST", f"/api/v1/deliveries/{delivery_id}/cancel"))

    async def delivery_counts(self) -> DeliveryCounts:
        """How many deliveries are in each state, per platform, and the worker's circuit breakers.

        Returns:
            The counts.
        """
        return cast(DeliveryCounts, await self._request("GET", "/api/v1/deliveries/counts"))

    # -- approvals --------------------------------------------------------------------------------

    async def list_approvals(
        self, *, status: str | None = "pending", limit: int = 50, cursor: str | None = None
    ) -> Page[Approval]:
        """One page of approvals, oldest first.

        Args:
            status: ``pending`` (the ones waiting), ``approved``, ``rejected``, or ``all``.
            limit: rows per page (1-200).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            The page.
        """
        return cast(
            Page[Approval], await self._page("/api/v1/approvals", {"status": status, "limit": limit, "cursor": cursor})
        )

    async def all_approvals(self, *, status: str = "pending", max_rows: int = 1_000) -> list[Approval]:
        """Every approval with ``status`` (``all`` for every one), oldest first, up to ``max_rows``.

        Args:
            status: ``pending``, ``approved``, ``rejected`` or ``all``.
            max_rows: stop after this many.

        Returns:
            The approvals.
        """
        return cast(list[Approval], await self._all("/api/v1/approvals", {"status": status}, max_rows))

    async def approve(self, approval_id: str, note: str = "") -> Approval:
        """Approve a waiting change: its delivery is queued now.

        Args:
            approval_id: the approval's id.
            note: why, kept with the decision.

        Returns:
            The approval, now ``approved``.
        """
        body = {"note": note}
        return cast(Approval, await self._request("POST", f"/api/v1/approvals/{approval_id}/approve", json_body=body))

    async def reject(self, approval_id: str, note: str = "") -> Approval:
        """Reject a waiting change: its delivery is cancelled (a queued publication goes back to ``draft``).

        Args:
            approval_id: the approval's id.
            note: why, kept with the decision.

        Returns:
            The approval, now ``rejected``.
        """
        body = {"note": note}
        return cast(Approval, await self._request("POST", f"/api/v1/approvals/{approval_id}/reject", json_body=body))

    # -- sales ------------------------------------------------------------------------------------

    async def record_sale(
        self,
        item_id: str,
        *,
        quantity: int = 1,
        price_minor: int | None = None,
        listing_id: str | None = None,
        note: str = "",
    ) -> Sale:
        """Mark units of an item sold.

        When none are left the item becomes ``sold`` and every other listing is taken down through
        the outbox; the listing it sold through (if given) becomes ``sold``.

        Args:
            item_id: the item's id.
            quantity: how many units sold.
            price_minor: what the buyer paid in total, in minor units of the item's currency.
            listing_id: the listing it sold through.
            note: a note kept with the sale.

        Returns:
            The sale, with the units left.
        """
        body = {"quantity": quantity, "price_minor": price_minor, "listing_id": listing_id, "note": note}
        return cast(Sale, await self._request("POST", f"/api/v1/items/{item_id}/sales", json_body=body))

    async def list_sales(self, item_id: str) -> list[Sale]:
        """An item's sales, oldest first.

        Args:
            item_id: the item's id.

        Returns:
            The sales.
        """
        return cast(list[Sale], (await self._page(f"/api/v1/items/{item_id}/sales", {})).data)

    # --- leads -----------------------------------------------------------------------------------

    async def list_leads(
        self,
        *,
        state: str | None = None,
        platform: str | None = None,
        item_id: str | None = None,
        min_score: int | None = None,
        max_score: int | None = None,
        needs_approval: bool | None = None,
        sort: Literal["score", "recent"] = "score",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Lead]:
        """One page of the inbox, highest score first (``sort="recent"``: newest first).

        Args:
            state: only leads in these states, comma-separated (e.g. ``open,negotiating``).
            platform: only leads on this platform.
            item_id: only leads about this item.
            min_score: only leads scoring at least this (0-100).
            max_score: only leads scoring at most this (0-100).
            needs_approval: only leads with a reply of ours waiting for a person.
            sort: ``score`` or ``recent``.
            limit: rows per page (1-200).
            cursor: ``next_cursor`` of the previous page.

        Returns:
            The page (without ``messages`` and ``timeline``).
        """
        params = {
            "state": state,
            "platform": platform,
            "item_id": item_id,
            "min_score": min_score,
            "max_score": max_score,
            "needs_approval": needs_approval,
            "sort": sort,
            "limit": limit,
            "cursor": cursor,
        }
        return cast(Page[Lead], await self._page("/api/v1/leads", params))

    async def all_leads(
        self,
        *,
        state: str | None = None,
        needs_approval: bool | None = None,
        sort: Literal["score", "recent"] = "score",
        max_rows: int = 1_000,
    ) -> list[Lead]:
        """Every lead matching the filters (following cursors), in ``sort`` order, up to ``max_rows``.

        Args:
            state: only leads in these states, comma-separated.
            needs_approval: only leads with a reply waiting for a person.
            sort: ``score`` (highest first) or ``recent`` (newest first).
            max_rows: stop after this many.

        Returns:
            The leads.
        """
        params = {"state": state, "needs_approval": needs_approval, "sort": sort}
        return cast(list[Lead], await self._all("/api/v1/leads", params, max_rows))

    async def get_lead(self, lead_id: str) -> Lead:
        """One conversation with its ``messages`` (drafts included) and its ``timeline``.

        Args:
            lead_id: the lead's id.

        Returns:
            The lead.
        """
        return cast(Lead, await self._request("GET", f"/api/v1/leads/{lead_id}"))

    async def update_lead(self, lead_id: str, changes: dict[str, Any]) -> Lead:
        """Change a lead's ``state`` (e.g. ``lost``, ``archived``, ``spam``, ``open``) or its ``item_id``.

        Args:
            lead_id: the lead's id.
            changes: e.g. ``{"state": "lost"}``; ``{"item_id": None}`` unlinks the item.

        Returns:
            The lead with its messages and timeline.
        """
        return cast(Lead, await self._request("PATCH", f"/api/v1/leads/{lead_id}", json_body=changes))

    async def send_lead_reply(self, lead_id: str, body: str) -> Lead:
        """Send a reply a person wrote: it is queued in the outbox at once, without approval.

        Args:
            lead_id: the lead's id.
            body: the text.

        Returns:
            The lead with the reply among its messages.
        """
        body_json = {"body": body}
        return cast(Lead, await self._request("POST", f"/api/v1/leads/{lead_id}/replies", json_body=body_json))

    async def edit_lead_reply(self, lead_id: str, message_id: str, body: str) -> Lead:
        """Change the text of our reply that has not left yet (a draft, or one waiting).

        Args:
            lead_id: the lead's id.
            message_id: the reply's id.
            body: the new text.

        Returns:
            The lead.
        """
        path = f"/api/v1/leads/{lead_id}/messages/{message_id}"
        return cast(Lead, await self._request("PATCH", path, json_body={"body": body}))

    async def approve_lead_reply(
        self, lead_id: str, message_id: str, *, body: str | None = None, note: str = ""
    ) -> Lead:
        """Approve a drafted reply, with its text edited when ``body`` is given: it goes out through the outbox.

        Args:
            lead_id: the lead's id.
            message_id: the reply's id.
            body: the edited text to send instead of the draft's.
            note: why, kept with the decision.

        Returns:
            The lead.
        """
        data: dict[str, Any] = {"note": note}
        if body is not None:
            data["body"] = body
        path = f"/api/v1/leads/{lead_id}/messages/{message_id}/approve"
        return cast(Lead, await self._request("POST", path, json_body=data))

    async def discard_lead_reply(self, lead_id: str, message_id: str) -> Lead:
        """Drop our reply before it leaves.

        Args:
            lead_id: the lead's id.
            message_id: the reply's id.

        Returns:
            The lead.
        """
        return cast(Lead, await self._request("POST", f"/api/v1/leads/{lead_id}/messages/{message_id}/discard"))

    async def answer_offer(
        self, lead_id: str, action: OfferAction, *, amount_minor: int | None = None, message: str | None = None
    ) -> Lead:
        """Accept, counter or decline the buyer's offer, or make one; never below the item's floor (``422``).

        Args:
            lead_id: the lead's id.
            action: ``accept``, ``counter``, ``decline`` or ``offer``.
            amount_minor: the price in minor units (required to counter or offer; accept defaults to the offer).
            message: the text sent to the buyer (a short template when absent).

        Returns:
            The lead with the reply queued.
        """
        data: dict[str, Any] = {"action": action}
        if amount_minor is not None:
            data["amount_minor"] = amount_minor
        if message:
            data["message"] = message
        return cast(Lead, await self._request("POST", f"/api/v1/leads/{lead_id}/offers", json_body=data))

    # --- end of leads ----------------------------------------------------------------------------

    # -- connections and plugins ------------------------------------------------------------------

    async def list_connections(self, *, platform: str | None = None) -> list[Connection]:
        """Every connection, optionally of one platform.

        Args:
            platform: only connections to this platform.

        Returns:
            The connections, oldest first.
        """
        return cast(list[Connection], await self._all("/api/v1/connections", {"platform": platform}, 1_000))

    async def create_connection(
        self,
        platform: str,
        name: str,
        *,
        settings: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
    ) -> Connection:
        """Connect an account on a platform.

        Args:
            platform: the platform's name, e.g. ``craigslist``.
            name: a name for the connection.
            settings: the platform's settings.
            credentials: the platform's credentials (write-only).

        Returns:
            The connection.
        """
        body = {"platform": platform, "name": name, "settings": settings or {}, "credentials": credentials or {}}
        return cast(Connection, await self._request("POST", "/api/v1/connections", json_body=body))

    async def get_connection(self, connection_id: str) -> Connection:
        """One connection.

        Args:
            connection_id: the connection's id.

        Returns:
            The connection.
        """
        return cast(Connection, await self._request("GET", f"/api/v1/connections/{connection_id}"))

    async def update_connection(self, connection_id: str, changes: dict[str, Any]) -> Connection:
        """Change a connection: name, settings, credentials, pacing or approval policy.

        Args:
            connection_id: the connection's id.
            changes: e.g. ``{"approvals": {"publish": True}}`` or ``{"max_concurrency": 2}``; ``None``
                values go back to the platform's default.

        Returns:
            The connection as stored.
        """
        return cast(Connection, await self._request("PATCH", f"/api/v1/connections/{connection_id}", json_body=changes))

    async def list_plugins(self) -> list[Plugin]:
        """Every installed plugin.

        Returns:
            The plugins and their platform descriptors.
        """
        body = await self._request("GET", "/api/v1/plugins")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ApiError(0, "Bad response", "/api/v1/plugins did not answer with a list")
        return cast(list[Plugin], body["data"])

    # -- scheduled jobs ---------------------------------------------------------------------------

    async def list_jobs(self) -> dict[str, Any]:
        """Every scheduled job and who runs them.

        Returns:
            ``{"data": [job, ...], "leader": {...} | None, ...}``; each job has ``id``, ``description``,
            ``interval_seconds``, ``next_run_at``, ``last_run``, ``last_failure``, ``running``, ``queued``.
        """
        body = await self._request("GET", "/api/v1/jobs")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ApiError(0, "Bad response", "/api/v1/jobs did not answer with a list")
        return body

    async def run_job(self, job_id: str) -> dict[str, Any]:
        """Run a job now; the server answers at once with the queued run.

        Args:
            job_id: the job's id, e.g. ``backup.run``.

        Returns:
            The run (``state`` is ``queued``).
        """
        return cast(dict[str, Any], await self._request("POST", f"/api/v1/jobs/{job_id}/run"))

    async def get_job_run(self, run_id: str) -> dict[str, Any]:
        """One job run (poll it to see a queued run's outcome).

        Args:
            run_id: the run's id (``run_...``).

        Returns:
            The run.
        """
        return cast(dict[str, Any], await self._request("GET", f"/api/v1/jobs/runs/{run_id}"))

    async def list_job_runs(self, job_id: str, *, state: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """A job's most recent runs, newest first.

        Args:
            job_id: the job's id.
            state: only runs in this state (``failed`` for the recent failures).
            limit: how many.

        Returns:
            The runs.
        """
        page = await self._page(f"/api/v1/jobs/{job_id}/runs", {"state": state, "limit": limit})
        return cast(list[dict[str, Any]], page.data)
