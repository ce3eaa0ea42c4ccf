"""How long the chat app takes to quit in the middle of a reply, as a user meets it.

Runs the chat app on a pseudo-terminal with the demo model, as ``chattui`` does, but with the
end-of-turn tokens banned so that the reply is long whatever the model writes. Once a part of
the reply is saved, quits it with Ctrl+Q, SIGTERM or SIGHUP (the terminal closing) and prints
the seconds from the key or signal to the end of the process (the reply stopped and saved, the
model freed, the terminal restored): aim under 0.5 s. Last, the terminal itself is closed with
nobody reading it any more (a killed tmux session, a dropped SSH link): aim under 2 s.

Run: python -m bench.tui_quit [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import real_app
from tests.cli.terminal import CONTROLLING

PROMPT = b"Write the numbers from 1 to 300 separated by commas.\r"
WAYS = {"ctrl+q": None, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "closed": None}
"""How the app is ended; "closed": its terminal goes away (the kernel sends SIGHUP)."""


def _last_reply(db: Path) -> dict[str, object] | None:
    """The newest reply's info, read without disturbing the app's writes."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            row = connection.execute(
                "SELECT content, info FROM messages WHERE role = 'assistant' "
                "ORDER BY id DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None or not row[0]:
        return None
    info: dict[str, object] = json.loads(row[1])
    return info


def quit_once(way: str) -> tuple[float, bool]:
    """Quit one app mid-reply; return the seconds it took and whether the reply was cut."""
    with tempfile.TemporaryDirectory() as home:
        db = Path(home) / "data" / "chattui.db"
        env = {**os.environ, "CHATTUI_HOME": home, "TERM": "xterm-256color"}
        master, slave = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING, "bench.tui_quit", "--child"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        screen = b""
        try:
            while b"ready" not in screen:
                if select.select([master], [], [], 60)[0]:
                    screen += os.read(master, 65536)
            os.write(master, PROMPT)
            while _last_reply(db) is None:  # a part of the reply is saved: it is streaming
                if select.select([master], [], [], 0.02)[0]:
                    os.read(master, 65536)
            started = time.perf_counter()
            signum = WAYS[way]
            if way == "closed":
                os.close(master)
                master = -1
                process.wait()
            elif signum is None:
                os.write(master, b"\x11")
            else:
                process.send_signal(signum)
            while process.poll() is None:  # keep the terminal drained until the end
                try:
                    if select.select([master], [], [], 0.005)[0]:
                        os.read(master, 65536)
                except OSError:
                    time.sleep(0.001)
            elapsed = time.perf_counter() - started
        finally:
            process.kill()
            process.wait()
            if master >= 0:
                os.close(master)
        info = _last_reply(db)
        return elapsed, info is not None and info.get("finish_reason") == "stopped"


def child() -> None:
    """The app as ``chattui`` runs it, with a reply that runs to 4,000 tokens."""
    from chattui.cli import signals
    from chattui.exit_guard import ExitGuard
    from chattui.sampling import Sampling

    app, store = real_app(Sampling(max_tokens=4000, ignore_eos=True))
    code = signals.exit_code(signal.SIGHUP)
    app.services.exit_guard = ExitGuard(lambda: code, lambda: None, 2)
    app.run()
    store.close()
    sys.exit(0 if app.terminated_by is None else signals.exit_code(app.terminated_by))


def main() -> None:
    """Quit each way ``--reps`` times and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    print(
        f"quitting the app mid-reply, demo model, {args.reps} runs each (aim < 0.5 s; closed < 2 s)"
    )
    for way in WAYS:
        runs = [quit_once(way) for _ in range(args.reps)]
        cut = [seconds for seconds, stopped in runs if stopped]
        figure = (
            f"median {statistics.median(cut):.2f} s, largest {max(cut):.2f} s"
            if cut
            else "no run quit mid-reply"
        )
        print(f"{way:8s} {figure}  ({len(cut)}/{len(runs)} mid-reply)")


if __name__ == "__main__":
    main()
