"""Making untrusted model text safe to show on a terminal.

Control characters (ESC, the rest of C0 and C1, DEL) could move the cursor, change colours or
worse; they are replaced by visible stand-ins so the user still sees that they were there.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"\r(?!\n)|[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ␛ for ESC, ␍ for CR
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 controls have no pictures


def printable(text: str) -> str:
    """Return ``text`` with every terminal control character made visible and harmless.

    Newlines, tabs and CRLF pairs are kept; everything else below space, DEL and the C1 range
    (which includes the one-byte CSI, U+009B) is replaced.
    """
    return _CONTROL.sub(_visible, text)


def json_safe(encoded: str) -> str:
    """Escape DEL and C1 characters that ``json.dumps(ensure_ascii=False)`` leaves raw.

    Only valid on JSON text: these characters can only occur inside strings there.
    """
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", encoded)
