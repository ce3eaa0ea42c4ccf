"""Knowledge folders: retrieval quality on the standard library, and speed at 100 MB.

Quality: the Python standard library on this machine (its tests left out) is indexed; each
question is the first line of a function's or class's docstring that occurs in one file only,
and its answer is that file. Prints recall@5 (the file is among the first five passages' files)
and MRR (the mean of 1 / the rank of its first passage, over the first ten).

Scale: writes ``--files`` Markdown files holding ``--mb`` MB of text (words drawn from the
standard library's docstrings, as often as they occur there), indexes them with ``chattui kb
add`` in a child process (time, and its peak memory), changes one file and times ``kb update``
(the command, and the update inside it), then times queries (medians over ``--queries``).

Run: python -m bench.kb [--files 10000] [--mb 100] [--questions 300] [--queries 50]
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


def questions(files: list[Path], count: int) -> list[tuple[str, Path]]:
    """Docstring summaries (five words or more) found in exactly one file, with that file."""
    where: dict[str, set[Path]] = {}
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doc = ast.get_docstring(node)
                first = doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""
                if len(first.split()) >= 5:
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
    hits5, reciprocal, times = 0, 0.0, []
    index = bases.open("stdlib")
    from chattui.kb.retrieval import search

    try:
        for question, answer in asked:
            started = time.perf_counter()
            found = search(index.db, question, 10)
            times.append(time.perf_counter() - started)
            paths = [Path(p.path) for p in found]
            if answer.resolve() in paths[:5]:
                hits5 += 1
            if answer.resolve() in paths:
                reciprocal += 1 / (paths.index(answer.resolve()) + 1)
    finally:
        index.close()
    n = len(asked)
    print(
        f"{n} questions (a docstring's first line; the answer: its file), BM25 (no embedding"
        f" model configured): recall@5 {hits5 / n:.3f}  MRR@10 {reciprocal / n:.3f}  query"
        f" median {statistics.median(times) * 1000:.1f} ms"
    )


def vocabulary(files: list[Path]) -> tuple[list[str], list[int]]:
    """The words of the standard library's docstrings and how often each occurs."""
    counts: Counter[str] = Counter()
    for path in files[:400]:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                doc = ast.get_docstring(node) or ""
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


def scale(home: Path, files: int, megabytes: float, queries: int) -> None:
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
        f" ms; aim < 50 ms: {median / 0.05:.2f}x of it. Dense pass: no embedding model"
        " configured (not built yet)."
    )


def main() -> None:
    """Run the quality and the scale parts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        if not args.skip_quality:
            quality(home, args.questions)
        if not args.skip_scale:
            scale(home, args.files, args.mb, args.queries)


if __name__ == "__main__":
    main()
