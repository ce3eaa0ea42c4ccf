"""The error boundary: an exception in a handler, a worker or a screen never ends the app.

Textual ends the app on any unhandled exception, and a message handler that raises also stops
the message loop of the widget it ran in. So chattui's screens and the model host take
``ErrorBoundary`` first in their bases: a handler that raises is reported and the loop goes on.
The app turns what it is sent into words: a ``ChattuiError`` is a notification in plain words;
anything else is written with its traceback to the log and shown in a dialog that names the log.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from chattui.paths import append_private
from chattui.redact import without_credentials

LOG_LIMIT = 1 << 20
"""Bytes the log may hold before it is moved aside (one older log is kept)."""


@dataclass
class ErrorRaised(Message):
    """Something failed where it could not be handled; the app reports it."""

    error: BaseException
    where: str
    """What was running, in words (for the dialog and the log)."""


class ErrorBoundary(MessagePump):
    """Mix in first: report an exception raised while handling a message, and carry on."""

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except Exception as error:  # noqa: BLE001 - reported to the user, not swallowed
            where = f"{type(self).__name__} handling {type(message).__name__}"
            self.app.post_message(ErrorRaised(error, where))


def write_log(log_file: Path, error: BaseException, where: str) -> None:
    """Append ``error`` with its traceback to ``log_file`` (0600, moved aside when large).

    Raises:
        OSError: The log cannot be written.
    """
    if log_file.exists() and log_file.stat().st_size > LOG_LIMIT:
        log_file.replace(log_file.with_suffix(".old.log"))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    text = without_credentials("".join(traceback.format_exception(error)))
    append_private(log_file, f"{stamp} error in {where}\n{text}\n")
