"""The real app in a pseudo-terminal that a test can type into, read, and close."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

CONTROLLING = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', *sys.argv[1:]])"
)
"""``python -c CONTROLLING MODULE ARGS`` runs ``python -m MODULE ARGS`` as the leader of a new
session whose controlling terminal is the pty on its stdin, as a login shell's job is: closing
the terminal then sends it SIGHUP, as closing a window does."""


class Terminal:
    """``chattui ARGS`` on a 100x30 pseudo-terminal; what it draws is read as it comes."""

    def __init__(self, home: Path, *args: str, columns: int = 100, rows: int = 30) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {**os.environ, "CHATTUI_HOME": str(home), "TERM": "xterm-256color"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CONTROLLING, "chattui", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.output = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.closed = False

    def _drain(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.output += data

    def seen(self, text: str) -> bool:
        """Whether the app has drawn ``text`` (in one piece) since it started."""
        with self._lock:
            return text.encode() in self.output

    def wait_for(self, text: str, limit: float = 120.0) -> None:
        """Wait until the app draws ``text``."""
        deadline = time.monotonic() + limit
        while not self.seen(text):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the app never drew {text!r}")
            time.sleep(0.02)

    def type(self, text: str) -> None:
        """Send keystrokes (written as a terminal sends them, in pieces of at most 1 KiB)."""
        data = text.encode()
        for start in range(0, len(data), 1024):
            os.write(self.master, data[start : start + 1024])

    def wait(self, limit: float = 60.0) -> int:
        """Wait for the app to end by itself; its exit code, once all it drew has been read."""
        code = self.process.wait(limit)
        self._reader.join(10)  # the read fails once the app's end of the terminal is closed
        return code

    def close(self) -> None:
        """Close the terminal, as killing its window or tmux session does."""
        if self.closed:
            return
        self._stop.set()
        self._reader.join()
        os.close(self.master)
        self.closed = True

    def end(self) -> int:
        """Close the terminal if open, reap the app: its exit code (-9: it had to be killed)."""
        self.close()
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9
