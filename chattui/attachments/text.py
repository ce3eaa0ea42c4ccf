"""Text files: telling text from binary, decoding, naming the language of code."""

from __future__ import annotations

import codecs
import functools
from pathlib import PurePath

REPLACEMENT = "\ufffd"


def is_binary(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is binary.

    It is when it holds a NUL byte (as git decides), unless it is UTF-16 text, which announces
    itself with a byte order mark.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\0" in head


def decode(data: bytes) -> tuple[str, str]:
    """The text of ``data`` and a note when it was not valid UTF-8 (shown replaced).

    UTF-8 (a byte order mark dropped) and UTF-16 with a byte order mark are read as such; any
    other bytes that are not UTF-8 become U+FFFD, and the note says how many.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            return data.decode("utf-8-sig"), ""
        except UnicodeDecodeError:
            text = data.decode("utf-8-sig", errors="replace")
    bad = text.count(REPLACEMENT)
    note = f"not valid UTF-8: {bad} bad byte{'s' if bad != 1 else ''} shown as {REPLACEMENT}"
    return text, note if bad else ""


@functools.lru_cache(maxsize=256)
def language_for(name: str) -> str:
    """The name Markdown code blocks use for the language of file ``name`` ("" if none)."""
    from pygments.lexers import find_lexer_class_for_filename
    from pygments.util import ClassNotFound

    base = PurePath(name).name
    try:
        lexer = find_lexer_class_for_filename(base)
    except ClassNotFound:  # pragma: no cover - pygments returns None for unknown names
        return ""
    if lexer is None or not lexer.aliases or lexer.aliases[0] == "text":
        return ""
    return str(lexer.aliases[0])


def size_text(size: int) -> str:
    """A byte count as people read it: 812 B, 14 KiB, 3.2 MiB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"
