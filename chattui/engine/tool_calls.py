"""Tool calls on the wire: messages with calls and results, and calls read from a model's output.

Two shapes. OpenAI's: an assistant message carries ``tool_calls`` and each result is a ``tool``
message; endpoints and chat templates that take ``tools`` read it. And text, for templates that
do not: the tools are described in the system prompt, a call is written as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (the format Qwen2.5, Hermes and many
others are trained on) and a result comes back as a ``<tool_response>``. No engine imports here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chattui.conversation import Message, Role, ToolCall, ToolSpec

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"


@dataclass(frozen=True, slots=True)
class CallFormat:
    """How a model writes a call: JSON between tags, or bare JSON at the start of its turn."""

    name: str
    opening: str
    """What starts a call ("": the turn begins with the call's JSON)."""
    closing: str
    arguments_key: str
    """The key of the arguments in the call's JSON."""


HERMES = CallFormat("<tool_call>", CALL_OPEN, CALL_CLOSE, "arguments")
"""``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``: Qwen2.5, Hermes and others,
and chattui's own system prompt."""
LLAMA3 = CallFormat("Llama 3 JSON", "", "", "parameters")
"""``{"name": ..., "parameters": {...}}`` as the whole turn: Llama 3.1, 3.2 and 3.3."""

INSTRUCTIONS = (
    "You may call tools to help with the user's request. The tools are described in JSON "
    "Schema within <tools></tools>:\n<tools>\n{tools}\n</tools>\n\n"
    "To call one, write a JSON object with its name and arguments within "
    "<tool_call></tool_call>:\n<tool_call>\n"
    '{{"name": "<function-name>", "arguments": {{<arguments>}}}}\n</tool_call>\n'
    "Each result comes back within <tool_response></tool_response>. "
    "Call a tool only when it helps; otherwise answer directly."
)
"""The system prompt's part that offers the tools to a model whose template cannot."""


def new_call_id() -> str:
    """An id for a call whose model gave none."""
    return "call_" + uuid.uuid4().hex[:24]


def tools_text(tools: Sequence[ToolSpec]) -> str:
    """The tools described for a system prompt (text format)."""
    listed = "\n".join(json.dumps(t.as_openai(), ensure_ascii=False) for t in tools)
    return INSTRUCTIONS.format(tools=listed)


def call_schema(tools: Sequence[ToolSpec], key: str = "arguments") -> dict[str, Any]:
    """JSON Schema of one call to any of ``tools``: ``{"name": ..., KEY: {...}}``."""
    choices = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                key: dict(tool.parameters) or {"type": "object"},
            },
            "required": ["name", key],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    return choices[0] if len(choices) == 1 else {"oneOf": choices}


