"""The HTTP clients plugins get: httpx's API over aiohttp's connection pool, one client per connection.

Why aiohttp underneath: httpx 0.28's own pool collapses past about 20 requests in flight
(``benchmarks/fanout.py`` measures it), while the same httpx API over ``httpx-aiohttp``'s
transport holds up at 100 in flight with a fraction of the CPU per request.

Why a subclass: ``httpx-aiohttp`` maps ``aiohttp.ClientConnectionError`` to
``httpx.ConnectTimeout``, so a connection the server drops *after reading the request*
(``ServerDisconnectedError``, a reset) looks like "never sent" and a plugin would retry a
publish that may have been applied.
:class:`PluginTransport` maps aiohttp's errors by what they mean for that question: only
failures to connect become ``ConnectError``/``ConnectTimeout``; everything later becomes a read
or protocol error, which :func:`cashout_server.contract.transport_error` treats as "maybe applied".
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["ClientPool", "PluginTransport", "map_aiohttp_error", "new_client"]

DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30.0)


def map_aiohttp_error(exc: BaseException) -> httpx.TransportError:
    """The httpx error that says truthfully whether a request may have reached the server.

    Args:
        exc: an aiohttp (or asyncio timeout) error raised while sending or reading.

    Returns:
        ``ConnectError``/``ConnectTimeout`` only when no connection was made, else a read or
        protocol error.
    """
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    return httpx.ReadError(message)


def _aiohttp_cause(exc: BaseException) -> BaseException | None:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | TimeoutError):
        return cause
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return exc
    return None


class _RemappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            cause = _aiohttp_cause(exc)
            if cause is None:
                raise
            raise map_aiohttp_error(cause) from cause

    async def aclose(self) -> None:
        await self._inner.aclose()


EAGER_BODY_BYTES = 1 << 20
"""Answers up to this size (with a Content-Length) are read at once: API answers are small, and
one read costs far less CPU than streaming them through two async iterators."""


class PluginTransport(AiohttpTransport):
    """``AiohttpTransport`` with errors that tell "never sent" from "maybe applied"."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; map aiohttp's errors by whether the request may have been sent."""
        try:
            response = await super().handle_async_request(request)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) <= EAGER_BODY_BYTES:
                stream = response.stream
                assert isinstance(stream, httpx.AsyncByteStream)
                try:
                    body = b"".join([chunk async for chunk in stream])
                finally:
                    await stream.aclose()
                return httpx.Response(
                    status_code=response.status_code,
                    headers=response.headers.raw,
                    content=body,
                    request=request,
                    extensions=response.extensions,
                )
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            cause = _aiohttp_cause(exc)
            if cause is None:
                raise
            mapped = map_aiohttp_error(cause)
            mapped.request = request
            raise mapped from cause
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _RemappedStream(stream)
        return response


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing.

    Platform APIs authenticate with tokens, and parsing every answer's cookies is a sixth of
    httpx's CPU per request.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep no cookies."""


def new_client(*, base_url: str, timeout: float, limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over :class:`PluginTransport`.

    Args:
        base_url: the platform API's base URL (relative request URLs resolve against it).
        timeout: seconds for connecting, and for each read.
        limits: connection pool limits.

    Returns:
        A client that keeps no cookies between requests; close it with ``aclose()``.
    """
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        follow_redirects=False,
        transport=PluginTransport(limits=limits),
    )
    client._cookies = _NoCookies()
    return client


class ClientPool:
    """Long-lived clients, one per (connection, base URL), so connections are reused across calls."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    def get(self, connection_id: str, base_url: str) -> httpx.AsyncClient:
        """The client for ``connection_id`` talking to ``base_url`` (created on first use)."""
        key = (connection_id, base_url)
        client = self._clients.get(key)
        if client is None or client.is_closed:
            client = self._clients[key] = new_client(base_url=base_url, timeout=self.timeout)
        return client

    async def aclose(self) -> None:
        """Close every client (at shutdown)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
