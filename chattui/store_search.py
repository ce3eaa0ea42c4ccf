"""How a search finds words in any script, and the snippet that shows a hit.

Words of space-separated scripts are matched by the Porter-stemmed ``unicode61`` index, as an
English reader expects ("rivers" finds "river"). That tokenizer keeps a run of Chinese, Japanese
or Korean characters, with any Latin word glued to it, as one token, so those words are matched
as substrings instead, by the ``trigram`` index: a shorter word through the trigrams it begins
(FTS5 cannot match fewer than three characters, and LIKE on a trigram table misses them).
A Latin word is also looked up in the trigram index, so "Transformer" finds
"架构的Transformer模型"; a substring hit inside a longer Latin word ("driver" for "river") is
dropped unless the stemmer found it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chattui.text_width import WIDE, cells, fit

_LATIN = "0-9a-z\u00c0-\u024f"
"""Characters that continue a Latin word (lowercase: patterns run on lowercased text)."""
TRIGRAM = 3
"""Shortest term the trigram index can find."""
SHORT_TERMS = 400
"""Most trigrams a word of one or two characters is looked up by; beyond, its text is scanned."""
SNIPPET_CELLS = 72
"""Width of a snippet in terminal cells."""


@dataclass(frozen=True, slots=True)
class Term:
    """One word of a query."""

    text: str
    """As typed."""
    prefix: bool = False
    """Matched as the start of a word (the word being typed)."""

    @property
    def wide(self) -> bool:
        """Whether it holds characters of a script without spaces: matched as a substring."""
        return WIDE.search(self.text) is not None

    @property
    def pattern(self) -> re.Pattern[str]:
        """Where it occurs in lowercased text: the whole word, for a Latin one."""
        return _pattern(self.text.lower(), self.wide)

    @property
    def phrase(self) -> str:
        """As an FTS5 phrase (any text is then a valid query)."""
        return '"{}"'.format(self.text.replace('"', '""'))

    @property
    def stemmed(self) -> str:
        """As a query of the stemmed index: a prefix query for a word being typed."""
        return self.phrase + (" *" if self.prefix and not self.wide else "")


@functools.lru_cache(maxsize=64)
def _pattern(text: str, wide: bool) -> re.Pattern[str]:
    if wide:
        return re.compile(re.escape(text))
    stem = re.escape(text[:5])  # enough to see "rivers" in "river"
    return re.compile(f"(?<![{_LATIN}]){stem}[{_LATIN}]*")


def terms(query: str, *, as_typed: bool = False) -> list[Term]:
    """The words of ``query``; ``as_typed``: the last is the start of a word being typed.

    A word being typed is also looked for by the trigram index (when long enough), whose
    substring hits count at the start of a word: a stemmer cuts some words shorter than what was
    typed ("runn" is not a prefix of "run", the stem of "running").
    """
    words = [Term(word) for word in query.split()]
    if as_typed and words and not query[-1:].isspace():
        words[-1] = Term(words[-1].text, prefix=True)
    return words


@dataclass(frozen=True, slots=True)
class Source:
    """A table whose text is searched, with its two indexes (``TABLE_fts``, ``TABLE_tri``)."""

    table: str
    select: str
    """The rows found (alias ``t``): id, message_id, conversation_id, name, content."""


MESSAGES = Source(
    "messages",
    "SELECT t.id, t.id AS message_id, t.conversation_id, '' AS name, t.content FROM messages t",
)
ATTACHMENTS = Source(
    "attachments",
    "SELECT t.id, t.message_id, m.conversation_id, t.name, t.content"
    " FROM attachments t JOIN messages m ON m.id = t.message_id",
)
"""The text of what was attached to messages, searched as theirs."""
TOOL_CALLS = Source(
    "tool_calls",
    "SELECT t.id, t.message_id, m.conversation_id, t.name, t.content"
    " FROM tool_calls t JOIN messages m ON m.id = t.message_id",
)
"""What the tools a reply called gave back, searched as the reply's."""


