"""The approvals queue with drafted replies shown in their conversation.

:class:`ApprovalsQueueScreen` is the outbox's :class:`~cashout_tui.outbox.ApprovalsScreen` (same
filters, keys and note dialog) plus, for ``reply`` approvals, which lead they answer: the buyer,
the item, the score, the buyer's newest message and the full draft. Enter (or ``l``) opens the
lead, where the draft can be edited before it is approved.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Select, Static

from cashout_tui.client import ApiError, Approval, CashoutClient, Lead, LeadMessage
from cashout_tui.common import ApiFailed, Polling, show_info
from cashout_tui.formatting import relative_time
from cashout_tui.inbox import LeadScreen
from cashout_tui.outbox import ApprovalsLoaded, ApprovalsScreen

__all__ = ["ApprovalsQueueScreen", "ReplyContext", "reply_contexts"]

REPLY_ACTION = "reply"
MAX_LEADS = 200
"""Leads looked at to find which conversation each waiting reply belongs to."""
_PARALLEL = 4


@dataclass(frozen=True)
class ReplyContext:
    """The conversation a waiting reply belongs to.

    Attributes:
        lead: the lead, with its messages.
        message: our drafted reply the approval is about.
        item_title: the title of the item the lead is about, when linked.
    """

    lead: Lead
    message: LeadMessage
    item_title: str | None = None

    @property
    def buyer_said(self) -> LeadMessage | None:
        """The buyer's newest message before the draft."""
        inbound = [m for m in self.lead.get("messages") or [] if m["direction"] == "in"]
        return inbound[-1] if inbound else None


async def reply_contexts(client: CashoutClient, approvals: list[Approval]) -> dict[str, ReplyContext]:
    """Find the lead and drafted message of each waiting reply approval.

    Leads with a reply waiting are fetched with their messages (a few at a time); each waiting
    message names its approval.

    Args:
        client: the API client.
        approvals: the approvals shown.

    Returns:
        Approval id to its conversation, for the pending reply approvals found.
    """
    wanted = {a["id"] for a in approvals if a["action"] == REPLY_ACTION and a["status"] == "pending"}
    if not wanted:
        return {}
    leads = await client.all_leads(needs_approval=True, max_rows=MAX_LEADS)
    gate = asyncio.Semaphore(_PARALLEL)

    async def detail(lead_id: str) -> Lead:
        async with gate:
            return await client.get_lead(lead_id)

    async def title(item_id: str) -> str:
        async with gate:
            return (await client.get_item(item_id))["title"]

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(detail(lead["id"])) for lead in leads]
    item_ids = {lead["item_id"] for lead in leads if lead["item_id"]}
    async with asyncio.TaskGroup() as group:
        titles = {item_id: group.create_task(title(item_id)) for item_id in item_ids}
    found: dict[str, ReplyContext] = {}
    for task in tasks:
        lead = task.result()
        item_title = titles[lead["item_id"]].result() if lead["item_id"] in titles else None
        for message in lead.get("messages") or []:
            approval_id = message.get("approval_id")
            if approval_id in wanted:
                found[approval_id] = ReplyContext(lead, message, item_title)
    return found


class RepliesLoaded(Message, bubble=False):
    """The approvals arrived, with the conversations of the waiting replies."""

    def __init__(self, approvals: list[Approval], contexts: dict[str, ReplyContext]) -> None:
        super().__init__()
        self.approvals = approvals
        self.contexts = contexts


def _lead_cell(context: ReplyContext | None) -> str:
    if context is None:
        return ""
    lead = context.lead
    about = f" · {context.item_title}" if context.item_title else ""
    return f"{lead.get('buyer_name') or 'buyer'}{about} · score {lead['score']} · {lead['state']}"


def _reply_detail(approval: Approval, context: ReplyContext) -> str:
    lead = context.lead
    about = context.item_title or lead.get("subject") or "an item not linked yet"
    lines = [
        f"Reply to {lead.get('buyer_name') or 'a buyer'} on {lead['platform']} about {about}",
        f"Lead {lead['id']}: score {lead['score']}, {lead['state']}"
        + (f", intent {lead['intent']}" if lead.get("intent") else "")
        + (" — ⚠ flagged: " + ", ".join(lead["flags"]) if lead.get("flags") else ""),
    ]
    said = context.buyer_said
    if said is not None:
        lines.append("")
        lines.append(f"Buyer ({relative_time(said['sent_at'])}): {said['body']}")
    by = f" (written by {context.message['generated_by']})" if context.message.get("generated_by") else ""
    lines.append("")
    lines.append(f"Draft{by}: {context.message['body']}")
    lines.append("")
    lines.append(f"Asked {relative_time(approval['created_at'])}; {approval['status']}")
    lines.append(
        "Press a to approve (it is sent next), x to reject (it is discarded), "
        "enter to open the conversation and edit the draft."
    )
    return "\n".join(lines)


