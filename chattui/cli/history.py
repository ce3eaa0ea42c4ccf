"""``chattui history``: list, show, search, export, import, rename and remove saved chats."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from chattui.cli.output import confirm_deletion, echo, print_json, table
from chattui.errors import UsageError
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from chattui.terminal_text import json_safe, printable
from chattui.transcript import age, from_document, to_document, to_markdown

history_app = typer.Typer(name="history")  # its help: GROUPS in cli/__init__.py


def complete_conversation(incomplete: str) -> list[str]:
    """Shell completion: ids of recent conversations starting with what was typed."""
    try:
        store = ConversationStore(resolve_paths().database)
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    try:
        return [c.id for c in store.recent(200) if c.id.startswith(incomplete.lower())]
    finally:
        store.close()


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArgument = Annotated[
    str,
    typer.Argument(
        help="Conversation id (any unique prefix).", autocompletion=complete_conversation
    ),
]


@contextmanager
def _store() -> Iterator[ConversationStore]:
    store = ConversationStore.at(resolve_paths())
    try:
        yield store
    finally:
        store.close()


@history_app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List saved conversations, newest first."""
    with _store() as store:
        items = store.recent(limit)
    if as_json:
        print_json([asdict(item) for item in items])
        return
    rows = [
        [i.id, i.title, i.model_id or "", str(i.message_count), age(i.updated_at)] for i in items
    ]
    table(["id", "title", "model", "messages", "updated"], rows)


@history_app.command()
def show(
    conversation_id: IdArgument,
    tree: Annotated[
        bool,
        typer.Option(
            "--tree", help="Draw every branch, with the message ids to branch from (ask --from)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a conversation's branch in view: Markdown on a terminal, plain text in a pipe."""
    with _store() as store:
        cid = store.resolve(conversation_id)
        conversation = store.get(cid)
        messages = store.tree(cid) if tree or as_json else None
    if as_json:
        print_json(to_document(conversation, messages))
        return
    if messages is not None:
        from rich.console import Console

        from chattui.cli.tree import draw_tree

        Console(highlight=False).print(draw_tree(conversation, messages))
        return
    text = to_markdown(conversation)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        from chattui.formulas import formulas_to_text

        Console().print(Markdown(printable(formulas_to_text(text))))
    else:
        sys.stdout.write(text)


@history_app.command()
def search(
    query: Annotated[list[str], typer.Argument(help="Words to find (all of them).")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Find conversations by what was said in them, best match first."""
    with _store() as store:
        hits = store.search(" ".join(query), limit)
    if as_json:
        print_json([asdict(hit) for hit in hits])
        return
    table(
        ["id", "title", "match", "updated"],
        [[h.id, h.title, " ".join(h.snippet.split()), age(h.updated_at)] for h in hits],
    )


@history_app.command()
def export(
    conversation_id: IdArgument,
    as_format: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Export a conversation as Markdown or JSON."""
    if as_format not in ("md", "json"):
        raise UsageError(f"--format {as_format}: allowed: md, json")
    with _store() as store:
        cid = store.resolve(conversation_id)
        conversation = store.get(cid)
        tree = store.tree(cid) if as_format == "json" else None
    if as_format == "json":  # every branch; Markdown has the one in view
        text = json.dumps(to_document(conversation, tree), ensure_ascii=False, indent=2) + "\n"
    else:
        text = to_markdown(conversation)
    if output is None:
        echo(json_safe(text) if as_format == "json" else text, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror}") from None
    echo(f"wrote {output}", err=True)


@history_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A JSON export (- for stdin).")],
) -> None:
    """Import a conversation exported as JSON; prints its new id."""
    try:
        raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {file}: {error}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"{file} is not valid JSON: {error}") from None
    conversation = from_document(data, str(file))
    with _store() as store:
        echo(store.import_conversation(conversation))


@history_app.command()
def rename(conversation_id: IdArgument, title: Annotated[str, typer.Argument()]) -> None:
    """Give a conversation a new title."""
    if not title.strip():
        raise UsageError("the new title is empty")
    with _store() as store:
        store.rename(store.resolve(conversation_id), title)


@history_app.command()
def rm(
    conversation_ids: Annotated[
        list[str],
        typer.Argument(help="Ids (or prefixes) to delete.", autocompletion=complete_conversation),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete conversations (asks first unless --yes)."""
    with _store() as store:
        ids = list(dict.fromkeys(store.resolve(i) for i in conversation_ids))
        if not yes:
            titles = ", ".join(f"{i} ({printable(store.get(i).title)})" for i in ids)
            confirm_deletion(f"Delete {titles}?")
        store.delete(ids)  # their KV snapshots go too
    echo(f"deleted {len(ids)} conversation{'s' if len(ids) != 1 else ''}", err=True)
