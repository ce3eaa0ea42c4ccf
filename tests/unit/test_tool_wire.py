"""Tool calls written and read as text, streamed deltas joined, calls and results wired."""

from __future__ import annotations

import json

from chattui.conversation import Message, Role, ToolCall, ToolSpec
from chattui.engine.tool_calls import (
    LLAMA3,
    CallWatcher,
    StreamedCalls,
    call_schema,
    grammar_schema,
    parse_text_calls,
    template_call_format,
    template_takes_tools,
    wire_messages,
)

ADD = ToolSpec("calc__add", "Add.", {"type": "object"})


def test_a_call_split_anywhere_is_held_back_from_the_reader() -> None:
    output = 'Sure. <tool_call>\n{"name": "calc__add", "arguments": {"a": 1}}\n</tool_call>'
    for cut in range(1, len(output)):
        watcher = CallWatcher()
        shown = watcher.feed(output[:cut]) + watcher.feed(output[cut:])
        held, calls = watcher.finish()
        assert shown + held == "Sure. "
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [("calc__add", {"a": 1})]


def test_text_that_only_looks_like_a_call_is_given_whole() -> None:
    watcher = CallWatcher()
    shown = "".join(watcher.feed(p) for p in ["a <to", "ol> and <tool_c", "all"])
    held, calls = watcher.finish()
    assert (shown + held, calls) == ("a <tool> and <tool_call", [])
    watcher = CallWatcher()
    assert watcher.feed("x <tool_ca") == "x "
    assert watcher.finish() == ("<tool_ca", [])


def test_parse_text_calls() -> None:
    text, calls = parse_text_calls(
        'Hi<tool_call>{"name": "a", "arguments": {"x": "line\nbreak"}}</tool_call>'
        '<tool_call>{"name": "b", "parameters": {}}</tool_call>'
    )
    assert text == "Hi"
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("a", {"x": "line\nbreak"}),
        ("b", {}),
    ]
    _, broken = parse_text_calls("<tool_call>{not json</tool_call>")
    assert (broken[0].name, broken[0].arguments) == ("", "{not json")
    assert parse_text_calls("no call") == ("no call", [])


def test_streamed_deltas_tolerate_junk() -> None:
    calls = StreamedCalls()
    calls.feed("not a list")
    calls.feed([None, {"index": 0, "id": "x", "function": {"name": "f", "arguments": '{"a"'}}])
    calls.feed([{"index": 0, "function": {"arguments": ": 1}"}}])
    calls.feed([{"index": "weird", "function": {"name": 5}}])
    joined = calls.calls()
    assert (joined[0].id, joined[0].name, joined[0].arguments) == ("x", "f", '{"a": 1}')


def test_call_schema_and_templates() -> None:
    assert call_schema([ADD])["properties"]["name"] == {"const": "calc__add"}
    assert len(call_schema([ADD, ADD])["oneOf"]) == 2
    assert template_takes_tools("{% if tools %}<tool_call>{% endif %}")
    assert not template_takes_tools("{{ messages }}")
    assert not template_takes_tools(None)


def test_text_wiring_of_a_finished_reply() -> None:
    call = ToolCall("c1", "calc__add", '{"a": 1}', result="2")
    wired = wire_messages(
        [Message(Role.USER, "q"), Message(Role.ASSISTANT, "It is 2.", tool_calls=(call,))],
        text=True,
    )
    assert [w["role"] for w in wired] == ["user", "assistant", "user", "assistant"]
    assert (
        wired[1]["content"]
        == '<tool_call>\n{"name": "calc__add", "arguments": {"a": 1}}\n</tool_call>'
    )
    assert wired[2]["content"] == "<tool_response>\n2\n</tool_response>"
    assert wired[3]["content"] == "It is 2."


def test_a_close_tag_inside_a_string_is_text() -> None:
    output = '<tool_call>\n{"name": "a", "arguments": {"x": "see </tool_call> here"}}\n</tool_call>'
    _, (call,) = parse_text_calls(output)
    assert json.loads(call.arguments) == {"x": "see </tool_call> here"}


def test_the_grammar_schema_bounds_what_a_model_could_write_forever() -> None:
    spec = ToolSpec(
        "f",
        "",
        {
            "type": "object",
            "properties": {
                "s": {"type": "string"},
                "n": {"type": "array", "items": {"type": "string"}},
                "e": {"enum": ["x"]},
            },
        },
    )
    arguments = grammar_schema([spec], room=1000)["properties"]["arguments"]
    assert arguments["additionalProperties"] is False
    assert arguments["properties"]["s"]["maxLength"] == (1000 - 64) // (2 * 8)
    assert arguments["properties"]["n"]["maxItems"] == 8
    assert "maxLength" not in arguments["properties"]["e"]
    assert (
        grammar_schema([spec], room=10)["properties"]["arguments"]["properties"]["s"]["maxLength"]
        == 16
    )


def test_bare_json_calls_begin_the_turn_or_not_at_all() -> None:
    call = '  {"name": "calc__add", "parameters": {"a": 1}}'
    for cut in range(1, len(call)):
        watcher = CallWatcher(LLAMA3)
        shown = watcher.feed(call[:cut]) + watcher.feed(call[cut:])
        held, calls = watcher.finish()
        assert (shown, held) == ("", "")
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [("calc__add", {"a": 1})]
    words = CallWatcher(LLAMA3)
    shown = words.feed(" ") + words.feed("Hi {there}") + words.feed(' {"name": "x"}')
    assert (shown, words.finish()) == (' Hi {there} {"name": "x"}', ("", []))
    assert template_call_format('{% if tools %}"parameters" ipython{% endif %}') is LLAMA3
