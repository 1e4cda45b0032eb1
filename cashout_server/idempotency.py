"""``Idempotency-Key`` on the REST API's POST routes.

A client that sends ``Idempotency-Key: <key>`` with a ``POST /api/v1/...`` may retry that request
safely: the first request runs and its response is stored; a retry with the same key and the same
request gets the stored response back byte-for-byte, marked ``Idempotent-Replayed: true``, and
the route does not run again. Semantics follow Stripe and the IETF draft "The Idempotency-Key
HTTP Header Field":

* keys are 1-255 printable ASCII characters, bare (Stripe) or a quoted string (the draft);
  anything else is a 400 problem;
* keys belong to the authenticated user: two users may use the same key;
* the same key with another method, path, query or body is a 422 problem (the route never runs);
* while the first request is still running, a second one with its key is a 409 problem with
  ``Retry-After: 1``;
* stored: every response below 500 except 401, 403, 408, 425 and 429 (the request was refused
  before it ran, or the refusal is transient); a 5xx, or a request that never finished, leaves
  nothing behind so the client may retry with the same key;
* responses are kept ``idempotency_ttl_hours`` (at least 24); expired keys count as unused and
  :func:`purge_idempotency_keys` deletes them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import anyio
from litestar.enums import ParamType, ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import HTTPRoute
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from cashout_server.auth import Principal
from cashout_server.db.models import IdempotencyRecord, utcnow
from cashout_server.problems import ProblemError
from cashout_server.runtime import Runtime

if TYPE_CHECKING:
    from litestar.routes import BaseRoute
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send
    from litestar.types.asgi_types import HTTPResponseStartEvent

log = logging.getLogger("cashout.api")

HEADER = "Idempotency-Key"
"""The request header naming a retry-safe request."""
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on a response that is a stored one sent again."""
API_PREFIX = "/api/v1/"
"""Only POST routes under this prefix honour the header."""
MAX_KEY_LENGTH = 255

STORED_HEADERS = frozenset(
    {"content-type", "content-language", "content-disposition", "location", "link", "etag", "last-modified"}
)
"""Response headers replayed with the stored body; the rest (date, length, ...) are per response."""
UNSTORED_STATUSES = frozenset({401, 403, 408, 425, 429})
"""4xx answers that say "not now" or "not you" rather than "this request is wrong": not replayed."""
STALE_AFTER = timedelta(minutes=15)
"""An in-progress key this old belongs to a request that died (crash, restart): it may be taken over.

Far longer than routes run (a plugin's HTTP call times out after 30 seconds by default); a key must
not stay blocked for its whole retention because a process was killed.
"""

_QUOTED = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"])*)"')
_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)


