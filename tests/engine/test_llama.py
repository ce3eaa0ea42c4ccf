"""The real engine on the demo model: streaming, KV reuse, trimming, stop, logs, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from chattui.catalog import ModelSpec, ResolvedModel
from chattui.conversation import Message, Role
from chattui.engine import open_engine
from chattui.engine.base import FinishReason
from chattui.engine.llama import PROMPT_CHUNK, LlamaEngine
from chattui.errors import ContextOverflowError, ModelLoadError
from chattui.sampling import GenerationOptions
from chattui.store import ConversationStore
from tests.conftest import probed_settings

GREEDY = GenerationOptions(temperature=0.0, max_tokens=24, seed=1)
ENDLESS = GenerationOptions(temperature=0.7, seed=3, ignore_eos=True)
"""Never ends by itself: every reply runs to its max_tokens, whatever the model would write."""


def test_streams_a_reply(engine: LlamaEngine) -> None:
    question = "What is the capital city of France? Answer in one word."
    reply = engine.stream([Message(Role.USER, question)], replace(GREEDY, ignore_eos=True))
    pieces = list(reply)
    assert len(pieces) > 1 and "".join(pieces) == reply.text
    stats = reply.stats
    assert stats.completion_tokens == 24 and stats.finish_reason is FinishReason.LENGTH
    assert stats.prompt_tokens == engine.count_tokens(reply.fit.messages)
    assert stats.time_to_first_token > 0 and stats.seed == 1


def test_prompt_batches_depend_only_on_positions(engine: LlamaEngine) -> None:
    # Whatever was cached, a prompt position is evaluated in the same batch shape, and the last
    # token alone: the logits a seed samples from are the same cold or warm.
    for start in (0, 5, 127, 128, 300):
        batches = list(engine._prompt_batches(start, 301))
        assert batches[0][0] == start and batches[-1] == (300, 301)
        assert all(end == begin_next for (_, end), (begin_next, _) in pairwise(batches))
        for begin, end in batches[:-1]:
            assert begin // PROMPT_CHUNK == (end - 1) // PROMPT_CHUNK
            assert end % PROMPT_CHUNK == 0 or end == 300
    assert list(engine._prompt_batches(10, 11)) == [(10, 11)]


def test_same_seed_same_reply_cold_warm_and_in_a_new_process(
    engine: LlamaEngine, chattui_home: Path
) -> None:
    """A reply's recorded settings and seed reproduce it, however much of it the KV cache held."""
    prompt = "Tell me a word. " * 40  # several prompt batches
    asked = subprocess.run(
        [sys.executable, "-m", "chattui", "ask", prompt, "--temperature", "1", "--seed", "1234",
         "--max-tokens", "24", "--ctx", "2048", "--json", "--ignore-eos"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    text = json.loads(asked.stdout)["text"]
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    (summary,) = store.recent()
    saved = store.get(summary.id).messages[-1]
    assert saved.content == text and saved.info is not None
    options = GenerationOptions(**saved.info.settings)  # provenance, as recorded
    assert options.seed == 1234 and options.ignore_eos
    messages = [Message(Role.USER, prompt.strip())]
    "".join(engine.stream([Message(Role.USER, "Something else entirely.")], GREEDY))
    cold = engine.stream(messages, options)
    assert "".join(cold) == text and cold.stats.prompt_evaluated > PROMPT_CHUNK
    warm = engine.stream(messages, options)
    assert "".join(warm) == text and warm.stats.prompt_evaluated == 1


def test_follow_up_evaluates_only_new_tokens_once_settled(engine: LlamaEngine) -> None:
    opening = [Message(Role.SYSTEM, "You are terse."), Message(Role.USER, "Name a colour.")]
    follow_up = Message(Role.USER, "Name another one.")
    for settled in (False, True):
        first = engine.stream(opening, GREEDY)
        answer = "".join(first)
        assert 0 < first.stats.prompt_evaluated <= first.stats.prompt_tokens
        if settled:
            engine.settle()  # as the app does after a reply, while the user reads it
        second = engine.stream([*opening, Message(Role.ASSISTANT, answer), follow_up], GREEDY)
        "".join(second)
        new_tokens = (
            second.stats.prompt_tokens - first.stats.prompt_tokens - first.stats.completion_tokens
        )
        if settled:  # only the new user turn (plus a token or two of template seam)
            assert second.stats.prompt_evaluated <= new_tokens + 4
            assert second.stats.prompt_evaluated < second.stats.prompt_tokens / 2
        else:  # the reply decoded a token at a time is evaluated again, as afresh
            assert second.stats.prompt_evaluated >= first.stats.completion_tokens + new_tokens


def test_stop_mid_reply_keeps_partial(engine: LlamaEngine) -> None:
    reply = engine.stream(
        [Message(Role.USER, "Write a long story about a dragon.")],
        replace(ENDLESS, max_tokens=400),
    )
    pieces: list[str] = []
    for piece in reply:
        pieces.append(piece)
        if len(pieces) == 5:
            reply.stop()
    assert len(pieces) == 5  # stops within one token
    assert reply.stats.finish_reason is FinishReason.STOPPED
    assert reply.text == "".join(pieces) and reply.stats.completion_tokens <= 6


def test_leaving_the_loop_counts_as_stopped(engine: LlamaEngine) -> None:
    reply = engine.stream([Message(Role.USER, "Count to fifty.")], replace(ENDLESS, max_tokens=50))
    iterator = iter(reply)
    next(iterator)
    iterator.close()
    assert reply.stats.finish_reason is FinishReason.STOPPED


def test_long_prompt_can_be_stopped_midway(engine: LlamaEngine) -> None:
    prompt = " ".join(f"item{i}" for i in range(400))
    reply = engine.stream([Message(Role.USER, prompt)], GREEDY)
    progress: list[tuple[int, int]] = []

    def first_batch_done(evaluated: int, total: int) -> None:
        progress.append((evaluated, total))
        reply.stop()  # as Esc would, from another thread: it lands before the next batch

    reply.on_prompt_progress = first_batch_done
    assert list(reply) == []
    stats = reply.stats
    assert stats.finish_reason is FinishReason.STOPPED and stats.completion_tokens == 0
    assert len(progress) == 1 and progress[0][1] > 2 * PROMPT_CHUNK
    assert stats.prompt_evaluated == progress[0][0] <= PROMPT_CHUNK


def test_max_tokens_is_length(engine: LlamaEngine) -> None:
    reply = engine.stream([Message(Role.USER, "Write a poem.")], replace(ENDLESS, max_tokens=3))
    list(reply)
    assert reply.stats.completion_tokens == 3
    assert reply.stats.finish_reason is FinishReason.LENGTH


def test_context_trimming_with_real_tokens(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    small = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=512))
    try:
        assert small.n_ctx == 512
        history = [Message(Role.SYSTEM, "You are helpful.")]
        for i in range(12):
            history += [
                Message(Role.USER, f"Question {i}: " + "tell me about rivers " * 5),
                Message(Role.ASSISTANT, f"Answer {i}: " + "rivers flow to the sea " * 5),
            ]
        history.append(Message(Role.USER, "And lakes?"))
        options = GenerationOptions(temperature=0.0, max_tokens=16)
        assert small.count_tokens(history) > 512
        reply = small.stream(history, options)
        list(reply)
        kept = reply.fit.messages
        assert kept[0] == history[0] and kept[-1] == history[-1] and kept[1].role is Role.USER
        assert reply.stats.dropped_messages == len(history) - len(kept) > 0
        assert reply.stats.prompt_tokens == small.count_tokens(kept)
        assert reply.stats.prompt_tokens + 16 <= 512
        with pytest.raises(ContextOverflowError, match="tokens but the context holds 512"):
            small.stream([Message(Role.USER, "word " * 600)], options)
    finally:
        small.close()


def test_context_clamped_to_trained_length(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    big = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=1_000_000))
    try:
        assert big.n_ctx == 8192
    finally:
        big.close()


