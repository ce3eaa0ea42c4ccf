"""ChatApp: the chattui terminal UI. Receives its services from the CLI; builds nothing itself.

The app is also the error boundary's last line: whatever Textual would end the app for (a
failed worker, an error in one of its own widgets) is reported here and the app goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import WorkerFailed

from chattui.errors import ChattuiError
from chattui.redact import without_credentials
from chattui.terminal_text import printable
from chattui.tui.boundary import ErrorBoundary, ErrorRaised, write_log
from chattui.tui.model_host import ModelHost
from chattui.tui.screens.chat import ChatScreen
from chattui.tui.screens.dialogs import ErrorScreen
from chattui.tui.services import Services, StartOptions

TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that quit the app the way Ctrl+Q does."""
STORM = (50, 10.0)
"""Unexpected errors within seconds after which the app stops, as a loop of errors would
otherwise leave it unusable."""


class ChatApp(ErrorBoundary, App[None]):
    """Chat with a local model; conversations saved, listed and searchable."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "chattui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit")]

    def __init__(self, services: Services, start: StartOptions | None = None) -> None:
        """Create the app.

        Args:
            services: Config, catalog, store and the engine factory.
            start: What the command line asked for (model, -c, -s, -r, --verbose).
        """
        super().__init__()
        self.services = services
        self.start = start or StartOptions()
        self.terminated_by: int | None = None
        """The signal (SIGTERM, SIGHUP) that ended the app, if one did."""
        self.unexpected: list[BaseException] = []
        """Errors that were not ChattuiErrors, in order (reported in a dialog and the log)."""
        self._recent: list[float] = []
        if services.config.theme and services.config.theme in self.available_themes:
            self.theme = services.config.theme

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Show a notification, always as text (``markup`` is accepted and ignored).

        Messages carry model names, paths, a server's words and titles of chats: never markup
        (``[/INST]``, ``[@click=...]``), their control characters are made visible, and a URL's
        credentials are masked.
        """
        shown, heading = printable(without_credentials(message)), printable(title)
        super().notify(shown, title=heading, severity=severity, timeout=timeout, markup=False)

    def get_driver_class(self) -> type[Driver]:
        """Textual's own driver, except that on Linux and macOS bursts of keys become pastes."""
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver":
            from chattui.tui.bursts import BurstDriver

            return BurstDriver
        return driver

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette offers every chat action, with its key."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, ChatScreen):
            for binding in screen.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                key = binding.key.split(",")[0]
                yield SystemCommand(
                    binding.tooltip.split(" (")[0] if binding.tooltip else binding.description,
                    f"{binding.tooltip or binding.description} ({key})",
                    partial(self.call_later, screen.run_action, binding.action),
                )
            try:
                roles = self.services.roles()
            except ChattuiError:
                roles = {}
            for name, role in sorted(roles.items()):
                yield SystemCommand(
                    f"Role: {name}", role.description, partial(screen.slash_role, name)
                )

    def on_mount(self) -> None:
        """Show the chat, follow theme changes, and quit cleanly on SIGTERM and SIGHUP."""
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        loop = asyncio.get_running_loop()
        for signum in TERMINATING:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
                loop.add_signal_handler(signum, self._terminate, signum)
        if self.start.early_signals:  # the terminal closed while the app was starting
            self._terminate(self.start.early_signals[0])
            return
        self.push_screen(ChatScreen(self.services, self.start))
        if self.start.verbose:
            self.notify(f"llama.cpp's log goes to {self.services.paths.log_file}")
        if self.start.notice is not None:
            self.notify(self.start.notice, severity="warning", timeout=20)

    def _terminate(self, signum: int) -> None:
        """Quit as Ctrl+Q does: the reply stops and is kept, the terminal is restored."""
        self.terminated_by = signum
        self._quit_models()
        self.exit()

    async def action_quit(self) -> None:
        """Quit: the reply stops and is saved and the model freed while the terminal is restored."""
        self._quit_models()
        self.exit()

    def action_help_quit(self) -> None:
        """Ctrl+C, no text selected: stop the reply in flight as Esc does, or say how to quit.

        Where other chat tools stop a reply on Ctrl+C, a user presses it by reflex; Textual's own
        answer ("Press ctrl+q to quit") would leave the reply running.
        """
        busy = [host for host in self._hosts() if host.busy]
        for host in busy:
            host.stop()
        if not busy:
            self.notify("Ctrl+Q quits chattui (Ctrl+C stops a reply, and copies selected text)")

    def _quit_models(self) -> None:
        for host in self._hosts():
            host.quit()

    def _hosts(self) -> list[ModelHost]:
        """The model hosts of the chat screens in the stack (one, below any dialog)."""
        return [screen.host for screen in self.screen_stack if isinstance(screen, ChatScreen)]

    def _remember_theme(self, theme: object) -> None:
        name = getattr(theme, "name", None)
        if not name or name == self.services.config.theme:
            return
        try:
            self.services.save_theme(name)
        except ChattuiError as error:
            self.notify(str(error), severity="error")

    def _handle_exception(self, error: Exception) -> None:
        """Report what Textual would end the app for, and go on (unless the app is ending)."""
        if self._closing or self._closed or not self.is_running or self._storm():
            super()._handle_exception(error)
            return
        if isinstance(error, WorkerFailed) and isinstance(error.error, Exception):
            self.report(error.error, "a background task")
        else:
            self.report(error, "the app")

    def on_error_raised(self, message: ErrorRaised) -> None:
        """A screen or widget of chattui raised while handling a message."""
        self.report(message.error, message.where)

    def report(self, error: BaseException, where: str) -> None:
        """Show ``error``: a ChattuiError in its own words, anything else in a dialog."""
        if isinstance(error, ChattuiError):
            self.notify(str(error), severity="error", timeout=10)
            return
        self.unexpected.append(error)
        log = self.services.paths.log_file
        try:
            write_log(log, error, where)
            details = f"The details are in {log}."
        except OSError as failure:
            details = f"The details could not be written to {log}: {failure.strerror}."
        if isinstance(self.screen, ErrorScreen):
            return  # one dialog at a time; the log has them all
        self.push_screen(
            ErrorScreen(
                f"{type(error).__name__} in {where}: {error}\n\n{details}\n"
                "chattui carries on, and your chats are saved. Please report this."
            )
        )

    def _storm(self) -> bool:
        """Whether errors come so fast that carrying on is pointless."""
        count, window = STORM
        now = time.monotonic()
        self._recent = [t for t in self._recent if now - t < window] + [now]
        return len(self._recent) > count

    def on_unmount(self) -> None:
        """Give the signals back (the chat screen has already stopped the reply)."""
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop = asyncio.get_running_loop()
            for signum in TERMINATING:
                loop.remove_signal_handler(signum)
