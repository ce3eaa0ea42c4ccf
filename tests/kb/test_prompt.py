"""Passages as the model is given them, and a reply's [n] marks as links to them."""

from __future__ import annotations

from chattui.conversation import AttachmentKind, Passage
from chattui.kb.prompt import SOURCE_SCHEME, knowledge_attachment, linked_citations


def test_passages_are_numbered_and_nothing_found_is_said() -> None:
    passage = Passage("/n/a.md", "n/a.md", 3, 9, "Intro", 1.0, "Some text.")
    given = knowledge_attachment("notes", [passage, passage])
    assert given.kind is AttachmentKind.KNOWLEDGE and len(given.passages) == 2
    assert "[1] n/a.md:3-9 (Intro)\nSome text." in given.text
    assert "[2] n/a.md:3-9 (Intro)" in given.text
    assert "cite each passage you use by its number" in given.text
    none = knowledge_attachment("notes", [])
    assert "nothing in it is relevant" in none.text and none.passages == ()


def test_marks_become_links_outside_code_only() -> None:
    link = f"[[1]]({SOURCE_SCHEME}1)"
    assert linked_citations("Use pip [1].", 1) == f"Use pip {link}."
    assert linked_citations("Use pip [1].", 0) == "Use pip [1]."
    assert linked_citations("see [3] and [12]", 2) == "see [3] and [12]"  # no such sources
    assert linked_citations("`a[1]` and x[1] and [1](url) and [1]:", 1) == (
        "`a[1]` and x[1] and [1](url) and [1]:"
    )
    fenced = "```python\nprint(a[1])\n[1]\n```\nafter [1]"
    assert linked_citations(fenced, 1) == f"```python\nprint(a[1])\n[1]\n```\nafter {link}"
    assert linked_citations("[1][2]", 2) == "[1][2]"  # a reference link stays one
    assert linked_citations("中文说明[1]。", 1) == f"中文说明{link}。"
