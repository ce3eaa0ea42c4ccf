"""Knowledge folders: retrieval quality on the standard library, and speed at 100 MB.

Quality: the Python standard library on this machine (its tests left out) is indexed; each
question is the first line of a function's or class's docstring that occurs in one file only,
and its answer is that file. Prints recall@5 (the file is among the first five passages' files)
and MRR (the mean of 1 / the rank of its first passage, over the first ten).

Scale: writes ``--files`` Markdown files holding ``--mb`` MB of text (words drawn from the
standard library's docstrings, as often as they occur there), indexes them with ``chattui kb
add`` in a child process (time, and its peak memory), changes one file and times ``kb update``
(the command, and the update inside it), then times queries (medians over ``--queries``).

Dense pass: at scale, random unit vectors of ``--vector-size`` floats (576, the demo model's)
are given to every passage, to time the dense pass's scan over 100 MB of passages. With
``--embedding-model NAME`` (e.g. smollm2), a second base of the first ``--dense-files`` modules
gets that model's vectors; the questions about those modules are asked by words alone and by
words and vectors (recall@5, MRR, query time, the question's embedding included), and the
embedding speed is said.

Run: python -m bench.kb [--files 10000] [--mb 100] [--questions 300] [--queries 50]
         [--embedding-model smollm2 --dense-files 12]
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from chattui.kb.bases import KnowledgeBases

SKIPPED_FOLDERS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def stdlib_files() -> list[Path]:
    """The standard library's modules, its tests and installed packages left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS)
        found += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    return found


def docstrings(files: list[Path]) -> Iterator[tuple[ast.AST, str]]:
    """The modules, classes and functions of ``files`` that have a docstring, with it."""
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            kinds = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            doc = ast.get_docstring(node) if isinstance(node, kinds) else None
            if doc and doc.strip():
                yield node, doc


def questions(files: list[Path], count: int) -> list[tuple[str, Path]]:
    """Docstring summaries (five words or more) found in exactly one file, with that file."""
    where: dict[str, set[Path]] = {}
    for path in files:
        for node, doc in docstrings([path]):
            first = doc.strip().splitlines()[0].strip()
            if not isinstance(node, ast.Module) and len(first.split()) >= 5:
                where.setdefault(first, set()).add(path)
    unique = sorted((q, next(iter(p))) for q, p in where.items() if len(p) == 1)
    random.Random(0).shuffle(unique)
    return unique[:count]


def quality(home: Path, count: int) -> None:
    """Index the standard library; print recall@5, MRR@10 and query times."""
    files = stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    bases = KnowledgeBases(home / "kb")
    started = time.perf_counter()
    tops = [
        str(p)
        for p in sorted(root.iterdir())
        if (p.is_dir() and p.name not in SKIPPED_FOLDERS) or p.suffix == ".py"
    ]
    report = bases.add("stdlib", tops)
    took = time.perf_counter() - started
    info = bases.info("stdlib")
    print(
        f"standard library {root}: {info.files} files, {info.chunks} passages indexed in"
        f" {took:.1f} s ({len(report.skipped)} skipped), tests and installed packages left out"
    )
    asked = questions(files, count)
    recall, mrr, median = scores(bases, "stdlib", asked, dense=False)
    print(
        f"{len(asked)} questions (a docstring's first line; the answer: its file), BM25:"
        f" recall@5 {recall:.3f}  MRR@10 {mrr:.3f}  query median {median * 1000:.1f} ms"
    )


