"""Evaluate every recommender on MovieLens-100k's five official splits.

    python -m lab.commands.evaluate [--peers] [--folds 1 2 3 4 5] [--models nnls_als ...] [--jobs 2]

A command line over :mod:`lab.evaluation`, which holds the protocol: for each
fold u1..u5 and each of our models in ``lab.models.REGISTRY``, choose the
hyperparameters on a validation split carved from ``u{fold}.base``, refit on
the whole base set, score on ``u{fold}.test``.  One line per model and fold as it
finishes.  Writes one row per model and fold to ``build/evaluation.csv``, and a
readable report (:mod:`lab.report`), ``build/evaluation.md`` with its figures beside it
(all written atomically); prints the fold means with their standard deviations.  Ctrl-C
stops it with one line.

With ``--peers`` (``make peers``) it runs the models of the peers' environment,
``.venv-peers``, instead (those whose ``environment`` is the peers'; there they join the
registry) and writes ``build/peers.csv``.
Either run rewrites the report from both files when both exist for the same folds,
so ours and the peers stand in one table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from lab import clock, evaluation, report
from lab.commands import shell
from lab.interface import Model
from lab.models import PEERS_ENVIRONMENT, REGISTRY

OURS_CSV = shell.ROOT / "build" / "evaluation.csv"
PEERS_CSV = shell.ROOT / "build" / "peers.csv"
REPORT = shell.ROOT / "build" / "evaluation.md"


def _quiet_workers() -> None:
    """Start a fold's worker (forked ignoring Ctrl-C, which is the parent's to handle): the
    lab's parallel kernels run on one thread, as BLAS does (the folds run side by side)."""
    shell.one_blas_thread()
    from lab import kernels
    kernels.set_threads(1)


def _run_fold(fold: int, models, data: Path) -> pd.DataFrame:
    start = clock.now()

    def progress(row):
        rmse = "   -  " if pd.isna(row["rmse"]) else f"{row['rmse']:.4f}"
        print(f"  u{fold} {row['model']:16s} rmse {rmse}  precision@{evaluation.TOP_N} "
              f"{row[evaluation.PRECISION]:.4f}  ({clock.now() - start:4.0f} s into the fold)",
              flush=True)

    table = evaluation.evaluate_fold(fold, models, path=data, progress=progress)
    print(f"fold u{fold}: {len(table)} models in {clock.now() - start:.0f} s", flush=True)
    return table


def write_report(results: pd.DataFrame, path: Path) -> None:
    """``path`` (Markdown, :func:`lab.report.markdown`) and its figures beside it (those the
    results have values for: :func:`lab.report.figures`)."""
    for name, figure in report.figures(results).items():
        shell.write_atomically(path.with_name(name), lambda p: figure.savefig(
            p, dpi=100, format="png", metadata={"Software": None}))
    text = report.markdown(results)
    shell.write_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


def _stop(pool: ProcessPoolExecutor | None) -> None:
    """End the folds' worker processes at once (Ctrl-C)."""
    if pool is not None:
        for process in multiprocessing.active_children():      # the pool's workers
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", action="store_true",
                        help="run the other libraries' models (lab/models/peers.py, in "
                             ".venv-peers) instead of ours")
    parser.add_argument("--folds", type=int, nargs="+", default=list(evaluation.FOLDS))
    parser.add_argument("--models", nargs="+", help="a subset of the models (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="folds evaluated in parallel")
    parser.add_argument("--data", type=Path, default=shell.DATA)
    parser.add_argument("--output", type=Path, help="the CSV written (default: build/"
                        "evaluation.csv, or build/peers.csv with --peers)")
    args = parser.parse_args(argv)
    # ours (the models of .venv), or (--peers) the models of the peers' environment, which
    # are registered where their libraries import; Spark's ALS (.venv-spark) is compared by
    # lab.commands.spark, not here
    environment = PEERS_ENVIRONMENT if args.peers else Model.environment
    candidates = [key for key, cls in REGISTRY.items() if cls.environment == environment]
    if args.peers and not candidates:
        parser.error("the other libraries' models are not installed here; run `make peers`, "
                     "which builds their environment (.venv-peers).")
    models = args.models or candidates
    unknown = [m for m in models if m not in candidates]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(candidates)}"
                     + ("" if args.peers else " (the other libraries' models need --peers)"))
    output = args.output or (PEERS_CSV if args.peers else OURS_CSV)
    shell.one_blas_thread()
    start = clock.now()
    print(f"evaluating {len(models)} models on folds "
          f"{', '.join(f'u{f}' for f in args.folds)} ({args.jobs} at a time); one line per "
          "model as it finishes", flush=True)
    pool = None
    with shell.on_ctrl_c(f"{output} was not written", cleanup=lambda: _stop(pool)):
        if args.jobs > 1:
            with shell.ctrl_c_ignored():        # the workers are forked ignoring Ctrl-C
                pool = ProcessPoolExecutor(max_workers=args.jobs, initializer=_quiet_workers)
                n = len(args.folds)
                tables = pool.map(_run_fold, args.folds, [models] * n, [args.data] * n)
            tables = list(tables)
            pool.shutdown()
        else:
            tables = [_run_fold(fold, models, args.data) for fold in args.folds]
    results = pd.concat(tables, ignore_index=True)
    shell.write_table(results, output)
    other = output.with_name((OURS_CSV if args.peers else PEERS_CSV).name)
    everything, note = report.combined(results, other)
    report_path = output.with_name(REPORT.name)
    write_report(everything, report_path)
    print()
    print(report.text(everything))
    print(f"\nwrote {output} ({len(results)} rows) and {report_path} in "
          f"{clock.now() - start:.0f} s; {note}")
    return 0


if __name__ == "__main__":
    sys.exit(shell.run(main))
