"""ExitGuard: once the app begins to quit and the reply is saved, the process ends, always.

Textual's shutdown can block for good: its output thread waits on a full queue that nothing
drains once the terminal is gone (Textualize/textual issue 6692), and a model still loading
holds the interpreter's exit. Everything worth keeping is committed by then (the database is
written as the reply streams and the reply is finalised before the model is freed), so after a
short grace the guard ends the process itself: it gives the terminal back its settings if it is
still there, runs the process's own cleanup, and exits with the code the app would have.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

SAVE_WAIT = 5.0
"""Seconds the guard waits for the reply to be saved (a stop lands within a token)."""
GRACE = 1.5
"""Seconds the normal shutdown gets after that before the process is ended."""
RESET = (
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"  # mouse reporting off
    b"\x1b[?2004l\x1b[?1004l\x1b[<u"  # bracketed paste, focus events, kitty keys off
    b"\x1b[?1049l\x1b[?25h"  # the main screen back, the cursor shown
)
"""What Textual's driver writes to give the terminal back, written again in case it could not."""


class ExitGuard:
    """Ends the process within ``GRACE`` seconds of the reply being saved, once armed."""

    def __init__(
        self,
        exit_code: Callable[[], int],
        cleanup: Callable[[], None],
        terminal: int | None = None,
    ) -> None:
        """Prepare the guard (nothing runs until ``arm``).

        Args:
            exit_code: The code to exit with (read when the guard fires).
            cleanup: The process's own last steps (forget the crash marker...).
            terminal: The terminal's file descriptor, whose settings are saved now and put
                back if the guard fires; None when there is no terminal.
        """
        self._exit_code = exit_code
        self._cleanup = cleanup
        self._terminal = terminal
        self._settings: list[Any] | None = None
        if terminal is not None:
            import termios

            with contextlib.suppress(termios.error, OSError):
                self._settings = termios.tcgetattr(terminal)
        self._armed = threading.Lock()
        self.fired = threading.Event()
        """Set just before the guard ends the process (for tests in the same process)."""

    def arm(self, saved: threading.Event, end: Callable[[int], None] = os._exit) -> None:
        """Quitting has begun: end the process ``GRACE`` seconds after ``saved`` is set.

        ``saved`` is waited for ``SAVE_WAIT`` seconds at most. Arming twice does nothing.

        Args:
            saved: Set when the reply in flight (if any) has been saved.
            end: How the process is ended (``os._exit``; tests give their own).
        """
        if not self._armed.acquire(blocking=False):
            return
        thread = threading.Thread(
            target=self._fire, args=(saved, end), name="exit-guard", daemon=True
        )
        thread.start()

    def _fire(self, saved: threading.Event, end: Callable[[int], None]) -> None:
        saved.wait(SAVE_WAIT)
        time.sleep(GRACE)  # a normal exit in the meantime ends this thread with the process
        self.fired.set()
        with contextlib.suppress(Exception):  # nothing may keep the process from ending now
            self._cleanup()
        self._give_back_terminal()
        end(self._exit_code())

    def _give_back_terminal(self) -> None:
        """Best effort, never blocking: a gone terminal fails at once, a stuck one is skipped."""
        fd = self._terminal
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.set_blocking(fd, False)
            os.write(fd, RESET)
        if self._settings is not None:
            import termios

            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSANOW, self._settings)