def grammar_schema(tools: Sequence[ToolSpec], room: int, key: str = "arguments") -> dict[str, Any]:
    """The call schema a grammar is built from, bounded so that a call ends within ``room`` tokens.

    A small model can write one string forever; a grammar only lets it close the string, so
    each string (and array) a schema leaves unbounded gets a bound that fits the room left,
    and objects take only the properties they declare. Arguments that fit this fit the tool's
    own schema.
    """
    schema = call_schema(tools, key)
    strings = max(1, json.dumps(schema).count('"string"'))
    # A character costs at most a token (the grammar admits no empty token): share the room.
    longest = max(16, (room - 64) // (strings * ARRAY_ITEMS))
    bounded: dict[str, Any] = _bounded(schema, longest)
    return bounded


ARRAY_ITEMS = 8
"""Most items a local model may put in an array a tool's schema leaves unbounded."""


def _bounded(node: Any, longest: int) -> Any:
    if isinstance(node, list):
        return [_bounded(item, longest) for item in node]
    if not isinstance(node, dict):
        return node
    bounded = {key: _bounded(value, longest) for key, value in node.items()}
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds and "maxLength" not in node and "enum" not in node:
        bounded["maxLength"] = longest
    if "array" in kinds and "maxItems" not in node:
        bounded["maxItems"] = ARRAY_ITEMS
    if "object" in kinds and "properties" in node and "additionalProperties" not in node:
        bounded["additionalProperties"] = False
    return bounded


def wire_messages(
    messages: Sequence[Message],
    *,
    text: bool,
    render: Callable[[Message], dict[str, Any]] | None = None,
    parsed: bool = False,
) -> list[dict[str, Any]]:
    """``messages`` as chat dicts, each reply's tool calls and results in their place.

    Args:
        messages: The conversation, as sent.
        text: Write calls and results as text (a template that takes no tools), rather than
            as ``tool_calls`` and ``tool`` messages.
        render: How a message itself is written (images as parts, for an endpoint).
        parsed: Give a call's arguments as an object, as chat templates take them (OpenAI's
            API takes them as JSON text).
    """
    wired: list[dict[str, Any]] = []
    for message in messages:
        for call in message.tool_calls:
            wired += _call_dicts(call, text=text, parsed=parsed)
        if message.tool_calls and message is messages[-1] and not message.content:
            continue  # the reply goes on after its last result
        wired.append(render(message) if render is not None else dict(message.as_chat_dict()))
    return wired


def _call_dicts(call: ToolCall, *, text: bool, parsed: bool) -> list[dict[str, Any]]:
    if text:
        body = json.dumps({"name": call.name, "arguments": _arguments(call)}, ensure_ascii=False)
        said = f"{call.text}\n" if call.text else ""
        return [
            {"role": "assistant", "content": f"{said}{CALL_OPEN}\n{body}\n{CALL_CLOSE}"},
            {"role": "user", "content": f"<tool_response>\n{call.result}\n</tool_response>"},
        ]
    return [
        {
            "role": "assistant",
            "content": call.text,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": _arguments(call) if parsed else call.arguments,
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": call.result},
    ]


def _arguments(call: ToolCall) -> Any:
    """The call's arguments as JSON (as written, if the model wrote something else)."""
    try:
        return json.loads(call.arguments, strict=False)
    except json.JSONDecodeError:
        return call.arguments


def with_tools_in_system(wired: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> None:
    """Describe ``tools`` in the system message (one is made first if there is none)."""
    described = tools_text(tools)
    if wired and wired[0]["role"] == str(Role.SYSTEM):
        wired[0] = {**wired[0], "content": f"{wired[0]['content']}\n\n{described}"}
    else:
        wired.insert(0, {"role": str(Role.SYSTEM), "content": described})


def parse_text_calls(output: str, form: CallFormat = HERMES) -> tuple[str, list[ToolCall]]:
    """The text before the first call and every call written after it.

    Each call's JSON is read as far as it goes (a closing tag inside one of its strings is
    text); a call whose JSON is malformed is kept with its text as arguments, so the model can
    be told.
    """
    at = _first_call(output, form)
    if at < 0:
        return output, []
    said = output[:at].rstrip()
    decoder = json.JSONDecoder(strict=False)
    calls = []
    while at >= 0:
        start = at + len(form.opening)
        begin = len(output) - len(output[start:].lstrip())
        try:
            value, end = decoder.raw_decode(output, begin)
        except json.JSONDecodeError:
            value, end = None, len(output)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            arguments = value.get("arguments", value.get("parameters", {}))
            calls.append(
                ToolCall(new_call_id(), value["name"], json.dumps(arguments, ensure_ascii=False))
            )
        else:
            body = output[begin:end]
            closed = body.find(form.closing) if form.closing else -1
            written = body[:closed] if closed >= 0 else body
            calls.append(ToolCall(new_call_id(), "", written.strip()))
        at = output.find(form.opening, end) if form.opening else -1
    return said, calls


def _first_call(output: str, form: CallFormat) -> int:
    """Where the first call begins in ``output`` (-1: it holds none)."""
    if form.opening:
        return output.find(form.opening)
    stripped = output.lstrip()
    return len(output) - len(stripped) if stripped.startswith("{") else -1


@dataclass
class StreamedCalls:
    """Tool calls assembled from OpenAI's streamed ``tool_calls`` deltas (fragments joined)."""

    _parts: dict[int, dict[str, Any]] = field(default_factory=dict)

    def feed(self, deltas: object) -> None:
        """Take a chunk's ``delta.tool_calls`` list (anything else is ignored)."""
        if not isinstance(deltas, list):
            return
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                continue
            index = delta.get("index", position)
            part = self._parts.setdefault(
                index if isinstance(index, int) else position, {"id": "", "name": "", "args": []}
            )
            if isinstance(delta.get("id"), str) and delta["id"]:
                part["id"] = delta["id"]
            function = delta.get("function")
            if isinstance(function, Mapping):
                if isinstance(function.get("name"), str):
                    part["name"] += function["name"]
                if isinstance(function.get("arguments"), str):
                    part["args"].append(function["arguments"])

    def calls(self) -> list[ToolCall]:
        """The calls, in the order of their index."""
        return [
            ToolCall(part["id"] or new_call_id(), part["name"], "".join(part["args"]))
            for _index, part in sorted(self._parts.items())
        ]


def template_call_format(template: str | None) -> CallFormat | None:
    """How a chat template has calls written, when it writes the tools itself (else None)."""
    if not template or "tools" not in template:
        return None
    if CALL_OPEN in template:
        return HERMES
    if '"parameters"' in template and "ipython" in template:
        return LLAMA3
    return None


def template_takes_tools(template: str | None) -> bool:
    """Whether a chat template writes the tools itself (in a format chattui reads)."""
    return template_call_format(template) is not None


class CallWatcher:
    """A local model's output split: text for the reader until a call begins, the call after.

    Text that could be the start of a call is held back until it is clear it is not: the start
    of ``<tool_call>``, or (bare JSON calls) whitespace at the start of the turn.
    """

    def __init__(self, form: CallFormat = HERMES) -> None:
        self.form = form
        self._held = ""
        self._call: list[str] = []
        self._text = False
        """Whether the turn began with text (bare JSON calls: then it holds none)."""

    @property
    def calling(self) -> bool:
        """Whether the model has started writing a call."""
        return bool(self._call)

    def feed(self, piece: str) -> str:
        """Take a piece of output; return what the reader may see of it now."""
        if self._call:
            self._call.append(piece)
            return ""
        text = self._held + piece
        if not self.form.opening:
            return self._feed_bare(text)
        at = text.find(self.form.opening)
        if at >= 0:
            self._call.append(text[at:])
            self._held = ""
            return text[:at]
        opening = self.form.opening
        keep = next(
            (
                n
                for n in range(min(len(text), len(opening) - 1), 0, -1)
                if opening.startswith(text[-n:])
            ),
            0,
        )
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep]

    def _feed_bare(self, text: str) -> str:
        if self._text:
            return text
        stripped = text.lstrip()
        if not stripped:
            self._held = text
            return ""
        self._held = ""
        if stripped.startswith("{"):
            self._call.append(text)
            return ""
        self._text = True
        return text

    def finish(self) -> tuple[str, list[ToolCall]]:
        """What was held back (no call came), and the calls written."""
        if not self._call:
            held, self._held = self._held, ""
            return held, []
        return "", parse_text_calls("".join(self._call), self.form)[1]
