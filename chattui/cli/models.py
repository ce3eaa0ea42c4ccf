"""``chattui models``: list, inspect, download, register, remove and choose models."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from chattui.catalog import Catalog, EngineKind, ModelSpec
from chattui.cli.output import confirm_deletion, echo, print_json, table
from chattui.config import load_config
from chattui.endpoints import Endpoint, public_url
from chattui.errors import ChattuiError, ModelNotFoundError, UsageError
from chattui.paths import resolve_paths

LIST_TIMEOUT = 3.0
"""Seconds ``models list`` waits for an endpoint."""

models_app = typer.Typer(name="models")  # its help: GROUPS in cli/__init__.py


def _catalog() -> Catalog:
    paths = resolve_paths()
    return Catalog.load(paths.user_catalog, paths.models_dir)


def complete_model(incomplete: str) -> list[str]:
    """Shell completion: catalog ids and aliases, and ``ENDPOINT/`` then the models it serves.

    The server is asked (1 s at most) only once an endpoint's id and its slash are typed.
    """
    try:
        catalog = _catalog()
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    names = [name for spec in catalog for name in (spec.id, *spec.aliases)]
    names += [f"{e.id}/" for e in catalog.endpoints] + catalog.remote_names()
    endpoint = catalog.endpoint(incomplete.partition("/")[0]) if "/" in incomplete else None
    if endpoint is not None:
        from chattui.engine.remote import list_models

        with contextlib.suppress(Exception):  # an endpoint that does not answer offers no more
            names += [f"{endpoint.id}/{m.id}" for m in list_models(endpoint, timeout=1.0)]
    return sorted({name for name in names if name.startswith(incomplete)})


ModelArgument = Annotated[
    str, typer.Argument(help="Model id or alias.", autocompletion=complete_model)
]


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000  # type: ignore[assignment]
    return "?"


def _row(catalog: Catalog, spec: ModelSpec) -> dict[str, Any]:
    where = None if spec.engine is EngineKind.SCRIPTED else catalog.locate(spec)
    present = catalog.is_installed(spec)
    size = where.stat().st_size if present and where is not None else spec.size
    return {
        "id": spec.id,
        "name": spec.name,
        "aliases": list(spec.aliases),
        "installed": present,
        "size": size,
        "path": str(where) if where else None,
        "license": spec.license,
        "url": spec.url,
        "sha256": spec.sha256,
        "pinned": spec.sha256 is not None,
        "reads_images": spec.mmproj is not None,
        "mmproj": str(catalog.locate_projector(spec.mmproj)) if spec.mmproj else None,
    }


def _remote_rows(catalog: Catalog) -> tuple[list[dict[str, Any]], list[str]]:
    """The models each endpoint serves, asked all at once with a short timeout.

    Returns:
        One row per remote model, and one line per endpoint that could not be asked.
    """
    if not catalog.endpoints:
        return [], []
    from concurrent.futures import ThreadPoolExecutor

    from chattui.engine.remote import list_models

    def ask(endpoint: Endpoint) -> tuple[Endpoint, list[Any] | str]:
        try:
            return endpoint, list_models(endpoint, timeout=LIST_TIMEOUT)
        except ChattuiError as error:
            return endpoint, str(error)

    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=min(8, len(catalog.endpoints))) as pool:
        for endpoint, answer in pool.map(ask, catalog.endpoints):
            if isinstance(answer, str):
                failures.append(answer)
                continue
            rows += [
                {
                    "id": f"{endpoint.id}/{model.id}",
                    "name": model.id,
                    "endpoint": endpoint.id,
                    "base_url": endpoint.public_url,
                    "n_ctx": model.n_ctx,
                    "installed": True,
                }
                for model in answer
            ]
    return rows, failures


@models_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the catalog, and the models each endpoint serves (asked with a short timeout)."""
    catalog = _catalog()
    rows = [_row(catalog, spec) for spec in catalog]
    remote, failures = _remote_rows(catalog)
    for failure in failures:  # one line each; the list goes on
        echo(f"chattui: {failure}", err=True)
    if as_json:
        print_json(rows + remote)
        return
    table(
        ["id", "name", "size", "installed", "sha256", "path", "license"],
        [
            [
                r["id"],
                r["name"],
                _size(r["size"]),
                "yes" if r["installed"] else "no",
                "pinned" if r["pinned"] else "-",
                r["path"] or "",
                r["license"],
            ]
            for r in rows
        ]
        + [
            [r["id"], r["name"], "-", "remote", "-", r["base_url"], f"ctx {r['n_ctx'] or '?'}"]
            for r in remote
        ],
    )


