"""Time to first token when a long chat is continued in a new process, with KV snapshots vs without.

For chats of about 500, 2,000 and 6,000 tokens (written straight into the store), runs
``chattui ask -c "Go on." --max-tokens 1 --json`` in fresh processes: without a snapshot (the
cache folder emptied first; the whole chat is evaluated) and with one (the previous run left
it), and a fresh 20-token question for reference. Prints the medians and the ratios: aims, with
snapshots each length within 1.3x of the fresh question, and at 6,000 tokens at least 10x
faster than without.

Then a branch: on a chat of about 4,000 tokens continued once by ``ask -c`` (which leaves its
snapshot), ``ask --cid ID --from MESSAGE`` asks a new question after the reply before that turn:
the part both branches share comes from the snapshot, so its first token should come within
1.3x of a fresh question's.

Run: python -m bench.resume [--reps 3] [--lengths 500 2000 6000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from chattui.conversation import Conversation, Message, Role, utc_now
from chattui.paths import resolve_paths
from chattui.store import ConversationStore

SENTENCE = "The lighthouse keeper wrote down every ship that passed the rocky point at night. "
"""About 16 tokens of ordinary English."""


def fill_chat(home: Path, tokens: int) -> None:
    """A saved chat of about ``tokens`` tokens: turns of about 250 tokens."""
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    store = ConversationStore(paths.database)
    now = utc_now()
    messages = []
    for turn in range(max(1, tokens // 250)):
        role = Role.USER if turn % 2 == 0 else Role.ASSISTANT
        messages.append(Message(role, SENTENCE * 15, now))
    if messages[-1].role is Role.USER:
        messages.append(Message(Role.ASSISTANT, SENTENCE, now))
    store.import_conversation(
        Conversation("", "long chat", now, now, "smollm2-135m", messages=tuple(messages))
    )
    store.close()


def ttft(home: Path, *args: str) -> tuple[float, int]:
    """Seconds to the first token of one ``ask`` in a fresh process, and its prompt tokens."""
    result = subprocess.run(
        [sys.executable, "-m", "chattui", "ask", *args, "--max-tokens", "1", "--json"],
        capture_output=True,
        check=True,
        env={**os.environ, "CHATTUI_HOME": str(home)},
    )
    doc = json.loads(result.stdout)
    return float(doc["timings"]["time_to_first_token"]), int(doc["usage"]["prompt_tokens"])


def main() -> None:
    """Measure each chat length with and without snapshots; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--lengths", type=int, nargs="*", default=[500, 2000, 6000], help="chat sizes in tokens"
    )
    args = parser.parse_args()
    question = "What is the tallest mountain on Earth? Answer in one short sentence please."
    print(f"time to first token of ask -c, demo model, {args.reps} reps (medians)")
    for size in args.lengths:
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder)
            fill_chat(home, size)
            kv = resolve_paths({"CHATTUI_HOME": str(home)}).kv_dir
            cold, warm, fresh = [], [], []
            prompt = 0
            for _ in range(args.reps):
                shutil.rmtree(kv, ignore_errors=True)
                seconds, prompt = ttft(home, "-c", "Go on.")  # evaluates all, leaves a snapshot
                cold.append(seconds)
                warm.append(ttft(home, "-c", "Go on.")[0])
                fresh.append(ttft(home, "--no-save", question)[0])
            c, w, f = (statistics.median(x) for x in (cold, warm, fresh))
            print(
                f"{prompt:6d} tokens  without {c:6.2f} s  with {w:6.2f} s  fresh question "
                f"{f:5.2f} s  without / with {c / w:5.1f}x  with / fresh {w / f:4.2f}x"
            )
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        fill_chat(home, 4000)
        store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
        cid = store.recent(1)[0].id
        fork = store.leaf(cid)
        store.close()
        ttft(home, "-c", "Go on.")  # a turn after the fork point, and its snapshot
        branched, fresh = [], []
        for n in range(args.reps):
            seconds, prompt = ttft(home, "--cid", cid, "--from", str(fork), f"Question {n}?")
            branched.append(seconds)
            fresh.append(ttft(home, "--no-save", question)[0])
        b, f = statistics.median(branched), statistics.median(fresh)
        print(
            f"a branch at {prompt - 20:5d} shared tokens: --from {b:5.2f} s  fresh question "
            f"{f:5.2f} s  branch / fresh {b / f:4.2f}x"
        )
    print(
        "aims: with / fresh <= 1.3 at every length; without / with >= 10 at about 6,000 tokens; "
        "branch / fresh <= 1.3"
    )


if __name__ == "__main__":
    main()
