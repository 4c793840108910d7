"""The lab's clock (lab.clock), on the fake clock of conftest.py (``fake_now``)."""

import itertools


from lab import clock


def test_timed_returns_the_result_and_the_seconds(fake_now):
    assert clock.timed(lambda: fake_now(2.5, "done")) == ("done", 2.5)


def test_best_time_is_the_fastest_of_the_runs(fake_now):
    delays = iter([4.0, 0.5, 2.0])
    assert clock.best_time(lambda: fake_now(next(delays)), 3) == 0.5


def test_fastest_interleaves_the_works_and_keeps_the_best_runs_result(fake_now):
    order, runs = [], itertools.count()

    def work(name, seconds):
        def run():
            order.append(name)
            k = next(runs)
            return fake_now(seconds[len([n for n in order if n == name]) - 1], (name, k))
        return run
    best = clock.fastest({"a": work("a", [3.0, 1.0, 2.0]), "b": work("b", [0.5, 4.0, 0.7])}, 3)
    assert order == ["a", "b"] * 3                       # one of each in turn
    assert best == {"a": (1.0, ("a", 2)), "b": (0.5, ("b", 1))}
