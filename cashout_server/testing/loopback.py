"""The one way fakes serve on ``127.0.0.1`` from a background thread.

Fakes built on aiohttp mix in :class:`LoopbackServer` and say only what they serve
(:meth:`LoopbackServer.build_app`); fakes built on the standard library's ``http.server`` (a
handler class that can block, for hung answers) mix in :class:`ThreadedHTTPFake` and name their
handler. Starting, binding a free port and stopping cleanly are done here once.
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiohttp import web


class LoopbackServer:
    """Mixin: ``start()``/``stop()`` (or ``with``) serve :meth:`build_app` on a free loopback port.

    Subclasses (usually dataclasses) declare ``port: int = 0`` and ``_loop``, ``_thread`` and
    ``_runner`` defaulting to ``None``.
    """

    thread_name = "fake"
    """Name of the serving thread (shows in thread dumps)."""
    port: int
    _loop: asyncio.AbstractEventLoop | None
    _thread: threading.Thread | None
    _runner: web.AppRunner | None

    def build_app(self) -> web.Application:
        """The application to serve (called in the server's own event loop)."""
        raise NotImplementedError

    def before_stop(self) -> None:
        """Called in the server's event loop before it shuts down (release hung answers)."""

    def start(self, port: int = 0) -> Self:
        """Start serving in a background thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(port))
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"{type(self).__name__} did not start") from (failure[0] if failure else None)
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self.before_stop)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, port: int) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server: Any = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose request threads never outlive it and that prints no errors."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is part of the tests, not an error to print."""


class ThreadedHTTPFake:
    """Mixin for ``http.server`` fakes: ``start()``/``stop()`` and ``url``.

    Subclasses (usually dataclasses) declare ``_server`` and ``_thread`` defaulting to ``None``
    and ``_stopping`` (a ``threading.Event`` set on stop, to cut delayed answers short), and
    return their handler class from :meth:`handler_class`; each handler instance finds the fake
    as ``self.fake``.
    """

    thread_name = "fake"
    """Name of the serving thread (shows in thread dumps)."""
    _server: ThreadingHTTPServer | None
    _thread: threading.Thread | None
    _stopping: threading.Event

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class to serve with."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve in a background thread (port 0 picks a free port)."""
        handler = type("Handler", (self.handler_class(),), {"fake": self})
        self._server = QuietHTTPServer((host, port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed answers and close the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
