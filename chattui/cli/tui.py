"""Starting the TUI: build its services (config, catalog, store, engine factory) and run it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from chattui.catalog import Catalog
from chattui.cli import signals
from chattui.config import load_config
from chattui.crashes import CrashWatch
from chattui.exit_guard import ExitGuard
from chattui.paths import resolve_paths

if TYPE_CHECKING:
    from chattui.tui.app import ChatApp


def run_tui(
    *,
    model: str | None,
    continue_latest: bool,
    system_prompt: str | None = None,
    role: str | None = None,
    verbose: bool = False,
) -> int | None:
    """Open the chat app.

    Returns:
        None, or the exit code for the signal (SIGTERM, SIGHUP) that closed it.

    Raises:
        ChattuiError: The config, catalog or database cannot be used (before the screen opens).
    """
    from chattui.engine import open_engine
    from chattui.store import ConversationStore
    from chattui.tui.app import ChatApp
    from chattui.tui.services import Services, StartOptions

    paths = resolve_paths()
    config = load_config(paths.config_file)
    catalog = Catalog.load(paths.user_catalog, paths.models_dir)
    store = ConversationStore.at(paths, config.kv_cache_max_mb) if config.save_history else None
    watch = CrashWatch(paths.log_file, paths.runs_dir)
    notice = watch.start()
    terminal = sys.__stderr__.fileno() if sys.__stderr__ and sys.__stderr__.isatty() else None
    guard = ExitGuard(lambda: _exit_code(app) or 0, watch.stop, terminal)
    services = Services(config, catalog, paths, store, open_engine, guard)
    try:
        with signals.noted() as early:
            app = ChatApp(
                services,
                StartOptions(model, continue_latest, system_prompt, role, verbose, notice, early),
            )
            app.run()
    finally:
        watch.stop()
        if store is not None:
            store.close()
        services.close()
    if app.terminated_by is None and early:  # closed before the app mounted
        app.terminated_by = early[0]
    return _exit_code(app)


def _exit_code(app: ChatApp) -> int | None:
    """None, or the exit code for the signal (SIGTERM, SIGHUP) that closed the app."""
    return None if app.terminated_by is None else signals.exit_code(app.terminated_by)
