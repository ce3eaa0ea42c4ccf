"""Remote endpoints: OpenAI-compatible servers listed as ``[[endpoints]]`` in ``models.toml``.

A model an endpoint serves is named ``ID/MODEL`` (``lab/qwen2.5-72b-instruct``). The API key is
never stored here: an endpoint names the environment variable or the command that gives it, and
``api_key`` reads it only when a request is made. Nothing here talks to the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chattui.errors import ConfigError, ModelLoadError
from chattui.sampling import Limit
from chattui.secret_refs import read_secret
from chattui.toml_checks import (
    ENV_NAME,
    http_url,
    matching,
    nonempty_string,
    string_list,
    tables_of,
)

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""What an endpoint id may be: it starts a model name, before the slash."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One OpenAI-compatible server."""

    id: str
    """Short name; its models are named ``id/model``."""
    base_url: str
    """Up to and including ``/v1``: ``http://gpu-box:8000/v1``."""
    api_key_env: str | None = None
    """Environment variable holding the API key."""
    api_key_cmd: str | None = None
    """Shell command printing the API key (``pass show lab``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra HTTP headers sent with every request."""
    models: tuple[str, ...] = ()
    """The models it serves, for servers that do not list them at ``/v1/models``."""
    n_ctx: int | None = None
    """Context size, for servers that do not report it."""
    ca_bundle: str | None = None
    """A PEM file of CA certificates to trust (a private CA); else the system's store."""
    idle_timeout: float = 120.0
    """Seconds without a byte from the server before a reply is given up."""
    description: str = ""

    @property
    def public_url(self) -> str:
        """``base_url`` without credentials, as shown and saved."""
        return public_url(self.base_url)


def public_url(url: str) -> str:
    """``url`` without a user name or password in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_id = matching(ID, "letters, digits, '.', '_' and '-', starting with a letter or digit")
_env_name = matching(ENV_NAME, "the name of an environment variable, such as LAB_API_KEY")
_http_url = http_url("http://gpu-box:8000/v1")


def _url(value: object) -> str:
    return _http_url(nonempty_string(value).rstrip("/"))


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k for k, v in value.items()
    ):
        raise ValueError('a table of strings, such as { "X-Team" = "nlp" }')
    return dict(value)


_CHECKS: dict[str, Callable[[object], object]] = {
    "id": _id,
    "base_url": _url,
    "api_key_env": _env_name,
    "api_key_cmd": nonempty_string,
    "headers": _headers,
    "models": string_list,
    "n_ctx": Limit(int, 256, 10_485_760).check,
    "ca_bundle": nonempty_string,
    "idle_timeout": Limit(float, 1, 3600).check,
    "description": nonempty_string,
}


def parse_endpoints(data: Mapping[str, Any], where: str) -> list[Endpoint]:
    """The ``[[endpoints]]`` tables of a parsed ``models.toml``.

    Raises:
        ConfigError: An entry is malformed: one line naming the file, the entry and the key.
    """
    endpoints: list[Endpoint] = []
    for label, values in tables_of(data, "endpoints", _CHECKS, where, "endpoint"):
        for key in ("id", "base_url"):
            if key not in values:
                raise ConfigError(f"{label}: key '{key}' is missing")
        if "api_key_env" in values and "api_key_cmd" in values:
            raise ConfigError(f"{label}: give api_key_env or api_key_cmd, not both")
        if any(e.id == values["id"] for e in endpoints):
            raise ConfigError(f"{label}: another endpoint is already called '{values['id']}'")
        endpoints.append(Endpoint(**values))
    return endpoints


def api_key(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint's API key, read now; None when it names none.

    Raises:
        ModelLoadError: The variable is unset or the command fails; the message never holds
            the key or the command's output.
    """
    return read_secret(
        f"endpoint '{endpoint.id}'",
        ("API key", "api_key_cmd"),
        env=endpoint.api_key_env,
        command=endpoint.api_key_cmd,
        error=ModelLoadError,
        environ=environ,
    )


def ca_bundle(endpoint: Endpoint) -> Path | None:
    """The endpoint's CA file, checked to exist.

    Raises:
        ModelLoadError: It names a file that is not there.
    """
    if endpoint.ca_bundle is None:
        return None
    path = Path(endpoint.ca_bundle).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"endpoint '{endpoint.id}': ca_bundle {path} is not a file")
    return path
