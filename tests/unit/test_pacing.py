from __future__ import annotations

import pytest

from chattui.tui.pacing import FIRST_GUESS, RECENT, Pacer


class Clock:
    """Drives a Pacer as the UI would: an update when due, costing ``cost`` of UI CPU."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer, self.now, self.cpu = pacer, 0.0, 0.0

    def update(self, cost: float) -> None:
        self.now += max(self.pacer.delay(self.now), 0.001)
        self.pacer.update(self.now, self.cpu)
        self.cpu += cost


def pacer() -> Pacer:
    return Pacer(share=0.02, fastest=0.05, slowest=0.5)


def test_before_any_measure_the_pace_is_a_guess() -> None:
    assert pacer().wait == pytest.approx(FIRST_GUESS / 0.02)


def test_the_first_text_of_each_reply_shows_at_once() -> None:
    paced = pacer()
    assert paced.delay(0.0) == 0.0
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(0.01)
    assert paced.delay(clock.now) > 0.0
    paced.restart()
    assert paced.delay(clock.now) == 0.0
    clock.update(0.01)
    assert paced.delay(clock.now) == pytest.approx(0.5)  # then the pace measured before


def test_cheap_updates_come_at_the_fastest_pace() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(0.0001)
    assert paced.wait == 0.05
    assert paced.delay(clock.now + 0.04) == pytest.approx(0.01)
    assert paced.delay(clock.now + 0.05) == 0.0


def test_the_ui_thread_keeps_to_its_share() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(0.002)  # 2 ms per update: 2% of a core means 10 updates a second
    assert paced.wait == pytest.approx(0.1)
    start_cpu, start = clock.cpu, clock.now
    for _ in range(50):
        clock.update(0.002)
    assert (clock.cpu - start_cpu) / (clock.now - start) == pytest.approx(0.02, rel=0.05)


def test_never_slower_than_the_slowest_pace() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(1.0)
    assert paced.wait == 0.5


def test_dearer_updates_that_recur_count_in_full() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT):
        for cost in (0.002, 0.002, 0.002, 0.006):  # every fourth adds a line: layout, scroll
            clock.update(cost)
    clock.update(0.002)
    assert paced.wait == pytest.approx(0.003 / 0.02)


def test_one_slow_update_does_not_stall_the_next() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(0.002)
    clock.update(0.08)  # a garbage collection, or the first update of a reply mounting widgets
    clock.update(0.002)
    assert paced.wait < 0.15


def test_a_lasting_rise_in_cost_is_followed() -> None:
    paced = pacer()
    clock = Clock(paced)
    for _ in range(RECENT + 1):
        clock.update(0.002)
    for _ in range(RECENT + 1):
        clock.update(0.006)  # the last Markdown block grew long
    assert paced.wait == pytest.approx(0.3)
