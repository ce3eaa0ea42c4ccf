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
