"""Attaching: the part of the chat screen that gathers what goes with the next message.

``/file PATH``, an ``@path`` typed in the prompt (Tab completes it), or a path pasted or dropped
on the terminal: each is read in a worker and shown as a chip above the prompt with its kind,
size and tokens, before anything is sent. ``/files`` lists them and removes them. The message
takes them when it is sent; one that cannot start gives them back. ``ChatScreen`` builds on it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from textual import on
from textual.widgets import TextArea

from chattui.attachments.mentions import last_word, mentions
from chattui.conversation import Attachment
from chattui.transcript import describe_attachment
from chattui.tui.model_host import ModelHost
from chattui.tui.screens.branches import Branches
from chattui.tui.widgets.attachments import AttachmentBar
from chattui.tui.widgets.prompt import PromptInput


class Attaching(Branches):
    """Chips of attachments above the prompt, and the commands that fill and empty them."""

    _asked: set[str]
    """Paths and URLs asked to be attached since the last message (typed ``@`` mentions)."""

    def pending_mentions(self, text: str) -> list[str]:
        """The ``@`` mentions of ``text`` not attached yet: read when the message is sent."""
        have = {a.name for a in self.query_one(AttachmentBar).items}
        return [m for m in mentions(text, Path.cwd()) if m not in have]

    def take_attachments(self) -> list[Attachment]:
        """What the next message carries (the bar is emptied)."""
        self._asked = set()
        return self.query_one(AttachmentBar).take()

    def give_back_attachments(self, attachments: list[Attachment]) -> None:
        """A message that could not start gives its attachments back to the bar."""
        if attachments:
            self.query_one(AttachmentBar).add(attachments)

    def slash_file(self, argument: str) -> None:
        """``/file PATH...``: attach files, folders, globs or URLs to the next message."""
        whole = argument.strip()
        if whole and os.path.lexists(Path(whole).expanduser()):
            specs = [whole]  # a path with spaces, typed as it is
        else:
            try:
                specs = shlex.split(argument)
            except ValueError as error:
                self._refuse(f"/file {argument}: {error}")
                return
        if not specs:
            self._refuse("/file needs a path, a folder, a glob or a URL: /file notes.md")
            return
        self._read_specs(specs, again=True)

    def slash_files(self, argument: str) -> None:
        """``/files``: list what is attached; ``/files rm N`` removes one, ``/files clear`` all."""
        bar = self.query_one(AttachmentBar)
        words = argument.split()
        if words[:1] == ["clear"]:
            self.take_attachments()
            self.notify("Nothing is attached now.", timeout=3)
            return
        if words[:1] == ["rm"] and len(words) == 2 and words[1].isdigit():
            try:
                gone = bar.drop(int(words[1]) - 1)
            except IndexError:
                self._refuse(f"/files rm {words[1]}: there are {len(bar.items)} attachments")
                return
            self._asked.discard(gone.name)
            self.notify(f"Removed {gone.name}.", timeout=3)
            return
        if words:
            self._refuse("/files lists attachments; /files rm N removes one; /files clear all")
            return
        if not bar.items:
            self.notify("Nothing is attached: /file PATH or @path in a message attaches.")
            return
        lines = [f"{n}. {describe_attachment(a)}" for n, a in enumerate(bar.items, 1)]
        self.notify("\n".join(lines) + "\n/files rm N removes one.", title="Attached", timeout=10)

    def _read_specs(self, specs: list[str], *, again: bool = False) -> None:
        """Read ``specs`` in the host's worker; chips come with ``Attached``.

        A spec asked for already is not read again unless ``again`` (``/file``).
        """
        fresh = [spec for spec in specs if again or spec not in self._asked]
        if fresh:
            self._asked.update(fresh)
            self.host.attach(fresh)

    def on_model_host_attached(self, message: ModelHost.Attached) -> None:
        """Show what was read (then its tokens), or why it could not be."""
        bar = self.query_one(AttachmentBar)
        if message.error is not None:
            self.notify(message.error, title="Not attached", severity="error", timeout=8)
            return
        if message.counted:
            bar.counted(message.attachments)
        else:
            bar.add(message.attachments)

    @on(PromptInput.PathsPasted)
    def on_paths_pasted(self, event: PromptInput.PathsPasted) -> None:
        """A file dropped on the terminal (its path pasted) is attached, not typed."""
        self._read_specs(event.paths)
        self.notify(
            f"Attaching {', '.join(event.paths)} (pasted). /files lists and removes attachments.",
            timeout=5,
        )

    @on(TextArea.Changed, "#prompt")
    def on_prompt_changed(self, event: TextArea.Changed) -> None:
        """An ``@path`` followed by a space becomes a chip at once."""
        text = event.text_area.text
        if not text[-1:].isspace():  # the last word may still be being typed
            text = text[: len(text) - len(last_word(text))]
        mentioned = self.pending_mentions(text)
        if mentioned:
            self._read_specs(mentioned)
