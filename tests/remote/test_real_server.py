"""``ask``, pipes, ``--json``, history and export against llama-cpp-python's own
OpenAI-compatible server on the demo model (issue 11); the app: tests/tui/test_remote_app.py."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run
from tests.remote.servers import KEY, write_endpoints


def test_ask_streams_from_the_server_and_saves_where_the_reply_came_from(
    lab: str, chattui_home: Path
) -> None:
    result = run("ask", "-m", "lab/smollm", "Name a colour.", "--max-tokens", "8", "--json")
    assert result.code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "lab/smollm" and answer["text"].strip()
    assert answer["finish_reason"] in ("stop", "length")
    assert 0 < answer["usage"]["completion_tokens"] <= 8
    shown = run("history", "show", answer["conversation_id"], "--json")
    info = json.loads(shown.stdout)["messages"][1]["info"]
    assert info["endpoint"] == "lab" and info["base_url"] == lab
    assert info["server_model"] == "smollm" and info["model_id"] == "lab/smollm"
    export = run("history", "export", answer["conversation_id"])
    assert export.code == 0 and "lab/smollm" in export.stdout
    database = chattui_home / "data" / "chattui.db"
    assert KEY.encode() not in database.read_bytes()
    assert KEY not in export.stdout + shown.stdout


def test_a_pipe_gets_the_exact_text_of_a_long_reply(lab: str) -> None:
    piped = "The river flows to the sea. 河流流向大海。\n" * 3
    result = run(
        "ask",
        "-m",
        "lab/smollm",
        "Summarize.",
        "--max-tokens",
        "40",
        "--ignore-eos",
        stdin=piped.encode(),
    )
    assert result.code == 0, result.stderr
    history = json.loads(run("history", "list", "--json").stdout)
    shown = json.loads(run("history", "show", history[0]["id"], "--json").stdout)
    user, reply = shown["messages"]
    assert user["content"].endswith("Summarize.") and "河流流向大海" in user["content"]
    assert result.stdout == reply["content"] + "\n"  # exactly the text, one newline
    assert reply["info"]["finish_reason"] == "length"  # ignore_eos reached the server


def test_ask_with_an_unreachable_endpoint_is_one_line(chattui_home: Path) -> None:
    write_endpoints(chattui_home, 'id = "down"\nbase_url = "http://127.0.0.1:9/v1"')
    result = run("ask", "-m", "down/any", "hi")
    assert result.code != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "chattui: endpoint 'down' (http://127.0.0.1:9/v1): cannot connect (is the server running?)"
    ]
