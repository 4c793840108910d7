"""What every command shares (lab.commands.shell): one BLAS thread, files written atomically,
and Ctrl-C ending a command with one line and exit status 130 - by the shell's functions
directly, and by each make target's command run in a process of its own and sent SIGINT, as a
terminal's Ctrl-C sends it to the whole process group."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lab.commands import shell
from scripts import ROOT
from needs import needs_spark


# --- files ------------------------------------------------------------------------------------

def test_write_atomically_makes_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "build" / "table.csv"
    assert shell.write_atomically(path, lambda p: p.write_text("a,b\n1,2\n")) == path
    assert path.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.csv"]


@pytest.mark.parametrize("stop", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_writer_that_fails_leaves_the_old_file_or_none_and_no_partial_one(tmp_path, stop):
    def half_then_fail(p):
        p.write_text("a,b\n1,")                    # half of the new file, then the failure
        raise stop

    fresh, existing = tmp_path / "fresh.csv", tmp_path / "existing.csv"
    existing.write_text("old\n")
    for path in (fresh, existing):
        with pytest.raises(type(stop)):
            shell.write_atomically(path, half_then_fail)
    assert not fresh.exists() and existing.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.csv"]


# --- threads ----------------------------------------------------------------------------------

def test_one_blas_thread_limits_blas_and_leaves_numba_its_threads():
    probe = ("from lab.commands import shell\nfrom lab import kernels\n"
             "before = kernels.numba.get_num_threads() if kernels.numba else 0\n"
             "shell.one_blas_thread()\n"
             "from threadpoolctl import threadpool_info\n"
             "blas = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
             "after = kernels.numba.get_num_threads() if kernels.numba else 0\n"
             "print(len(blas) >= 2, set(blas) == {1}, before == after)")
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]      # NumPy's and SciPy's BLAS


# --- Ctrl-C, in the process -------------------------------------------------------------------

def test_ctrl_c_in_a_command_prints_one_line_and_returns_130(capsys):
    def main(argv):
        print("working")
        raise KeyboardInterrupt

    assert shell.run(main) == 130
    out, err = capsys.readouterr()
    assert out == "working\n" and err == "\ninterrupted.\n"


def test_ctrl_c_names_what_was_lost_after_a_quiet_clean_up(capsys):
    cleaned = []

    def clean_up():
        cleaned.append(True)
        print("noise on stdout")
        print("noise on stderr", file=sys.stderr)
        logging.getLogger("py4j").error("Exception while sending command.", exc_info=True)
        raise ConnectionError("the bridge is gone")

    def main(argv):
        with shell.on_ctrl_c("build/x.csv was not written", cleanup=clean_up):
            with shell.on_ctrl_c("the inner block's"):     # the inner block's message is kept
                raise KeyboardInterrupt

    assert shell.run(main, ["--any"]) == 130
    out, err = capsys.readouterr()
    assert cleaned == [True]
    assert out == "" and err == "\ninterrupted: the inner block's.\n"
    assert logging.getLogger("py4j").isEnabledFor(logging.ERROR)    # logging is back


def test_a_library_logging_ctrl_c_with_its_traceback_is_silent_other_warnings_are_not():
    """As py4j does when Ctrl-C cuts a call to Spark: it logs the KeyboardInterrupt (on the
    root logger) and an error of its clean-up (raised while handling it), both with their
    tracebacks; only the shell's line is printed, while a warning of its own still shows."""
    script = (
        "import logging, sys\nfrom lab.commands import shell\n"
        "def main(argv):\n"
        "    try:\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt:\n"
        "        logging.exception('KeyboardInterrupt while sending command.')\n"
        "        try:\n"
        "            raise OSError('the socket is closed')\n"
        "        except OSError:\n"
        "            logging.getLogger('py4j.clientserver').exception('shutting down')\n"
        "        logging.getLogger('lab').warning('a warning of its own')\n"
        "        raise\n"
        "sys.exit(shell.run(main))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 130
    assert result.stderr == "a warning of its own\n\ninterrupted.\n"


def test_a_silenced_library_logs_nothing_in_the_block_nor_after_ctrl_c(capsys):
    """As py4j may when Ctrl-C cuts its read: an error that is no KeyboardInterrupt, logged
    as it happens (or when its objects are collected later); the block silences the
    library's loggers, after Ctrl-C until the command ends, and only its own line shows."""
    logger = logging.getLogger("py4j.clientserver")

    def main(argv):
        with shell.on_ctrl_c("x.csv was not written", silenced=("py4j",)):
            try:
                raise RuntimeError("reentrant call inside <_io.BufferedReader name=3>")
            except RuntimeError:
                logger.exception("Exception while sending command.")
            raise KeyboardInterrupt

    assert shell.run(main, ["--any"]) == 130
    assert capsys.readouterr().err == "\ninterrupted: x.csv was not written.\n"
    assert not logger.isEnabledFor(logging.CRITICAL)   # silent until the command ends
    logging.getLogger("py4j").setLevel(logging.NOTSET)
    with shell.on_ctrl_c("x.csv was not written", silenced=("py4j",)):
        assert not logger.isEnabledFor(logging.CRITICAL)
    assert logger.isEnabledFor(logging.ERROR)          # a block that ends: logging is back


def test_a_command_that_ends_normally_keeps_its_exit_status(capsys):
    assert shell.run(lambda argv: 3, ["x"]) == 3
    assert capsys.readouterr().err == ""


def test_ctrl_c_is_ignored_inside_the_block_and_restored_after():
    before = signal.getsignal(signal.SIGINT)
    with shell.ctrl_c_ignored():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before


# --- Ctrl-C, each make target's command in a process of its own -------------------------------

def _ctrl_c_as_in_a_terminal() -> None:
    """In the child before it starts: SIGINT handled as a terminal's process has it, even
    where the tests themselves run with it ignored (started in the background by a
    non-interactive shell, ``command &``, whose children inherit SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted(command: list[str], after_line: int = 1, pause: float = 1.0,
                 timeout: float = 120.0):
    """Run ``command`` in a new process group, wait for its ``after_line``-th line on stdout
    (and ``pause`` seconds more), send SIGINT to the whole group as a terminal's Ctrl-C does;
    return its exit status, stderr, and whether any process of the group outlived it."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=_ctrl_c_as_in_a_terminal,
                               env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a crash's stack
    try:
        for _ in range(after_line):
            line = process.stdout.readline()
            assert line, f"{command} ended before printing: {process.stderr.read()}"
        time.sleep(pause)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=timeout)
        deadline, survivors = time.monotonic() + 10, True
        while survivors and time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                survivors = False
        return process.returncode, err, survivors
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_make_evaluate_with_one_line(tmp_path, ml_100k, jobs):
    """``make evaluate``'s command, folds in worker processes or not: one line, 130, no
    CSV, and no worker left behind."""
    output = tmp_path / "evaluation.csv"
    status, err, survivors = _interrupted(
        [sys.executable, "-m", "lab.commands.evaluate", "--folds", "1", "2", "--models",
         "bayesian_nmf", "--jobs", str(jobs), "--data", str(ml_100k), "--output", str(output)])
    assert status == 130, err
    assert _lines(err) == [f"interrupted: {output} was not written."], err
    assert not survivors and list(tmp_path.iterdir()) == []


