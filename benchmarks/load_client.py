"""The load generator: N concurrent keep-alive connections for a fixed time, latency per request.

Run as its own process (``python benchmarks/load_client.py ...``) so that its CPU is not the
server's; prints one JSON object (:class:`LoadResult` fields) on stdout. Connections are spread
over the given base URLs round robin (the replicas of one deployment).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one measurement saw."""

    requests: int
    """Requests answered 200 within the measured window."""
    errors: int
    """Requests that failed or answered anything but 200."""
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    bytes_per_response: int


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    start_at: float,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
    sizes: list[int],
) -> None:
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            return
        try:
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok, body = False, b""
        ended = time.perf_counter()
        if began < start_at:
            continue  # warm-up: connections open, caches warm, nothing recorded
        if ok:
            latencies.append(ended - began)
            if not sizes:
                sizes.append(len(body))
        else:
            errors.append(1)


async def run_load(
    base_urls: list[str], path: str, token: str | None, connections: int, duration: float, warmup: float
) -> LoadResult:
    """Send GET ``path`` over ``connections`` keep-alive connections for ``warmup + duration`` seconds.

    Args:
        base_urls: one per replica; connection ``i`` talks to ``base_urls[i % len(base_urls)]``.
        path: the path (and query) to request.
        token: the bearer token, or ``None`` for a public path.
        connections: concurrent connections (one request in flight on each).
        duration: seconds measured.
        warmup: seconds run first and not recorded.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors: list[int] = []
    sizes: list[int] = []
    timeout = aiohttp.ClientTimeout(total=30)
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, force_close=False),
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        for _ in range(connections)
    ]
    now = time.perf_counter()
    start_at, stop_at = now + warmup, now + warmup + duration
    try:
        await asyncio.gather(
            *(
                _worker(s, base_urls[i % len(base_urls)] + path, headers, start_at, stop_at, latencies, errors, sizes)
                for i, s in enumerate(sessions)
            )
        )
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    measured = max(time.perf_counter() - start_at, 1e-9)
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        errors=len(errors),
        seconds=round(measured, 3),
        rps=len(latencies) / measured,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        bytes_per_response=sizes[0] if sizes else 0,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: run one measurement and print its :class:`LoadResult` as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", action="append", required=True, help="base URL (repeat for replicas)")
    parser.add_argument("--path", required=True)
    parser.add_argument("--token-env", default="", help="name of the environment variable holding the token")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    import os

    token = os.environ.get(args.token_env) if args.token_env else None
    result = asyncio.run(run_load(args.url, args.path, token, args.connections, args.duration, args.warmup))
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
