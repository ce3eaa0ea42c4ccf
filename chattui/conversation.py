"""Conversation domain types: roles, messages, what produced a reply, saved conversations.

Pure stdlib, imported by every layer.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chattui.text_width import fit


class Role(enum.StrEnum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a model is offered it: a function's name, what it does, its arguments."""

    name: str
    """The function name the model writes (letters, digits, '_' and '-')."""
    description: str
    parameters: Mapping[str, Any]
    """JSON Schema of its arguments (an object)."""

    def as_openai(self) -> dict[str, Any]:
        """The ``{"type": "function", ...}`` entry of an OpenAI ``tools`` list."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


class ToolOutcome(enum.StrEnum):
    """How a tool call the model asked for ended."""

    RAN = "ran"
    """It ran; the result is what the tool said (perhaps that it failed)."""
    FAILED = "failed"
    """It could not run: unknown tool, bad arguments, a server down or too slow."""
    DENIED = "denied"
    """The user said no."""
    STOPPED = "stopped"
    """The user stopped the reply while it ran."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for, and once made, what it gave back."""

    id: str
    """The call's id, as the model's API names it (made up where it names none)."""
    name: str
    """The function name the model wrote."""
    arguments: str
    """The arguments as the model wrote them (JSON text)."""
    text: str = ""
    """What the model wrote before asking for the call."""
    result: str = ""
    """What the model was given back."""
    outcome: ToolOutcome = ToolOutcome.RAN
    seconds: float = 0.0
    """How long the call ran."""

    @property
    def shown_name(self) -> str:
        """The tool as the user knows it: ``server.tool`` for chattui's ``server__tool``."""
        return self.name.replace("__", ".", 1) if "__" in self.name else self.name


TOOL_CALL_FIELDS = ("id", "name", "arguments", "text", "result", "outcome", "seconds")
"""A tool call's fields as exported."""


