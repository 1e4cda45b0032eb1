"""The one way fakes serve: an aiohttp application on ``127.0.0.1`` from a background thread.

Every fake server in :mod:`cashout_server.testing` (and plugin authors' own) mixes this in and
says only what it serves (:meth:`LoopbackServer.build_app`); starting, binding a free port and
stopping cleanly are done here once.
"""

from __future__ import annotations

import asyncio
import threading
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
