"""Start-up: `chattui --help` and a one-shot `ask` against `llm` on the same model, paired.

Each rep runs chattui's command and llm's one after the other (the order turns round each rep),
and the figures are the medians of the paired ratios chattui / llm:

- ``chattui --help`` vs ``llm --help`` (aim <= 0.15);
- ``chattui ask --no-save --max-tokens 16 hi`` vs ``llm -m bench -n hi`` (aim <= 0.50), the
  demo model on both sides, 16 tokens at most on both (llm-gguf's model has no limit of its own:
  bench/llm_max_tokens adds one), and the peak memory of the two (aim <= 1.0).

Then where chattui's time goes, from one more run of each command: the interpreter alone, the
imports (``-X importtime``: the biggest top-level ones), and for ``ask`` the stages inside
(config, catalog, model load, first token, the rest).

chattui runs in a fresh CHATTUI_HOME (nothing of yours read or saved); llm in a virtualenv of
its own, made once by ``--setup`` (llm, llm-gguf and the llama-cpp-python chattui runs on).

Run: python -m bench.startup --setup     (once: builds the llm virtualenv)
     python -m bench.startup [--reps 7]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bench.common import demo_model, interleaved, paired_ratios

LLM_VENV = Path.home() / ".cache" / "chattui-bench" / "llm-venv"
SHIM = Path(__file__).parent / "llm_max_tokens"
ASK = ["ask", "--no-save", "--max-tokens", "16", "hi"]
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def setup(venv: Path) -> None:
    """Make llm's virtualenv: llm, llm-gguf, the same llama-cpp-python, the max-tokens shim."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pinned = f"llama-cpp-python=={version('llama-cpp-python')}"  # pip's cached wheel
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "llm", "llm-gguf", pinned, str(SHIM)], check=True)


def run(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run ``command`` to completion: its wall seconds and peak memory (KiB)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    _, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {err.decode(errors='replace')[-500:]}")
    return wall, usage.ru_maxrss


def compare(
    label: str, aim: float, ours: list[tuple[float, int]], theirs: list[tuple[float, int]]
) -> None:
    """Print the medians and the median of the paired ratios."""
    ratio, pairs = paired_ratios([o[0] for o in ours], [t[0] for t in theirs])
    print(
        f"{label}: chattui {statistics.median(o[0] for o in ours):.3f} s, "
        f"llm {statistics.median(t[0] for t in theirs):.3f} s, "
        f"chattui / llm {ratio:.2f} (aim <= {aim:.2f}; pairs {pairs})"
    )


def imports(command: list[str], env: dict[str, str], top: int = 8) -> str:
    """The biggest imports of one run two levels down, by their cumulative time."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    found = []
    for line in result.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match is None:
            continue
        depth = (len(match.group(3)) - 1) // 2
        if depth == 0:
            total += int(match.group(2))
        if (depth == 0 and match.group(4) != "chattui.cli") or depth == 1:
            found.append((int(match.group(2)), match.group(4)))
    found.sort(reverse=True)
    parts = ", ".join(f"{name} {us / 1000:.0f}" for us, name in found[:top])
    return f"imports {total / 1000:.0f} ms in all (-X importtime); the biggest (ms): {parts}"


STAGES = """
import json, sys, time
marks = [("start", time.perf_counter())]
from chattui.cli.ask import AskRequest  # noqa: E402  the modules `ask` imports
from chattui.catalog import Catalog
from chattui.config import load_config
from chattui.paths import resolve_paths
marks.append(("chattui imports", time.perf_counter()))
paths = resolve_paths()
config = load_config(paths.config_file)
marks.append(("config", time.perf_counter()))
model = Catalog.load(paths.user_catalog, paths.models_dir).choose(None, None, None, config.model)
marks.append(("catalog", time.perf_counter()))
from chattui.engine import open_engine
from chattui.engine.base import EngineSettings
import llama_cpp
marks.append(("llama_cpp import", time.perf_counter()))
engine = open_engine(model, EngineSettings.from_config(config, paths))
marks.append(("model load", time.perf_counter()))
from chattui.conversation import Message, Role
from chattui.sampling import GenerationOptions
reply = engine.stream([Message(Role.USER, "hi")], GenerationOptions(max_tokens=16))
first = next(iter(reply), None)
marks.append(("prompt and first token", time.perf_counter()))
for _ in reply:
    pass
marks.append(("the other tokens", time.perf_counter()))
print(json.dumps([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])]))
"""


def stages(env: dict[str, str]) -> str:
    """Where a one-shot ask's time goes inside the process, stage by stage (one run)."""
    result = subprocess.run(
        [sys.executable, "-c", STAGES], env=env, capture_output=True, text=True, check=True
    )
    parts = json.loads(result.stdout.strip().splitlines()[-1])
    return "stages (ms): " + ", ".join(f"{name} {s * 1000:.0f}" for name, s in parts)


def main() -> None:
    """Measure both commands against llm; print ratios and the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--llm-venv", type=Path, default=LLM_VENV)
    parser.add_argument("--setup", action="store_true", help="make llm's virtualenv and stop")
    args = parser.parse_args()
    if args.setup:
        setup(args.llm_venv)
        return
    llm = args.llm_venv / "bin" / "llm"
    if not llm.exists():
        raise SystemExit(f"no llm at {llm}: run python -m bench.startup --setup first")
    model = demo_model()
    assert model.file is not None
    with tempfile.TemporaryDirectory() as home:
        # As an installed package runs: from compiled bytecode (pip compiles it at install).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
            "CHATTUI_HOME": home,
            "LLM_USER_PATH": home,
            "CHATTUI_BENCH_GGUF": str(model.file),
            "CHATTUI_BENCH_MAX_TOKENS": "16",
        }
        chattui = [sys.executable, "-m", "chattui"]
        theirs_ask = [str(llm), "-m", "bench", "-n", "hi"]
        run([*chattui, *ASK], env)  # the first ask probes the CPU (crash-proof loading)
        run(theirs_ask, env)
        python = statistics.median(run([sys.executable, "-c", "pass"], env)[0] for _ in range(5))
        print(f"python -c pass {python:.3f} s; {args.reps} paired reps, medians")

        def measure(command: list[str]) -> tuple[float, int]:
            return run(command, env)

        runs = interleaved(
            {"ours": [*chattui, "--help"], "theirs": [str(llm), "--help"]}, args.reps, measure
        )
        compare("--help", 0.15, runs["ours"], runs["theirs"])
        print("  " + imports([*chattui[1:], "--help"], env))
        runs = interleaved({"ours": [*chattui, *ASK], "theirs": theirs_ask}, args.reps, measure)
        ours, theirs = runs["ours"], runs["theirs"]
        compare("ask hi, 16 tokens", 0.50, ours, theirs)
        memory, _ = paired_ratios([o[1] for o in ours], [t[1] for t in theirs])
        print(
            f"  peak memory: chattui {statistics.median(o[1] for o in ours) / 1024:.0f} MiB, "
            f"llm {statistics.median(t[1] for t in theirs) / 1024:.0f} MiB, "
            f"chattui / llm {memory:.2f} (aim <= 1.00)"
        )
        print("  " + imports([*chattui[1:], *ASK], env))
        print("  " + stages(env))


if __name__ == "__main__":
    main()
