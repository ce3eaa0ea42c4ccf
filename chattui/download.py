"""Downloading a model file: resumable (HTTP Range), verified (size, sha256), never half-named.

Bytes go to ``NAME.part`` beside the target; only a verified file is renamed to ``NAME``. An
interrupted download (Ctrl+C, dropped connection, crash) leaves the ``.part`` file, and the next
attempt resumes it. Transient network errors are retried a few times.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chattui.errors import ChattuiError

CHUNK = 1 << 20
RETRIES = 3
TIMEOUT = 30.0


class DownloadError(ChattuiError):
    """A download failed in a way retrying will not fix."""


class _Transient(Exception):
    """A network failure worth retrying."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a download is."""

    done: int
    """Bytes on disk so far."""
    total: int | None
    """Expected size, when known."""


def part_path(target: Path) -> Path:
    """Where the bytes of an unfinished download of ``target`` are kept."""
    return target.with_name(target.name + ".part")


def file_sha256(path: Path) -> str:
    """The sha256 of a file, in hex."""
    return _sha256_of(path).hexdigest()


def _sha256_of(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest


def download(
    url: str,
    target: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    retries: int = RETRIES,
    backoff: float = 0.5,
) -> Path:
    """Download ``url`` to ``target``, resuming a previous partial download.

    Args:
        url: Where the file is.
        target: Final path; it only appears once the file is complete and verified.
        size: Expected size in bytes, when known.
        sha256: Expected checksum, when known.
        on_progress: Called as bytes arrive.
        retries: Attempts after a transient failure (each resumes where the last stopped).
        backoff: Seconds before the first retry (doubling after each).

    Returns:
        ``target``.

    Raises:
        DownloadError: 404 and other HTTP errors, refused connections after retries, a server
            that ignores Range when resuming, not enough disk space, or a size/checksum mismatch.
    """
    if not url.lower().startswith(("https://", "http://")):
        raise DownloadError(f"cannot download {url}: only http and https URLs are supported")
    part = part_path(target)
    try:
        return _download(url, target, part, size, sha256, on_progress, retries, backoff)
    except DownloadError:
        raise
    except OSError as error:  # the models folder cannot be written (permissions, full disk)
        raise DownloadError(f"cannot write {part}: {error.strerror or error}") from None


def _download(
    url: str,
    target: Path,
    part: Path,
    size: int | None,
    sha256: str | None,
    on_progress: Callable[[Progress], None],
    retries: int,
    backoff: float,
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = _sha256_of(part) if part.exists() else hashlib.sha256()
    attempt = 0
    while True:
        try:
            total = _fetch(url, part, digest, size, on_progress)
            break
        except _Transient as error:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"download of {url} failed after {retries + 1} attempts ({error}); run the "
                    "same command again to resume"
                ) from None
            time.sleep(backoff * 2 ** (attempt - 1))
    have = part.stat().st_size
    if (size is not None and have != size) or (total is not None and have != total):
        raise DownloadError(
            f"downloaded {have:,} bytes of {url} but expected {size or total:,}; "
            f"the partial file is kept at {part}"
        )
    if sha256 is not None and digest.hexdigest() != sha256.lower():
        bad = part.with_name(part.name + ".corrupt")
        part.replace(bad)
        raise DownloadError(
            f"checksum mismatch for {url}: got {digest.hexdigest()}, expected {sha256}; the file "
            f"was moved to {bad}, run the command again to download it afresh"
        )
    part.replace(target)
    return target


def _fetch(
    url: str,
    part: Path,
    digest: hashlib._Hash,
    size: int | None,
    on_progress: Callable[[Progress], None],
) -> int | None:
    """One attempt: append to ``part`` from where it ends. Returns the total size if known."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return size  # already complete, only the rename is missing
    request = urllib.request.Request(url, headers={"User-Agent": "chattui"})  # noqa: S310 - http(s) only
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 - catalog URL
    except urllib.error.HTTPError as error:
        if error.code == 416 and size is None:  # nothing left to fetch
            return have
        if error.code >= 500 or error.code == 429:
            raise _Transient(f"HTTP {error.code}") from None
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except (
        urllib.error.URLError,
        TimeoutError,
        ConnectionError,
        http.client.HTTPException,
    ) as error:
        reason = getattr(error, "reason", error)
        raise _Transient(str(reason)) from None
    with response:
        if have and response.status != 206:
            raise DownloadError(
                f"the server of {url} ignored the request to resume at byte {have:,} (HTTP "
                f"{response.status}); delete {part} to download from the start"
            )
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else size
        _check_space(part, (size or total or 0) - have)
        on_progress(Progress(have, total))
        try:
            with part.open("ab") as handle:
                while block := response.read(CHUNK):
                    handle.write(block)
                    digest.update(block)
                    have += len(block)
                    on_progress(Progress(have, total))
        except (
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
            urllib.error.URLError,
        ) as error:
            raise _Transient(str(error) or type(error).__name__) from None
    if total is not None and have < total:
        raise _Transient(f"connection closed after {have:,} of {total:,} bytes")
    return total


def _check_space(part: Path, needed: int) -> None:
    free = shutil.disk_usage(part.parent).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space in {part.parent}: {needed:,} bytes needed, {free:,} free"
        )
