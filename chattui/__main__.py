"""Entry point for ``python -m chattui``."""

from chattui.cli import main

main()
