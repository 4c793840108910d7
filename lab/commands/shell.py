"""What every command of the lab does the same way: its threads, its files, its Ctrl-C.

* :func:`one_blas_thread` - BLAS on one thread in this process (through threadpoolctl), as
  ``make`` runs everything, so that two runs give the same bits; the compiled kernels
  (numba) keep their own threads.  (The scale part of ``make bench`` does not call it: it
  measures the models in the thread settings a user may have.)
* :func:`write_atomically` - a file written through a temporary file beside it and
  ``os.replace``: whatever stops the writer, the old file or none is left, never half a file
  (the build's tools in ``tools/`` write the hand-in's files through it too);
  :func:`write_table`, a results table as CSV through it.
* :data:`DATA` - the MovieLens folder every command reads by default (``--data``), and
  :data:`SEED`, the seed of the benchmarks' data and fits; :data:`SCALE_RANK` and
  :data:`SCALE_L2`, the rank and penalty of the scale benchmarks' fits;
* :func:`per_iteration` and :func:`timed_fits` - one iteration of a fit, without its set-up
  (the scale benchmarks, ours and Spark's), on the lab's one clock (:mod:`lab.clock`);
* :func:`run` and :func:`on_ctrl_c` - Ctrl-C ends a command with one line on stderr,
  ``interrupted: <what was not done>.``, and exit status 130: no traceback, not even one a
  library logs (py4j's, when Ctrl-C cuts a call to Spark); ``on_ctrl_c`` first runs a
  clean-up (stop Spark, the worker processes) with its complaints silenced, and
  :func:`ctrl_c_ignored` starts worker processes that leave Ctrl-C to their parent.

Each command's module ends with ``sys.exit(shell.run(main))``.  Only the standard library (and
:mod:`lab.clock`, which imports no more) is imported here at module level (threadpoolctl
and NumPy inside :func:`one_blas_thread`), so
``python -m lab.commands.spark --check-java`` runs under any Python 3.7+ before the Spark
environment exists.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from lab.clock import fastest, timed

#: The repository's root folder: the default places of the data and of build/.
ROOT = Path(__file__).resolve().parents[2]
#: Where ``make data`` puts MovieLens-100k (``data/get_movielens.py``'s ``TARGET``, a script
#: the package cannot import): every command's ``--data`` by default.
DATA = ROOT / "data" / "ml-100k"
#: The seed of the benchmarks' data and fits (``make bench``, ``make spark-scale``); the
#: evaluation seeds each fold's validation search by the fold's number.
SEED = 0
#: The rank and penalty of the scale benchmarks' fits, ours and Spark's alike (``make bench``'s
#: timing at scale, ``make spark-scale``).
SCALE_RANK, SCALE_L2 = 20, 0.1
#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as a shell reports it.
INTERRUPTED = 130


def one_blas_thread() -> None:
    """Run BLAS on one thread in this process: NumPy's and SciPy's OpenBLAS (imported here
    first, so that both libraries are loaded when threadpoolctl limits them).  numba's
    compiled kernels are not BLAS and keep their threads.  A command pins the whole process
    so that its numbers do not depend on the machine's cores; the kernels' own limit,
    :func:`lab.kernels.single_threaded_blas`, holds only around their calls, for a user's
    plain Python."""
    import numpy  # noqa: F401  (loads NumPy's BLAS)
    import scipy.linalg  # noqa: F401  (loads SciPy's, which scikit-learn and numba use)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def per_iteration(fit: Callable[[int], object], extra: int, repeat: int) -> tuple[float, float]:
    """``(seconds of one iteration, seconds of a 1-iteration fit)``, best of ``repeat``:
    ``fit(k)`` fits k iterations, and one iteration is ``(fit(1 + extra) - fit(1)) / extra``,
    so that what a fit does once is left out (each the fastest of its runs,
    :func:`lab.clock.fastest`)."""
    best = fastest({"one": lambda: fit(1), "more": lambda: fit(1 + extra)}, repeat)
    return (best["more"][0] - best["one"][0]) / extra, best["one"][0]


def timed_fits(fit: Callable[[int], object], extra: int, repeat: int):
    """Time ``fit(k)``: the first fit (imports, compiling, a session's start), then
    :func:`per_iteration`.  Returns the first fit's result and the seconds of the first fit,
    of one iteration and of a fit's set-up."""
    model, first = timed(lambda: fit(1))
    step, one = per_iteration(fit, extra, repeat)
    return model, first, step, max(one - step, 0.0)


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` by calling ``write(temporary)`` on a temporary file in the same folder
    (made if missing), then ``os.replace`` it onto ``path``.  If ``write`` raises (or Ctrl-C
    stops it), the temporary file is deleted and ``path`` is as it was.  Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_table(table, path: str | Path) -> Path:
    """A results table (a pandas DataFrame) as CSV, numbers to six significant digits,
    written atomically (:func:`write_atomically`)."""
    return write_atomically(path, lambda p: table.to_csv(p, index=False, float_format="%.6g"))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what it left undone (``lost``, e.g. "build/spark.csv was not written")."""

    def __init__(self, lost: str | None = None):
        super().__init__(lost)
        self.lost = lost


def quietly(cleanup: Callable[[], object]) -> None:
    """Call ``cleanup`` with its errors, its output and its log records suppressed (a
    library stopped in the middle of a call, like py4j's bridge to Spark, complains)."""
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            cleanup()
    except BaseException:       # a second Ctrl-C during the clean-up, too
        pass
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def on_ctrl_c(lost: str | None = None, cleanup: Callable[[], object] | None = None,
              silenced: tuple[str, ...] = ()) -> Iterator[None]:
    """On Ctrl-C inside the block: run ``cleanup`` :func:`quietly`, then raise
    :class:`Interrupted` with ``lost``, which :func:`run` reports in one line.  The loggers
    named in ``silenced`` log nothing inside the block, and after a Ctrl-C nothing until the
    command ends: a library that logs the call Ctrl-C cut (py4j: "Exception while sending
    command."), as it happens or when its objects are collected later, would print before
    the one line; its errors still raise.  A block that ends otherwise gives them back their
    levels."""
    loggers = [logging.getLogger(name) for name in silenced]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    except KeyboardInterrupt as interrupt:
        if cleanup is not None:
            quietly(cleanup)
        if isinstance(interrupt, Interrupted) and interrupt.lost:
            raise
        raise Interrupted(lost) from None
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


@contextlib.contextmanager
def spark_block(lost: str) -> Iterator[None]:
    """A block that uses Spark (``make spark``, ``make spark-scale``): on Ctrl-C, Spark is
    stopped quietly and the command ends with one line (:func:`on_ctrl_c`, py4j's loggers
    silenced); however the block ends, Spark is stopped (:func:`lab.models.spark.stop_spark`)."""
    from lab.models.spark import stop_spark
    try:
        with on_ctrl_c(lost, cleanup=lambda: stop_spark(quiet=True), silenced=("py4j",)):
            yield
    finally:
        stop_spark()


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Ignore Ctrl-C inside the block: processes forked there inherit that (Ctrl-C is the
    parent's to handle); the parent's own handler is back after the block."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupted_line(interrupt: KeyboardInterrupt) -> str:
    """The one line a command prints on Ctrl-C."""
    lost = interrupt.lost if isinstance(interrupt, Interrupted) else None
    return f"interrupted: {lost}." if lost else "interrupted."


class _NoCtrlCTracebacks(logging.Filter):
    """Drops a log record whose exception is a KeyboardInterrupt or was raised while one was
    handled: py4j logs Ctrl-C in the middle of a call to Spark, and its own clean-up of the
    cut connection, with their tracebacks; Ctrl-C is the shell's to report, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error, seen = (record.exc_info[1] if record.exc_info else None), set()
        while error is not None and id(error) not in seen:
            if isinstance(error, KeyboardInterrupt):
                return False
            seen.add(id(error))
            error = error.__cause__ or error.__context__
        return True


class _Stderr(logging.Handler):
    """What Python prints of an unhandled log record (its last resort: the message, and the
    traceback if any, of warnings and worse on stderr), without the Ctrl-C tracebacks."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.addFilter(_NoCtrlCTracebacks())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``'s exit status; on Ctrl-C one line on stderr (after a line break, so it
    does not follow the terminal's ``^C``) and :data:`INTERRUPTED`.  While ``main`` runs, a
    log record of a KeyboardInterrupt (a library reporting Ctrl-C itself) is not printed:
    where nothing configured logging, a handler like Python's last resort takes the records
    of every logger (so that a library's ``logging.exception`` does not install one of its
    own), without those."""
    root = logging.getLogger()
    handlers = [] if root.handlers else [_Stderr()]
    for handler in handlers:
        root.addHandler(handler)
    try:
        return main(argv)
    except KeyboardInterrupt as interrupt:
        sys.stdout.flush()
        print(f"\n{interrupted_line(interrupt)}", file=sys.stderr, flush=True)
        return INTERRUPTED
    finally:
        for handler in handlers:
            root.removeHandler(handler)


__all__ = ["ROOT", "DATA", "SEED", "SCALE_RANK", "SCALE_L2", "INTERRUPTED", "per_iteration",
           "timed_fits", "one_blas_thread", "write_atomically", "write_table", "Interrupted",
           "quietly", "on_ctrl_c", "spark_block", "ctrl_c_ignored", "interrupted_line", "run"]
