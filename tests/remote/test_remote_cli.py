"""``chattui models`` and ``doctor`` with endpoints (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from chattui.cli.models import complete_model
from chattui.paths import resolve_paths
from chattui.store import ConversationStore
from tests.cli.conftest import chattui_cmd, run, run_on_tty
from tests.remote.servers import HOSTILE, KEY, FaultServer, write_endpoints


def test_add_endpoint_writes_the_table_and_keeps_comments(chattui_home: Path) -> None:
    catalog = resolve_paths({"CHATTUI_HOME": str(chattui_home)}).user_catalog
    catalog.parent.mkdir(parents=True)
    catalog.write_text('# my models\n[[models]]\nid = "x"  # a file\npath = "/x.gguf"\n')
    added = run(
        "models",
        "add-endpoint",
        "lab",
        "http://user:pw@gpu-box:8000/v1/",
        "--key-env",
        "LAB_KEY",
        "--model",
        "qwen2.5-72b",
    )
    assert added.code == 0, added.stderr
    assert "http://gpu-box:8000/v1" in added.stderr and "pw" not in added.stderr
    text = catalog.read_text()
    assert text.startswith("# my models\n") and "# a file" in text
    assert 'id = "lab"' in text and 'api_key_env = "LAB_KEY"' in text
    assert 'models = ["qwen2.5-72b"]' in text
    assert run("models", "add-endpoint", "lab", "http://other:1/v1").code == 0  # replaced
    assert catalog.read_text().count("[[endpoints]]") == 1
    assert run("models", "rm-endpoint", "lab").code == 0
    assert "[[endpoints]]" not in catalog.read_text() and "# a file" in catalog.read_text()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bad id", "http://x/v1"], "key 'id' is 'bad id'"),
        (["lab", "ftp://x/v1"], "an http:// or https:// URL"),
        (["lab", "http://x/v1", "--key-env", "A", "--key-cmd", "b"], "not both"),
        (["lab", "http://x/v1", "--key-env", "NOT-A-NAME"], "the name of an environment variable"),
    ],
)
def test_a_bad_endpoint_is_one_line_and_the_file_is_untouched(
    chattui_home: Path, args: list[str], said: str
) -> None:
    result = run("models", "add-endpoint", *args)
    assert result.code != 0 and said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not resolve_paths({"CHATTUI_HOME": str(chattui_home)}).user_catalog.exists()


def test_models_list_shows_remote_models_and_one_line_for_an_unreachable_endpoint(
    chattui_home: Path, fault: FaultServer
) -> None:
    write_endpoints(
        chattui_home,
        f'id = "lab"\nbase_url = "{fault.url("ok")}"',
        'id = "down"\nbase_url = "http://127.0.0.1:9/v1"',
    )
    listed = run("models", "list", "--json")
    assert listed.code == 0
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows["lab/fault-model"]["n_ctx"] == 1024 and "smollm2-135m" in rows
    assert listed.stderr.strip().splitlines() == [
        "chattui: endpoint 'down' (http://127.0.0.1:9/v1): cannot connect (is the server running?)"
    ]
    table = run("models", "list")
    assert "lab/fault-model" in table.stdout and "remote" in table.stdout


def test_doctor_checks_each_endpoint_without_showing_its_key(
    chattui_home: Path, fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    write_endpoints(
        chattui_home,
        f'id = "lab"\nbase_url = "{fault.url("auth")}"\napi_key_env = "LAB_KEY"',
        f'id = "nokey"\nbase_url = "{fault.url("auth")}"',
    )
    report = {c["name"]: c for c in json.loads(run("doctor", "--json").stdout)}
    lab = report["endpoint lab"]
    assert (
        lab["problem"] is None and "reachable, authorised, 1 model(s) (fault-model)" in lab["value"]
    )
    assert "HTTP 401" in report["endpoint nokey"]["problem"]
    assert KEY not in run("doctor").stdout + json.dumps(report)


def test_completion_offers_endpoints_then_their_models(
    chattui_home: Path, fault: FaultServer
) -> None:
    write_endpoints(chattui_home, f'id = "lab"\nbase_url = "{fault.url("ok")}"\nmodels = ["m1"]')
    assert "lab/" in complete_model("la")
    assert complete_model("lab/") == ["lab/", "lab/fault-model", "lab/m1"]
    assert complete_model("lab/f") == ["lab/fault-model"]


def test_models_default_takes_a_remote_model(chattui_home: Path) -> None:
    write_endpoints(chattui_home, 'id = "lab"\nbase_url = "http://127.0.0.1:9/v1"')
    assert run("models", "default", "lab/qwen").code == 0
    config = resolve_paths({"CHATTUI_HOME": str(chattui_home)}).config_file.read_text()
    assert 'model = "lab/qwen"' in config


def test_ctrl_c_hangs_up_on_the_server_and_keeps_the_partial_answer(
    chattui_home: Path, fault: FaultServer
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("endless")}"')
    process = subprocess.Popen(
        chattui_cmd("ask", "-m", "f/fault-model", "Go on forever."),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    first = os.read(process.stdout.fileno(), 20)  # streaming
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 130 and b"Traceback" not in err, err
    assert fault.cut.wait(10)  # the connection was closed, not left streaming
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    reply = store.get(store.recent()[0].id).messages[1]
    assert reply.info is not None and reply.info.finish_reason == "stopped"
    assert reply.info.endpoint == "f" and reply.content.startswith("word0 ")
    assert (first + rest).decode() == reply.content + "\n"


def test_ctrl_c_while_the_server_has_not_answered_exits_at_once(
    chattui_home: Path, fault: FaultServer
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("silent")}"')
    process = subprocess.Popen(
        chattui_cmd("ask", "-m", "f/fault-model", "Hello?"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while fault.requests["silent"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)  # the server would keep it 120 s
    assert process.returncode == 130 and b"Traceback" not in err, err
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    reply = store.get(store.recent()[0].id).messages[1]
    assert reply.info is not None and reply.info.finish_reason == "stopped"


def test_verbose_and_errors_never_show_the_key(
    chattui_home: Path, fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_KEY", KEY)
    write_endpoints(
        chattui_home, f'id = "f"\nbase_url = "{fault.url("echo-key")}"\napi_key_env = "LAB_KEY"'
    )
    result = run("ask", "-m", "f/fault-model", "hi", "--verbose")
    assert result.code == 1 and "HTTP 403" in result.stderr
    assert KEY not in result.stdout + result.stderr
    log = chattui_home / "cache" / "chattui.log"
    assert not log.exists() or KEY not in log.read_text()
    database = chattui_home / "data" / "chattui.db"
    assert not database.exists() or KEY.encode() not in database.read_bytes()


def test_a_servers_markup_and_escapes_never_reach_a_terminal(
    chattui_home: Path, fault: FaultServer
) -> None:
    write_endpoints(chattui_home, f'id = "f"\nbase_url = "{fault.url("hostile")}"')
    for fmt in ("markdown", "plain"):
        result = run_on_tty("ask", "-m", "f/fault-model", "go", "--format", fmt, "--reasoning")
        assert result.code == 0, result.stderr
        assert "[bold]x[/bold]" in result.stdout and "[red]thinking[/red]" in result.stdout
        assert "\x1b[31m" not in result.stdout and "\x9b" not in result.stdout
        assert "\x07" not in result.stdout and "\x1b]0;" not in result.stdout
    piped = run("ask", "-m", "f/fault-model", "go")
    assert piped.stdout == HOSTILE + "\n"  # a pipe gets the exact text, without the reasoning
    with_reasoning = run("ask", "-m", "f/fault-model", "go", "--reasoning")
    assert with_reasoning.stdout.startswith(
        "<think>\n\x1b]0;owned\x07 [red]thinking[/red]\n</think>"
    )
