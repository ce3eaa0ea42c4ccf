"""The settings panel: model, system prompt and sampling for this chat, optionally as default.

Every field is checked as it is typed, with the same limits as config.toml; invalid values are
flagged beside the field and the panel will not apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, TextArea

from chattui.sampling import SAMPLING_LIMITS, Limit
from chattui.terminal_text import printable

CONTEXT_LIMIT = Limit(int, 256, 1_048_576)
FIELDS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the panel edits."""

    model: str
    system_prompt: str
    sampling: dict[str, int | float | None]
    """Each of FIELDS; None means "default"."""
    context_size: int | None
    role: str = ""
    """Name of the role the chat follows ("" for none)."""
    save_as_default: bool = False


class SettingsScreen(ModalScreen[Settings | None]):
    """Edit the chat's settings; dismisses with the new settings, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(
        self,
        current: Settings,
        models: list[tuple[str, str]],
        roles: list[tuple[str, str]] | None = None,
    ) -> None:
        """Edit ``current``; ``models`` are (id, label), ``roles`` (name, description)."""
        super().__init__()
        self.current = current
        self.models = models
        self.roles = roles or []

    def compose(self) -> ComposeResult:
        """One row per setting."""
        choices = [(Text(printable(label)), mid) for mid, label in self.models]
        with VerticalScroll(classes="dialog settings"):
            yield Label("Model")
            yield Select(choices, value=self.current.model, allow_blank=False, id="model")
            yield Label("Role")
            role_choices = [
                (Text("none"), ""),
                *((Text(printable(f"{n}: {d}")), n) for n, d in self.roles),
            ]
            role = self.current.role if self.current.role in {n for _, n in role_choices} else ""
            yield Select(role_choices, value=role, allow_blank=False, id="role")
            yield Label("System prompt")
            yield TextArea(self.current.system_prompt, id="system_prompt")
            for name in FIELDS:
                value = self.current.sampling.get(name)
                yield Label(name.replace("_", " ").capitalize())
                yield Input(
                    "" if value is None else str(value),
                    id=name,
                    placeholder=f"default ({SAMPLING_LIMITS[name].describe()})",
                )
                yield Label("", id=f"{name}-error", classes="error")
            yield Label("Context size")
            yield Input(
                "" if self.current.context_size is None else str(self.current.context_size),
                id="context_size",
                placeholder=f"model default ({CONTEXT_LIMIT.describe()})",
            )
            yield Label("", id="context_size-error", classes="error")
            yield Checkbox("Save as my default", id="save_as_default")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def _parse(self, name: str) -> tuple[int | float | None, str]:
        raw = self.query_one(f"#{name}", Input).value.strip()
        if not raw:
            return None, ""
        limit = CONTEXT_LIMIT if name == "context_size" else SAMPLING_LIMITS[name]
        try:
            number = float(raw) if limit.kind is float else int(raw)
            return limit.check(number), ""
        except ValueError:
            return None, f"allowed: {limit.describe()}"

    def on_input_changed(self, event: Input.Changed) -> None:
        """Flag a bad value where it is typed."""
        if event.input.id is None:
            return
        _, error = self._parse(event.input.id)
        self.query_one(f"#{event.input.id}-error", Label).update(Text(error))
        event.input.set_class(bool(error), "invalid")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Apply or cancel."""
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        """Dismiss with the new settings, unless a field is invalid."""
        parsed = {name: self._parse(name) for name in (*FIELDS, "context_size")}
        bad = [name for name, (_, error) in parsed.items() if error]
        if bad:
            self.notify(f"fix {', '.join(bad)} first", severity="error")
            return
        context = parsed.pop("context_size")[0]
        self.dismiss(
            Settings(
                model=str(self.query_one("#model", Select).value),
                system_prompt=self.query_one("#system_prompt", TextArea).text,
                sampling={name: value for name, (value, _) in parsed.items()},
                context_size=int(context) if context is not None else None,
                role=str(self.query_one("#role", Select).value),
                save_as_default=self.query_one("#save_as_default", Checkbox).value,
            )
        )
