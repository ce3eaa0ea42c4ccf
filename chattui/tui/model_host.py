"""ModelHost: the one owner of the engine, the chat session, the reply in flight and loading.

It is driven from the UI thread only. Loading and generating run in thread workers that report
back with messages, which bubble up to the screen after the host has updated its own state. So
"is a reply running?" and "which model is loaded?" have one answer, read on the UI thread:

- Enter while a reply is starting or streaming starts nothing (``begin`` refuses); Esc at any
  moment after Enter stops that reply, even before the engine has started it.
- A model switch frees the old model first, then loads the new one (memory never holds both);
  a newer switch makes an older pending one moot, and a load that finishes after a newer request
  is closed at once: the last model asked for wins.
- On unmount (quit, SIGTERM, SIGHUP) the reply is stopped, saved as stopped, and the engine is
  closed before the app exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.widget import Widget

from chattui.attachments import Limits, read_all
from chattui.catalog import ResolvedModel
from chattui.chat import ChatSession, ChatTurn
from chattui.conversation import Attachment, Conversation, ToolCall
from chattui.conversation import Message as ChatMessage
from chattui.engine.base import Engine, EngineSettings
from chattui.engine.context import fit_messages, next_trim, reply_budget
from chattui.errors import ChattuiError
from chattui.sampling import GenerationOptions
from chattui.tui.boundary import ErrorBoundary
from chattui.tui.reply_stream import ReplyStream
from chattui.tui.services import Services

if TYPE_CHECKING:
    from chattui.tools.runner import Approval, CallRequest, ToolRunner

QUIT_WAIT = 5.0
"""Seconds quitting waits for a stopped reply to be saved before leaving anyway."""

StartTurn = Callable[[ChatSession], ChatTurn]
"""Starts a turn on the session (send, regenerate, continue...); runs in the worker."""


class Busy(ChattuiError):
    """A reply is being written, so the request cannot start now."""


class ModelHost(ErrorBoundary, Widget):
    """Owns the engine, the session, the reply in flight and model loading."""

    DEFAULT_CSS = "ModelHost { display: none; }"

    @dataclass
    class Loading(Message):
        """A model started loading."""

        model: ResolvedModel

    @dataclass
    class Loaded(Message):
        """A model is loaded and the session uses it."""

        model: ResolvedModel
        engine: Engine
        generation: int

    @dataclass
    class LoadFailed(Message):
        """A model could not be loaded."""

        model: ResolvedModel
        error: str
        generation: int

    @dataclass
    class ToolProblems(Message):
        """Tool servers that did not start, or tools they offer that were skipped."""

        text: str

    @dataclass
    class TextArrived(Message):
        """The reply's buffer, which was empty, holds new text."""

        stream: ReplyStream

    @dataclass
    class ReplyEnded(Message):
        """The reply ended: normally, stopped, or with ``error``."""

        stream: ReplyStream
        error: str | None = None

    @dataclass
    class Attached(Message):
        """What was asked to be attached was read (``counted``: with its tokens), or failed."""

        attachments: list[Attachment]
        error: str | None = None
        counted: bool = False

    @dataclass
    class Measured(Message):
        """The open chat was counted: tokens used and what the next trim would drop."""

        used: int
        next_drop: int
        generation: int
        left_out: int = 0
        """Oldest messages the next prompt leaves out: the chat is longer than the context."""

    def __init__(self, services: Services, settings: EngineSettings) -> None:
        """Create the host; nothing is loaded until ``load``."""
        super().__init__()
        self.services = services
        self.settings = settings
        """How models are loaded (context size, threads, offload, log)."""
        self.model: ResolvedModel | None = None
        """The model loaded, or loading."""
        self.engine: Engine | None = None
        """The loaded engine; None while loading or when none could be."""
        self.session: ChatSession | None = None
        """The open chat; None until a model is first loaded."""
        self.stream: ReplyStream | None = None
        """The reply in flight, from Enter until its end has been handled."""
        self.options = GenerationOptions()
        """Sampling for the next reply (the screen sets it)."""
        self.system_prompt: str | None = None
        """System prompt of a chat started before the model is loaded."""
        self.role: str | None = None
        """Name of the role new chats follow (saved with them)."""
        self._conversation: Conversation | None = None
        self._turns = 0
        """Counts chats opened and replies begun: a KV snapshot read after either is stale."""
        self._generation = 0
        """Counts load requests: only the newest one's engine is kept."""
        self._previous: ResolvedModel | None = None
        """The model to load again if a switch fails."""
        self._load_lock = threading.Lock()
        """Loads run one at a time, so two models are never loading together."""
        self._engine_lock = threading.Lock()
        """Held while a worker uses the engine outside a reply, and to close it."""
        self._idle = threading.Event()
        """Set when no generation worker runs."""
        self._idle.set()
        self._quitting = threading.Event()
        self._wanted = threading.Event()
        """Set while a reply waits for the engine: settling the last one gives way to it."""
        self._closer: threading.Thread | None = None
        """Stops the reply and frees the model once quitting has begun."""
        self._measures = 0
        self.tools_on = False
        """Whether chats opened here may call tools (``/tools on``)."""

    # State -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a reply is starting, streaming or being finished."""
        return self.stream is not None

    @property
    def is_loading(self) -> bool:
        """Whether a model is being loaded."""
        return self.model is not None and self.engine is None

    # Loading -----------------------------------------------------------------------------

    def load(self, model: ResolvedModel) -> None:
        """Free the current model and load ``model`` in the background.

        Raises:
            Busy: A reply is being written.
        """
        if self.busy:
            raise Busy("Wait for the reply, or press Esc to stop it, then switch models.")
        old, self.engine = self.engine, None
        if self.model is not None and old is not None:
            self._previous = self.model
        self.model = model
        self._generation += 1
        self.post_message(self.Loading(model))
        self._load(self._generation, model, old)

    @work(thread=True, group="load")
    def _load(self, generation: int, model: ResolvedModel, old: Engine | None) -> None:
        with self._load_lock:
            if old is not None:
                self._close(old)
            if generation != self._generation or self._quitting.is_set():
                return  # a newer request came while this one waited
            try:
                engine = self.services.open_engine(model, self.settings)
            except ChattuiError as error:
                self.post_message(self.LoadFailed(model, str(error), generation))
                return
            if generation != self._generation or self._quitting.is_set():
                self._close(engine)  # asked for something else meanwhile
                return
            self.post_message(self.Loaded(model, engine, generation))

    def on_model_host_loaded(self, message: Loaded) -> None:
        """Use the new engine, unless a newer request came meanwhile."""
        if message.generation != self._generation:
            self._release(message.engine)
            message.stop()
            return
        self.engine, self.model = message.engine, message.model
        if self.session is not None:
            self.session.switch_engine(message.engine, message.model)
            self.session.options = self.options
        else:
            self.open_chat(self._conversation, self.system_prompt)

    def on_model_host_load_failed(self, message: LoadFailed) -> None:
        """Go back to the previous model, if there was one."""
        if message.generation != self._generation:
            message.stop()
            return
        previous, self._previous = self._previous, None
        if previous is not None and previous is not message.model:
            self.load(previous)
        else:
            self.model = None

    # The chat ----------------------------------------------------------------------------

    def open_chat(self, conversation: Conversation | None, system_prompt: str | None) -> None:
        """Make ``conversation`` (or a new chat) the one replies go to.

        Raises:
            Busy: A reply is being written.
        """
        if self.busy:
            raise Busy("Wait for the reply, or press Esc to stop it.")
        self._conversation, self.system_prompt = conversation, system_prompt
        if self.engine is None or self.model is None:
            self.session = None
            return
        self.session = ChatSession(
            self.engine,
            self.model,
            self.options,
            system_prompt=system_prompt,
            store=self.services.store,
            conversation=conversation,
            role=self.role if conversation is None else None,
            snapshots=self.services.store.snapshots if self.services.store else None,
            bases=self.services.knowledge_bases(),
            tools=self._runner() if self.tools_on else None,
        )
        self._turns += 1
        if conversation is not None:
            self._restore(self.session, self._turns)

    @work(thread=True, exclusive=True, group="restore")
    def _restore(self, session: ChatSession, turns: int) -> None:
        """Load the chat's KV snapshot, so that only what follows it is evaluated.

        In a worker: a long chat's snapshot is tens of megabytes. A reply sent meanwhile is
        still right, only slower: the engine keeps the prefix its cache and the prompt share.
        """
        with self._engine_lock:  # the last reply's snapshot may still be being written
            if session.engine is not self.engine or turns != self._turns:
                return  # closed, another chat opened, or a reply began meanwhile
            session.restore_snapshot()

    def set_role(self, name: str | None) -> None:
        """The role the open chat (and new ones) follow."""
        self.role = name
        if self.session is not None:
            self.session.set_role(name)

    def set_knowledge(self, name: str | None) -> None:
        """The knowledge base the open chat's questions get passages from (None: none).

        Raises:
            ChattuiError: No chat is open yet (the model is loading), or no such base.
        """
        if self.session is None:
            raise ChattuiError(
                "The model is still loading." if self.is_loading else "No model is loaded."
            )
        self.session.set_knowledge(name)

    def set_tools(self, on: bool) -> None:
        """Let the open chat (and later ones) call tools, each call approved; or stop it.

        Raises:
            ChattuiError: No tool server is configured.
        """
        if on and not self.services.config.mcp_servers:
            raise ChattuiError(
                "No tool server is configured: chattui tools add NAME -- COMMAND adds one."
            )
        self.tools_on = on
        if self.session is not None:
            self.session.tools = self._runner() if on else None

    def _runner(self) -> ToolRunner:
        """The tools of one chat: "always" answers last as long as the chat."""
        from chattui.tools.runner import ToolRunner

        config = self.services.config
        return ToolRunner(
            self.services.tool_servers(),
            approve=self._approve,
            auto_approve=config.auto_approve,
            max_steps=config.max_tool_steps,
            result_tokens=config.tool_result_tokens,
        )

    def _approve(self, request: CallRequest) -> Approval:
        """Ask the user about a call (on the reply's thread, which waits for the answer)."""
        from chattui.tools.runner import Approval
        from chattui.tui.screens.approval import ApprovalDialog

        answers: list[Approval] = []
        answered = threading.Event()

        def record(answer: Approval | None) -> None:
            answers.append(answer or Approval.DENY)
            answered.set()

        stream = self.stream
        self.app.call_from_thread(self.app.push_screen, ApprovalDialog(request), record)
        while not answered.wait(0.1):
            if self._quitting.is_set() or (stream is not None and stream.stopping):
                self.app.call_from_thread(ApprovalDialog.dismiss_open, self.app)
                return Approval.DENY
        return answers[0]

    def set_options(self, options: GenerationOptions) -> None:
        """Sampling for the next reply (one in flight keeps its own)."""
        self.options = options
        if self.session is not None:
            self.session.options = options

    def set_system_prompt(self, prompt: str | None) -> None:
        """System prompt for the open chat."""
        self.system_prompt = prompt
        if self.session is not None:
            self.session.set_system_prompt(prompt)

    def begin(self, start: StartTurn) -> ReplyStream:
        """Start a reply with ``start`` in a worker; the stream carries its text to the view.

        Raises:
            Busy: A reply is already being written.
            ChattuiError: No model is loaded yet.
        """
        if self.busy:
            raise Busy("A reply is being written: press Esc to stop it first.")
        if self.session is None:
            raise ChattuiError(
                "The model is still loading." if self.is_loading else "No model is loaded."
            )
        stream = ReplyStream()
        self.stream = stream
        self._turns += 1
        self._idle.clear()  # here, not in the worker: a quit may come before it starts
        self._wanted.set()
        self._generate(self.session, stream, start)
        return stream

    def stop(self) -> None:
        """Stop the reply in flight, if any."""
        if self.stream is not None:
            self.stream.stop()

    @work(thread=True, group="reply")
    def _generate(self, session: ChatSession, stream: ReplyStream, start: StartTurn) -> None:
        # The engine lock is held to the end, so the next reply waits for the snapshot.
        with self._engine_lock:
            self._wanted.clear()
            try:
                turn = start(session)
                stream.attach(turn)

                def show_call(call: ToolCall, starting: bool) -> None:
                    if stream.push_call(call, starting):
                        self.post_message(self.TextArrived(stream))

                turn.on_tool = show_call
                self._report_tool_problems(session)
                for piece in turn:
                    if stream.push(piece):  # once per batch: the UI takes all that came
                        self.post_message(self.TextArrived(stream))
            except ChattuiError as error:
                self.post_message(self.ReplyEnded(stream, str(error)))
            except BaseException:  # the error boundary reports it; the reply must still end
                self.post_message(self.ReplyEnded(stream, "the reply failed unexpectedly"))
                raise
            else:
                self.post_message(self.ReplyEnded(stream))
                self._remember(session)  # after the reply is shown: nobody waits for it
            finally:
                self._idle.set()

    def _report_tool_problems(self, session: ChatSession) -> None:
        """Say once what went wrong starting the chat's tool servers."""
        problems = session.tools.take_problems() if session.tools is not None else []
        if problems:
            self.post_message(self.ToolProblems("\n".join(problems)))

    def _remember(self, session: ChatSession) -> None:
        """Settle the cache and write the chat's KV snapshot.

        In the generating thread, under the engine lock: the next reply waits for it, and
        then starts sooner. A reply asked for meanwhile (a regenerate at once) stops the
        settling between two batches: it evaluates what is left itself, if it needs it.
        """
        session.settle(lambda: self._quitting.is_set() or self._wanted.is_set())
        if not self._quitting.is_set():
            session.save_snapshot()

    def on_model_host_reply_ended(self, message: ReplyEnded) -> None:
        """The host is free again (the screen, next in line, finishes the view)."""
        if message.stream is self.stream:
            self.stream = None

    # Measuring ---------------------------------------------------------------------------

    def attach(self, specs: list[str]) -> None:
        """Read ``specs`` (paths, globs, URLs) in a worker, then count their tokens.

        ``Attached`` messages bring them: read, then counted (the count waits for a reply being
        written, which holds the engine).
        """
        self._read(specs, Limits.of(self.services.config))

    @work(thread=True, group="attach", description="read attachments")
    def _read(self, specs: list[str], limits: Limits) -> None:
        try:
            found = read_all(specs, limits)
        except ChattuiError as error:
            self.post_message(self.Attached([], str(error)))
            return
        self.post_message(self.Attached(found))
        session = self.session
        if session is None:
            return  # counted when sent
        with self._engine_lock:
            if session is not self.session or session.engine is not self.engine:
                return
            counted = list(session.measure(found))
        self.post_message(self.Attached(counted, counted=True))

    def measure(self) -> None:
        """Count the open chat's tokens in a worker; a ``Measured`` message brings the result."""
        if self.engine is None or self.session is None or self.busy:
            return
        self._measures += 1
        messages = self.session.prompt_messages()
        self._measure(self.engine, messages, self.options.max_tokens, self._measures)

    # A description, so that Textual does not spell out the whole chat (its repr) at each count.
    @work(thread=True, exclusive=True, group="measure", description="count the chat's tokens")
    def _measure(
        self, engine: Engine, messages: list[ChatMessage], reserve: int | None, generation: int
    ) -> None:
        with self._engine_lock:
            if engine is not self.engine or generation != self._measures:
                return  # closed or superseded meanwhile
            if not messages:
                self.post_message(self.Measured(0, 0, generation))
                return
            used, left_out = engine.count_tokens(messages), 0
            if used > engine.n_ctx - reply_budget(engine.n_ctx, reserve):
                with contextlib.suppress(ChattuiError):  # too long even alone: said on send
                    fit = fit_messages(messages, engine.count_tokens, engine.n_ctx, reserve)
                    used, left_out, messages = fit.prompt_tokens, fit.dropped, list(fit.messages)
            drop = next_trim(messages, engine.count_tokens, engine.n_ctx, reserve)
        self.post_message(self.Measured(used, drop, generation, left_out))

    def on_model_host_measured(self, message: Measured) -> None:
        """Let only the newest count through to the screen."""
        if message.generation != self._measures:
            message.stop()

    # Closing -----------------------------------------------------------------------------

    def _close(self, engine: Engine) -> None:
        with self._engine_lock:
            engine.close()

    def _release(self, engine: Engine) -> None:
        """Close an engine without holding up the UI thread."""
        threading.Thread(target=self._close, args=(engine,), daemon=True).start()

    def quit(self) -> None:
        """Begin quitting: stop the reply (saved, marked stopped) and free the model meanwhile.

        Called as soon as the user quits, so this runs while Textual restores the terminal;
        unmounting waits for it. Calling it again does nothing.
        """
        if self._closer is not None:
            return
        self._quitting.set()
        if self.services.exit_guard is not None:  # whatever the rest of shutdown does
            self.services.exit_guard.arm(self._idle)
        self.stop()
        engine, self.engine = self.engine, None
        self._closer = threading.Thread(target=self._close_when_idle, args=(engine,), daemon=True)
        self._closer.start()

    def _close_when_idle(self, engine: Engine | None) -> None:
        # A stop lands within a token or a prompt batch; the worker then saves the reply.
        if self._idle.wait(QUIT_WAIT) and engine is not None:
            self._close(engine)
        self.services.close_tools()

    async def on_unmount(self) -> None:
        """Quit (if not begun yet) and wait until the reply is saved and the model freed."""
        self.quit()
        assert self._closer is not None
        await asyncio.to_thread(self._closer.join, QUIT_WAIT)
