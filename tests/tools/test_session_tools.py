"""A chat whose model calls tools: approval, steps, limits, Esc, saved, searched, exported."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chattui.catalog import EngineKind, ModelSpec, ResolvedModel
from chattui.chat import ChatSession
from chattui.conversation import ToolCall, ToolOutcome
from chattui.engine.llama import LlamaEngine
from chattui.engine.scripted import ScriptedEngine
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore
from chattui.tools.runner import DENIED, Approval, CallRequest, ToolRunner
from chattui.transcript import from_document, to_document, to_markdown
from tests.tools.conftest import MakeServers, stdio

MODEL = ResolvedModel(ModelSpec(id="scripted", name="S", engine=EngineKind.SCRIPTED), None)


def call(name: str, **arguments: object) -> str:
    """A scripted reply that calls ``name``."""
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"Let me check.<tool_call>{body}</tool_call>"


class Asker:
    """Answers approvals as told, and keeps what it was asked."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[CallRequest] = []

    def __call__(self, request: CallRequest) -> Approval:
        self.asked.append(request)
        return self.answers.pop(0) if self.answers else Approval.ONCE


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    opened = ConversationStore(tmp_path / "chats.db")
    yield opened
    opened.close()


def chat(
    store: ConversationStore,
    tool_servers: MakeServers,
    replies: list[str],
    asker: Asker,
    **runner: object,
) -> ChatSession:
    servers = tool_servers(stdio("t"))
    tools = ToolRunner(servers, approve=asker, **runner)  # type: ignore[arg-type]
    return ChatSession(
        ScriptedEngine(replies), MODEL, GenerationOptions(), store=store, tools=tools
    )


