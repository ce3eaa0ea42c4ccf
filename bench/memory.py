"""Peak memory of a one-shot ``chattui ask`` on the demo model, as a user runs it.

Runs ``python -m chattui ask "hi" --max-tokens 8 --no-save`` several times in fresh processes
and prints the median peak RSS against the aim (at most what `llm` takes on the same model,
about 206 MiB), and the same for a reply of 2,000 tokens, whose context grows as it is reached.

Run: python -m bench.memory [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

AIM_MIB = 206


def peak_mib(*args: str) -> float:
    """Peak resident memory of one ``chattui`` process, in MiB."""
    with tempfile.TemporaryDirectory() as home:
        process = subprocess.Popen(
            [sys.executable, "-m", "chattui", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CHATTUI_HOME": home},
        )
        _, status, usage = os.wait4(process.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, args
        return usage.ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    """Measure and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    short = [peak_mib("ask", "hi", "--max-tokens", "8", "--no-save") for _ in range(args.reps)]
    long = [
        peak_mib("ask", "Write a long story.", "--max-tokens", "2000", "--ignore-eos", "--no-save")
        for _ in range(max(1, args.reps // 2))
    ]
    print(f"peak RSS, demo model, {args.reps} runs")
    print(
        f'ask "hi"              {statistics.median(short):6.1f} MiB (median; aim <= {AIM_MIB},'
        f" ratio {statistics.median(short) / AIM_MIB:.2f})"
    )
    print(f"ask, 2,000-token reply {statistics.median(long):6.1f} MiB (the context grows to fit)")


if __name__ == "__main__":
    main()