def test_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"<html>not found</html>")
    spec = ModelSpec(id="bad", name="bad", file="bad.gguf")
    with pytest.raises(ModelLoadError, match="is not a GGUF model file"):
        open_engine(ResolvedModel(spec, bad), probed_settings())


def test_truncated_gguf(tmp_path: Path, demo_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo_path.read_bytes()[:2_000_000])
    spec = ModelSpec(id="cut", name="cut", file="cut.gguf")
    with pytest.raises(ModelLoadError, match=r"llama\.cpp cannot load"):
        open_engine(ResolvedModel(spec, cut), probed_settings())


def test_chat_format_override(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    spec = ModelSpec(id="x", name="x", file="x", chat_format="chatml")
    override = LlamaEngine(demo_model.file, spec, probed_settings(n_ctx=512))
    try:
        reply = override.stream([Message(Role.USER, "Hi")], replace(GREEDY, ignore_eos=True))
        list(reply)
        assert reply.stats.completion_tokens == 24
        prompt = override._llm.detokenize(
            override.tokenize([Message(Role.USER, "Hi")]), special=True
        )
        assert prompt.decode().endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    finally:
        override.close()


def test_logs_silenced_without_touching_file_descriptors(demo_path: Path, tmp_path: Path) -> None:
    """Loading and generating write nothing to fd 1/2 and never call os.dup2."""
    report = tmp_path / "dup2-calls"
    script = textwrap.dedent(
        f"""
        import os, pathlib
        calls = []
        real = os.dup2
        os.dup2 = lambda *a, **k: calls.append(a) or real(*a, **k)
        from chattui.catalog import ModelSpec, ResolvedModel
        from chattui.conversation import Message, Role
        from chattui.engine import open_engine
        from chattui.engine.base import EngineSettings
        from chattui.sampling import GenerationOptions
        spec = ModelSpec(id="demo", name="demo", file="x")
        model = ResolvedModel(spec, pathlib.Path({str(demo_path)!r}))
        engine = open_engine(model, EngineSettings(n_ctx=512, verbose=VERBOSE))
        for _ in range(2):
            "".join(engine.stream([Message(Role.USER, "hi")], GenerationOptions(max_tokens=4)))
        engine.close()
        pathlib.Path({str(report)!r}).write_text(str(len(calls)))
        """
    )
    for verbose in (False, True):
        result = subprocess.run(
            [sys.executable, "-c", script.replace("VERBOSE", str(verbose))],
            capture_output=True,
            text=True,
            check=True,
        )
        assert report.read_text() == "0"
        assert result.stdout == ""
        if verbose:
            assert "llama_model_loader" in result.stderr or "print_info" in result.stderr
        else:
            assert result.stderr == ""


def test_continue_a_partial_reply(engine: LlamaEngine) -> None:
    question = Message(Role.USER, "Write the numbers from 1 to 300 separated by commas.")
    first = engine.stream([question], replace(ENDLESS, max_tokens=10))
    partial = "".join(first)
    assert first.stats.completion_tokens == 10
    more = engine.stream(
        [question, Message(Role.ASSISTANT, partial)], replace(ENDLESS, max_tokens=20)
    )
    rest = "".join(more)
    assert more.stats.completion_tokens == 20 and rest
    # The model carries on inside the same turn: the prompt is the question's, then the partial
    # text, with no end-of-turn between them.
    before = engine._llm.detokenize(engine.tokenize([question]), special=True)
    seam = engine._llm.detokenize(
        engine.tokenize([question, Message(Role.ASSISTANT, partial)]), special=True
    )
    assert seam == before + partial.encode()
    # The partial reply was already in the cache: only its last tokens are computed again.
    added = more.stats.prompt_tokens - first.stats.prompt_tokens
    assert 0 < more.stats.prompt_evaluated <= added + 1 < more.stats.prompt_tokens


def test_threads_adapt_unless_fixed_in_config(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    fixed = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=512, threads=2))
    assert fixed._tuner is None  # threads = N in config fixes it
    fixed.close()
    adaptive = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=1024))
    tuner = adaptive._tuner
    assert (tuner is None) == (adaptive.threads == 1)  # one core: nothing to choose from
    if tuner is None:
        adaptive.close()
        return
    spinner = None
    if tuner.gauge is not None:  # the kernel's load counters: another process takes a core
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    # Two replies to a prompt of several batches: the second one's prompt starts with what
    # the first reply's decoding read, however fast this machine is.
    question = "Count these words: " + " ".join(f"w{n}" for n in range(120))
    try:
        for _ in range(2):
            reply = adaptive.stream(
                [Message(Role.USER, question)],
                GenerationOptions(temperature=0.0, max_tokens=200, ignore_eos=True),
            )
            assert len(list(reply)) > 0 and reply.stats.completion_tokens == 200
            assert reply.stats.prompt_evaluated > 3 * PROMPT_CHUNK
            adaptive._llm.reset()  # the next reply evaluates the whole prompt again
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if tuner.gauge is not None:
        # The load was read: decode steps and prompt batches both left the spinner a core.
        decode, batch = adaptive._threads_set
        assert tuner.chosen < tuner.most and decode < tuner.most and batch < tuner.most
    else:
        # Every count was timed on real steps, the probe is over, and the engine decodes with
        # the count it chose.
        assert len(tuner.candidates) > 1 and all(tuner._times[n] for n in tuner.candidates)
        assert not tuner._plan and adaptive._threads_set == (tuner.chosen, tuner.most)
    adaptive.close()