def scores(
    bases: KnowledgeBases, name: str, asked: list[tuple[str, Path]], *, dense: bool
) -> tuple[float, float, float]:
    """Recall@5, MRR@10 and the median query time of ``asked`` (``dense``: vectors too)."""
    from chattui.kb.retrieval import search

    hits5, reciprocal, times = 0, 0.0, []
    index = bases.open(name)
    try:
        for question, answer in asked:
            started = time.perf_counter()
            vector = bases._vector(index, name, question) if dense else None
            found = search(index.db, question, 10, vector)
            times.append(time.perf_counter() - started)
            paths = [Path(p.path) for p in found]
            if answer.resolve() in paths[:5]:
                hits5 += 1
            if answer.resolve() in paths:
                reciprocal += 1 / (paths.index(answer.resolve()) + 1)
    finally:
        index.close()
    n = max(1, len(asked))
    return hits5 / n, reciprocal / n, statistics.median(times) if times else 0.0


def dense_quality(home: Path, model: str, files: int, count: int) -> None:
    """Words alone vs words and vectors, on the first ``files`` modules."""
    from chattui.config import Config
    from chattui.paths import resolve_paths

    root = Path(sysconfig.get_paths()["stdlib"])
    modules = sorted(p for p in root.iterdir() if p.suffix == ".py")[:files]
    paths = resolve_paths({"CHATTUI_HOME": str(home / "dense")})
    bases = KnowledgeBases.of(Config(kb_embedding_model=model), paths)
    bases.add("subset", [str(p) for p in modules[:1]])  # loads the model
    started = time.perf_counter()
    bases.remove("subset")
    report = bases.add("subset", [str(p) for p in modules])
    took = time.perf_counter() - started
    asked = questions(modules, count)
    print(
        f"dense pass, {model}: {len(modules)} modules, {report.embedded} passages embedded in"
        f" {took:.0f} s ({report.embedded / took:.1f} passages/s, indexing included);"
        f" {len(asked)} questions about them"
    )
    for dense in (False, True):
        recall, mrr, median = scores(bases, "subset", asked, dense=dense)
        label = "words and vectors (hybrid)" if dense else "words alone (BM25)     "
        print(
            f"  {label}: recall@5 {recall:.3f}  MRR@10 {mrr:.3f}"
            f"  query median {median * 1000:.1f} ms"
        )
    bases.close()


