"""The plugins' HTTP client tells "never sent" from "maybe applied", against real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from cashout_server import OutcomeUnknown, TransientError, transport_error
from cashout_server.http import ClientPool, new_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    writers: list[asyncio.StreamWriter] = []
    tasks: list[asyncio.Task[None]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)  # type: ignore[arg-type]
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


@pytest.fixture
async def hangs_after_reading() -> AsyncIterator[str]:
    """A platform that applies the request, then never answers."""
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await _read_request(reader))
        await asyncio.sleep(30)

    async for url in _serve(handler):
        yield url


@pytest.fixture
async def resets_after_reading() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    async for url in _serve(handler):
        yield url


@pytest.fixture
async def stalls_mid_body() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{"id":')
        await writer.drain()
        await asyncio.sleep(30)

    async for url in _serve(handler):
        yield url


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _post(base_url: str) -> Exception:
    async with new_client(base_url=base_url, timeout=0.5) as http:
        try:
            await http.post("/items", json={"title": "chair"})
        except httpx.HTTPError as exc:
            return exc
    raise AssertionError("the request should have failed")


async def test_connection_refused_is_never_sent_so_safe_to_retry() -> None:
    exc = await _post(_closed_port())
    assert isinstance(exc, httpx.ConnectError)
    assert isinstance(transport_error(exc, platform="P", mutating=True), TransientError)


async def test_a_hang_after_the_request_was_read_may_have_been_applied(hangs_after_reading: str) -> None:
    exc = await _post(hangs_after_reading)
    assert isinstance(exc, httpx.ReadTimeout)
    assert isinstance(transport_error(exc, platform="P", mutating=True), OutcomeUnknown)


async def test_a_reset_after_the_request_was_read_may_have_been_applied(resets_after_reading: str) -> None:
    exc = await _post(resets_after_reading)
    # httpx-aiohttp alone reports this as ConnectTimeout, which would make a plugin re-send.
    assert not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    assert isinstance(transport_error(exc, platform="P", mutating=True), OutcomeUnknown)


async def test_a_stall_inside_the_answer_may_have_been_applied(stalls_mid_body: str) -> None:
    exc = await _post(stalls_mid_body)
    assert isinstance(exc, httpx.ReadTimeout)
    assert isinstance(transport_error(exc, platform="P", mutating=True), OutcomeUnknown)


async def test_pool_keeps_one_client_per_connection_and_base_url() -> None:
    pool = ClientPool(timeout=1.0)
    first = pool.get("con_a", "http://127.0.0.1:1")
    assert pool.get("con_a", "http://127.0.0.1:1") is first
    assert pool.get("con_b", "http://127.0.0.1:1") is not first
    assert pool.get("con_a", "http://127.0.0.1:2") is not first
    await pool.aclose()
    assert first.is_closed


@pytest.fixture
async def sets_cookies() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            echo = b"yes" if b"cookie:" in request.lower() else b"no"
            writer.write(
                b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: "
                + str(len(echo)).encode()
                + b"\r\n\r\n"
                + echo
            )
            await writer.drain()

    async for url in _serve(handler):
        yield url


async def test_the_plugin_client_keeps_no_cookies_between_requests(sets_cookies: str) -> None:
    async with new_client(base_url=sets_cookies, timeout=2) as http:
        first = await http.get("/a")
        second = await http.get("/b")
    assert first.headers["set-cookie"].startswith("session=")
    assert second.text == "no", "a platform's session cookie never rides along on the next call"
