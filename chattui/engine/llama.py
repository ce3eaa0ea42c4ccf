"""LlamaEngine: replies from a GGUF model run in-process by llama-cpp-python.

The only module that imports ``llama_cpp``. It renders the GGUF's own chat template, reuses the
KV cache across turns (only new tokens are evaluated), evaluates long prompts in stoppable chunks,
and keeps llama.cpp's log off the terminal without touching the process's file descriptors.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import functools
import gc
import hashlib
import io
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from chattui.catalog import KNOWN_CHAT_FORMATS, ModelSpec
from chattui.conversation import (
    Attachment,
    AttachmentKind,
    Message,
    Role,
    ToolSpec,
    with_attachments,
)
from chattui.cpu import usable_cores
from chattui.cpu_load import LoadMeter
from chattui.engine.base import (
    EngineSettings,
    FinishReason,
    Reply,
    TurnStats,
)
from chattui.engine.context import fit_messages
from chattui.engine.kvstate import Snapshot
from chattui.engine.llama_vision import Vision, tiny_png
from chattui.engine.probe import Probe, RepackChoice, Verdicts, file_identity
from chattui.engine.threads import ThreadTuner
from chattui.engine.tool_calls import (
    HERMES,
    CallFormat,
    CallWatcher,
    grammar_schema,
    template_call_format,
    wire_messages,
    with_tools_in_system,
)
from chattui.errors import GenerationError, ModelLoadError
from chattui.gguf import read_metadata, trained_context
from chattui.paths import append_private
from chattui.sampling import GenerationOptions

PROMPT_CHUNK = 128
"""Prompt tokens evaluated between two checks for stop: about half a second on two cores for a
small model, at under a tenth of the throughput a 512-token batch would have."""

PROBE_BATCH = 45
"""Prompt tokens the crash-safe probe evaluates at once: not a multiple of the kernels' tile
sizes (4, 8, 16, 32), so whole and ragged tiles both run, as in a prompt of any length."""

FIRST_CONTEXT = 512
"""Tokens of KV cache allocated at load; more is allocated as a chat reaches it. Kept tight:
decoding slows as the allocation outgrows what is used (see ``REPLY_ROOM``), and a larger one
is made in milliseconds."""
REPLY_ROOM = 128
"""Tokens of room made beyond the prompt before a reply starts (more as it grows). Small, so
that a short chat stays in the first 512 cells: llama.cpp decodes fastest when the cache holds
exactly the span of cells it attends to (a multiple of 256), and 2-6% slower in any larger one
(bench/throughput.py: at depth 256, 768 cells 0.98x and 1,024 cells 0.97x of 512; llama-cli
alike: 140.8 tok/s in 512 cells, 135.0 in 1,024, 135.8 in 8,192)."""
GROWTH = 1.5
"""Each growth of the context: half as much again (then rounded up to 256 cells). Doubling
grows half as often, but leaves a quarter of the allocation unused on average, not a sixth."""
PENALTY_LAST_N = 64
"""Generated tokens the repeat penalty looks back on (llama-cpp-python's default)."""

_log_callback: Any = None
"""The ctypes log callback installed in llama.cpp."""
_log_callbacks: list[Any] = []
"""Every log callback made, kept referenced so that none is collected while llama.cpp holds it."""
_params_lock = threading.Lock()
"""Held while a model loads with its model params changed (see extra_buffer_types)."""


def route_llama_logs(verbose: bool, log_file: Path | None = None) -> None:
    """Send llama.cpp's log to stderr (or ``log_file``) when verbose, else drop it.

    This replaces llama-cpp-python's ``verbose=False`` trick of redirecting file descriptors 1
    and 2, which would blank a running Textual app.
    """
    global _log_callback
    import llama_cpp

    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if not verbose:
            return
        line = text.decode("utf-8", errors="replace")
        if log_file is None:
            sys.stderr.write(line)
            return
        with contextlib.suppress(OSError):  # a log that cannot be written must not stop a load
            append_private(log_file, line)

    _log_callback = llama_cpp.llama_log_callback(forward)
    # Kept for good: a logger llama.cpp (or mtmd) was given must outlive every later change.
    _log_callbacks.append(_log_callback)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
    mtmd = sys.modules.get("llama_cpp.mtmd_cpp")
    if mtmd is not None:  # a vision projector was loaded: its logs follow the same choice
        mtmd.mtmd_log_set(_log_callback, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(_log_callback, ctypes.c_void_p(0))


def build_info() -> dict[str, Any]:
    """What the installed llama-cpp-python was built with, for ``chattui doctor``."""
    import llama_cpp

    route_llama_logs(verbose=False)
    system = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    features = {}
    for part in system.replace("|", "\n").splitlines():
        name, _, value = part.partition("=")
        if value.strip() in ("0", "1"):
            features[name.split(":")[-1].strip()] = value.strip() == "1"
    return {
        "llama_cpp_python": llama_cpp.__version__,
        "system_info": " ".join(system.split()),
        "features": features,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
    }


def build_identity() -> str:
    """Which llama.cpp this is: version, compiled features and its library files.

    Two builds of one version can differ (``GGML_NATIVE`` compiles for the building CPU), so
    the libraries' sizes and times are part of it.
    """
    import llama_cpp

    system = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    library = Path(llama_cpp.__file__).parent / "lib"
    files = sorted(library.iterdir()) if library.is_dir() else []
    stats = [f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.is_file()]
    return "\0".join([llama_cpp.__version__, system, *stats])


@contextlib.contextmanager
def extra_buffer_types(enabled: bool) -> Iterator[None]:
    """Models loaded inside this block use llama.cpp's extra buffer types only if ``enabled``.

    Extra buffer types hold weights repacked for the CPU's fastest kernels (AMX, AVX512, ARM).
    ``Llama(...)`` takes no argument for ``llama_model_params.use_extra_bufts``: it starts from
    ``llama_model_default_params()``, which this wraps while the block runs.
    """
    if enabled:
        yield
        return
    from llama_cpp import llama_cpp as cpp

    with _params_lock:
        default = cpp.llama_model_default_params

        def without_extra_bufts() -> Any:
            params = default()
            params.use_extra_bufts = False
            return params

        cpp.llama_model_default_params = without_extra_bufts
        try:
            yield
        finally:
            cpp.llama_model_default_params = default


def _threads_and_layers(settings: EngineSettings) -> tuple[int, int]:
    """CPU threads and GPU layers to load with: the settings', else all cores and layers."""
    import llama_cpp

    gpu_layers = settings.gpu_layers
    if gpu_layers is None:
        gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return settings.threads or usable_cores(), gpu_layers


def repack_choice(path: Path, model_name: str, settings: EngineSettings) -> RepackChoice:
    """Whether ``path`` loads with llama.cpp's extra buffer types, probing it if need be.

    Raises:
        ModelLoadError: The probe failed for a reason other than a crash (its own message).
    """
    threads, gpu_layers = _threads_and_layers(settings)
    probe = Probe(Verdicts(settings.probe_folder), build_identity(), threads, gpu_layers)
    return probe.choose(settings.cpu_repack, path, model_name)


def load_params(n_ctx: int, threads: int, gpu_layers: int) -> dict[str, Any]:
    """The arguments of ``Llama(...)`` chattui loads a model with."""
    return {
        "n_ctx": n_ctx,
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_gpu_layers": gpu_layers,
        # Flash attention pays off on GPUs; on CPUs it measured slower here, more so as the
        # context grows (bench/turns.py: 1.79x vs 1.28x eval time from 100 to 1200 tokens).
        "flash_attn": gpu_layers != 0,
        "logits_all": False,
        # verbose=True keeps llama-cpp-python from redirecting fds 1 and 2; the log callback
        # and the stderr capture in _load decide what is shown.
        "verbose": True,
    }


def probe_model(path: Path, threads: int, gpu_layers: int) -> None:
    """The probe child's work (engine/probe.py): load, evaluate a batch and a step.

    The model is loaded with extra buffer types, then a prompt batch (``PROBE_BATCH`` tokens) and
    one decoding step are evaluated, as a reply would.

    Raises:
        ModelLoadError: llama.cpp cannot load the file.
    """
    import llama_cpp

    route_llama_logs(verbose=False)
    params = load_params(4 * PROBE_BATCH, threads, gpu_layers)
    llm = _load(llama_cpp, path, params, verbose=False, extra_bufts=True)
    text = "The quick brown fox jumps over the lazy dog. 快速的棕色狐狸跳过了懒狗。"
    tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True)
    while len(tokens) < PROBE_BATCH:
        tokens += tokens
    llm.eval(tokens[:PROBE_BATCH])
    llm.eval(tokens[:1])
    llm.close()


def probe_projector(
    path: Path, threads: int, gpu_layers: int, projector: Path, extra_bufts: bool
) -> None:
    """The projector probe child's work: load the model and its projector, evaluate an image.

    Raises:
        ModelLoadError: llama.cpp cannot load the model, or the projector for it.
    """
    import llama_cpp

    route_llama_logs(verbose=False)
    llm = _load(
        llama_cpp,
        path,
        load_params(512, threads, gpu_layers),
        verbose=False,
        extra_bufts=extra_bufts,
    )
    vision = _vision(projector, llm, threads, gpu_layers)
    data = tiny_png(48, 32)
    digest = hashlib.sha256(data).hexdigest()
    kind = AttachmentKind.IMAGE
    image = Attachment("probe.png", kind, len(data), digest, mime="image/png", data=data)
    placeholders = list(vision.layout(image))
    llm.eval(llm.tokenize(b"Look:", add_bos=True))
    start = int(llm.n_tokens)
    vision.evaluate(placeholders[0], {image.sha256: image}, llm._ctx.ctx, start, llm.n_batch)
    llm.n_tokens = start + len(placeholders)
    llm.eval(llm.tokenize(b" what is it?", add_bos=False))
    vision.close()
    llm.close()


def _vision(projector: Path, llm: Any, threads: int, gpu_layers: int) -> Vision:
    """Load ``projector`` for the loaded model ``llm``.

    Raises:
        ModelLoadError: llama.cpp cannot load it for this model.
    """
    import llama_cpp
    from llama_cpp import mtmd_cpp

    return Vision(
        mtmd_cpp,
        llama_cpp,
        projector,
        llm._model.model,
        threads=threads,
        gpu=gpu_layers != 0,
        log_callback=_log_callback,
    )


def _load(
    llama_cpp: Any, path: Path, params: dict[str, Any], *, verbose: bool, extra_bufts: bool
) -> Any:
    """``Llama(...)`` with llama-cpp-python's prints captured unless ``verbose``.

    Raises:
        ModelLoadError: llama.cpp cannot load the file.
    """
    captured = io.StringIO()
    redirect = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(captured)
    try:
        with redirect, extra_buffer_types(extra_bufts):
            try:
                return llama_cpp.Llama(model_path=str(path), **params)
            except ValueError:
                if not params.get("flash_attn"):
                    raise
                params["flash_attn"] = False  # a backend without flash attention
                return llama_cpp.Llama(model_path=str(path), **params)
    except (ValueError, RuntimeError) as error:
        raise ModelLoadError(
            f"llama.cpp cannot load {path} ({error}); the file may be truncated or of an "
            "unsupported architecture: re-download it or run with --verbose for details"
        ) from None


def _c_bytes(data: bytes | bytearray | memoryview) -> Any:
    """``data`` as a ctypes byte array, without a copy where it is writable."""
    view = memoryview(data)
    kind = ctypes.c_uint8 * view.nbytes
    return kind.from_buffer_copy(view) if view.readonly else kind.from_buffer(view)


def chat_template(spec: ModelSpec, metadata: Mapping[str, Any]) -> str | None:
    """The chat template a model is given prompts with: its catalog entry's file, else its own.

    Raises:
        ModelLoadError: The entry names a template file that cannot be read.
    """
    if spec.chat_template_file is None:
        template = metadata.get("tokenizer.chat_template")
        return str(template) if template else None
    path = Path(spec.chat_template_file).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ModelLoadError(
            f"{spec.id}: cannot read chat_template_file {path}: {reason}"
        ) from None


def _trigger(form: CallFormat) -> str:
    """Where a lazy grammar starts: the first ``<tool_call>``, or a turn that opens with ``{``."""
    if form.opening:
        return r"[\s\S]*?(" + re.escape(form.opening) + r")[\s\S]*"
    return r"\s*(\{)[\s\S]*"


def _call_grammar(tools: Sequence[ToolSpec], room: int, form: CallFormat) -> Any:
    """A grammar for one call, written as ``form`` has it, naming a tool and fitting its schema.

    ``room`` is the tokens the call may take (see ``grammar_schema``).
    """
    import json

    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    rules = json_schema_to_gbnf(json.dumps(grammar_schema(tools, room, form.arguments_key)))
    rules = re.sub(r"^root ::=", "call ::=", rules, count=1, flags=re.MULTILINE)
    if not form.opening:
        return LlamaGrammar.from_string(f"root ::= call\n{rules}", verbose=False)
    opening, closing = json.dumps(form.opening + "\n"), json.dumps("\n" + form.closing)
    return LlamaGrammar.from_string(f"root ::= {opening} call {closing}\n{rules}", verbose=False)


class LlamaEngine:
    """A GGUF model loaded once and kept for a whole chat."""

    def __init__(
        self,
        path: Path,
        spec: ModelSpec,
        settings: EngineSettings,
        projector: Path | None = None,
    ) -> None:
        """Load the model.

        Args:
            path: The GGUF file.
            spec: Its catalog entry (context size, chat format override).
            settings: Overrides of context size, threads and GPU offload.
            projector: Its vision projector (mmproj), with which it reads images.

        Raises:
            ModelLoadError: The file is not a loadable GGUF, or the projector cannot be loaded
                for it.
        """
        metadata = read_metadata(path)
        import llama_cpp

        route_llama_logs(settings.verbose, settings.log_file)
        self.model_id = spec.id
        self.path = path
        started = time.perf_counter()
        threads, gpu_layers = _threads_and_layers(settings)
        requested_ctx = settings.n_ctx or spec.n_ctx
        trained = trained_context(metadata)
        if trained is not None:
            # Beyond its trained length a model degrades: never ask for more.
            requested_ctx = min(requested_ctx, trained)
        # Allocated small and grown as the chat needs it (see _make_room): llama.cpp clears the
        # whole KV cache when it creates a context, so its size is memory used at once.
        params = load_params(min(requested_ctx, FIRST_CONTEXT), threads, gpu_layers)
        self.build = build_identity()
        self.repack = repack_choice(path, spec.id, settings)
        """Whether the weights use llama.cpp's repacked CPU kernels, and why."""
        self._llm = _load(
            llama_cpp, path, params, verbose=settings.verbose, extra_bufts=self.repack.enabled
        )
        self.flash_attn = bool(params["flash_attn"])
        """Whether flash attention is on (GPU offload only)."""
        self.threads = threads
        """CPU threads for the prompt, and the most for decoding."""
        # Unless threads are fixed in config, decoding adapts its thread count to the load.
        self._tuner = (
            ThreadTuner(threads, LoadMeter.for_this_process())
            if settings.threads is None and threads > 1
            else None
        )
        self._threads_set = (threads, threads)
        """The context's thread counts: (decode, prompt batches)."""
        self._set_threads: Callable[..., None] = llama_cpp.llama_set_n_threads
        self.gpu_layers = gpu_layers
        """Layers offloaded to the GPU (-1: all)."""
        # From here on llama-cpp-python's own prints (cache hits...) follow the user's choice.
        self._llm.verbose = settings.verbose
        self.n_ctx = requested_ctx
        """The context a chat may fill (the KV cache is allocated as it is reached)."""
        self._internals = llama_cpp
        self.load_seconds = time.perf_counter() - started
        self._vocab = self._llm._model.vocab
        self._is_eog: Callable[[Any, int], bool] = llama_cpp.llama_vocab_is_eog
        self._format = self._make_formatter(llama_cpp, spec)
        self._last_tokens: tuple[Any, list[int]] | None = None
        self._broken: str | None = None
        """Why the engine cannot go on (its context was lost), if it cannot."""
        self._settled = 0
        """Leading cached tokens evaluated as prompt batches (the rest was decoded one by one)."""
        self.projector = projector
        self.images_note = ""
        """Why a model with a projector reads no images here (its probe crashed), if it does not."""
        self._vision = (
            self._load_vision(projector, settings, gpu_layers) if projector is not None else None
        )
        self.reads_images = self._vision is not None

    def _load_vision(
        self, projector: Path, settings: EngineSettings, gpu_layers: int
    ) -> Vision | None:
        """The projector, unless a probe of it crashed on this CPU (then ``images_note`` says so).

        Raises:
            ModelLoadError: It cannot be loaded for this model.
        """
        probe = Probe(Verdicts(settings.probe_folder), self.build, self.threads, gpu_layers)
        crashed = probe.check_projector(self.path, projector, self.model_id, self.repack.enabled)
        if crashed is not None:
            self.images_note = crashed
            return None
        return _vision(projector, self._llm, self.threads, gpu_layers)

    def _make_formatter(self, llama_cpp: Any, spec: ModelSpec) -> Callable[..., Any]:
        from llama_cpp import llama_chat_format as formats

        self.template_format: CallFormat | None = None
        """How the chat template has calls written, when it writes the tools itself."""
        if spec.chat_format:
            named = {
                "chatml": formats.format_chatml,
                "llama-2": formats.format_llama2,
                "llama-3": formats.format_llama3,
                "mistral-instruct": formats.format_mistral_instruct,
                "gemma": formats.format_gemma,
                "qwen": formats.format_qwen,
                "zephyr": formats.format_zephyr,
            }
            formatter: Callable[..., Any] = named[spec.chat_format]
            return formatter
        template = chat_template(spec, self._llm.metadata)
        self.template_format = template_call_format(template)
        if not template:
            raise ModelLoadError(
                f"{self.path.name} has no chat template; set chat_format in models.toml "
                f"(one of: {', '.join(KNOWN_CHAT_FORMATS)})"
            )
        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        jinja = formats.Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )
        return jinja

    @property
    def template_tools(self) -> bool:
        """Whether the chat template writes tools itself (else the system prompt offers them)."""
        return self.template_format is not None

    @property
    def call_format(self) -> CallFormat:
        """How the model writes a call: the template's way, else chattui's system prompt's."""
        return self.template_format or HERMES

    def tokenize(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> list[int]:
        """Render ``messages`` with the chat template and tokenize the prompt.

        When the last message is the assistant's, it is a partial reply to continue: the prompt
        is the conversation before it (and the calls it made so far), the assistant's header,
        then its text so far. ``tools`` are offered by the template when it takes them, else
        described in the system prompt.
        """
        key = (tuple(messages), tuple(tools))
        if self._last_tokens is not None and self._last_tokens[0] == key:
            return self._last_tokens[1]  # planning the context just tokenized these
        partial = ""
        if messages and messages[-1].role is Role.ASSISTANT:
            last = messages[-1]
            partial = last.content
            messages = (
                [*messages[:-1], replace(last, content="")] if last.tool_calls else messages[:-1]
            )
        text = not self.template_tools
        images: list[Attachment] = []
        wired = wire_messages(
            messages, text=text, parsed=True, render=self._image_render(messages, images)
        )
        extra: dict[str, Any] = {}
        if tools and text:
            with_tools_in_system(wired, tools)
        elif tools:
            extra["tools"] = [tool.as_openai() for tool in tools]
        try:
            rendered = self._format(messages=wired, **extra)
        except Exception as error:  # noqa: BLE001 - templates raise anything; report it
            raise ModelLoadError(f"the chat template of {self.path.name} failed: {error}") from None
        prompt = rendered.prompt + partial
        if not images:
            tokens = self._text_tokens(prompt, bos=not rendered.added_special)
        else:
            assert self._vision is not None
            tokens = []
            for index, piece in enumerate(self._vision.split(prompt)):
                if isinstance(piece, int):
                    tokens += self._vision.layout(images[piece])
                else:
                    bos = index == 0 and not rendered.added_special
                    tokens += self._text_tokens(piece, bos=bos)
        self._last_tokens = (key, tokens)
        return tokens

    def _text_tokens(self, text: str, *, bos: bool) -> list[int]:
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)
        return tokens

    def _image_render(
        self, messages: Sequence[Message], images: list[Attachment]
    ) -> Callable[[Message], dict[str, Any]] | None:
        """How messages are written when images go in the prompt (None: they do not).

        Each image is written as a marker and collected in ``images``; without a projector an
        image is a line naming it.
        """
        vision = self._vision
        if vision is None or not any(m.images for m in messages):
            return None

        def block(attachment: Attachment) -> str:
            if attachment.kind is not AttachmentKind.IMAGE or not attachment.data:
                return attachment.block()  # an image whose bytes were not kept: its name only
            images.append(attachment)
            return f"{attachment.block()}\n{vision.marker(len(images) - 1)}"

        def render(message: Message) -> dict[str, Any]:
            content = with_attachments(message.content, message.attachments, block)
            return {"role": str(message.role), "content": content}

        return render

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Count the prompt tokens of ``messages``, chat template included."""
        return len(self.tokenize(messages))

    def stream(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Start a reply; see ``Engine.stream``.

        Raises:
            GenerationError: The engine lost its context (see ``_make_room``).
        """
        if self._broken is not None:
            raise GenerationError(f"{self._broken}; load the model again")
        tools = options.tools

        def count(chosen: Sequence[Message]) -> int:
            return len(self.tokenize(chosen, tools))

        fit = fit_messages(messages, count, self.n_ctx, options.max_tokens)
        return Reply(fit, lambda reply: self._generate(reply, options))

    def _reuse_prefix(self, tokens: list[int], images: Mapping[int, int]) -> int:
        """Keep the cached tokens shared with ``tokens``; return how many are kept.

        ``images``: where each image chunk begins and ends in ``tokens``.
        """
        llm = self._llm
        shared = int(llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens))
        # Re-evaluate at least the last prompt token so fresh logits exist to sample from, and
        # whatever was decoded a token at a time (see settle).
        shared = min(shared, len(tokens) - 1, self._settled)
        for start, end in images.items():
            if start < shared < end:  # an image is evaluated whole or not at all
                shared = start
        if shared <= 0 or not llm._ctx.kv_cache_seq_rm(-1, shared, -1):
            llm.reset()
            shared = 0
        llm.n_tokens = shared
        self._settled = shared
        return shared

    def settle(self, stop: Callable[[], bool] | None = None) -> None:
        """Evaluate again, as prompt batches, what the last reply decoded a token at a time.

        A token decoded alone gets slightly different numbers in the KV cache than the same
        token evaluated in a batch, and a chat opened afresh evaluates its replies in batches:
        settled, the cache holds exactly what that would, so a reply continued from it (in this
        process or from a snapshot) is the reply the chat gets from scratch. Until then the
        next reply evaluates those tokens again itself.

        Args:
            stop: Asked between batches; True leaves the rest for the next reply (quitting).
        """
        llm = self._llm
        start, end = self._settled, int(llm.n_tokens)
        if start >= end:
            return
        tokens = [int(token) for token in llm.input_ids[start:end]]
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm.n_tokens = start
        for begin, until in self._chunks(start, end):
            if stop is not None and stop():
                return
            llm.eval(tokens[begin - start : until - start])
            self._settled = until

    @staticmethod
    def _chunks(start: int, end: int) -> Iterator[tuple[int, int]]:
        """Positions ``start..end`` cut at multiples of ``PROMPT_CHUNK``."""
        position = start
        while position < end:
            boundary = min(end, (position // PROMPT_CHUNK + 1) * PROMPT_CHUNK)
            yield position, boundary
            position = boundary

    def _prompt_batches(
        self,
        start: int,
        end: int,
        marks: Sequence[int] = (),
        images: Mapping[int, int] | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Split the prompt positions ``start..end`` into the batches to evaluate.

        A batch's shape changes the floating-point sums behind the logits (llama.cpp picks other
        kernels for other batch sizes), so the batches depend only on the prompt, never on how
        much was cached: boundaries at multiples of ``PROMPT_CHUNK``, where a message's
        attachments end (``marks``: a KV snapshot of them ends there), and the last prompt
        token alone. A seed then gives the same reply from a cold cache, a warm one or a new
        process. An image's positions (``images``: where each begins and ends) are one batch.
        """
        images = images or {}
        last = end - 1
        position = start
        while position < last:
            if position in images:
                yield position, images[position]
                position = images[position]
                continue
            boundary = min(last, (position // PROMPT_CHUNK + 1) * PROMPT_CHUNK)
            boundary = min([boundary, *(m for m in (*marks, *images) if position < m < boundary)])
            yield position, boundary
            position = boundary
        yield last, end

    def _image_spans(self, tokens: Sequence[int]) -> dict[int, int]:
        """Where each image chunk's placeholders begin in ``tokens``, and where they end."""
        vision = self._vision
        if vision is None or not tokens or min(tokens) >= 0:
            return {}
        spans: dict[int, int] = {}
        index = 0
        while index < len(tokens):
            positions = vision.positions(tokens[index])
            if positions:
                spans[index] = index + positions
            index += positions or 1
        return spans

    def _attachments_end(self, messages: Sequence[Message], index: int) -> int:
        """Where message ``index``'s attachments end among the prompt's tokens.

        The prompt with that message's own text left out is tokenized too: the two agree up
        to there.
        """
        tokens = self.tokenize(messages)
        bare = list(messages)
        bare[index] = replace(messages[index], content="")
        shared = int(self._llm.longest_token_prefix(tokens, self.tokenize(bare)))
        self._last_tokens = (tuple(messages), tokens)  # the prompt is asked for next
        return min(shared, len(tokens) - 1)

    def _marks(self, messages: Sequence[Message]) -> list[int]:
        """Where the attachments of each message that has some end in the prompt."""
        return [
            self._attachments_end(messages, index)
            for index, message in enumerate(messages)
            if message.role is Role.USER and message.attachments
        ]

    def _sampler(self, options: GenerationOptions, seed: int, room: int) -> Any:
        """The sampler chain for one reply: llama-cpp-python's, penalties after top-k, EOG ban.

        With tools, a grammar comes first: a call is written in ``<tool_call>`` JSON that fits
        one tool's schema, from the start ("required") or once the model opens one ("auto").
        """
        from llama_cpp._internals import LlamaSampler

        sampler = LlamaSampler()  # type: ignore[no-untyped-call]
        n_vocab = self._llm.n_vocab()
        if options.tools:
            # A grammar reads a control token (<|im_start|>...) as its text, which a JSON string
            # accepts: a small model can fill a call with them, and they print as nothing.
            sampler.add_logit_bias(n_vocab, dict.fromkeys(self._control_tokens, -math.inf))
            grammar = _call_grammar(options.tools, room, self.call_format)
            if options.tool_choice == "required":
                sampler.add_grammar(self._llm._model, grammar)
            else:
                trigger = _trigger(self.call_format)
                sampler.add_grammar_lazy_patterns(self._llm._model, grammar, [trigger], [])
        elif options.ignore_eos:
            sampler.add_logit_bias(n_vocab, dict.fromkeys(self._end_tokens, -math.inf))
        # The penalties look each candidate up among the recent tokens: after top-k that is
        # 40 look-ups a token instead of the whole vocabulary (49k for the demo model: 2-3% of
        # a decode step, bench/throughput.py). A penalty only lowers a score, so it reorders
        # the likeliest few.
        sampler.add_top_k(options.top_k)
        sampler.add_penalties(n_vocab, PENALTY_LAST_N, options.repeat_penalty, 0.0, 0.0)
        if options.temperature == 0:
            sampler.add_greedy()  # type: ignore[no-untyped-call]
            return sampler
        sampler.add_top_p(options.top_p, 1)
        sampler.add_min_p(options.min_p, 1)
        sampler.add_temp(options.temperature)
        sampler.add_dist(seed)
        return sampler

    @functools.cached_property
    def _control_tokens(self) -> list[int]:
        """The vocabulary's control tokens that do not end a turn (found on first use)."""
        attr, control = (
            self._internals.llama_vocab_get_attr,
            self._internals.LLAMA_TOKEN_ATTR_CONTROL,
        )
        return [
            token
            for token in range(self._llm.n_vocab())
            if attr(self._vocab, token) & control and not self._is_eog(self._vocab, token)
        ]

    @functools.cached_property
    def _end_tokens(self) -> list[int]:
        """Every end-of-generation token of the vocabulary (found on first use)."""
        return [token for token in range(self._llm.n_vocab()) if self._is_eog(self._vocab, token)]

    def _generate(self, reply: Reply, options: GenerationOptions) -> Iterator[str]:
        llm = self._llm
        started = time.perf_counter()
        if self._tuner is not None:
            self._tuner.start()
        tokens = self.tokenize(reply.fit.messages, options.tools)
        images = self._image_spans(tokens)
        reused = self._reuse_prefix(tokens, images)
        watcher = CallWatcher(self.call_format) if options.tools else None
        seed = options.seed if options.seed is not None else random.randrange(2**32 - 1)  # noqa: S311 - a sampling seed
        completion = 0
        evaluated = 0
        first_token_at: float | None = None
        last_token_at: float | None = None
        finish = FinishReason.STOP

        def stats() -> TurnStats:
            now = time.perf_counter()
            ttft = (first_token_at or now) - started
            return TurnStats(
                prompt_tokens=len(tokens),
                prompt_evaluated=evaluated,
                completion_tokens=completion,
                time_to_first_token=ttft,
                decode_seconds=(last_token_at or now) - (first_token_at or now),
                finish_reason=finish,
                dropped_messages=reply.fit.dropped,
                seed=seed,
            )

        limit = options.max_tokens
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sampler: Any = None
        ended = False
        try:
            self._make_room(len(tokens) + REPLY_ROOM)
            # Evaluate the new prompt tokens batch by batch so a stop lands between batches.
            marks = self._marks(reply.fit.messages)
            for begin, end in self._prompt_batches(reused, len(tokens), marks, images):
                if reply.stop_requested:
                    finish = FinishReason.STOPPED
                    return
                if self._tuner is not None:  # a long prompt too leaves busy cores alone
                    self._use_threads(self._threads_set[0], self._tuner.prompt_threads())
                if begin in images:
                    self._eval_image(tokens[begin:end], reply.fit.messages)
                else:
                    llm.eval(tokens[begin:end])
                self._settled = end
                evaluated += end - begin
                reply.prompt_progress(evaluated, len(tokens) - reused)
            room = self.n_ctx - len(tokens)
            sampler = self._sampler(options, seed, min(room, limit) if limit else room)
            while True:
                if reply.stop_requested:
                    finish = FinishReason.STOPPED
                    break
                token = int(sampler.sample(llm._ctx, -1))  # also records it for the penalties
                last_token_at = time.perf_counter()
                if first_token_at is None:
                    first_token_at = last_token_at
                if self._is_eog(self._vocab, token):
                    break
                completion += 1
                piece = decoder.decode(llm.detokenize([token]))
                if watcher is not None:
                    piece = watcher.feed(piece)
                if piece:
                    yield piece
                if reply.stop_requested:
                    finish = FinishReason.STOPPED
                    break
                if (limit is not None and completion >= limit) or llm.n_tokens + 1 >= self.n_ctx:
                    finish = FinishReason.LENGTH
                    break
                self._make_room(llm.n_tokens + 2)
                self._decode_step(token)
            # What the decoder still holds is the start of a character the reply ended inside
            # (a stop or max_tokens): not text. Flushed, it would be saved as U+FFFD.
            if watcher is not None:
                held, reply.tool_calls = watcher.finish()
                if held:
                    yield held
            ended = True
        except GenerationError:
            finish = FinishReason.ERROR
            raise
        except RuntimeError as error:  # llama_decode failed (e.g. out of memory)
            finish = FinishReason.ERROR
            raise GenerationError(f"llama.cpp failed while generating: {error}") from None
        finally:
            if sampler is not None:
                sampler.close()
            if not ended and finish is FinishReason.STOP:
                finish = FinishReason.STOPPED  # the consumer left early
            reply.finish(stats())

    def _eval_image(self, placeholders: list[int], messages: Sequence[Message]) -> None:
        """Evaluate the image chunk these placeholders stand for, where the cache ends."""
        llm, vision = self._llm, self._vision
        assert vision is not None
        images = {a.sha256: a for message in messages for a in message.images}
        begin = int(llm.n_tokens)
        end = vision.evaluate(placeholders[0], images, llm._ctx.ctx, begin, llm.n_batch)
        if end != begin + len(placeholders):
            raise GenerationError("the projector placed an image over more positions than it said")
        llm.input_ids[begin:end] = placeholders
        llm.n_tokens = end

    @functools.cached_property
    def snapshot_key(self) -> str:
        """Model file, context size, KV type, kernels, chat template and llama.cpp build, hashed."""
        template = str(self._llm.metadata.get("tokenizer.chat_template", ""))
        parts = [
            *file_identity(self.path),
            str(self.n_ctx),
            "f16",
            str(self.flash_attn),
            str(self.repack.enabled),
            template,
            self.build,
            *(file_identity(self.projector) if self._vision is not None and self.projector else []),
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def prefix(self, messages: Sequence[Message]) -> list[int]:
        """See ``Snapshotting.prefix``: a batch of the prompt ends there (``_prompt_batches``).

        Its KV state is then what the prompt evaluated from scratch holds there, so a reply
        that goes on from a snapshot of it is the reply from scratch.
        """
        if not messages:
            return []
        end = self._attachments_end(messages, len(messages) - 1)
        return self.tokenize(messages)[:end]

    def snapshot(self, upto: int | None = None) -> Snapshot | None:
        """The settled tokens (the first ``upto``) and their KV state, or None if none.

        What was decoded a token at a time and not settled is left out (and dropped from the
        cache): a snapshot holds what evaluating the chat afresh would. llama.cpp writes the
        state straight into the buffer the snapshot keeps: a long chat's state is tens of
        megabytes, and no second copy of it is made.
        """
        llm, cpp = self._llm, self._internals
        count = self._settled  # a reply decoded a token at a time is left out (see settle)
        if upto is not None:
            count = min(count, upto)
            self._settled = count
        if not count:
            return None
        if count < llm.n_tokens:
            llm._ctx.kv_cache_seq_rm(-1, count, -1)
            llm.n_tokens = count
        size = cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
        buffer = bytearray(size)
        written = cpp.llama_state_seq_get_data(
            llm._ctx.ctx, (ctypes.c_uint8 * size).from_buffer(buffer), size, 0
        )
        if not written:
            return None
        return Snapshot(llm.input_ids[:count].tolist(), memoryview(buffer)[:written])

    def restore(self, snapshot: Snapshot) -> int:
        """Load a snapshot into the cache; returns the tokens restored (0 if it cannot be)."""
        llm, cpp = self._llm, self._internals
        count = len(snapshot.tokens)
        if count + 1 >= self.n_ctx:
            return 0
        llm.reset()
        llm._ctx.kv_cache_clear()
        self._make_room(count + REPLY_ROOM)
        size = len(snapshot.state)
        state = _c_bytes(snapshot.state)
        if not cpp.llama_state_seq_set_data(llm._ctx.ctx, state, size, 0):
            llm._ctx.kv_cache_clear()
            return 0
        llm.input_ids[:count] = snapshot.tokens
        llm.n_tokens = self._settled = count
        return count

    def _make_room(self, tokens: int) -> None:
        """Grow the allocated context to hold ``tokens`` (by ``GROWTH`` at least, up to ``n_ctx``).

        The old context is freed before the larger one is made, so memory never holds both.
        The cached tokens move over with llama.cpp's per-sequence state; if they cannot, they
        are evaluated again, so the cache always holds what it held (never a wrong reply).

        Raises:
            GenerationError: The larger context cannot be made (memory); the engine carries on
                at the size it had, its cache intact.
        """
        llm = self._llm
        allocated = int(llm.n_ctx())
        if tokens <= allocated or allocated >= self.n_ctx:
            return
        size = min(self.n_ctx, -(-max(int(allocated * GROWTH), tokens) // 256) * 256)
        cached = [int(token) for token in llm.input_ids[: llm.n_tokens]]
        state = self._sequence_state() if cached else None
        llm._ctx.close()
        try:
            self._install(self._new_context(size), cached, state)
        except (ValueError, RuntimeError, MemoryError) as error:
            try:
                self._install(self._new_context(allocated), cached, state)
            except (ValueError, RuntimeError, MemoryError):
                self._broken = f"llama.cpp lost its context and could not make another ({error})"
                raise GenerationError(f"{self._broken}; load the model again") from None
            raise GenerationError(
                f"llama.cpp cannot make a context of {size} tokens ({error}): not enough memory? "
                "Lower context_size in config.toml, or start a new chat"
            ) from None

    def _sequence_state(self) -> memoryview | None:
        """A copy of the KV state of sequence 0, or None if llama.cpp cannot give one."""
        cpp, ctx = self._internals, self._llm._ctx.ctx
        size = cpp.llama_state_seq_get_size(ctx, 0)
        buffer = bytearray(size)
        written = cpp.llama_state_seq_get_data(ctx, _c_bytes(buffer), size, 0) if size else 0
        return memoryview(buffer)[:written] if written else None

    def _new_context(self, size: int) -> Any:
        """A llama.cpp context of ``size`` tokens for the loaded model.

        Raises:
            ValueError: llama.cpp could not make it.
        """
        from llama_cpp import _internals

        llm = self._llm
        llm.context_params.n_ctx = size
        return _internals.LlamaContext(
            model=llm._model, params=llm.context_params, verbose=llm.verbose
        )

    def _install(self, context: Any, cached: list[int], state: memoryview | None) -> None:
        """Use ``context``, holding the ``cached`` tokens: from ``state``, else evaluated."""
        import numpy

        llm, cpp = self._llm, self._internals
        llm._ctx = context
        self._threads_set = (self.threads, self.threads)
        llm.input_ids = numpy.zeros(int(llm.n_ctx()), dtype=llm.input_ids.dtype)
        llm.n_tokens = 0
        if not cached:
            self._settled = 0
            return
        if state is not None and cpp.llama_state_seq_set_data(
            context.ctx, _c_bytes(state), len(state), 0
        ):
            llm.input_ids[: len(cached)] = cached
            llm.n_tokens = len(cached)
            return
        context.kv_cache_clear()
        # Images cannot be evaluated from placeholders: the next prompt evaluates them again.
        cached = cached[: next((i for i, t in enumerate(cached) if t < 0), len(cached))]
        for begin, end in self._chunks(0, len(cached)):
            llm.eval(cached[begin:end])
        self._settled = len(cached)

    def _decode_step(self, token: int) -> None:
        """Evaluate one generated token, with the thread count the tuner picks, and time it."""
        tuner = self._tuner
        if tuner is None:
            self._llm.eval([token])
            return
        threads = tuner.next()
        self._use_threads(threads, self._threads_set[1])
        started = time.perf_counter()
        self._llm.eval([token])
        tuner.record(threads, time.perf_counter() - started)

    def _use_threads(self, decode: int, batch: int) -> None:
        """Give the context these thread counts for decode steps and prompt batches."""
        if (decode, batch) != self._threads_set:
            self._set_threads(self._llm._ctx.ctx, decode, batch)
            self._threads_set = (decode, batch)

    def close(self) -> None:
        """Free the model and its context now (safe to call twice)."""
        if self._llm is None:
            return
        if self._vision is not None:
            self._vision.close()
        self._llm.close()
        # Drop the last reference while the interpreter is whole: llama-cpp-python's __del__
        # methods fail noisily when they only run at interpreter shutdown.
        self._llm = None
        gc.collect()


EMBED_CONTEXT = 2048
"""Tokens of a text embedded, at most (a passage is far shorter; longer text is cut)."""


class LlamaEmbedder:
    """A GGUF model loaded in embedding mode: one unit-length vector per text.

    A model made for embedding pools as its file says; a chat model's token vectors are
    averaged (llama.cpp's mean pooling: 1.12x quicker than reading every token's vector back).
    """

    def __init__(self, path: Path, spec: ModelSpec, settings: EngineSettings) -> None:
        """Load the model (with the repacking choice its probe made, as a chat would).

        Raises:
            ModelLoadError: The file is not a loadable GGUF.
        """
        metadata = read_metadata(path)
        import llama_cpp

        route_llama_logs(settings.verbose, settings.log_file)
        self.model_id = spec.id
        threads, gpu_layers = _threads_and_layers(settings)
        n_ctx = min(EMBED_CONTEXT, trained_context(metadata) or EMBED_CONTEXT)
        params = load_params(n_ctx, threads, gpu_layers)
        arch = metadata.get("general.architecture")
        declared = f"{arch}.pooling_type" in metadata  # an embedding model says how it pools
        pooling = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
        params.update(
            embedding=True,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            flash_attn=False,
            pooling_type=pooling if declared else llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        )
        repack = repack_choice(path, spec.id, settings)
        self._llm = _load(
            llama_cpp, path, params, verbose=settings.verbose, extra_bufts=repack.enabled
        )
        self._llm.verbose = settings.verbose

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """See ``Embedder.embed``."""
        import numpy as np

        vectors = []
        for text in texts:  # one at a time: batching several measured slower on CPUs
            try:
                each = self._llm.embed(text or " ", truncate=True)
            except (RuntimeError, ValueError) as error:
                raise GenerationError(f"{self.model_id} cannot embed: {error}") from None
            matrix = np.asarray(each, dtype=np.float32)
            vector = matrix.mean(axis=0) if matrix.ndim == 2 else matrix  # pooled per token
            norm = float(np.linalg.norm(vector))
            if not np.isfinite(norm) or norm == 0.0:
                raise GenerationError(f"{self.model_id} gave no usable vector for a text")
            vectors.append((vector / norm).tolist())
        return vectors

    def close(self) -> None:
        """Free the model."""
        self._llm.close()
