"""Crash-safe loading: probe children that crash, hang or fail, whatever CPU runs the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chattui.catalog import ResolvedModel
from chattui.conversation import Message, Role
from chattui.engine.base import EngineSettings
from chattui.engine.llama import LlamaEngine, build_identity, repack_choice
from chattui.engine.probe import CHILD, Outcome, Probe, RepackMode, Verdicts
from chattui.errors import ModelLoadError
from chattui.paths import resolve_paths
from chattui.sampling import GenerationOptions

SEGFAULT = [sys.executable, "-X", "faulthandler", "-c", "import ctypes; ctypes.string_at(0)"]
"""A child that really dies of SIGSEGV, as llama.cpp's AMX kernels do."""
HANG = [sys.executable, "-c", "import time; time.sleep(600)"]
FAIL = [sys.executable, "-c", "import sys; sys.exit('not enough memory to load the model')"]


def probe(folder: Path, command: list[str] | None, timeout: float | None = None) -> Probe:
    return Probe(Verdicts(folder), "build-1", 2, 0, command=command, timeout=timeout)


def test_a_child_killed_by_a_signal_turns_repacking_off_once(
    tmp_path: Path, demo_path: Path
) -> None:
    folder = tmp_path / "probes"
    choice = probe(folder, SEGFAULT).choose(RepackMode.AUTO, demo_path, "smollm2-135m")
    assert not choice.enabled
    assert choice.describe() == "off: a probe of smollm2-135m crashed with SIGSEGV on this CPU"
    (record,) = Verdicts(folder).records()
    assert record["outcome"] == Outcome.CRASHED and "Fatal Python error" in str(record["stderr"])
    assert (folder.stat().st_mode & 0o777) == 0o700
    # Remembered: the next load does not probe again (this child would fail if it ran).
    again = probe(folder, FAIL).choose(RepackMode.AUTO, demo_path, "smollm2-135m")
    assert again == choice


def test_a_child_that_hangs_is_killed_and_counts_as_a_crash(
    tmp_path: Path, demo_path: Path
) -> None:
    choice = probe(tmp_path, HANG, timeout=1).choose(RepackMode.AUTO, demo_path, "m")
    assert choice.describe() == "off: a probe of m hung (no answer within 1 s) on this CPU"


def test_a_child_that_fails_otherwise_is_reported_as_that(tmp_path: Path, demo_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"^not enough memory to load the model$"):
        probe(tmp_path, FAIL).choose(RepackMode.AUTO, demo_path, "m")
    assert Verdicts(tmp_path).records() == []  # no verdict: the next load probes again
    passing = [sys.executable, "-c", "pass"]
    assert probe(tmp_path, passing).choose(RepackMode.AUTO, demo_path, "m").enabled


def test_config_on_or_off_never_probes(tmp_path: Path, demo_path: Path) -> None:
    ran = tmp_path / "ran"
    touch = [sys.executable, "-c", f"open({str(ran)!r}, 'w')"]
    on = probe(tmp_path, touch).choose(RepackMode.ON, demo_path, "m")
    off = probe(tmp_path, touch).choose(RepackMode.OFF, demo_path, "m")
    assert on.describe() == 'on: cpu_repack = "on" in config.toml'
    assert off.describe() == 'off: cpu_repack = "off" in config.toml'
    assert not ran.exists()