def test_an_approved_call_runs_and_the_reply_goes_on(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    asker = Asker(Approval.ONCE)
    session = chat(store, tool_servers, [call("t__add", a=2, b=40), "It is 42."], asker)
    turn = session.send("What is 2 + 40?")
    seen: list[tuple[str, bool]] = []
    turn.on_tool = lambda c, starting: seen.append((c.name, starting))
    assert "".join(turn) == "Let me check.It is 42."
    assert seen == [("t__add", True), ("t__add", False)]
    (step,) = turn.steps
    assert (step.name, json.loads(step.arguments), step.result) == (
        "t__add",
        {"a": 2, "b": 40},
        "42.0",
    )
    assert step.outcome is ToolOutcome.RAN and step.text == "Let me check."
    assert [(r.tool.qualified, r.arguments) for r in asker.asked] == [("t.add", {"a": 2, "b": 40})]
    assert session.cid is not None
    saved = store.get(session.cid).messages[-1]
    assert saved.content == "It is 42." and saved.tool_calls == (step,)
    assert saved.info is not None and saved.info.finish_reason == "stop"


def test_the_calls_are_searched_exported_and_imported(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(
        store, tool_servers, [call("t__echo", text="zanzibar 蓝色海洋"), "Done."], Asker()
    )
    list(session.send("Echo something"))
    assert session.cid is not None
    hits = store.search("zanzibar")
    assert [h.id for h in hits] == [session.cid]
    assert store.search("蓝色")[0].id == session.cid
    conversation = store.get(session.cid)
    document = json.loads(json.dumps(to_document(conversation, store.tree(session.cid))))
    assert document["messages"][-1]["tool_calls"][0]["result"] == "zanzibar 蓝色海洋"
    copy = store.import_conversation(from_document(document, "export.json"))
    assert store.get(copy).messages[-1].tool_calls == conversation.messages[-1].tool_calls
    markdown = to_markdown(conversation)
    assert "- Tool: t.echo" in markdown and "zanzibar 蓝色海洋" in markdown


def test_a_denied_call_is_not_run_and_the_model_is_told(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(store, tool_servers, [call("t__die"), "Fine."], Asker(Approval.DENY))
    turn = session.send("Stop the server")
    assert "".join(turn).endswith("Fine.")
    (step,) = turn.steps
    assert (step.outcome, step.result) == (ToolOutcome.DENIED, DENIED)
    assert session.tools is not None
    pid = session.tools.servers.call(session.tools.tool("t__pid"), {})  # type: ignore[arg-type]
    assert pid.text.isdigit()  # the server never died: die was not run


def test_always_asks_once_for_the_chat_and_auto_approve_never(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    asker = Asker(Approval.ALWAYS)
    replies = [call("t__add", a=1, b=1), call("t__add", a=2, b=2), call("t__echo", text="x"), "ok"]
    session = chat(store, tool_servers, replies, asker, auto_approve=["t.echo"])
    turn = session.send("go")
    list(turn)
    assert [s.result for s in turn.steps] == ["2.0", "4.0", "x"]
    assert len(asker.asked) == 1


def test_unknown_tools_and_bad_arguments_are_told_to_the_model(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    replies = [call("t__nope"), call("t__add", a="two"), "Sorry."]
    session = chat(store, tool_servers, replies, Asker())
    turn = session.send("go")
    list(turn)
    unknown, bad = turn.steps
    assert unknown.outcome is ToolOutcome.FAILED and "no tool named 't__nope'" in unknown.result
    assert "t__add" in unknown.result
    assert bad.outcome is ToolOutcome.FAILED and "do not fit" in bad.result


def test_the_step_limit_makes_the_model_answer(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    loop = call("t__add", a=1, b=1)
    session = chat(store, tool_servers, [loop], Asker(), max_steps=3)
    turn = session.send("loop forever")
    text = "".join(turn)
    assert len(turn.steps) == 3
    assert "last of the 3 tool calls" in turn.steps[-1].result
    assert "<tool_call>" in text  # the fourth step was offered no tools: its call is only text


def test_esc_during_a_call_stops_it_and_keeps_what_was_done(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(store, tool_servers, [call("t__sleep", seconds=60), "never"], Asker())
    turn = session.send("wait")
    started = threading.Event()
    turn.on_tool = lambda c, starting: started.set() if starting else None
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append("".join(turn)))
    worker.start()
    assert started.wait(60)
    turn.stop()
    worker.join(60)
    assert done == ["Let me check."]
    (step,) = turn.steps
    assert step.outcome is ToolOutcome.STOPPED
    assert session.cid is not None
    saved = store.get(session.cid).messages[-1]
    assert saved.tool_calls == (step,)
    assert saved.info is not None and saved.info.finish_reason == "stopped"


def test_a_huge_result_is_cut_for_the_model(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(store, tool_servers, [call("t__huge", mib=1), "ok"], Asker(), result_tokens=100)
    turn = session.send("go")
    list(turn)
    assert "[chattui: the result was cut to" in turn.steps[0].result
    assert len(turn.steps[0].result) < 1000


def test_a_call_carried_on_from_history_reaches_the_engine(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(store, tool_servers, [call("t__add", a=1, b=2), "3", "again"], Asker())
    list(session.send("1+2"))
    list(session.send("and again?"))
    assert isinstance(session.history[1].tool_calls[0], ToolCall)
    assert [m.content for m in session.history] == ["1+2", "3", "and again?", "again"]


def test_on_the_demo_model_a_required_call_is_made_and_answered(
    store: ConversationStore,
    tool_servers: MakeServers,
    engine: LlamaEngine,
    demo_model: ResolvedModel,
) -> None:
    asker = Asker()

    def only_safe(request: CallRequest) -> Approval:  # the model may pick any tool: not sleep
        asker.asked.append(request)
        return Approval.ONCE if request.tool.name in ("add", "echo", "env") else Approval.DENY

    runner = ToolRunner(tool_servers(stdio("t")), approve=only_safe, max_steps=2)
    options = GenerationOptions(tool_choice="required", seed=11, max_tokens=48)
    session = ChatSession(engine, demo_model, options, store=store, tools=runner)
    turn = session.send("What is 2 + 40? Use the add tool.")
    list(turn)
    first = turn.steps[0]
    assert first.outcome in (ToolOutcome.RAN, ToolOutcome.DENIED), first
    assert runner.tool(first.name) is not None and json.loads(first.arguments) is not None
    assert asker.asked and asker.asked[0].tool.qualified == runner.tool(first.name).qualified  # type: ignore[union-attr]
    assert session.cid is not None
    saved = store.get(session.cid).messages[-1]
    assert saved.tool_calls[0] == first
    assert saved.info is not None and saved.info.finish_reason in ("stop", "length")


def test_a_continued_reply_keeps_its_calls(
    store: ConversationStore, tool_servers: MakeServers
) -> None:
    session = chat(store, tool_servers, [call("t__add", a=2, b=2), "Four", " and more."], Asker())
    list(session.send("2 + 2?"))
    first = session.history[-1]
    continued = session.continue_reply()
    assert "".join(continued) == " and more."
    latest = session.history[-1]
    assert latest.content == "Four and more." and latest.tool_calls == first.tool_calls
    assert session.cid is not None
    assert store.get(session.cid).messages[-1].tool_calls == first.tool_calls
