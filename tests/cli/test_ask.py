"""``chattui ask`` through the real entry point: pipes, terminals, stdin, JSON and exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chattui.store import ConversationStore
from tests.cli.conftest import HOSTILE_REPLY, chattui_cmd, run, run_on_tty

SEEDED = ("--seed", "7", "--temperature", "0")
ENDLESS = ("--ignore-eos", "--max-tokens")
"""Replies that run to the given length, whatever the model would write."""


def test_pipe_output_is_exactly_the_model_text(demo_path: Path) -> None:
    as_json = run("ask", "What is the capital of France?", *SEEDED, *ENDLESS, "20", "--json")
    assert as_json.code == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["usage"]["completion_tokens"] == 20 and doc["finish_reason"] == "length"
    plain = run("ask", "What is the capital of France?", *SEEDED, *ENDLESS, "20")
    assert plain.code == 0 and plain.stderr == ""
    assert plain.stdout == doc["text"] + "\n"


def test_json_fields() -> None:
    result = run("ask", "Say hello.", "--json", "--max-tokens", "8", "--seed", "1")
    assert result.code == 0
    doc = json.loads(result.stdout)
    assert doc["model"] == "smollm2-135m"
    assert doc["finish_reason"] in ("stop", "length")
    assert doc["usage"]["prompt_tokens"] > 0 and 0 < doc["usage"]["completion_tokens"] <= 8
    assert doc["timings"]["load_seconds"] > 0 and doc["timings"]["time_to_first_token"] > 0
    assert "decode_tokens_per_second" in doc["timings"] and doc["seed"] == 1


def test_terminal_gets_markdown(scripted_models: Path) -> None:
    reply = "Here:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nDone **now**."
    result = run_on_tty("ask", "-m", "echo", reply)
    assert result.code == 0, result.stderr
    assert "\x1b[" in result.stdout  # styled
    assert "def" in result.stdout and "```" not in result.stdout  # fences rendered, not shown
    assert "**" not in result.stdout and "now" in result.stdout


def test_terminal_real_model_restores_the_cursor() -> None:
    result = run_on_tty("ask", "Write a Python function.", *SEEDED, *ENDLESS, "40")
    assert result.code == 0, result.stderr
    hidden, shown = result.stdout.rfind("\x1b[?25l"), result.stdout.rfind("\x1b[?25h")
    assert 0 <= hidden < shown  # the live view hid the cursor, and gave it back


def test_format_plain_on_terminal() -> None:
    result = run_on_tty("ask", "Say hi.", "--format", "plain", "--max-tokens", "5")
    assert result.code == 0 and "\x1b[" not in result.stdout.replace("\x1b[?25", "")


def test_stdin_then_question(scripted_models: Path) -> None:
    result = run("ask", "-m", "echo", "summarize", stdin=b"line one\nline two\n")
    assert result.stdout == "line one\nline two\n\nsummarize\n"


def test_stdin_alone_is_the_prompt(scripted_models: Path) -> None:
    assert run("ask", "-m", "echo", stdin=b"what is 2+2\n").stdout == "what is 2+2\n"


def test_bare_chattui_with_piped_stdin_asks(scripted_models: Path) -> None:
    result = run("-m", "echo", stdin=b"hi there")
    assert (result.code, result.stdout) == (0, "hi there\n")


def test_bare_chattui_pipe_real_model(chattui_home: Path) -> None:
    result = run(stdin=b"What is 2+2? Answer with a number.")
    assert result.code == 0 and result.stdout.endswith("\n") and result.stderr == ""
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    (summary,) = store.recent()
    question, answer = store.get(summary.id).messages
    assert question.content == "What is 2+2? Answer with a number."
    assert answer.content + "\n" == result.stdout
    assert answer.info is not None and answer.info.finish_reason in ("stop", "length")


def test_undecodable_stdin_is_replaced(scripted_models: Path) -> None:
    result = run("ask", "-m", "echo", stdin=b"caf\xe9 \xff ok")
    assert result.code == 0 and result.stdout == "caf\ufffd \ufffd ok\n"


def test_multiword_prompt(scripted_models: Path) -> None:
    assert run("ask", "-m", "echo", "two", "words").stdout == "two words\n"


def test_empty_prompt_is_usage_error() -> None:
    for stdin in (b"", b"  \n\n"):
        result = run("ask", stdin=stdin)
        assert result.code == 2
        assert result.stderr.count("\n") == 1 and "nothing to ask" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--temperature", "9"), "--temperature 9.0: allowed: a number from 0.0 to 5.0"),
        (("--top-p", "2"), "--top-p"),
        (("--max-tokens", "0"), "--max-tokens"),
        (("--ctx", "5"), "--ctx 5: allowed: a whole number from 256"),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run("ask", "hi", *args)
    assert result.code == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_id() -> None:
    result = run("ask", "-m", "gpt-17", "hi")
    assert result.code == 1 and result.stdout == ""
    assert result.stderr.startswith("chattui: unknown model 'gpt-17'")
    assert result.stderr.count("\n") == 1


def test_model_from_environment(scripted_models: Path) -> None:
    result = run("ask", "hello", env={"CHATTUI_MODEL": "echo"})
    assert result.stdout == "hello\n"


def test_model_from_config(scripted_models: Path, chattui_home: Path) -> None:
    (chattui_home / "config" / "config.toml").write_text('model = "echo"\n')
    assert run("ask", "from config").stdout == "from config\n"


def test_config_error_is_one_line(chattui_home: Path) -> None:
    config = chattui_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("temperature = 'hot'\n")
    result = run("ask", "hi")
    assert result.code == 1 and result.stderr.count("\n") == 1
    assert str(config) in result.stderr and "temperature" in result.stderr
    assert config.read_text() == "temperature = 'hot'\n"


def test_missing_model_file(tmp_path: Path) -> None:
    result = run("ask", "-m", str(tmp_path / "gone.gguf"), "hi")
    assert result.code == 1 and "model file not found" in result.stderr


def test_catalog_entry_whose_file_is_missing(chattui_home: Path, tmp_path: Path) -> None:
    catalog = chattui_home / "config" / "models.toml"
    catalog.parent.mkdir(parents=True)
    catalog.write_text(f'[[models]]\nid = "lost"\npath = "{tmp_path / "lost.gguf"}"\n')
    result = run("ask", "-m", "lost", "hi")
    assert result.code == 1 and "model 'lost' is not installed" in result.stderr


def test_corrupt_gguf(tmp_path: Path, demo_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"\x00" * 1000)
    result = run("ask", "-m", str(garbage), "hi")
    assert result.code == 1 and "is not a GGUF model file" in result.stderr
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo_path.read_bytes()[:3_000_000])
    result = run("ask", "-m", str(cut), "hi")
    assert result.code == 1 and "cannot load" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_model_markup_and_escapes_on_terminal(scripted_models: Path) -> None:
    for fmt in ("markdown", "plain"):
        result = run_on_tty("ask", "-m", "hostile", "go", "--format", fmt)
        assert result.code == 0
        assert "[bold]x[/bold]" in result.stdout
        assert "\x1b[31m" not in result.stdout and "\x9b" not in result.stdout
        assert "\x07" not in result.stdout and "␛[31m" in result.stdout


def test_model_escapes_pass_through_a_pipe_exactly(scripted_models: Path) -> None:
    result = run("ask", "-m", "hostile", "go")
    assert result.stdout == HOSTILE_REPLY + "\n"
    doc = json.loads(run("ask", "-m", "hostile", "go", "--json").stdout)
    assert doc["text"] == HOSTILE_REPLY


def test_stats_on_stderr() -> None:
    result = run("ask", "hi", "--max-tokens", "4", "--stats")
    assert result.code == 0 and "tok/s" in result.stderr and "evaluated" in result.stderr


def test_broken_pipe_is_quiet() -> None:
    ask = " ".join([*chattui_cmd(), "ask", "'Count from one to two hundred.'", *ENDLESS, "300"])
    shell = ask + ' | head -c 5; echo " ${PIPESTATUS[0]}"'
    result = subprocess.run(["bash", "-c", shell], capture_output=True, timeout=120)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr
    assert result.stdout.endswith(b" 141\n")  # stopped by the closed pipe, as Unix tools are


def test_version_and_help_do_not_import_engine_or_ui() -> None:
    probe = (
        "import sys\n"
        "from chattui.cli import main\n"
        "commands = (['--help'], ['ask', '--help'], ['models', '--help'],\n"
        "    ['tools', '--help'], ['kb', '--help'], ['--version'], ['paths'])\n"
        "for args in commands:\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('llama_cpp', 'textual', 'numpy', 'httpx', 'httpx_sse', 'openai', 'pypdf',\n"
        "    'docx', 'readability', 'html2text', 'pathspec', 'filetype', 'lxml', 'mcp',\n"
        "    'mcp_types', 'jsonschema', 'anyio', 'httpx2')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "LOADED []" in result.stdout
    version = run("--version")
    assert version.code == 0 and version.stdout.startswith("chattui ")


def test_console_script_installed() -> None:
    script = shutil.which("chattui", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("chattui ")


def test_paths_json_follows_home(chattui_home: Path) -> None:
    before = sorted(chattui_home.rglob("*"))
    result = run("paths", "--json")
    doc = json.loads(result.stdout)
    assert doc["config"] == str(chattui_home / "config" / "config.toml")
    assert doc["database"] == str(chattui_home / "data" / "chattui.db")
    assert doc["models"] == str(chattui_home / "data" / "models")
    assert sorted(chattui_home.rglob("*")) == before  # looking creates nothing


def test_ctrl_c_while_reading_stdin_exits_130() -> None:
    process = subprocess.Popen(
        chattui_cmd("ask", "summarize"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    wait_until_reading(process.stdin.fileno())
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and b"Traceback" not in err


def wait_until_reading(pipe: int) -> None:
    """Fill the pipe, then wait until the child starts draining it: it is reading stdin."""
    os.set_blocking(pipe, False)
    try:
        while True:
            os.write(pipe, b"x" * 4096)
    except BlockingIOError:
        pass
    _, writable, _ = select.select([], [pipe], [], 60)
    assert writable, "chattui never read its stdin"


def test_unknown_option_is_usage_error() -> None:
    result = run("ask", "--frobnicate", "hi")
    assert result.code == 2 and "No such option" in result.stderr


def test_prompt_too_long_on_a_terminal_restores_the_cursor_and_saves_nothing(
    chattui_home: Path,
) -> None:
    result = run_on_tty("ask", "--ctx", "256", "word " * 600)
    assert result.code == 1 and "tokens but the context holds 256" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "\x1b[?25l" not in result.stdout  # the cursor was never hidden, so none is lost
    database = chattui_home / "data" / "chattui.db"
    assert not database.exists() or ConversationStore(database).recent() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_or_termination_keeps_the_partial_answer(chattui_home: Path, signum: int) -> None:
    process = subprocess.Popen(
        chattui_cmd("ask", "Write a long story.", *ENDLESS, "4000"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    first = os.read(process.stdout.fileno(), 20)  # streaming (unbuffered: communicate reads on)
    process.send_signal(signum)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum and b"Traceback" not in err, err
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    reply = store.get(store.recent()[0].id).messages[1]
    assert reply.info is not None and reply.info.finish_reason == "stopped"
    assert (first + rest).decode() == reply.content + "\n"  # all that was shown was saved


def test_sigterm_on_a_terminal_restores_the_cursor() -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        chattui_cmd("ask", "Write a long story.", *ENDLESS, "4000"),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"},
    )
    os.close(slave)
    shown = b""
    while b"\x1b[?25l" not in shown:  # the live view is up: the reply streams
        assert select.select([master], [], [], 60)[0], "no reply on the terminal"
        shown += os.read(master, 65536)
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(master, 65536):
            shown += chunk
    os.close(master)
    assert process.wait(timeout=60) == 143
    assert shown.rfind(b"\x1b[?25h") > shown.rfind(b"\x1b[?25l")


def test_history_export_on_a_terminal_is_neutralised(scripted_models: Path) -> None:
    cid = json.loads(run("ask", "-m", "hostile", "go", "--json").stdout)["conversation_id"]
    shown = run_on_tty("history", "export", cid)
    assert shown.code == 0 and "\x1b[31m" not in shown.stdout and "␛[31m" in shown.stdout
    exact = run("history", "export", cid)
    assert HOSTILE_REPLY in exact.stdout  # a pipe or a file gets the exact text


def test_verbose_shows_the_cause(chattui_home: Path, scripted_models: Path) -> None:
    database = chattui_home / "data" / "chattui.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"garbage" * 1000)
    plain = run("ask", "-m", "echo", "hi")
    assert plain.code == 1 and plain.stderr.count("\n") == 1
    verbose = run("ask", "-m", "echo", "hi", "--verbose")
    assert verbose.code == 1 and "caused by sqlite3.DatabaseError" in verbose.stderr


def test_formulas_on_a_terminal_latex_in_a_pipe(scripted_models: Path) -> None:
    formula = r"Attention is $\text{softmax}(\frac{QK^T}{\sqrt{d_k}})V$."
    shown = run_on_tty("ask", "-m", "echo", formula)
    assert shown.code == 0, shown.stderr
    assert "√" in shown.stdout and "\\frac" not in shown.stdout
    piped = run("ask", "-m", "echo", formula)
    assert piped.stdout == formula + "\n"


def test_a_role_in_ask_and_in_a_pipe(scripted_models: Path, chattui_home: Path) -> None:
    # The echo model answers with the message it got: the role's input template shows.
    result = run("ask", "-m", "echo", "-r", "translate", "你好，世界")
    assert result.code == 0, result.stderr
    assert (
        result.stdout.startswith("Translate the following text.") and "你好，世界" in result.stdout
    )
    piped = run("ask", "-m", "echo", "-r", "summarize", stdin=b"line one\nline two\n")
    assert piped.stdout.startswith("Summarize the following text.\n\nline one\nline two")
    shown = run("history", "show", run("history", "list").stdout.split()[0])
    assert "role summarize" in shown.stdout
    unknown = run("ask", "-m", "echo", "-r", "poet", "hi")
    assert unknown.code != 0 and unknown.stderr.count("\n") == 1
    assert "unknown role 'poet'" in unknown.stderr


def test_roles_list_show_edit(chattui_home: Path) -> None:
    listed = run("roles", "list")
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "explain",
        "qa",
        "summarize",
        "translate",
        "write",
    ]
    chinese = run("roles", "list", env={"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""})
    assert "翻译" in chinese.stdout
    assert "{input}" in run("roles", "show", "translate").stdout
    edited = run("roles", "edit", "qa", env={"EDITOR": "true"})
    copy = chattui_home / "config" / "roles" / "qa.md"
    assert edited.code == 0 and copy.exists()
    copy.write_text("+++\ntemperature = 7\n+++\nbody\n")
    broken = run("roles", "list")
    assert broken.code != 0 and str(copy) in broken.stderr and "temperature" in broken.stderr


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_shipped_role_runs_on_the_demo_model(language: str) -> None:
    roles = ("translate", "qa", "write", "summarize", "explain")
    for role in roles:
        result = run(
            "ask",
            "-r",
            role,
            "Transformer 模型",
            "--max-tokens",
            "4",
            "--no-save",
            env={"LANG": f"{language}.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""},
        )
        assert result.code == 0, (role, result.stderr)
        assert result.stdout.strip(), role


def test_a_password_in_a_url_is_never_printed() -> None:
    result = run("ask", "-m", "https://me:hunter2@example.com/m.gguf", "hi", "--verbose")
    assert result.code == 1 and "***@example.com/m.gguf" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_help_shows_no_value_after_a_flag() -> None:
    for command in (("ask",), ("history", "rm"), ()):
        shown = run(*command, "--help", env={"COLUMNS": "120"}).stdout
        assert "--json" in shown or "--yes" in shown or "--continue" in shown
        assert "<bool>" not in shown, shown
    assert "<int>" in run("ask", "--help", env={"COLUMNS": "120"}).stdout  # --ctx takes one


def test_a_signal_at_any_moment_leaves_no_reply_marked_in_progress(
    chattui_home: Path, scripted_models: Path
) -> None:
    import random
    import time

    from chattui.conversation import Role

    rng = random.Random(7)
    env = {**os.environ, "CHATTUI_HOME": str(chattui_home)}
    for _ in range(12):
        process = subprocess.Popen(
            chattui_cmd("ask", "-m", "echo", "--max-tokens", "5", "hi"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        delay = rng.uniform(0.2, 1.5)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, said = process.communicate(timeout=60)
        assert process.returncode in (0, 143, -signal.SIGTERM), (delay, said.decode()[-3000:])
    store = ConversationStore(chattui_home / "data" / "chattui.db")
    replies = [
        message
        for summary in store.recent(limit=100)
        for message in store.get(summary.id).messages
        if message.role is Role.ASSISTANT
    ]
    assert all(reply.info and reply.info.finish_reason for reply in replies)
