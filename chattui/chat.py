"""ChatSession: one conversation with a loaded engine, saved to the store as it happens.

Shared by ``ask`` and the TUI. The user's message is committed before generation starts, the
reply is written while it streams (at least once a second) and finalised at the end, so a stop,
Ctrl+C, an engine error or even a killed process keeps everything but the last second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chattui.catalog import ResolvedModel
from chattui.conversation import (
    Attachment,
    AttachmentKind,
    Conversation,
    Message,
    Outline,
    ReplyInfo,
    Role,
    ToolCall,
    ToolOutcome,
    prefix_id,
    utc_now,
)
from chattui.engine.base import Engine, Reply, Snapshotting, TurnStats
from chattui.engine.context import reply_budget
from chattui.engine.kvstate import SnapshotStore
from chattui.errors import (
    ContextOverflowError,
    ConversationNotFoundError,
    KnowledgeError,
    UsageError,
)
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore

if TYPE_CHECKING:
    from chattui.kb.bases import KnowledgeBases
    from chattui.tools.runner import ToolRunner

SAVE_INTERVAL = 1.0
"""Seconds between two writes of a reply in progress."""
LAST_STEP = "\n\n[chattui: that was the last of the {} tool calls one reply may make; answer now.]"
"""Added to the last result a reply's steps allow, so the model answers with what it has."""


def open_conversation(
    store: ConversationStore, *, latest: bool, prefix: str | None, after: int | None = None
) -> Conversation | None:
    """The saved chat a command continues: the latest, or the one ``prefix`` names.

    Args:
        store: The conversations.
        latest: Continue the most recently updated chat (``-c``).
        prefix: Continue the chat whose id starts so (``--cid``).
        after: Branch at this message (``--from``): after a reply the next question follows
            it; at a question, the next is asked in its place, as an edit would.

    Returns:
        The chat on the branch to continue; None when neither ``latest`` nor ``prefix``.

    Raises:
        ConversationNotFoundError: No chat to continue, or ``prefix`` names none or several.
        UsageError: ``after`` is not a message of the chat, or there is no chat to branch.
    """
    if prefix is not None:
        cid = store.resolve(prefix)
    elif latest:
        found = store.latest_id()
        if found is None:
            raise ConversationNotFoundError("there is no saved conversation to continue yet")
        cid = found
    elif after is not None:
        raise UsageError("--from needs the conversation: give --cid ID or -c")
    else:
        return None
    conversation = store.get(cid, leaf=after)
    if after is None:
        return conversation
    if conversation.leaf_id != after:
        raise UsageError(
            f"conversation {cid} has no message {after}: "
            f"chattui history show {cid} --tree lists its ids"
        )
    if conversation.messages[-1].role is Role.USER:
        return replace(conversation, messages=conversation.messages[:-1])
    return conversation