def parse_key(values: list[str]) -> str:
    """The idempotency key from the header value(s), or a 400 problem.

    Args:
        values: every ``Idempotency-Key`` header of the request, decoded as Latin-1.

    Raises:
        ProblemError: 400 when there is more than one header or the key is not 1-255 printable ASCII.
    """
    if len(values) != 1:
        raise _invalid("send one Idempotency-Key header, not several")
    raw = values[0].strip(" \t")
    key = raw
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        quoted = _QUOTED.fullmatch(raw)
        if quoted is None:
            raise _invalid(
                f"the Idempotency-Key is not a valid quoted string: send 1 to {MAX_KEY_LENGTH} printable "
                "ASCII characters, bare or as a quoted string"
            )
        key = re.sub(r"\\(.)", r"\1", quoted.group(1))
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise _invalid(f"the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _invalid(detail: str) -> ProblemError:
    return ProblemError(400, detail, slug="invalid-idempotency-key")


class _Fingerprint:
    """SHA-256 over method, target and body, fed chunk by chunk as the body arrives.

    A multipart body's boundary is random per attempt in most client libraries, so a retry of the
    same upload would never match; every occurrence of ``--<boundary>`` is hashed as a fixed token.
    """

    def __init__(self, method: str, target: str, content_type: str) -> None:
        self._hash = hashlib.sha256(f"{method}\n{target}\n".encode("latin-1"))
        match = _BOUNDARY.search(content_type) if content_type.lower().startswith("multipart/") else None
        self._delimiter = ("--" + (match.group(1) or match.group(2))).encode("latin-1") if match else b""
        self._tail = b""

    def update(self, chunk: bytes) -> None:
        if not self._delimiter:
            self._hash.update(chunk)
            return
        data, start = self._tail + chunk, 0
        while (found := data.find(self._delimiter, start)) >= 0:
            self._hash.update(data[start:found])
            self._hash.update(b"--<boundary>")
            start = found + len(self._delimiter)
        # The last len(delimiter) - 1 bytes may begin a delimiter that the next chunk completes.
        cut = max(start, len(data) - len(self._delimiter) + 1)
        self._hash.update(data[start:cut])
        self._tail = data[cut:]

    def hexdigest(self) -> str:
        self._hash.update(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


@dataclass(frozen=True, slots=True)
class _Request:
    user_id: int
    key: str
    method: str
    path: str
    fingerprint: str


class IdempotencyMiddleware(ASGIMiddleware):
    """Stores and replays POST responses under an ``Idempotency-Key`` (see the module docstring).

    Must come after the authentication middleware: keys are scoped to the authenticated user.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the request once per key; replay or refuse the others."""
        http = cast("HTTPScope", scope)  # `scopes` lets only HTTP through
        values = [v.decode("latin-1") for k, v in http["headers"] if k.lower() == b"idempotency-key"]
        principal = http.get("user")
        if (
            not values
            or http["method"] != "POST"
            or not http["path"].startswith(API_PREFIX)
            or not isinstance(principal, Principal)
        ):
            await next_app(scope, receive, send)
            return
        key = parse_key(values)
        runtime = cast("Runtime", http["app"].state.runtime)
        received = await _read_body(http, receive)
        if received is None:
            return  # the client went away before sending its whole body
        chunks, target, fingerprint = received
        request = _Request(principal.user_id, key, http["method"], target, fingerprint)
        record = await _claim(runtime, request)
        if record.status_code is not None:
            await _replay(record, send)
            return
        await _run(runtime, record.id, scope, _replay_receive(chunks, receive), send, next_app)


async def _read_body(scope: HTTPScope, receive: Receive) -> tuple[deque[bytes], str, str] | None:
    """The body as received, the request target (path and query) and the request's fingerprint.

    The body must be fingerprinted before the route may run, so it is read here. It is kept once,
    as received, and handed to the route chunk by chunk, each chunk dropped once passed on.
    """
    handler = scope["route_handler"]
    limit = handler.resolve_request_max_body_size() if isinstance(handler, HTTPRouteHandler) else None
    headers = {k.lower(): v for k, v in scope["headers"]}
    announced = headers.get(b"content-length", b"").decode("latin-1")
    if limit is not None and announced.isdigit() and int(announced) > limit:
        raise _too_large(limit)
    query = scope["query_string"].decode("latin-1")
    target = scope["path"] + (f"?{query}" if query else "")
    fingerprint = _Fingerprint(scope["method"], target, headers.get(b"content-type", b"").decode("latin-1"))
    chunks: deque[bytes] = deque()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise _too_large(limit)
        if chunk:
            fingerprint.update(chunk)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks, target, fingerprint.hexdigest()


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"the request body is larger than the {limit} bytes this route accepts")


def _replay_receive(chunks: deque[bytes], receive: Receive) -> Receive:
    done = False

    async def replay() -> ReceiveMessage:
        nonlocal done
        if done:
            return await receive()  # after the body: whatever the server sends next (disconnect)
        body = chunks.popleft() if chunks else b""
        done = not chunks
        return {"type": "http.request", "body": body, "more_body": not done}

    return replay


async def _claim(runtime: Runtime, request: _Request) -> IdempotencyRecord:
    """Take the key, or find the stored response to replay.

    Returns:
        Our new in-progress row (``status_code`` is ``None``: run the route), or the finished row.

    The in-progress row is committed before the route runs; the unique constraint on (user, key)
    lets exactly one of two concurrent requests insert it.
    """
    for _ in range(3):
        now = utcnow()
        async with runtime.session() as session:
            mine = IdempotencyRecord(
                user_id=request.user_id,
                key=request.key,
                method=request.method,
                path=request.path,
                fingerprint=request.fingerprint,
                status_code=None,
                response_headers={},
                response_body=None,
                created_at=now,
                expires_at=now + timedelta(hours=runtime.settings.server.idempotency_ttl_hours),
            )
            session.add(mine)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
            else:
                return mine
            existing = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == request.user_id, IdempotencyRecord.key == request.key
                )
            )
            if existing is None:
                continue  # deleted between our insert and our look: try to take it again
            abandoned = existing.status_code is None and existing.created_at <= now - STALE_AFTER
            if existing.expires_at <= now or abandoned:
                await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == existing.id))
                await session.commit()
                continue
            if existing.fingerprint != request.fingerprint:
                raise ProblemError(
                    422,
                    f"this Idempotency-Key was already used for a different request (first for {existing.method} "
                    f"{existing.path}, with another body or target); send a new key for a new request",
                    slug="idempotency-key-reused",
                )
            if existing.status_code is None:
                raise _in_progress()
            return existing
    raise _in_progress()


