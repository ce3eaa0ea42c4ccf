"""Wall time of `chattui --help` and `chattui ask "hi" --max-tokens 1` on the demo model, each
also as a ratio to a bare `python -c pass`, measured in one run.

Run: python -m bench.startup [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(command: list[str], reps: int) -> float:
    """Median wall time of running ``command`` to completion."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Time the commands and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    python = wall([sys.executable, "-c", "pass"], args.reps)
    chattui = [sys.executable, "-m", "chattui"]
    wall([*chattui, "ask", "hi", "--max-tokens", "1"], 1)  # warm the page cache
    helptime = wall([*chattui, "--help"], args.reps)
    ask = wall([*chattui, "ask", "hi", "--max-tokens", "1"], args.reps)
    print(f"python -c pass                      {python:6.3f} s")
    print(
        f"chattui --help                      {helptime:6.3f} s  ({helptime / python:.1f}x python;"
        " target <= 0.3 s)"
    )
    print(
        f"chattui ask 'hi' --max-tokens 1     {ask:6.3f} s  ({ask / python:.1f}x python;"
        " target <= 1.5 s)"
    )


if __name__ == "__main__":
    main()
