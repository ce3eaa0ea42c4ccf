"""Reading attachments from files the tests make: text, folders, globs, PDFs, documents,
images and pages served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chattui.attachments import Limits, read_attachments
from chattui.conversation import Attachment, AttachmentKind, Message, Role
from chattui.errors import AttachmentError
from tests.attachments.pages_server import PageServer


def one(spec: str | Path, limits: Limits | None = None) -> Attachment:
    found = read_attachments(str(spec), limits)
    assert len(found) == 1
    return found[0]


def refused(spec: str | Path, limits: Limits | None = None) -> str:
    with pytest.raises(AttachmentError) as error:
        read_attachments(str(spec), limits)
    message = str(error.value)
    assert "\n" not in message and error.value.exit_code == 2
    return message


def make_pdf(pages: list[str], password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    return bytes(pdf.output())


def make_png(size: tuple[int, int] = (8, 8)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_code_file_is_sent_fenced_with_its_language_and_name(tmp_path: Path) -> None:
    source = tmp_path / "add.py"
    source.write_text("def add(a, b):\n    return a + b\n")
    a = one(source)
    assert (a.kind, a.language, a.size) == (AttachmentKind.TEXT, "python", source.stat().st_size)
    assert a.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    block = a.block()
    assert block.startswith(f"File: {source}\n```python\n") and block.endswith("\n```")
    # Backticks in the file cannot close the block early.
    source.write_text("text\n```\nmore ```` here\n")
    assert one(source).block().splitlines()[1] == "`````python"


def test_the_message_puts_attachments_before_the_question(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Notes\n")
    message = Message(Role.USER, "Summarize.", attachments=(one(tmp_path / "a.md"),))
    prompt = message.as_chat_dict()["content"]
    assert prompt.index("# Notes") < prompt.index("Summarize.")
    assert prompt.endswith("\n\nSummarize.")


def test_text_that_is_not_utf8_is_replaced_and_said_so(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("café crème".encode("latin-1"))
    a = one(tmp_path / "latin1.txt")
    assert a.text == "caf\ufffd cr\ufffdme" and "2 bad bytes" in a.note
    (tmp_path / "utf16.txt").write_bytes("第一行 text".encode("utf-16"))
    assert one(tmp_path / "utf16.txt").text == "第一行 text"
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfhello")
    assert one(tmp_path / "bom.txt").text == "hello"


def test_bad_paths_are_one_line_each(tmp_path: Path) -> None:
    assert "no such file or folder" in refused(tmp_path / "nope.txt")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert "a loop of symbolic links" in refused(tmp_path / "a")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00" * 10)
    assert "a binary file" in refused(tmp_path / "blob.bin")
    (tmp_path / "big.txt").write_text("x" * 5000)
    message = refused(tmp_path / "big.txt", Limits(file_bytes=4096))
    assert "over the 4 KiB allowed" in message and "attach_max_file_kb" in message
    assert "no file matches" in refused(tmp_path / "*.nothing")


def test_an_unreadable_file_says_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden")
    if os.geteuid() != 0:
        secret.chmod(0)
    else:  # root reads any file: the open fails as it would for a user

        def denied(self: Path, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "open", denied)
    assert refused(secret) == f"{secret}: permission denied"


def test_a_glob_attaches_each_file_it_matches(tmp_path: Path) -> None:
    for name in ("b.py", "a.py", "c.txt"):
        (tmp_path / name).write_text(f"# {name}\n")
    found = read_attachments(str(tmp_path / "*.py"))
    assert [Path(a.name).name for a in found] == ["a.py", "b.py"]
    assert "more than the 1 allowed" in refused(tmp_path / "*.py", Limits(files=1))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    (root / "src" / ".gitignore").write_text("generated.py\n")
    (root / "README.md").write_text("# Project\n")
    (root / "app.log").write_text("noise\n")
    (root / "keep.log").write_text("kept log\n")
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("built\n")
    (root / "src" / "main.py").write_text("print('main')\n")
    (root / "src" / "generated.py").write_text("# generated\n")
    (root / "src" / "pkg" / "util.rs").write_text("fn main() {}\n")
    (root / "logo.png").write_bytes(make_png())
    (root / "data.bin").write_bytes(b"\x00" * 100)
    (root / "huge.txt").write_text("y" * 3000)
    (root / "latin.txt").write_bytes(b"caf\xe9")
    (root / "loop").symlink_to(root, target_is_directory=True)
    os.mkfifo(root / "pipe")  # reading it would wait forever
    return root


def test_a_folder_is_walked_as_git_sees_it(project: Path) -> None:
    a = one(project, Limits(file_bytes=2048))
    assert a.kind is AttachmentKind.FOLDER
    files = [line[len("File: ") :] for line in a.text.splitlines() if line.startswith("File: ")]
    assert files == ["README.md", "keep.log", "latin.txt", "src/main.py", "src/pkg/util.rs"]
    assert "```rust\nfn main() {}\n```" in a.text
    assert "5 files" in a.note
    assert "skipped 2 binary: data.bin, logo.png" in a.note
    assert "skipped 1 over 2 KiB: huge.txt" in a.note
    assert "1 not valid UTF-8" in a.note
    assert "skipped 1 not a regular file: pipe" in a.note
    assert a.block().startswith(f"Folder: {project}\n")


def test_a_folder_over_the_file_limit_or_without_text_is_refused(project: Path) -> None:
    message = refused(project, Limits(files=3))
    assert "more than 3 text files" in message and "attach a subfolder" in message
    empty = project / "empty"
    empty.mkdir()
    (empty / "x.bin").write_bytes(b"\x00\x01")
    assert "no text file to attach" in refused(empty)


def test_a_pdf_is_read_page_by_page(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(make_pdf(["First page about rivers.", "Second page."]))
    a = one(tmp_path / "report.pdf")
    assert a.kind is AttachmentKind.PDF and a.note == "2 pages"
    assert "--- page 1 ---\nFirst page about rivers." in a.text
    assert "--- page 2 ---\nSecond page." in a.text
    assert a.block().startswith(f"PDF: {tmp_path / 'report.pdf'}\n")


def test_encrypted_damaged_and_scanned_pdfs_are_refused(tmp_path: Path) -> None:
    (tmp_path / "locked.pdf").write_bytes(make_pdf(["secret"], password="pw"))
    assert "an encrypted PDF" in refused(tmp_path / "locked.pdf")
    (tmp_path / "broken.pdf").write_bytes(make_pdf(["text"])[:120])
    assert "a damaged PDF" in refused(tmp_path / "broken.pdf")
    (tmp_path / "blank.pdf").write_bytes(make_pdf([""]))
    assert "no text in this PDF" in refused(tmp_path / "blank.pdf")


def test_a_docx_document_gives_its_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Minutes of the meeting.")
    document.add_paragraph("决定：下周发布。")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "owner"
    table.rows[0].cells[1].text = "Ana"
    document.save(str(tmp_path / "minutes.docx"))
    a = one(tmp_path / "minutes.docx")
    assert a.kind is AttachmentKind.DOCUMENT
    assert a.text == "Minutes of the meeting.\n\n决定：下周发布。\n\nowner | Ana"
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    assert "a damaged .docx" in refused(tmp_path / "bad.docx")


def test_images_keep_their_bytes_and_type(tmp_path: Path) -> None:
    png = make_png()
    (tmp_path / "red.png").write_bytes(png)
    a = one(tmp_path / "red.png")
    assert (a.kind, a.mime, a.data, a.text) == (AttachmentKind.IMAGE, "image/png", png, "")
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="BMP")
    (tmp_path / "old.bmp").write_bytes(out.getvalue())
    assert "an image of type image/bmp" in refused(tmp_path / "old.bmp")
    (tmp_path / "big.png").write_bytes(make_png((600, 600)))
    message = refused(tmp_path / "big.png", Limits(image_bytes=1000))
    assert "attach_max_image_mb" in message
    # A few hundred bytes that claim 20,000 x 20,000 pixels (gigabytes once decoded).
    bomb = bytearray(make_png())
    bomb[16:24] = (20_000).to_bytes(4, "big") * 2
    (tmp_path / "bomb.png").write_bytes(bytes(bomb))
    assert "an image of 20000x20000 pixels; chattui reads images of up to 50" in refused(
        tmp_path / "bomb.png"
    )


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer(
        {
            "/report.pdf": lambda h: _answer(h, make_pdf(["Served PDF text."]), "application/pdf"),
            "/red.png": lambda h: _answer(h, make_png(), "image/png"),
        }
    )
    yield server
    server.stop()


def _answer(handler: object, body: bytes, kind: str) -> None:
    from http.server import BaseHTTPRequestHandler

    assert isinstance(handler, BaseHTTPRequestHandler)
    handler.send_response(200)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_web_page_keeps_its_readable_text(pages: PageServer) -> None:
    a = one(pages.url("/article"))
    assert a.kind is AttachmentKind.PAGE and a.name == pages.url("/article")
    assert a.text.startswith("# Delta notes")
    assert "sediment it carried" in a.text and "三角洲由河流带来的泥沙沉积而成" in a.text
    for junk in ("newsletter", "Privacy", "tracking", "Shop"):
        assert junk not in a.text
    assert one(pages.url("/plain")).text == "plain words 你好\n"
    pdf = one(pages.url("/report.pdf"))
    assert pdf.kind is AttachmentKind.PDF and "Served PDF text." in pdf.text
    assert one(pages.url("/red.png")).mime == "image/png"


def test_pages_that_fail_are_one_line_each(pages: PageServer) -> None:
    assert refused(pages.url("/missing")).endswith(": HTTP 404 Not Found")
    assert "more than 5 redirects" in refused(pages.url("/loop"))
    assert "no answer within 0.5 s" in refused(pages.url("/slow"), Limits(timeout=0.5))
    assert "content of type application/zip" in refused(pages.url("/zip"))
    assert "no readable text" in refused(pages.url("/empty"))
    assert "cannot connect" in refused("http://127.0.0.1:9/nothing")
    hidden = pages.url("/missing").replace("http://", "http://user:hunter2@")
    assert "hunter2" not in refused(hidden)
