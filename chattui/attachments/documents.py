"""Documents: the text of a PDF, page by page (pypdf), and of a .docx (python-docx)."""

from __future__ import annotations

import io

from chattui.errors import AttachmentError


def pdf_text(data: bytes, name: str) -> tuple[str, str]:
    """The text of each page of the PDF in ``data``, under its page number, and a note.

    Raises:
        AttachmentError: The PDF is encrypted, damaged, or holds no text (scanned pages).
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentError(f"{name}: an encrypted PDF; chattui cannot read it")
        pages = [page.extract_text() or "" for page in reader.pages]
    except AttachmentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        reason = str(error).splitlines()[0][:80] if str(error) else type(error).__name__
        raise AttachmentError(f"{name}: a damaged PDF ({reason})") from None
    if not any(text.strip() for text in pages):
        raise AttachmentError(f"{name}: no text in this PDF (scanned pages are images)")
    text = "\n\n".join(
        f"--- page {number} ---\n{page.strip()}" for number, page in enumerate(pages, 1)
    )
    return text, f"{len(pages)} page{'s' if len(pages) != 1 else ''}"


def docx_text(data: bytes, name: str) -> str:
    """The paragraphs and tables of the .docx document in ``data``, in order, as text.

    Raises:
        AttachmentError: The document is damaged or holds no text.
    """
    import zipfile

    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
        parts = [p.text for p in document.paragraphs if p.text.strip()]
        for table in document.tables:
            for row in table.rows:
                parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        reason = str(error).splitlines()[0][:80] if str(error) else type(error).__name__
        raise AttachmentError(f"{name}: a damaged .docx document ({reason})") from None
    if not parts:
        raise AttachmentError(f"{name}: no text in this document")
    return "\n\n".join(parts)
