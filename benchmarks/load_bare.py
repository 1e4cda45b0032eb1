"""The baseline: a bare Litestar app answering the same JSON bytes from memory, under uvicorn.

``python benchmarks/load_bare.py BODIES.json PORT``: ``BODIES.json`` maps each path to the exact
body the real server answered for it. The app has no middleware, no guards, no dependencies and
no database; uvicorn runs with the settings ``cashout serve`` uses (host, port, ``log_level``)
except its access log, which counts as production logging and is what the middleware figure
measures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable

import uvicorn
from litestar import Litestar, Response, get
from litestar.handlers import HTTPRouteHandler


def _handler(path: str, body: bytes) -> HTTPRouteHandler:
    async def answer() -> Response[bytes]:
        return Response(content=body, media_type="application/json")

    handler: Callable[[], Awaitable[Response[bytes]]] = answer
    return get(path, name=f"bare{abs(hash(path))}", sync_to_thread=False)(handler)


def create_bare_app(bodies: dict[str, bytes]) -> Litestar:
    """A Litestar app answering ``GET path`` with ``bodies[path]`` for every path."""
    return Litestar(route_handlers=[_handler(path, body) for path, body in bodies.items()], openapi_config=None)


def main(argv: list[str]) -> int:
    """Serve the bodies in ``argv[0]`` (path to JSON text) on 127.0.0.1 port ``argv[1]``."""
    with open(argv[0], encoding="utf-8") as handle:
        bodies = {path: text.encode() for path, text in json.load(handle).items()}
    print("bare app ready", flush=True)
    uvicorn.run(create_bare_app(bodies), host="127.0.0.1", port=int(argv[1]), log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
