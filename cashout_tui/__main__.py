"""Start the TUI: ``python -m cashout_tui [--url URL] [--token TOKEN]`` (or ``cashout tui``)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from cashout_tui.app import CashoutApp
from cashout_tui.client import CashoutClient
from cashout_tui.config import ConfigError, load_config

__all__ = ["main", "run"]


async def _serve(url: str, token: str) -> None:
    async with CashoutClient(url, token) as client:
        await CashoutApp(client).run_async()


def run(url: str | None = None, token: str | None = None) -> None:
    """Resolve the configuration and run the TUI until the person quits.

    Args:
        url: the server URL (else ``$CASHOUT_URL``, the config file, or ``http://127.0.0.1:8000``).
        token: the API token (else ``$CASHOUT_TOKEN`` or the config file).

    Raises:
        SystemExit: the configuration is unusable (the message says why).
    """
    try:
        config = load_config(url, token)
    except ConfigError as exc:
        raise SystemExit(f"cashout tui: {exc}") from None
    asyncio.run(_serve(config.url, config.token))


def main(argv: Sequence[str] | None = None) -> None:
    """The ``python -m cashout_tui`` command line.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m cashout_tui", description="A terminal UI for a cashout server.")
    parser.add_argument("--url", help="server URL (default $CASHOUT_URL, the config file, or http://127.0.0.1:8000)")
    parser.add_argument("--token", help="API token (default $CASHOUT_TOKEN or the config file)")
    args = parser.parse_args(argv)
    run(url=args.url, token=args.token)


if __name__ == "__main__":
    main()
