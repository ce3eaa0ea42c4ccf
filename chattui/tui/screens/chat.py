"""The chat screen: sidebar, transcript, prompt and status bar, and the workers behind them.

The engine loads and generates in thread workers; tokens are handed to the UI through a buffer
that the UI drains in batches, so the UI never sets the pace of decoding. How often a batch is
shown is set by what showing one costs (see pacing.py): Markdown rendering competes with
llama.cpp for the CPU, and bench/tui_stream.py measures what it costs.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from chattui.catalog import ResolvedModel
from chattui.chat import ChatSession, ChatTurn
from chattui.conversation import Conversation, title_from
from chattui.engine.base import Engine, EngineSettings
from chattui.engine.context import next_trim
from chattui.errors import ChattuiError
from chattui.sampling import SAMPLING_LIMITS, GenerationOptions, Sampling, check_sampling
from chattui.terminal_text import printable
from chattui.transcript import age, to_markdown
from chattui.tui.pacing import Pacer
from chattui.tui.screens.dialogs import ConfirmScreen, TextScreen
from chattui.tui.screens.settings import FIELDS, Settings, SettingsScreen
from chattui.tui.services import Services
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Entry, Sidebar
from chattui.tui.widgets.status import State, StatusBar
from chattui.tui.widgets.transcript import Notice, Reply, Transcript, UserMessage, note_for

HELP = """Enter sends · Ctrl+J new line · Up recalls · Esc stops · Ctrl+T continues · Ctrl+R redoes
Ctrl+G edits your last message · F3 copies the reply, F4 its code · F2 renames, F8 deletes
/new  /model NAME  /system TEXT  /temp VALUE  /clear  /export [FILE]  /help"""
QUIT_WAIT = 5.0
"""Seconds quitting waits for a stopped reply to be saved before leaving anyway."""
NARROW = 80
"""Terminals narrower than this start with the sidebar hidden."""
CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


@dataclass
class ReplyEnded(Message):
    """The generation worker finished a reply (or failed: ``error`` is set)."""

    turn: ChatTurn | None
    error: str | None = None


class TextArrived(Message):
    """The generation worker left new text in the buffer, which was empty."""


class ChatScreen(Screen[None]):
    """One conversation at a time, with the saved ones in the sidebar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+b", "toggle_sidebar", "Chats"),
        Binding("ctrl+r", "regenerate", "Regenerate"),
        # Keys the prompt (a TextArea) does not already use for editing.
        Binding("ctrl+g", "edit_last", "Edit last"),
        Binding("ctrl+t", "continue_reply", "Continue reply", show=False),
        Binding("ctrl+o", "settings", "Settings"),
        Binding("f2", "rename", "Rename chat", show=False),
        Binding("f3", "copy_reply", "Copy reply", show=False),
        Binding("f4", "copy_code", "Copy code block", show=False),
        Binding("ctrl+s", "export", "Export as Markdown", show=False),
        Binding("f8", "delete_chat", "Delete chat", show=False),
    ]

    def __init__(self, services: Services, model_name: str | None, continue_latest: bool) -> None:
        """Create the screen; the model loads once it is mounted."""
        super().__init__()
        self.services = services
        self.model_name = model_name
        self.continue_latest = continue_latest
        self.model: ResolvedModel | None = None
        self.engine: Engine | None = None
        self.session: ChatSession | None = None
        self.conversation: Conversation | None = None
        self.overrides = Sampling()
        self.context_size: int | None = services.config.context_size
        self.system_prompt = services.config.system_prompt or ""
        self.turn: ChatTurn | None = None
        self.editing = False
        self._pending: list[str] = []
        """Reply text from the worker not shown yet."""
        self._awake = False
        """Whether the UI was told about the text in ``_pending``."""
        self._lock = threading.Lock()
        self._reply: Reply | None = None
        self._pacer = Pacer()
        self._appending = asyncio.Lock()
        self._waiting_engine: tuple[ResolvedModel, Engine] | None = None
        self._generating = threading.Event()
        """Clear while a generation worker runs (the engine is in use)."""
        self._generating.set()

    def compose(self) -> ComposeResult:
        """Sidebar beside the chat column."""
        with Horizontal():
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield Transcript(id="transcript")
                yield PromptInput()
                yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Show saved chats, pick the model, start loading it."""
        # On a narrow terminal the chat needs every column; Ctrl+B still shows the sidebar.
        self.query_one(Sidebar).display = self.app.size.width >= NARROW
        self.refresh_sidebar()
        store = self.services.store
        if self.continue_latest and store is not None and (latest := store.latest_id()):
            self.open_conversation(latest)
        self.query_one(PromptInput).focus()
        try:
            model = self.services.choose_model(self.model_name, self.conversation)
        except ChattuiError as error:
            self._no_model(str(error))
            return
        self.load(model)

    async def on_unmount(self) -> None:
        """On quit: stop the reply (it is saved, marked stopped), then free the model."""
        if self.turn is not None:
            self.turn.stop()
        # A stop lands within a token or a prompt batch; the worker then saves the reply.
        idle = await asyncio.to_thread(self._generating.wait, QUIT_WAIT)
        if self.engine is not None and idle:
            self.engine.close()
        self.engine = None

    # Model -------------------------------------------------------------------------------

    def _no_model(self, why: str) -> None:
        status = self.query_one(StatusBar)
        status.state = State.NO_MODEL
        self.query_one(Transcript).mount(
            Notice(
                f"No model to chat with: {why}\n\nOr download one with chattui models pull "
                "qwen2.5-0.5b, or start chattui -m path/to/model.gguf to use a file you have. "
                "Saved chats stay readable in the sidebar.",
                id="no-model",
            )
        )

    def load(self, model: ResolvedModel) -> None:
        """Load ``model`` in the background; the current one keeps working meanwhile."""
        status = self.query_one(StatusBar)
        status.model = model.spec.name
        status.state = State.LOADING
        self._load(
            model,
            EngineSettings(
                n_ctx=self.context_size,
                threads=self.services.config.threads,
                gpu_layers=self.services.config.gpu_layers,
            ),
        )

    @work(thread=True, exclusive=True, group="load")
    def _load(self, model: ResolvedModel, settings: EngineSettings) -> None:
        try:
            engine = self.services.open_engine(model, settings)
        except ChattuiError as error:
            self.app.call_from_thread(self._load_failed, str(error))
            return
        self.app.call_from_thread(self._loaded, model, engine)

    def _load_failed(self, error: str) -> None:
        self.query_one(StatusBar).state = State.NO_MODEL if self.engine is None else State.READY
        self.notify(error, title="Cannot load the model", severity="error", timeout=10)

    def _loaded(self, model: ResolvedModel, engine: Engine) -> None:
        if self._reply is not None:  # a reply is streaming from the old model: swap after it
            self._waiting_engine = (model, engine)
            return
        old, self.engine, self.model = self.engine, engine, model
        if self.session is not None:
            self.session.switch_engine(engine, model)  # the chat goes on with the new model
            self.session.options = self._options()
        else:
            self._new_session(self.conversation)
        if old is not None and old is not engine:
            old.close()
        status = self.query_one(StatusBar)
        status.model, status.state, status.capacity = model.spec.name, State.READY, engine.n_ctx
        self._update_gauge()

    def _options(self) -> GenerationOptions:
        spec_sampling = self.model.spec.sampling if self.model else Sampling()
        base = self.services.config.sampling.over(spec_sampling)
        return self.overrides.over(base).resolve()

    def _new_session(self, conversation: Conversation | None) -> None:
        if self.engine is None or self.model is None:
            return
        self.session = ChatSession(
            self.engine,
            self.model,
            self._options(),
            system_prompt=None if conversation else (self.system_prompt or None),
            store=self.services.store,
            conversation=conversation,
        )

    # Sending -----------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    def on_submit(self, event: PromptInput.Submitted) -> None:
        """Run a slash command or send the message."""
        text = event.text
        if text.startswith("/") and self.slash(text):
            return
        if self.session is None:
            self.notify(
                "The model is not ready yet."
                if self.engine is None and self.query_one(StatusBar).state is State.LOADING
                else "No model is loaded.",
                severity="warning",
            )
            return
        if self.turn is not None:
            self.notify("Wait for the reply, or press Esc to stop it.", severity="warning")
            return
        session = self.session
        if self.editing:
            self.editing = False
            self._drop_last_exchange()
            self._begin(text, lambda: session.edit_last(text))
        else:
            self._begin(text, lambda: session.send(text))

    def _begin(
        self, user_text: str | None, start: Callable[[], ChatTurn], *, extend: bool = False
    ) -> None:
        transcript = self.query_one(Transcript)
        if user_text is not None:
            transcript.mount(UserMessage(user_text))
        replies = transcript.replies()
        if extend and replies:
            self._reply = replies[-1]  # new text is appended to the stopped reply
            self._reply.border_subtitle = ""
        else:
            self._reply = Reply()
            transcript.mount(self._reply)
        transcript.anchor()
        self._pacer.restart()
        # A blink redraws the screen twice a second: CPU a streaming reply can use better.
        self.query_one(PromptInput).cursor_blink = False
        self.query_one(StatusBar).state = State.PROMPT
        self.turn = None
        self._generating.clear()  # here, not in the worker: a quit may come before it starts
        self._generate(start)

    @work(thread=True, exclusive=True, group="reply")
    def _generate(self, start: Callable[[], ChatTurn]) -> None:
        try:
            self._generate_turn(start)
        finally:
            self._generating.set()

    def _generate_turn(self, start: Callable[[], ChatTurn]) -> None:
        try:
            turn = start()
            self.turn = turn
            for piece in turn:
                with self._lock:
                    self._pending.append(piece)
                    wake, self._awake = not self._awake, True
                if wake:  # once per batch: the UI is woken only when there is text to show
                    self.post_message(TextArrived())
        except ChattuiError as error:
            self.post_message(ReplyEnded(self.turn, str(error)))
            return
        self.post_message(ReplyEnded(turn))

    async def on_text_arrived(self, _: TextArrived) -> None:
        """Show the new text now, or when the pace of updates allows."""
        delay = self._pacer.delay(time.monotonic())
        if delay > 0:
            self.set_timer(delay, self._drain)
        else:
            await self._drain()

    async def _drain(self) -> None:
        # Not MarkdownStream: the buffer already batches, and the Pacer spaces the batches.
        async with self._appending:  # a timer and the end of a reply may both drain
            with self._lock:
                chunk, self._pending, self._awake = "".join(self._pending), [], False
            if chunk and self._reply is not None:
                self._pacer.update(time.monotonic(), time.thread_time())
                self.query_one(StatusBar).state = State.GENERATING
                await self._reply.append(printable(chunk))

    async def on_reply_ended(self, event: ReplyEnded) -> None:
        """Finish the reply widget and the status bar."""
        await self._drain()
        self.query_one(PromptInput).cursor_blink = True
        status = self.query_one(StatusBar)
        status.state = State.READY
        self.turn = None
        if event.error is not None:
            self.notify(event.error, title="Reply failed", severity="error", timeout=10)
        if self._reply is not None and self.session is not None and event.turn is not None:
            message = self.session.history[-1]
            await self._reply.update(printable(message.content))
            self._reply.text = message.content
            self._reply.border_subtitle = note_for(message)
            stats = event.turn.stats
            status.speed = stats.decode_tps
            status.used = stats.prompt_tokens + stats.completion_tokens
            status.dropped = stats.dropped_messages
        elif self._reply is not None and not self._reply.text:
            await self._reply.remove()
        self._reply = None
        self._update_gauge()
        self.refresh_sidebar()
        if self._waiting_engine is not None:
            model, engine = self._waiting_engine
            self._waiting_engine = None
            self._loaded(model, engine)

    # Actions -----------------------------------------------------------------------------

    def action_stop(self) -> None:
        """Stop the reply now; what was written stays, saved and marked stopped."""
        if self.turn is not None:
            self.turn.stop()

    def action_new_chat(self) -> None:
        """Start a new conversation."""
        if self._busy():
            return
        self.conversation = None
        self.overrides = Sampling()
        self.system_prompt = self.services.config.system_prompt or ""
        self.query_one(Transcript).show([])
        self._new_session(None)
        self._update_gauge()

    def action_toggle_sidebar(self) -> None:
        """Show or hide the saved conversations."""
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display

    def action_regenerate(self) -> None:
        """Answer the last message again."""
        if self._busy() or self.session is None or not self.session.history:
            return
        self._drop_last_reply()
        session = self.session
        self._begin(None, session.regenerate)

    def action_continue_reply(self) -> None:
        """Carry on writing the last reply where it stopped."""
        if self._busy() or self.session is None:
            return
        if not self.session.history or self.session.history[-1].role.value != "assistant":
            self.notify("There is no reply to continue.", severity="warning")
            return
        session = self.session
        self._begin(None, session.continue_reply, extend=True)

    def action_edit_last(self) -> None:
        """Put the last message back in the prompt; sending it replaces the old one."""
        if self._busy() or self.session is None:
            return
        users = [m for m in self.session.history if m.role.value == "user"]
        if not users:
            return
        prompt = self.query_one(PromptInput)
        prompt.load_text(users[-1].content)
        prompt.focus()
        self.editing = True
        self.notify("Editing your last message: Enter resends it.")

    def action_copy_reply(self) -> None:
        """Copy the last reply to the clipboard."""
        replies = self.query_one(Transcript).replies()
        if replies:
            self.app.copy_to_clipboard(replies[-1].text)
            self.notify("Copied the last reply.")

    def action_copy_code(self) -> None:
        """Copy the last code block of the last reply."""
        replies = self.query_one(Transcript).replies()
        blocks = CODE_BLOCK.findall(replies[-1].text) if replies else []
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

    def action_settings(self) -> None:
        """Open the settings panel."""
        options = self._options()
        current = Settings(
            model=self.model.spec.id if self.model else "",
            system_prompt=self.session.system_prompt or "" if self.session else self.system_prompt,
            sampling={name: getattr(options, name) for name in FIELDS},
            context_size=self.context_size,
        )
        catalog = self.services.catalog
        models = [(s.id, s.name, catalog.is_installed(s)) for s in catalog]
        self.app.push_screen(SettingsScreen(current, models), self._apply_settings)

    def _apply_settings(self, settings: Settings | None) -> None:
        if settings is None:
            return
        self.overrides = Sampling(**settings.sampling)  # type: ignore[arg-type]
        self.system_prompt = settings.system_prompt
        if self.session is not None:
            self.session.system_prompt = settings.system_prompt or None
            self.session.options = self._options()
        reload = settings.context_size != self.context_size
        self.context_size = settings.context_size
        if settings.save_as_default:
            self.services.save_defaults(settings)
        if self.model is None or settings.model != self.model.spec.id or reload:
            try:
                self.load(self.services.catalog.resolve(settings.model))
            except ChattuiError as error:
                self.notify(str(error), severity="error")

    def action_rename(self) -> None:
        """Rename the conversation highlighted in the sidebar (or the open one)."""
        cid = self.query_one(Sidebar).selected() or (self.session.cid if self.session else None)
        store = self.services.store
        if cid is None or store is None:
            return

        def rename(title: str | None) -> None:
            if title:
                store.rename(cid, title)
                self.refresh_sidebar()

        self.app.push_screen(TextScreen("New title", store.get(cid).title), rename)

    def action_delete_chat(self) -> None:
        """Delete the conversation highlighted in the sidebar (after confirmation)."""
        cid = self.query_one(Sidebar).selected() or (self.session.cid if self.session else None)
        store = self.services.store
        if cid is None or store is None or self._busy():
            return

        def delete(yes: bool | None) -> None:
            if yes:
                store.delete([cid])
                if self.session is not None and self.session.cid == cid:
                    self.action_new_chat()
                self.refresh_sidebar()

        self.app.push_screen(ConfirmScreen(f"Delete “{store.get(cid).title}”?"), delete)

    # Sidebar -----------------------------------------------------------------------------

    def refresh_sidebar(self, query: str = "") -> None:
        """Fill the sidebar from the store (newest first, or search results)."""
        store = self.services.store
        if store is None:
            return
        if query.strip():
            entries = [Entry(h.id, h.title, h.snippet) for h in store.search(query, 50)]
        else:
            entries = [
                Entry(c.id, c.title, f"{age(c.updated_at)} · {c.message_count} messages")
                for c in store.recent(100)
            ]
        self.query_one(Sidebar).show(entries)

    @on(Sidebar.FilterChanged)
    def on_filter(self, event: Sidebar.FilterChanged) -> None:
        """Search as the user types."""
        self.refresh_sidebar(event.query)

    @on(Sidebar.Opened)
    def on_open(self, event: Sidebar.Opened) -> None:
        """Open the chosen conversation."""
        if not self._busy():
            self.open_conversation(event.conversation_id)

    def open_conversation(self, cid: str) -> None:
        """Show a saved conversation and continue it."""
        assert self.services.store is not None
        self.conversation = self.services.store.get(cid)
        self.query_one(Transcript).show(list(self.conversation.messages))
        self._new_session(self.conversation)
        self._update_gauge()
        self.query_one(PromptInput).focus()

    # Slash commands ----------------------------------------------------------------------

    def slash(self, text: str) -> bool:
        """Run a slash command; False when ``text`` is not one."""
        command, _, argument = text.partition(" ")
        argument = argument.strip()
        if command in ("/new", "/clear"):
            keep = (self.overrides, self.system_prompt)
            self.action_new_chat()
            if command == "/clear":
                self.overrides, self.system_prompt = keep
                self._new_session(None)
        elif command == "/model":
            try:
                self.load(self.services.catalog.resolve(argument))
            except ChattuiError as error:
                self.notify(str(error), severity="error")
        elif command == "/system":
            self.system_prompt = argument
            if self.session is not None:
                self.session.system_prompt = argument or None
            self.notify("System prompt set." if argument else "System prompt cleared.")
        elif command == "/temp":
            try:
                value = float(check_sampling("temperature", float(argument)))
            except ValueError:
                allowed = SAMPLING_LIMITS["temperature"].describe()
                self.notify(f"/temp {argument}: allowed: {allowed}", severity="error")
                return True
            self.overrides = replace(self.overrides, temperature=value)
            if self.session is not None:
                self.session.options = self._options()
            self.notify(f"Temperature {value}.")
        elif command == "/export":
            self.action_export(argument)
        elif command == "/help":
            self.query_one(Transcript).mount(Notice(HELP))
        else:
            return False
        return True

    # Helpers -----------------------------------------------------------------------------

    def _update_gauge(self) -> None:
        """Count the open chat's tokens with the model's tokenizer (idle only)."""
        if self.engine is None or self.session is None or self.turn is not None:
            return
        if self._reply is not None:
            return
        status = self.query_one(StatusBar)
        messages = self.session.prompt_messages()
        status.used = self.engine.count_tokens(messages) if messages else 0
        status.next_drop = next_trim(
            messages, self.engine.count_tokens, self.engine.n_ctx, self.session.options.max_tokens
        )

    def _busy(self) -> bool:
        if self.turn is not None or self._reply is not None:
            self.notify("Wait for the reply, or press Esc to stop it.", severity="warning")
            return True
        return False

    def _current(self) -> Conversation | None:
        store = self.services.store
        session = self.session
        if session is not None and session.cid is not None and store is not None:
            return store.get(session.cid)
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
        return self.conversation

    def _drop_last_reply(self) -> None:
        replies = self.query_one(Transcript).replies()
        if replies and self.session and self.session.history[-1].role.value == "assistant":
            replies[-1].remove()

    def _drop_last_exchange(self) -> None:
        transcript = self.query_one(Transcript)
        self._drop_last_reply()
        users = transcript.users()
        if users:
            users[-1].remove()
