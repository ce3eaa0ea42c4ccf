"""Keystrokes that arrive together become one paste, as a bracketed paste would.

Some terminals and multiplexers send a paste as keystrokes. 60 KB then becomes 60,000 key
events, each dispatched through the app (about 0.2 ms) and each re-wrapping the whole prompt:
minutes at full CPU. A person's keys reach the terminal one read at a time; a paste fills a read
with many. So the driver looks at what each read of the terminal holds: from a read with two or
more typed characters on, typed keys are posted as ``Paste`` events (one per read) until the
input pauses. An Enter inside the paste is a line break; one that ends a read waits
``CONTINUE`` for more text, and if none comes it is pressed, so ``tmux send-keys "hi" Enter``
still sends.
"""

from __future__ import annotations

import os
import selectors
import signal
from codecs import getincrementaldecoder
from collections.abc import Callable, Sequence

from textual import events
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

CONTINUE = 0.15
"""Seconds a paste's last Enter waits for more text before it counts as pressed."""
IDLE = 0.1
"""Seconds without input after which a paste is over (and Textual's parser is ticked)."""
TYPED = {"enter": "\n", "ctrl+j": "\n", "tab": "\t"}
"""Keys that stand for a character in pasted text, besides the printable ones."""


def typed(message: Message) -> str | None:
    """The character a key event types, or None for anything else."""
    if not isinstance(message, events.Key):
        return None
    if message.key in TYPED:
        return TYPED[message.key]
    return message.character if message.is_printable else None


class Bursts:
    """Decides, read by read of the terminal's input, which typed keys are a paste."""

    def __init__(self, post: Callable[[Message], None]) -> None:
        """Post the resulting events with ``post``, in order."""
        self._post = post
        self._pasting = False
        self._text: list[str] = []
        self._enters: list[Message] = []
        """Enters that ended the last read of a paste: line breaks if text follows."""

    def wait(self) -> float:
        """Seconds to wait for the next read before calling ``idle``."""
        return CONTINUE if self._enters else IDLE

    def read(self, messages: Sequence[Message]) -> None:
        """The events parsed from one read of the terminal."""
        if not self._pasting and sum(typed(m) is not None for m in messages) >= 2:
            self._pasting = True
        if not self._pasting:
            for message in messages:
                self._post(message)
            return
        for message in messages:
            character = typed(message)
            if character is None:
                self.idle()  # a key of another kind, a mouse event...: the paste is over
                self._post(message)
                continue
            self._text += ["\n"] * len(self._enters)  # text follows them: line breaks
            self._enters.clear()
            if isinstance(message, events.Key) and message.key == "enter":
                self._enters.append(message)
            else:
                self._text.append(character)
        self._post_text()

    def idle(self) -> None:
        """No input came for ``wait()`` seconds: the paste is over, its last Enter pressed."""
        self._post_text()
        for enter in self._enters:
            self._post(enter)
        self._enters.clear()
        self._pasting = False

    def _post_text(self) -> None:
        if self._text:
            self._post(events.Paste("".join(self._text)))
            self._text.clear()


class BurstDriver(LinuxDriver):
    """Textual's Linux and macOS driver, posting pastes typed as keystrokes as ``Paste``.

    A terminal that goes away (a read fails or ends) is a hangup: the process gets SIGHUP, and
    quits as when a window closes, even where the kernel sends none.
    """

    def run_input_thread(self) -> None:
        """Read the terminal and post its events (Textual's loop, with ``Bursts`` in it)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        # A byte that is not UTF-8 (a Latin-1 terminal's é) is typed as U+FFFD: raised, it would
        # end this thread, and the app would lose its keyboard.
        decode = getincrementaldecoder("utf-8")(errors="replace").decode
        bursts = Bursts(self.process_message)
        try:
            while not self.exit_event.is_set():
                if not selector.select(bursts.wait()):
                    bursts.idle()
                else:
                    try:
                        data = os.read(self.fileno, 4096)
                    except OSError:
                        data = b""
                    if not data:
                        bursts.idle()
                        os.kill(os.getpid(), signal.SIGHUP)
                        return
                    bursts.read(list(parser.feed(decode(data))))
                for event in parser.tick():
                    bursts.read([event])
            bursts.idle()
        finally:
            selector.close()
