"""Branches on the real engine: versions are kept, and a branch reuses the cache to its fork."""

from __future__ import annotations

from pathlib import Path

from chattui.catalog import ResolvedModel
from chattui.chat import ChatSession
from chattui.conversation import Message, Role
from chattui.engine.llama import LlamaEngine
from chattui.paths import resolve_paths
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore

SHORT = GenerationOptions(temperature=0.0, max_tokens=6)


def test_versions_are_kept_and_a_switched_branch_evaluates_from_its_fork(
    chattui_home: Path, demo_model: ResolvedModel, engine: LlamaEngine
) -> None:
    store = ConversationStore(resolve_paths().database)
    session = ChatSession(engine, demo_model, SHORT, store=store)
    list(session.send("Name a colour. " * 30))  # a long shared beginning
    list(session.send("And a fruit?"))
    first = session.history[-1]
    regenerated = session.regenerate()
    list(regenerated)
    second = session.history[-1]
    assert session.cid is not None and first.id is not None and second.id is not None
    assert session.branch(second) == (2, 2)
    # The shared beginning (everything before the fruit question's reply) was not evaluated.
    shared = engine.count_tokens(session.prompt_messages(session.history[:-1]))
    assert regenerated.stats.prompt_evaluated < regenerated.stats.prompt_tokens - shared // 2
    assert session.show_sibling(second, -1)
    assert session.history[-1].id == first.id and store.leaf(session.cid) == first.id
    turn = session.send("And a vegetable?")
    list(turn)
    # Back on the first branch: the cache still holds the part both branches share.
    after_fork = engine.count_tokens([first, Message(Role.USER, "And a vegetable?")])
    assert turn.stats.prompt_evaluated <= after_fork + 16
    assert turn.stats.prompt_evaluated < turn.stats.prompt_tokens // 2
    tree = store.tree(session.cid)
    assert len(tree) == 7  # two questions, two versions of a reply, a third question, replies
    assert [m.content for m in store.get(session.cid).messages][-2] == "And a vegetable?"


def test_a_fork_continues_on_the_real_engine(
    chattui_home: Path, demo_model: ResolvedModel, engine: LlamaEngine
) -> None:
    store = ConversationStore(resolve_paths().database)
    session = ChatSession(engine, demo_model, SHORT, store=store)
    list(session.send("Say hello."))
    new = session.fork()
    forked = ChatSession(engine, demo_model, SHORT, store=store, conversation=store.get(new))
    turn = forked.send("Again.")
    list(turn)
    assert turn.stats.completion_tokens > 0
    assert [m.role for m in store.get(new).messages] == [Role.USER, Role.ASSISTANT] * 2
    assert session.cid is not None and len(store.tree(session.cid)) == 2