def tool_calls_to_list(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """Tool calls as JSON-ready objects."""
    return [
        {
            key: str(getattr(c, key)) if key == "outcome" else getattr(c, key)
            for key in TOOL_CALL_FIELDS
        }
        for c in calls
    ]


def tool_calls_from_list(items: Any) -> tuple[ToolCall, ...]:
    """Tool calls from ``tool_calls_to_list``'s objects.

    Raises:
        ValueError: ``items`` is not such a list.
    """
    if not isinstance(items, list):
        raise ValueError("tool_calls must be a list")
    calls = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a tool call must be an object")
        texts = [item.get(key) for key in TOOL_CALL_FIELDS[:5]]
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("a tool call's id, name, arguments, text and result must be strings")
        outcome, seconds = item.get("outcome"), item.get("seconds")
        if outcome not in set(ToolOutcome):
            raise ValueError("a tool call's outcome must be ran, failed, denied or stopped")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("a tool call's seconds must be a number")
        call_id, name, arguments, text, result = (str(t) for t in texts)
        calls.append(
            ToolCall(call_id, name, arguments, text, result, ToolOutcome(outcome), float(seconds))
        )
    return tuple(calls)


def utc_now() -> str:
    """The current time as UTC ISO-8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ReplyInfo:
    """What produced a reply and what it cost."""

    model_id: str
    """Catalog id of the model."""
    model_file: str | None = None
    """File name of the GGUF."""
    model_size: int | None = None
    """Size of the GGUF in bytes."""
    model_sha256: str | None = None
    """Checksum of the GGUF, when known."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Sampling settings used, seed included."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    time_to_first_token: float | None = None
    """Seconds."""
    decode_tps: float | None = None
    """Tokens per second."""
    finish_reason: str | None = None
    """stop, length, stopped or error; None while the reply is being written (or was cut off
    by a killed process)."""
    endpoint: str | None = None
    """Id of the remote endpoint that served the model."""
    base_url: str | None = None
    """Its URL, without credentials."""
    server_model: str | None = None
    """The model id the server reported."""
    fingerprint: str | None = None
    """The server's ``system_fingerprint``, when it reported one."""
    reasoning: str | None = None
    """The model's reasoning, kept apart from the answer."""


class AttachmentKind(enum.StrEnum):
    """What an attachment was read from."""

    TEXT = "text"
    """A text or code file."""
    FOLDER = "folder"
    """The text files of a folder."""
    PDF = "pdf"
    DOCUMENT = "document"
    """An office document (.docx)."""
    PAGE = "page"
    """A web page, its readable text."""
    IMAGE = "image"
    KNOWLEDGE = "knowledge"
    """Passages a knowledge base gave for the question, numbered for the reply to cite."""


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage of a knowledge base's file, given to the model (or found by a search)."""

    path: str
    """The file, absolute."""
    shown: str
    """The file as cited: under the name of the folder the base was made from."""
    start_line: int
    end_line: int
    heading: str
    """The headings above it, or the definition it is in ("" if none)."""
    score: float
    """Relevance, from 0 to 1, of its rank among the passages found."""
    text: str = ""
    """Its text (not kept with a saved message, whose attachment holds it)."""

    @property
    def where(self) -> str:
        """``file:first-last`` (one line: ``file:line``)."""
        lines = f"{self.start_line}" + (
            f"-{self.end_line}" if self.end_line != self.start_line else ""
        )
        return f"{self.shown}:{lines}"

    @property
    def cited(self) -> str:
        """Where it is from, as a list of sources shows it: ``file:lines (heading)``."""
        return self.where + (f" ({self.heading})" if self.heading else "")


PASSAGE_FIELDS = ("path", "shown", "start_line", "end_line", "heading", "score")
"""What is kept of a passage given with a message (its text is in the attachment's)."""


def passages_to_list(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """Passages as JSON-ready objects, without their text."""
    return [{key: getattr(p, key) for key in PASSAGE_FIELDS} for p in passages]


def passages_from_list(items: Any) -> tuple[Passage, ...]:
    """Passages from ``passages_to_list``'s objects.

    Raises:
        ValueError: ``items`` is not such a list.
    """
    if not isinstance(items, list):
        raise ValueError("passages must be a list")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a passage must be an object")
        path, shown, start, end, heading, score = (item.get(key) for key in PASSAGE_FIELDS)
        if not (isinstance(path, str) and isinstance(shown, str) and isinstance(heading, str)):
            raise ValueError("a passage's path, shown and heading must be strings")
        if not all(type(n) is int for n in (start, end)):
            raise ValueError("a passage's lines must be integers")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ValueError("a passage's score must be a number")
        found.append(Passage(path, shown, int(str(start)), int(str(end)), heading, float(score)))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file, folder, page or image given with a message: what was read and what is sent."""

    name: str
    """As the user named it: a path as typed, or a URL."""
    kind: AttachmentKind
    size: int
    """Bytes read from the source (a folder: the files sent)."""
    sha256: str
    """Of the bytes read (a folder, a page: of the text sent)."""
    text: str = ""
    """What the model is given to read (empty for an image)."""
    language: str = ""
    """The language its code block is marked with (text files)."""
    note: str = ""
    """What the user should know: bytes that were not UTF-8, files a folder skipped, pages."""
    mime: str = ""
    """An image's media type."""
    data: bytes = b""
    """An image's bytes."""
    tokens: int | None = None
    """Tokens it takes in the prompt, counted with the model's tokenizer (None: not counted)."""
    passages: tuple[Passage, ...] = ()
    """A knowledge base's passages, in the order they are numbered in the text."""

    def block(self) -> str:
        """How the model is given it: a heading line, then the text (code in a fenced block)."""
        if self.kind is AttachmentKind.KNOWLEDGE:
            return self.text
        if self.kind is AttachmentKind.IMAGE:
            return f"[image {self.name}]"
        if self.kind is AttachmentKind.TEXT:
            return file_block(self.name, self.text, self.language)
        heading = {
            AttachmentKind.FOLDER: "Folder",
            AttachmentKind.PDF: "PDF",
            AttachmentKind.DOCUMENT: "Document",
            AttachmentKind.PAGE: "Web page",
        }[self.kind]
        return f"{heading}: {self.name}\n{self.text}"


def file_block(name: str, text: str, language: str) -> str:
    """A file as the model is given it: its name, then its text in a fenced code block."""
    fence = fence_for(text)
    return f"File: {name}\n{fence}{language}\n{text.removesuffix(chr(10))}\n{fence}"


def fence_for(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in ``text``."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def prefix_id(system_prompt: str | None, attachments: Sequence[Attachment]) -> str:
    """The name of the KV snapshot of a prompt that begins with ``attachments``.

    Two chats that attach the same files under the same system prompt begin with the same
    tokens: the second reuses what the first evaluated. Made from what is stored, so that
    deleting a chat can find and delete it too.
    """
    parts = [system_prompt or "", *(f"{a.name}\0{a.kind}\0{a.sha256}" for a in attachments)]
    return "attach-" + hashlib.sha256("\0\0".join(parts).encode()).hexdigest()[:32]


def with_attachments(
    text: str,
    attachments: Sequence[Attachment],
    block: Callable[[Attachment], str] = Attachment.block,
) -> str:
    """A message as the model reads it: what is attached first, then what the user wrote.

    Attachments lead, so that a second question about the same file shares the file's tokens
    as a prompt prefix (its KV state can be reused). ``block`` writes each one (a local vision
    model's engine writes an image as a marker it replaces with the image).
    """
    blocks = [block(a) for a in attachments]
    return "\n\n".join([*blocks, text] if text else blocks)


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a chat."""

    role: Role
    """Who wrote it."""
    content: str
    """Its text."""
    created_at: str = ""
    """When it was written (UTC ISO-8601); empty for messages not yet saved."""
    info: ReplyInfo | None = None
    """For replies: what produced them."""
    id: int | None = None
    """Its id in the store (in an export: in the document); None while not saved."""
    parent_id: int | None = None
    """The message it follows (None: the first of its chat, or not saved)."""
    attachments: tuple[Attachment, ...] = ()
    """Files, pages and images given with it (a user's message)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """For replies: the tools the model called on its way to ``content``, in order."""

    @property
    def images(self) -> tuple[Attachment, ...]:
        """The images attached."""
        return tuple(a for a in self.attachments if a.kind is AttachmentKind.IMAGE)

    @property
    def passages(self) -> tuple[Passage, ...]:
        """The passages knowledge bases gave with it, numbered in this order."""
        return tuple(p for a in self.attachments for p in a.passages)

    def prompt_text(self) -> str:
        """Its text as the model reads it, attachments included (images as a line naming them)."""
        return with_attachments(self.content, self.attachments)

    def as_chat_dict(self) -> dict[str, str]:
        """Return the OpenAI-style ``{"role", "content"}`` mapping chat templates expect."""
        return {"role": str(self.role), "content": self.prompt_text()}


@dataclass(frozen=True, slots=True)
class Conversation:
    """A saved chat with its messages."""

    id: str
    """Short unique id; any unique prefix selects it on the command line."""
    title: str
    """From the first user message unless renamed."""
    created_at: str
    updated_at: str
    model_id: str | None = None
    """Model the chat was last continued with."""
    system_prompt: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Sampling settings the chat was started with."""
    messages: tuple[Message, ...] = ()
    """The branch in view: the messages from the first to ``leaf_id``, in order."""
    leaf_id: int | None = None
    """The last message of the branch in view (the one the next message follows)."""
    outline: Outline = field(default_factory=lambda: Outline({}))
    """The shape of the whole tree, every branch included."""


@dataclass(frozen=True, slots=True)
class Outline:
    """The shape of a conversation's tree: which message each one follows.

    A regenerated reply or an edited question is a sibling of the one it replaces (the same
    parent); nothing is ever overwritten. Ids grow with time, so a parent's id is below its
    children's and the newest message of a subtree is one of its leaves.
    """

    parents: Mapping[int, int | None]
    """Every message's id and the id of the message it follows (None for a first message)."""
    children: Mapping[int | None, tuple[int, ...]] = field(default_factory=dict)
    """Each message's followers, oldest first (None: the first messages); built from parents."""

    def __post_init__(self) -> None:
        if self.children or not self.parents:
            return
        children: dict[int | None, list[int]] = {}
        for mid in sorted(self.parents):
            children.setdefault(self.parents[mid], []).append(mid)
        object.__setattr__(self, "children", {k: tuple(v) for k, v in children.items()})

    def add(self, mid: int, parent: int | None) -> Outline:
        """This outline with ``mid`` added after ``parent``."""
        return Outline({**self.parents, mid: parent})

    def siblings(self, mid: int) -> tuple[int, ...]:
        """The messages that follow the same one as ``mid`` (``mid`` included), oldest first."""
        if mid not in self.parents:
            return (mid,)
        return self.children.get(self.parents[mid], (mid,))

    def branch(self, mid: int) -> tuple[int, int] | None:
        """``(position, count)`` of ``mid`` among its siblings (1-based); None without any."""
        siblings = self.siblings(mid)
        return None if len(siblings) < 2 else (siblings.index(mid) + 1, len(siblings))

    def neighbour(self, mid: int, step: int) -> int | None:
        """The sibling ``step`` places after ``mid`` (before, when negative), if there is one."""
        siblings = self.siblings(mid)
        index = siblings.index(mid) + step if mid in siblings else -1
        return siblings[index] if 0 <= index < len(siblings) else None

    def leaf_under(self, mid: int) -> int:
        """The newest message of the subtree that starts at ``mid``: the branch to show."""
        newest, stack = mid, [mid]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                newest = max(newest, child)
                stack.append(child)
        return newest

    def path_to(self, mid: int) -> list[int]:
        """The ids from the first message down to ``mid``."""
        path: list[int] = []
        current: int | None = mid
        while current is not None and current in self.parents and len(path) <= len(self.parents):
            path.append(current)
            current = self.parents[current]
        path.reverse()
        return path

    def subtree(self, mid: int) -> list[int]:
        """``mid`` and every message below it."""
        found, stack = [], [mid]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children.get(current, ()))
        return sorted(found)

    def labels(self, messages: Sequence[Message]) -> dict[int, str]:
        """Each of ``messages`` that has versions: its place among them, by id."""
        wanted = {m.id for m in messages}
        return {
            mid: branch_label((n, len(ids)))
            for ids in self.children.values()
            if len(ids) > 1
            for n, mid in enumerate(ids, 1)
            if mid in wanted
        }

    @property
    def forks(self) -> int:
        """How many messages have more than one follower (places where the chat branches)."""
        return sum(1 for ids in self.children.values() if len(ids) > 1)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One row of the history list."""

    id: str
    title: str
    model_id: str | None
    message_count: int
    updated_at: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A conversation matching a full-text search."""

    id: str
    title: str
    snippet: str
    """The best matching text, with the matches marked by ``[`` and ``]``."""
    updated_at: str
    message_id: int | None = None
    """The store's id of the message the snippet is from."""


def title_from(text: str, limit: int = 60) -> str:
    """Make a conversation title from its first user message, at most ``limit`` cells wide.

    Measured in terminal cells, so a Chinese title gets the room it takes (a Han character is
    two cells) and is never cut inside a character.
    """
    return fit(" ".join(text.split()), limit)


def branch_label(branch: tuple[int, int]) -> str:
    """How a message's place among its versions is shown: 2 of 3 as in the app."""
    return f"‹ {branch[0]}/{branch[1]} ›"


_ONLY_WHEN_SET = frozenset({"endpoint", "base_url", "server_model", "fingerprint", "reasoning"})
"""Fields left out of the JSON form when empty: most replies come from a local model."""


def info_to_dict(info: ReplyInfo | None) -> dict[str, Any] | None:
    """The JSON-ready form of a ReplyInfo."""
    if info is None:
        return None
    data = {k: v for k, v in asdict(info).items() if v is not None or k not in _ONLY_WHEN_SET}
    return data | {"settings": dict(info.settings)}


_TEXT = (str, type(None))
_NUMBER = (int, float, type(None))
_INFO_TYPES: dict[str, tuple[type, ...]] = {
    "model_id": (str,),
    "model_file": _TEXT,
    "model_size": (int, type(None)),
    "model_sha256": _TEXT,
    "settings": (dict,),
    "prompt_tokens": (int, type(None)),
    "completion_tokens": (int, type(None)),
    "time_to_first_token": _NUMBER,
    "decode_tps": _NUMBER,
    "finish_reason": _TEXT,
    "endpoint": _TEXT,
    "base_url": _TEXT,
    "server_model": _TEXT,
    "fingerprint": _TEXT,
    "reasoning": _TEXT,
}
"""What each field of a reply's info may hold in JSON (an import is checked against it)."""


def check_info(data: Mapping[str, Any]) -> None:
    """Check the types in a reply's info from outside (an imported file).

    Raises:
        TypeError: Naming the first field that holds the wrong kind of value.
    """
    if "model_id" not in data:
        raise TypeError("'model_id' is missing")
    for key, value in data.items():
        allowed = _INFO_TYPES.get(key)
        if allowed is not None and (isinstance(value, bool) or not isinstance(value, allowed)):
            kinds = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise TypeError(f"'{key}' must be {kinds}")


def info_from_dict(data: Mapping[str, Any] | None) -> ReplyInfo | None:
    """Rebuild a ReplyInfo from its JSON form (also used by import, after ``check_info``)."""
    if data is None:
        return None
    known = set(ReplyInfo.__slots__)
    return ReplyInfo(**{k: v for k, v in data.items() if k in known})
