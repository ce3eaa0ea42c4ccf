"""Finding the passages a question needs: BM25 over two indexes, fused by rank, with a floor.

The question's words are looked up Porter-stemmed (BM25 over the passages' headings and text,
headings weighing double); its Chinese, Japanese or Korean characters as overlapping pairs (BM25
over the ``grams`` column). Each ranking gives a passage ``1 / (60 + rank)`` (reciprocal rank
fusion), so that neither index's scores need to be comparable with the other's.

With an embedding model, a third ranking joins: passages by the cosine similarity of their
vectors to the question's (the dense pass).

A passage is given only if it holds at least ``MIN_COVERAGE`` of the question's weight (or, found
by the dense pass, if its similarity stands ``DENSE_STANDOUT`` deviations above the rest): each word
weighs its inverse document frequency, and a word found nowhere weighs the most (a pair of
characters found nowhere is left out: it is most often the end of one word and the start of the
next). A question the
base cannot answer ("the capital of Mars" in notes about Paris) then finds nothing, rather than
the passages that hold its commonest word.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from chattui.conversation import Passage
from chattui.kb.index import grams
from chattui.text_width import WIDE

RRF_K = 60
"""Reciprocal rank fusion's constant (as in its paper and most engines)."""
CANDIDATES = 50
"""Passages each index ranks."""
MIN_COVERAGE = 0.5
"""Share of the question's weight a passage must hold."""
MAX_TERMS = 32
"""Words of a question looked up (the rarest, past that: a pasted text is not a question)."""
DF_CAP = 5000
"""Passages counted for a word's document frequency, at most: a word in more is common (it
weighs little, and does not rank when the question has rarer words)."""
RANK_CAP = 2000
"""Passages ranked, at most, for a question made only of common words."""
DENSE_STANDOUT = 3.0
"""Standard deviations above the base's mean similarity that make a passage relevant though it
shares too few words with the question (found by the dense pass alone)."""
DENSE_BATCH = 4096
"""Vectors read at a time by the dense pass."""
HEADING_WEIGHT = 2.0
"""How much more a word in a passage's headings counts than one in its text."""

_WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)
"""English words too common to find anything by (a question made only of them keeps them)."""


@dataclass(frozen=True, slots=True)
class _Term:
    """A word of the question, or a pair of Chinese characters."""

    text: str
    wide: bool

    @property
    def phrase(self) -> str:
        return '"{}"'.format(self.text.replace('"', '""'))

    def found_in(self, lowered: str) -> bool:
        """Whether a passage (lowercased) holds it: a Latin word by its first five letters."""
        if self.wide:
            return self.text in lowered
        return re.search(rf"(?<![^\W_]){re.escape(self.text[:5])}", lowered) is not None


def query_terms(question: str) -> list[_Term]:
    """The words a question is looked up by: Latin words (common ones dropped), then pairs."""
    latin_text = WIDE.sub(" ", question.lower())
    words = list(dict.fromkeys(_WORD.findall(latin_text)))
    kept = [word for word in words if word not in STOPWORDS] or words
    pairs = list(dict.fromkeys(grams(question).split()))
    return [_Term(word, False) for word in kept] + [_Term(pair, True) for pair in pairs]


def search(
    db: sqlite3.Connection,
    question: str,
    limit: int = 5,
    vector: Sequence[float] | None = None,
) -> list[Passage]:
    """The passages of the index ``db`` that best answer ``question``, best first.

    ``vector``: the question's, from the model that made the index's vectors: a third ranking,
    by cosine similarity, joins the fusion (the dense pass). Only passages over the coverage
    floor are returned: none when nothing is relevant.
    """
    terms = query_terms(question)
    if not terms:
        return []
    total = max(1, db.execute("SELECT count(*) FROM chunks").fetchone()[0])
    counts = {term: _count(db, term) for term in terms}
    weights = {term: _idf_of(counts[term], total) for term in terms}
    # A pair of characters found nowhere is most often two words' ends (the question is not
    # cut into words): it does not count. A Latin word found nowhere weighs the most.
    terms = [t for t in terms if not t.wide or weights[t] < _idf_of(0, total)] or terms
    if len(terms) > MAX_TERMS:  # the rarest words say the most
        terms = sorted(terms, key=lambda t: -weights[t])[:MAX_TERMS]
    fused: dict[int, float] = {}
    rankings = 0
    for columns, chosen in (
        ("{heading text}", [t for t in terms if not t.wide]),
        ("grams", [t for t in terms if t.wide]),
    ):
        # A word in thousands of passages adds little to a ranking it would make slow (every
        # passage holding it is scored): the rarer words rank, and it still counts for the floor.
        # A question of common words only ranks the passages holding all of them, at most
        # RANK_CAP of them (it names nothing in particular: any of those will do).
        rare = [t for t in chosen if counts[t] < DF_CAP]
        if not chosen:
            continue
        rankings += 1
        for rank, rowid in enumerate(_ranked(db, columns, rare or chosen, capped=not rare), 1):
            fused[rowid] = fused.get(rowid, 0.0) + 1.0 / (RRF_K + rank)
    standing: dict[int, float] = {}
    if vector is not None:
        rankings += 1
        for rank, (rowid, above) in enumerate(dense(db, vector), 1):
            fused[rowid] = fused.get(rowid, 0.0) + 1.0 / (RRF_K + rank)
            standing[rowid] = above
    if not fused:
        return []
    best = rankings / (RRF_K + 1)
    weight = sum(weights[t] for t in terms)
    found: list[Passage] = []
    for rowid in sorted(fused, key=lambda r: -fused[r]):
        passage = _passage(db, rowid, fused[rowid] / best)
        lowered = (passage.heading + "\n" + passage.text).lower()
        held = sum(weights[t] for t in terms if t.found_in(lowered))
        if held / weight >= MIN_COVERAGE or standing.get(rowid, 0.0) >= DENSE_STANDOUT:
            found.append(passage)
            if len(found) == limit:
                break
    return found


