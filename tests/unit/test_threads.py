"""The thread tuner picks the fastest count from measured steps and follows a change of load."""

from __future__ import annotations

from collections.abc import Callable

from chattui.engine.threads import ThreadTuner


def run(tuner: ThreadTuner, steps: int, cost: Callable[[int], float]) -> list[int]:
    """Drive the tuner for ``steps`` steps whose time depends on the thread count."""
    used = []
    for _ in range(steps):
        threads = tuner.next()
        used.append(threads)
        tuner.record(threads, cost(threads))
    return used


def idle(threads: int) -> float:
    return {2: 0.010, 1: 0.016}[threads]  # two threads are faster on an idle machine


def busy(threads: int) -> float:
    return {2: 0.040, 1: 0.013}[threads]  # one core taken: two threads wait on each other


def test_an_idle_machine_keeps_every_thread_and_rarely_probes() -> None:
    tuner = ThreadTuner(2, period=1000)
    used = run(tuner, 2000, idle)
    assert tuner.chosen == 2
    assert used.count(1) <= 3 * (tuner.probe + 1)  # the first probe and one or two routine ones


def test_a_busy_machine_drops_to_one_thread_and_comes_back_when_it_frees() -> None:
    tuner = ThreadTuner(2, period=200)
    run(tuner, 100, busy)
    assert tuner.chosen == 1
    used = run(tuner, 300, idle)  # the load went away: the next routine probe sees it
    assert tuner.chosen == 2 and used[-1] == 2


def test_load_arriving_is_noticed_at_once() -> None:
    tuner = ThreadTuner(2, period=10_000)
    run(tuner, 50, idle)
    assert tuner.chosen == 2
    used = run(tuner, 40, busy)  # far before a routine probe
    assert tuner.chosen == 1 and used[-1] == 1


def test_the_first_step_after_a_switch_is_not_counted() -> None:
    tuner = ThreadTuner(2)
    first = True

    def cost(threads: int) -> float:
        nonlocal first
        slow = first
        first = False
        return 1.0 if slow else idle(threads)  # waking the threads up once is slow

    run(tuner, 20, cost)
    assert tuner.chosen == 2


def test_one_core_means_one_thread_and_no_probing() -> None:
    tuner = ThreadTuner(1)
    assert run(tuner, 50, lambda n: 0.01) == [1] * 50


def test_more_cores_offer_half_as_a_middle_ground() -> None:
    assert ThreadTuner(8).candidates == [8, 4, 1]


class Load:
    """A gauge whose readings the test sets: cores other processes keep busy."""

    def __init__(self) -> None:
        self.busy = 0.0
        self.due = True
        self.restarts = 0

    def others(self) -> float | None:
        return self.busy if self.due else None

    def restart(self) -> None:
        self.restarts += 1


def test_with_a_gauge_the_count_follows_the_load_without_probing() -> None:
    load = Load()
    tuner = ThreadTuner(2, load)
    assert tuner.candidates == [2, 1]
    assert run(tuner, 20, idle) == [2] * 20  # nothing is tried at a slow count
    load.busy = 0.67  # another process shares the cores with our two threads
    used = run(tuner, 20, busy)
    assert used[0] == 2 and used[1:] == [1] * 19
    load.busy = 1.0  # with us on one thread, it has its whole core
    assert run(tuner, 20, busy) == [1] * 20
    load.busy = 0.02  # it ended
    used = run(tuner, 20, idle)
    assert used[0] == 1 and used[1:] == [2] * 19


def test_a_load_near_the_edge_does_not_flap() -> None:
    load = Load()
    tuner = ThreadTuner(2, load)
    load.busy = 0.4  # a light load: two threads are kept
    assert run(tuner, 10, idle)[-1] == 2
    load.busy = 1.0
    run(tuner, 2, busy)
    load.busy = 0.4  # the same light load does not bring the second thread back...
    assert run(tuner, 10, idle)[-1] == 1
    load.busy = 0.2  # ...a lighter one does
    assert run(tuner, 10, idle)[-1] == 2


def test_with_a_gauge_every_count_up_to_the_cores_is_a_choice() -> None:
    load = Load()
    tuner = ThreadTuner(8, load)
    load.busy = 3.0
    run(tuner, 2, idle_any)
    assert tuner.chosen == 5
    load.busy = 9.0  # busier than the machine: one thread still runs
    run(tuner, 2, idle_any)
    assert tuner.chosen == 1


def test_between_readings_the_count_stays_and_a_reply_restarts_the_reading() -> None:
    load = Load()
    tuner = ThreadTuner(2, load)
    load.due, load.busy = False, 1.0
    assert run(tuner, 10, idle) == [2] * 10
    tuner.start()
    assert load.restarts == 1


def idle_any(threads: int) -> float:
    return 0.1 / threads


def test_prompt_batches_follow_the_load_too_but_only_with_a_gauge() -> None:
    load = Load()
    tuner = ThreadTuner(2, load)
    assert tuner.prompt_threads() == 2
    load.busy = 1.0
    assert tuner.prompt_threads() == 1
    assert tuner.next() == 1  # the decode steps that follow start where the prompt left off
    timed = ThreadTuner(2)
    assert timed.prompt_threads() == 2  # without a gauge, prompts keep every thread
