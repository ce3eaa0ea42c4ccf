"""Crash-safe loading: a child process tries llama.cpp's repacked CPU kernels before we do.

llama.cpp repacks a model's weights into "extra buffer types" for the fastest kernels the CPU
has (AMX, AVX512, ARM's KleidiAI). A defect in such a kernel kills the process with a signal and
no message: on CPUs with AMX, llama.cpp 0.3.36's first batch of more than one token segfaults
(llama.cpp issue 20824). So before a model is first used with them on a machine, a child loads
it the same way and evaluates a prompt batch and a decoding step. A child killed by a signal, or
one that hangs, means "load without extra buffer types"; a child that fails otherwise (a bad
file, no memory) is reported as that. The verdict is remembered in the cache folder, keyed by
llama.cpp's build, the CPU's feature flags and the model file, so the probe runs once.

A vision projector (mmproj) is probed the same way before its first use with a model: a child
loads both and evaluates an image. One that crashes leaves the model reading no images, and
says why; it never takes the process down.

The child is ``python -c CHILD MODEL THREADS GPU_LAYERS [PROJECTOR REPACK]``: it runs ``main``.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chattui.cpu import cpu_features
from chattui.errors import ChattuiError, ModelLoadError

EXIT_FAILED = 3
"""The child's exit code when it reports an error of its own (one line on stderr)."""
CHILD = "import sys; from chattui.engine.probe import main; sys.exit(main(sys.argv[1:]))"
"""The child's program (not ``-m``: this module is imported by the engine package already)."""
BASE_TIMEOUT = 120.0
"""Seconds a probe of a small model may take before it counts as hung."""
TIMEOUT_PER_GIB = 60.0
"""More seconds for each GiB of model file (read from disk, then one batch evaluated)."""


class RepackMode(enum.StrEnum):
    """``cpu_repack`` in config.toml."""

    AUTO = "auto"
    """A probe decides, once per model, llama.cpp build and CPU."""
    ON = "on"
    """Always use the repacked kernels (llama.cpp's own default)."""
    OFF = "off"
    """Never use them."""


@dataclass(frozen=True, slots=True)
class RepackChoice:
    """Whether a model loads with llama.cpp's extra buffer types, and why."""

    enabled: bool
    reason: str
    """For ``doctor``: "a probe of smollm2-135m crashed with SIGSEGV on this CPU"."""

    def describe(self) -> str:
        """``on: ...`` or ``off: ...``."""
        return f"{'on' if self.enabled else 'off'}: {self.reason}"


class Outcome(enum.StrEnum):
    """How a probe child ended."""

    PASSED = "passed"
    CRASHED = "crashed"
    """Killed by a signal, or hung and killed after the timeout."""
    FAILED = "failed"
    """Exited with an error of its own: not a verdict on the kernels."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe child did."""

    outcome: Outcome
    detail: str
    """The signal ("SIGSEGV"), "no answer within 120 s", or the child's error message."""
    seconds: float
    stderr: str = ""
    """The end of what the child wrote on stderr (a crash's stack, for the log)."""


