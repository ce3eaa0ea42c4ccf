"""SIGTERM and SIGHUP handled as Ctrl+C is: the reply stops, what was written is kept.

A closed terminal (SIGHUP) or ``kill`` (SIGTERM) would otherwise end the process at once, leaving
the cursor hidden and the reply saved as still in progress.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)
"""The signals turned into ``Terminated``."""


class Terminated(KeyboardInterrupt):
    """The process was asked to end by a signal; caught wherever Ctrl+C is."""

    def __init__(self, signum: int) -> None:
        """Record which signal arrived."""
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def install() -> None:
    """Raise ``Terminated`` in the main thread on SIGTERM and SIGHUP."""
    for signum in HANDLED:
        signal.signal(signum, _raise)


@contextlib.contextmanager
def noted() -> Iterator[list[int]]:
    """SIGTERM and SIGHUP are noted, not raised, until the app takes them over.

    Raised while the app starts, ``Terminated`` could land inside Textual's driver or a lock of
    the threading module, and leave them broken (a closed terminal then ended with exit 1).

    Yields:
        The signals received, in order.
    """
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if hasattr(signal, "SIGCONT"):
            # A closed terminal sends SIGCONT with SIGHUP: Textual's handler for it starts the
            # driver again, from inside the driver's own start. Nothing is to be resumed now.
            signal.signal(signal.SIGCONT, signal.SIG_IGN)

    with _handled(HANDLED, note):
        yield received


@contextlib.contextmanager
def stopping(stop: Callable[[], None]) -> Iterator[list[int]]:
    """While a reply streams, Ctrl+C and the termination signals call ``stop`` instead.

    The reply then ends after its current token, so everything generated is both shown and
    saved; a second signal gives up waiting (``KeyboardInterrupt``).

    Yields:
        The signals received, in order (empty if none came).
    """
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if received:
            raise Terminated(signum) if signum != signal.SIGINT else KeyboardInterrupt
        received.append(signum)
        stop()

    with _handled((signal.SIGINT, *HANDLED), handle):
        yield received


@contextlib.contextmanager
def _handled(
    signums: tuple[int, ...], handler: Callable[[int, FrameType | None], None]
) -> Iterator[None]:
    """``handler`` handles ``signums`` inside the block; the handlers before come back after."""
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by a signal: 128 + its number (130 for Ctrl+C)."""
    return 128 + signum


def interrupt_code(interrupt: KeyboardInterrupt) -> int:
    """The exit code for Ctrl+C or a ``Terminated``."""
    return exit_code(interrupt.signum if isinstance(interrupt, Terminated) else signal.SIGINT)
