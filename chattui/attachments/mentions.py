"""Paths in what the user types or pastes: ``@path`` mentions, Tab completion, a dropped file.

Pure functions over text and the file system; the app's prompt uses them.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from urllib.parse import unquote, urlparse

from chattui.attachments import is_url

_WORD = r"(?:\\.|\S)+"
"""A word as a shell reads it: a backslash keeps the space (or any character) after it."""
_MENTION = re.compile(rf"(?<!\S)@({_WORD})")
_LAST_WORD = re.compile(rf"{_WORD}$")
_ESCAPED = re.compile(r"\\(.)")
_WINDOWS = os.sep == "\\"  # where a backslash separates folders, it escapes nothing
_TO_ESCAPE = re.compile(r"([\s\\'\"])")


def unescape(word: str) -> str:
    r"""A typed word's path: ``my\ notes.md`` is ``my notes.md`` (on Windows, as typed)."""
    return word if _WINDOWS else _ESCAPED.sub(r"\1", word)


def escape(path: str) -> str:
    r"""``path`` typed as one word, as a shell's Tab writes it: ``my\ notes.md``."""
    return path if _WINDOWS else _TO_ESCAPE.sub(r"\\\1", path)


def last_word(line: str) -> str:
    """The word ``line`` ends with, escaped spaces and all ("" when it ends with a space)."""
    found = _LAST_WORD.search(line)
    return found.group(0) if found else ""


def mentions(text: str, cwd: Path | None = None) -> list[str]:
    r"""The ``@path`` and ``@URL`` words of ``text`` that name something to attach, in order.

    A word that names no existing path (``@alice``, an e-mail) is text, not a mention. A space
    in a path is typed with a backslash before it (``@my\ notes.md``), as Tab completes it.
    """
    found: list[str] = []
    for match in _MENTION.finditer(text):
        word = unescape(match.group(1)).rstrip(".,;:!?)")
        if word in found:
            continue
        if is_url(word) or _exists(word, cwd):
            found.append(word)
    return found


def complete_path(partial: str, cwd: Path | None = None) -> tuple[str, list[str]]:
    """Complete the path ``partial`` as a shell does.

    Returns:
        The longest common completion, and the names that match (a folder's with a trailing
        slash; hidden names only when ``partial``'s last part starts with a dot).
    """
    head, sep, stem = partial.rpartition("/")
    folder = Path(head + sep).expanduser() if sep else Path()
    where = folder if folder.is_absolute() else (cwd or Path.cwd()) / folder
    try:
        names = sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in where.iterdir()
            if entry.name.startswith(stem) and (stem.startswith(".") or entry.name[0] != ".")
        )
    except OSError:
        return partial, []
    if not names:
        return partial, []
    first, last = names[0], names[-1]  # sorted: what they share, all share
    common = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), None)
    return head + sep + first[: min(len(first), len(last)) if common is None else common], names


def pasted_paths(text: str, cwd: Path | None = None) -> list[str] | None:
    """The files a paste names, when it is nothing but paths (a file dropped on the terminal).

    Terminals paste a dropped file as its path: quoted, with backslashes before spaces, or as a
    ``file://`` URL. None when the paste is anything else (it is then text).
    """
    stripped = text.strip()
    if not stripped:
        return None
    try:
        words = shlex.split(stripped)
    except ValueError:
        return None
    paths: list[str] = []
    for word in words:
        if word.startswith("file://"):
            word = unquote(urlparse(word).path)
        if not (word.startswith(("/", "~", "./", "../")) and _exists(word, cwd)):
            return None
        paths.append(word)
    return paths or None


def _exists(word: str, cwd: Path | None) -> bool:
    path = Path(word).expanduser()
    if not path.is_absolute() and cwd is not None:
        path = cwd / path
    try:
        return path.exists()
    except OSError:
        return False
