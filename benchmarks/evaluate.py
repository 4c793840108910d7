"""Evaluate every recommender on MovieLens-100k's five official splits.

    python benchmarks/evaluate.py [--folds 1 2 3 4 5] [--models nnls_als ...] [--jobs 2]

A command line over :mod:`evaluation`, which holds the protocol: for each
fold u1..u5 and each model in ``evaluation.MODELS``, choose the
hyperparameters on a validation split carved from ``u{fold}.base``, refit on
the whole base set, score on ``u{fold}.test``.  Writes one row per model and
fold to ``build/evaluation.csv`` (atomically) and prints the fold means with
their standard deviations and the best model of each kind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import pandas as pd  # noqa: E402

import evaluation  # noqa: E402


def _run_fold(fold: int, models, data: Path) -> pd.DataFrame:
    import warnings
    warnings.filterwarnings("ignore", message="Maximum number of iterations")  # sklearn's NMF
    start = time.perf_counter()
    table = evaluation.evaluate_fold(fold, models, path=data)
    print(f"fold u{fold}: {len(table)} models in {time.perf_counter() - start:.0f} s", flush=True)
    return table


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file, so a crash leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    table.to_csv(temporary, index=False, float_format="%.6g")
    os.replace(temporary, path)


def _best_line(label, values, lower_is_better):
    values = values.dropna()
    if values.empty:
        return f"{label}: no model evaluated"
    name = values.idxmin() if lower_is_better else values.idxmax()
    return f"{label}: {values[name]:.4f} ({name})"


def report(results: pd.DataFrame) -> str:
    summary = evaluation.summarize(results)
    lines = [f"Fold means over {results['fold'].nunique()} fold(s) "
             "(± standard deviation across folds):", ""]
    shown = pd.DataFrame(index=summary.index)
    for metric in evaluation.EVALUATION_COLS[3:]:
        mean, std = summary[(metric, "mean")], summary[(metric, "std")].fillna(0)
        digits = 1 if metric == "fit_seconds" else 4
        shown[metric] = [("—" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}")
                         for m, s in zip(mean, std)]
    lines.append(shown.to_string())
    non_negative = [m for m in summary.index if evaluation.MODELS[m].non_negative]
    lines.append("")
    lines.append(_best_line("best non-negative RMSE", summary.loc[non_negative, ("rmse", "mean")],
                            lower_is_better=True))
    lines.append(_best_line("best RMSE", summary[("rmse", "mean")], lower_is_better=True))
    lines.append(_best_line("best precision@10", summary[("precision_at_10", "mean")],
                            lower_is_better=False))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=list(evaluation.FOLDS))
    parser.add_argument("--models", nargs="+", default=list(evaluation.MODELS),
                        choices=list(evaluation.MODELS))
    parser.add_argument("--jobs", type=int, default=2, help="folds evaluated in parallel")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ml-100k")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "evaluation.csv")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            tables = list(pool.map(_run_fold, args.folds, [args.models] * len(args.folds),
                                   [args.data] * len(args.folds)))
    else:
        tables = [_run_fold(fold, args.models, args.data) for fold in args.folds]
    results = pd.concat(tables, ignore_index=True)
    write_csv(results, args.output)
    print()
    print(report(results))
    print(f"\nwrote {args.output} ({len(results)} rows) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
