"""Which tool calls run without asking: ``auto_approve`` patterns and "always" in a chat."""

from __future__ import annotations

from collections.abc import Iterable


def auto_approved(qualified: str, patterns: Iterable[str]) -> bool:
    """Whether ``server.tool`` matches one of ``auto_approve``'s patterns (``server.*`` too)."""
    server = qualified.split(".", 1)[0]
    return any(p == qualified or p == f"{server}.*" for p in patterns)
