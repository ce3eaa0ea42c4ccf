from __future__ import annotations

from pathlib import Path

import pytest

from chattui.config import Config, load_config
from chattui.errors import ConfigError
from chattui.paths import resolve_paths


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "config.toml") == Config()


def test_full_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """# my settings
model = "smollm2"
system_prompt = "Be brief."
temperature = 0.5
top_p = 0.8
top_k = 20
min_p = 0.1
repeat_penalty = 1.2
max_tokens = 300
seed = 7
context_size = 4096
threads = 2
gpu_layers = 0
theme = "nord"
save_history = false
cpu_repack = "off"
"""
    )
    config = load_config(path)
    assert config.model == "smollm2" and config.system_prompt == "Be brief."
    assert config.sampling.temperature == 0.5 and config.sampling.top_k == 20
    assert config.sampling.max_tokens == 300 and config.sampling.seed == 7
    assert config.context_size == 4096 and config.threads == 2 and config.gpu_layers == 0
    assert config.theme == "nord" and config.save_history is False
    assert config.cpu_repack == "off"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("temperature = 'hot'\n", "key 'temperature' is 'hot'; allowed: a number from 0.0 to 5.0"),
        ("temperature = 9\n", "key 'temperature' is 9; allowed: a number from 0.0 to 5.0"),
        ("top_k = 2.5\n", "key 'top_k' is 2.5; allowed: a whole number from 0 to 1000"),
        ("save_history = 'yes'\n", "key 'save_history' is 'yes'; allowed: true or false"),
        ("context_size = 10\n", "key 'context_size' is 10; allowed: a whole number from 256"),
        ("threads = true\n", "key 'threads' is true"),
        ("temprature = 0.3\n", "unknown key 'temprature'; allowed keys:"),
        ("model = [1, 2]\n", r"key 'model' is \[1, 2\]; allowed: a string"),
        ("temperature = = 1\n", r"not valid TOML: .*line 1"),
        ("temperature = nan\n", "allowed: a number from 0.0 to 5.0"),
        (
            "cpu_repack = 'maybe'\n",
            """key 'cpu_repack' is 'maybe'; allowed: "auto", "on" or "off\"""",
        ),
        ("cpu_repack = false\n", "key 'cpu_repack' is false; allowed: "),
    ],
)
def test_bad_config_is_one_line_and_file_untouched(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)
    assert path.read_text() == text


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"model = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_paths_follow_chattui_home(tmp_path: Path) -> None:
    paths = resolve_paths({"CHATTUI_HOME": str(tmp_path)})
    assert paths.config_file == tmp_path / "config" / "config.toml"
    assert paths.user_catalog == tmp_path / "config" / "models.toml"
    assert paths.database == tmp_path / "data" / "chattui.db"
    assert paths.models_dir == tmp_path / "data" / "models"
    assert set(paths.as_dict()) == {
        "config",
        "models_toml",
        "data",
        "database",
        "models",
        "cache",
        "roles",
        "knowledge_bases",
        "kv_snapshots",
        "probes",
        "log",
        "tool_logs",
    }


def test_paths_default_to_platformdirs() -> None:
    import platformdirs

    paths = resolve_paths({})
    assert paths.config_dir == Path(platformdirs.user_config_dir("chattui", appauthor=False))
    assert paths.data_dir == Path(platformdirs.user_data_dir("chattui", appauthor=False))


@pytest.mark.parametrize(
    ("table", "shown", "secret"),
    [
        ('api_key_env = "sk-live-0123456789abcdef"', "(not shown: it may be a secret)", "sk-live"),
        ('headers = "Bearer sk-live-0123456789"', "(not shown: it may be a secret)", "sk-live"),
        ('base_url = "ftp://me:hunter2@example.com/v1"', "'ftp://***@example.com/v1'", "hunter2"),
    ],
)
def test_errors_never_print_a_secret(tmp_path: Path, table: str, shown: str, secret: str) -> None:
    from chattui.catalog import Catalog

    path = tmp_path / "models.toml"
    fields = {"id": '"lab"', "base_url": '"http://gpu-box:8000/v1"'}
    key = table.split(" = ")[0]
    fields[key] = table.split(" = ", 1)[1]
    path.write_text("[[endpoints]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items()))
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path, tmp_path / "models")
    assert shown in str(caught.value) and secret not in str(caught.value)
