"""Function calling with an endpoint: tools offered, streamed ``tool_calls`` deltas joined."""

from __future__ import annotations

import json

from chattui.conversation import Message, Role, ToolCall, ToolSpec
from chattui.sampling import GenerationOptions
from tests.remote.servers import FaultServer
from tests.remote.test_remote_engine import engine_for

ADD = ToolSpec(
    "calc__add",
    "Add two numbers.",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
)
ECHO = ToolSpec("calc__echo", "Say it back.", {"type": "object"})


def test_the_tools_are_offered_and_the_calls_joined(fault: FaultServer) -> None:
    engine = engine_for(fault.url("tool-calls"))
    reply = engine.stream(
        [Message(Role.USER, "2 + 40?")], GenerationOptions(tools=(ADD, ECHO), max_tokens=64)
    )
    text = "".join(reply)
    assert text == "Let me work that out."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("call_a", "calc__add", {"a": 2, "b": 40}),
        ("call_b", "calc__echo", {"text": "你好"}),
    ]
    body = fault.bodies[0]
    assert body["tools"] == [ADD.as_openai(), ECHO.as_openai()]
    assert body["tool_choice"] == "auto"


def test_no_tools_no_tools_field(fault: FaultServer) -> None:
    engine = engine_for(fault.url("ok"))
    reply = engine.stream([Message(Role.USER, "hi")], GenerationOptions())
    assert "".join(reply) == "Hello, world"
    assert reply.tool_calls == []
    assert "tools" not in fault.bodies[0]


def test_calls_and_results_go_back_in_their_place(fault: FaultServer) -> None:
    engine = engine_for(fault.url("ok"))
    call = ToolCall("call_a", "calc__add", '{"a": 2, "b": 40}', text="Adding.", result="42.0")
    history = [
        Message(Role.USER, "2 + 40?"),
        Message(Role.ASSISTANT, "It is 42.", tool_calls=(call,)),
        Message(Role.USER, "And now?"),
        Message(Role.ASSISTANT, "", tool_calls=(call,)),
    ]
    "".join(engine.stream(history, GenerationOptions(tools=(ADD,), tool_choice="required")))
    sent = fault.bodies[0]
    assert sent["tool_choice"] == "required"
    wire_call = {
        "role": "assistant",
        "content": "Adding.",
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "calc__add", "arguments": '{"a": 2, "b": 40}'},
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": "call_a", "content": "42.0"}
    assert sent["messages"] == [
        {"role": "user", "content": "2 + 40?"},
        wire_call,
        result,
        {"role": "assistant", "content": "It is 42."},
        {"role": "user", "content": "And now?"},
        wire_call,
        result,
    ]
