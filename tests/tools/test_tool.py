"""Tools' schemas and arguments checked; results cut to a budget with the real tokenizer."""

from __future__ import annotations

import pytest

from chattui.conversation import Message, Role
from chattui.engine.llama import LlamaEngine
from chattui.tools.tool import Tool, argument_problem, cut_result, parse_arguments, schema_problem

ADD = Tool(
    "calc",
    "add",
    "Add two numbers.",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
)


def test_schemas() -> None:
    assert schema_problem(ADD.input_schema) is None
    assert schema_problem({"type": "object"}) is None
    assert schema_problem({"type": "string"}) == "its input schema does not describe an object"
    assert schema_problem([1]) == "its input schema is not an object"
    problem = schema_problem({"type": "object", "properties": {"x": {"type": 7}}})
    assert problem is not None and problem.startswith("its input schema is invalid: ")


def test_arguments() -> None:
    assert argument_problem(ADD, {"a": 1, "b": 2.5}) is None
    assert argument_problem(ADD, {"a": 1}) == "'b' is a required property"
    assert argument_problem(ADD, {"a": "1", "b": 2}) == "a: '1' is not of type 'number'"
    assert argument_problem(ADD, [1, 2]) == "the arguments are not a JSON object"
    assert "not allowed" in (argument_problem(ADD, {"a": 1, "b": 2, "c": 3}) or "")


def test_parse_arguments() -> None:
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("  ") == {}
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_arguments('{"a": ')
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_arguments("[1]")


@pytest.mark.parametrize("unit", ["word ", "汉字", '{"k": [1, 2]}\n'])
def test_a_result_is_cut_to_its_budget_in_tokens(engine: LlamaEngine, unit: str) -> None:
    def count(text: str) -> int:
        return engine.count_tokens([Message(Role.USER, text)])

    short = unit * 10
    assert cut_result(short, 500, count) == short
    long = unit * 200_000
    cut = cut_result(long, 500, count)
    body, note = cut.split("\n\n[chattui: the result was cut to ")
    assert count(body) <= 500
    assert len(body) > 100
    assert note.endswith(f" of {len(long)} characters]")
    assert long.startswith(body)
