"""Function calling on the demo model: calls written under a grammar from the tools' schemas."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chattui.catalog import ResolvedModel
from chattui.conversation import Message, Role, ToolCall, ToolSpec
from chattui.engine.base import EngineSettings
from chattui.engine.llama import LlamaEngine
from chattui.engine.scripted import ScriptedEngine
from chattui.errors import ModelLoadError
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


QWEN_TEMPLATE = Path(__file__).with_name("data") / "qwen25_tools.jinja"
"""Qwen2.5's chat template as it handles tools (its tool parts, kept as Qwen wrote them)."""


@pytest.fixture(scope="module")
def templated(demo_model: ResolvedModel, probed: Path) -> Iterator[LlamaEngine]:
    """The demo model given a chat template that writes the tools itself (Qwen2.5's way)."""
    assert demo_model.file is not None
    spec = replace(demo_model.spec, chat_template_file=str(QWEN_TEMPLATE))
    loaded = LlamaEngine(demo_model.file, spec, EngineSettings(n_ctx=2048, probe_folder=probed))
    yield loaded
    loaded.close()


def test_a_template_that_takes_tools_writes_them_and_the_calls(templated: LlamaEngine) -> None:
    assert templated.template_tools
    call = ToolCall("call_1", ADD.name, '{"a": 2, "b": 40}', text="Adding.", result="42.0")
    going_on = [*QUESTION, Message(Role.ASSISTANT, "", tool_calls=(call,))]
    prompt = templated._llm.detokenize(templated.tokenize(going_on, (ADD,))).decode()
    assert "# Tools\n\nYou may call one or more functions" in prompt  # the template's words
    assert '"name": "calc__add"' in prompt and "<tools>" in prompt
    assert 'Adding.\n<tool_call>\n{"name": "calc__add", "arguments": {"a": 2, "b": 40}}' in prompt
    # (detokenized without its special tokens: <|im_end|> and <|im_start|> print as nothing)
    assert prompt.endswith("<tool_response>\n42.0\n</tool_response>\nassistant\n")
    for seed in range(5):
        options = GenerationOptions(tools=(ADD, WEATHER), tool_choice="required", seed=seed)
        reply = templated.stream(QUESTION, options)
        assert "".join(reply) == ""
        assert _valid(reply.tool_calls[0]) is None, reply.tool_calls


def test_an_unreadable_template_file_is_one_line(demo_model: ResolvedModel, probed: Path) -> None:
    assert demo_model.file is not None
    spec = replace(demo_model.spec, chat_template_file="/no/such/template.jinja")
    with pytest.raises(
        ModelLoadError, match=r"cannot read chat_template_file /no/such/template\.jinja"
    ):
        LlamaEngine(demo_model.file, spec, EngineSettings(probe_folder=probed))


LLAMA_TEMPLATE = Path(__file__).with_name("data") / "llama31_tools.jinja"
"""Llama 3.1's chat template as it handles tools (its builtin tools left out)."""


def test_a_llama_3_template_has_calls_written_as_its_bare_json(
    demo_model: ResolvedModel, probed: Path
) -> None:
    assert demo_model.file is not None
    spec = replace(demo_model.spec, chat_template_file=str(LLAMA_TEMPLATE))
    engine = LlamaEngine(demo_model.file, spec, EngineSettings(n_ctx=2048, probe_folder=probed))
    try:
        assert engine.template_tools and engine.call_format.name == "Llama 3 JSON"
        call = ToolCall("call_1", ADD.name, '{"a": 2, "b": 40}', result="42.0")
        going_on = [*QUESTION, Message(Role.ASSISTANT, "", tool_calls=(call,))]
        prompt = engine._llm.detokenize(engine.tokenize(going_on, (ADD,))).decode()
        assert "Environment: ipython" in prompt and '"name": "calc__add"' in prompt
        assert '{"name": "calc__add", "parameters": {"a": 2, "b": 40}}<|eot_id|>' in prompt
        assert prompt.endswith(
            'ipython<|end_header_id|>\n\n"42.0"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
        )
        for seed in range(5):
            options = GenerationOptions(tools=(ADD, WEATHER), tool_choice="required", seed=seed)
            reply = engine.stream(QUESTION, options)
            assert "".join(reply) == ""
            assert _valid(reply.tool_calls[0]) is None, reply.tool_calls
        words = engine.stream(QUESTION, GenerationOptions(tools=(ADD,), seed=1, max_tokens=12))
        text = "".join(words)
        assert (text != "") == (words.tool_calls == [])  # words for the reader, or a call
    finally:
        engine.close()
