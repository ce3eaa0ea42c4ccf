r"""LaTeX formulas in model text, shown on a terminal as Unicode a person can read.

``$...$``, ``$$...$$``, ``\(...\)`` and ``\[...\]`` outside code become Unicode text (√, ᵀ,
subscripts, Greek letters, fractions as a/b) through pylatexenc's ``LatexNodes2Text``; a display
formula gets a line of its own. A formula with a command the converter does not know is left as
written, never dropped; code blocks and inline code are never touched, and a lone ``$5`` stays a
price. Only what is shown on a terminal is converted: pipes, ``--json`` and exports keep the
exact source.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_CODE = re.compile(
    r"(^ {0,3}(```|~~~).*?(^ {0,3}\2[^\n]*$|\Z)|`+[^`\n]*`+)", re.MULTILINE | re.DOTALL
)
"""Fenced code blocks (to their closing fence or the end) and inline code spans."""
_MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|(?<![\\$\w])\$(?=\S)(?P<inline>[^$\n]+?)(?<=\S)\$(?![\w$])",
    re.DOTALL,
)
"""Formulas, display first; an inline one starts and ends beside a non-space (pandoc's rule), so
"$5 and $10" is not a formula."""

SUPERSCRIPTS = dict(zip("0123456789+-=()nijkTt", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏᵀᵗ", strict=True))
SUBSCRIPTS = dict(
    zip("0123456789+-=()aeijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True)
)
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}\\]*)\}|([A-Za-z0-9]))")
"""A superscript or subscript of plain characters: ``^T``, ``_{ij}``."""
_DROPPED = re.compile(r"\\(left|right|big|Big|bigg|Bigg)(?![A-Za-z])\.?")
"""Sizing commands: the delimiter after them is kept, the command is not needed in text."""
_OPERATOR = re.compile(r"\\operatorname\*?\{([^{}]*)\}")
_SPACED = re.compile(r"\\([A-Za-z]+)(?=\s)")
"""A command followed by a space, which LaTeX would swallow."""
_MARKDOWN = re.compile(r"([\\*_`\[\]<>#|~])")
"""Characters a converted formula must not pass to Markdown as syntax."""


def formulas_to_text(markdown: str) -> str:
    """``markdown`` with its formulas shown as Unicode text (code left alone)."""
    if "$" not in markdown and "\\" not in markdown:
        return markdown
    parts: list[str] = []
    position = 0
    for code in _CODE.finditer(markdown):
        parts.append(_MATH.sub(_convert, markdown[position : code.start()]))
        parts.append(code.group(0))
        position = code.end()
    parts.append(_MATH.sub(_convert, markdown[position:]))
    return "".join(parts)


def _convert(match: re.Match[str]) -> str:
    display = match.group("display") or match.group("bracket")
    body = display if display is not None else (match.group("paren") or match.group("inline"))
    text = latex_to_text(body)
    if text is None:
        return match.group(0)
    shown = _MARKDOWN.sub(r"\\\1", text)
    return f"\n\n{shown}\n\n" if display is not None else shown


@functools.lru_cache(maxsize=256)
def latex_to_text(latex: str) -> str | None:
    """One formula as Unicode text, or None when it holds a command the converter lacks."""
    from pylatexenc.latex2text import LatexNodes2Text, get_default_latex_context_db
    from pylatexenc.latexwalker import LatexWalker, LatexWalkerError

    source = _OPERATOR.sub(r"\\mathrm{\1}", _DROPPED.sub("", latex.strip()))
    source = _SCRIPT.sub(_script, source)
    source = _SPACED.sub(_keep_space, source)
    known = get_default_latex_context_db()
    try:  # the parser and the converter recurse: deeply nested braces stay as their source
        nodes, _, _ = LatexWalker(source, tolerant_parsing=False).get_latex_nodes()
        if any(name is not None and known.get_macro_spec(name) is None for name in _macros(nodes)):
            return None
        text: str = LatexNodes2Text(math_mode="text").nodelist_to_text(nodes)
    except (LatexWalkerError, RecursionError):
        return None
    return " ".join(text.split()) or None


def _script(match: re.Match[str]) -> str:
    """``^T`` as ``ᵀ``, ``_{ij}`` as ``ᵢⱼ``, when every character has such a form."""
    table = SUPERSCRIPTS if match.group(1) == "^" else SUBSCRIPTS
    chars = match.group(2) if match.group(2) is not None else match.group(3)
    if chars and all(char in table for char in chars):
        # "{}" ends a command before it: "\\sumᵢ" would read as one unknown command.
        return "{}" + "".join(table[char] for char in chars)
    return match.group(0)


def _keep_space(match: re.Match[str]) -> str:
    r"""``\alpha +`` keeps its space (LaTeX swallows it), unless the command takes arguments."""
    from pylatexenc.latexwalker import get_default_latex_context_db

    spec = get_default_latex_context_db().get_macro_spec(match.group(1))
    takes_arguments = spec is not None and bool(spec.args_parser.argspec)
    return match.group(0) if takes_arguments else f"\\{match.group(1)}{{}}"


def _macros(nodes: Any) -> list[str | None]:
    """Names of every command in a parsed formula, nested ones too."""
    from pylatexenc.latexwalker import LatexMacroNode

    names: list[str | None] = []
    for node in nodes or []:
        if node is None:
            continue
        if isinstance(node, LatexMacroNode):
            names.append(node.macroname)
            arguments = node.nodeargd.argnlist if node.nodeargd is not None else []
            names.extend(_macros(arguments))
        names.extend(_macros(getattr(node, "nodelist", None)))
    return names