def test_ctrl_c_stops_make_bench_with_one_line(ml_100k):
    status, err, survivors = _interrupted([sys.executable, "-m", "lab.commands.bench",
                                           "--only", "digits", "--data", str(ml_100k)])
    assert status == 130 and _lines(err) == ["interrupted."], err
    assert not survivors


def test_ctrl_c_stops_make_bench_at_scale_and_its_case_with_one_line(tmp_path):
    output = tmp_path / "bench_scale.json"
    status, err, survivors = _interrupted(
        [sys.executable, "-m", "lab.commands.bench_scale", "--sizes", "10m", "--algorithms",
         "nnls_als", "--output", str(output)], pause=2.0)
    assert status == 130
    assert _lines(err) == [f"interrupted: {output} was not written."], err
    assert not survivors and list(tmp_path.iterdir()) == []


#: The JVM's notes at start-up, which the Makefile hides (``--hide`` of tools/with_heartbeat.py).
JVM_NOTES = re.compile(r"^(WARNING: Using incubator modules|netlib-blas: JNI_OnLoad: dlopen)")


@needs_spark
@pytest.mark.parametrize("module, arguments, after_line", [
    ("lab.commands.spark", ["--folds", "1"], 3),          # Spark started, fold 1 running
    ("lab.commands.spark_scale", ["--sizes", "1m"], 3)])  # nnls_als timed, Spark's fits next
def test_ctrl_c_stops_spark_quietly_with_one_line(tmp_path, module, arguments, after_line):
    """``make spark`` and ``make spark-scale``, stopped while Spark works: Spark is stopped,
    py4j stays silent, one line."""
    output = tmp_path / "out.csv"
    status, err, survivors = _interrupted(
        [sys.executable, "-m", module, *arguments, "--output", str(output)],
        after_line=after_line, pause=8.0, timeout=180)
    assert status == 130
    assert [line for line in _lines(err) if not JVM_NOTES.match(line)] == [
        f"interrupted: {output} was not written."], err
    assert not survivors and not output.exists()
