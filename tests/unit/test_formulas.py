"""Formulas shown as Unicode on a terminal; code, prices and unknown commands left as written."""

from __future__ import annotations

from chattui.formulas import formulas_to_text

ATTENTION = r"$\text{Attention}(Q,K,V)=\text{softmax}(\frac{QK^T}{\sqrt{d_k}})V$"


def test_the_attention_formula_reads_as_text() -> None:
    shown = formulas_to_text(f"The formula is {ATTENTION}, as in the paper.")
    assert shown == "The formula is Attention(Q,K,V)=softmax(QKᵀ/√(dₖ))V, as in the paper."


def test_every_kind_of_delimiter() -> None:
    assert formulas_to_text(r"so \(a^2 + b^2 = c^2\) holds") == "so a² + b² = c² holds"
    assert formulas_to_text(r"\[ E = mc^2 \]") == "\n\nE = mc²\n\n"
    assert formulas_to_text(r"Sum: $$\sum_{i=1}^{n} x_i$$") == "Sum: \n\n∑ᵢ₌₁ⁿ xᵢ\n\n"
    assert formulas_to_text(r"$\alpha + \beta \le \gamma$") == "α + β ≤ γ"
    assert formulas_to_text(r"$\left( a \cdot b \right)$") == "( a · b )"


def test_code_prices_and_unknown_commands_stay_as_written() -> None:
    code = "Run `echo $HOME $PATH` then\n\n```latex\n$\\frac{a}{b}$\n```\n"
    assert formulas_to_text(code) == code
    assert formulas_to_text("It costs $5, or $10 with tax.") == "It costs $5, or $10 with tax."
    assert formulas_to_text(r"keep $\weird{x}$ as is") == r"keep $\weird{x}$ as is"
    assert formulas_to_text("no formula here") == "no formula here"


def test_a_formula_cannot_inject_markdown() -> None:
    assert formulas_to_text(r"$a * b * c$") == r"a \* b \* c"
    assert formulas_to_text(r"$x_{i,j}$") == r"x\_i,j"


def test_a_formula_nested_too_deep_stays_as_its_source() -> None:
    deep = "$" + "{" * 3000 + "x" + "}" * 3000 + "$"
    assert formulas_to_text(f"See {deep}.") == f"See {deep}."
