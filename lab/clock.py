"""The lab's one clock: :func:`now`, a piece of work timed (:func:`timed`), the fastest of
several runs, interleaved (:func:`fastest`, :func:`best_time`).  The evaluation's fit times,
the benchmarks and the commands' progress lines read it (tests fake it by patching
:func:`now`).
Only the standard library: :mod:`lab.commands.shell` imports it before any environment
exists."""

from __future__ import annotations

import time
from collections.abc import Callable


def now() -> float:
    """Seconds on a monotonic clock (:func:`time.perf_counter`): differences are durations."""
    return time.perf_counter()


def timed(work: Callable[[], object]) -> tuple[object, float]:
    """``(work(), the seconds it took)``."""
    start = now()
    result = work()
    return result, now() - start


def fastest(works: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple]:
    """``{name: (seconds, result)}`` of the fastest of ``repeat`` runs of each named work, the
    runs interleaved (one of each in turn, ``repeat`` times): on a shared machine the best run
    is the least disturbed one, and a slow spell hits every work alike."""
    best = {name: (float("inf"), None) for name in works}
    for _ in range(repeat):
        for name, work in works.items():
            result, seconds = timed(work)
            if seconds < best[name][0]:
                best[name] = (seconds, result)
    return best


def best_time(work: Callable[[], object], repeat: int) -> float:
    """The seconds of the fastest of ``repeat`` runs of ``work()`` (:func:`fastest`)."""
    return fastest({"work": work}, repeat)["work"][0]


__all__ = ["now", "timed", "fastest", "best_time"]
