"""Text measured in terminal cells: a Han character takes two, a combining mark none.

Used wherever text is cut to fit a column (titles, snippets), so a cut never splits a character
and Chinese text is not given twice the room it has.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
WIDE = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
"""Characters of scripts written without spaces between words (Han, kana, Hangul)."""


def char_cells(char: str) -> int:
    """Cells one character takes on a terminal."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """Cells ``text`` takes on a terminal."""
    return sum(char_cells(char) for char in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` cells, ending with an ellipsis when it was cut."""
    used = 0
    for index, char in enumerate(text):
        used += char_cells(char)
        if used > width:  # it does not fit: cut, leaving a cell for the ellipsis
            kept, room = [], width - 1
            for earlier in text[:index]:
                room -= char_cells(earlier)
                if room < 0:
                    break
                kept.append(earlier)
            return "".join(kept).rstrip() + ELLIPSIS
    return text
