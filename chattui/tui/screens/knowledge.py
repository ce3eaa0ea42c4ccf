"""Knowledge bases in the chat: ``/kb`` turns one on for the chat, replies list their sources.

With a base on, each question is given the passages it finds (the session searches it as the
message is sent) and the reply lists them under it; a click on one, or ``/source N``, opens its
file at its first line in the user's editor. ``ChatScreen`` builds on it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from textual import on
from textual.app import SuspendNotSupported

from chattui.conversation import Passage, Role
from chattui.editor import editor_command
from chattui.errors import ChattuiError
from chattui.tui.screens.attaching import Attaching
from chattui.tui.widgets.messages import Sources


class Knowledge(Attaching):
    """``/kb`` and ``/source``, and the sources listed under replies."""

    def slash_kb(self, argument: str) -> None:
        """``/kb NAME``: the chat's questions get that base's passages; ``/kb off``: none.

        ``/kb`` alone says which base the chat uses and which there are.
        """
        words = argument.split()
        session = self.host.session
        if not words:
            names = self.services.knowledge_bases().names()
            using = session.kb if session is not None else None
            state = f"This chat answers from {using}." if using else "No knowledge base is on."
            there = ", ".join(names) if names else "none yet (chattui kb add NAME FOLDER)"
            self.notify(f"{state}\nKnowledge bases: {there}\n/kb NAME turns one on, /kb off.")
            return
        if len(words) > 1:
            self._refuse("/kb takes one name: /kb notes, or /kb off")
            return
        name = None if words[0] == "off" else words[0]
        try:
            self.host.set_knowledge(name)
        except ChattuiError as error:
            self._refuse(str(error))
            return
        if name is None:
            self.notify("Knowledge base off for this chat.", timeout=3)
        else:
            self.notify(
                f"This chat now answers from knowledge base {name}: each question is given the"
                " passages it finds, listed under the reply (click one to open it). /kb off.",
                timeout=6,
            )

    def slash_source(self, argument: str) -> None:
        """``/source N``: open the newest reply's source N."""
        session = self.host.session
        history = session.history if session is not None else []
        asked = next((m for m in reversed(history) if m.role is Role.USER), None)
        passages = asked.passages if asked is not None else ()
        if not passages:
            self._refuse("The newest reply lists no sources: /kb NAME answers from a base.")
            return
        if not argument.strip().isdigit() or not 1 <= int(argument) <= len(passages):
            self._refuse(f"/source takes a number from 1 to {len(passages)}")
            return
        self.open_passage(passages[int(argument) - 1])

    @on(Sources.Chosen)
    def on_source_chosen(self, event: Sources.Chosen) -> None:
        """A source clicked under a reply: open it."""
        self.open_passage(event.passage)

    def open_passage(self, passage: Passage) -> None:
        """Open the file of ``passage`` at its first line in $VISUAL or $EDITOR."""
        if not Path(passage.path).is_file():
            self._refuse(f"{passage.path} is no longer there (kb update drops it).")
            return
        try:
            command = editor_command(passage.path, passage.start_line, os.environ)
        except ValueError as error:
            self._refuse(f"$EDITOR cannot be read: {error}")
            return
        if command is None:
            self.notify(
                f"{passage.path}:{passage.start_line}\nSet $EDITOR to open sources from here.",
                timeout=10,
            )
            return
        try:
            with self.app.suspend():  # a terminal editor takes the terminal, then gives it back
                subprocess.run(command, check=False)
        except SuspendNotSupported:  # no terminal to hand over: an editor with its own window
            try:
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as error:
                self._refuse(f"cannot start the editor {command[0]}: {error.strerror}")
        except OSError as error:
            self._refuse(f"cannot start the editor {command[0]}: {error.strerror}")
