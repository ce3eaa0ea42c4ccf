"""A tool as the model sees it, the result of calling one, and checks on both.

Everything here is data from a server: names, descriptions and schemas are checked before a
tool is offered, arguments are checked against the schema before a call, and a result is cut
to a budget before it goes back to the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOOL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
"""What a server's tool may be called (the MCP specification's characters)."""
CUT_NOTE = "\n\n[chattui: the result was cut to {kept} of {total} characters]"
"""What the model is told when a result did not fit."""


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool a server offers."""

    server: str
    """The server's name in config.toml."""
    name: str
    """The tool's name on its server."""
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    """JSON Schema of its arguments (an object)."""

    @property
    def qualified(self) -> str:
        """``server.tool``: how chattui names it to the user and in ``auto_approve``."""
        return f"{self.server}.{self.name}"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call gave back."""

    text: str
    """The result as text (non-text content described in brackets)."""
    is_error: bool = False
    """The tool reported a failure; the text says what it was."""
    seconds: float = 0.0
    """How long the call took."""


def schema_problem(schema: object) -> str | None:
    """Why ``schema`` cannot describe a tool's arguments, or None when it can."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, Mapping):
        return "its input schema is not an object"
    if schema.get("type", "object") != "object":
        return "its input schema does not describe an object"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return f"its input schema is invalid: {error.message}"
    return None


def argument_problem(tool: Tool, arguments: object) -> str | None:
    """Why ``arguments`` do not fit ``tool``'s schema (the first reason), or None if they do."""
    from jsonschema import Draft202012Validator

    if not isinstance(arguments, dict):
        return "the arguments are not a JSON object"
    errors = sorted(
        Draft202012Validator(dict(tool.input_schema)).iter_errors(arguments),
        key=lambda e: list(e.absolute_path),
    )
    if not errors:
        return None
    first = errors[0]
    place = "/".join(str(p) for p in first.absolute_path)
    return f"{place}: {first.message}" if place else first.message


def parse_arguments(text: str) -> dict[str, Any]:
    """Arguments written by a model as JSON text ("" is no arguments).

    Raises:
        ValueError: The text is not a JSON object.
    """
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the arguments are not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise ValueError("the arguments are not a JSON object")
    return value


def cut_result(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """``text`` cut to about ``max_tokens`` tokens, with a note saying it was cut.

    Tokens are counted on a prefix only, so a 10 MB result costs no more than a short one.
    """
    # Four characters a token is generous for prose and code, tight for CJK: shrink until it fits.
    keep = min(len(text), max_tokens * 4)
    if keep == len(text) and count_tokens(text) <= max_tokens:
        return text
    while keep > 0 and count_tokens(text[:keep]) > max_tokens:
        keep = keep * 3 // 4
    return text[:keep] + CUT_NOTE.format(kept=keep, total=len(text))
