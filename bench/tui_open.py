"""How long ``chattui -c`` takes to show a long chat, and the memory it holds, as a user meets it.

For chats of 0, 100, 400 and 2,000 messages (a question, then a reply with a short list, a
3-line Python block and two sentences, in turn), starts ``chattui -c`` (``chattui`` for 0: the
empty home) on the demo model in tmux
(120x40) and samples the screen: the seconds from start to the first non-empty frame and to the
newest message on screen, then the app's RSS once the model is loaded and the screen is still.
Aims: first frame within 1.0 s and newest message within 1.5 s whatever the length; RSS within
50 MiB of the empty chat's (a flat curve).

With ``--others N``, the chats are opened with N other chats saved, and the sidebar's filter is
timed as a key at a time is typed, from the key to the results shown (aim under 100 ms).

With ``--branched``, a 2,000-message chat that forks 50 times (each fork a second version of a
reply with a short continuation) is opened the same way, and switching versions (Alt+Right and
Alt+Left at the newest fork, a key a quarter of a second after the last switch was drawn) is
timed from the key to the version chosen drawn in view (aim under 100 ms).

Run: python -m bench.tui_open [--sizes 0 100 400 2000] [--others 10000] [--reps 3] [--branched]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chattui.conversation import Conversation, Message, Role
from chattui.paths import resolve_paths
from chattui.store import ConversationStore

REPLY = (
    "Three things to know:\n\n- a list item\n- another item\n- a third one\n\n"
    "```python\ndef add(a, b):\n    return a + b\nprint(add({n}, 1))\n```\n\n"
    "That is reply {n}. It ends with a second sentence."
)
OTHERS = (
    "Tell me about the river delta.",
    "什么是自注意力机制？",
    "How do I sort a list in Python?",
    "Suggest a name for a cat.",
)
"""First messages of the other chats, in turn."""
SIZE = (120, 40)
SESSION = "chattui-bench-open"


def fill(home: Path, count: int, others: int) -> None:
    """Save ``others`` short chats, then the chat of ``count`` messages (the newest)."""
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    try:
        for n in range(others):
            chat = (
                Message(Role.USER, f"{OTHERS[n % len(OTHERS)]} ({n})"),
                Message(Role.ASSISTANT, "ok"),
            )
            stamp = f"2025-01-01T00:00:{n % 60:02d}+00:00"
            store.import_conversation(Conversation("x", f"other {n}", stamp, stamp, messages=chat))
        if count:
            messages = tuple(
                Message(
                    Role.USER if n % 2 == 0 else Role.ASSISTANT,
                    f"Question number {n}?" if n % 2 == 0 else REPLY.format(n=n),
                    "2026-01-01T00:00:00+00:00",
                )
                for n in range(count)
            )
            store.import_conversation(
                Conversation(
                    "x",
                    "long chat",
                    "2026-01-01T00:00:00+00:00",
                    "2026-01-01T00:00:00+00:00",
                    messages=messages,
                )
            )
    finally:
        store.close()


FORKS = 50
READING = 0.25
"""Seconds between a version drawn and the next key: a glance, while the app fills the view."""


def fill_branched(home: Path, count: int) -> None:
    """A chat of ``count`` messages in view, with ``FORKS`` other versions of replies on the way."""
    fill(home, count, 0)
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    try:
        cid = store.recent(1)[0].id
        chat = store.get(cid)
        leaf = chat.leaf_id
        replies = [m for m in chat.messages if m.role is Role.ASSISTANT]
        for n, reply in enumerate(replies[:: max(1, len(replies) // FORKS)][:FORKS]):
            other = store.add_message(
                cid, Message(Role.ASSISTANT, f"Another version {n}."), parent=reply.parent_id
            )
            question = store.add_message(cid, Message(Role.USER, "And then?"), parent=other)
            store.add_message(cid, Message(Role.ASSISTANT, f"Then {n}."), parent=question)
        assert leaf is not None
        store.set_leaf(cid, leaf)
    finally:
        store.close()


async def switch_times(switches: int) -> list[float]:
    """Seconds from Alt+Left / Alt+Right to the other version drawn (in-process).

    Drawn: the version chosen is laid out on screen with its Markdown mounted, and a frame has
    been painted since (a layout paints what it places). Each key comes ``READING`` after the last
    switch was drawn, while the app still mounts what lies around the view.
    """
    from textual.widgets import Markdown

    from bench.common import real_app
    from chattui.sampling import Sampling
    from chattui.tui.app import ChatApp
    from chattui.tui.services import StartOptions
    from chattui.tui.widgets.messages import Reply
    from chattui.tui.widgets.transcript import Transcript

    app, store = real_app(Sampling())
    app = ChatApp(app.services, StartOptions(continue_latest=True))
    times: list[float] = []

    def shown(transcript: Transcript, before: set[int | None]) -> bool:
        view = transcript.region
        for widget in transcript.messages():
            if widget.message_id in before or not widget.region.overlaps(view):
                continue
            body = widget.query_one(Markdown) if isinstance(widget, Reply) else None
            return body is None or bool(body.children)
        return False

    async with app.run_test(size=SIZE) as pilot:
        while "ready" not in str(app.screen.query_one("#status").render()):
            await asyncio.sleep(0.05)
        await pilot.pause()
        transcript = app.screen.query_one(Transcript)
        for n in range(switches):
            before = {item.id for item in transcript.items()}
            started = time.perf_counter()
            app.simulate_key("alt+right" if n % 2 == 0 else "alt+left")  # as typed: no waiting
            # A layout paints what it placed: the version laid out in view is on screen.
            while not shown(transcript, before):
                if time.perf_counter() - started > 30:
                    raise SystemExit("the other version never showed")
                await asyncio.sleep(0.001)
            times.append(time.perf_counter() - started)
            await asyncio.sleep(READING)
    store.close()
    return times


def screen() -> str:
    """The text tmux shows."""
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", SESSION], capture_output=True, text=True, check=False
    ).stdout


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MiB."""
    total = 0
    for each in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
    return total / 1024


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for kid in map(int, kids):
        found += [kid, *children(kid)]
    return found


