"""What every screen shares: the failure message workers post, status-line helpers and a note dialog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from cashout_tui.client import ApiError

__all__ = ["ApiFailed", "FormScreen", "NoteScreen", "Polling", "plural", "show_error", "show_info"]


@dataclass(frozen=True)
class Polling:
    """How screens follow work the server does later, such as a queued delivery.

    They look every ``interval`` seconds, at most ``limit`` times, then stop and say so.

    Attributes:
        interval: seconds between two looks.
        limit: looks before giving up (the person can refresh by hand).
    """

    interval: float = 1.0
    limit: int = 60


class ApiFailed(Message, bubble=False):
    """A server call failed; ``doing`` says what was being done, e.g. ``Could not load items``."""

    def __init__(self, doing: str, error: ApiError) -> None:
        super().__init__()
        self.doing = doing
        self.error = error


def show_error(status: Static, doing: str, error: ApiError) -> str:
    """Show a failed call on a status line.

    Args:
        status: the status line.
        doing: what was being done.
        error: the failure.

    Returns:
        The text shown.
    """
    text = f"{doing}: {error.message}"
    status.update(text)
    status.add_class("error")
    return text


def show_info(status: Static, text: str) -> None:
    """Show a normal message on a status line.

    Args:
        status: the status line.
        text: the message.
    """
    status.update(text)
    status.remove_class("error")


def plural(count: int, word: str) -> str:
    """``1 item``, ``2 items``, ``3 deliveries``.

    Args:
        count: how many.
        word: the singular noun.

    Returns:
        The count and the noun.
    """
    if count == 1:
        return f"{count} {word}"
    if word.endswith("y") and word[-2:-1] not in set("aeiou"):
        return f"{count} {word[:-1]}ies"
    return f"{count} {word}s"


class NoteScreen(ModalScreen[str | None]):
    """Ask for an optional note before a decision; dismisses with the note (maybe empty), or ``None``.

    Args:
        title: what is being decided, e.g. ``Approve: Publish 'Lamp' …``.
        verb: the confirm button's label, e.g. ``Approve``.
        placeholder: the note field's hint.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, verb: str, placeholder: str = "optional note, kept with the decision") -> None:
        super().__init__()
        self.title_text = title
        self.verb = verb
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        """Lay out the dialog."""
        with Vertical(id="note-form", classes="dialog"):
            yield Static(self.title_text, id="note-title", markup=False)
            yield Input(placeholder=self.placeholder, id="note", max_length=1000)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.verb, id="note-ok", variant="primary")
                yield Button("Cancel", id="note-cancel")

    def on_mount(self) -> None:
        """Put the cursor in the note."""
        self.query_one("#note", Input).focus()

    def action_cancel(self) -> None:
        """Close without deciding."""
        self.dismiss(None)

    @on(Input.Submitted, "#note")
    @on(Button.Pressed, "#note-ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#note", Input).value.strip())

    @on(Button.Pressed, "#note-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


_Result = TypeVar("_Result")


class FormScreen(ModalScreen[_Result], Generic[_Result]):
    """A modal form: field errors, submit and cancel keys and buttons, and the server's refusal.

    Subclasses set ``ERROR_ID`` (the status line), ``OK_ID`` and ``CANCEL_ID`` (the buttons) and
    implement ``action_submit``; a failed call posts :class:`ApiFailed` and the form stays open.
    """

    ERROR_ID: ClassVar[str]
    OK_ID: ClassVar[str]
    CANCEL_ID: ClassVar[str]

    def _fail(self, widget_id: str | None, text: str) -> None:
        error = self.query_one(f"#{self.ERROR_ID}", Static)
        error.update(text)
        error.add_class("error")
        for field in self.query(Input):
            field.remove_class("bad")
        if widget_id is not None:
            field = self.query_one(f"#{widget_id}", Input)
            field.add_class("bad")
            field.focus()

    def action_submit(self) -> None:
        """Check the fields and send them (each form does its own)."""
        raise NotImplementedError

    def on_api_failed(self, message: ApiFailed) -> None:
        """Show the server's reason; the form stays open to correct it."""
        self.query_one(f"#{self.OK_ID}", Button).disabled = False
        self._fail(None, f"{message.doing}: {message.error.message}")

    def action_cancel(self) -> None:
        """Close without doing anything."""
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """The form's own buttons submit or cancel."""
        if event.button.id == self.OK_ID:
            event.stop()
            self.action_submit()
        elif event.button.id == self.CANCEL_ID:
            event.stop()
            self.action_cancel()
