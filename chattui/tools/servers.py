"""The ``[[mcp_servers]]`` tables of config.toml: how to start or reach each tool server.

A server is a local command spoken to over stdio (``command``, ``args``, ``env``, ``cwd``) or a
streamable-HTTP URL (``url``, ``headers``). Secrets are named, never written: ``secret_env`` and
``secret_cmd`` fill a stdio server's environment, ``api_key_env`` / ``api_key_cmd`` an HTTP
server's key. Nothing here starts a process or opens a connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chattui.errors import ConfigError
from chattui.redact import without_credentials
from chattui.sampling import Limit
from chattui.secret_refs import read_secret
from chattui.toml_checks import ENV_NAME, http_url, matching, nonempty_string, tables_of

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
"""What a server may be called: it starts every tool's name (``files.read``)."""


@dataclass(frozen=True, slots=True)
class ToolServer:
    """One MCP server, as config.toml describes it."""

    name: str
    """Short name; its tools are called ``NAME.TOOL``."""
    command: str | None = None
    """The program to run for a stdio server."""
    args: tuple[str, ...] = ()
    """Its arguments."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables set for it, on top of a safe few inherited (PATH, HOME...)."""
    secret_env: Mapping[str, str] = field(default_factory=dict)
    """Variables set for it from variables of ours: ``{ GITHUB_TOKEN = "GH_PAT" }``."""
    secret_cmd: Mapping[str, str] = field(default_factory=dict)
    """Variables set for it from a command's output: ``{ GITHUB_TOKEN = "pass show gh" }``."""
    cwd: str | None = None
    """Its working folder."""
    url: str | None = None
    """The endpoint of a streamable-HTTP server: ``https://mcp.example.com/mcp``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra HTTP headers sent to it."""
    api_key_env: str | None = None
    """Environment variable holding the key sent to an HTTP server."""
    api_key_cmd: str | None = None
    """Command printing that key."""
    api_key_header: str = "Authorization"
    """Header that carries the key; ``Authorization`` sends ``Bearer KEY``."""
    timeout: float = 60.0
    """Seconds one tool call may take."""
    start_timeout: float = 30.0
    """Seconds the server may take to start and list its tools."""
    description: str = ""

    @property
    def transport(self) -> str:
        """``"stdio"`` or ``"http"``."""
        return "stdio" if self.command is not None else "http"

    @property
    def where(self) -> str:
        """What it runs or where it is, as shown (no credentials, no secret values)."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return without_credentials(self.url or "")

    def environment(self) -> dict[str, str]:
        """The variables a stdio server gets beyond the inherited ones, secrets read now.

        Raises:
            ConfigError: A secret's variable is unset or its command fails.
        """
        values = dict(self.env)
        for variable, source in self.secret_env.items():
            values[variable] = _secret(self, variable, env=source)
        for variable, command in self.secret_cmd.items():
            values[variable] = _secret(self, variable, command=command)
        return values

    def http_headers(self) -> dict[str, str]:
        """The headers an HTTP server gets, its key read now.

        Raises:
            ConfigError: The key's variable is unset or its command fails.
        """
        values = dict(self.headers)
        key = read_secret(
            f"tool server '{self.name}'",
            ("API key", "api_key_cmd"),
            env=self.api_key_env,
            command=self.api_key_cmd,
            error=ConfigError,
        )
        if key is not None:
            bearer = self.api_key_header.lower() == "authorization"
            values[self.api_key_header] = f"Bearer {key}" if bearer else key
        return values


def _secret(
    server: ToolServer, variable: str, *, env: str | None = None, command: str | None = None
) -> str:
    value = read_secret(
        f"tool server '{server.name}'",
        (f"{variable}", f"secret_cmd {variable}"),
        env=env,
        command=command,
        error=ConfigError,
    )
    assert value is not None  # one of env and command is given
    return value


_name = matching(NAME, "up to 32 letters, digits, '_' and '-', starting with a letter or digit")
_env_name = matching(ENV_NAME, "the name of an environment variable, such as SEARCH_KEY")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_header = matching(_HEADER, "an HTTP header name such as X-API-Key")


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('a list of strings, such as ["--root", "~/notes"]')
    return tuple(value)


def _table(keys: re.Pattern[str], what: str) -> Callable[[object], dict[str, str]]:
    def check(value: object) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and keys.fullmatch(k) and isinstance(v, str)
            for k, v in value.items()
        ):
            raise ValueError(f"a table of strings keyed by {what}")
        return dict(value)

    return check


_CHECKS: dict[str, Callable[[object], object]] = {
    "name": _name,
    "command": nonempty_string,
    "args": _strings,
    "env": _table(ENV_NAME, "variable names"),
    "secret_env": _table(ENV_NAME, "variable names"),
    "secret_cmd": _table(ENV_NAME, "variable names"),
    "cwd": nonempty_string,
    "url": http_url("http://127.0.0.1:8000/mcp"),
    "headers": _table(_HEADER, "header names"),
    "api_key_env": _env_name,
    "api_key_cmd": nonempty_string,
    "api_key_header": _header,
    "timeout": Limit(float, 1, 3600).check,
    "start_timeout": Limit(float, 1, 600).check,
    "description": nonempty_string,
}
_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}\.(\*|[A-Za-z0-9_][A-Za-z0-9_.-]*)")


def tool_patterns(value: object) -> tuple[str, ...]:
    """A TOML value that must list tools as ``"server.tool"`` or ``"server.*"``."""
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _PATTERN.fullmatch(v) for v in value
    ):
        raise ValueError('a list such as ["files.read", "search.*"]')
    return tuple(value)


_STDIO_ONLY = ("args", "env", "secret_env", "secret_cmd", "cwd")
_HTTP_ONLY = ("headers", "api_key_env", "api_key_cmd", "api_key_header")


def parse_tool_servers(data: Mapping[str, Any], where: str) -> tuple[ToolServer, ...]:
    """The ``[[mcp_servers]]`` tables of a parsed config.toml.

    Raises:
        ConfigError: An entry is malformed: one line naming the file, the entry and the key.
    """
    servers: list[ToolServer] = []
    for label, values in tables_of(data, "mcp_servers", _CHECKS, where, "mcp server"):
        if "name" not in values:
            raise ConfigError(f"{label}: key 'name' is missing")
        label = f"{where}: mcp server '{values['name']}'"
        if ("command" in values) == ("url" in values):
            raise ConfigError(f"{label}: give command (a local server) or url, one of them")
        wrong = _HTTP_ONLY if "command" in values else _STDIO_ONLY
        for key in wrong:
            if key in values:
                kind = "a command" if "command" in values else "a url"
                raise ConfigError(f"{label}: key '{key}' is not for a server with {kind}")
        if "api_key_env" in values and "api_key_cmd" in values:
            raise ConfigError(f"{label}: give api_key_env or api_key_cmd, not both")
        if any(s.name == values["name"] for s in servers):
            raise ConfigError(f"{label}: another server is already called '{values['name']}'")
        servers.append(ToolServer(**values))
    return tuple(servers)
