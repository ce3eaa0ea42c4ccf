"""Branches: the part of the chat screen that moves between versions of a conversation.

A regenerated reply, an edited question or a continued reply is a new version beside the old
one; nothing is overwritten. The newest message in view that has versions is the one the keys
act on: Alt+Left and Alt+Right show its other versions, F9 deletes the one in view (after asking),
F5 copies the branch in view into a new chat. ``ChatScreen`` builds on it.
"""

from __future__ import annotations

from chattui.conversation import Message, Role, branch_label
from chattui.errors import ChattuiError
from chattui.tui.screens.chat_settings import ChatSettings
from chattui.tui.screens.dialogs import ConfirmScreen
from chattui.tui.screens.saved_chats import BUSY
from chattui.tui.widgets.status import StatusBar
from chattui.tui.widgets.transcript import Transcript

NO_VERSIONS = (
    "No message in view has other versions: Ctrl+R writes another reply, "
    "Ctrl+G asks your last message another way."
)


class Branches(ChatSettings):
    """Versions of messages: switch, fork, delete a branch."""

    def show_history(self) -> None:
        """Show the session's branch again. The chat screen does it."""
        raise NotImplementedError

    def branch_labels(self) -> dict[int, str]:
        """Each message in view with versions: its place among them ("‹ 2/3 ›"), by id."""
        session = self.host.session
        return {} if session is None else session.outline.labels(session.history)

    def show_branches(self) -> None:
        """Show every message's versions anew, and the branch's place in the status bar."""
        self.query_one(Transcript).relabel(self.branch_labels())
        self.show_place()

    def show_place(self) -> None:
        """Show in the status bar the place of the version the branch keys act on."""
        session = self.host.session
        target = self._fork_point()
        place = session.branch(target) if session is not None and target is not None else None
        self.query_one(StatusBar).branch = branch_label(place) if place else ""

    def _fork_point(self) -> Message | None:
        """The message the branch keys act on: the newest with versions that is in view.

        When none with versions is on screen, the newest of the branch that has some.
        """
        session = self.host.session
        if session is None:
            return None
        forked = self.branch_labels()
        if not forked:
            return None
        transcript = self.query_one(Transcript)
        view = transcript.region
        wanted = next(
            (
                widget.message_id
                for widget in reversed(transcript.messages())
                if widget.message_id in forked and widget.region.overlaps(view)
            ),
            max(forked),
        )
        return next(m for m in reversed(session.history) if m.id == wanted)

    async def action_sibling(self, step: int) -> None:
        """Show the previous (-1) or next (1) version of the message the keys act on."""
        session = self.host.session
        if self.host.busy:
            self._refuse(BUSY)
            return
        target = self._fork_point()
        if session is None or target is None:
            self._refuse(NO_VERSIONS)
            return
        try:
            moved = session.show_sibling(target, step)
        except ChattuiError as error:  # deleted meanwhile: the versions left are shown
            self.notify(str(error), severity="error")
            self.show_branches()
            return
        if not moved:
            which = "first" if step < 0 else "last"
            self.notify(f"That is the {which} version.", timeout=2)
            return
        await self.query_one(Transcript).follow(session.history, self.branch_labels())
        self.show_place()
        # The first frame of the new branch comes before the count of its tokens.
        self.call_after_refresh(self.host.measure)

    def action_fork(self) -> None:
        """Copy the branch in view into a new chat, and continue there."""
        session = self.host.session
        store = self.services.store
        if self.host.busy:
            self._refuse(BUSY)
            return
        if session is None or store is None:
            self._refuse("Forking needs a saved chat and a loaded model.")
            return
        try:
            cid = session.fork()
            conversation = store.get(cid)
        except ChattuiError as error:
            self._refuse(str(error))
            return
        self.open_saved(conversation)
        self.refresh_sidebar()
        self.notify(f"Forked into a new chat: {conversation.title}", timeout=4)

    def slash_fork(self, _: str) -> None:
        """``/fork``: as F5."""
        self.action_fork()

    def action_delete_branch(self) -> None:
        """Delete the version in view of the message the keys act on, and what follows it."""
        session = self.host.session
        store = self.services.store
        if self.host.busy:
            self._refuse(BUSY)
            return
        target = self._fork_point()
        if session is None or store is None or session.cid is None or target is None:
            self._refuse("This chat has a single branch: F8 deletes the whole chat.")
            return
        assert target.id is not None
        place = session.branch(target)
        below = len(session.outline.subtree(target.id)) - 1
        what = "reply" if target.role is Role.ASSISTANT else "question"
        question = f"Delete version {place[0] if place else 1} of this {what}" + (
            f" and the {below} messages after it?" if below else "?"
        )
        cid, mid = session.cid, target.id

        def delete(yes: bool | None) -> None:
            if not yes or self.host.busy or session is not self.host.session:
                return
            try:
                leaf = store.delete_branch(cid, mid)
                session.outline = store.outline(cid)
                if leaf is not None:
                    session.go_to(leaf)
                else:
                    session.history = []
            except ChattuiError as error:
                self.notify(str(error), severity="error")
                return
            self.show_history()
            self.refresh_sidebar()

        self.app.push_screen(ConfirmScreen(question), delete)
