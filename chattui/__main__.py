"""Entry point of ``python -m chattui`` and of the ``chattui`` command."""

from __future__ import annotations

import sys


def run() -> None:
    """Run the CLI; Ctrl+C while it is still starting up exits 130 too, without a traceback."""
    try:
        from chattui.cli import main

        main()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