class ChatTurn:
    """A reply being generated and saved; iterate it for the text pieces."""

    def __init__(
        self,
        session: ChatSession,
        reply: Reply,
        placeholder: Message,
        created_at: str,
        prefix: str = "",
        fallback: list[Message] | None = None,
        steps: Sequence[ToolCall] = (),
    ) -> None:
        """Wrap a reply; ``placeholder`` is its message as first saved (no id: not saved).

        ``prefix`` and ``steps`` are the text and tool calls of a reply being continued.
        """
        self.session = session
        self.reply = reply
        self.options = session.options
        """The settings the reply is generated with (a later change applies to the next one)."""
        self.model = session.model
        """The model that writes it."""
        self.placeholder = placeholder
        self.message_id = placeholder.id
        """Its id in the store (None when not saving)."""
        self.created_at = created_at
        """When the reply started."""
        self.prefix = prefix
        """Text of the reply before this turn (when continuing a stopped reply)."""
        self.failed = False
        """Whether the reply ended with an exception."""
        self.fallback = fallback
        """For a new version: the branch shown again if it ends before its first word."""
        self.withdrawn = False
        """Whether it failed before its first word and was taken back (nothing was kept)."""
        self.steps: list[ToolCall] = list(steps)
        self._carried = len(steps)
        """The tools called so far, each with its result."""
        self.on_tool: Callable[[ToolCall, bool], None] | None = None
        """Told of each call as it starts (True) and once it has ended (False); set it before
        iterating. Called on the reply's thread."""
        self._cancel = threading.Event()

    @property
    def version(self) -> bool:
        """Whether it is a new version of a reply in view (regenerate, continue)."""
        return self.fallback is not None

    @property
    def text(self) -> str:
        """The whole reply so far, continued part included."""
        return self.prefix + self.reply.text

    def __iter__(self) -> Generator[str, None, None]:
        last_save = time.monotonic()
        pieces = iter(self.reply)
        try:
            while True:
                for piece in pieces:
                    yield piece
                    now = time.monotonic()
                    if self.message_id is not None and now - last_save >= SAVE_INTERVAL:
                        last_save = now
                        self.session.save_partial(self, self.text)
                if not self._call_tools():
                    break
                pieces.close()
                pieces = iter(self.reply)
        except Exception:
            self.failed = True  # saved as an error, whatever the engine reported
            raise
        finally:
            pieces.close()
            self.session.finish_turn(self)

    def _call_tools(self) -> bool:
        """Run the calls the reply asked for and start the next step; False when it is over."""
        runner = self.session.tools
        calls = self.reply.tool_calls
        if runner is None or not calls or self.reply.stop_requested:
            return False
        said = self.reply.text
        for index, call in enumerate(calls):
            call = replace(call, text=said if index == 0 else "")
            if self.on_tool is not None:
                self.on_tool(call, True)
            if self._cancel.is_set():
                call = replace(
                    call, result="The user stopped the reply.", outcome=ToolOutcome.STOPPED
                )
            else:
                call = runner.run(call, self._cancel, self.session.count_text)
            self.steps.append(call)
            if self.on_tool is not None:
                self.on_tool(call, False)
        if len(self.steps) >= runner.max_steps:  # the next step gets no tools: it must answer
            last = self.steps[-1]
            self.steps[-1] = replace(last, result=last.result + LAST_STEP.format(runner.max_steps))
        self.session.save_partial(self, "")
        if self._cancel.is_set():
            return False
        going_on = Message(Role.ASSISTANT, "", tool_calls=tuple(self.steps))
        messages = self.session.prompt_messages([*self.session.history, going_on])
        self.reply = self.session.engine.stream(
            messages, self.session.reply_options(len(self.steps))
        )
        return True

    @property
    def called(self) -> bool:
        """Whether this turn called a tool (calls of a reply it continues do not count)."""
        return len(self.steps) > self._carried

    @property
    def stop_requested(self) -> bool:
        """Whether ``stop`` was called."""
        return self._cancel.is_set()

    def stop(self) -> None:
        """Stop the reply (a tool call running is given up); thread-safe."""
        self._cancel.set()
        self.reply.stop()

    @property
    def stats(self) -> TurnStats:
        """The reply's figures, once it has ended."""
        return self.reply.stats