class ApprovalsQueueScreen(ApprovalsScreen):
    """Changes waiting for a person; drafted replies are shown with their conversation.

    Args:
        client: the API client.
        status: the filter to start with: ``pending``, ``approved``, ``rejected`` or ``all``.
        polling: how an opened lead follows replies on their way.
    """

    BINDINGS = [Binding("l", "open_lead", "Open lead")]

    def __init__(self, client: CashoutClient, status: str = "pending", polling: Polling | None = None) -> None:
        super().__init__(client, status)
        self.polling = polling or Polling()
        self.contexts: dict[str, ReplyContext] = {}
        self._lead_opened = False

    def on_mount(self) -> None:
        """Add the lead column and give the table the keys (enter opens a reply's lead).

        Textual runs this before the base screen's ``on_mount`` (which adds the other columns and
        starts loading), so the lead comes first, where a long summary cannot push it off screen.
        """
        table = self.query_one("#approvals", DataTable)
        table.add_column("Lead", key="lead")
        table.focus()

    @work(exclusive=True, group="load")
    async def load_approvals(self) -> None:
        """Fetch the approvals with the chosen status and the conversations of waiting replies (in a worker)."""
        show_info(self.query_one("#status", Static), "Loading approvals…")
        value = self.query_one("#approval-filter", Select).value
        try:
            approvals = await self.client.all_approvals(status=value if isinstance(value, str) else "pending")
        except ApiError as exc:
            self.post_message(ApiFailed("Could not load approvals", exc))
            return
        contexts: dict[str, ReplyContext]
        try:
            contexts = await reply_contexts(self.client, approvals)
        except* ApiError:
            # The approvals are still worth showing without their conversations.
            contexts = {}
        self.post_message(RepliesLoaded(approvals, contexts))

    def on_replies_loaded(self, message: RepliesLoaded) -> None:
        """Show the approvals, replies with their lead."""
        self.contexts = message.contexts
        self.on_approvals_loaded(ApprovalsLoaded(message.approvals))

    def _upsert(self, approval: Approval) -> None:
        # The base screen adds rows by position; with the lead column first, cells go by column key.
        table = self.query_one("#approvals", DataTable)
        cells = {
            "lead": _lead_cell(self.contexts.get(approval["id"])),
            "summary": approval["summary"],
            "action": approval["action"],
            "platform": approval["platform"],
            "status": approval["status"],
            "asked": relative_time(approval["created_at"]),
            "note": approval["note"],
        }
        if approval["id"] in self.approvals:
            for key, value in cells.items():
                table.update_cell(approval["id"], key, value, update_width=True)
        else:
            table.add_row(*(cells.get(str(c.key.value), "") for c in table.ordered_columns), key=approval["id"])
        self.approvals[approval["id"]] = approval

    def _show_selected(self) -> None:
        approval_id = self._current_id()
        context = self.contexts.get(approval_id) if approval_id is not None else None
        if approval_id is None or context is None or self.approvals[approval_id]["status"] != "pending":
            super()._show_selected()
            return
        self.query_one("#approval-detail", Static).update(_reply_detail(self.approvals[approval_id], context))

    def action_open_lead(self) -> None:
        """Open the conversation of the selected reply."""
        approval_id = self._current_id()
        context = self.contexts.get(approval_id) if approval_id is not None else None
        if context is None:
            self._warn("Only a waiting reply has a conversation to open.")
            return
        self._lead_opened = True
        self.app.push_screen(LeadScreen(self.client, context.lead["id"], self.polling))

    @on(DataTable.RowSelected, "#approvals")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value in self.contexts:
            self.action_open_lead()

    def on_screen_resume(self) -> None:
        """Reload when coming back from a lead (its reply may have been decided there)."""
        # Not after the note dialog: that reload could race the decision it was opened for.
        if self._lead_opened:
            self._lead_opened = False
            self.load_approvals()
