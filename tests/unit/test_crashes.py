"""A hard crash leaves its stack in the log, and the next start says so in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from chattui.crashes import CrashWatch
from chattui.paths import resolve_paths


def watched_child(home: Path, then: str) -> subprocess.CompletedProcess[str]:
    """A process that starts a CrashWatch as chattui does, then runs ``then``."""
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    script = textwrap.dedent(
        f"""
        import ctypes, os, signal, threading, time
        from pathlib import Path
        from chattui.crashes import CrashWatch
        watch = CrashWatch(Path({str(paths.log_file)!r}), Path({str(paths.runs_dir)!r}))
        watch.start()
        threading.Thread(target=time.sleep, args=(60,), name="worker", daemon=True).start()
        {then}
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def watch(home: Path) -> CrashWatch:
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    return CrashWatch(paths.log_file, paths.runs_dir)


def test_a_segfault_is_logged_and_reported_once(chattui_home: Path) -> None:
    crashed = watched_child(chattui_home, "ctypes.string_at(0)")
    assert crashed.returncode == -signal.SIGSEGV
    log = resolve_paths({"CHATTUI_HOME": str(chattui_home)}).log_file
    text = log.read_text()
    assert "Fatal Python error: Segmentation fault" in text
    assert text.count("(most recent call first)") >= 2  # every thread's stack
    assert (log.stat().st_mode & 0o777) == 0o600
    next_run = watch(chattui_home)
    notice = next_run.start()
    next_run.stop()
    assert notice is not None and "\n" not in notice
    assert notice.startswith("the last run of chattui (started ")
    assert notice.endswith(f"crashed; its stack is in {log}")
    again = watch(chattui_home)
    assert again.start() is None  # said once
    again.stop()


def test_runs_that_ended_or_were_killed_without_a_stack_say_nothing(chattui_home: Path) -> None:
    assert watched_child(chattui_home, "watch.stop()").returncode == 0
    killed = watched_child(chattui_home, "os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == -signal.SIGKILL
    runs = resolve_paths({"CHATTUI_HOME": str(chattui_home)}).runs_dir
    assert len(list(runs.iterdir())) == 1  # the killed one's marker
    run = watch(chattui_home)
    assert run.start() is None
    assert [p.name for p in runs.iterdir()] == [f"{os.getpid()}.json"]
    run.stop()
    assert list(runs.iterdir()) == []


def test_a_live_run_is_not_a_crash(chattui_home: Path) -> None:
    first = watch(chattui_home)
    second = watch(chattui_home)
    assert first.start() is None
    assert second.start() is None
    second.stop()
    first.stop()


def test_ask_after_a_crash_says_so_and_answers(chattui_home: Path) -> None:
    env = {**os.environ, "CHATTUI_HOME": str(chattui_home)}
    ask = [sys.executable, "-m", "chattui", "ask", "--ignore-eos"]
    running = subprocess.Popen(
        [*ask, "--max-tokens", "4000", "write on"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert running.stdout is not None
    assert running.stdout.read(1)  # the reply is streaming: a native crash now
    running.send_signal(signal.SIGSEGV)
    assert running.wait(60) == -signal.SIGSEGV
    after = subprocess.run(
        [*ask, "--max-tokens", "4", "hi"], capture_output=True, text=True, env=env, timeout=300
    )
    assert after.returncode == 0 and after.stdout
    log = resolve_paths({"CHATTUI_HOME": str(chattui_home)}).log_file
    assert after.stderr == (
        f"chattui: the last run of chattui (started {after.stderr.split('started ')[1][:16]}, "
        f"pid {running.pid}) crashed; its stack is in {log}\n"
    )
    assert "in run_ask" in log.read_text()  # the stack of where it was
