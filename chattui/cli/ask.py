"""The one-shot ``ask``: compose the prompt from arguments and stdin, stream the reply, exit."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from chattui.catalog import MODEL_ENV, Catalog, ResolvedModel
from chattui.cli import signals
from chattui.cli.output import (
    JsonWriter,
    MarkdownWriter,
    OutputFormat,
    PlainWriter,
    ReplyWriter,
    describe_stats,
    echo,
    passage_json,
)
from chattui.config import Config, load_config
from chattui.errors import UsageError
from chattui.paths import Paths, resolve_paths
from chattui.roles import find_role, load_roles, role_language
from chattui.sampling import Sampling
from chattui.terminal_text import printable
from chattui.tools.servers import tool_patterns

if TYPE_CHECKING:
    from chattui.cli.ask_tools import AskTools
    from chattui.conversation import Attachment, Passage
    from chattui.engine.base import Engine
    from chattui.store import ConversationStore
    from chattui.tools.client import ToolServers


@dataclass(frozen=True, slots=True)
class AskRequest:
    """Everything ``ask`` was told on the command line."""

    prompt: str = ""
    """The prompt words joined (may be empty when stdin carries the prompt)."""
    model: str | None = None
    system: str | None = None
    role: str | None = None
    """A role's name: its system prompt, sampling, model and input template."""
    sampling: Sampling = field(default_factory=Sampling)
    n_ctx: int | None = None
    as_json: bool = False
    output_format: OutputFormat = OutputFormat.AUTO
    stats: bool = False
    reasoning: bool = False
    """Print the model's reasoning before the answer."""
    verbose: bool = False
    continue_latest: bool = False
    """Continue the most recent conversation (-c)."""
    conversation: str | None = None
    """Id or prefix of a conversation to continue (--cid)."""
    no_save: bool = False
    """Keep this chat out of the store."""
    after: int | None = None
    """Branch at this message of the continued chat (--from)."""
    files: tuple[str, ...] = ()
    """What to attach (-f): files, folders, globs, URLs."""
    kb: str | None = None
    """A knowledge base whose passages for the question go with it (--kb)."""
    tools: bool = False
    """Let the model call the tools of config.toml's servers (--tools, implied by the next two)."""
    allow: tuple[str, ...] = ()
    """Tools that run without asking (--allow server.tool or server.*)."""
    yes: bool = False
    """Run every call without asking (--yes)."""


PIPED_MOST = 64 * 1024 * 1024
"""Most bytes read from a pipe: more is no prompt (a context holds a few megabytes of text at
most), and reading it all first would only fill the memory."""


def read_stdin(stream: IO[str] | None) -> bytes | None:
    """Piped stdin's bytes, or None for a terminal or no stdin.

    Raises:
        UsageError: More than ``PIPED_MOST`` bytes were piped in.
    """
    if stream is None or stream.closed:
        return None
    try:
        if stream.isatty():
            return None
    except ValueError:
        return None
    if hasattr(stream, "buffer"):
        raw: bytes = stream.buffer.read(PIPED_MOST + 1)
    else:
        raw = stream.read(PIPED_MOST + 1).encode()
    if len(raw) > PIPED_MOST:
        raise UsageError(
            f"stdin: more than {PIPED_MOST // (1024 * 1024)} MiB piped in; pipe a part of it"
            " (head -c), or attach the file with -f"
        )
    return raw


def split_piped(raw: bytes | None, config: Config) -> tuple[str | None, Attachment | None]:
    """Piped bytes as text for the prompt, or an attachment when they are a PDF, .docx or image.

    Text is read as a file is: UTF-8 or UTF-16 with its byte order mark, other bytes U+FFFD.

    Raises:
        AttachmentError: They are binary of no kind chattui reads, or over its limit.
    """
    if not raw:
        return None, None
    from chattui.attachments import Limits
    from chattui.attachments.single import read_piped
    from chattui.attachments.text import decode

    attachment = read_piped(raw, Limits.of(config))
    if attachment is not None:
        return None, attachment
    return decode(raw)[0], None


