"""A second question about the same large file, in a new process: first token, reused vs not.

Writes a file of about 4,000 tokens, asks ``chattui ask -f FILE "q1"`` once (which keeps the KV
state of the prompt up to the end of the file), then, in pairs of fresh processes, a different
question about the same file (the file's tokens come from that state), the same question with
``--no-save`` (no snapshot read: the whole file evaluated), and a fresh 20-token question with
nothing attached. Prints medians and the paired ratios: aim, second question / fresh question
at most 1.5x.

Run: python -m bench.attach [--reps 5] [--tokens 4000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.resume import SENTENCE, ttft


def main() -> None:
    """Time the three kinds of question in pairs; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=4000, help="size of the file in tokens")
    args = parser.parse_args()
    question = "What is the tallest mountain on Earth? Answer in one short sentence please."
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        report = home / "report.txt"
        report.write_text(SENTENCE * (args.tokens // 16))
        ctx = ("--ctx", str(args.tokens * 2))
        _, prompt = ttft(home, *ctx, "-f", str(report), "Who keeps the light?")
        runs: dict[str, list[tuple[float, float]]] = {"second": [], "again": [], "fresh": []}
        for n in range(args.reps):
            for name, extra in (
                ("second", ("-f", str(report), f"Question {n} about it?")),
                ("again", ("--no-save", "-f", str(report), f"Question {n} about it?")),
                ("fresh", ("--no-save", question)),
            ):
                started = time.perf_counter()
                first = ttft(home, *ctx, *extra)[0]
                runs[name].append((first, time.perf_counter() - started))
        print(f"a file of {prompt} prompt tokens, demo model, {args.reps} pairs (medians)")
        for which, label in ((0, "first token"), (1, "whole process (snapshot read included)")):
            r, e, f = (statistics.median(x[which] for x in runs[k]) for k in runs)
            pairs = zip(runs["second"], runs["fresh"], strict=True)
            ratio = statistics.median(a[which] / b[which] for a, b in pairs)
            print(
                f"{label}: second question {r:5.2f} s  file evaluated again {e:5.2f} s  fresh"
                f" question {f:5.2f} s  second / fresh {ratio:4.2f}x  again / second"
                f" {e / r:5.1f}x"
            )
        print("aim: second / fresh <= 1.5 (first token)")


if __name__ == "__main__":
    main()
