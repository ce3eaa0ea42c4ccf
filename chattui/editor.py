"""The user's editor ($VISUAL, then $EDITOR) as a command that opens a file at a line."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import PurePath

AT_PLUS = frozenset(
    {
        "vi",
        "vim",
        "nvim",
        "gvim",
        "view",
        "nano",
        "emacs",
        "emacsclient",
        "micro",
        "joe",
        "kak",
        "ne",
        "mg",
        "jed",
        "pico",
    }
)
"""Editors that take ``+LINE`` before the file."""
AT_COLON = frozenset({"hx", "helix", "subl", "zed"})
"""Editors that take ``FILE:LINE``."""


def editor_command(path: str, line: int | None, environ: Mapping[str, str]) -> list[str] | None:
    """The command that opens ``path`` (at ``line``, for editors known to take one).

    Returns:
        The command, or None when neither $VISUAL nor $EDITOR names an editor.

    Raises:
        ValueError: The variable cannot be split as a shell would (an unclosed quote).
    """
    editor = environ.get("VISUAL", "").strip() or environ.get("EDITOR", "").strip()
    if not editor:
        return None
    words = shlex.split(editor)
    name = PurePath(words[0]).name
    if line is None:
        return [*words, path]
    if name in AT_PLUS:
        return [*words, f"+{line}", path]
    if name in AT_COLON:
        return [*words, f"{path}:{line}"]
    if name in ("code", "codium", "cursor"):
        return [*words, "--goto", f"{path}:{line}"]
    return [*words, path]
