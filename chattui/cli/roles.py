"""``chattui roles``: list the roles, show one, edit one (a copy in the user's roles folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated

import typer

from chattui.cli.output import echo, print_json, table
from chattui.config import load_config
from chattui.editor import editor_command
from chattui.errors import UsageError
from chattui.paths import resolve_paths
from chattui.roles import RoleProfile, find_role, load_roles, role_language, user_copy

roles_app = typer.Typer(name="roles")  # its help: GROUPS in cli/__init__.py


def available_roles() -> dict[str, RoleProfile]:
    """Every role: the shipped ones in the configured language, the user's over them.

    Raises:
        ChattuiError: config.toml or a role file is malformed.
    """
    paths = resolve_paths()
    config = load_config(paths.config_file)
    return load_roles(paths.roles_dir, role_language(config.language))


def complete_role(incomplete: str) -> list[str]:
    """Shell completion: role names starting with what was typed."""
    try:
        roles = available_roles()
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    return [name for name in sorted(roles) if name.startswith(incomplete)]


RoleArgument = Annotated[str, typer.Argument(help="Role name.", autocompletion=complete_role)]


@roles_app.command("list")
def list_roles(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The roles: name, where from, what each is for."""
    roles = available_roles()
    if as_json:
        print_json(
            [
                {
                    "name": role.name,
                    "description": role.description,
                    "shipped": role.shipped,
                    "path": str(role.path),
                }
                for role in roles.values()
            ]
        )
        return
    rows = [
        [role.name, "shipped" if role.shipped else "yours", role.description]
        for role in sorted(roles.values(), key=lambda r: r.name)
    ]
    table(["role", "from", "what it does"], rows)


@roles_app.command("show")
def show(name: RoleArgument) -> None:
    """A role's settings and system prompt, as its file holds them."""
    role = find_role(available_roles(), name)
    echo(role.path.read_text(encoding="utf-8").rstrip("\n"))


@roles_app.command("edit")
def edit(name: RoleArgument) -> None:
    """Open a role in $EDITOR (a shipped role is copied to your roles folder first)."""
    role = find_role(available_roles(), name)
    target = user_copy(role, resolve_paths().roles_dir)
    try:
        command = editor_command(str(target), None, os.environ)
    except ValueError as error:
        raise UsageError(f"$EDITOR cannot be read: {error}") from None
    if command is None or not sys.stdin.isatty():
        echo(f"{target}")
        if command is None:
            echo("set $EDITOR to open it from here", err=True)
        return
    try:
        subprocess.run(command, check=False)
    except OSError as error:
        raise UsageError(f"cannot start the editor '{command[0]}': {error.strerror}") from None
    find_role(available_roles(), name)  # a broken edit is reported now, naming the file
