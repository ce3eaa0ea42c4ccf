"""The ``chattui`` command line: parses arguments, builds objects and hands off.

Heavy modules (llama_cpp, textual) load only inside the commands that need them, so
``chattui --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chattui import __version__
from chattui.cli import signals
from chattui.cli.output import OutputFormat, echo, print_json
from chattui.errors import ChattuiError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from chattui.cli.ask import AskRequest
    from chattui.sampling import Limit

app = typer.Typer(
    name="chattui",
    help="Chat with a local GGUF model: a terminal UI, one-shot answers and Unix pipes.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as click prints it: rich would double --help's time
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

CTX_RANGE = (256, 1_048_576)
"""The context sizes ``--ctx`` takes."""


def _lazy_completion(module: str, name: str) -> Callable[[str], list[str]]:
    """A shell completion callback whose module is imported only when the shell asks."""

    def complete(incomplete: str) -> list[str]:
        found: list[str] = getattr(importlib.import_module(module), name)(incomplete)
        return found

    return complete


_complete_model = _lazy_completion("chattui.cli.models", "complete_model")
_complete_role = _lazy_completion("chattui.cli.roles", "complete_role")
_complete_conversation = _lazy_completion("chattui.cli.history", "complete_conversation")
_complete_base = _lazy_completion("chattui.cli.kb", "complete_base")

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model id, alias, or path to a .gguf file.",
        autocompletion=_complete_model,
    ),
]
SystemOption = Annotated[
    str | None, typer.Option("--system", "-s", help="System prompt for this question.")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", help="Show llama.cpp's log on stderr.")]


RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role",
        "-r",
        help="A role: translate, qa, write, summarize, explain, or yours (chattui roles list).",
        autocompletion=_complete_role,
    ),
]


def _version(value: bool) -> None:
    if value:
        echo(f"chattui {__version__}")
        raise typer.Exit()


def _checked(flag: str, value: float | int | None, limit: Limit) -> float | int | None:
    if value is None:
        return None
    try:
        return limit.check(value)
    except ValueError as error:
        raise UsageError(f"{flag} {value}: allowed: {error}") from None


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    model: ModelOption = None,
    system: SystemOption = None,
    role: RoleOption = None,
    verbose: VerboseOption = False,
    continue_latest: Annotated[
        bool, typer.Option("--continue", "-c", help="Reopen the most recent conversation.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Chat with a local GGUF model. With text piped in, answer it like `chattui ask`."""
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        from chattui.cli.ask import AskRequest

        _ask(
            AskRequest(
                model=model,
                system=system,
                role=role,
                verbose=verbose,
                continue_latest=continue_latest,
            )
        )
    from chattui.cli.tui import run_tui

    code = run_tui(
        model=model,
        continue_latest=continue_latest,
        system_prompt=system,
        role=role,
        verbose=verbose,
    )
    if code is not None:
        raise typer.Exit(code)


