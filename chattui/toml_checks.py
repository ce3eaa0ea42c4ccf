"""Checking TOML values: each check names what is allowed, each error is one line.

Shared by ``config.toml``, ``models.toml``, role files and the tool servers' tables.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chattui.errors import ConfigError
from chattui.redact import HIDDEN, secret_name, without_credentials
from chattui.sampling import Limit


def limit_checker(limit: Limit) -> Callable[[object], object]:
    """A check that the value is a number within ``limit``."""
    return limit.check


def any_string(value: object) -> str:
    """A TOML value that must be a string (it may be empty)."""
    if not isinstance(value, str):
        raise ValueError("a string in quotes")
    return value


def nonempty_string(value: object) -> str:
    """A TOML value that must be a string with something in it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string in quotes")
    return value


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What an environment variable may be called."""


def matching(pattern: re.Pattern[str], allowed: str) -> Callable[[object], str]:
    """A check that the value is a string ``pattern`` matches whole (``allowed`` says what)."""

    def check(value: object) -> str:
        text = nonempty_string(value)
        if not pattern.fullmatch(text):
            raise ValueError(allowed)
        return text

    return check


def http_url(example: str) -> Callable[[object], str]:
    """A check that the value is an http:// or https:// URL with a host (``example`` shown)."""

    def check(value: object) -> str:
        text = nonempty_string(value)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an http:// or https:// URL such as {example}")
        return text

    return check


def string_list(value: object) -> tuple[str, ...]:
    """A TOML value that must be a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("a list of strings")
    return tuple(value)


def one_of(*choices: str) -> Callable[[object], object]:
    """A check that the value is one of ``choices``."""

    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(", ".join(f'"{c}"' for c in choices[:-1]) + f' or "{choices[-1]}"')
        return str(value)

    return check


def boolean(value: object) -> bool:
    """A TOML value that must be true or false."""
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _found(key: str, value: object) -> str:
    """How a bad value is quoted in an error: never one under a key-like name, nor a password."""
    if secret_name(key):
        return HIDDEN
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    text = without_credentials(text)
    return text if len(text) <= 40 else text[:37] + "..."


def tables_of(
    data: Mapping[str, Any],
    key: str,
    checks: Mapping[str, Callable[[object], object]],
    where: str,
    noun: str,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Validate each table of an array of tables (``[[key]]``).

    Yields:
        How to name the table in errors ("FILE: NOUN #N"), and its validated values.

    Raises:
        ConfigError: ``key`` is not an array of tables, or a table is malformed.
    """
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: '{key}' must be [[{key}]] tables")
    for index, entry in enumerate(entries, start=1):
        label = f"{where}: {noun} #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: must be a [[{key}]] table")
        yield label, validate_table(entry, checks, label)


def validate_table(
    table: dict[str, Any],
    checks: Mapping[str, Callable[[object], object]],
    where: str,
) -> dict[str, Any]:
    """Validate every key of a TOML table.

    Args:
        table: The parsed table.
        checks: Validator for each allowed key.
        where: How to name the place in errors, e.g. ``"/home/me/.config/chattui/config.toml"``.

    Returns:
        The validated (and converted) values.

    Raises:
        ConfigError: Naming the place, the key, what was found and what is allowed.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        check = checks.get(key)
        if check is None:
            allowed = ", ".join(sorted(checks))
            raise ConfigError(f"{where}: unknown key '{key}'; allowed keys: {allowed}")
        try:
            values[key] = check(value)
        except ValueError as error:
            raise ConfigError(
                f"{where}: key '{key}' is {_found(key, value)}; allowed: {error}"
            ) from None
    return values


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, reporting any problem as one line naming the file.

    Raises:
        ConfigError: The file cannot be read or is not valid TOML.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read file: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    return read_toml_text(text, path)


def read_toml_text(text: str, path: Path) -> dict[str, Any]:
    """Parse TOML read from ``path`` (or a part of it), reporting a problem as one line.

    Raises:
        ConfigError: The text is not valid TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
