"""``chattui tools``: the MCP servers in config.toml, listed with their tools, added and removed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chattui.cli.output import echo, print_json
from chattui.errors import UsageError

if TYPE_CHECKING:
    from chattui.tools.client import ServerState, ToolServers
    from chattui.tools.servers import ToolServer

tools_app = typer.Typer(name="tools")  # its help: GROUPS in cli/__init__.py
DESCRIPTION_WIDTH = 72
"""Characters of a tool's description shown in the list (the first line of it)."""


@contextmanager
def running(servers: tuple[ToolServer, ...]) -> Iterator[ToolServers]:
    """The servers of config.toml, all stopped on the way out (Ctrl+C included)."""
    from chattui.paths import resolve_paths
    from chattui.tools.client import ToolServers

    live = ToolServers(servers, resolve_paths().tools_log_dir)
    try:
        yield live
    finally:
        live.close()


def _started(live: ToolServers) -> list[ServerState]:
    """Start every server, with a spinner on a terminal."""
    if not sys.stderr.isatty():
        return live.start_all()
    from rich.console import Console

    count = len(live.names)
    with Console(stderr=True).status(f"starting {count} tool server{'s' * (count > 1)}…"):
        return live.start_all()


@tools_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Start each server and list its tools, with what was skipped and why."""
    from chattui.config import load_config
    from chattui.paths import resolve_paths
    from chattui.tools.approval import auto_approved

    config = load_config(resolve_paths().config_file)
    if not config.mcp_servers:
        if as_json:
            print_json([])
            return
        echo("no tool server yet: chattui tools add NAME -- COMMAND [ARGS...] adds one", err=True)
        return
    with running(config.mcp_servers) as live:
        states = _started(live)
    if as_json:
        print_json([_state_json(live.spec(s.name), s, config.auto_approve) for s in states])
        return
    for state in states:
        spec = live.spec(state.name)
        if state.error is not None:
            echo(f"{state.name}  ({spec.transport}: {spec.where})  not started")
            echo(f"  {state.error}")
            continue
        echo(
            f"{state.name}  ({spec.transport}: {spec.where})  ready in {state.seconds:.1f} s, "
            f"{len(state.tools)} tool{'s' * (len(state.tools) != 1)}"
        )
        for tool in state.tools:
            mark = (
                "  (runs without asking)"
                if auto_approved(tool.qualified, config.auto_approve)
                else ""
            )
            echo(f"  {tool.qualified}{mark}")
            if tool.description:
                echo(f"      {_first_line(tool.description)}")
        for skipped in state.skipped:
            echo(f"  skipped {skipped}")
    failed = sum(state.error is not None for state in states)
    if failed:
        raise typer.Exit(1)


def _state_json(spec: ToolServer, state: ServerState, approved: tuple[str, ...]) -> dict[str, Any]:
    from chattui.tools.approval import auto_approved

    return {
        "name": state.name,
        "transport": spec.transport,
        "where": spec.where,
        "state": "ready" if state.error is None else "failed",
        "error": state.error,
        "seconds": round(state.seconds, 3),
        "tools": [
            {
                "name": tool.qualified,
                "description": tool.description,
                "input_schema": dict(tool.input_schema),
                "auto_approved": auto_approved(tool.qualified, approved),
            }
            for tool in state.tools
        ],
        "skipped": list(state.skipped),
    }


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= DESCRIPTION_WIDTH else line[: DESCRIPTION_WIDTH - 1] + "…"


def _pairs(values: list[str] | None, option: str) -> dict[str, str] | None:
    """``NAME=VALUE`` options as a table."""
    if not values:
        return None
    table: dict[str, str] = {}
    for value in values:
        name, equals, rest = value.partition("=")
        if not equals or not name:
            raise UsageError(f"{option} takes NAME=VALUE, not {value!r}")
        table[name] = rest
    return table


@tools_app.command()
def add(
    name: Annotated[str, typer.Argument(help="Short name: its tools are NAME.TOOL.")],
    command: Annotated[
        list[str] | None,
        typer.Argument(help="For a local server: the command and its arguments, after --."),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="For a streamable-HTTP server: its URL.")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE set for a local server.")
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option("--secret-env", help="NAME=VAR: set NAME from your $VAR when it starts."),
    ] = None,
    secret_cmd: Annotated[
        list[str] | None,
        typer.Option("--secret-cmd", help="NAME=COMMAND: set NAME from what COMMAND prints."),
    ] = None,
    cwd: Annotated[str | None, typer.Option("--cwd", help="Its working folder.")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="NAME=VALUE sent to an HTTP server.")
    ] = None,
    key_env: Annotated[
        str | None, typer.Option("--key-env", help="Variable holding an HTTP server's key.")
    ] = None,
    key_cmd: Annotated[
        str | None, typer.Option("--key-cmd", help="Command printing an HTTP server's key.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds a call may take (60).")
    ] = None,
) -> None:
    """Add (or replace) a tool server in config.toml (comments kept), then start it once.

    Local: chattui tools add files -- npx -y @modelcontextprotocol/server-filesystem ~/notes
    """
    from chattui.config import load_config
    from chattui.paths import resolve_paths
    from chattui.toml_edit import add_entry

    if bool(command) == bool(url):
        raise UsageError("give a command after -- (a local server) or --url, one of them")
    entry: dict[str, Any] = {
        "name": name,
        "command": command[0] if command else None,
        "args": list(command[1:]) if command and len(command) > 1 else None,
        "env": _pairs(env, "--env"),
        "secret_env": _pairs(secret_env, "--secret-env"),
        "secret_cmd": _pairs(secret_cmd, "--secret-cmd"),
        "cwd": cwd,
        "url": url,
        "headers": _pairs(header, "--header"),
        "api_key_env": key_env,
        "api_key_cmd": key_cmd,
        "timeout": timeout,
    }
    path = resolve_paths().config_file
    add_entry(path, "mcp_servers", entry, key="name", check=load_config)
    spec = next(s for s in load_config(path).mcp_servers if s.name == name)
    echo(f"added tool server {name} to {path}", err=True)
    with running((spec,)) as live:
        state = _started(live)[0]
    if state.error is not None:
        echo(f"it does not start yet: {state.error}", err=True)
        raise typer.Exit(1)
    tools = ", ".join(tool.name for tool in state.tools) or "none"
    echo(f"it started in {state.seconds:.1f} s and offers {len(state.tools)} tools: {tools}")


@tools_app.command()
def rm(name: Annotated[str, typer.Argument(help="The server's name.")]) -> None:
    """Remove a tool server from config.toml."""
    from chattui.config import load_config
    from chattui.paths import resolve_paths
    from chattui.toml_edit import remove_entry

    path = resolve_paths().config_file
    if not remove_entry(path, "mcp_servers", name, key="name", check=load_config):
        raise UsageError(f"no tool server '{name}' in {path}")
    echo(f"removed tool server {name}", err=True)