@app.command(short_help="Answer one question and exit (text piped in comes first).")
def ask(
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The question (stdin, when piped, comes first).")
    ] = None,
    model: ModelOption = None,
    system: SystemOption = None,
    role: RoleOption = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling threshold.")] = None,
    top_k: Annotated[int | None, typer.Option(help="Keep only the k likeliest tokens.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest reply in tokens.")] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Random seed: the same seed, messages and settings give the same answer with "
            "the same model file on the same machine and llama.cpp build (not across CPUs, "
            "builds or GPU offload)."
        ),
    ] = None,
    ignore_eos: Annotated[
        bool,
        typer.Option(
            "--ignore-eos",
            help="Write on past the model's end of turn, up to --max-tokens or a full context.",
        ),
    ] = False,
    context_size: Annotated[
        int | None, typer.Option("--ctx", help="Context size in tokens.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: text, usage, timings.")
    ] = False,
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="auto: Markdown on a terminal, plain text in a pipe."),
    ] = OutputFormat.AUTO,
    stats: Annotated[bool, typer.Option("--stats", help="Print token counts and speed.")] = False,
    reasoning: Annotated[
        bool,
        typer.Option(
            "--reasoning",
            help="Print the model's reasoning before the answer (a pipe: <think>…</think>).",
        ),
    ] = False,
    continue_latest: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the most recent conversation.")
    ] = False,
    cid: Annotated[
        str | None,
        typer.Option(
            "--cid",
            help="Continue this conversation (id or prefix).",
            autocompletion=_complete_conversation,
        ),
    ] = None,
    after: Annotated[
        int | None,
        typer.Option(
            "--from",
            metavar="MESSAGE",
            help="Branch the continued chat at this message: after a reply, the question "
            "follows it; at a question, it is asked in its place. Ids: history show ID --tree.",
        ),
    ] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Keep this chat out of the history.")
    ] = False,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="PATH",
            help="Attach a file, a folder (.gitignore respected), a glob, a PDF, a .docx, an "
            "image or an http(s) URL; repeat for more.",
        ),
    ] = None,
    kb: Annotated[
        str | None,
        typer.Option(
            "--kb",
            metavar="NAME",
            help="Give the model the passages of this knowledge base that fit the question "
            "(chattui kb add NAME PATH makes one); the reply cites them as [1].",
            autocompletion=_complete_base,
        ),
    ] = None,
    tools: Annotated[
        bool,
        typer.Option(
            "--tools",
            help="Let the model call the tools of config.toml's MCP servers (chattui tools "
            "list); each call is asked about on the terminal.",
        ),
    ] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="SERVER.TOOL",
            help="Run this tool without asking (server.* for all of a server's); implies --tools.",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Run every tool call without asking; implies --tools."),
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Answer one question and exit: `chattui ask "..."`, `cat file | chattui ask "summarize"`.

    Attach files with -f: `chattui ask -f notes.md -f src/ "what is left to do?"`.
    """
    from chattui.cli.ask import AskRequest
    from chattui.sampling import SAMPLING_LIMITS, Limit, Sampling

    values = {
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "max_tokens": max_tokens,
        "seed": seed,
    }
    checked: dict[str, object] = {
        name: _checked(f"--{name.replace('_', '-')}", value, SAMPLING_LIMITS[name])
        for name, value in values.items()
    }
    checked["ignore_eos"] = ignore_eos or None
    ctx_limit = Limit(int, *CTX_RANGE)
    request = AskRequest(
        prompt=" ".join(prompt or []),
        model=model,
        system=system,
        role=role,
        sampling=Sampling.from_mapping({k: v for k, v in checked.items() if v is not None}),
        n_ctx=int(n) if (n := _checked("--ctx", context_size, ctx_limit)) is not None else None,
        as_json=as_json,
        output_format=output_format,
        stats=stats,
        reasoning=reasoning,
        verbose=verbose,
        continue_latest=continue_latest,
        conversation=cid,
        no_save=no_save,
        after=after,
        files=tuple(files or ()),
        kb=kb,
        tools=tools,
        allow=tuple(allow or ()),
        yes=yes,
    )
    _ask(request)


GROUPS = {
    "history": "Saved chats: list, show, search, export, import, rename, rm.",
    "kb": "Knowledge folders: your documents indexed for ask --kb and /kb.",
    "models": "Models: list, info, pull, add a GGUF, rm, default, endpoints.",
    "roles": "Roles such as translate, qa, summarize: list, show, edit.",
    "tools": "Tools the model may use: MCP servers, each call approved by you.",
}
"""The command groups and their help: each module is imported only when its group may run."""


def _subcommands(argv: list[str]) -> None:
    """Add the command groups: the real one where ``argv`` names it, else its help alone.

    ``chattui --help`` and ``chattui ask`` need none of the groups' modules (the store,
    the catalog, the endpoints...), only their names and help. Shell completion needs them all.
    """
    completing = any(name.startswith("_CHATTUI_COMPLETE") for name in os.environ)
    app.registered_groups = [info for info in app.registered_groups if info.name not in GROUPS]
    for name, text in GROUPS.items():
        if completing or name in argv:
            module = importlib.import_module(f"chattui.cli.{name}")
            group: typer.Typer = getattr(module, f"{name}_app")
        else:
            group = typer.Typer()
        app.add_typer(group, name=name, help=text, no_args_is_help=True)


@app.command(short_help="Check the installation: versions, llama.cpp, GPU, models.")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the installation: versions, llama.cpp build, GPU, paths, models, database."""
    from chattui import doctor as checks
    from chattui.paths import resolve_paths

    report = checks.diagnose(resolve_paths())
    if as_json:
        print_json(checks.as_json(report))
    else:
        width = max(len(check.name) for check in report)
        for check in report:
            mark = "!" if check.problem else " "
            echo(f"{mark} {check.name:<{width}}  {check.value}")
            if check.problem:
                echo(f"  {'':<{width}}  -> {check.problem}")
    problems = sum(1 for check in report if check.problem)
    if problems:
        echo(f"{problems} problem{'s' if problems > 1 else ''} found", err=True)
        raise typer.Exit(1)


