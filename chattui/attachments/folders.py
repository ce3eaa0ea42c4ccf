"""A folder: its text files, walked as git would see them (``.gitignore`` respected)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chattui.attachments import Limits
from chattui.attachments.text import decode, is_binary, language_for, size_text
from chattui.conversation import Attachment, AttachmentKind, file_block
from chattui.errors import AttachmentError

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

HEAD = 8192
SKIPPED_PER_FILE = 20
"""Files looked at (skipped ones included) per file allowed, before a walk gives up."""


@dataclass
class _Walk:
    """What a walk found: the files sent, and those left out with why."""

    blocks: list[str] = field(default_factory=list)
    size: int = 0
    binary: list[str] = field(default_factory=list)
    large: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)
    """Devices, pipes and sockets."""
    undecodable: int = 0


def read_folder(top: Path, name: str, limits: Limits) -> Attachment:
    """The text files under ``top`` (``name``: as the user gave it), each as a fenced block.

    ``.git`` and what the ``.gitignore`` files say to ignore are left out; binary files, files
    over the size limit, unreadable ones and devices are skipped and listed in the note.
    Symbolic links to folders are not followed (no loops), nor are other file systems mounted
    below (``/proc``, ``/dev``, another disk).

    Raises:
        AttachmentError: More text files than the limit allows, or none at all.
    """
    found = _Walk()
    for seen, path in enumerate(walk(top), 1):  # walked as read: a huge tree stops early
        _read_one(path, top, limits, found)
        if len(found.blocks) > limits.files or seen > limits.files * SKIPPED_PER_FILE:
            raise AttachmentError(
                f"{name}: more than {limits.files} text files (attach_max_files in config.toml);"
                " attach a subfolder or a glob such as 'src/*.py'"
            )
    if not found.blocks:
        raise AttachmentError(f"{name}: no text file to attach in this folder")
    text = "\n\n".join(found.blocks)
    count = len(found.blocks)
    notes = [f"{count} file{'s' if count != 1 else ''}"]
    for label, names in (
        ("binary", found.binary),
        (f"over {size_text(limits.file_bytes)}", found.large),
        ("unreadable", found.unreadable),
        ("not a regular file", found.special),
    ):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            notes.append(f"skipped {len(names)} {label}: {shown}")
    if found.undecodable:
        notes.append(f"{found.undecodable} not valid UTF-8 (bad bytes shown as \ufffd)")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Attachment(name, AttachmentKind.FOLDER, found.size, digest, text, note="; ".join(notes))


def _read_one(path: Path, top: Path, limits: Limits, found: _Walk) -> None:
    """Add the file at ``path`` to what the walk found, or list why it was skipped."""
    relative = path.relative_to(top).as_posix()
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a device or a pipe: reading it may never end
            found.special.append(relative)
            return
        size = status.st_size
        if size > limits.file_bytes:
            found.large.append(relative)
            return
        data = path.read_bytes()
    except OSError:
        found.unreadable.append(relative)
        return
    if is_binary(data[:HEAD]):
        found.binary.append(relative)
        return
    text, note = decode(data)
    found.undecodable += bool(note)
    found.blocks.append(file_block(relative, text, language_for(relative)))
    found.size += len(data)


def walk(top: Path) -> Iterator[Path]:
    """Every file under ``top`` that git would not ignore, in name order, as it is walked."""
    specs: list[tuple[Path, GitIgnoreSpec]] = []
    device = top.stat().st_dev
    for folder, dirs, names in os.walk(top, followlinks=False):
        here = Path(folder)
        specs = [(base, spec) for base, spec in specs if here.is_relative_to(base)]
        ignore = here / ".gitignore"
        if ignore.is_file():
            from pathspec import GitIgnoreSpec

            try:
                lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            specs.append((here, GitIgnoreSpec.from_lines(lines)))
        dirs[:] = sorted(
            d
            for d in dirs
            if d != ".git"
            and _same_device(here / d, device)  # not /proc, /sys, /dev or another disk
            and not _ignored(here / d, specs, folder=True)
        )
        yield from (
            here / n
            for n in sorted(names)
            if n != ".gitignore" and not _ignored(here / n, specs, folder=False)
        )


def _same_device(path: Path, device: int) -> bool:
    """Whether ``path`` is on the file system ``device`` (a walk stays on one, as find -xdev)."""
    try:
        return path.lstat().st_dev == device
    except OSError:
        return False


def _ignored(path: Path, specs: list[tuple[Path, GitIgnoreSpec]], *, folder: bool) -> bool:
    """Whether the ``.gitignore`` files above ``path`` ignore it (the deepest one decides)."""
    ignored = False
    for base, spec in specs:
        relative = path.relative_to(base).as_posix() + ("/" if folder else "")
        decision = spec.check_file(relative).include
        if decision is not None:
            ignored = decision
    return ignored
