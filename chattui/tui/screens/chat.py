"""The chat screen: sidebar, transcript, prompt and status bar, driven by the model host.

The screen turns keys and commands into requests to the ``ModelHost`` (which owns the engine and
the reply in flight) and shows what the host reports; the ``ReplyView`` shows the reply as it
streams. What concerns saved chats (sidebar, rename, delete, export) is in saved_chats.py, the
settings panel and the slash commands in chat_settings.py.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from chattui.attachments import Limits, check_unchanged, read_all
from chattui.chat import ChatSession, ChatTurn, open_conversation
from chattui.conversation import Attachment, Conversation, Role
from chattui.conversation import Message as ChatMessage
from chattui.engine.base import EngineSettings
from chattui.errors import ChattuiError, ConversationNotFoundError
from chattui.sampling import Sampling
from chattui.tui import slash
from chattui.tui.boundary import ErrorBoundary
from chattui.tui.model_host import ModelHost, StartTurn
from chattui.tui.reply_stream import Progress, ReplyStream
from chattui.tui.reply_view import ReplyView, Shown
from chattui.tui.screens.saved_chats import BUSY
from chattui.tui.screens.tools import Tools
from chattui.tui.services import Services, StartOptions
from chattui.tui.widgets.attachments import AttachmentBar
from chattui.tui.widgets.messages import Notice, Welcome
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Sidebar
from chattui.tui.widgets.status import State, StatusBar
from chattui.tui.widgets.transcript import Transcript

NARROW = 100
"""Terminals narrower than this start with the sidebar hidden (Ctrl+B shows it over the chat)."""


class ChatScreen(ErrorBoundary, Tools):
    """One conversation at a time, with the saved ones in the sidebar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+b", "toggle_sidebar", "Chats"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        # Keys the prompt (a TextArea) does not already use for editing.
        Binding(
            "ctrl+g",
            "edit_last",
            "Edit",
            tooltip="Edit your last message and send it again (the old one stays as a version)",
        ),
        Binding("ctrl+t", "continue_reply", "Continue reply", show=False),
        Binding("f5", "fork", "Fork chat", show=False),
        Binding("f9", "delete_branch", "Delete branch", show=False),
        Binding("ctrl+o", "settings", "Settings"),
        Binding(
            "alt+left",
            "sibling(-1)",
            "Versions",
            key_display="Alt+←/→",
            tooltip="Previous version of a message (a regenerated reply, an edited question)",
        ),
        Binding(
            "alt+right",
            "sibling(1)",
            "Next version",
            show=False,  # the footer shows one entry for both
            tooltip="Next version of a message (a regenerated reply, an edited question)",
        ),
        Binding("f2", "rename", "Rename chat", show=False),
        Binding("f3", "copy_reply", "Copy reply", show=False),
        Binding("f4", "copy_code", "Copy code block", show=False),
        Binding("ctrl+s", "export", "Export as Markdown", show=False),
        Binding("f8", "delete_chat", "Delete chat", show=False),
    ]

    def __init__(self, services: Services, start: StartOptions) -> None:
        """Create the screen; the model loads once it is mounted.

        Args:
            services: Config, catalog, store and the engine factory.
            start: What the command line asked for (model, -c, -s, -r, --verbose).
        """
        super().__init__()
        config = services.config
        self.services = services
        self.model_name = start.model
        self.continue_latest = start.continue_latest
        self.host = ModelHost(
            services,
            replace(
                EngineSettings.from_config(config, services.paths, verbose=start.verbose),
                log_file=services.paths.log_file if start.verbose else None,
            ),
        )
        self.overrides = Sampling()
        self.context_size: int | None = config.context_size
        given = start.system_prompt
        self.system_prompt = given if given is not None else config.system_prompt
        self._given_system = given
        self._start_role = start.role
        self.editing = False
        """Whether the prompt holds the last message, to be sent in its place."""
        self.view = ReplyView(Transcript(id="transcript"), self._progress)
        """The reply in flight, as the transcript shows it."""
        self.served: list[str] = []
        """``ID/MODEL`` of the models the endpoints serve, asked in a thread at start."""
        self._asked = set()
        self._carried: tuple[ReplyStream, list[Attachment]] | None = None
        """The attachments the message being answered took from the bar (given back if it
        cannot start)."""

    def compose(self) -> ComposeResult:
        """Sidebar beside the chat column."""
        with Horizontal():
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield self.view.transcript
                yield AttachmentBar()
                yield PromptInput()
                yield StatusBar(id="status")
        yield Footer()
        yield self.host

    def on_mount(self) -> None:
        """Show saved chats, pick the model, start loading it."""
        # On a narrow terminal the chat needs every column; Ctrl+B shows the sidebar over it.
        narrow = self.app.size.width < NARROW
        sidebar = self.query_one(Sidebar)
        sidebar.display = not narrow
        sidebar.set_class(narrow, "over")
        self.refresh_sidebar()
        self.query_one(PromptInput).focus()
        conversation = None
        store = self.services.store
        if self.continue_latest and store is not None:
            with contextlib.suppress(ConversationNotFoundError):  # none yet: a new chat
                conversation = open_conversation(store, latest=True, prefix=None)
        model_name = self.model_name
        if self._start_role is not None:
            role = self._follow(self._start_role)
            model_name = model_name or (role.model if role else None)
        self._show_chat(conversation)
        if self.services.catalog.endpoints:
            # A daemon thread, not a worker: a server that never answers must not hold up quitting.
            threading.Thread(target=self._ask_endpoints, daemon=True).start()
        try:
            model = self.services.choose_model(model_name, conversation)
        except ChattuiError as error:
            self._no_model(str(error))
            return
        self.host.load(model)

    # The model ---------------------------------------------------------------------------

    def _no_model(self, why: str) -> None:
        self.query_one(StatusBar).state = State.NO_MODEL
        self.query(Welcome).remove()
        self.query_one(Transcript).add(
            Notice(
                f"No model to chat with: {why}\n\nOr download one with chattui models pull "
                "qwen2.5-0.5b, or start chattui -m path/to/model.gguf to use a file you have. "
                "Saved chats stay readable in the sidebar.",
                id="no-model",
            )
        )

    def on_model_host_loading(self, message: ModelHost.Loading) -> None:
        """Say which model is loading."""
        status = self.query_one(StatusBar)
        status.model, status.state, status.speed = message.model.spec.name, State.LOADING, 0.0
        for welcome in self.query(Welcome):
            welcome.model, welcome.loading = message.model.spec.name, True

    def on_model_host_loaded(self, message: ModelHost.Loaded) -> None:
        """The model is ready."""
        # What exists now lives as long as the app: keep it out of the collector's scans, which
        # took about a tenth of the UI thread's time while a reply streamed (bench/tui_stream.py).
        gc.freeze()
        self.host.set_options(self._options())
        self.query(Notice).filter("#no-model").remove()
        status = self.query_one(StatusBar)
        status.model, status.state = message.model.spec.name, State.READY
        status.capacity = message.engine.n_ctx
        for welcome in self.query(Welcome):
            welcome.model, welcome.loading = message.model.spec.name, False
        self.host.measure()

    def on_model_host_load_failed(self, message: ModelHost.LoadFailed) -> None:
        """Say why; the host goes back to the previous model if there was one."""
        self.notify(message.error, title="Cannot load the model", severity="error", timeout=10)
        if self.host.model is None:
            self._no_model(message.error)

    def on_model_host_measured(self, message: ModelHost.Measured) -> None:
        """Show how full the context is."""
        status = self.query_one(StatusBar)
        status.used, status.next_drop = message.used, message.next_drop
        status.dropped = message.left_out

    # Sending -----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def on_submit(self, event: PromptInput.Submitted) -> None:
        """Run a slash command or send the message."""
        parsed = slash.parse(event.text)
        if parsed.command is not None:
            getattr(self, parsed.command.method)(parsed.argument)
            return
        if parsed.unknown is not None:
            self._refuse(
                f"Unknown command {parsed.unknown}: /help lists them; "
                "start with // to send text that begins with a slash.",
                event.text,
            )
            return
        text = parsed.argument
        if self.editing:
            self.editing = False
            await self._begin(lambda session: session.edit_last(text), text, edit=True)
            return
        mentioned = self.pending_mentions(text)  # those not in the bar already
        carried = self.take_attachments()
        limits = Limits.of(self.services.config)

        def send(session: ChatSession) -> ChatTurn:
            check_unchanged(carried)
            return session.send(text, [*carried, *read_all(mentioned, limits)])

        names = (*(a.name for a in carried), *mentioned)
        # The screen handles the reply's end after this handler: carried is set in time.
        stream = await self._begin(send, text, attached=names)
        if stream is not None:
            self._carried = (stream, carried)
        else:
            self.give_back_attachments(carried)

    async def _begin(
        self,
        start: StartTurn,
        user_text: str | None = None,
        *,
        edit: bool = False,
        regenerate: bool = False,
        extend: bool = False,
        attached: tuple[str, ...] = (),
    ) -> ReplyStream | None:
        """Start a reply in the host and make room for it in the transcript.

        Returns:
            Its stream; None when it could not start (why was said).
        """
        session = self.host.session
        if session is not None and not self.host.busy and (added := session.refresh()):
            self.notify(
                f"Another chattui added {added} messages to this chat: they stay, as a branch "
                "beside this one (Alt+← and Alt+→ show it).",
                timeout=8,
            )
        # Read before the worker starts: it rewinds the history.
        ends_with_reply = (
            session is not None
            and bool(session.history)
            and session.history[-1].role is Role.ASSISTANT
        )
        try:
            stream = self.host.begin(start)
        except ChattuiError as error:
            self._refuse(str(error), user_text)
            return None
        await self.view.open(
            stream,
            user_text,
            attached=attached,
            extend=extend,
            drop_reply=(edit or regenerate) and ends_with_reply,
            drop_user=edit,
        )
        # A blink redraws the screen twice a second: CPU a streaming reply can use better.
        self.query_one(PromptInput).cursor_blink = False
        self.query_one(StatusBar).state = State.PROMPT
        return stream

    def on_model_host_text_arrived(self, message: ModelHost.TextArrived) -> None:
        """Show the new text now, or when the pace of updates allows."""
        if message.stream is self.view.stream:
            self.view.arrived()

    def _progress(self, progress: Progress) -> None:
        """Live figures while a reply streams."""
        status = self.query_one(StatusBar)
        status.state = State.GENERATING
        status.speed = progress.speed
        status.used = progress.prompt_tokens + progress.pieces

    async def on_model_host_reply_ended(self, message: ModelHost.ReplyEnded) -> None:
        """Finish the reply widget and the status bar."""
        turn, session = message.stream.turn, self.host.session
        final = None
        if turn is not None and not turn.withdrawn and session and session.history:
            final = session.history[-1]
        shown = await self.view.close(message.stream, final)
        self.query_one(PromptInput).cursor_blink = True
        status = self.query_one(StatusBar)
        status.state = State.READY
        if message.error is not None:
            self.notify(message.error, title="Reply failed", severity="error", timeout=10)
        carried, self._carried = self._carried, None
        if turn is None:  # it never started: nothing was saved, so the view goes back
            if session is not None:
                self._show_chat(None, session=session)
            if shown.user is not None:
                self.query_one(PromptInput).give_back(shown.user.text)
            if carried is not None and carried[0] is message.stream:
                self.give_back_attachments(carried[1])
        elif turn.withdrawn and session is not None:  # failed before a word: as it was
            self._show_chat(None, session=session)
        else:
            if session is not None and final is not None:
                self._name_turn(shown, session.history)
                if shown.reply is not None and len(session.history) > 1:
                    await shown.reply.show_sources(session.history[-2].passages)
            if (stats := turn.reply.stats_or_none) is not None:
                status.speed = stats.decode_tps
                status.dropped = stats.dropped_messages
        self.show_branches()
        self.host.measure()
        self.refresh_sidebar()

    @staticmethod
    def _name_turn(shown: Shown, history: list[ChatMessage]) -> None:
        """Give the widgets of a finished turn the ids of the messages they show."""
        if shown.reply is not None:
            shown.reply.message_id = history[-1].id
        if shown.user is not None and len(history) > 1:
            shown.user.message_id = history[-2].id

    # Actions -----------------------------------------------------------------------------

    def action_stop(self) -> None:
        """Stop the reply now; what was written stays, saved and marked stopped."""
        self.host.stop()

    def action_new_chat(self) -> None:
        """Start a new conversation."""
        if self.host.busy:
            self._refuse(BUSY)
            return
        self.overrides = Sampling()
        self.system_prompt = self.services.config.system_prompt
        self.host.set_role(None)
        self._show_chat(None)

    def open_saved(self, conversation: Conversation, at: int | None = None) -> None:
        """Show a saved conversation (from message ``at``) and continue it."""
        self._show_chat(conversation, at=at)

    def show_history(self) -> None:
        """Show the open chat's branch again (a version was deleted)."""
        if self.host.session is not None:
            self._show_chat(None, session=self.host.session)

    def _show_chat(
        self,
        conversation: Conversation | None,
        *,
        session: ChatSession | None = None,
        at: int | None = None,
    ) -> None:
        """Show ``conversation`` (or a new chat, or ``session``'s history) and reply to it.

        ``at`` is the index of a message to show first (a search hit, marked); None shows the
        newest.
        """
        self.editing = False
        if session is None:
            system = self.system_prompt if conversation is None else self._given_system
            self.host.open_chat(conversation, system or None)
            self.host.set_options(self._options())
        messages = list(conversation.messages) if conversation else []
        if session is not None:
            messages = session.history
        model = self.host.model
        welcome = Welcome()
        welcome.model = model.spec.name if model else ""
        welcome.loading = self.host.engine is None
        labels = self.branch_labels()
        if self.host.session is None and conversation is not None:  # the model still loading
            labels = conversation.outline.labels(conversation.messages)
        self.query_one(Transcript).show(messages, welcome, at=at, branches=labels)
        self.show_place()
        self.query_one(StatusBar).dropped = 0
        self.host.measure()

    @on(PromptInput.Scroll)
    def on_scroll_keys(self, event: PromptInput.Scroll) -> None:
        """PageUp/PageDown scroll the transcript; Ctrl+Home/Ctrl+End go to its ends."""
        transcript = self.query_one(Transcript)
        actions = {
            "pageup": transcript.action_page_up,
            "pagedown": transcript.action_page_down,
            "ctrl+home": transcript.action_scroll_home,
            "ctrl+end": transcript.action_scroll_end,
        }
        with contextlib.suppress(SkipAction):  # nothing to scroll: Textual's way to say so
            actions[event.key]()

    def action_toggle_sidebar(self) -> None:
        """Show or hide the saved conversations."""
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display

    async def action_regenerate(self) -> None:
        """Answer the last message again."""
        session = self.host.session
        if session is None or not any(m.role is Role.USER for m in session.history):
            self._refuse("There is no message to answer yet.")
            return
        await self._begin(ChatSession.regenerate, regenerate=True)

    async def action_continue_reply(self) -> None:
        """Carry on writing the last reply where it stopped."""
        session = self.host.session
        if session is None or not session.history or session.history[-1].role is not Role.ASSISTANT:
            self._refuse("There is no reply to continue.")
            return
        await self._begin(ChatSession.continue_reply, extend=True)

    def action_edit_last(self) -> None:
        """Put the last message back in the prompt; sending it replaces the old one."""
        session = self.host.session
        if self.host.busy:
            self._refuse(BUSY)
            return
        users = [m for m in session.history if m.role is Role.USER] if session else []
        if not users:
            self._refuse("There is no message of yours to edit yet.")
            return
        prompt = self.query_one(PromptInput)
        prompt.load_text(users[-1].content)
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self.editing = True
        self.notify("Editing your last message: Enter resends it.")
