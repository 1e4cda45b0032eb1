"""Helpers for driving the TUI with Textual's pilot and reading what a person sees."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerCancelled

from cashout_tui.app import CashoutApp, ItemScreen, ItemsScreen
from cashout_tui.client import CashoutClient
from cashout_tui.common import Polling

SIZE = (160, 60)
FAST = Polling(interval=0.1, limit=100)
"""Follow deliveries quickly in tests (bounded at about ten seconds)."""


def make_app(client: CashoutClient) -> CashoutApp:
    return CashoutApp(client, polling=FAST)


def text_of(widget: Static) -> str:
    return str(widget.render())


def column(table: DataTable, key: str) -> list[str]:
    return [str(table.get_cell(row.key, key)) for row in table.ordered_rows]


def screen_text(pilot: Pilot[None], selector: str) -> str:
    return text_of(pilot.app.screen.query_one(selector, Static))


async def settle(pilot: Pilot[None]) -> None:
    """Let every worker finish and every message it posted be handled (including follow-up workers)."""
    for _ in range(20):
        with contextlib.suppress(WorkerCancelled):  # an exclusive worker replaced by a newer one
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            return
    raise AssertionError("workers kept running")


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Wait (while the app keeps running) until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    await pilot.click(selector)
    widget = pilot.app.screen.query_one(selector, Input)
    assert widget.has_focus
    await pilot.press(*text)


async def open_first_item(pilot: Pilot[None]) -> ItemScreen:
    await settle(pilot)
    assert isinstance(pilot.app.screen, ItemsScreen)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ItemScreen)
    return pilot.app.screen