@models_app.command("add-endpoint")
def add_endpoint(
    endpoint_id: Annotated[
        str, typer.Argument(metavar="ID", help="Short name: models are ID/MODEL.")
    ],
    url: Annotated[str, typer.Argument(help="Base URL, up to /v1: http://gpu-box:8000/v1")],
    key_env: Annotated[
        str | None, typer.Option("--key-env", help="Environment variable holding the API key.")
    ] = None,
    key_cmd: Annotated[
        str | None, typer.Option("--key-cmd", help="Command printing the API key.")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", help="A model it serves (for servers that do not list theirs)."),
    ] = None,
    n_ctx: Annotated[
        int | None, typer.Option("--n-ctx", help="Context size, if the server does not say.")
    ] = None,
    ca_bundle: Annotated[
        str | None, typer.Option("--ca-bundle", help="PEM file of a private CA to trust.")
    ] = None,
) -> None:
    """Add (or replace) an OpenAI-compatible endpoint in your models.toml (comments kept)."""
    from chattui.toml_edit import add_entry

    if key_env and key_cmd:
        raise UsageError("give --key-env or --key-cmd, not both")
    entry = {
        "id": endpoint_id,
        "base_url": url,
        "api_key_env": key_env,
        "api_key_cmd": key_cmd,
        "models": models or None,
        "n_ctx": n_ctx,
        "ca_bundle": ca_bundle,
    }
    add_entry(resolve_paths().user_catalog, "endpoints", entry)
    echo(
        f"added endpoint {endpoint_id} ({public_url(url)}); "
        f"chattui models list shows its models, chattui -m {endpoint_id}/MODEL uses one",
        err=True,
    )


@models_app.command("rm-endpoint")
def rm_endpoint(
    endpoint_id: Annotated[str, typer.Argument(metavar="ID", help="The endpoint's id.")],
) -> None:
    """Remove an endpoint from your models.toml."""
    from chattui.toml_edit import remove_entry

    path = resolve_paths().user_catalog
    if not remove_entry(path, "endpoints", endpoint_id):
        raise UsageError(f"no endpoint '{endpoint_id}' in {path}")
    echo(f"removed endpoint {endpoint_id}", err=True)


