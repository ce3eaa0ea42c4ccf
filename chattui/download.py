"""Downloading a model file: resumable (HTTP Range), verified (size, sha256), never half-named.

Bytes go to ``NAME.part`` beside the target; only a verified file is renamed to ``NAME``. An
interrupted download (Ctrl+C, dropped connection, crash) leaves the ``.part`` file, and the next
attempt resumes it. Network errors (refused or reset connections, timeouts, TLS failures, 429 and
5xx answers) are retried a few times, each attempt resuming where the last one stopped.

The file is checked against the catalog's sha256 and size when it pins them, else against the
digest the server publishes for it (Hugging Face sends ``X-Linked-Etag`` and ``X-Linked-Size`` on
the redirect to its CDN), and the result says which.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

from chattui.errors import ChattuiError

_SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20
RETRIES = 3
TIMEOUT = 30.0


class DownloadError(ChattuiError):
    """A download failed in a way retrying will not fix."""


class _Transient(Exception):
    """A network failure worth retrying."""


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A finished download and what it was verified against."""

    path: Path
    """The file."""
    verified: str
    """What was checked, in words: "size and sha256 pinned in the catalog", ..."""


@dataclass
class _ServerDigest:
    """The sha256 and size a server published for the file (on any response of the chain)."""

    sha256: str | None = None
    size: int | None = None

    def read(self, headers: Message) -> None:
        etag = (headers.get("X-Linked-Etag") or "").removeprefix("W/").strip('"').lower()
        if _SHA256.fullmatch(etag):
            self.sha256 = etag
        size = headers.get("X-Linked-Size") or ""
        if size.isdigit():
            self.size = int(size)


class _Recorder(urllib.request.HTTPRedirectHandler):
    """Follows redirects as usual, noting the digest headers of each one."""

    def __init__(self, digest: _ServerDigest) -> None:
        super().__init__()
        self.digest = digest

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        self.digest.read(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
) -> Downloaded:
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
        ``target`` and what it was verified against.

    Raises:
        DownloadError: 404 and other HTTP errors, network errors after retries, a server that
            ignores Range when resuming, not enough disk space, a folder that cannot be written,
            or a size/checksum mismatch (with the catalog's values or the server's).
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
) -> Downloaded:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = _sha256_of(part) if part.exists() else hashlib.sha256()
    server = _ServerDigest()
    attempt = 0
    while True:
        try:
            total = _fetch(url, part, digest, size, on_progress, server)
            break
        except _Transient as error:
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"download of {url} failed after {retries + 1} attempts (network error: "
                    f"{error}); run the same command again to resume"
                ) from None
            time.sleep(backoff * 2 ** (attempt - 1))
    source = "pinned in the catalog" if sha256 else "published by the server"
    expected_sha = sha256 or server.sha256
    expected_size = size if size is not None else server.size
    have = part.stat().st_size
    if (expected_size is not None and have != expected_size) or (
        total is not None and have != total
    ):
        raise DownloadError(
            f"downloaded {have:,} bytes of {url} but expected {expected_size or total:,}; "
            f"the partial file is kept at {part}"
        )
    if expected_sha is not None and digest.hexdigest() != expected_sha.lower():
        bad = part.with_name(part.name + ".corrupt")
        part.replace(bad)
        raise DownloadError(
            f"checksum mismatch for {url}: got {digest.hexdigest()}, expected {expected_sha} "
            f"({source}); the file was moved to {bad}, run the command again to download it "
            "afresh"
        )
    part.replace(target)
    if expected_sha is not None:
        checked = f"size {have:,} bytes and sha256 {expected_sha.lower()} {source}"
    elif expected_size is not None:
        checked = f"size {have:,} bytes {'pinned in the catalog' if size else source}; no sha256"
    else:
        checked = (
            "only that the transfer was complete: neither the catalog nor the server gives a "
            "sha256 or size for this file"
        )
    return Downloaded(target, checked)


def _fetch(
    url: str,
    part: Path,
    digest: hashlib._Hash,
    size: int | None,
    on_progress: Callable[[Progress], None],
    server: _ServerDigest,
) -> int | None:
    """One attempt: append to ``part`` from where it ends. Returns the total size if known."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return size  # already complete, only the rename is missing
    request = urllib.request.Request(url, headers={"User-Agent": "chattui"})  # noqa: S310 - http(s) only
    if have:
        request.add_header("Range", f"bytes={have}-")
    opener = urllib.request.build_opener(_Recorder(server))
    try:
        response = opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416 and size is None:  # nothing left to fetch
            return have
        if error.code >= 500 or error.code == 429:
            raise _Transient(f"HTTP {error.code}") from None
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:  # URLError, TLS, resets, timeouts
        reason = getattr(error, "reason", error)
        raise _Transient(str(reason) or type(error).__name__) from None
    server.read(response.headers)
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
        with part.open("ab") as handle:  # an OSError here is the disk's: not retried
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as error:  # TLS, resets, timeouts
                    raise _Transient(str(error) or type(error).__name__) from None
                if not block:
                    break
                handle.write(block)
                digest.update(block)
                have += len(block)
                on_progress(Progress(have, total))
    if total is not None and have < total:
        raise _Transient(f"connection closed after {have:,} of {total:,} bytes")
    return total


def _check_space(part: Path, needed: int) -> None:
    free = shutil.disk_usage(part.parent).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space in {part.parent}: {needed:,} bytes needed, {free:,} free"
        )
