"""Hard crashes leave a trace: every thread's Python stack in the private log, and a notice.

A native crash (a segfault in llama.cpp, an abort) ends the process before Python can say
anything. While ``ask`` or the app runs, ``faulthandler`` writes the stack of every thread to
the log file, and a small marker file says this run is live. The next start finds the marker of
a run that is gone, looks in the log for its stack, and says in one line that it crashed and
where the log is, so the user can report it. A run killed without a stack (SIGKILL, the
out-of-memory killer) leaves no stack and raises no notice.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import time
from pathlib import Path
from typing import IO

CRASH_MARK = b"Fatal Python error"
"""How faulthandler's report of a fatal signal begins."""


class CrashWatch:
    """Writes a crash's stacks to ``log_file`` while a run lives; reports earlier crashes."""

    def __init__(self, log_file: Path, runs_dir: Path) -> None:
        """Watch this process.

        Args:
            log_file: The private log, where stacks are appended.
            runs_dir: Where each live run keeps its marker.
        """
        self.log_file = log_file
        self.runs_dir = runs_dir
        self._log: IO[bytes] | None = None
        self._marker: Path | None = None

    def start(self) -> str | None:
        """Begin watching this run.

        Returns:
            One line about an earlier run that crashed, or None.
        """
        notice = self._earlier_crash()
        with contextlib.suppress(OSError):  # no log, no stacks: never a reason not to run
            self.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._log = os.fdopen(fd, "ab", buffering=0)
            faulthandler.enable(file=self._log, all_threads=True)
            self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            marker = self.runs_dir / f"{os.getpid()}.json"
            record = {"pid": os.getpid(), "offset": os.fstat(fd).st_size, "started": time.time()}
            marker.write_text(json.dumps(record))
            self._marker = marker
        return notice

    def stop(self) -> None:
        """This run ends normally: stop watching and forget its marker (safe to call twice)."""
        if self._log is not None:
            faulthandler.disable()
            self._log.close()
            self._log = None
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)
            self._marker = None

    def _earlier_crash(self) -> str | None:
        """The newest run that is gone with a stack in the log; every gone run is forgotten."""
        crashed: tuple[float, int] | None = None
        markers = sorted(self.runs_dir.glob("*.json")) if self.runs_dir.is_dir() else []
        for marker in markers:
            try:
                record = json.loads(marker.read_text())
                pid, offset, started = int(record["pid"]), int(record["offset"]), record["started"]
            except (OSError, ValueError, KeyError, TypeError):
                marker.unlink(missing_ok=True)
                continue
            if _alive(pid):
                continue
            marker.unlink(missing_ok=True)
            if self._stack_after(offset) and (crashed is None or started > crashed[0]):
                crashed = (float(started), pid)
        if crashed is None:
            return None
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(crashed[0]))
        return (
            f"the last run of chattui (started {when}, pid {crashed[1]}) crashed; "
            f"its stack is in {self.log_file}"
        )

    def _stack_after(self, offset: int) -> bool:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                return CRASH_MARK in log.read(1 << 20)
        except OSError:
            return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process now has the number
    return True
