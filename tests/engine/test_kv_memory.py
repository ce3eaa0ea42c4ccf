"""The KV cache's memory: snapshots copied once, and a context that grows or fails to grow."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from chattui.catalog import ResolvedModel
from chattui.conversation import Message, Role
from chattui.engine.kvstate import SnapshotStore
from chattui.engine.llama import FIRST_CONTEXT, LlamaEngine
from chattui.errors import GenerationError
from chattui.sampling import GenerationOptions
from tests.conftest import probed_settings

ONE = GenerationOptions(temperature=0.0, max_tokens=1, ignore_eos=True)
LONG = [Message(Role.USER, "rivers flow " * 420)]
"""A prompt that needs more than the context first allocated (FIRST_CONTEXT tokens)."""


def test_a_snapshot_is_written_and_read_with_one_copy_of_the_state(
    engine: LlamaEngine, tmp_path: Path
) -> None:
    list(engine.stream([Message(Role.USER, "word " * 700)], ONE))
    store = SnapshotStore(tmp_path)
    tracemalloc.start()
    try:
        snapshot = engine.snapshot()
        assert snapshot is not None and store.save("c", engine.snapshot_key, snapshot)
        size = len(snapshot.state)
        saving = tracemalloc.get_traced_memory()[1]
        del snapshot
        tracemalloc.reset_peak()
        loaded = store.load("c", engine.snapshot_key)
        assert loaded is not None and engine.restore(loaded) == len(loaded.tokens)
        loading = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > 10 * 2**20  # a real state: megabytes
    # Python's own allocations at their peak: the state once, and little else.
    assert saving < 1.1 * size and loading < 1.1 * size, (saving / size, loading / size)


def logits(engine: LlamaEngine) -> Any:
    """The logits of the last prompt token (the reply was one token: nothing decoded since)."""
    import llama_cpp
    import numpy

    llm = engine._llm
    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return numpy.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


def agree(a: Any, b: Any) -> bool:
    """Whether two logit vectors are those of the same prompt (kernels may round otherwise)."""
    import numpy

    return bool(numpy.corrcoef(a, b)[0, 1] > 0.999)


class LosesState(LlamaEngine):
    """An engine whose KV state cannot be copied when the context grows."""

    def _sequence_state(self) -> memoryview | None:
        return None


class CannotGrow(LlamaEngine):
    """An engine that cannot make a context larger than the first one, until allowed to."""

    allowed = False

    def _new_context(self, size: int) -> Any:
        if size > FIRST_CONTEXT and not self.allowed:
            raise ValueError("Failed to create llama_context")
        return super()._new_context(size)


def cold_logits(model: ResolvedModel, messages: list[Message]) -> Any:
    assert model.file is not None
    cold = LlamaEngine(model.file, model.spec, probed_settings(n_ctx=4096))
    try:
        list(cold.stream(messages, ONE))
        return logits(cold)
    finally:
        cold.close()


def test_a_state_lost_while_growing_is_evaluated_again(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    first = [Message(Role.USER, "lakes " * 200)]
    then = [*first, Message(Role.ASSISTANT, "Yes."), *LONG]
    engine = LosesState(demo_model.file, demo_model.spec, probed_settings(n_ctx=4096))
    try:
        list(engine.stream(first, ONE))
        reply = engine.stream(then, ONE)
        list(reply)
        assert int(engine._llm.n_ctx()) > FIRST_CONTEXT  # it grew, losing the copied state
        assert reply.stats.prompt_evaluated < reply.stats.prompt_tokens  # the prefix was kept
        assert agree(logits(engine), cold_logits(demo_model, then))
    finally:
        engine.close()


def test_a_context_that_cannot_grow_leaves_the_engine_whole(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    short = [Message(Role.USER, "Name a colour.")]
    engine = CannotGrow(demo_model.file, demo_model.spec, probed_settings(n_ctx=4096))
    try:
        list(engine.stream(short, ONE))
        before = logits(engine)
        with pytest.raises(GenerationError, match=r"cannot make a context of \d+ tokens"):
            list(engine.stream(LONG, ONE))
        assert int(engine._llm.n_ctx()) == FIRST_CONTEXT
        list(engine.stream(short, ONE))  # the old context is still there and right
        assert agree(logits(engine), before)
        engine.allowed = True
        list(engine.stream(LONG, ONE))
        assert agree(logits(engine), cold_logits(demo_model, LONG))
    finally:
        engine.close()
