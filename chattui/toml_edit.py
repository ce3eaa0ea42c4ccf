"""Changing config.toml and the user's models.toml without losing comments, order or other keys.

Edits go through tomlkit (style-preserving), are checked by the same validation as loading, and
are written atomically (a temporary file renamed over the old one), so a crash or a bad value
never leaves a broken file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.toml_document import TOMLDocument

from chattui.catalog import parse_catalog
from chattui.config import load_config
from chattui.errors import ConfigError


def _read(path: Path) -> TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TOMLKitError) as error:
        raise ConfigError(f"{path}: cannot update the file, fix it first: {error}") from None


def _write(path: Path, text: str, check: Callable[[Path], object]) -> None:
    """Validate ``text`` as the file would be loaded, then replace ``path`` atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    scratch = Path(temporary)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        try:
            check(scratch)
        except ConfigError as error:  # name the real file, not the scratch copy
            raise ConfigError(str(error).replace(str(scratch), str(path))) from None
        if path.exists():
            scratch.chmod(path.stat().st_mode & 0o777)
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)


def set_config_value(path: Path, key: str, value: Any) -> None:
    """Set one key of config.toml, keeping everything else as it was.

    Raises:
        ConfigError: The file is malformed, or the value is not allowed for the key.
    """
    document = _read(path)
    document[key] = value
    _write(path, tomlkit.dumps(document), load_config)


def _tables(document: TOMLDocument, kind: str) -> Any:
    tables = document.get(kind)
    if tables is None:
        tables = tomlkit.aot()
        document[kind] = tables
    return tables


def add_entry(
    path: Path,
    kind: str,
    entry: Mapping[str, Any],
    *,
    key: str = "id",
    check: Callable[[Path], object] | None = None,
) -> None:
    """Add (or replace, same ``key``) an entry of an array of tables: ``[[endpoints]]``...

    Args:
        path: models.toml (the default check) or config.toml (pass ``load_config``).
        kind: The array's name.
        entry: The entry's values; None values are left out.
        key: The field that names an entry.
        check: Validates the file as it would be loaded; the catalog's check by default.

    Raises:
        ConfigError: The file is malformed or the entry is invalid.
    """
    document = _read(path)
    tables = _tables(document, kind)
    table = tomlkit.table()
    for name, value in entry.items():
        if value is not None:
            table[name] = value
    for index, existing in enumerate(tables):
        if existing.get(key) == entry[key]:
            tables[index] = table
            break
    else:
        tables.append(table)
    _write(path, tomlkit.dumps(document), check or _catalog_check)


def add_model_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Add (or replace, same id) a ``[[models]]`` entry in the user's models.toml."""
    add_entry(path, "models", entry)


def remove_entry(
    path: Path,
    kind: str,
    entry_id: str,
    *,
    key: str = "id",
    check: Callable[[Path], object] | None = None,
) -> bool:
    """Remove the entry of ``kind`` whose ``key`` is ``entry_id``; False if absent.

    Raises:
        ConfigError: The file is malformed, or would be without the entry.
    """
    if not path.exists():
        return False
    document = _read(path)
    tables = _tables(document, kind)
    keep = [entry for entry in tables if entry.get(key) != entry_id]
    if len(keep) == len(tables):
        return False
    if keep:
        fresh = tomlkit.aot()
        for entry in keep:
            fresh.append(entry)
        document[kind] = fresh
    else:  # an empty array of tables would be written as "kind = []" above every table
        del document[kind]
    _write(path, tomlkit.dumps(document), check or _catalog_check)
    return True


def remove_model_entry(path: Path, model_id: str) -> bool:
    """Remove the entry with ``model_id`` from the user's models.toml; False if absent."""
    return remove_entry(path, "models", model_id)


def _catalog_check(path: Path) -> None:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    parse_catalog(data, str(path))