def candidates(
    words: Sequence[Term],
    cap: int,
    starting: Callable[[str], list[str]],
    source: Source = MESSAGES,
) -> tuple[str, dict[str, object]] | None:
    """SQL for the newest ``cap`` rows of ``source`` holding every word (its ``select``).

    The messages come from the newest ``cap`` hits of the stemmed index for the Latin words,
    and of the trigram index for all words of three characters or more; each index is asked
    once for all its words, so a rare word is looked for in the whole store. Chinese, Japanese
    or Korean words the leading index did not ask for then filter those messages.

    Args:
        words: The query.
        cap: Most messages returned.
        starting: The indexed trigrams that begin with a given one- or two-character text.
        source: The table searched: messages, or what was attached to them.

    Returns:
        The SQL and its parameters (only fixed text goes into the SQL), or None when a word
        occurs nowhere.
    """
    fts, tri = f"{source.table}_fts", f"{source.table}_tri"
    latin = [term for term in words if not term.wide]
    wide_long = [term for term in words if term.wide and len(term.text) >= TRIGRAM]
    wide_short = [term for term in words if term.wide and len(term.text) < TRIGRAM]
    params: dict[str, object] = {"cap": cap}
    sources: list[str] = []
    filters: list[str] = []
    if latin:
        params["stemmed"] = " AND ".join(term.stemmed for term in latin)
        sources.append(f"SELECT rowid FROM {fts} WHERE {fts} MATCH :stemmed")  # noqa: S608
    if all(len(term.text) >= TRIGRAM for term in latin) and (latin or wide_long):
        # Latin words glued to Chinese text, and the Chinese words, as substrings.
        params["trigrams"] = " AND ".join(term.phrase for term in [*latin, *wide_long])
        sources.append(f"SELECT rowid FROM {tri} WHERE {tri} MATCH :trigrams")  # noqa: S608
    if latin and wide_long:  # what the stemmed index found must hold them too
        params["wide"] = " AND ".join(term.phrase for term in wide_long)
        filters.append(f"t.id IN (SELECT rowid FROM {tri} WHERE {tri} MATCH :wide)")  # noqa: S608
    for index, term in enumerate(wide_short):
        name = f"short{index}"
        found = starting(term.text.lower())
        if not found:
            return None
        if len(found) > SHORT_TERMS:  # a common character: scanning the newest is quicker
            params[name] = term.text.lower()
            filters.append(f"instr(lower(t.content), :{name}) > 0")
            continue
        params[name] = " OR ".join(Term(trigram).phrase for trigram in found)
        filters.append(
            f"t.id IN (SELECT rowid FROM {tri} WHERE {tri} MATCH :{name})"  # noqa: S608
        )
    if sources:
        newest = " UNION ".join(
            f"SELECT * FROM ({leading} ORDER BY rowid DESC LIMIT :cap)"  # noqa: S608
            for leading in sources
        )
        filters.insert(0, f"t.id IN ({newest})")
    # Without an index to lead (short words only), the newest messages are read until enough hold
    # every word.
    sql = source.select + " WHERE " + " AND ".join(filters) + " ORDER BY t.id DESC LIMIT :cap"
    return sql, params


def doubtful(words: Sequence[Term], lowered: str) -> list[int]:
    """Indexes of the Latin words found in ``lowered`` only inside longer words, if at all.

    ``lowered`` is a message, lowercased. Such a message came from the trigram index; it counts
    only if the stemmer found the word.
    """
    return [
        index
        for index, term in enumerate(words)
        if not term.wide and len(term.text) >= TRIGRAM and not term.pattern.search(lowered)
    ]


def score(words: Sequence[Term], lowered: str) -> float:
    """How well ``lowered`` (a message, lowercased) matches.

    Occurrences of the words (of their first letters, for a Latin one), weighed down by length.
    """
    found = sum(max(1, lowered.count(term.text.lower()[:5])) for term in words)
    return found / (1 + len(lowered) / 200)


def snippet(text: str, words: Sequence[Term], width: int = SNIPPET_CELLS) -> str:
    """About ``width`` cells of ``text`` around the first match, matches marked ``[like this]``.

    Cut by display width, never inside a character, in any script.
    """
    flat = " ".join(text.split())
    lowered = flat.lower()
    # Enough text for the snippet whatever its script: a character takes at most two cells.
    spans = sorted(
        (match.start(), match.end())
        for term in words
        for match in term.pattern.finditer(lowered)
        if match.end() > match.start()
    )
    first = spans[0][0] if spans else 0
    start = _back(flat, first, width // 4)
    stop = start + 2 * width  # no snippet needs more characters than that
    shown, position = [], start
    for begin, finish in spans:
        if begin >= stop:
            break
        if begin < position:
            continue  # overlaps a span already marked
        shown.append(flat[position:begin])
        shown.append(f"[{flat[begin:finish]}]")
        position = finish
    shown.append(flat[position : max(position, stop)])
    prefix = "… " if start > 0 else ""
    return prefix + fit("".join(shown), width - cells(prefix))


def _back(text: str, position: int, room: int) -> int:
    """Where a snippet starts: about ``room`` cells before ``position``, at a space if near."""
    start, used = position, 0
    while start > 0 and used + cells(text[start - 1]) <= room:
        start -= 1
        used += cells(text[start])
    space = text.find(" ", start, position)
    if start > 0 and space != -1 and not WIDE.search(text[start:position]):
        start = space + 1  # Latin text: begin at a word
    return start
