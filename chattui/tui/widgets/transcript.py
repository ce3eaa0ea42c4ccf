"""The transcript: a window onto the conversation, mounted as the user scrolls.

Parsing and mounting a reply as Markdown costs about 20 ms, so a chat of a few hundred messages
took seconds to open. The transcript mounts the newest messages (or those from a search hit on),
then a batch at a time, one batch a frame, older ones as the view nears its top and newer ones as
it nears its bottom, and unmounts those far out of view: opening a chat, and the memory the
screen holds, cost the same whatever its length. A message out of the window is kept as an
``Item`` (its text) and made a widget again when it comes back into view. What is mounted above
the view does not move what the user sees: the scroll offset is moved by the height added, in the
same layout, before anything is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rich.cells import cell_len
from textual import events
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.layout import DockArrangeResult
from textual.widget import Widget

from chattui.conversation import Message, Passage, Role
from chattui.tui.widgets.messages import (
    Item,
    Reply,
    UserMessage,
    Welcome,
    item_of,
    widget_for,
)

FIRST = 6
"""Messages mounted at once when a chat is shown."""
BATCH = 2
"""Messages mounted a frame while the view nears unmounted ones: a reply with code costs tens of
milliseconds to mount, and scrolling must not stutter."""
MOST = 60
"""Most messages mounted at once; beyond, those farthest out of view are unmounted."""
READY = 1
"""Screens of messages kept mounted above and below the view."""


class Transcript(VerticalScroll):
    """The conversation; stays scrolled to the newest text unless the user scrolls up."""

    def __init__(self, *, id: str | None = None) -> None:
        """An empty transcript."""
        super().__init__(id=id)
        self._above: list[Item] = []
        """Messages before the mounted ones, oldest first."""
        self._below: list[Item] = []
        """Messages after the mounted ones, oldest first."""
        self._keep: tuple[Widget, int] | None = None
        """A widget whose place on screen the next layout keeps, and where it was."""
        self._placed: dict[Widget, int] = {}
        """Where each child was in the last layout (lines from the top of the content)."""
        self._arranged: DockArrangeResult | None = None
        self._scheduled = False
        self._epoch = 0
        """Counts the windows shown: a batch for an older one is not mounted."""

    # What is shown --------------------------------------------------------------------------

    def show(
        self,
        messages: Sequence[Message],
        welcome: Welcome | None = None,
        *,
        at: int | None = None,
        branches: Mapping[int, str] | None = None,
    ) -> None:
        """Show ``messages`` (``welcome`` when there are none), from the newest.

        Args:
            messages: The branch of the conversation in view.
            welcome: Shown when there are no messages.
            at: Index in ``messages`` of one to show at the top of the view, marked (a search
                hit); None shows the newest.
            branches: Each message's place among its versions, by id, for those that have some.
        """
        items = _items(messages, branches or {})
        start = None
        if at is not None:
            start = sum(1 for m in messages[:at] if m.role is not Role.SYSTEM)
        self._window(items, start, welcome)
        if start is not None and (hit := self.messages()):
            hit[0].add_class("hit")

    async def follow(self, messages: Sequence[Message], branches: Mapping[int, str]) -> None:
        """Show another branch of the conversation in view, in place.

        The messages both branches share stay mounted where they are on screen, so the version
        chosen appears where the old one was; what differs is mounted as far as the view
        reaches, the rest a batch a frame: switching versions costs what the screen shows, not
        what the chat holds. The screen is drawn once, when all of it is mounted.

        Args:
            messages: The branch to show now.
            branches: Each message's place among its versions, by id, for those that have some.
        """
        shown = [m for m in messages if m.role is not Role.SYSTEM]
        widgets = self.messages()
        old = [*self._above, *(item_of(w) for w in widgets)]
        shared = 0
        for item, message in zip(old, shown, strict=False):
            if item.id is None or item.id != message.id:
                break
            shared += 1
        kept = shared - len(self._above)
        if kept < 0 or not widgets or any(widget_is_live(w) for w in widgets):
            self._window(_items(shown, branches), min(shared, max(0, len(shown) - 1)))
            return
        self._epoch += 1
        items = _items(shown[shared:], branches)
        room = self.scrollable_content_region.bottom
        if kept:
            room -= widgets[kept - 1].region.bottom
        count = _fitting(items, room, self.scrollable_content_region.width)
        self._below = items[count:]
        new = [widget_for(item) for item in items[:count]]
        children = list(self.children)
        gone = children[children.index(widgets[kept]) :] if kept < len(widgets) else []
        # Following the newest message would scroll the version chosen out of view.
        self.anchor(False)
        with self.app.batch_update():
            if gone:
                await self.remove_children(gone)
            if kept:
                last = widgets[kept - 1]
                self._keep = (last, self._placed.get(last, 0))
                await self.mount_all(new, after=last)
            else:
                await self.mount_all(new, before=0)
        self._schedule()

    def relabel(self, branches: Mapping[int, str]) -> None:
        """Show each message's place among its versions anew (another was added)."""
        for widget in self.messages():
            label = branches.get(widget.message_id, "") if widget.message_id is not None else ""
            if label != widget.branch:
                widget.show_branch(label)
        for items in (self._above, self._below):
            for index, item in enumerate(items):
                label = branches.get(item.id, "") if item.id is not None else ""
                if label != item.branch:
                    items[index] = replace(item, branch=label)

    def _window(self, items: list[Item], start: int | None, welcome: Widget | None = None) -> None:
        """Mount a batch of ``items`` from ``start`` (None: the newest) and fill the view."""
        self._epoch += 1
        newest = start is None
        if start is None:
            start = max(0, len(items) - FIRST)
        start = min(start, max(0, len(items) - 1))
        stop = min(len(items), start + FIRST)
        self._above, self._below = items[:start], items[stop:]
        self._keep = None
        self.remove_children()
        widgets: list[Widget] = [widget_for(item) for item in items[start:stop]]
        if not widgets and welcome is not None:
            widgets = [welcome]
        self.mount_all(widgets)
        if newest:
            self.anchor()
        else:  # the first mounted message at the top of the view
            self.anchor(False)
            self.scroll_home(animate=False, immediate=True)
        self._schedule()

    def items(self) -> list[Item]:
        """Every message of the conversation, mounted or not, oldest first."""
        return [*self._above, *(item_of(w) for w in self.messages()), *self._below]

    @property
    def window(self) -> tuple[int, int, int]:
        """How many messages are before the mounted ones, mounted, and after them."""
        return len(self._above), len(self.messages()), len(self._below)

    def messages(self) -> list[UserMessage | Reply]:
        """The mounted message widgets, in order."""
        return [c for c in self.children if isinstance(c, UserMessage | Reply)]

    def replies(self) -> list[Reply]:
        """The mounted reply widgets, in order."""
        return [c for c in self.children if isinstance(c, Reply)]

    def users(self) -> list[UserMessage]:
        """The mounted user message widgets, in order."""
        return [c for c in self.children if isinstance(c, UserMessage)]

    def last_reply(self) -> str | None:
        """The text of the newest reply, mounted or not."""
        return next((item.text for item in reversed(self.items()) if not item.user), None)

    def to_end(self) -> None:
        """Mount the newest messages (a reply or a notice is added after them) and follow them."""
        if self._below:
            self._window(self.items(), None)
        self.anchor()

    def add(self, widget: Widget) -> None:
        """Add ``widget`` (a notice) after the newest message, and follow it."""
        self.to_end()
        self.mount(widget)
        self.anchor()

    # Keys -----------------------------------------------------------------------------------

    def action_scroll_home(self) -> None:
        """Go to the oldest message of the whole chat."""
        if self._above and not any(r.live for r in self.replies()):
            self._window(self.items(), 0)
        else:
            super().action_scroll_home()

    def action_scroll_end(self) -> None:
        """Go to the newest message, and follow the reply being written."""
        if self._below:
            self.to_end()
        else:
            super().action_scroll_end()

    # Filling the window as the view moves ---------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """The view moved: mount what it nears."""
        super().watch_scroll_y(old_value, new_value)
        self._schedule()

    def on_resize(self, event: events.Resize) -> None:
        """The view changed size: it may show more."""
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and (self._above or self._below or len(self.children) > MOST):
            self._scheduled = True
            self.call_after_refresh(self._fill)

    async def _fill(self) -> None:
        """Mount one batch the view nears, or unmount what is far from it; then look again."""
        self._scheduled = False
        view = self.scrollable_content_region.height
        if not view or not self.is_mounted:
            return
        epoch, widgets = self._epoch, self.messages()
        top = self.scroll_y
        bottom = self.max_scroll_y - self.scroll_y
        if self._above and top < view * READY:
            items = self._above[-BATCH:]
            del self._above[-BATCH:]
            new = [widget_for(item) for item in items]
            if widgets:
                self._keep = (widgets[0], self._placed.get(widgets[0], 0))
                await self.mount_all(new, before=widgets[0])
            else:
                await self.mount_all(new, before=0)
        elif self._below and bottom < view * READY:
            items = self._below[:BATCH]
            del self._below[:BATCH]
            new = [widget_for(item) for item in items]
            if widgets:
                await self.mount_all(new, after=widgets[-1])
            else:
                await self.mount_all(new, before=0)
        elif not await self._unmount_far(widgets, view):
            return
        if epoch == self._epoch:
            self._schedule()

    async def _unmount_far(self, widgets: list[UserMessage | Reply], view: int) -> bool:
        """Unmount messages beyond ``MOST`` that are far out of view; whether any were."""
        excess = len(widgets) - MOST
        if excess <= 0:
            return False
        top, height = round(self.scroll_y), view
        far_above = top - height * (READY + 1)
        far_below = top + height * (READY + 2)
        gone: list[UserMessage | Reply] = []
        extra: list[Widget] = []
        if top > self.max_scroll_y - top:  # more lies above the view: drop the oldest
            for widget in widgets[:excess]:
                y = self._placed.get(widget)
                if y is None or y + widget.outer_size.height > far_above:
                    break
                gone.append(widget)
            if gone:
                kept = widgets[len(gone)]
                self._keep = (kept, self._placed.get(kept, 0))
                self._above.extend(item_of(w) for w in gone)
        else:
            for widget in reversed(widgets[-excess:]):
                y = self._placed.get(widget)
                if widget_is_live(widget) or y is None or y < far_below:
                    break
                gone.append(widget)
            if gone:
                gone.reverse()
                self._below[:0] = [item_of(w) for w in gone]
                # Notices follow the newest message: they go with it.
                children = list(self.children)
                extra = children[children.index(widgets[-1]) + 1 :]
        if gone:
            await self.remove_children([*gone, *extra])
        return bool(gone)

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        """Lay out the children; keep the place on screen of what the view showed.

        Messages mounted or unmounted above the view move it by their height, in this same
        layout, so that what the user reads does not jump.
        """
        result = super().arrange(size, optimal)
        if result is self._arranged:
            return result
        self._arranged = result
        self._placed = {p.widget: p.region.y for p in result.placements}
        if self._keep is not None and (y := self._placed.get(self._keep[0])) is not None:
            before = self._keep[1]
            self._keep = None
            scroll = max(0, round(self.scroll_y) + y - before)
            self.set_reactive(Widget.scroll_y, scroll)
            self.set_reactive(Widget.scroll_target_y, scroll)
            self.vertical_scrollbar.position = scroll
        return result


def widget_is_live(widget: Widget) -> bool:
    """Whether ``widget`` is a reply being written (never unmounted)."""
    return isinstance(widget, Reply) and widget.live


def _items(messages: Sequence[Message], branches: Mapping[int, str]) -> list[Item]:
    """How ``messages`` are shown (the system prompt is not), each with its place among versions.

    A reply lists the passages its question was given.
    """
    items: list[Item] = []
    sources: tuple[Passage, ...] = ()
    for m in messages:
        if m.role is Role.SYSTEM:
            continue
        if m.role is Role.USER:
            sources = m.passages
        items.append(Item.of(m, branches.get(m.id, "") if m.id is not None else "", sources))
    return items


def _fitting(items: Sequence[Item], rows: int, width: int) -> int:
    """How many of ``items`` (at least one) it takes to fill ``rows`` lines ``width`` wide.

    An estimate from the text, made before anything is laid out: the messages mounted at once
    after a switch are those the view shows, and the rest come a batch a frame.
    """
    width = max(10, width - 4)
    filled = 0
    for count, item in enumerate(items, 1):
        filled += 3  # the frame and the line under a reply
        for line in item.text.splitlines():
            filled += 1 + cell_len(line) // width
            if filled >= rows:
                return count
    return len(items)
