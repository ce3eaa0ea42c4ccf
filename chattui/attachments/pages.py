"""Web pages: fetched with httpx, their readable text kept (readability) as Markdown (html2text).

A URL that answers with a PDF, an image or plain text is read as that file would be.
"""

from __future__ import annotations

import hashlib

from chattui import __version__
from chattui.attachments import Limits
from chattui.attachments.text import size_text
from chattui.conversation import Attachment, AttachmentKind
from chattui.errors import AttachmentError
from chattui.redact import without_credentials

TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown", "application/json", "text/csv")


def read_page(url: str, limits: Limits) -> Attachment:
    """Fetch ``url`` and keep what a reader would read of it.

    Raises:
        AttachmentError: No answer in time, too many redirects, an HTTP error, a page over the
            size limit, or content chattui does not read (one line; credentials never shown).
    """
    import httpx

    name = without_credentials(url)
    try:
        with (
            httpx.Client(
                follow_redirects=True,
                max_redirects=limits.redirects,
                timeout=limits.timeout,
                headers={"User-Agent": f"chattui/{__version__}"},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise AttachmentError(
                    f"{name}: HTTP {response.status_code} {response.reason_phrase}".rstrip()
                )
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limits.page_bytes:
                    raise AttachmentError(
                        f"{name}: the page is over the {size_text(limits.page_bytes)} allowed"
                    )
            mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
            charset = response.charset_encoding
    except httpx.TooManyRedirects:
        raise AttachmentError(f"{name}: more than {limits.redirects} redirects") from None
    except httpx.TimeoutException:
        raise AttachmentError(f"{name}: no answer within {limits.timeout:g} s") from None
    except httpx.ConnectError:
        raise AttachmentError(f"{name}: cannot connect") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        reason = without_credentials(str(error).splitlines()[0][:80]) if str(error) else ""
        reason = reason or type(error).__name__
        raise AttachmentError(f"{name}: cannot fetch it ({reason})") from None
    return _from_answer(bytes(data), mime, charset, name)


def _from_answer(data: bytes, mime: str, charset: str | None, name: str) -> Attachment:
    """The attachment a page's bytes make, by the type the server gave."""
    from chattui.attachments.single import from_bytes

    if mime == "application/pdf" or data.startswith(b"%PDF-"):
        return from_bytes(data, name, AttachmentKind.PDF)
    if mime.startswith("image/"):
        return from_bytes(data, name, AttachmentKind.IMAGE)
    if mime in TEXT_TYPES:
        return from_bytes(data, name, AttachmentKind.TEXT)
    if mime not in ("text/html", "application/xhtml+xml", ""):
        raise AttachmentError(f"{name}: content of type {mime}, which chattui does not read")
    text, title = readable(data, charset)
    if not text.strip():
        raise AttachmentError(f"{name}: no readable text on this page")
    digest = hashlib.sha256(data).hexdigest()
    heading = f"# {title}\n\n" if title else ""
    return Attachment(name, AttachmentKind.PAGE, len(data), digest, heading + text.strip())


def readable(html: bytes, charset: str | None) -> tuple[str, str]:
    """The main text of an HTML page as Markdown, and its title."""
    import html2text
    from readability import Document

    source: str | bytes = html.decode(charset, errors="replace") if charset else html
    document = Document(source)
    title = document.short_title().strip()
    converter = html2text.HTML2Text()
    converter.body_width = 0  # the model reads long lines; wrapping adds tokens
    converter.ignore_images = True
    converter.unicode_snob = True
    return converter.handle(document.summary(html_partial=True)), title
