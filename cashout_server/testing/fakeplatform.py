"""A fake platform for testing delivery under faults: a real HTTP server on loopback, and its plugin.

The server behaves like the worst kind of real platform: it has **no idempotency** (every create
it receives makes a new posting), it answers slowly, it throttles, it fails, and it can apply a
create and then stall past the client's timeout. It records every mutating call with the
idempotency key it carried, so a test can count duplicates and losses exactly.

    with FakePlatformServer(faults=Faults(latency=0.05, hang_after_commit=0.1), seed=7) as fake:
        ...  # point a connection's base_url at fake.url
        assert fake.duplicates() == {}

:class:`FakePlatformPlugin` is the cashout plugin that speaks to it, written against the public
plugin surface only, the way a third-party plugin would be. ``python -m
cashout_server.testing.fakeplatform --port 9000`` runs a server standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from cashout_server import (
    Absent,
    Capability,
    Delisted,
    ListingLimits,
    ListingRequest,
    PlatformDescriptor,
    PluginContext,
    Published,
    RateLimit,
    RateLimited,
    Rejected,
    TransientError,
    hookimpl,
    parse_retry_after,
    transport_error,
)
from cashout_server.testing.loopback import LoopbackServer

__all__ = ["FakePlatformPlugin", "FakePlatformServer", "Faults", "Mutation", "Posting"]


@dataclass
class Faults:
    """What goes wrong, and how often (probabilities are per request, drawn from a seeded RNG)."""

    latency: float = 0.0
    """Seconds every request takes."""
    rate_429: float = 0.0
    """Share of creates answered ``429`` with ``Retry-After`` (nothing applied)."""
    rate_503: float = 0.0
    """Share of creates answered ``503`` (nothing applied)."""
    hang_after_commit: float = 0.0
    """Share of creates applied and then left hanging for ``hang_seconds`` before answering."""
    hang_seconds: float = 30.0
    retry_after: int = 1
    """Seconds in the ``Retry-After`` of a 429."""
    max_concurrency: int | None = None
    """Answer ``429`` to requests beyond this many in flight (a platform enforcing its limit)."""


@dataclass
class Posting:
    """One posting the platform holds."""

    id: str
    ref: str
    title: str
    price: int
    deleted: bool = False


@dataclass
class Mutation:
    """One mutating request: what it was, the key it carried, and what the platform did."""

    method: str
    path: str
    key: str
    at: float
    result: str
    """``created``, ``hung`` (created, answer stalled), ``429``, ``503``, ``updated``, ``deleted``, ``404``."""


@dataclass
class FakePlatformServer(LoopbackServer):
    """The fake platform on ``127.0.0.1``, served from its own thread and event loop."""

    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    name: str = "fake"
    postings: dict[str, Posting] = field(default_factory=dict)
    mutations: list[Mutation] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _rng: random.Random = field(init=False)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self.thread_name = f"fake-{self.name}"
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible fault draws, not secrets

    @property
    def url(self) -> str:
        """The base URL to give a connection."""
        return f"http://127.0.0.1:{self.port}"

    # --- what tests read ------------------------------------------------------------------

    def creates_by_key(self) -> Counter[str]:
        """How many postings each idempotency key produced."""
        return Counter(m.key for m in self.mutations if m.result in ("created", "hung"))

    def duplicates(self) -> dict[str, int]:
        """Keys that produced more than one posting (must stay empty)."""
        return {key: n for key, n in self.creates_by_key().items() if n > 1}

    def live(self) -> dict[str, Posting]:
        """Postings not deleted, by their ref."""
        return {p.ref: p for p in self.postings.values() if not p.deleted}

    # --- lifecycle ------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The routes of this fake."""
        app = web.Application(middlewares=[self._count])
        app.router.add_post("/v1/listings", self._create)
        app.router.add_get("/v1/listings", self._find)
        app.router.add_patch("/v1/listings/{id}", self._update)
        app.router.add_delete("/v1/listings/{id}", self._delete)
        return app

    # --- the platform ---------------------------------------------------------------------

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            limit = self.faults.max_concurrency
            if limit is not None and self.in_flight > limit:
                self._record(request, "", "429")
                return self._error(429, "too many requests in flight", retry_after=self.faults.retry_after)
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            self.in_flight -= 1

    def _record(self, request: web.Request, key: str, result: str) -> None:
        if request.method != "GET":
            self.mutations.append(Mutation(request.method, request.path, key, time.monotonic(), result))

    @staticmethod
    def _error(status: int, detail: str, *, retry_after: int | None = None) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return web.json_response({"error": {"status": status, "detail": detail}}, status=status, headers=headers)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = str(body.get("ref") or request.headers.get("Idempotency-Key") or "")
        if not body.get("title"):
            self._record(request, key, "400")
            return self._error(400, "title is required")
        draw = self._rng.random()
        if draw < self.faults.rate_429:
            self._record(request, key, "429")
            return self._error(429, "slow down", retry_after=self.faults.retry_after)
        if draw < self.faults.rate_429 + self.faults.rate_503:
            self._record(request, key, "503")
            return self._error(503, "temporarily unavailable")
        hang = self._rng.random() < self.faults.hang_after_commit
        posting = Posting(
            id=f"{self.name}-{next(self._ids)}", ref=key, title=str(body["title"]), price=int(body.get("price", 0))
        )
        self.postings[posting.id] = posting
        self._record(request, key, "hung" if hang else "created")
        if hang:
            await asyncio.sleep(self.faults.hang_seconds)
        return web.json_response(
            {"id": posting.id, "url": f"{self.url}/p/{posting.id}"},
            status=201,
            headers={"Location": f"/v1/listings/{posting.id}"},
        )

    async def _find(self, request: web.Request) -> web.Response:
        ref = request.query.get("ref", "")
        found = [
            {"id": p.id, "url": f"{self.url}/p/{p.id}", "ref": p.ref}
            for p in self.postings.values()
            if p.ref == ref and not p.deleted
        ]
        return web.json_response({"data": found})

    async def _update(self, request: web.Request) -> web.Response:
        posting = self.postings.get(request.match_info["id"])
        if posting is None or posting.deleted:
            self._record(request, "", "404")
            return self._error(404, "no such listing")
        body = await request.json()
        posting.title = str(body.get("title", posting.title))
        posting.price = int(body.get("price", posting.price))
        self._record(request, posting.ref, "updated")
        return web.json_response({"id": posting.id, "url": f"{self.url}/p/{posting.id}"})

    async def _delete(self, request: web.Request) -> web.Response:
        posting = self.postings.get(request.match_info["id"])
        if posting is None or posting.deleted:
            self._record(request, "", "404")
            return self._error(404, "no such listing")
        posting.deleted = True
        self._record(request, posting.ref, "deleted")
        return web.Response(status=204)