@models_app.command()
def info(
    model: Annotated[
        str, typer.Argument(help="Id, alias or .gguf path.", autocompletion=complete_model)
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    with_hash: Annotated[bool, typer.Option("--hash", help="Also compute the sha256.")] = False,
) -> None:
    """Read a model's GGUF header: architecture, parameters, quantization, context, template."""
    from chattui.engine.llama import chat_template
    from chattui.engine.tool_calls import template_call_format
    from chattui.gguf import kv_bytes_per_token, quantization, read_metadata, trained_context

    resolved = _catalog().resolve(model)
    if resolved.file is None:
        raise UsageError(f"'{model}' is a scripted model; it has no file")
    meta = read_metadata(resolved.file)
    template = chat_template(resolved.spec, meta)
    doc: dict[str, Any] = {
        "id": resolved.spec.id,
        "path": str(resolved.file),
        "file_size": resolved.file.stat().st_size,
        "architecture": meta.get("general.architecture"),
        "name": meta.get("general.name"),
        "parameters": meta.get("GGUF.parameter_count"),
        "quantization": quantization(meta),
        "context_length": trained_context(meta),
        "kv_cache_mib_per_1000_tokens": (
            round(per_token * 1000 / 2**20, 1) if (per_token := kv_bytes_per_token(meta)) else None
        ),
        "has_chat_template": bool(template),
        "mmproj": str(resolved.projector) if resolved.projector else None,
        "tools": (
            f"offered by its chat template, calls as {form.name} under a grammar"
            if (form := template_call_format(template)) and not resolved.spec.chat_format
            else "offered in the system prompt, calls as <tool_call> under a grammar"
        ),
        "chat_template": template,
        "gguf_version": meta.get("GGUF.version"),
    }
    if with_hash:
        from chattui.download import file_sha256

        doc["sha256"] = file_sha256(resolved.file)
        if resolved.spec.sha256:
            doc["sha256_matches_catalog"] = doc["sha256"] == resolved.spec.sha256
    if as_json:
        print_json(doc)
        return
    for key, value in doc.items():
        if key == "chat_template":
            continue
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        echo(f"{key:<28} {shown}")
    if template:
        echo("chat_template:")
        echo(str(template))


@models_app.command()
def pull(model: ModelArgument) -> None:
    """Download a catalog model (and its vision projector), with progress; resumes."""
    catalog = _catalog()
    spec = catalog.get(model)
    if spec is None:
        catalog.resolve(model)  # raises the unknown-model error
        raise ModelNotFoundError(f"unknown model '{model}'")
    files: list[tuple[str, str | None, Path, int | None, str | None]] = []
    if not (spec.package or spec.path or spec.engine is EngineKind.SCRIPTED):
        files.append((spec.id, spec.url, catalog.locate(spec), spec.size, spec.sha256))
    if spec.mmproj is not None and not spec.mmproj.path:
        mmproj = spec.mmproj
        where = catalog.locate_projector(mmproj)
        files.append((f"{spec.id} projector", mmproj.url, where, mmproj.size, mmproj.sha256))
    if not files or any(url is None and not target.is_file() for _, url, target, _, _ in files):
        raise UsageError(f"'{spec.id}' has no download URL; it is installed another way")
    for label, url, target, size, sha256 in files:
        if target.is_file():
            echo(f"{label} is already downloaded: {target}", err=True)
            continue
        assert url is not None
        _pull_file(label, url, target, size, sha256)


def _pull_file(label: str, url: str, target: Path, size: int | None, sha256: str | None) -> None:
    """Download one file to ``target``, verified, with a progress bar; Ctrl+C leaves a part."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from chattui.download import download, part_path

    console = _stderr_console()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=False,
        console=console,
        disable=not console.is_terminal,  # no bar drawn into logs
    ) as progress:
        task = progress.add_task(label, total=size)

        def show(state: Any) -> None:
            progress.update(task, completed=state.done, total=state.total)

        try:
            done = download(url, target, size=size, sha256=sha256, on_progress=show)
        except KeyboardInterrupt:
            progress.stop()
            echo(f"interrupted; run the same command to resume ({part_path(target)})", err=True)
            raise typer.Exit(130) from None
    echo(f"downloaded {label} to {target}; verified {done.verified}", err=True)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@models_app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A .gguf file; it stays where it is.")],
    model_id: Annotated[str | None, typer.Option("--id", help="Id to give it.")] = None,
    chat_format: Annotated[
        str | None, typer.Option(help="Chat format, if the file has no template.")
    ] = None,
    mmproj: Annotated[
        Path | None,
        typer.Option("--mmproj", help="Its vision projector (.gguf): the model reads images."),
    ] = None,
) -> None:
    """Register a GGUF file where it lies (no copy) in your models.toml."""
    from chattui.catalog import KNOWN_CHAT_FORMATS
    from chattui.gguf import read_metadata, trained_context
    from chattui.toml_edit import add_model_entry

    file = path.expanduser().absolute()
    if not file.is_file():
        raise UsageError(f"no such file: {file}")
    meta = read_metadata(file)
    if chat_format is not None and chat_format not in KNOWN_CHAT_FORMATS:
        raise UsageError(f"--chat-format {chat_format}: allowed: {', '.join(KNOWN_CHAT_FORMATS)}")
    if not meta.get("tokenizer.chat_template") and chat_format is None:
        raise UsageError(
            f"{file.name} has no chat template; add it with --chat-format "
            f"({', '.join(KNOWN_CHAT_FORMATS)})"
        )
    projector = _projector_file(mmproj) if mmproj is not None else None
    new_id = model_id or file.stem.lower()
    catalog = _catalog()
    existing = catalog.get(new_id)
    if existing is not None and not existing.path:
        raise UsageError(f"'{new_id}' is already a catalog model; choose another --id")
    context = min(trained_context(meta) or 4096, 8192)
    add_model_entry(
        resolve_paths().user_catalog,
        {
            "id": new_id,
            "name": str(meta.get("general.name") or file.stem),
            "path": str(file),
            "n_ctx": context,
            "chat_format": chat_format,
            "mmproj": {"path": str(projector)} if projector is not None else None,
        },
    )
    echo(f'added {new_id} ({file}); use it with: chattui ask -m {new_id} "..."', err=True)


def _projector_file(path: Path) -> Path:
    """``--mmproj``: the absolute path of a vision projector GGUF.

    Raises:
        UsageError: It is missing, or not a projector.
    """
    from chattui.gguf import read_metadata

    file = path.expanduser().absolute()
    if not file.is_file():
        raise UsageError(f"--mmproj: no such file: {file}")
    if read_metadata(file).get("general.architecture") != "clip":
        raise UsageError(
            f"--mmproj: {file.name} is not a vision projector (a GGUF of architecture 'clip',"
            " usually named mmproj-*.gguf)"
        )
    return file


@models_app.command()
def rm(
    model: ModelArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a downloaded model file; a file added in place is only unregistered."""
    from chattui.toml_edit import remove_model_entry

    catalog = _catalog()
    spec = catalog.get(model)
    if spec is None:
        catalog.resolve(model)
        raise ModelNotFoundError(f"unknown model '{model}'")
    paths = resolve_paths()
    if spec.path:
        if not remove_model_entry(paths.user_catalog, spec.id):
            raise UsageError(f"'{spec.id}' is not in {paths.user_catalog}")
        echo(f"unregistered {spec.id}; the file stays at {spec.path}", err=True)
        return
    if spec.package:
        raise UsageError(
            f"'{spec.id}' comes with the {spec.package.replace('_', '-')} package; remove it with "
            f"pip uninstall {spec.package.replace('_', '-')}"
        )
    from chattui.download import part_path

    target = catalog.locate(spec)
    leftovers = [p for p in (target, part_path(target)) if p.exists()]
    if not leftovers:
        raise UsageError(f"'{spec.id}' is not downloaded")
    if not yes:
        confirm_deletion(f"Delete {', '.join(map(str, leftovers))}?")
    for leftover in leftovers:
        leftover.unlink()
    echo(f"deleted {spec.id}", err=True)


@models_app.command()
def default(model: ModelArgument) -> None:
    """Make a model the default (written to config.toml, comments kept)."""
    from chattui.toml_edit import set_config_value

    resolved = _catalog().resolve(model)
    paths = resolve_paths()
    load_config(paths.config_file)  # refuse to touch a broken file
    set_config_value(paths.config_file, "model", resolved.spec.id)
    echo(f"default model: {resolved.spec.id}", err=True)
