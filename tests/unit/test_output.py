from __future__ import annotations

import io
import json

from chattui.cli.output import JsonWriter, PlainWriter
from chattui.engine.base import FinishReason, TurnStats
from chattui.markdown_blocks import split_settled
from chattui.terminal_text import json_safe, printable

HOSTILE = "[bold]x[/bold] \x1b[31mred\x1b[0m \x9b2J \x07 \r over\r\n"


def test_printable_neutralises_controls() -> None:
    safe = printable(HOSTILE)
    assert "[bold]x[/bold]" in safe
    assert not any(ch in safe for ch in "\x1b\x9b\x07")
    assert "␛[31m" in safe and "\r\n" in safe and "␍ over" in safe
    assert printable("tab\tnew\nline ünïcode 🙂") == "tab\tnew\nline ünïcode 🙂"


def test_split_settled_waits_for_code_fences() -> None:
    assert split_settled("para one\n\npara two") == len("para one\n\n")
    text = "intro\n\n```python\nx = 1\n\ny = 2\n"
    assert split_settled(text) == len("intro\n\n")
    done = text + "```\n\nafter"
    assert split_settled(done) == len(text + "```\n\n")
    assert split_settled("no blank line yet") == 0


def test_plain_writer_exact_in_pipe_and_safe_on_terminal() -> None:
    pipe = io.StringIO()
    writer = PlainWriter(pipe, terminal=False)
    writer.write(HOSTILE)
    writer.finish(None)
    assert pipe.getvalue() == HOSTILE + "\n"
    tty = io.StringIO()
    PlainWriter(tty, terminal=True).write(HOSTILE)
    assert "\x1b" not in tty.getvalue()


def test_json_writer_fields_and_c1_escaped() -> None:
    out = io.StringIO()
    writer = JsonWriter(out, "m", 0.5)
    writer.write(HOSTILE)
    stats = TurnStats(10, 4, 3, 0.1, 0.2, FinishReason.STOP, 0, 42)
    writer.finish(stats)
    raw = out.getvalue()
    assert "\x9b" not in raw and "\x1b" not in raw
    doc = json.loads(raw)
    assert doc["text"] == HOSTILE and doc["model"] == "m" and doc["finish_reason"] == "stop"
    assert doc["usage"] == {
        "prompt_tokens": 10,
        "prompt_tokens_evaluated": 4,
        "prompt_tokens_restored": 6,
        "completion_tokens": 3,
    }
    assert doc["timings"]["decode_tokens_per_second"] == 10.0
    assert json.loads(json_safe(json.dumps("\x7f", ensure_ascii=False))) == "\x7f"
