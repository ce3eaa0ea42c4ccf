"""Text measured in terminal cells: Chinese takes two cells a character, cuts never split one."""

from __future__ import annotations

from chattui.conversation import title_from
from chattui.text_width import cells, fit


def test_cells_count_wide_and_combining_characters() -> None:
    assert cells("abc") == 3
    assert cells("自注意力") == 8
    assert cells("Transformer模型") == 15
    assert cells("e\u0301") == 1  # e + combining acute accent


def test_fit_cuts_by_cells_with_an_ellipsis() -> None:
    assert fit("short", 10) == "short"
    assert fit("自注意力机制", 12) == "自注意力机制"
    cut = fit("自注意力机制是核心", 9)
    assert cut == "自注意力…" and cells(cut) <= 9
    assert fit("hello world, again", 8) == "hello w…"
    assert cells(fit("模" * 50, 11)) <= 11


def test_titles_from_chinese_messages_fit_their_cells() -> None:
    title = title_from("请用三句话解释什么是Transformer模型中的自注意力机制，并给出公式。" * 3)
    assert cells(title) <= 60 and title.endswith("…")
    assert title.startswith("请用三句话解释")
    assert title_from("  Hello\n  world  ") == "Hello world"
