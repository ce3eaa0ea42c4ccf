"""The user's settings: the ``Config`` dataclass and loading ``config.toml``.

A bad file is reported as one line naming the file, the key, what was found and what is allowed;
loading never writes to the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chattui.errors import ConfigError
from chattui.redact import HIDDEN, secret_name, without_credentials
from chattui.sampling import SAMPLING_LIMITS, Limit, Sampling


@dataclass(frozen=True, slots=True)
class Config:
    """Settings from ``config.toml``; every field has a working default."""

    model: str | None = None
    """Default model: a catalog id, an alias or a path to a ``.gguf`` file."""
    system_prompt: str | None = None
    """System prompt for new chats."""
    sampling: Sampling = field(default_factory=Sampling)
    """Sampling defaults, layered over the model's own."""
    context_size: int | None = None
    """Context window in tokens; None uses the model's catalog value."""
    threads: int | None = None
    """CPU threads; None uses every core this process may run on."""
    gpu_layers: int | None = None
    """Layers to offload to the GPU; -1 all, 0 none, None all where supported."""
    theme: str | None = None
    """Textual theme of the TUI."""
    save_history: bool = True
    """Whether chats are saved to the conversation store."""
    language: str = "auto"
    """Wording of the shipped roles: "en", "zh", or "auto" (from the locale)."""
    kv_cache_max_mb: int = 2048
    """Most MiB the KV snapshots of chats may take (0: keep none)."""
    cpu_repack: str = "auto"
    """llama.cpp's repacked CPU kernels: "on", "off", or "auto" (a crash-safe probe decides)."""
    attach_max_file_kb: int = 1024
    """Largest text file attached, in KiB (a folder skips and lists larger ones)."""
    attach_max_files: int = 200
    """Most files a folder or a glob attaches."""
    attach_max_image_mb: int = 10
    """Largest image attached (and saved with the chat), in MiB."""
    kb_passages: int = 5
    """Most passages a knowledge base gives with a question."""
    kb_embedding_model: str = ""
    """A model whose vectors add a dense pass to knowledge bases ("": words only)."""


def _limit_checker(limit: Limit) -> Callable[[object], object]:
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


def string_list(value: object) -> tuple[str, ...]:
    """A TOML value that must be a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("a list of strings")
    return tuple(value)


def _one_of(*choices: str) -> Callable[[object], object]:
    def check(value: object) -> str:
        if value not in choices:
            raise ValueError(", ".join(f'"{c}"' for c in choices[:-1]) + f' or "{choices[-1]}"')
        return str(value)

    return check


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


_CHECKS: dict[str, Callable[[object], object]] = {
    "model": any_string,
    "system_prompt": any_string,
    "context_size": _limit_checker(Limit(int, 256, 1_048_576)),
    "threads": _limit_checker(Limit(int, 1, 1024)),
    "gpu_layers": _limit_checker(Limit(int, -1, 100_000)),
    "theme": any_string,
    "save_history": _boolean,
    "language": _one_of("auto", "en", "zh"),
    "kv_cache_max_mb": _limit_checker(Limit(int, 0, 1_000_000)),
    "cpu_repack": _one_of("auto", "on", "off"),
    "attach_max_file_kb": _limit_checker(Limit(int, 1, 1_048_576)),
    "attach_max_files": _limit_checker(Limit(int, 1, 100_000)),
    "attach_max_image_mb": _limit_checker(Limit(int, 1, 1024)),
    "kb_passages": _limit_checker(Limit(int, 1, 20)),
    "kb_embedding_model": any_string,
    **{name: _limit_checker(limit) for name, limit in SAMPLING_LIMITS.items()},
}
"""Validator of each key; each raises ValueError describing what is allowed."""

CONFIG_KEYS = tuple(_CHECKS)
"""Every key config.toml may hold."""


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


def load_config(path: Path) -> Config:
    """Load ``config.toml``; a missing file gives the defaults.

    Args:
        path: The config file.

    Raises:
        ConfigError: The file is malformed or holds a bad value.
    """
    if not path.exists():
        return Config()
    values = validate_table(read_toml(path), _CHECKS, str(path))
    sampling = Sampling.from_mapping(values)
    plain = {k: v for k, v in values.items() if k not in SAMPLING_LIMITS}
    return Config(sampling=sampling, **plain)