def compose_prompt(prompt: str, piped: str | None, *, attached: bool = False) -> str:
    """Join piped text and the prompt the way ``cat file | chattui ask "summarize"`` expects.

    Raises:
        UsageError: Both are empty, and nothing is attached.
    """
    prompt = prompt.strip()
    piped = (piped or "").strip()
    if piped and prompt:
        return f"{piped}\n\n{prompt}"
    if piped or prompt or attached:
        return piped or prompt
    raise UsageError(
        'nothing to ask: give a prompt (chattui ask "...") or pipe text in (cat file | chattui ask)'
    )


def choose_writer(request: AskRequest, model_id: str, load_seconds: float) -> ReplyWriter:
    """Pick the writer for the output mode and whether stdout is a terminal."""
    stdout = sys.stdout
    terminal = stdout.isatty()
    if request.as_json:
        return JsonWriter(stdout, model_id, load_seconds)
    fmt = request.output_format
    if fmt is OutputFormat.MARKDOWN or (fmt is OutputFormat.AUTO and terminal):
        from rich.console import Console

        return MarkdownWriter(Console(file=stdout, highlight=False))
    return PlainWriter(stdout, terminal=terminal)


@contextlib.contextmanager
def _loading_status(label: str) -> Iterator[None]:
    """Show a spinner on stderr while the model loads, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"Loading {label}…"):
        yield


def open_store(config: Config, no_save: bool) -> ConversationStore | None:
    """Open the conversation store unless saving is turned off."""
    if no_save or not config.save_history:
        return None
    from chattui.store import ConversationStore

    return ConversationStore.at(resolve_paths(), config.kv_cache_max_mb)


def run_ask(request: AskRequest, stdin: IO[str] | None) -> int:
    """Answer one question on stdout, saving it as a conversation.

    Returns:
        The exit code: 0 when done; 130 after Ctrl+C, 143 after SIGTERM, 129 after SIGHUP (the
        partial answer is printed and saved).

    Raises:
        ChattuiError: Anything the user must fix, reported by the caller as one line.
    """
    from chattui.chat import ChatSession, ChatTurn, open_conversation
    from chattui.conversation import tool_calls_to_list
    from chattui.store import ConversationStore

    if request.continue_latest and request.conversation:
        raise UsageError("use either -c/--continue or --cid, not both")
    if request.after is not None and not (request.continue_latest or request.conversation):
        raise UsageError("--from needs the conversation: give --cid ID or -c")
    paths = resolve_paths()
    config = load_config(paths.config_file)
    attachments = read_files(request.files, config)  # a bad path fails before the model loads
    piped, piped_file = split_piped(read_stdin(stdin), config)
    if piped_file is not None:
        attachments.append(piped_file)
    prompt = compose_prompt(request.prompt, piped, attached=bool(attachments))
    from chattui.kb.bases import KnowledgeBases

    bases = KnowledgeBases.of(config, paths)
    if request.kb is not None:
        bases.open(request.kb).close()  # a base that is not there fails before the model loads
    catalog = Catalog.load(paths.user_catalog, paths.models_dir)
    continuing = request.continue_latest or request.conversation is not None
    store = open_store(config, request.no_save)
    if continuing and store is None:  # --no-save still reads the chat it continues
        store = ConversationStore.at(paths, config.kv_cache_max_mb)
    conversation = None
    if continuing:
        assert store is not None
        conversation = open_conversation(
            store,
            latest=request.continue_latest,
            prefix=request.conversation,
            after=request.after,
        )
    role = None
    if request.role is not None:
        roles = load_roles(paths.roles_dir, role_language(config.language))
        role = find_role(roles, request.role)
        prompt = role.apply(prompt)
    saved_model = conversation.model_id if conversation else None
    asked = request.model or (role.model if role else None)
    model = catalog.choose(asked, saved_model, os.environ.get(MODEL_ENV), config.model)
    defaults = config.sampling.over(model.spec.sampling)
    if role is not None:
        defaults = role.sampling.over(defaults)
    options = request.sampling.over(defaults).resolve()
    system = request.system
    if system is None and role is not None:
        system = role.system_prompt
    if system is None and conversation is None:
        system = config.system_prompt
    servers = _tool_servers(request, config, paths)  # a bad --allow fails before the model loads
    engine = _open(model, request, config, paths)
    session: ChatSession | None = None
    shown_tools: AskTools | None = None
    try:
        session = ChatSession(
            engine,
            model,
            options,
            system_prompt=system,
            store=None if request.no_save else store,
            conversation=conversation,
            role=role.name if role else None,
            snapshots=store.snapshots if store is not None else None,
            bases=bases,
            kb=request.kb,
        )
        if servers is not None:
            from chattui.cli.ask_tools import AskTools
            from chattui.tools.runner import ToolRunner

            shown_tools = AskTools(None, yes=request.yes)
            session.tools = ToolRunner(
                servers,
                approve=shown_tools.approve,
                auto_approve=(*config.auto_approve, *request.allow),
                max_steps=config.max_tool_steps,
                result_tokens=config.tool_result_tokens,
            )
        if conversation is not None and not session.restore_snapshot() and request.verbose:
            miss = session.snapshots.miss if session.snapshots else None
            echo(
                f"chattui: the chat is evaluated from its start: {miss or 'no KV snapshot'}",
                err=True,
            )
        started: list[ChatTurn] = []
        # Ctrl+C, SIGTERM, SIGHUP stop the reply, even one that lands while it is being begun
        # (its placeholder written): it is then stopped before its first token, and saved so.
        with signals.stopping(lambda: started[0].stop() if started else None) as received:
            # A prompt too long for the context stops here, unsaved.
            # The knowledge base is searched for the question, not for text piped before it.
            turn = session.send(prompt, attachments, question=request.prompt.strip() or None)
            started.append(turn)
            if received:
                turn.stop()
            writer = choose_writer(request, engine.model_id, engine.load_seconds)
            if shown_tools is not None:
                shown_tools.writer = writer
                turn.on_tool = shown_tools.on_tool
                for problem in session.tools.take_problems() if session.tools else ():
                    echo(f"chattui: {problem}", err=True)
            pieces = iter(turn)
            shown = ReasoningShown(writer) if request.reasoning else None
            try:
                for piece in pieces:
                    if shown is not None and piece:  # the answer begins: its reasoning first
                        shown.show(turn.reply.reasoning)
                    writer.write(piece)
                    if shown_tools is not None:
                        shown_tools.written(piece)
            finally:
                pieces.close()  # saves the reply as it stands, whatever ended the loop
                if shown is not None:
                    shown.show(turn.reply.reasoning)
                sources = session.history[-2].passages
                if isinstance(writer, JsonWriter):
                    if attached := session.history[-2].attachments:
                        writer.extra["attachments"] = [attachment_json(a) for a in attached]
                    if session.kb is not None:
                        writer.extra["sources"] = [
                            passage_json(replace(p, text=""), n) for n, p in enumerate(sources, 1)
                        ]
                    if turn.reply.reasoning:
                        writer.extra["reasoning"] = turn.reply.reasoning
                    if turn.steps:  # "text" is the answer; what was said before calls is theirs
                        writer.extra["tool_calls"] = tool_calls_to_list(turn.steps)
                        writer.text = turn.text
                    if session.cid is not None:
                        writer.extra["conversation_id"] = session.cid
                writer.finish(turn.reply.stats_or_none)  # after an error too: cursor restored
                show_sources(writer, sources)
        code = signals.exit_code(received[0]) if received else 0
        stats = turn.stats
        session.save_snapshot(last=True)
        if request.stats:
            line = describe_stats(stats, engine.load_seconds)
            if sent := session.history[-2].attachments:
                line += "; attached " + ", ".join(
                    f"{printable(a.name)} ({a.kind}, {a.tokens or 0:,} tokens)" for a in sent
                )
            if session.cid is not None:
                line += f", conversation {session.cid}"
            echo(line, err=True)
        return code
    finally:
        if session is not None:
            session.close()
        bases.close()
        if servers is not None:
            servers.close()
        engine.close()
        if store is not None:
            store.close()


def read_files(specs: tuple[str, ...], config: Config) -> list[Attachment]:
    """Read what ``-f`` named, within config.toml's limits.

    Raises:
        AttachmentError: One of them cannot be read (one line naming it).
    """
    if not specs:
        return []
    from chattui.attachments import Limits, read_all

    return read_all(specs, Limits.of(config))


def _tool_servers(request: AskRequest, config: Config, paths: Paths) -> ToolServers | None:
    """The tool servers, when asked for (each starts at the first reply that offers tools).

    Raises:
        UsageError: Tools were asked for and none is configured, or ``--allow`` is malformed.
    """
    if not (request.tools or request.allow or request.yes):
        return None
    if not config.mcp_servers:
        raise UsageError(
            "--tools: no tool server in config.toml; chattui tools add NAME -- COMMAND adds one"
        )
    try:
        tool_patterns(list(request.allow))
    except ValueError:
        raise UsageError(
            f"--allow takes server.tool or server.*, not {', '.join(map(repr, request.allow))}"
        ) from None
    from chattui.tools.client import ToolServers

    return ToolServers(config.mcp_servers, paths.tools_log_dir)


def show_sources(writer: ReplyWriter, passages: Sequence[Passage]) -> None:
    """List the passages a reply cites, after it: linked to their files on a terminal.

    A pipe's stdout keeps the exact reply: the list goes to stderr, when that is a terminal.
    """
    if not passages or isinstance(writer, JsonWriter):
        return
    if isinstance(writer, MarkdownWriter):
        from rich.style import Style
        from rich.text import Text

        text = Text("Sources", style="bold")
        for number, p in enumerate(passages, 1):
            link = Style(link=Path(p.path).as_uri() if Path(p.path).is_absolute() else None)
            text.append(f"\n[{number}] ", style="dim")
            text.append(printable(p.cited), style=link)
        writer.console.print(text)
        return
    err = not sys.stdout.isatty()
    if err and not sys.stderr.isatty():
        return
    echo("Sources:", err=err)
    for number, p in enumerate(passages, 1):
        echo(f"[{number}] {p.cited}", err=err)


def attachment_json(attachment: Attachment) -> dict[str, object]:
    """What ``--json`` says of an attachment."""
    a = attachment
    return {
        "name": a.name,
        "kind": str(a.kind),
        "size": a.size,
        "sha256": a.sha256,
        "tokens": a.tokens,
        **({"note": a.note} if a.note else {}),
    }


class ReasoningShown:
    """Prints the model's reasoning once, before the answer (``ask --reasoning``)."""

    def __init__(self, writer: ReplyWriter) -> None:
        """Print through ``writer``'s stream."""
        self.writer = writer
        self.done = False

    def show(self, reasoning: str) -> None:
        """Print ``reasoning`` if there is some and it was not printed yet."""
        if self.done or not reasoning.strip():
            return
        self.done = True
        if isinstance(self.writer, MarkdownWriter):
            from rich.text import Text

            self.writer.console.print(Text(printable(reasoning.strip()), style="dim italic"))
        elif isinstance(self.writer, PlainWriter):
            self.writer.write(f"<think>\n{reasoning.strip()}\n</think>\n\n")


def _open(model: ResolvedModel, request: AskRequest, config: Config, paths: Paths) -> Engine:
    from chattui.engine import open_engine
    from chattui.engine.base import EngineSettings

    settings = EngineSettings.from_config(
        config, paths, n_ctx=request.n_ctx, verbose=request.verbose
    )
    with _loading_status(model.spec.name):
        return open_engine(model, settings)
