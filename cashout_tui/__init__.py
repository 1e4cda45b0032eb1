"""cashout_tui: a terminal interface for a cashout server.

It talks to the server only over its REST API (see :mod:`cashout_tui.client`), so it runs
against a local or remote server alike. Start it with ``cashout tui`` or ``python -m cashout_tui``;
the server URL and API token come from arguments, the ``CASHOUT_URL`` / ``CASHOUT_TOKEN``
environment variables or ``~/.config/cashout/tui.toml`` (see :mod:`cashout_tui.config`).
"""

from __future__ import annotations

__all__: list[str] = []