def test_a_verdict_holds_for_one_build_and_one_model_file(tmp_path: Path, demo_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(demo_path.read_bytes()[:1000])
    crashed = probe(tmp_path, SEGFAULT).choose(RepackMode.AUTO, model, "m")
    passing = [sys.executable, "-c", "pass"]
    other_build = Probe(Verdicts(tmp_path), "build-2", 2, 0, command=passing)
    assert not crashed.enabled and other_build.choose(RepackMode.AUTO, model, "m").enabled
    os.utime(model, ns=(1, 1))  # the file was replaced
    assert probe(tmp_path, passing).choose(RepackMode.AUTO, model, "m").enabled


def test_the_real_probe_on_the_demo_model(tmp_path: Path, demo_path: Path) -> None:
    """The real child: a verdict, never a failure."""
    choice = repack_choice(demo_path, "smollm2-135m", EngineSettings(probe_folder=tmp_path))
    (record,) = Verdicts(tmp_path).records()
    assert record["outcome"] in (Outcome.PASSED, Outcome.CRASHED)
    assert choice.enabled is (record["outcome"] == Outcome.PASSED)
    assert record["model"] == "smollm2-135m" and float(str(record["seconds"])) > 0


def test_the_probe_child_reports_a_bad_file_in_one_line(tmp_path: Path, demo_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo_path.read_bytes()[:2_000_000])
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(cut), "2", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 3
    assert child.stderr.startswith("llama.cpp cannot load") and child.stderr.count("\n") == 1


def remember_a_crash(home: Path, model: ResolvedModel) -> None:
    """What a probe on a CPU whose repacked kernels crash leaves in the cache."""
    assert model.file is not None
    folder = resolve_paths({"CHATTUI_HOME": str(home)}).probe_dir
    for old in folder.glob("*.json"):
        old.unlink()
    threads, layers = 2, 0
    crash = Probe(Verdicts(folder), build_identity(), threads, layers, command=SEGFAULT)
    assert not crash.choose(RepackMode.AUTO, model.file, model.spec.id).enabled


def test_after_a_crashing_probe_chattui_runs_without_repacked_kernels(
    chattui_home: Path, demo_model: ResolvedModel, tmp_path: Path
) -> None:
    remember_a_crash(chattui_home, demo_model)
    env = {**os.environ, "CHATTUI_HOME": str(chattui_home)}
    doctor = subprocess.run(
        [sys.executable, "-m", "chattui", "doctor", "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    rows = {row["name"]: row for row in json.loads(doctor.stdout)}
    assert rows["cpu repack"]["value"] == (
        "off: a probe of smollm2-135m crashed with SIGSEGV on this CPU"
    )
    asked = subprocess.run(
        [sys.executable, "-m", "chattui", "ask", "--max-tokens", "4", "--json", "--verbose",
         "--ignore-eos", "hello"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["usage"]["completion_tokens"] == 4
    # llama.cpp was never offered an extra buffer type (its log names one when it is).
    assert "load_tensors" in asked.stderr and "REPACK model buffer" not in asked.stderr
    assert "preferred buffer type" not in asked.stderr


def test_the_choice_reaches_llama_cpp(
    demo_model: ResolvedModel, tmp_path: Path, probed: Path
) -> None:
    """With repacking off, llama.cpp is never offered its extra buffer types; on, it is."""
    assert demo_model.file is not None
    safe = repack_choice(demo_model.file, "demo", EngineSettings(probe_folder=probed)).enabled
    logs: dict[RepackMode, str] = {}
    for mode in (RepackMode.OFF, RepackMode.ON) if safe else (RepackMode.OFF,):
        log = tmp_path / f"{mode}.log"
        settings = EngineSettings(n_ctx=512, verbose=True, log_file=log, cpu_repack=mode)
        engine = LlamaEngine(demo_model.file, demo_model.spec, settings)
        try:
            assert engine.repack.enabled is (mode is RepackMode.ON)
            reply = engine.stream(
                [Message(Role.USER, "hi " * 40)], GenerationOptions(max_tokens=2, ignore_eos=True)
            )
            assert len(list(reply)) >= 1
        finally:
            engine.close()
        logs[mode] = log.read_text()
    assert "load_tensors" in logs[RepackMode.OFF] and "REPACK" not in logs[RepackMode.OFF]
    if safe and "REPACK = 1" in build_identity():  # this build has repacked kernels to offer
        assert "CPU_REPACK" in logs[RepackMode.ON]
