"""Fan-out: 1,000 publications over 3 fake platforms with 50 ms latency, within declared concurrency limits.

Run: ``.venv/bin/python benchmarks/fanout.py`` (about a minute). The fake platforms run in three
separate processes, so the CPU measured here is the client's alone.

Figures, each against the bound the limits allow (concurrency / latency), for the plugins' client
(httpx over ``PluginTransport``, :mod:`cashout_server.http`) and, as the baseline measured in the
same run, httpx's own connection pool:

* 20 requests in flight per platform (bound 3 x 20 / 0.05 s = 1,200/s): target >= 0.9 of the bound;
* 100 in flight in total (34 + 33 + 33; bound 2,000/s): target >= 0.7 of the bound;
* client CPU per request: target <= 1 ms.

Requests go through the fake platforms' plugin (:class:`FakePlatformPlugin`) exactly as the
delivery worker calls it. A last figure runs the same 1,000 publications through the whole
delivery engine on SQLite (claim, plugin call, outcome recorded per delivery) for information: it
is bounded by the database, not the client.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cashout_server.contract import ConnectionInfo, PluginContext  # noqa: E402
from cashout_server.http import new_client  # noqa: E402
from cashout_server.testing import MemoryState, sample_listing  # noqa: E402
from cashout_server.testing.fakeplatform import FakePlatformPlugin  # noqa: E402

LATENCY = 0.05
TOTAL = 1000
NAMES = ("fake_a", "fake_b", "fake_c")


@contextmanager
def fake_platforms() -> Iterator[list[str]]:
    """Three fake platforms, each in its own process; yields their base URLs."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cashout_server.testing.fakeplatform", "--latency", str(LATENCY)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in NAMES
    ]
    try:
        urls = []
        for proc in procs:
            assert proc.stdout is not None
            urls.append(proc.stdout.readline().strip())
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


Factory = Callable[[str], httpx.AsyncClient]


def httpx_pool(url: str) -> httpx.AsyncClient:
    """The baseline: httpx's own transport and pool (limits raised so they are not the cap)."""
    return httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
    )


def plugin_client(url: str) -> httpx.AsyncClient:
    """What plugins get in production."""
    return new_client(base_url=url, timeout=30)


@dataclass
class Result:
    seconds: float
    cpu_seconds: float
    requests: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / self.requests * 1000


async def fan_out(urls: list[str], limits: list[int], factory: Factory) -> Result:
    """Publish TOTAL listings round-robin over the platforms, each within its limit."""
    plugin = FakePlatformPlugin(list(zip(NAMES, limits, strict=True)))
    clients = [factory(url) for url in urls]
    contexts = [
        PluginContext(
            connection=ConnectionInfo(id=f"con_{name}", platform=name, name=name, settings={}, credentials={}),
            http=client,
            state=MemoryState(),
            save_credentials=_no_save,
            public_base_url="http://127.0.0.1:8000",
            log=__import__("logging").getLogger("bench"),
        )
        for name, client in zip(NAMES, clients, strict=True)
    ]
    gates = [asyncio.Semaphore(limit) for limit in limits]
    listings = [sample_listing(photos=0) for _ in range(TOTAL)]

    async def one(n: int) -> None:
        index = n % len(urls)
        async with gates[index]:
            await plugin.publish(contexts[index], listings[n])

    # Warm the connection pools so connection set-up is not what is measured.
    await asyncio.gather(*(one(n) for n in range(sum(limits))))
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(TOTAL)))
    result = Result(time.perf_counter() - started, time.process_time() - cpu, TOTAL)
    for client in clients:
        await client.aclose()
    return result


async def raw_aiohttp(urls: list[str], limits: list[int]) -> Result:
    """The ceiling this machine allows: the same requests with aiohttp alone, no httpx, no plugin."""
    import aiohttp

    sessions = [aiohttp.ClientSession(base_url=url) for url in urls]
    gates = [asyncio.Semaphore(limit) for limit in limits]

    async def one(n: int) -> None:
        index = n % len(urls)
        async with gates[index], sessions[index].post("/v1/listings", json={"ref": str(n), "title": "t"}) as r:
            await r.json()

    await asyncio.gather(*(one(n) for n in range(sum(limits))))
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(TOTAL)))
    result = Result(time.perf_counter() - started, time.process_time() - cpu, TOTAL)
    for session in sessions:
        await session.close()
    return result


