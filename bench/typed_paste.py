"""A 60 KB paste arriving as keystrokes (a terminal without bracketed paste), as a user meets it.

Runs ``chattui`` on a pseudo-terminal with a scripted model, types 60 KB of English and Chinese
lines as a terminal types a paste (CR for each line, written as fast as the terminal takes it),
then Enter, and prints the seconds until the whole text is saved as one message: aim under 5 s.

Run: python -m bench.typed_paste [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.terminal import Terminal
from tests.cli.test_typed_paste import TYPIST, replied

TEXT = "\n".join(f"Line {i}: the river flows to the sea. 河流流向大海。" for i in range(1200))


def once() -> float:
    """Seconds from the first keystroke to the message and its reply saved."""
    with tempfile.TemporaryDirectory() as folder:
        paths = resolve_paths({"CHATTUI_HOME": folder})
        paths.config_dir.mkdir(parents=True)
        paths.user_catalog.write_text(TYPIST)
        term = Terminal(Path(folder), "-m", "typist")
        try:
            term.wait_for("ready")
            started = time.perf_counter()
            term.type(TEXT.replace("\n", "\r") + "\r")
            store = ConversationStore(paths.database)
            while not replied(store):
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            (summary,) = store.recent()
            assert store.get(summary.id).messages[0].content == TEXT
            store.close()
        finally:
            term.end()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    runs = [once() for _ in range(args.reps)]
    print(
        f"{len(TEXT.encode()) / 1000:.0f} KB typed as keystrokes, saved as one message: "
        f"median {statistics.median(runs):.2f} s, largest {max(runs):.2f} s "
        f"({args.reps} runs; aim < 5 s)"
    )


if __name__ == "__main__":
    main()
