"""A chat continued from its cache or its KV snapshot answers as the chat evaluated afresh."""

from __future__ import annotations

import pytest

from chattui.catalog import ResolvedModel
from chattui.conversation import Message, Role
from chattui.engine.llama import LlamaEngine
from chattui.sampling import GenerationOptions
from tests.conftest import probed_settings

GREEDY = GenerationOptions(temperature=0.0, max_tokens=24)
FOLLOW_UPS = ("Why is that?", "Say it in one sentence.", "And in Chinese? 用中文说。")


@pytest.mark.parametrize("settled", [True, False], ids=["app", "ask"])
def test_a_restored_snapshot_answers_as_the_chat_from_scratch(
    demo_model: ResolvedModel, settled: bool
) -> None:
    """The app settles its cache after a reply, then writes the snapshot; ask writes it at
    once. Either way the follow-ups are the replies the chat gets from scratch."""
    assert demo_model.file is not None
    first = LlamaEngine(demo_model.file, demo_model.spec, probed_settings())
    history = [Message(Role.USER, "Tell me about the rivers of Europe, in detail.")]
    opening = GenerationOptions(temperature=0.0, max_tokens=300, ignore_eos=True)
    history.append(Message(Role.ASSISTANT, "".join(first.stream(history, opening))))
    if settled:
        first.settle()
    snapshot = first.snapshot()
    first.close()
    assert snapshot is not None and (len(snapshot.tokens) > 300) is settled
    restored = LlamaEngine(demo_model.file, demo_model.spec, probed_settings())
    scratch = LlamaEngine(demo_model.file, demo_model.spec, probed_settings())
    try:
        assert restored.restore(snapshot) == len(snapshot.tokens)
        for turn, question in enumerate(FOLLOW_UPS):
            history.append(Message(Role.USER, question))
            warm = restored.stream(history, GREEDY)
            answer = "".join(warm)
            if settled or turn > 0:  # went on from the snapshot, or from the settled cache
                assert warm.stats.prompt_evaluated < 60
            scratch._llm.reset()  # nothing cached: the whole chat evaluated again
            cold = scratch.stream(history, GREEDY)
            assert "".join(cold) == answer, question
            assert cold.stats.prompt_evaluated == cold.stats.prompt_tokens
            history.append(Message(Role.ASSISTANT, answer))
            restored.settle()  # as the app does while the user reads
    finally:
        restored.close()
        scratch.close()
