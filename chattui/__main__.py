"""Entry point of ``python -m chattui`` and of the ``chattui`` command."""

from __future__ import annotations

import sys


def run() -> None:
    """Run the CLI; Ctrl+C while it is still starting up exits 130 too, without a traceback.

    SIGTERM and SIGHUP at that moment exit 143 and 129, as they do later.
    """
    try:
        from chattui.cli import main

        main()
    except KeyboardInterrupt as interrupt:
        from chattui.cli.signals import interrupt_code

        sys.exit(interrupt_code(interrupt))


if __name__ == "__main__":
    run()
