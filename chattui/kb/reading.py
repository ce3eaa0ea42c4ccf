"""What a knowledge base reads: the files under its folders, through the attachment readers."""

from __future__ import annotations

from pathlib import Path

from chattui.attachments import Limits
from chattui.attachments.text import REPLACEMENT
from chattui.kb.index import Document, Source, UpdateReport

NOT_TEXT = 0.1
"""Share of undecodable characters past which a file is taken as binary, not as text."""


def sources(roots: list[str], report: UpdateReport) -> list[Source]:
    """The files under ``roots`` (``.gitignore`` respected); roots no longer there are noted."""
    from chattui.attachments.folders import walk

    found: dict[Path, Source] = {}
    for root in roots:
        top = Path(root)
        if not top.exists():
            report.missing_roots.append(root)
        elif not top.is_dir():
            found.setdefault(top, Source(top, top.name))
        else:
            for path in walk(top):
                shown = f"{top.name}/{path.relative_to(top).as_posix()}"
                found.setdefault(path, Source(path, shown))
    return list(found.values())


def read_document(path: Path, shown: str, limits: Limits) -> Document:
    """A file's text, by the attachment readers (text, code, PDF, .docx), within ``limits``.

    Raises:
        ValueError: Why it is skipped: binary, an image, over the size limit, unreadable.
    """
    from chattui.attachments.single import read_file
    from chattui.conversation import AttachmentKind
    from chattui.errors import AttachmentError

    try:
        attachment = read_file(path, shown, limits)
    except AttachmentError as error:
        reason = str(error).removeprefix(f"{shown}: ").removeprefix(f"{path}: ")
        raise ValueError(reason.split(";")[0]) from None
    if attachment.kind is AttachmentKind.IMAGE:
        raise ValueError("an image")
    if attachment.text.count(REPLACEMENT) > len(attachment.text) * NOT_TEXT:
        raise ValueError("a binary file (mostly not UTF-8)")
    return Document(attachment.text, attachment.sha256, attachment.kind == AttachmentKind.PDF)