def dense_scan(bases: KnowledgeBases, size: int, queries: int) -> None:
    """Give every passage of the big base a random vector of ``size``; time the dense scan."""
    import numpy as np

    from chattui.kb.index import _packed
    from chattui.kb.retrieval import dense

    index = bases.open("big")
    rng = np.random.default_rng(0)
    ids = [row[0] for row in index.db.execute("SELECT id FROM chunks")]
    with index.transaction():
        for start in range(0, len(ids), 10_000):
            block = rng.standard_normal((len(ids[start : start + 10_000]), size), dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            index.db.executemany(
                "INSERT OR REPLACE INTO vectors (chunk_id, vector) VALUES (?, ?)",
                [(i, _packed(v.tolist())) for i, v in zip(ids[start:], block, strict=False)],
            )
    times = []
    for _ in range(queries):
        vector = rng.standard_normal(size).astype(np.float32)
        started = time.perf_counter()
        dense(index.db, (vector / np.linalg.norm(vector)).tolist())
        times.append(time.perf_counter() - started)
    index.close()
    print(
        f"dense pass at this size: {len(ids)} vectors of {size} floats, the scan's median"
        f" {statistics.median(times) * 1000:.0f} ms over {queries} queries (the question's own"
        " embedding not included)"
    )


def vocabulary(files: list[Path]) -> tuple[list[str], list[int]]:
    """The words of the standard library's docstrings and how often each occurs."""
    counts: Counter[str] = Counter()
    for _, doc in docstrings(files[:400]):
        counts.update(w for w in doc.lower().split() if w.isalpha())
    words = list(counts)
    return words, [counts[w] for w in words]


def write_corpus(folder: Path, files: int, megabytes: float, seed: int = 1) -> int:
    """``files`` Markdown files of about ``megabytes`` MB in all; returns the bytes written."""
    words, weights = vocabulary(stdlib_files())
    rng = random.Random(seed)
    per_file = int(megabytes * 1_000_000 / files)
    total = 0
    for n in range(files):
        sub = folder / f"d{n // 500:03}"
        sub.mkdir(parents=True, exist_ok=True)
        picked = rng.choices(words, weights, k=int(per_file / 5.6))
        lines = [f"# Note {n}", ""]
        for start in range(0, len(picked), 120):
            if start and start % 1200 == 0:
                lines += [f"## Part {start // 1200}", ""]
            lines += [" ".join(picked[start : start + 120]), ""]
        text = "\n".join(lines)
        (sub / f"note{n:05}.md").write_text(text)
        total += len(text)
    return total


def scale(home: Path, files: int, megabytes: float, queries: int, vector_size: int) -> None:
    """Index a large corpus in a child process, update one file, time queries."""
    corpus = home / "corpus"
    started = time.perf_counter()
    size = write_corpus(corpus, files, megabytes)
    print(f"wrote {files} files, {size / 1e6:.0f} MB, in {time.perf_counter() - started:.0f} s")
    env = {**os.environ, "CHATTUI_HOME": str(home / "chattui")}
    command = [sys.executable, "-m", "chattui", "kb", "add", "big", str(corpus)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    bases = KnowledgeBases(home / "chattui" / "data" / "kb")
    info = bases.info("big")
    print(
        f"kb add: {info.files} files, {info.chunks} passages, index {info.size / 2**20:.0f} MiB,"
        f" {took:.0f} s on {os.cpu_count()} cores ({size / 1e6 / took:.2f} MB/s), peak memory"
        f" {peak:.0f} MiB"
    )
    changed = corpus / "d010" / "note05000.md" if files > 5000 else next(corpus.rglob("*.md"))
    changed.write_text(changed.read_text() + "\n\nA sentence about zeppelins added later.\n")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "chattui", "kb", "update", "big"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    command_time = time.perf_counter() - started
    changed.write_text(changed.read_text() + "\nAnd one about airships.\n")
    started = time.perf_counter()
    report = bases.update("big")
    update_time = time.perf_counter() - started
    print(
        f"kb update, one file changed among {info.files}: the command {command_time:.2f} s"
        f" ({result.stderr.strip().splitlines()[0]}), the update in it {update_time:.2f} s"
        f" ({report.indexed} indexed); aim < 1 s: {update_time:.2f}x of it"
    )
    words, weights = vocabulary(stdlib_files())
    rng = random.Random(2)
    asked = [" ".join(rng.choices(words, weights, k=rng.randint(2, 8))) for _ in range(queries)]
    index = bases.open("big")
    from chattui.kb.retrieval import search

    times = []
    try:
        search(index.db, "warm up the page cache", 5)
        for question in asked:
            started = time.perf_counter()
            search(index.db, question, 5)
            times.append(time.perf_counter() - started)
    finally:
        index.close()
    times.sort()
    median = statistics.median(times)
    print(
        f"query (BM25, {queries} questions of 2 to 8 words drawn as the text's words):"
        f" median {median * 1000:.1f} ms, 90th percentile {times[int(len(times) * 0.9)] * 1000:.1f}"
        f" ms; aim < 50 ms: {median / 0.05:.2f}x of it"
    )
    if vector_size:
        dense_scan(bases, vector_size, 10)


def main() -> None:
    """Run the quality and the scale parts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--embedding-model", default="", help="a model for the dense pass")
    parser.add_argument("--dense-files", type=int, default=12)
    parser.add_argument(
        "--vector-size", type=int, default=576, help="of the random vectors the scan is timed on"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        if not args.skip_quality:
            quality(home, args.questions)
        if not args.skip_scale:  # before a model is loaded: a child's peak memory counts the
            # parent's as it was when it forked
            scale(home, args.files, args.mb, args.queries, args.vector_size)
        if args.embedding_model and not args.skip_quality:
            dense_quality(home, args.embedding_model, args.dense_files, args.questions)


if __name__ == "__main__":
    main()