class ChatSession:
    """A conversation being continued with one engine and one set of options."""

    def __init__(
        self,
        engine: Engine,
        model: ResolvedModel,
        options: GenerationOptions,
        *,
        system_prompt: str | None = None,
        store: ConversationStore | None = None,
        conversation: Conversation | None = None,
        role: str | None = None,
        snapshots: SnapshotStore | None = None,
        bases: KnowledgeBases | None = None,
        kb: str | None = None,
        tools: ToolRunner | None = None,
    ) -> None:
        """Start a new conversation, or continue ``conversation``.

        Args:
            engine: The loaded model.
            model: Its catalog entry and file, recorded with each reply.
            options: Sampling settings.
            system_prompt: System prompt; for a continued chat None keeps the saved one.
            store: Where to save; None keeps the chat out of the store.
            conversation: A saved conversation to continue.
            role: The role the chat follows (saved with it); a continued chat keeps its own.
            snapshots: Where the chat's KV state is kept between processes (None: nowhere).
            bases: The knowledge bases a chat may draw passages from.
            kb: The knowledge base each question gets passages from (saved with the chat); a
                continued chat keeps its own when None.
            tools: The tools the model may call, each call approved (None: no tools).
        """
        self.engine = engine
        self.model = model
        self.options = options
        self.store = store
        self.cid = conversation.id if conversation else None
        saved_prompt = conversation.system_prompt if conversation else None
        self.system_prompt = system_prompt if system_prompt is not None else saved_prompt
        saved_role = conversation.settings.get("role") if conversation else None
        self.role = role if role is not None else (str(saved_role) if saved_role else None)
        """Name of the role the chat follows, if any."""
        self.snapshots = snapshots
        self.bases = bases
        saved_kb = conversation.settings.get("kb") if conversation else None
        self.kb = kb if kb is not None else (str(saved_kb) if saved_kb else None)
        """The knowledge base each question gets passages from, if any."""
        self.tools = tools
        """The tools the model may call, if any."""
        self._unfinished: ChatTurn | None = None
        """A turn begun (its placeholder saved) and not yet ended."""
        self._recorded: tuple[str | None, ...] = (
            saved_prompt,
            str(saved_role) if saved_role else None,
            str(saved_kb) if saved_kb else None,
        )
        """The system prompt, role and knowledge base the store holds for the chat."""
        self.history: list[Message] = list(conversation.messages) if conversation else []
        """The branch in view, first message first; each saved one carries its id."""
        self.outline = conversation.outline if conversation else Outline({})
        """The shape of the chat's whole tree, as last read or written."""

    def set_system_prompt(self, prompt: str | None) -> None:
        """Follow ``prompt`` from the next reply on; a saved chat records it at once."""
        self.system_prompt = prompt
        self._record_instructions()

    def set_role(self, name: str | None) -> None:
        """Follow the role ``name`` (None: none); a saved chat records it at once."""
        self.role = name
        self._record_instructions()

    def set_knowledge(self, name: str | None) -> None:
        """Give each question the passages of the knowledge base ``name`` (None: none).

        A saved chat records it at once.

        Raises:
            KnowledgeError: There is no such base.
        """
        if name is not None:
            if self.bases is None:
                raise KnowledgeError("knowledge bases are not available here")
            self.bases.open(name).close()
        self.kb = name
        self._record_instructions()

    def _record_instructions(self) -> None:
        """Save the system prompt, role and knowledge base with the chat if they changed.

        Reopening the chat, or ``ask -c``, then goes on with what the user chose last.
        """
        current = (self.system_prompt, self.role, self.kb)
        if self.store is None or self.cid is None or current == self._recorded:
            return
        self.store.set_instructions(self.cid, *current)
        self._recorded = current

    def restore_snapshot(self) -> int:
        """Load the chat's KV snapshot into the engine, so that only what follows is evaluated.

        Returns:
            The tokens restored; 0 when there was none to use (``snapshots.miss`` says why).
        """
        engine = self.engine
        if self.snapshots is None or self.cid is None or not isinstance(engine, Snapshotting):
            return 0
        snapshot = self.snapshots.load(self.cid, engine.snapshot_key)
        return engine.restore(snapshot) if snapshot is not None else 0

    def settle(self, stop: Callable[[], bool] | None = None) -> None:
        """Let the engine's cache settle after a reply (see ``LlamaEngine.settle``).

        Work for an idle moment: the next reply then starts sooner, and as from scratch.
        """
        if isinstance(self.engine, Snapshotting):
            self.engine.settle(stop)

    def save_snapshot(self, *, last: bool = False) -> bool:
        """Keep the chat's KV state for the next process; only a chat whose turns are saved.

        A turn kept out of the history (``--no-save``) must not live on in a snapshot either.

        Args:
            last: The cache is not used again (the process ends): the KV state of the prompt up
                to the newest question's attachments is kept too, so that another chat that
                attaches the same files (``ask -f big.txt "q2"``) does not evaluate them again.
        """
        engine = self.engine
        if self.snapshots is None or self.store is None or self.cid is None:
            return False
        if not isinstance(engine, Snapshotting):
            return False
        snapshot = engine.snapshot()
        saved = snapshot is not None and self.snapshots.save(
            self.cid, engine.snapshot_key, snapshot
        )
        asked = next((m for m in reversed(self.history) if m.role is Role.USER), None)
        # Passages a knowledge base found differ with each question: their prompt is not kept.
        knowledge = asked is not None and any(
            a.kind is AttachmentKind.KNOWLEDGE for a in asked.attachments
        )
        if last and asked is not None and asked.attachments and not knowledge:
            messages = self.prompt_messages(self.history[: self.history.index(asked) + 1])
            tokens = engine.prefix(messages)
            name = prefix_id(self.system_prompt, asked.attachments)
            if self.snapshots.holds(name, engine.snapshot_key, len(tokens)):
                return saved  # restored from it: tens of megabytes need not be written again
            prefix = engine.snapshot(upto=len(tokens))  # drops the rest from the cache
            if prefix is not None and prefix.tokens == tokens:
                self.snapshots.save(name, engine.snapshot_key, prefix)
        return saved

    def _restore_prefix(self, messages: list[Message]) -> int:
        """Load the KV state another chat kept of the prompt's beginning; the tokens restored.

        Kept by a chat with the same system prompt and attachments (``save_snapshot``).
        """
        engine, asked = self.engine, messages[-1]
        if self.snapshots is None or not isinstance(engine, Snapshotting):
            return 0
        snapshot = self.snapshots.load(
            prefix_id(self.system_prompt, asked.attachments), engine.snapshot_key
        )
        if snapshot is None or snapshot.tokens != engine.prefix(messages):
            return 0  # another template or file name tokenized otherwise: evaluated as usual
        return engine.restore(snapshot)

    def prompt_messages(self, history: list[Message] | None = None) -> list[Message]:
        """What the model sees: the system prompt, then the history (or ``history``)."""
        system = [Message(Role.SYSTEM, self.system_prompt)] if self.system_prompt else []
        kept = self.history if history is None else history
        return [*system, *(m for m in kept if m.role is not Role.SYSTEM)]

    def reply_options(self, steps: int = 0) -> GenerationOptions:
        """The options of a reply: the chat's, with the tools offered while steps remain.

        A call the chat's options require is required of the first step only.
        """
        if self.tools is None or steps >= self.tools.max_steps:
            return replace(self.options, tools=(), tool_choice="auto")
        offered = self.tools.offered()
        choice = self.options.tool_choice if steps == 0 else "auto"
        return replace(self.options, tools=offered, tool_choice=choice if offered else "auto")

    def send(
        self, text: str, attachments: Sequence[Attachment] = (), *, question: str | None = None
    ) -> ChatTurn:
        """Add the user's message (saved at once) after the branch in view and start the reply.

        Args:
            text: What the user wrote.
            attachments: Files, pages and images given with it (``measure`` counts them).
            question: What the chat's knowledge base is searched for (default: ``text``; ``ask``
                gives the prompt alone, without the text piped before it).

        Raises:
            ContextOverflowError: The message cannot fit in the context (nothing is saved); with
                attachments, the largest are named, and how many tokens are over.
            UsageError: Images for a model that cannot read them (nothing is saved).
            KnowledgeError: The chat's knowledge base is gone or cannot be read.
            StoreError: The database cannot be written.
        """
        given = self._with_knowledge(attachments, question or text)
        return self._send(text, keep=len(self.history), attachments=given)

    def _with_knowledge(
        self, attachments: Sequence[Attachment], question: str
    ) -> tuple[Attachment, ...]:
        """``attachments`` with the passages the chat's knowledge base finds for ``question``.

        Passages given before (an edited question's) are replaced: they were found for other
        words.
        """
        kept = tuple(a for a in attachments if a.kind is not AttachmentKind.KNOWLEDGE)
        if self.kb is None or self.bases is None:
            return kept
        return (*kept, self.bases.attachment(self.kb, question))

    def measure(self, given: Sequence[Attachment]) -> tuple[Attachment, ...]:
        """``given`` with the tokens each takes in the prompt, by the model's tokenizer.

        A remote model's count is chattui's estimate (on the high side).
        """
        count = self.engine.count_tokens
        empty = count([Message(Role.USER, "")])

        def tokens(a: Attachment) -> int:
            return max(0, count([Message(Role.USER, "", attachments=(a,))]) - empty)

        return tuple(a if a.tokens is not None else replace(a, tokens=tokens(a)) for a in given)

    def regenerate(self) -> ChatTurn:
        """Answer the last user message again: a new reply beside the old one, which stays.

        Raises:
            UsageError: There is no user message yet.
        """
        keep = self._last_user() + 1
        reply = self.engine.stream(self.prompt_messages(self.history[:keep]), self.reply_options())
        before = list(self.history)
        del self.history[keep:]
        return self._reply(reply, fallback=before)

    def edit_last(self, text: str) -> ChatTurn:
        """Ask ``text`` in place of the last user message: a new branch; the old one stays.

        What was attached to the old one goes with the new one.

        Raises:
            UsageError: There is no user message yet.
        """
        keep = self._last_user()
        given = self._with_knowledge(self.history[keep].attachments, text)
        return self._send(text, keep=keep, attachments=given)

    def _send(self, text: str, keep: int, attachments: tuple[Attachment, ...] = ()) -> ChatTurn:
        """Answer ``text`` after the first ``keep`` messages of the branch in view.

        The reply is planned first, so a message too long for the context changes nothing.
        """
        images = [a.name for a in attachments if a.kind is AttachmentKind.IMAGE]
        if images and not self.engine.reads_images:
            why = f": {self.engine.images_note}" if self.engine.images_note else ""
            raise UsageError(
                f"{self.engine.model_id} cannot read images ({', '.join(images)}){why}; use a"
                " model that can: one with a vision projector ([models.mmproj] in models.toml,"
                " or chattui models add --mmproj) or an endpoint's (-m ENDPOINT/MODEL)"
            )
        attachments = self.measure(attachments)
        user = Message(Role.USER, text, utc_now(), attachments=attachments)
        messages = self.prompt_messages([*self.history[:keep], user])
        if attachments and keep == 0:  # a new chat: the cache holds nothing it needs
            self._restore_prefix(messages)
        try:
            reply = self.engine.stream(messages, self.reply_options())
        except ContextOverflowError as error:
            if not attachments:
                raise
            raise self._over(messages, attachments) from error
        del self.history[keep:]
        if self.store is not None:
            self._record_instructions()  # `ask -c -s TEXT`: the chat goes on with TEXT
            if self.cid is None:
                self.cid = self.store.create(
                    title=text,
                    model_id=self.engine.model_id,
                    system_prompt=self.system_prompt,
                    settings=self._settings(),
                )
                self._recorded = (self.system_prompt, self.role, self.kb)
            user = self._add(user)
        self.history.append(user)
        return self._reply(reply)

    def _over(
        self, messages: list[Message], attachments: tuple[Attachment, ...]
    ) -> ContextOverflowError:
        """The error for attachments that do not fit: how many tokens over, the largest ones."""
        n_ctx = self.engine.n_ctx
        room = n_ctx - reply_budget(n_ctx, self.options.max_tokens)
        system = [m for m in messages if m.role is Role.SYSTEM]
        over = self.engine.count_tokens([*system, messages[-1]]) - room
        largest = sorted(attachments, key=lambda a: -(a.tokens or 0))[:3]
        named = ", ".join(f"{a.name} {a.tokens or 0:,}" for a in largest)
        return ContextOverflowError(
            f"the attachments do not fit: {max(over, 1):,} tokens over the {room:,} the"
            f" {n_ctx:,}-token context leaves for the message (largest: {named}); attach less"
            " or raise the context size (--ctx)"
        )

    def continue_reply(self) -> ChatTurn:
        """Carry on writing the last reply (one stopped or cut short) as a new version of it.

        The stopped reply stays as the sibling before it.

        Raises:
            UsageError: The conversation does not end with a reply.
        """
        if not self.history or self.history[-1].role is not Role.ASSISTANT:
            raise UsageError("there is no reply to continue")
        reply = self.engine.stream(self.prompt_messages(), self.reply_options())  # the partial
        before = list(self.history)
        partial = self.history.pop()
        return self._reply(reply, prefix=partial.content, fallback=before, steps=partial.tool_calls)

    def switch_engine(self, engine: Engine, model: ResolvedModel) -> None:
        """Continue the chat with another loaded model."""
        self.engine, self.model = engine, model

    # Branches ----------------------------------------------------------------------------

    def branch(self, message: Message) -> tuple[int, int] | None:
        """``(position, count)`` of ``message`` among its versions; None when it has none."""
        return None if message.id is None else self.outline.branch(message.id)

    def show_sibling(self, message: Message, step: int) -> bool:
        """Follow the version of ``message`` ``step`` places away and its newest branch.

        The choice is saved: reopening the chat, or ``ask -c``, goes on from it.

        Returns:
            Whether there was such a version (the history then shows its branch).
        """
        if message.id is None:
            return False
        sibling = self.outline.neighbour(message.id, step)
        if sibling is None:
            return False
        self.go_to(self.outline.leaf_under(sibling))
        return True

    def go_to(self, leaf: int) -> None:
        """Show and continue the branch that ends at ``leaf`` (a message of this chat).

        Raises:
            UsageError: The chat is not saved or has no such message.
        """
        if self.store is None or self.cid is None:
            raise UsageError("only a saved chat has branches")
        # The part shared with the branch in view is in memory: read only the rest.
        path = self.outline.path_to(leaf) if leaf in self.outline.parents else []
        known = {m.id: m for m in self.history}
        missing = [mid for mid in path if mid not in known]
        read = self.store.messages(self.cid, missing) if missing else []
        if path and len(read) == len(missing):
            known.update((m.id, m) for m in read)
            self.history = [known[mid] for mid in path]
        else:  # not in the outline read, or deleted since: read the tree again
            conversation = self.store.get(self.cid, leaf=leaf)
            self.outline = conversation.outline
            if conversation.leaf_id != leaf:
                raise UsageError(
                    f"message {leaf} is no longer in conversation {self.cid}"
                    " (deleted by another chattui?)"
                )
            self.history = list(conversation.messages)
        self.store.set_leaf(self.cid, leaf)

    def fork(self) -> str:
        """Copy the branch in view into a new saved chat; return its id.

        Raises:
            UsageError: The chat is not saved yet, or is empty.
        """
        last = self.history[-1].id if self.history else None
        if self.store is None or self.cid is None or last is None:
            raise UsageError("there is nothing saved to fork yet")
        return self.store.fork(self.cid, last)

    def refresh(self) -> int:
        """Read the chat's tree again; return how many messages another process added.

        The branch in view stays as the user saw it, and the next message follows it: what
        another process wrote (``ask -c`` on this chat) is a branch beside it, which ``branch``
        now counts, never a loss.
        """
        if self.store is None or self.cid is None:
            return 0
        outline = self.store.outline(self.cid)
        added = len(outline.parents.keys() - self.outline.parents.keys())
        self.outline = outline
        return added

    def _last_user(self) -> int:
        for index in range(len(self.history) - 1, -1, -1):
            if self.history[index].role is Role.USER:
                return index
        raise UsageError("there is no message to answer yet")

    def _add(self, message: Message) -> Message:
        """Save ``message`` after the last message in view; return it with its ids."""
        assert self.store is not None and self.cid is not None
        parent = self.history[-1].id if self.history else None
        mid = self.store.add_message(self.cid, message, parent=parent)
        self.outline = self.outline.add(mid, parent)
        return replace(message, id=mid, parent_id=parent)

    def _reply(
        self,
        reply: Reply,
        prefix: str = "",
        fallback: list[Message] | None = None,
        steps: Sequence[ToolCall] = (),
    ) -> ChatTurn:
        """Begin the reply after the branch in view; its placeholder is saved at once.

        ``fallback`` is the branch in view before, for a new version of a reply: shown again
        if this one ends before its first word. None: a reply to a new question.
        """
        started = utc_now()
        message = Message(
            Role.ASSISTANT, prefix, started, self._info(None, None), tool_calls=tuple(steps)
        )
        if self.store is not None and self.cid is not None:
            message = self._add(message)
        self._unfinished = ChatTurn(
            self, reply, message, started, prefix=prefix, fallback=fallback, steps=steps
        )
        return self._unfinished

    def save_partial(self, turn: ChatTurn, text: str) -> None:
        """Write the reply so far (its finish reason stays empty until it ends)."""
        if self.store is not None and turn.message_id is not None:
            calls = turn.steps if turn.steps else None
            self.store.update_message(turn.message_id, text, self._info(turn, None), calls)

    def count_text(self, text: str) -> int:
        """Tokens ``text`` takes in a message, by the model's tokenizer (an estimate remotely)."""
        empty = self.engine.count_tokens([Message(Role.USER, "")])
        return max(0, self.engine.count_tokens([Message(Role.USER, text)]) - empty)

    def close(self) -> None:
        """End the chat; a reply begun and never read is saved as stopped.

        A signal may land just after a reply's placeholder is written: the reply must not be
        left marked as still being written.
        """
        turn, self._unfinished = self._unfinished, None
        if turn is not None:
            turn.stop()
            for _ in turn:  # stopped before its first token: it ends at once, and is saved
                pass

    def finish_turn(self, turn: ChatTurn) -> None:
        """Record the ended reply in the history and the store."""
        if turn is self._unfinished:
            self._unfinished = None
        try:
            stats: TurnStats | None = turn.reply.stats
        except RuntimeError:  # the engine failed before it could report
            stats = None
        info = self._info(turn, stats)
        failed = stats is None or turn.failed
        if not turn.reply.text and not turn.called and (failed or turn.version):
            # Nothing to keep (a failure, or a new version stopped before its first word):
            # the branch in view before comes back, its reply selected as it was.
            self._withdraw(turn)
            return
        if failed:
            info = replace(info, finish_reason="error")
        elif turn.stop_requested and info.finish_reason == "stop":  # stopped during a call
            info = replace(info, finish_reason="stopped")
        reply = replace(
            turn.placeholder, content=turn.text, info=info, tool_calls=tuple(turn.steps)
        )
        self.history.append(reply)
        if self.store is not None and turn.message_id is not None:
            self.store.update_message(turn.message_id, reply.content, info, reply.tool_calls)

    def _withdraw(self, turn: ChatTurn) -> None:
        """Undo a reply that failed before its first word: the branch before it is in view."""
        turn.withdrawn = True
        if turn.fallback is not None:
            self.history = turn.fallback
        if self.store is not None and self.cid is not None and turn.message_id is not None:
            leaf = self.history[-1].id if self.history else None
            self.store.withdraw(self.cid, turn.message_id, leaf)
            self.outline = self.store.outline(self.cid)

    def _settings(
        self, options: GenerationOptions | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        chosen = self.options if options is None else options
        per_reply = ("tools", "tool_choice")  # what a reply is offered is not a chat setting
        settings: dict[str, Any] = {
            k: v for k, v in asdict(chosen).items() if v is not None and k not in per_reply
        }
        if self.role is not None:
            settings["role"] = self.role
        if self.kb is not None:
            settings["kb"] = self.kb
        if seed is not None:
            settings["seed"] = seed
        return settings

    def _info(self, turn: ChatTurn | None, stats: TurnStats | None) -> ReplyInfo:
        """What is recorded with a reply: the model and settings of ``turn`` (or current ones)."""
        model = self.model if turn is None else turn.model
        options = self.options if turn is None else turn.options
        spec, file = model.spec, model.file
        base: dict[str, Any] = {
            "model_id": spec.id,
            "model_file": file.name if file else None,
            "model_size": _size(file),
            "model_sha256": spec.sha256,
        }
        if turn is not None:  # where a remote reply came from, and its reasoning
            base |= {k: v for k, v in turn.reply.provenance.items() if k in _PROVENANCE}
            base["reasoning"] = turn.reply.reasoning or None
        if stats is None:
            return ReplyInfo(**base, settings=self._settings(options))
        return ReplyInfo(
            **base,
            settings=self._settings(options, stats.seed),
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            time_to_first_token=round(stats.time_to_first_token, 4),
            decode_tps=round(stats.decode_tps, 2),
            finish_reason=str(stats.finish_reason),
        )


_PROVENANCE = frozenset({"endpoint", "base_url", "server_model", "fingerprint"})
"""What an engine may add to the record of a reply."""


def _size(file: Path | None) -> int | None:
    try:
        return file.stat().st_size if file else None
    except OSError:
        return None
