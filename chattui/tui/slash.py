"""Slash commands, defined once: the prompt completes them, /help lists them, the screen runs them.

A message that starts with ``//`` is sent as text with one leading slash, so a path or a
regular expression can still begin a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """One command of the prompt."""

    name: str
    """What is typed, with its slash: ``/model``."""
    argument: str
    """How the argument is shown in help (empty: none)."""
    help: str
    """What it does, in a few words."""
    method: str
    """The screen method that runs it, called with the argument text."""


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("/new", "", "start a new chat", "slash_new"),
    SlashCommand("/clear", "", "new chat, same system prompt and settings", "slash_clear"),
    SlashCommand("/model", "NAME", "switch model (id, alias or .gguf path)", "slash_model"),
    SlashCommand("/system", "TEXT", "set the system prompt (empty clears it)", "slash_system"),
    SlashCommand("/temp", "VALUE", "set the temperature", "slash_temp"),
    SlashCommand("/role", "[NAME]", "follow a role (translate, qa, write…)", "slash_role"),
    SlashCommand("/export", "[FILE]", "save the chat as Markdown", "slash_export"),
    SlashCommand("/fork", "", "copy the branch in view into a new chat", "slash_fork"),
    SlashCommand("/file", "PATH", "attach a file, folder, glob, PDF, image or URL", "slash_file"),
    SlashCommand("/files", "[rm N|clear]", "list or remove what is attached", "slash_files"),
    SlashCommand("/kb", "[NAME|off]", "answer from a knowledge base (chattui kb add)", "slash_kb"),
    SlashCommand("/source", "N", "open source N of the newest reply", "slash_source"),
    SlashCommand("/tools", "[on|off]", "let the model call MCP tools (you approve)", "slash_tools"),
    SlashCommand("/help", "", "show keys and commands", "slash_help"),
)
NAMES = tuple(command.name for command in COMMANDS)
"""Every command, for completion."""

_WORD = re.compile(r"/[A-Za-z][\w-]*")

KEYS = (
    "Enter sends · Ctrl+J new line · Up recalls · Esc stops · Ctrl+T continues · Ctrl+R redoes\n"
    "Ctrl+G edits your last message · F3 copies the reply, F4 its code · F2 renames, F8 deletes\n"
    "Nothing is overwritten: Alt+← Alt+→ show a message's other versions · F5 forks the branch"
    " into a new chat · F9 deletes the version in view\n"
    "@path in a message attaches a file or folder (Tab completes it) · a dropped file too\n"
    "Ctrl+B shows the chats · Ctrl+O settings · Ctrl+P every action · Ctrl+Q quits"
)


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the prompt held: a command and its argument, or text to send."""

    command: SlashCommand | None
    argument: str
    """The command's argument, or the text to send."""
    unknown: str | None = None
    """A ``/word`` that is no command (a typo, most likely)."""


def parse(text: str) -> Parsed:
    """Split the prompt's text into a command and its argument, or text to send."""
    if text.startswith("//"):
        return Parsed(None, text[1:])
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    for command in COMMANDS:
        if head == command.name:
            return Parsed(command, text[len(head) :].strip())
    if _WORD.fullmatch(head):
        return Parsed(None, text, unknown=head)
    return Parsed(None, text)


def complete(text: str) -> str | None:
    """The command ``text`` begins, when it is a prefix of exactly one (or of the first)."""
    if not text.startswith("/") or " " in text:
        return None
    matches = [name for name in NAMES if name.startswith(text)]
    return matches[0] if matches else None


def help_text() -> str:
    """The keys and the commands, for /help and the first screen."""
    width = max(len(f"{c.name} {c.argument}".strip()) for c in COMMANDS)
    lines = [f"{f'{c.name} {c.argument}'.strip():<{width}}  {c.help}" for c in COMMANDS]
    return KEYS + "\n\n" + "\n".join(lines) + "\n//text sends text that begins with a slash"
