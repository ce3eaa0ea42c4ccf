"""ChatApp: the chattui terminal UI. Receives its services from the CLI; builds nothing itself."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from chattui.errors import ChattuiError
from chattui.tui.screens.chat import ChatScreen
from chattui.tui.services import Services

TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that quit the app the way Ctrl+Q does."""


class ChatApp(App[None]):
    """Chat with a local model; conversations saved, listed and searchable."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "chattui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit")]

    def __init__(
        self, services: Services, *, model: str | None = None, continue_latest: bool = False
    ) -> None:
        """Create the app.

        Args:
            services: Config, catalog, store and the engine factory.
            model: Model to start with (id, alias or path).
            continue_latest: Reopen the most recent conversation.
        """
        super().__init__()
        self.services = services
        self.start_model = model
        self.continue_latest = continue_latest
        self.terminated_by: int | None = None
        """The signal (SIGTERM, SIGHUP) that ended the app, if one did."""
        if services.config.theme and services.config.theme in self.available_themes:
            self.theme = services.config.theme

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette offers every chat action, with its key."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChatScreen):
            for binding in screen.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                key = binding.key.split(",")[0]
                yield SystemCommand(
                    binding.description,
                    f"{binding.description} ({key})",
                    partial(self.call_later, screen.run_action, binding.action),
                )

    def on_mount(self) -> None:
        """Show the chat, follow theme changes, and quit cleanly on SIGTERM and SIGHUP."""
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        loop = asyncio.get_running_loop()
        for signum in TERMINATING:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
                loop.add_signal_handler(signum, self._terminate, signum)
        self.push_screen(ChatScreen(self.services, self.start_model, self.continue_latest))

    def _terminate(self, signum: int) -> None:
        """Quit as Ctrl+Q does: the reply stops and is kept, the terminal is restored."""
        self.terminated_by = signum
        self.exit()

    def _remember_theme(self, theme: object) -> None:
        name = getattr(theme, "name", None)
        if not name or name == self.services.config.theme:
            return
        try:
            self.services.save_theme(name)
        except ChattuiError as error:
            self.notify(str(error), severity="error")

    def on_unmount(self) -> None:
        """Give the signals back (the chat screen has already stopped the reply)."""
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop = asyncio.get_running_loop()
            for signum in TERMINATING:
                loop.remove_signal_handler(signum)