def test_the_context_grows_as_a_chat_reaches_it(demo_model: ResolvedModel) -> None:
    from chattui.engine.llama import FIRST_CONTEXT

    assert demo_model.file is not None
    engine = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=4096))
    assert engine._llm.n_ctx() == FIRST_CONTEXT < engine.n_ctx == 4096  # memory for what is used
    history = [Message(Role.USER, "Write a long story.")]
    long = GenerationOptions(temperature=0.0, max_tokens=FIRST_CONTEXT + 200, ignore_eos=True)
    reply = engine.stream(history, long)
    text = "".join(reply)
    assert reply.stats.completion_tokens == FIRST_CONTEXT + 200  # on past the first allocation
    assert reply.stats.finish_reason is FinishReason.LENGTH
    assert engine._llm.n_ctx() > FIRST_CONTEXT
    # What was cached moved to the larger context: once settled (as the app does after a
    # reply), the next turn evaluates only its new tokens.
    engine.settle()
    history += [Message(Role.ASSISTANT, text), Message(Role.USER, "Go on.")]
    follow = engine.stream(history, GenerationOptions(temperature=0.0, max_tokens=4))
    list(follow)
    assert follow.stats.prompt_evaluated < 40 < follow.stats.prompt_tokens
    engine.close()


def test_a_snapshot_restores_the_matching_prefix_only(demo_model: ResolvedModel) -> None:
    assert demo_model.file is not None
    first = LlamaEngine(demo_model.file, demo_model.spec, probed_settings())
    history = [Message(Role.USER, "Write a long story about a lighthouse.")]
    long = GenerationOptions(temperature=0.0, max_tokens=300, ignore_eos=True)
    reply = first.stream(history, long)
    history.append(Message(Role.ASSISTANT, "".join(reply)))
    first.settle()  # as the app does after a reply; unsettled, the reply is left out
    snapshot = first.snapshot()
    key = first.snapshot_key
    first.close()
    assert snapshot is not None and len(snapshot.tokens) > 300
    second = LlamaEngine(demo_model.file, demo_model.spec, probed_settings())
    assert second.snapshot_key == key  # same file, context, template and build
    assert second.restore(snapshot) == len(snapshot.tokens)
    short = GenerationOptions(temperature=0.0, max_tokens=4)
    follow = second.stream([*history, Message(Role.USER, "Go on.")], short)
    list(follow)
    assert follow.stats.prompt_evaluated < 30  # the restored prefix was used
    assert second.restore(snapshot) == len(snapshot.tokens)
    edited = [Message(Role.USER, "Write a short poem instead."), *history[1:]]
    changed = second.stream([*edited, Message(Role.USER, "Go on.")], short)
    assert len(list(changed)) > 0  # an edited earlier message: the cache is cut where it differs
    assert changed.stats.prompt_evaluated > changed.stats.prompt_tokens // 2
    second.close()
    other = LlamaEngine(demo_model.file, demo_model.spec, probed_settings(n_ctx=2048))
    assert other.snapshot_key != key  # another context size: never restored there
    other.close()


def test_a_reply_cut_inside_a_character_ends_before_it(engine: LlamaEngine) -> None:
    # The demo model writes most Chinese characters as two or three byte tokens: a reply cut
    # after any of its tokens is the longer reply's text up to the last whole character, never
    # a U+FFFD for the bytes of a character the cut left unfinished.
    messages = [Message(Role.USER, "请用中文写一首关于春天的短诗。")]
    cuts_inside = 0
    for seed in (1, 2, 3):
        options = GenerationOptions(temperature=1.0, seed=seed, ignore_eos=True)
        whole = engine.stream(messages, replace(options, max_tokens=12))
        full = "".join(whole)
        shorter = [engine.stream(messages, replace(options, max_tokens=n)) for n in range(1, 12)]
        texts = ["".join(reply) for reply in shorter]
        for text in texts:
            assert full.startswith(text), (text, full)
        cuts_inside += sum(a == b for a, b in pairwise(["", *texts]))
    assert cuts_inside > 0  # the model wrote characters of more than one token