@app.command(short_help="Show where chattui keeps config, catalog, chats and models.")
def paths(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Show where chattui keeps its config, catalog, database and models."""
    from chattui.paths import resolve_paths

    locations = resolve_paths().as_dict()
    if as_json:
        print_json(locations)
        return
    width = max(map(len, locations))
    for name, where in locations.items():
        echo(f"{name:<{width}}  {where}")


EXIT_BROKEN_PIPE = 141


def _flags_take_no_value(command: Any) -> None:
    """Show no type after a flag in help (Typer shows ``<bool>``, as if it took a value).

    ``command`` is a command of the click that Typer carries inside it, so it is duck-typed.
    """
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, help_option]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: chattui's errors are one line on stderr (with their causes under --verbose).

    Args:
        argv: The arguments; by default the command line's.
    """
    args = sys.argv[1:] if argv is None else argv
    signals.install()
    _subcommands(args)
    command = typer.main.get_command(app)
    _flags_take_no_value(command)
    try:
        command(args=args, prog_name="chattui")
    except ChattuiError as error:
        from chattui.redact import without_credentials

        echo(f"chattui: {without_credentials(str(error))}", err=True)
        if "--verbose" in args:
            cause = error.__cause__
            while cause is not None:
                name = f"{type(cause).__module__}.{type(cause).__name__}"
                echo(f"  caused by {name}: {without_credentials(str(cause))}", err=True)
                cause = cause.__cause__
        sys.exit(error.exit_code)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except SystemExit as leaving:
        # Typer turns a KeyboardInterrupt no command handled into a silent exit 130: say so in
        # one line, and let SIGTERM and SIGHUP keep their own codes.
        ended = leaving.__context__
        while ended is not None and not isinstance(ended, KeyboardInterrupt):
            ended = ended.__cause__ or ended.__context__
        if isinstance(ended, KeyboardInterrupt):
            if not isinstance(ended, signals.Terminated):  # a closed terminal takes no line
                with contextlib.suppress(OSError):
                    echo("chattui: interrupted", err=True)
            sys.exit(signals.interrupt_code(ended))
        raise


def _quiet_stdout() -> None:
    """The reader went away (e.g. `| head`): send what is still buffered nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _ask(request: AskRequest) -> None:
    """Run ``ask``; Ctrl+C before the reply streams (loading, reading stdin) exits 130."""
    from chattui.cli.ask import run_ask
    from chattui.crashes import CrashWatch
    from chattui.paths import resolve_paths

    paths = resolve_paths()
    watch = CrashWatch(paths.log_file, paths.runs_dir)
    notice = watch.start()
    if notice is not None:
        echo(f"chattui: {notice}", err=True)
    try:
        code = run_ask(request, sys.stdin)
    except KeyboardInterrupt as interrupt:  # before the reply streams: loading, reading stdin
        code = signals.interrupt_code(interrupt)
    except BrokenPipeError:
        # Stop as Unix tools do (the reply is saved, marked stopped); Click would say exit 1.
        _quiet_stdout()
        code = EXIT_BROKEN_PIPE
    finally:
        watch.stop()
    raise typer.Exit(code)
