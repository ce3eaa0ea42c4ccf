"""Keeping secrets out of what chattui prints: credentials in URLs, values under key-like names.

A key pasted into the wrong field (``api_key_env = "sk-..."``) or a URL with ``user:pass@`` in
it would otherwise appear in an error message, a log or a screenshot of one.
"""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*:/{1,2})[^/\s@]+@", re.IGNORECASE)
_SECRET_NAME = re.compile(r"key|token|secret|pass|auth|header|cookie|credential", re.IGNORECASE)
HIDDEN = "(not shown: it may be a secret)"
"""What is printed in place of a value under a key-like name."""


def without_credentials(text: str) -> str:
    """``text`` with the user name and password of every URL in it replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1***@", text)


def secret_name(name: str) -> bool:
    """Whether a setting called ``name`` may hold a secret (``api_key_env``, ``headers``...)."""
    return bool(_SECRET_NAME.search(name))
