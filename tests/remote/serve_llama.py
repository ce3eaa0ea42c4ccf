"""llama-cpp-python's OpenAI-compatible server, loading with the repack choice chattui makes.

On a CPU whose repacked kernels crash (AMX), the stock server dies at its first prompt, as
chattui would without its probe. This wrapper asks the same crash-safe probe, then runs the
server with the same setting.

Run: python -m tests.remote.serve_llama PROBE_FOLDER --model MODEL [llama_cpp.server options]
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from chattui.engine.base import EngineSettings
from chattui.engine.llama import extra_buffer_types, repack_choice


def main(argv: list[str]) -> None:
    folder, options = Path(argv[0]), argv[1:]
    model = Path(options[options.index("--model") + 1])
    choice = repack_choice(model, model.stem, EngineSettings(probe_folder=folder))
    sys.argv = ["llama_cpp.server", *options]
    with extra_buffer_types(choice.enabled):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