def run_probe(command: Sequence[str], timeout: float) -> ProbeResult:
    """Run a probe child and classify how it ended.

    The child gets its own session, so Ctrl+C in the terminal reaches only chattui, which
    then kills the child and gives up the probe (no verdict).

    Raises:
        KeyboardInterrupt: The user interrupted the probe (the child is killed first).
    """
    import subprocess  # here: `chattui --help` imports this module, and needs no subprocess

    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    hung = False
    try:
        try:
            _, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            child.kill()
            _, err = child.communicate()
    except BaseException:
        child.kill()
        child.wait()
        raise
    seconds = time.perf_counter() - started
    stderr = err.decode("utf-8", errors="replace")[-4000:]
    code = child.returncode
    if hung:
        return ProbeResult(Outcome.CRASHED, f"no answer within {timeout:.0f} s", seconds, stderr)
    if code == 0:
        return ProbeResult(Outcome.PASSED, "", seconds, stderr)
    if code < 0 and -code != signal.SIGKILL:
        return ProbeResult(Outcome.CRASHED, _signal_name(-code), seconds, stderr)
    if code < 0:  # SIGKILL we did not send: most likely the kernel's out-of-memory killer
        detail = "the probe was killed (SIGKILL), most likely for lack of memory"
        return ProbeResult(Outcome.FAILED, detail, seconds, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    detail = lines[-1].strip() if lines else f"the probe exited with code {code}"
    return ProbeResult(Outcome.FAILED, detail, seconds, stderr)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def file_identity(path: Path) -> list[str]:
    """A model file's identity: where it is, its size and modification time."""
    stat = path.stat()
    return [str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]


class Verdicts:
    """Probe verdicts remembered in a folder, one small JSON file each (0600)."""

    def __init__(self, folder: Path | None) -> None:
        """Remember verdicts in ``folder``; None remembers nothing (every load probes)."""
        self.folder = folder

    def get(self, key: str) -> dict[str, object] | None:
        """The record under ``key``, or None if there is none (or it is unreadable)."""
        if self.folder is None:
            return None
        try:
            record = json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and "outcome" in record else None

    def put(self, key: str, record: dict[str, object]) -> None:
        """Remember ``record`` (atomically; a folder that cannot be written remembers nothing)."""
        if self.folder is None:
            return
        import tempfile

        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, scratch = tempfile.mkstemp(dir=self.folder, suffix=".part")
            with os.fdopen(fd, "w") as file:
                json.dump(record, file, ensure_ascii=False, indent=1)
            Path(scratch).replace(self.folder / f"{key}.json")

    def records(self) -> list[dict[str, object]]:
        """Every remembered record (for ``doctor``)."""
        if self.folder is None or not self.folder.is_dir():
            return []
        found = [self.get(path.stem) for path in sorted(self.folder.glob("*.json"))]
        return [record for record in found if record is not None]


@dataclass(frozen=True, slots=True)
class Probe:
    """How to probe a model: where verdicts are kept and what the child runs with."""

    verdicts: Verdicts
    build: str
    """llama.cpp's build identity (version, features, library files)."""
    threads: int
    gpu_layers: int
    command: Sequence[str] | None = None
    """The child's command; None runs ``main`` below in a new Python (tests give others)."""
    timeout: float | None = None
    """Seconds before the child counts as hung; None scales with the model file's size."""

    def key(self, path: Path) -> str:
        """The verdict's key: llama.cpp build, CPU features and model file."""
        parts = [self.build, cpu_features(), *file_identity(path)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]

    def choose(self, mode: RepackMode, path: Path, model_name: str) -> RepackChoice:
        """Decide whether ``path`` loads with extra buffer types, probing it if need be.

        Raises:
            ModelLoadError: The probe failed for a reason other than a crash (a bad file, no
                memory); the message is the child's own.
        """
        if mode is RepackMode.ON:
            return RepackChoice(True, 'cpu_repack = "on" in config.toml')
        if mode is RepackMode.OFF:
            return RepackChoice(False, 'cpu_repack = "off" in config.toml')
        key = self.key(path)
        record = self.verdicts.get(key)
        if record is None:
            result = run_probe(self._command(path), self.timeout or self._timeout(path))
            record = self._remember(key, result, model_name, path)
        return verdict_choice(record)

    def check_projector(
        self, path: Path, projector: Path, model_name: str, extra_bufts: bool
    ) -> str | None:
        """Probe the vision projector with the model, once per build, CPU and pair of files.

        Returns:
            None when it may be loaded; else why not ("a probe of its projector crashed...").

        Raises:
            ModelLoadError: The probe failed for a reason other than a crash (its message).
        """
        parts = ["projector", self.key(path), *file_identity(projector), str(extra_bufts)]
        key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
        record = self.verdicts.get(key)
        if record is None:
            command = [*self._command(path), str(projector), "1" if extra_bufts else "0"]
            timeout = self.timeout or self._timeout(path) + self._timeout(projector)
            result = run_probe(command, timeout)
            record = self._remember(key, result, f"{model_name} with its projector", projector)
        choice = verdict_choice(record)
        return None if choice.enabled else choice.reason

    def _remember(
        self, key: str, result: ProbeResult, model_name: str, path: Path
    ) -> dict[str, object]:
        """Keep a probe's verdict under ``key``; a failure is no verdict (it is raised).

        Raises:
            ModelLoadError: The child failed for a reason other than a crash (its message).
        """
        if result.outcome is Outcome.FAILED:
            raise ModelLoadError(result.detail)
        record: dict[str, object] = {
            "outcome": str(result.outcome),
            "detail": result.detail,
            "model": model_name,
            "file": str(path),
            "seconds": round(result.seconds, 3),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "stderr": result.stderr[-2000:] if result.outcome is Outcome.CRASHED else "",
        }
        self.verdicts.put(key, record)
        return record

    def _command(self, path: Path) -> list[str]:
        if self.command is not None:
            return list(self.command)
        return [
            sys.executable,
            "-c",
            CHILD,
            str(path),
            str(self.threads),
            str(self.gpu_layers),
        ]

    @staticmethod
    def _timeout(path: Path) -> float:
        return BASE_TIMEOUT + TIMEOUT_PER_GIB * path.stat().st_size / 2**30


def verdict_choice(record: dict[str, object]) -> RepackChoice:
    """The choice a remembered probe record stands for, with its reason in words."""
    model = record.get("model", "the model")
    if record.get("outcome") == Outcome.PASSED:
        return RepackChoice(True, f"a probe of {model} passed on this CPU")
    if str(record.get("detail", "")).startswith("no answer"):
        how = f"hung ({record.get('detail')})"
    else:
        how = f"crashed with {record.get('detail')}"
    return RepackChoice(False, f"a probe of {model} {how} on this CPU")


def main(argv: Sequence[str]) -> int:
    """The probe child: load the model with extra buffer types, evaluate, exit.

    Returns:
        0 when it worked; ``EXIT_FAILED`` with one line on stderr when the model cannot be
        loaded. A crash in llama.cpp ends the process by a signal before anything returns.
    """
    import faulthandler

    faulthandler.enable(all_threads=True)  # a crash's Python stack goes to the parent
    try:
        path, threads, gpu_layers = Path(argv[0]), int(argv[1]), int(argv[2])
        projector = Path(argv[3]) if len(argv) > 3 else None
        extra_bufts = len(argv) > 4 and argv[4] == "1"
    except (IndexError, ValueError):
        print("usage: MODEL THREADS GPU_LAYERS [PROJECTOR REPACK]", file=sys.stderr)
        return 2
    # Orphaned (chattui killed meanwhile), a hung child still ends on its own.
    faulthandler.dump_traceback_later(BASE_TIMEOUT + TIMEOUT_PER_GIB * 64, exit=True)
    from chattui.engine.llama import probe_model, probe_projector

    try:
        if projector is not None:
            probe_projector(path, threads, gpu_layers, projector, extra_bufts)
        else:
            probe_model(path, threads, gpu_layers)
    except ChattuiError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILED
    return 0
