"""Helpers to run the real ``chattui`` entry point in a subprocess, in a pipe or on a pty."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from dataclasses import dataclass

HOSTILE_REPLY = "[bold]x[/bold] \x1b[31mred\x1b[0m \x9b2J \x07bell"

SCRIPTED_CATALOG = """
[[models]]
id = "echo"
name = "Echo"
engine = "scripted"

[[models]]
id = "hostile"
name = "Hostile"
engine = "scripted"
replies = ["[bold]x[/bold] \\u001b[31mred\\u001b[0m \\u009b2J \\u0007bell"]
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def chattui_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "chattui", *args]


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Run:
    """Run chattui with stdout and stderr as pipes; stdin is the bytes given, else empty."""
    result = subprocess.run(
        chattui_cmd(*args),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Run(
        result.returncode,
        result.stdout.decode("utf-8", errors="replace"),
        result.stderr.decode("utf-8", errors="replace"),
    )


def run_on_tty(*args: str, columns: int = 80) -> Run:
    """Run chattui with stdout on a pseudo-terminal (stdin empty, stderr a pipe)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": "24"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        chattui_cmd(*args), stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError("chattui on a tty produced no output for 60 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = process.wait(timeout=60)
    assert process.stderr is not None
    return Run(
        code, b"".join(chunks).decode("utf-8", errors="replace"), process.stderr.read().decode()
    )