def _in_progress() -> ProblemError:
    return ProblemError(
        409,
        "a request with this Idempotency-Key is still in progress; retry shortly",
        slug="idempotency-key-in-progress",
        headers={"Retry-After": "1"},
    )


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    body = record.response_body or b""
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in record.response_headers.items()]
    headers += [(b"content-length", str(len(body)).encode()), (REPLAYED_HEADER.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": cast("int", record.status_code), "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _run(runtime: Runtime, row_id: int, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
    response: HTTPResponseStartEvent | None = None
    held = False
    parts: list[bytes] = []
    settled = False

    async def capture(message: Message) -> None:
        nonlocal response, held, settled
        if message["type"] == "http.response.start":
            response, held = message, True
            return
        is_body = last = False
        if message["type"] == "http.response.body":
            is_body, last = True, not message.get("more_body", False)
            parts.append(message.get("body", b""))
        if not settled and (last or not is_body):
            # Settled before the client sees the end of the response, so that a retry sent as soon
            # as the response arrives finds the stored one (and not a key still in progress).
            settled = True
            status = response["status"] if response is not None else 500
            if is_body and response is not None and status < 500 and status not in UNSTORED_STATUSES:
                await _store(runtime, row_id, status, _kept_headers(response["headers"]), b"".join(parts))
            else:
                await _release(runtime, row_id)
        if held and response is not None:
            held = False
            await send(response)
        await send(message)

    try:
        await next_app(scope, receive, capture)
    finally:
        if not settled:
            await _release(runtime, row_id)


def _kept_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name, value = name_bytes.decode("latin-1").lower(), value_bytes.decode("latin-1")
        if name in STORED_HEADERS:
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


async def _store(runtime: Runtime, row_id: int, status: int, headers: dict[str, str], body: bytes) -> None:
    # Shielded, like _release: a cancelled request must not leave its key in progress.
    with anyio.CancelScope(shield=True):
        try:
            async with runtime.session() as session:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.id == row_id, IdempotencyRecord.status_code.is_(None))
                    .values(status_code=status, response_headers=headers, response_body=body)
                )
                await session.commit()
        except Exception:
            log.exception("could not store the response of idempotency key row %d; releasing the key", row_id)
            await _release(runtime, row_id)


async def _release(runtime: Runtime, row_id: int) -> None:
    # By row id, never by key: a row taken over after going stale is another request's to settle.
    with anyio.CancelScope(shield=True):
        try:
            async with runtime.session() as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.id == row_id, IdempotencyRecord.status_code.is_(None)
                    )
                )
                await session.commit()
        except Exception:
            log.exception("could not release idempotency key row %d; it frees itself when it expires", row_id)


async def purge_idempotency_keys(runtime: Runtime) -> dict[str, int]:
    """Delete stored idempotency keys whose retention has passed (a scheduler job).

    Args:
        runtime: the shared runtime.

    Returns:
        ``{"deleted": n}``.
    """
    async with runtime.session() as session:
        result = cast(
            "CursorResult[Any]",
            await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())),
        )
        await session.commit()
    return {"deleted": result.rowcount}


IDEMPOTENCY_KEY_PARAMETER = Parameter(
    name=HEADER,
    param_in=ParamType.HEADER,
    required=False,
    description=(
        "Makes this POST safe to retry. The first request with a key runs and its response is kept "
        "(at least 24 hours); a retry with the same key and body gets that response again with "
        "`Idempotent-Replayed: true`. The same key with another body is a 422 problem; while the first "
        "request is still running, 409 with `Retry-After`. 5xx responses are not kept."
    ),
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH),
)


@dataclass
class IdempotentOperation(Operation):
    """An OpenAPI operation that documents the optional ``Idempotency-Key`` header."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), IDEMPOTENCY_KEY_PARAMETER]


class IdempotencyKeyDocs(ReceiveRoutePlugin):
    """Adds the ``Idempotency-Key`` header to the OpenAPI operation of every POST route under the API."""

    def receive_route(self, route: BaseRoute) -> None:
        """Switch the POST handlers of ``route`` to :class:`IdempotentOperation`."""
        if not isinstance(route, HTTPRoute) or not route.path.startswith(API_PREFIX):
            return
        for handler in route.route_handlers:
            if "POST" in handler.http_methods and handler.operation_class is Operation:
                handler.operation_class = IdempotentOperation
