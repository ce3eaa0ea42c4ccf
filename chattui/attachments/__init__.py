"""Reading what the user attaches: files, folders, globs, PDFs, documents, web pages, images.

``read_attachments`` turns what the user named into ``Attachment`` values (the text the model is
given, and what is saved with the message). Each format's library is imported only when an
attachment needs it, so that start-up does not pay for them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chattui.conversation import Attachment, AttachmentKind
from chattui.errors import AttachmentError

if TYPE_CHECKING:
    from chattui.config import Config


@dataclass(frozen=True, slots=True)
class Limits:
    """How much may be attached (config.toml's ``attach_*`` keys)."""

    file_bytes: int = 1024 * 1024
    """Largest text file; a folder skips and lists larger ones."""
    files: int = 200
    """Most files of a folder or a glob."""
    image_bytes: int = 10 * 1024 * 1024
    """Largest image."""
    page_bytes: int = 5 * 1024 * 1024
    """Largest web page or document downloaded or read."""
    timeout: float = 15.0
    """Seconds a web page may take to answer."""
    redirects: int = 5
    """Most redirects followed to a page."""

    @classmethod
    def of(cls, config: Config) -> Limits:
        """The limits config.toml sets."""
        return cls(
            file_bytes=config.attach_max_file_kb * 1024,
            files=config.attach_max_files,
            image_bytes=config.attach_max_image_mb * 1024 * 1024,
        )


def is_url(spec: str) -> bool:
    """Whether ``spec`` names a web page rather than a path."""
    return spec.startswith(("http://", "https://"))


def read_all(specs: Sequence[str], limits: Limits) -> list[Attachment]:
    """What each of ``specs`` names, in order (see ``read_attachments``).

    Raises:
        AttachmentError: One of them cannot be read (one line naming it).
    """
    return [a for spec in specs for a in read_attachments(spec, limits)]


def read_attachments(spec: str, limits: Limits | None = None) -> list[Attachment]:
    """Read what ``spec`` names: a file, a folder, a glob of files, or an http(s) URL.

    Raises:
        AttachmentError: It cannot be read, or is more than the limits allow (one line).
    """
    limits = limits or Limits()
    if is_url(spec):
        from chattui.attachments.pages import read_page

        return [read_page(spec, limits)]
    if glob.has_magic(spec) and not os.path.lexists(spec):
        return _read_glob(spec, limits)
    path = Path(spec).expanduser()
    try:
        if path.is_dir():
            from chattui.attachments.folders import read_folder

            return [read_folder(path, spec, limits)]
    except OSError as error:
        raise AttachmentError(f"{spec}: {describe(error)}") from None
    from chattui.attachments.single import read_file

    return [read_file(path, spec, limits)]


def check_unchanged(attachments: list[Attachment]) -> None:
    """Make sure the files were not changed since they were read (a chip waits a while).

    Raises:
        AttachmentError: One changed or went away: it must be attached again.
    """
    import hashlib

    for a in attachments:
        if is_url(a.name) or a.kind is AttachmentKind.FOLDER:
            continue  # a page is as fetched; a folder's text is re-walked only when asked
        try:
            data = Path(a.name).expanduser().read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != a.sha256:
            raise AttachmentError(
                f"{a.name} changed since it was attached; /file {a.name} reads it again"
            )


def _read_glob(spec: str, limits: Limits) -> list[Attachment]:
    """Each file a glob matches (folders it matches are left out), in name order."""
    from chattui.attachments.single import read_file

    pattern = str(Path(spec).expanduser())
    matches = glob.glob(pattern, recursive=True)  # noqa: PTH207 - a pattern as typed, absolute or not
    names = sorted(name for name in matches if not Path(name).is_dir())
    if not names:
        raise AttachmentError(f"{spec}: no file matches")
    if len(names) > limits.files:
        raise AttachmentError(
            f"{spec}: {len(names)} files match, more than the {limits.files} allowed"
            " (attach_max_files in config.toml)"
        )
    return [read_file(Path(name), name, limits) for name in names]


def describe(error: OSError) -> str:
    """An OS error as a few words, without the path Python repeats in it."""
    import errno

    words = {
        errno.ENOENT: "no such file or folder",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "a loop of symbolic links",
        errno.EISDIR: "is a folder",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.ENAMETOOLONG: "the name is too long",
    }
    return words.get(error.errno or 0, error.strerror or type(error).__name__).lower()
