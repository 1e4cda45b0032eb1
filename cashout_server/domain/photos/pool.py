"""The process pool photo work runs in, so Pillow never blocks the API's event loop.

Decoding and resizing are CPU-bound and hold the GIL for long stretches; in threads they would
stall every request. Workers are started with ``forkserver``: the server process runs an event loop
and threads (database drivers, the scheduler), and forking such a process can copy a lock that is
held at that moment. The forkserver imports the photo modules once, so a new worker starts fast.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("cashout.photos")

_PRELOAD = ["cashout_server.domain.photos.store", "cashout_server.domain.photos.variants"]


def _exit_with_parent() -> None:
    """Worker initializer: end this worker when the process that started the pool ends.

    A worker blocks reading its task queue, which it holds both ends of, so it would outlive a
    server that exits without shutting the pool down (killed, or a caller that never closes its
    runtime), and keep the forkserver alive with it.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - only when called outside a worker
        return

    def watch() -> None:
        parent.join()
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class PhotoWorkerCrashed(RuntimeError):
    """A photo worker process died (killed, out of memory, or a decoder crash); the pool restarts."""


class PhotoPool:
    """A lazily started :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether worker processes have been started."""
        return self._executor is not None

    def executor(self) -> ProcessPoolExecutor:
        """The executor, started on first use."""
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_PRELOAD)
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=_exit_with_parent
                )
            return self._executor

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Run ``fn(*args)`` in a worker process and return its result.

        ``fn`` must be a top-level function and ``args`` picklable. Exceptions raised by ``fn``
        are raised here.

        Raises:
            PhotoWorkerCrashed: the worker died; the pool is replaced for the next call.
        """
        executor = self.executor()
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            # A broken pool fails its pending futures itself; cancelling them too races with that.
            executor.shutdown(wait=False)
            log.error("a photo worker process died; starting a new pool")
            raise PhotoWorkerCrashed("the photo worker stopped unexpectedly; try again") from None

    async def close(self) -> None:
        """Stop the workers (waiting for running tasks, dropping queued ones)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
