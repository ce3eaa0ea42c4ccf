"""One file: text or code, a PDF, a .docx document, or an image, told apart by its first bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from chattui.attachments import Limits, describe
from chattui.attachments.text import decode, is_binary, language_for, size_text
from chattui.conversation import Attachment, AttachmentKind
from chattui.errors import AttachmentError

HEAD = 8192
"""Bytes looked at to tell a file's kind."""
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PIPED = "stdin"
"""The name of what was piped in, when it is attached."""


def read_file(path: Path, name: str, limits: Limits) -> Attachment:
    """Read the file at ``path`` (``name``: as the user gave it).

    Raises:
        AttachmentError: It is missing, unreadable, binary, over a limit, or changed while read.
    """
    try:
        before = path.stat()
        if not path.is_file():
            raise AttachmentError(f"{name}: not a regular file")
        with path.open("rb") as handle:
            head = handle.read(HEAD)
            kind = _kind(head, path)
            most = _check_size(name, before.st_size, kind, limits)
            data = head + handle.read(most + 1 - len(head))
        after = path.stat()
    except OSError as error:
        raise AttachmentError(f"{name}: {describe(error)}") from None
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or len(
        data
    ) != after.st_size:
        raise AttachmentError(f"{name}: it changed while it was read; attach it again")
    return from_bytes(data, name, kind)


def read_piped(data: bytes, limits: Limits) -> Attachment | None:
    """What was piped in, as an attachment named "stdin" when it is a PDF, a .docx or an image.

    ``cat scan.pdf | chattui ask "summarize"`` attaches the PDF as ``-f scan.pdf`` would.

    Returns:
        None when the bytes are text: they belong in the prompt.

    Raises:
        AttachmentError: They are binary of another kind, or over the limit for their kind.
    """
    kind = _kind(data[:HEAD], Path(PIPED))
    if kind is AttachmentKind.TEXT:
        return None
    _check_size(PIPED, len(data), kind, limits)
    return from_bytes(data, PIPED, kind)


def from_bytes(data: bytes, name: str, kind: AttachmentKind) -> Attachment:
    """An attachment of ``kind`` made from the file's bytes."""
    digest = hashlib.sha256(data).hexdigest()
    if kind is AttachmentKind.PDF:
        from chattui.attachments.documents import pdf_text

        text, note = pdf_text(data, name)
        return Attachment(name, kind, len(data), digest, text, note=note)
    if kind is AttachmentKind.DOCUMENT:
        from chattui.attachments.documents import docx_text

        return Attachment(name, kind, len(data), digest, docx_text(data, name))
    if kind is AttachmentKind.IMAGE:
        from chattui.attachments.images import image_type

        return Attachment(name, kind, len(data), digest, mime=image_type(data, name), data=data)
    text, note = decode(data)
    return Attachment(name, kind, len(data), digest, text, language=language_for(name), note=note)


def _kind(head: bytes, path: Path) -> AttachmentKind:
    """What a file is, from its first bytes (and its suffix, for a .docx).

    Raises:
        AttachmentError: It is binary and of no kind chattui reads.
    """
    if head.startswith(b"%PDF-"):
        return AttachmentKind.PDF
    zipped = head.startswith(b"PK\x03\x04")
    if zipped and path.suffix.lower() == ".docx":
        return AttachmentKind.DOCUMENT
    from chattui.attachments.images import looks_like_image

    if looks_like_image(head):
        return AttachmentKind.IMAGE
    if is_binary(head) or zipped:
        import filetype

        found = filetype.guess(head)
        if found is not None and found.mime == DOCX:  # a .docx by another name, or piped in
            return AttachmentKind.DOCUMENT
        what = f" ({found.mime})" if found is not None else ""
        raise AttachmentError(
            f"{os.fspath(path)}: a binary file{what}; chattui attaches text, code, PDF, .docx"
            " and images"
        )
    return AttachmentKind.TEXT


def _check_size(name: str, size: int, kind: AttachmentKind, limits: Limits) -> int:
    """The most bytes allowed for a file of ``kind``.

    Raises:
        AttachmentError: ``size`` is more than that.
    """
    most = {
        AttachmentKind.IMAGE: limits.image_bytes,
        AttachmentKind.TEXT: limits.file_bytes,
    }.get(kind, limits.page_bytes)
    if size > most:
        raise AttachmentError(
            f"{name}: {size_text(size)}, over the {size_text(most)} allowed"
            f" for {_limit_noun(kind)} ({_limit_key(kind)} in config.toml)"
        )
    return most


def _limit_noun(kind: AttachmentKind) -> str:
    return {AttachmentKind.IMAGE: "an image", AttachmentKind.TEXT: "a text file"}.get(
        kind, "a document"
    )


def _limit_key(kind: AttachmentKind) -> str:
    return {
        AttachmentKind.IMAGE: "attach_max_image_mb",
        AttachmentKind.TEXT: "attach_max_file_kb",
    }.get(kind, "a fixed limit")
