"""Calling the Graph API and turning Meta's answers into the contract's outcomes and errors.

Meta answers almost every failure with HTTP 400 and a body ``{"error": {...}}`` whose ``code``
says what happened: 190 is a bad or expired token, 10 and 200-299 missing permissions,
4/17/32/613 and 80000-80014 throttling (never 429), ``is_transient`` or a 5xx a temporary
failure. The wait after a throttle is read from the usage headers Meta sends as JSON strings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cashout_server import (
    AuthExpired,
    OutcomeUnknown,
    PluginError,
    RateLimited,
    ReauthRequired,
    Rejected,
    TransientError,
    parse_retry_after,
    transport_error,
)

PLATFORM_NAME = "Facebook"

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
"""App (4), user (17), page (32), ad account (613) and business use case (80000-80014) limits."""

PERMISSION_CODES = frozenset({10, *range(200, 300)})
EXPIRED_SUBCODE = 463

WINDOW_CODE = 10
WINDOW_SUBCODE = 2018278
"""``(#10) This message is sent outside of allowed window``: the 24-hour messaging window closed."""
UNAVAILABLE_CODE = 551
"""``This person isn't available right now``: the buyer blocked the Page or left Messenger."""

DEFAULT_THROTTLE_WAIT = 300.0
"""Seconds to wait after a throttle when no header says: Meta's windows are rolling hours, and
FACTS.md names no default, so five minutes is a cautious guess (unverified)."""

_MESSAGE_MAX = 500


@dataclass(frozen=True)
class Auth:
    """How calls authenticate: the token and, when known, the app secret for ``appsecret_proof``."""

    access_token: str = field(repr=False)
    app_secret: str | None = field(default=None, repr=False)

    def proof(self) -> str | None:
        """``appsecret_proof``: HMAC-SHA256 of the token keyed with the app secret (hex)."""
        if not self.app_secret:
            return None
        return hmac.new(self.app_secret.encode(), self.access_token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class MetaError:
    """The ``error`` object of a Graph API answer."""

    status: int
    code: int | None
    subcode: int | None
    message: str
    type: str = ""
    is_transient: bool = False
    user_title: str = ""
    user_msg: str = ""
    fbtrace_id: str = ""
    blame_fields: tuple[str, ...] = ()

    def text(self) -> str:
        """The most helpful message: the user-facing one when Meta gives it."""
        text = self.user_msg or self.message or f"Facebook answered HTTP {self.status}"
        return text[:_MESSAGE_MAX]

    def describe(self) -> str:
        """A log-safe one-line summary (no token is ever part of an error)."""
        sub = f"/{self.subcode}" if self.subcode is not None else ""
        trace = f", fbtrace_id {self.fbtrace_id}" if self.fbtrace_id else ""
        return f"{self.text()} (code {self.code}{sub}{trace})"


class Refused(Exception):
    """Meta refused the request as it stands (a 4xx that is not about auth or throttling)."""

    def __init__(self, error: MetaError, rejected: Rejected) -> None:
        super().__init__(rejected.reason)
        self.error = error
        self.rejected = rejected


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _blame_fields(error_data: object) -> tuple[str, ...]:
    # error_data arrives as an object or, from some endpoints, as a JSON string.
    data = _json(error_data) if isinstance(error_data, str) else error_data
    if not isinstance(data, Mapping):
        return ()
    specs = data.get("blame_field_specs")
    names: list[str] = []
    if isinstance(specs, list):
        for spec in specs:
            parts = spec if isinstance(spec, list) else [spec]
            name = ".".join(str(p) for p in parts if p is not None)
            if name:
                names.append(name)
    return tuple(names)


def parse_error(response: httpx.Response) -> MetaError | None:
    """Read Meta's error object from an answer, or ``None`` when it carries none."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None
    return MetaError(
        status=response.status_code,
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        message=str(error.get("message") or ""),
        type=str(error.get("type") or ""),
        is_transient=error.get("is_transient") is True,
        user_title=str(error.get("error_user_title") or ""),
        user_msg=str(error.get("error_user_msg") or ""),
        fbtrace_id=str(error.get("fbtrace_id") or ""),
        blame_fields=_blame_fields(error.get("error_data")),
    )


def throttle_wait(headers: httpx.Headers, default: float = DEFAULT_THROTTLE_WAIT) -> float:
    """Seconds to wait after a throttle, from Meta's usage headers.

    ``X-Business-Use-Case-Usage`` gives ``estimated_time_to_regain_access`` in minutes per use
    case, ``X-Ad-Account-Usage`` gives ``reset_time_duration`` in seconds, and a
    ``Retry-After`` (which Meta does not document, but a proxy may add) gives seconds or a date.
    The longest positive wait wins; with none, ``default``.

    Args:
        headers: the answer's headers.
        default: the wait when no header says.

    Returns:
        Seconds to wait.
    """
    waits: list[float] = []
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        waits.append(retry_after)
    buc = _json(headers.get("X-Business-Use-Case-Usage"))
    if isinstance(buc, Mapping):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                if isinstance(entry, Mapping):
                    minutes = entry.get("estimated_time_to_regain_access")
                    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
                        waits.append(float(minutes) * 60)
    account = _json(headers.get("X-Ad-Account-Usage"))
    if isinstance(account, Mapping):
        seconds = account.get("reset_time_duration")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            waits.append(float(seconds))
    positive = [w for w in waits if w > 0]
    return max(positive) if positive else default


# Columns and parameters an error message may name, longest first so "image_link" is not read as "link".
_FIELD_NAMES = (
    "additional_image_link",
    "product_url_template",
    "image_link",
    "availability",
    "description",
    "condition",
    "catalog_id",
    "retailer_id",
    "item_type",
    "requests",
    "schedule",
    "brand",
    "title",
    "price",
    "gtin",
    "link",
    "mpn",
    "id",
)
_FIELD_PATTERNS = tuple((name, re.compile(rf"(?<![a-z_]){re.escape(name)}(?![a-z_])", re.I)) for name in _FIELD_NAMES)


def fields_named(message: str) -> list[str]:
    """The catalog columns a validation message names, in the order listed above.

    Args:
        message: Meta's message.

    Returns:
        Column names found in the message (``id`` only when nothing else is named).
    """
    found = [name for name, pattern in _FIELD_PATTERNS if pattern.search(message)]
    return [name for name in found if name != "id"] or found


def rejection(error: MetaError) -> Rejected:
    """The ``Rejected`` outcome for a Meta error that is the request's fault."""
    text = error.text()
    names = list(error.blame_fields) or fields_named(f"{error.message} {error.user_msg}")
    return Rejected(reason=text, fields=dict.fromkeys(names, text))


def outside_window(error: MetaError) -> bool:
    """Whether Meta refused a message because the person cannot be messaged now.

    That is the closed 24-hour standard messaging window (code 10, subcode 2018278, or a message
    saying "outside of allowed window") or a person who is not available (code 551).

    Args:
        error: Meta's error.

    Returns:
        ``True`` for those refusals.
    """
    if error.code == UNAVAILABLE_CODE:
        return True
    if error.code == WINDOW_CODE and error.subcode == WINDOW_SUBCODE:
        return True
    return "outside of allowed window" in f"{error.message} {error.user_msg}".lower()


def error_for(response: httpx.Response) -> PluginError | Refused:
    """The contract error (or a refusal to turn into ``Rejected``) for a failed Graph API answer.

    Args:
        response: an answer with an error body or a non-2xx status.

    Returns:
        The exception to raise.
    """
    error = parse_error(response)
    status = response.status_code
    if error is None:
        if status == 429:
            return RateLimited(f"{PLATFORM_NAME} answered 429", retry_after=throttle_wait(response.headers))
        if status >= 500:
            return TransientError(
                f"{PLATFORM_NAME} answered HTTP {status}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 401:
            return ReauthRequired(f"{PLATFORM_NAME} refused the credentials (HTTP 401)")
        plain = MetaError(status=status, code=None, subcode=None, message=f"{PLATFORM_NAME} answered HTTP {status}")
        return Refused(plain, rejection(plain))

    code = error.code
    if code == 190:
        if error.subcode == EXPIRED_SUBCODE:
            return AuthExpired(f"the Facebook access token expired: {error.describe()}")
        return ReauthRequired(f"Facebook refused the access token: {error.describe()}")
    if code in (102, 104):
        return ReauthRequired(f"Facebook refused the session: {error.describe()}")
    if outside_window(error):
        # Code 10 is otherwise a permission error; this one is about the buyer, not the token.
        return Refused(error, rejection(error))
    if code in PERMISSION_CODES:
        return ReauthRequired(
            "the token lacks a permission this needs (catalog_management, business_management for the catalog; "
            f"pages_messaging, pages_manage_metadata, pages_read_engagement for the Page inbox): {error.describe()}"
        )
    if code in THROTTLE_CODES:
        return RateLimited(f"Facebook is throttling: {error.describe()}", retry_after=throttle_wait(response.headers))
    if error.is_transient or code in (1, 2) or status >= 500:
        # Catalog writes are upserts keyed by retailer id, so retrying a write Meta may have
        # half-done cannot duplicate a product; the one create that is not (product_feeds) is
        # looked up by name before it is sent again.
        return TransientError(
            f"Facebook had a temporary problem: {error.describe()}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return Refused(error, rejection(error))


def oauth_error_for(response: httpx.Response) -> PluginError:
    """The contract error for a failed token exchange.

    Every refusal of ``/oauth/access_token`` is about the credentials (Meta answers a wrong app
    secret with code 1), so anything but throttling and server trouble needs a person.

    Args:
        response: an answer with an error body or a non-2xx status.

    Returns:
        The exception to raise.
    """
    error = parse_error(response)
    status = response.status_code
    if status == 429 or (error is not None and error.code in THROTTLE_CODES):
        return RateLimited(
            f"{PLATFORM_NAME} is throttling the token exchange", retry_after=throttle_wait(response.headers)
        )
    if status >= 500 or (error is not None and error.is_transient):
        what = error.describe() if error is not None else f"HTTP {status}"
        return TransientError(
            f"Facebook's token exchange had a temporary problem: {what}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    what = error.describe() if error is not None else f"HTTP {status}"
    return ReauthRequired(f"Facebook refused to extend the token: {what}")


def _with_proof(params: Mapping[str, str], auth: Auth) -> dict[str, str]:
    out = dict(params)
    proof = auth.proof()
    if proof:
        out["appsecret_proof"] = proof
    return out


def _decode(
    response: httpx.Response, *, mutating: bool, oauth: bool = False, not_idempotent: bool = False
) -> dict[str, Any]:
    if not_idempotent and response.status_code >= 500:
        # A message has no idempotency key and a 5xx does not say it was not delivered.
        error = parse_error(response)
        detail = error.describe() if error is not None else f"HTTP {response.status_code}"
        raise OutcomeUnknown(f"{PLATFORM_NAME} failed after the request was sent: {detail}")
    if response.status_code >= 300 or parse_error(response) is not None:
        raise oauth_error_for(response) if oauth else error_for(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        what = f"an unreadable answer (HTTP {response.status_code})"
        if mutating:
            raise OutcomeUnknown(f"{PLATFORM_NAME} gave {what} after the request was sent")
        raise TransientError(f"{PLATFORM_NAME} gave {what}")
    return body


async def post(http: httpx.AsyncClient, path: str, params: Mapping[str, str], auth: Auth) -> dict[str, Any]:
    """POST form-encoded parameters (nested values already JSON strings), like Meta's SDK.

    The token travels in the form body, never in the URL, so no request log shows it.

    Args:
        http: the connection's client (base URL = Graph API host).
        path: a path such as ``/v26.0/123/items_batch``.
        params: the parameters.
        auth: the token and app secret.

    Returns:
        The decoded JSON object.

    Raises:
        Refused: Meta refused the request as it stands.
        PluginError: the contract error for anything else that went wrong.
    """
    data = _with_proof({**params, "access_token": auth.access_token}, auth)
    try:
        response = await http.post(path, data=data)
    except httpx.HTTPError as exc:
        raise transport_error(exc, platform=PLATFORM_NAME, mutating=True) from exc
    return _decode(response, mutating=True)


async def post_json(
    http: httpx.AsyncClient, path: str, payload: Mapping[str, Any], auth: Auth, *, not_idempotent: bool = False
) -> dict[str, Any]:
    """POST a JSON body (the Send API's shape); the token goes in an ``Authorization: Bearer`` header.

    Args:
        http: the connection's client.
        path: a path such as ``/v26.0/{page_id}/messages``.
        payload: the JSON object to send.
        auth: the token and app secret (``appsecret_proof`` travels in the query string).
        not_idempotent: a resend would repeat the effect (a message): a 5xx answer is then
            ``OutcomeUnknown`` rather than ``TransientError``.

    Returns:
        The decoded JSON object.

    Raises:
        Refused: Meta refused the request as it stands.
        PluginError: the contract error for anything else that went wrong.
    """
    query = _with_proof({}, auth)
    headers = {"Authorization": f"Bearer {auth.access_token}"}
    try:
        response = await http.post(path, json=dict(payload), params=query, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_error(exc, platform=PLATFORM_NAME, mutating=True) from exc
    return _decode(response, mutating=True, not_idempotent=not_idempotent)


async def get(
    http: httpx.AsyncClient, path: str, params: Mapping[str, str], auth: Auth | None = None, *, oauth: bool = False
) -> dict[str, Any]:
    """GET with query parameters; the token goes in an ``Authorization: Bearer`` header.

    Args:
        http: the connection's client.
        path: the path.
        params: query parameters (nested values as JSON strings).
        auth: the token and app secret; ``None`` for unauthenticated calls.
        oauth: the call is the token exchange (its refusals need a person, see :func:`oauth_error_for`).

    Returns:
        The decoded JSON object.

    Raises:
        Refused: Meta refused the request as it stands.
        PluginError: the contract error for anything else that went wrong.
    """
    headers = {}
    query = dict(params)
    if auth is not None:
        headers["Authorization"] = f"Bearer {auth.access_token}"
        query = _with_proof(query, auth)
    try:
        response = await http.get(path, params=query, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_error(exc, platform=PLATFORM_NAME, mutating=False) from exc
    return _decode(response, mutating=False, oauth=oauth)
