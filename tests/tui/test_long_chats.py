"""Pilot tests of long chats: only a window of the transcript is mounted, whatever its length."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from chattui.config import Config
from chattui.conversation import Conversation, Message, Role
from chattui.paths import resolve_paths
from chattui.sampling import Sampling
from chattui.store import ConversationStore
from chattui.tui.screens.chat import ChatScreen
from chattui.tui.widgets.messages import Reply, UserMessage
from chattui.tui.widgets.prompt import PromptInput
from chattui.tui.widgets.sidebar import Sidebar
from chattui.tui.widgets.status import StatusBar
from chattui.tui.widgets.transcript import MOST, Transcript
from tests.tui.conftest import AppFactory
from tests.tui.test_app import ready, send, stored, until

REPLY = (
    "Three things to know:\n\n- a list item\n- another item\n- a third one\n\n"
    "```python\ndef add(a, b):\n    return a + b\nprint(add({n}, 1))\n```\n\n"
    "That is reply {n}. It ends with a second sentence."
)


def text_of(n: int) -> str:
    """Message ``n`` of a long chat: a question or a Markdown reply, each naming its number."""
    return f"Question number {n}?" if n % 2 == 0 else REPLY.format(n=n)


def save_chat(home: Path, count: int, *, title: str = "long chat", extra: str = "") -> str:
    """Save a chat of ``count`` messages (``extra`` is added to message 37); return its id."""
    messages = tuple(
        Message(
            Role.USER if n % 2 == 0 else Role.ASSISTANT,
            text_of(n) + (f" {extra}" if extra and n == 37 else ""),
            f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}",
        )
        for n in range(count)
    )
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    try:
        return store.import_conversation(
            Conversation(
                "x", title, messages[0].created_at, messages[-1].created_at, messages=messages
            )
        )
    finally:
        store.close()


def shown(transcript: Transcript) -> list[str]:
    return [w.text for w in transcript.messages()]


def fewer_above(transcript: Transcript, than: int) -> Callable[[], bool]:
    """Whether fewer than ``than`` messages are left above the mounted ones (or none were)."""
    return lambda: transcript.window[0] < than or not than


async def opened(pilot: Pilot[None]) -> tuple[ChatScreen, Transcript]:
    """The chat screen, once the model is ready and the transcript has filled the view."""
    chat = await ready(pilot)
    transcript = chat.query_one(Transcript)
    await settled(pilot, transcript)
    return chat, transcript


async def settled(pilot: Pilot[None], transcript: Transcript) -> None:
    """Wait until the transcript has mounted what the view needs."""
    for _ in range(3):
        await pilot.pause()
    await until(pilot, lambda: not transcript._scheduled, "the transcript to fill")
    await pilot.pause()


async def test_a_long_chat_opens_with_only_the_newest_mounted(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 400)
    app = app_factory(continue_latest=True, replies=["fine"])
    async with app.run_test(size=(100, 30)) as pilot:
        _chat, transcript = await opened(pilot)
        above, mounted, below = transcript.window
        assert below == 0 and 0 < mounted <= MOST and above + mounted == 400
        assert shown(transcript)[-1] == text_of(399)
        assert transcript.max_scroll_y - transcript.scroll_y <= 1  # the newest is in view
        await send(pilot, "one more")
        assert [m.content for m in stored(app)[-2:]] == ["one more", "fine"]
        assert len(stored(app)) == 402
        assert shown(transcript)[-2:] == ["one more", "fine"]


async def test_scrolling_up_reaches_the_oldest_message_without_the_view_jumping(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 120)
    app = app_factory(continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        _chat, transcript = await opened(pilot)
        loads = 0
        while transcript.window[0] or transcript.scroll_y:
            above = transcript.window[0]
            transcript.scroll_to(y=0, animate=False, immediate=True)
            await pilot.pause()
            top = transcript.messages()[0]
            where = top.region.y
            # What is mounted above it must not move it on the screen.
            await until(pilot, fewer_above(transcript, above), "older ones")
            await pilot.pause()
            if above:
                loads += 1
                assert top.region.y == where
            assert len(transcript.messages()) <= MOST
        assert loads > 10
        assert shown(transcript)[0] == text_of(0)
        assert transcript.window[2] > 0  # the newest ones were unmounted on the way up


async def test_home_and_end_go_across_the_whole_chat(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 2000)
    app = app_factory(continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        transcript = chat.query_one(Transcript)
        transcript.focus()
        await pilot.press("home")
        await settled(pilot, transcript)
        assert transcript.window[0] == 0 and transcript.scroll_y == 0
        assert shown(transcript)[0] == text_of(0)
        await pilot.press("pagedown", "pagedown", "pagedown")
        await settled(pilot, transcript)
        assert transcript.scroll_y > 0
        await pilot.press("end")
        await settled(pilot, transcript)
        assert transcript.window[2] == 0 and shown(transcript)[-1] == text_of(1999)
        assert transcript.max_scroll_y - transcript.scroll_y <= 1
        assert len(transcript.messages()) <= MOST


async def test_a_search_hit_deep_in_a_long_chat_opens_at_that_message(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    cid = save_chat(chattui_home, 400, extra="zebracorns graze")
    save_chat(chattui_home, 4, title="short chat")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        chat.query_one("#filter", Input).focus()
        await pilot.press(*"zebrac")  # a word being typed
        options = chat.query_one("#chats", OptionList)
        await until(pilot, lambda: options.option_count == 1, "the hit")
        options.highlighted = 0
        options.action_select()
        transcript = chat.query_one(Transcript)
        await until(pilot, lambda: transcript.query(".hit"), "the chat at the hit")
        await settled(pilot, transcript)
        hit = transcript.query_one(".hit", Reply)
        assert "zebracorns graze" in hit.text and hit.text.startswith(REPLY.format(n=37)[:20])
        assert hit.region.overlaps(transcript.region)  # in view
        assert chat.host.session is not None and chat.host.session.cid == cid
        await send(pilot, "and now?")  # the reply goes after the newest message
        assert shown(transcript)[-2] == "and now?" and transcript.window[2] == 0
        assert len(stored(app)) == 402


async def test_the_chat_chosen_last_is_shown_when_switching_while_one_loads(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    long = save_chat(chattui_home, 2000)
    short = save_chat(chattui_home, 4, title="short chat")
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        sidebar = chat.query_one(Sidebar)
        for cid in (long, short, long, short):
            sidebar.post_message(Sidebar.Opened(cid))
        transcript = chat.query_one(Transcript)
        await until(
            pilot,
            lambda: chat.host.session is not None and chat.host.session.cid == short,
            "the short chat",
        )
        await settled(pilot, transcript)
        await pilot.pause(0.2)  # a read of the long chat still under way must not win
        assert chat.host.session is not None and chat.host.session.cid == short
        assert shown(transcript) == [text_of(n) for n in range(4)]
        assert transcript.window == (0, 4, 0)


async def test_the_sidebar_filter_finds_the_start_of_a_word(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    app = app_factory(replies=["ok", "好"])
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        await send(pilot, "the river flows")
        await pilot.press("ctrl+n")
        await send(pilot, "什么是自注意力机制")
        options = chat.query_one("#chats", OptionList)
        chat.query_one("#filter", Input).focus()
        for typed, title in (("riv", "the river flows"), ("自注", "什么是自注意力机制")):
            chat.query_one("#filter", Input).value = ""
            await pilot.press(*typed)
            await until(
                pilot,
                lambda title=title: (
                    options.option_count == 1  # type: ignore[misc]
                    and title in str(options.get_option_at_index(0).prompt)
                ),
                f"{typed!r} to find {title!r}",
            )
        assert isinstance(chat.query(UserMessage).first(), UserMessage)


async def test_a_long_chat_continues_on_the_real_engine(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 2000)
    short = Sampling(temperature=0.0, max_tokens=8, ignore_eos=True)
    app = app_factory(
        continue_latest=True, real=True, config=Config(context_size=2048, sampling=short)
    )
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        transcript = chat.query_one(Transcript)
        assert len(transcript.messages()) <= MOST
        await send(pilot, "And the next one?")
        saved = stored(app)
        assert len(saved) == 2002 and saved[-2].content == "And the next one?"
        assert saved[-1].info is not None and saved[-1].info.finish_reason == "length"
        assert saved[-1].info.completion_tokens == 8
        assert chat.query_one(StatusBar).dropped > 1000  # the oldest turns were left out
        assert shown(transcript)[-1] == saved[-1].content
        assert len(transcript.messages()) <= MOST


async def test_page_keys_in_the_prompt_scroll_the_transcript(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 400)
    app = app_factory(continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat, transcript = await opened(pilot)
        assert chat.query_one(PromptInput).has_focus
        assert transcript.max_scroll_y - transcript.scroll_y <= 1
        await pilot.press("pageup", "pageup")
        await settled(pilot, transcript)
        page = transcript.scrollable_content_region.height
        assert transcript.max_scroll_y - transcript.scroll_y >= 2 * page - 2  # two pages up
        assert chat.query_one(PromptInput).has_focus
        await pilot.press("ctrl+home")
        await settled(pilot, transcript)
        assert transcript.window[0] == 0 and shown(transcript)[0] == text_of(0)
        await pilot.press("ctrl+end")
        await settled(pilot, transcript)
        assert transcript.window[2] == 0 and shown(transcript)[-1] == text_of(399)


async def test_the_status_bar_says_a_long_chat_leaves_its_oldest_messages_out(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    save_chat(chattui_home, 400)
    app = app_factory(continue_latest=True, config=Config(context_size=2048))
    async with app.run_test(size=(100, 30)) as pilot:
        chat = await ready(pilot)
        status = chat.query_one(StatusBar)
        await until(pilot, lambda: status.dropped > 0, "the count")
        assert 0 < status.used <= 2048 and status.dropped < 400
        assert "oldest" in str(status.render())


def add_version(home: Path, cid: str, n: int, text: str) -> None:
    """Give message ``n`` of chat ``cid`` another version (and a turn after it), keeping the
    branch in view as it was."""
    store = ConversationStore(resolve_paths({"CHATTUI_HOME": str(home)}).database)
    try:
        chat = store.get(cid)
        assert chat.leaf_id is not None
        other = store.add_message(
            cid, Message(chat.messages[n].role, text), parent=chat.messages[n].parent_id
        )
        after = Role.USER if chat.messages[n].role is Role.ASSISTANT else Role.ASSISTANT
        store.add_message(cid, Message(after, f"after {text}"), parent=other)
        store.set_leaf(cid, chat.leaf_id)
    finally:
        store.close()


async def test_switching_versions_in_a_long_chat_keeps_what_both_share_in_place(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    cid = save_chat(chattui_home, 120)
    add_version(chattui_home, cid, 113, "Another version of reply 113.")
    app = app_factory(continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        chat, transcript = await opened(pilot)
        while text_of(113) not in shown(transcript):
            transcript.scroll_to(y=max(0, transcript.scroll_y - 10), animate=False, immediate=True)
            await settled(pilot, transcript)
        transcript.scroll_to_widget(
            next(w for w in transcript.messages() if w.text == text_of(113)),
            top=True,
            animate=False,
            immediate=True,
        )
        await settled(pilot, transcript)
        widgets = transcript.messages()
        shared = widgets[: next(i for i, w in enumerate(widgets) if w.text == text_of(113))]
        above = transcript.window[0]
        await pilot.press("alt+right")
        await until(
            pilot, lambda: shown(transcript)[-1] == "after Another version of reply 113.", "v2"
        )
        await settled(pilot, transcript)

        def kept() -> bool:
            """Whether what both branches share is still the same widgets, in order."""
            now = transcript.messages()
            return shared[0] in now and now[now.index(shared[0]) :][: len(shared)] == shared

        assert kept() and transcript.window[0] <= above
        chosen = transcript.messages()[-2]
        assert chosen.text == "Another version of reply 113."
        assert chosen.region.overlaps(transcript.region)
        assert chat.query_one(StatusBar).branch == "‹ 2/2 ›"
        items = [item.text for item in transcript.items()]
        assert items == [text_of(n) for n in range(113)] + [
            "Another version of reply 113.",
            "after Another version of reply 113.",
        ]
        assert [m.content for m in stored(app)][-1] == "after Another version of reply 113."
        y = chosen.region.y
        await pilot.press("alt+left")
        await until(pilot, lambda: len(transcript.items()) == 120, "the first version's branch")
        await settled(pilot, transcript)
        assert [item.text for item in transcript.items()] == [text_of(n) for n in range(120)]
        assert kept()
        # The longer branch has room below: the version chosen shows where the other was.
        back = next(w for w in transcript.messages() if w.text == text_of(113))
        assert back.region.y == y
        await pilot.press("ctrl+end")
        await settled(pilot, transcript)
        assert shown(transcript)[-1] == text_of(119)


async def test_switching_a_version_far_above_the_view_shows_it(
    app_factory: AppFactory, chattui_home: Path
) -> None:
    cid = save_chat(chattui_home, 120)
    add_version(chattui_home, cid, 4, "Question number 4, asked again?")
    app = app_factory(continue_latest=True)
    async with app.run_test(size=(100, 30)) as pilot:
        _chat, transcript = await opened(pilot)
        assert transcript.window[0] > 4  # the version is far above what is mounted
        await pilot.press("alt+right")
        await until(pilot, lambda: len(transcript.items()) == 6, "the other branch")
        await settled(pilot, transcript)
        assert [item.text for item in transcript.items()] == [
            *(text_of(n) for n in range(4)),
            "Question number 4, asked again?",
            "after Question number 4, asked again?",
        ]
        chosen = next(w for w in transcript.messages() if w.text.endswith("asked again?"))
        assert chosen.region.overlaps(transcript.region)


async def test_scroll_keys_with_nothing_to_scroll_do_nothing(app_factory: AppFactory) -> None:
    app = app_factory(replies=["short"])
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "hi")
        # Textual's scroll actions say "nothing to do" by raising SkipAction: not an error.
        await pilot.press("ctrl+home", "pageup", "pagedown", "ctrl+end")
        await pilot.pause()
        assert app.unexpected == []
