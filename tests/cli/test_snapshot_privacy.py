"""A snapshot's tokens are the chat's text: what is not saved, or deleted, is not kept there."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run


def usage(*args: str, stdin: bytes = b"") -> dict[str, int]:
    result = run("ask", *args, "--json", stdin=stdin)
    assert result.code == 0, result.stderr
    return dict(json.loads(result.stdout)["usage"])


def test_no_save_and_a_cap_of_zero_keep_no_snapshot(chattui_home: Path) -> None:
    text = ("The river carries water from the hills down to the sea every day. " * 30).encode()
    usage("Summarize this.", "--ignore-eos", "--max-tokens", "40", "--seed", "1", stdin=text)
    (snapshot,) = (chattui_home / "cache" / "kv").glob("*.kv")
    before = snapshot.read_bytes()
    unsaved = usage("-c", "--no-save", "Go on.", "--ignore-eos", "--max-tokens", "40")
    assert unsaved["prompt_tokens_restored"] > 300  # reading the chat's snapshot is fine
    assert snapshot.read_bytes() == before  # the turn kept out of the history is not in it
    other = run("ask", "-c", "--ctx", "2048", "--max-tokens", "2", "--verbose", "Hm?")
    assert other.code == 0
    assert (
        "chattui: the chat is evaluated from its start: the KV snapshot was made with another "
        "model, context, template or build\n"
    ) in other.stderr
    config = chattui_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("kv_cache_max_mb = 0\n")
    off = usage("-c", "--ctx", "2048", "Again.", "--max-tokens", "2")
    assert off["prompt_tokens_restored"] == 0
    assert list((chattui_home / "cache" / "kv").iterdir()) == []