def open_once(home: Path, count: int) -> tuple[float, float, float]:
    """Start ``chattui -c``; return seconds to the first frame and to the newest message, RSS."""
    newest = f"That is reply {count - 1}." if count else "Type a message"
    env = f"CHATTUI_HOME={home} TERM=xterm-256color"
    command = f"env {env} {sys.executable} -m chattui" + (" -c" if count else "")
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
    started = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            str(SIZE[0]),
            "-y",
            str(SIZE[1]),
            command,
        ],
        check=True,
    )
    first = shown = 0.0
    try:
        while not shown:
            text = screen()
            now = time.perf_counter() - started
            if not first and text.strip():
                first = now
            if newest in text:
                shown = now
            if now > 120:
                raise SystemExit(f"the newest message never showed:\n{text}")
            time.sleep(0.005)
        while "ready" not in screen():  # the model is loaded
            time.sleep(0.05)
        time.sleep(1.0)  # let the transcript finish filling the view
        pane = subprocess.run(
            ["tmux", "list-panes", "-t", SESSION, "-F", "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        memory = rss_mib(int(pane))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True, check=False)
    return first, shown, memory


async def filter_times(keys: str) -> list[float]:
    """Seconds from each key typed in the sidebar's filter to the results shown (the app as
    ``chattui`` runs it, under CHATTUI_HOME, in-process)."""
    from textual.widgets import Input

    from bench.common import real_app
    from chattui.sampling import Sampling
    from chattui.tui.widgets.sidebar import Entry, Sidebar

    app, store = real_app(Sampling())
    times: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        while "ready" not in str(app.screen.query_one("#status").render()):
            await asyncio.sleep(0.05)
        sidebar = app.screen.query_one(Sidebar)
        listed = asyncio.Event()
        show = sidebar.show
        done = 0.0

        def shown(entries: list[Entry]) -> None:
            nonlocal done
            show(entries)
            done = time.perf_counter()  # not when the pilot returns: it waits for idle too
            listed.set()

        sidebar.show = shown  # type: ignore[method-assign]
        box = app.screen.query_one("#filter", Input)
        for word in keys.split():
            box.value = ""
            box.focus()
            await pilot.pause()
            for key in word:
                listed.clear()
                started = time.perf_counter()
                await pilot.press(key)
                await listed.wait()
                times.append(done - started)
    store.close()
    return times


def main() -> None:
    """Print first frame, newest message and RSS for each chat length."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 100, 400, 2000])
    parser.add_argument("--others", type=int, default=0, help="other saved chats")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--branched", action="store_true", help="time a chat with 50 forks")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed")
    print(
        f"chattui -c on the demo model, tmux {SIZE[0]}x{SIZE[1]}, {args.others} other chats, "
        f"median of {args.reps}"
    )
    print(f"{'messages':>8}  {'first frame':>11}  {'newest':>7}  {'RSS':>8}  {'vs empty':>8}")
    empty: float | None = None
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder)
            fill(home, count, args.others)
            runs = [open_once(home, count) for _ in range(args.reps)]
        first, shown, memory = (statistics.median(r[i] for r in runs) for i in range(3))
        empty = memory if empty is None else empty
        print(
            f"{count:>8}  {first:>9.2f} s  {shown:>5.2f} s  {memory:>4.0f} MiB  "
            f"{memory - empty:>+4.0f} MiB"
        )
    if args.branched:
        count = max(args.sizes)
        with tempfile.TemporaryDirectory() as folder:
            home = Path(folder)
            fill_branched(home, count)
            runs = [open_once(home, count) for _ in range(args.reps)]
            first, shown, memory = (statistics.median(r[i] for r in runs) for i in range(3))
            print(
                f"{count:>8}  {first:>9.2f} s  {shown:>5.2f} s  {memory:>4.0f} MiB  "
                f"{memory - (empty or memory):>+4.0f} MiB  (with {FORKS} forks)"
            )
            os.environ["CHATTUI_HOME"] = folder
            times = asyncio.run(switch_times(20))
            os.environ.pop("CHATTUI_HOME")
        print(
            f"switching versions in that chat ({count} messages in view, {FORKS} forks): "
            f"median {statistics.median(times) * 1000:.0f} ms, largest "
            f"{max(times) * 1000:.0f} ms from the key to the branch drawn (aim <= 100 ms)"
        )
    if args.others:
        with tempfile.TemporaryDirectory() as folder:
            fill(Path(folder), 0, args.others)
            os.environ["CHATTUI_HOME"] = folder
            keys = "riv 自注 sort"
            times = asyncio.run(filter_times(keys))
            os.environ.pop("CHATTUI_HOME")
        print(
            f"sidebar filter, {args.others} chats, typing {keys!r} a key at a time: "
            f"median {statistics.median(times) * 1000:.0f} ms, "
            f"largest {max(times) * 1000:.0f} ms from key to results (aim < 100 ms)"
        )


if __name__ == "__main__":
    main()
