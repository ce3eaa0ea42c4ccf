"""Function calling on the demo model: calls written under a grammar from the tools' schemas."""

from __future__ import annotations

import json
import random

from chattui.conversation import Message, Role, ToolCall, ToolSpec
from chattui.engine.llama import LlamaEngine
from chattui.engine.scripted import ScriptedEngine
from chattui.sampling import GenerationOptions
from chattui.tools.tool import Tool, argument_problem

ADD = ToolSpec(
    "calc__add",
    "Add two numbers.",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
)
WEATHER = ToolSpec(
    "weather__now",
    "The weather in a city now.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "days": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
QUESTION = [Message(Role.USER, "Is it warm in 北京 now? And what is 2 + 40?")]


def _valid(call: ToolCall) -> str | None:
    spec = {ADD.name: ADD, WEATHER.name: WEATHER}.get(call.name)
    if spec is None:
        return f"no tool {call.name!r}"
    arguments = json.loads(call.arguments)
    return argument_problem(Tool("x", spec.name, "", spec.parameters), arguments)


def test_a_required_call_parses_and_fits_its_schema_every_time(engine: LlamaEngine) -> None:
    seeds = random.sample(range(2**31), 20)
    for seed in seeds:
        options = GenerationOptions(tools=(ADD, WEATHER), tool_choice="required", seed=seed)
        reply = engine.stream(QUESTION, options)
        text = "".join(reply)
        assert text == "", (seed, text)  # a call is not text for the reader
        assert len(reply.tool_calls) == 1, (seed, reply.tool_calls)
        assert _valid(reply.tool_calls[0]) is None, (seed, reply.tool_calls[0])


def test_greedy_and_hot_sampling_keep_to_the_grammar(engine: LlamaEngine) -> None:
    for temperature in (0.0, 1.5):
        options = GenerationOptions(
            tools=(WEATHER,), tool_choice="required", temperature=temperature, seed=7
        )
        reply = engine.stream(QUESTION, options)
        "".join(reply)
        assert _valid(reply.tool_calls[0]) is None


def test_auto_lets_the_model_answer_in_words(engine: LlamaEngine) -> None:
    options = GenerationOptions(tools=(ADD,), seed=3, max_tokens=40)
    reply = engine.stream([Message(Role.USER, "Say hello.")], options)
    text = "".join(reply)
    assert "<tool_call>" not in text and "<tool_" not in text
    if not reply.tool_calls:  # the model chose words: they all reached the reader
        assert reply.stats.completion_tokens > 0 and text
    else:
        assert all(_valid(call) is None for call in reply.tool_calls)


def test_tools_and_results_are_in_the_prompt_of_a_template_without_tools(
    engine: LlamaEngine,
) -> None:
    assert not engine.template_tools  # SmolLM2's template: the system prompt offers them
    call = ToolCall("call_1", ADD.name, '{"a": 2, "b": 40}', text="Adding.", result="42.0")
    going_on = [*QUESTION, Message(Role.ASSISTANT, "", tool_calls=(call,))]
    prompt = engine._llm.detokenize(engine.tokenize(going_on, (ADD,))).decode()
    assert '<tools>\n{"type": "function", "function": {"name": "calc__add"' in prompt
    assert 'Adding.\n<tool_call>\n{"name": "calc__add", "arguments": {"a": 2, "b": 40}}' in prompt
    assert prompt.rstrip().endswith("<tool_response>\n42.0\n</tool_response>\nassistant")
    reply = engine.stream(going_on, GenerationOptions(tools=(ADD,), seed=1, max_tokens=8))
    "".join(reply)
    assert reply.stats.prompt_tokens == len(engine.tokenize(going_on, (ADD,)))


def test_a_scripted_engine_writes_calls_too() -> None:
    script = (
        'Let me add.<tool_call>{"name": "calc__add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    )
    engine = ScriptedEngine([script, "It is 3."])
    reply = engine.stream(QUESTION, GenerationOptions(tools=(ADD,)))
    assert "".join(reply) == "Let me add."
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("calc__add", {"a": 1, "b": 2})
    ]
    call = ToolCall("c", "calc__add", '{"a": 1, "b": 2}', result="3")
    after = engine.stream(
        [*QUESTION, Message(Role.ASSISTANT, "", tool_calls=(call,))],
        GenerationOptions(tools=(ADD,)),
    )
    assert "".join(after) == "It is 3." and after.tool_calls == []
    plain = ScriptedEngine([script]).stream(QUESTION, GenerationOptions())
    assert "".join(plain) == script  # no tools offered: it is only text