def dense(
    db: sqlite3.Connection, vector: Sequence[float], limit: int = CANDIDATES
) -> list[tuple[int, float]]:
    """The ``limit`` passages whose vectors are nearest ``vector`` (cosine), nearest first.

    Each with how far its similarity stands above the others' (in standard deviations over
    the whole base): how a passage that shares no word with the question is told relevant.
    The vectors are read a few thousand at a time, so memory stays small in a large base.
    """
    import numpy as np

    query = np.asarray(vector, dtype=np.float32)
    ids = np.empty(0, dtype=np.int64)
    scores = np.empty(0, dtype=np.float32)
    count, total, squares = 0, 0.0, 0.0
    cursor = db.execute("SELECT chunk_id, vector FROM vectors")
    while rows := cursor.fetchmany(DENSE_BATCH):
        kept = [(rowid, blob) for rowid, blob in rows if len(blob) == 4 * len(query)]
        if not kept:
            continue
        matrix = np.frombuffer(b"".join(b for _, b in kept), dtype="<f4").reshape(len(kept), -1)
        found = matrix @ query
        count += len(found)
        total += float(found.sum())
        squares += float((found.astype(np.float64) ** 2).sum())
        ids = np.concatenate([ids, np.asarray([r for r, _ in kept], dtype=np.int64)])
        scores = np.concatenate([scores, found])
        if len(ids) > limit:  # keep the best so far
            keep = np.argpartition(-scores, limit)[:limit]
            ids, scores = ids[keep], scores[keep]
    if not count:
        return []
    mean = total / count
    spread = max(squares / count - mean * mean, 0.0) ** 0.5 or 1.0
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(int(ids[i]), (float(scores[i]) - mean) / spread) for i in order]


def _ranked(db: sqlite3.Connection, columns: str, terms: list[_Term], *, capped: bool) -> list[int]:
    """The ``CANDIDATES`` passages BM25 ranks best for ``terms`` in ``columns``.

    ``capped``: only passages holding every term are ranked, the first ``RANK_CAP`` of them.
    """
    bm25 = f"bm25(chunks_fts, {HEADING_WEIGHT}, 1.0, 1.0)"
    joiner = " AND " if capped else " OR "
    query = f"{columns} : ({joiner.join(t.phrase for t in terms)})"
    last = -1  # no bound
    if capped:  # FTS5 reads a range of rowids quickly: the first RANK_CAP matches' range
        bound = db.execute(
            "SELECT max(rowid) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"  # noqa: S608
            f" LIMIT {RANK_CAP})",
            (query,),
        ).fetchone()[0]
        last = -1 if bound is None else int(bound)
    rows = db.execute(
        "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH :q"  # noqa: S608
        f" AND (:last < 0 OR rowid <= :last) ORDER BY {bm25} LIMIT {CANDIDATES}",
        {"q": query, "last": last},
    )
    return [rowid for (rowid,) in rows]


def _count(db: sqlite3.Connection, term: _Term) -> int:
    """In how many passages ``term`` is, counted up to ``DF_CAP``."""
    column = "grams" if term.wide else "{heading text}"
    count = db.execute(
        "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"  # noqa: S608
        f" LIMIT {DF_CAP})",
        (f"{column} : {term.phrase}",),
    ).fetchone()[0]
    return int(count)


def _idf_of(count: int, total: int) -> float:
    """BM25's inverse document frequency of a word found in ``count`` of ``total`` passages."""
    return math.log(1 + (total - count + 0.5) / (count + 0.5))


def _passage(db: sqlite3.Connection, rowid: int, score: float) -> Passage:
    """The passage ``rowid`` with the file it is from."""
    row = db.execute(
        "SELECT f.path, f.shown, c.start_line, c.end_line, c.heading, c.text"
        " FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id = ?",
        (rowid,),
    ).fetchone()
    path, shown, start, end, heading, text = row
    return Passage(path, shown, start, end, heading, round(score, 3), text)
