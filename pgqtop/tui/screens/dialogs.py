"""Small modal dialogs: confirm with the exact consequence, pick a duration, type a line."""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label

from pgqtop.model import is_reserved_name
from pgqtop.tui.format import literal, literal_block

Answer = TypeVar("Answer")


class Dialog(ModalScreen[Answer | None]):
    """A small box in the middle of the console; Escape closes it with no answer (None)."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 64; height: auto; padding: 1 2; border: thick $warning; background: $surface;
    }
    Dialog Horizontal { height: auto; margin-top: 1; }
    Dialog Button { margin-right: 2; }
    Dialog Label { width: 100%; }
    Dialog .field { margin-top: 1; color: $text-muted; }
    Dialog .hint { margin-top: 1; color: $text-muted; }
    Dialog #problem { color: $text-error; }
    Dialog Input { border: tall $foreground 35%; }
    Dialog Input:focus { border: tall $accent; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(Dialog[bool]):
    """Nothing destructive happens unless the operator presses `y` (or the button)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal_block(self.question), id="question")
            with Horizontal():
                yield Button(literal(f"{self.yes} (y)"), variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ChoiceScreen(Dialog[float]):
    """Pick one of a few labelled values, by its number key or button."""

    def __init__(self, question: str, choices: list[tuple[str, float]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal_block(self.question), id="question")
            with Horizontal():
                for index, (label, _) in enumerate(self.choices, start=1):
                    yield Button(literal(f"{label} ({index})"), id=f"choice-{index}")

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key.isdigit() and 1 <= int(key) <= len(self.choices):
            self.dismiss(self.choices[int(key) - 1][1])

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        index = int(str(event.button.id).removeprefix("choice-"))
        self.dismiss(self.choices[index - 1][1])


class PromptScreen(Dialog[str]):
    """One line of text; Enter accepts, Escape cancels."""

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(literal_block(self.question), id="question")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


class EnqueueScreen(Dialog[tuple[str, str, int]]):
    """The enqueue form: entrypoint, payload text, priority, each labelled; Enter in any
    field submits, and a value the job cannot take is refused with a line saying why."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "app.focus_next", "Next field"),
    ]

    def __init__(self, entrypoint: str = "") -> None:
        super().__init__()
        self.entrypoint = entrypoint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Enqueue a job", id="question")
            yield Label("Entrypoint", classes="field")
            yield Input(value=self.entrypoint, placeholder="entrypoint", id="entrypoint")
            yield Label("Payload (JSON or text, may be empty)", classes="field")
            yield Input(placeholder='e.g. {"to": "a@b.c"}', id="payload")
            yield Label("Priority (a whole number; higher runs first)", classes="field")
            yield Input(value="0", placeholder="0", id="priority")
            yield Label("", id="problem")
            yield Label("Enter submits · Tab next field · Esc cancels", classes="hint")
        yield Footer()

    @on(Input.Submitted)
    def submitted(self) -> None:
        entrypoint = self.query_one("#entrypoint", Input).value.strip()
        payload = self.query_one("#payload", Input).value
        priority_text = self.query_one("#priority", Input).value.strip() or "0"
        problem = self.query_one("#problem", Label)
        if is_reserved_name(entrypoint):
            problem.update("an entrypoint name is required")
            self.query_one("#entrypoint", Input).focus()
            return
        try:
            priority = int(priority_text)
        except ValueError:
            problem.update(literal(f"priority must be a whole number, not {priority_text!r}"))
            self.query_one("#priority", Input).focus()
            return
        self.dismiss((entrypoint, payload, priority))
