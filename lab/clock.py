"""The lab's one clock: :func:`now`, a piece of work timed (:func:`timed`), the fastest of
several runs (:func:`best_time`).  The evaluation's fit times, the benchmarks and the
commands' progress lines read it (tests fake it by patching :func:`now`).
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


def best_time(work: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``work()``, in seconds: on a shared machine the best
    run is the least disturbed one."""
    return min(timed(work)[1] for _ in range(repeat))


__all__ = ["now", "timed", "best_time"]