async def _no_save(values: object) -> None:
    return None


async def through_the_engine(urls: list[str], limits: list[int]) -> Result:
    """The same publications through the delivery worker on SQLite (informational)."""
    from cashout_test_support import queue_publications

    from cashout_server.db.migrate import upgrade
    from cashout_server.domain.delivery.worker import DeliveryWorker
    from cashout_server.plugins import create_plugin_manager
    from cashout_server.runtime import build_runtime
    from cashout_server.settings import load_settings

    folder = Path(tempfile.mkdtemp(prefix="cashout-bench-")) / "data"
    folder.mkdir()
    settings = load_settings(server={"data_dir": folder})
    await asyncio.to_thread(upgrade, settings.database_url)
    plugin = FakePlatformPlugin(list(zip(NAMES, limits, strict=True)))
    runtime = build_runtime(settings, registry=create_plugin_manager(load_entrypoints=False, extra=[("fakes", plugin)]))
    try:
        per_platform = TOTAL // len(urls) + 1
        await queue_publications(runtime, list(zip(NAMES, urls, strict=True)), per_platform)
        worker = DeliveryWorker(runtime)
        started, cpu = time.perf_counter(), time.process_time()
        counts = await worker.run_once()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        done = sum(counts.values())
    finally:
        await runtime.close()
    return Result(seconds, cpu_seconds, done)


def main() -> int:
    os.environ.setdefault("CASHOUT_LOG_LEVEL", "WARNING")
    rows: list[tuple[str, str, str, bool | None]] = []
    with fake_platforms() as urls:
        for label, limits, target in (
            ("20 in flight per platform", [20, 20, 20], 0.9),
            ("100 in flight in total", [34, 33, 33], 0.7),
        ):
            bound = sum(limits) / LATENCY
            base = asyncio.run(fan_out(urls, limits, httpx_pool))
            ours = asyncio.run(fan_out(urls, limits, plugin_client))
            rows.append(
                (
                    f"{label}: httpx pool (baseline)",
                    f"{base.per_second:7.0f}/s = {base.per_second / bound:.2f} of bound, {base.cpu_ms:.2f} ms CPU",
                    "-",
                    None,
                )
            )
            rows.append(
                (
                    f"{label}: plugin client",
                    f"{ours.per_second:7.0f}/s = {ours.per_second / bound:.2f} of bound "
                    f"({ours.per_second / base.per_second:.1f}x baseline)",
                    f">= {target} of {bound:.0f}/s",
                    ours.per_second / bound >= target,
                )
            )
            rows.append((f"{label}: client CPU per request", f"{ours.cpu_ms:.2f} ms", "<= 1 ms", ours.cpu_ms <= 1.0))
            ceiling = asyncio.run(raw_aiohttp(urls, limits))
            rows.append(
                (
                    f"{label}: aiohttp alone (machine ceiling)",
                    f"{ceiling.per_second:7.0f}/s = {ceiling.per_second / bound:.2f} of bound, "
                    f"{ceiling.cpu_ms:.2f} ms CPU",
                    "(information)",
                    None,
                )
            )
        engine = asyncio.run(through_the_engine(urls, [20, 20, 20]))
        rows.append(
            (
                "whole delivery engine, SQLite, 20 per platform",
                f"{engine.per_second:7.0f}/s = {engine.per_second / (60 / LATENCY):.2f} of bound, "
                f"{engine.cpu_ms:.1f} ms CPU per delivery",
                "(information)",
                None,
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'measured':<62}  {'target':<22}  result")
    failed = False
    for name, measured, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        failed = failed or ok is False
        print(f"{name:<{width}}  {measured:<62}  {target:<22}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
