"""Starting the TUI: build its services (config, catalog, store, engine factory) and run it."""

from __future__ import annotations

from chattui.catalog import Catalog
from chattui.cli import signals
from chattui.config import load_config
from chattui.paths import resolve_paths


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
    store = ConversationStore(paths.database) if config.save_history else None
    app = ChatApp(
        Services(config, catalog, paths, store, open_engine),
        StartOptions(model, continue_latest, system_prompt, role, verbose),
    )
    try:
        app.run()
    finally:
        if store is not None:
            store.close()
    return None if app.terminated_by is None else signals.exit_code(app.terminated_by)
