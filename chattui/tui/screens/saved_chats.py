"""SavedChats: the half of the chat screen that deals with saved conversations.

The sidebar (listed and searched in a worker, so typing never waits on the database), renaming,
deleting, exporting and copying. ``ChatScreen`` builds on it and adds the conversation itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from chattui.conversation import Conversation, title_from
from chattui.errors import ChattuiError
from chattui.transcript import age, to_markdown
from chattui.tui.model_host import ModelHost
from chattui.tui.screens.dialogs import ConfirmScreen, TextScreen
from chattui.tui.services import Services
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Entry, Sidebar
from chattui.tui.widgets.transcript import Transcript

CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
BUSY = "A reply is being written: press Esc to stop it first."


@dataclass
class ChatsListed(Message):
    """The sidebar's list, read from the store by a worker."""

    entries: list[Entry]


@dataclass
class ChatRead(Message):
    """A chat chosen in the sidebar, read from the store by a worker."""

    conversation: Conversation
    at: int | None
    """Index of the message to show (a search hit), None for the newest."""


class SavedChats(Screen[None]):
    """The sidebar and the actions on saved chats; the screen built on it opens them."""

    services: Services
    host: ModelHost

    def _refuse(self, why: str, text: str | None = None) -> None:
        """Say why a request cannot run now; a message typed for it goes back to the prompt."""
        self.notify(why, severity="warning")
        if text is not None:
            self.query_one(PromptInput).give_back(text)

    def open_saved(self, conversation: Conversation, at: int | None = None) -> None:
        """Show ``conversation`` (from message ``at``) and continue it.

        The screen built on this one does it.
        """
        raise NotImplementedError

    def action_new_chat(self) -> None:
        """Start a new conversation (the screen built on this one does it)."""
        raise NotImplementedError

    def action_copy_reply(self) -> None:
        """Copy the last reply to the clipboard."""
        reply = self.query_one(Transcript).last_reply()
        if reply is not None:
            self.app.copy_to_clipboard(reply)
            self.notify("Copied the last reply.")

    def action_copy_code(self) -> None:
        """Copy the last code block of the last reply."""
        reply = self.query_one(Transcript).last_reply()
        blocks = CODE_BLOCK.findall(reply) if reply is not None else []
        if blocks:
            self.app.copy_to_clipboard(blocks[-1])
            self.notify("Copied the code block.")
        else:
            self.notify("No code block in the last reply.", severity="warning")

    def action_export(self, target: str = "") -> None:
        """Write the conversation as Markdown to a file."""
        conversation = self._current()
        if conversation is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        path = Path(target or f"chattui-{conversation.id}.md").expanduser()
        try:
            path.write_text(to_markdown(conversation), encoding="utf-8")
        except OSError as error:
            self.notify(f"Cannot write {path}: {error.strerror}", severity="error")
            return
        self.notify(f"Exported to {path}")

    def action_rename(self) -> None:
        """Rename the conversation highlighted in the sidebar (or the open one)."""
        conversation = self._chosen()
        store = self.services.store
        if conversation is None or store is None:
            return

        def rename(title: str | None) -> None:
            if title:
                store.rename(conversation.id, title)
                self.refresh_sidebar()

        self.app.push_screen(TextScreen("New title", conversation.title), rename)

    def action_delete_chat(self) -> None:
        """Delete the conversation highlighted in the sidebar (after confirmation)."""
        conversation = self._chosen()
        store = self.services.store
        if conversation is None or store is None:
            return
        session = self.host.session
        open_one = session is not None and session.cid == conversation.id
        if open_one and self.host.busy:
            self._refuse(BUSY)
            return

        def delete(yes: bool | None) -> None:
            if not yes:
                return
            store.delete([conversation.id])
            session = self.host.session
            if session is not None and session.cid == conversation.id:
                self.action_new_chat()
            self.refresh_sidebar()

        self.app.push_screen(ConfirmScreen(f"Delete “{conversation.title}”?"), delete)

    def _chosen(self) -> Conversation | None:
        """The chat highlighted in the sidebar, or the open one; None (said) if it is gone."""
        session = self.host.session
        cid = self.query_one(Sidebar).selected() or (session.cid if session else None)
        store = self.services.store
        if cid is None or store is None:
            return None
        try:
            return store.get(cid)
        except ChattuiError as error:
            self.notify(f"That chat is gone: {error}", severity="warning")
            self.refresh_sidebar()
            return None

    # Sidebar -----------------------------------------------------------------------------

    def refresh_sidebar(self) -> None:
        """Refill the sidebar from the store in a worker.

        It lists the newest chats, or what the filter box finds: the filter the user typed stays
        in force as chats change.
        """
        if self.services.store is not None:
            self._list_chats(self.query_one(Sidebar).filter_text)

    @work(thread=True, exclusive=True, group="sidebar")
    def _list_chats(self, query: str) -> None:
        store = self.services.store
        assert store is not None
        if query.strip():
            hits = store.search(query, 50, as_typed=True)
            entries = [Entry(h.id, h.title, h.snippet, h.message_id) for h in hits]
        else:
            entries = [
                Entry(c.id, c.title, f"{age(c.updated_at)} · {c.message_count} messages")
                for c in store.recent(100)
            ]
        if not get_current_worker().is_cancelled:  # a newer query wins
            self.post_message(ChatsListed(entries))

    def on_chats_listed(self, message: ChatsListed) -> None:
        """Show the chats a worker found."""
        self.query_one(Sidebar).show(message.entries)

    @on(Sidebar.FilterChanged)
    def on_filter(self, event: Sidebar.FilterChanged) -> None:
        """Search as the user types."""
        self.refresh_sidebar()

    @on(Sidebar.Opened)
    def on_open(self, event: Sidebar.Opened) -> None:
        """Read the chosen conversation in a worker: a long one must not stop the app."""
        if self.host.busy:
            self._refuse(BUSY)
            return
        self._read_chat(event.conversation_id, event.message_id)

    @work(thread=True, exclusive=True, group="open")
    def _read_chat(self, cid: str, message_id: int | None) -> None:
        store = self.services.store
        assert store is not None
        try:
            # A hit in another branch opens the chat on that branch, and makes it the one
            # the chat continues.
            conversation = store.get(cid, through=message_id)
            at = next((i for i, m in enumerate(conversation.messages) if m.id == message_id), None)
            if message_id is not None and conversation.leaf_id is not None:
                store.set_leaf(cid, conversation.leaf_id)
        except ChattuiError as error:
            self.app.call_from_thread(self._gone, error)
            return
        if not get_current_worker().is_cancelled:  # the chat chosen last wins
            self.post_message(ChatRead(conversation, at))

    def _gone(self, error: ChattuiError) -> None:
        self.notify(f"That chat is gone: {error}", severity="warning")
        self.refresh_sidebar()

    def on_chat_read(self, message: ChatRead) -> None:
        """Open the chat a worker read."""
        if self.host.busy:
            self._refuse(BUSY)
            return
        self.open_saved(message.conversation, message.at)
        self.query_one(PromptInput).focus()

    def _current(self) -> Conversation | None:
        store = self.services.store
        session = self.host.session
        if session is not None and session.cid is not None and store is not None:
            last = session.history[-1].id if session.history else None
            return store.get(session.cid, leaf=last)  # the branch in view
        if session is not None and session.history:  # history is off: export what is on screen
            first = session.history[0]
            return Conversation(
                id="unsaved",
                title=title_from(first.content),
                created_at=first.created_at,
                updated_at=session.history[-1].created_at,
                model_id=session.engine.model_id,
                system_prompt=session.system_prompt,
                messages=tuple(session.history),
            )
        return None