class FakePlatformPlugin:
    """The cashout plugin for :class:`FakePlatformServer`, serving one or more platform names.

    Args:
        platforms: ``(name, max_concurrency)`` for each platform it declares.
        requests_per_minute: the declared rate (``None``: unlimited).
    """

    def __init__(self, platforms: Sequence[tuple[str, int]] = (("fake", 4),), requests_per_minute: int | None = None):
        self._platforms = tuple(platforms)
        self._rpm = requests_per_minute

    @hookimpl
    def platforms(self) -> list[PlatformDescriptor]:
        """One descriptor per configured platform name."""
        return [
            PlatformDescriptor(
                name=name,
                display_name=f"Fake {name}",
                capabilities=frozenset({Capability.PUBLISH, Capability.UPDATE, Capability.DELIST}),
                limits=ListingLimits(title_max=200),
                rate_limit=RateLimit(max_concurrency=concurrency, requests_per_minute=self._rpm),
                default_base_url="http://127.0.0.1:9",
                description="A fault-injecting fake platform for tests and benchmarks.",
            )
            for name, concurrency in self._platforms
        ]

    @staticmethod
    def _raise_for(response: httpx.Response, *, mutating: bool) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = response.text[:200]
        if status == 429:
            raise RateLimited(detail, retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status == 503 or (status >= 500 and not mutating):
            raise TransientError(detail, retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise TransientError(detail)
        raise _Refused(Rejected(reason=f"HTTP {status}: {detail}"))

    async def _call(
        self, ctx: PluginContext, method: str, url: str, *, mutating: bool, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await ctx.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise transport_error(exc, platform=ctx.connection.platform, mutating=mutating) from exc
        self._raise_for(response, mutating=mutating)
        return response

    @hookimpl
    async def publish(self, ctx: PluginContext, listing: ListingRequest) -> Published | Rejected:
        """Create the posting (the platform itself does not deduplicate)."""
        body = {"ref": listing.idempotency_key, "title": listing.item.title, "price": listing.item.price.amount_minor}
        try:
            response = await self._call(ctx, "POST", "/v1/listings", mutating=True, json=body)
        except _Refused as refused:
            return refused.outcome
        data = response.json()
        return Published(external_id=str(data["id"]), url=str(data["url"]))

    @hookimpl
    async def check_status(self, ctx: PluginContext, listing: ListingRequest) -> Published | Absent:
        """Look the posting up by the idempotency key it was created with."""
        response = await self._call(ctx, "GET", "/v1/listings", mutating=False, params={"ref": listing.idempotency_key})
        found = response.json()["data"]
        if not found:
            return Absent(detail="no posting carries this key")
        return Published(external_id=str(found[0]["id"]), url=str(found[0]["url"]))

    @hookimpl
    async def update_listing(self, ctx: PluginContext, listing: ListingRequest) -> Published | Rejected:
        """Change the posting's title and price."""
        body = {"title": listing.item.title, "price": listing.item.price.amount_minor}
        try:
            response = await self._call(ctx, "PATCH", f"/v1/listings/{listing.external_id}", mutating=True, json=body)
        except _Refused as refused:
            return refused.outcome
        data = response.json()
        return Published(external_id=str(data["id"]), url=str(data["url"]))

    @hookimpl
    async def delist(self, ctx: PluginContext, listing: ListingRequest) -> Delisted | Rejected:
        """Delete the posting; one already gone counts as delisted."""
        try:
            await self._call(ctx, "DELETE", f"/v1/listings/{listing.external_id}", mutating=True)
        except _Refused as refused:
            if "HTTP 404" in refused.outcome.reason:
                return Delisted(external_id=listing.external_id)
            return refused.outcome
        return Delisted(external_id=listing.external_id)


class _Refused(Exception):
    def __init__(self, outcome: Rejected) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def main(argv: Sequence[str] | None = None) -> None:
    """Run one fake platform until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    server = FakePlatformServer(faults=Faults(latency=args.latency, max_concurrency=args.max_concurrency))
    server.start(args.port)
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
