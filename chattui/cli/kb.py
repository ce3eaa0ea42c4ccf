"""``chattui kb``: knowledge folders made, listed, updated, searched and removed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from chattui.cli import signals
from chattui.cli.output import confirm_deletion, echo, passage_json, print_json, table
from chattui.errors import UsageError
from chattui.text_width import fit
from chattui.transcript import age

if TYPE_CHECKING:
    from chattui.conversation import Passage
    from chattui.kb.bases import KnowledgeBases
    from chattui.kb.index import UpdateReport

kb_app = typer.Typer(name="kb")  # its help: GROUPS in cli/__init__.py
SKIPPED_SHOWN = 5
"""Skipped files named after an update (the rest counted)."""

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def complete_base(incomplete: str) -> list[str]:
    """Shell completion: names of the knowledge bases starting with what was typed."""
    try:
        from chattui.kb.bases import KnowledgeBases
        from chattui.paths import resolve_paths

        names = KnowledgeBases(resolve_paths().kb_dir).names()
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    return [name for name in names if name.startswith(incomplete)]


NewNameArgument = Annotated[str, typer.Argument(help="The knowledge base's name.")]
NameArgument = Annotated[
    str, typer.Argument(help="The knowledge base's name.", autocompletion=complete_base)
]


def open_bases() -> KnowledgeBases:
    """The knowledge bases of the data folder, files read within config.toml's limits."""
    from chattui.config import load_config
    from chattui.kb.bases import KnowledgeBases
    from chattui.paths import resolve_paths

    paths = resolve_paths()
    return KnowledgeBases.of(load_config(paths.config_file), paths)


@kb_app.command()
def add(
    name: NewNameArgument,
    paths: Annotated[list[str], typer.Argument(help="Folders and files to index.")],
) -> None:
    """Make a knowledge base from folders and files (.gitignore respected) and index it."""
    bases = open_bases()
    with _indexing(name) as progress:
        report = bases.add(name, paths, progress)
    _summary(name, report, bases)


@kb_app.command()
def update(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The base to update (all of them when left out).", autocompletion=complete_base
        ),
    ] = None,
) -> None:
    """Read again the files that changed, index new ones, drop the deleted ones."""
    bases = open_bases()
    names = [name] if name is not None else bases.names()
    if not names:
        raise UsageError("no knowledge base yet: chattui kb add NAME PATH makes one")
    for each in names:
        with _indexing(each) as progress:
            report = bases.update(each, progress)
        _summary(each, report, bases)


@kb_app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List the knowledge bases: folders, files, passages, size, last update."""
    bases = open_bases()
    infos = [bases.info(name) for name in bases.names()]
    if as_json:
        print_json(
            [
                {
                    "name": i.name,
                    "roots": list(i.roots),
                    "files": i.files,
                    "chunks": i.chunks,
                    "bytes": i.size,
                    "updated": i.updated,
                    "embedding_model": i.embedder or None,
                    "vectors": i.vectors,
                }
                for i in infos
            ]
        )
        return
    if not infos:
        echo("no knowledge base yet: chattui kb add NAME PATH makes one", err=True)
        return
    from chattui.attachments.text import size_text

    rows = [
        [
            i.name,
            str(i.files),
            str(i.chunks),
            size_text(i.size),
            age(i.updated) if i.updated else "never",
            ", ".join(i.roots),
        ]
        for i in infos
    ]
    table(["name", "files", "passages", "size", "updated", "folders"], rows)


@kb_app.command()
def search(
    name: NameArgument,
    query: Annotated[list[str], typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50, help="Most shown.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Show the passages a question would be given: file, lines, heading, score."""
    passages = open_bases().search(name, " ".join(query), limit)
    if as_json:
        print_json([passage_json(p, number) for number, p in enumerate(passages, 1)])
        return
    if not passages:
        echo(f"nothing in {name} is relevant enough to {' '.join(query)!r}", err=True)
        return
    _show(passages)


@kb_app.command()
def rm(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a knowledge base's index (your files are not touched)."""
    bases = open_bases()
    bases.open(name).close()  # no such base: said before asking
    if not yes:
        confirm_deletion(f"Delete the index of knowledge base {name}?")
    bases.remove(name)
    echo(f"deleted knowledge base {name}", err=True)


def _show(passages: list[Passage]) -> None:
    """Each passage: its number, file:lines, heading and score, then its first lines."""
    for number, p in enumerate(passages, 1):
        heading = f"  ({p.heading})" if p.heading else ""
        echo(f"[{number}] {p.where}{heading}  score {p.score:.2f}")
        lines = [line for line in p.text.splitlines() if line.strip()]
        for line in lines[:4]:
            echo(f"    {fit(line, 96)}")
        if len(lines) > 4:
            echo("    …")
        echo()


@contextmanager
def _indexing(name: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal's stderr while a base is indexed; Ctrl+C said in one line."""
    try:
        if not sys.stderr.isatty():
            yield None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            f"indexing {name}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("files", total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
    except KeyboardInterrupt as interrupt:
        if not isinstance(interrupt, signals.Terminated):
            echo(
                f"chattui: interrupted: {name} keeps what was indexed; kb update {name} goes on",
                err=True,
            )
        raise typer.Exit(signals.interrupt_code(interrupt)) from None


def _summary(name: str, report: UpdateReport, bases: KnowledgeBases) -> None:
    """One line of what an update did, then the files skipped and folders missing."""
    info = bases.info(name)
    parts = [
        f"{name}: {info.files} file{'s' if info.files != 1 else ''},"
        f" {info.chunks} passage{'s' if info.chunks != 1 else ''}",
        f"{report.indexed} indexed",
    ]
    if report.removed:
        parts.append(f"{report.removed} removed")
    if report.embedded:
        parts.append(f"{report.embedded} embedded ({info.embedder})")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    echo("; ".join(parts), err=True)
    for shown, why in report.skipped[:SKIPPED_SHOWN]:
        echo(f"  skipped {shown}: {why}", err=True)
    if len(report.skipped) > SKIPPED_SHOWN:
        echo(f"  and {len(report.skipped) - SKIPPED_SHOWN} more skipped", err=True)
    for root in report.missing_roots:
        echo(f"  {root} is no longer there: its files are kept until kb rm {name}", err=True)
