"""Evaluate every recommender on MovieLens-100k's five official splits.

    python -m lab.evaluate [--peers] [--folds 1 2 3 4 5] [--models nnls_als ...] [--jobs 2]

A command line over :mod:`lab.evaluation`, which holds the protocol: for each
fold u1..u5 and each of our models in ``lab.models.REGISTRY``, choose the
hyperparameters on a validation split carved from ``u{fold}.base``, refit on
the whole base set, score on ``u{fold}.test``.  One line per model and fold as it
finishes.  Writes one row per model and fold to ``build/evaluation.csv``, and a
readable report, ``build/evaluation.md`` with two figures beside it (all written
atomically); prints the fold means with their standard deviations.  Ctrl-C stops
it with one line.

With ``--peers`` (``make peers``, in the peers' own environment, where their adapters of
``lab/peers/models.py`` join the registry) it runs the other libraries' models instead and
writes ``build/peers.csv``.
Either run rewrites the report from both files when both exist for the same folds,
so ours and the peers stand in one table.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lab import evaluation  # noqa: E402
from lab.models import REGISTRY  # noqa: E402
from lab.peers.models import PEERS  # noqa: E402  (loads without the libraries: for labels)

METRICS = evaluation.METRICS
PRECISION = f"precision_at_{evaluation.TOP_N}"
OURS_CSV = ROOT / "build" / "evaluation.csv"
PEERS_CSV = ROOT / "build" / "peers.csv"
REPORT = ROOT / "build" / "evaluation.md"


def _quiet_workers() -> None:
    """Start a fold's worker: Ctrl-C is the parent's to handle, and the lab's parallel
    kernels run on one thread, as BLAS does (the folds already run side by side)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from lab import kernels
    if kernels.numba is not None:
        kernels.numba.set_num_threads(1)


def _run_fold(fold: int, models, data: Path, peers: bool) -> pd.DataFrame:
    import warnings
    warnings.filterwarnings("ignore", message="Maximum number of iterations")  # sklearn's NMF
    start = time.perf_counter()

    def progress(row):
        rmse = "   -  " if pd.isna(row["rmse"]) else f"{row['rmse']:.4f}"
        print(f"  u{fold} {row['model']:16s} rmse {rmse}  precision@{evaluation.TOP_N} "
              f"{row[PRECISION]:.4f}  ({time.perf_counter() - start:4.0f} s into the fold)",
              flush=True)

    table = evaluation.evaluate_fold(fold, models, path=data, progress=progress)
    print(f"fold u{fold}: {len(table)} models in {time.perf_counter() - start:.0f} s", flush=True)
    return table


def _atomic(path: Path, write) -> None:
    """Write ``path`` through a temporary file, so a crash leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(temporary)
    os.replace(temporary, path)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    _atomic(path, lambda p: table.to_csv(p, index=False, float_format="%.6g"))


def _best_line(label, values, catalogue, lower_is_better):
    values = values.dropna()
    if values.empty:
        return f"{label}: no model evaluated"
    name = values.idxmin() if lower_is_better else values.idxmax()
    return f"{label}: {values[name]:.4f} ({name}, {catalogue.loc[name, 'library']})"


def catalogue(results: pd.DataFrame) -> pd.DataFrame:
    """Per model: its label (from the model classes, the peers' included),
    ``non_negative`` and ``library`` (from the result rows, as the run that produced them
    recorded them)."""
    table = results.groupby("model", sort=False)[["non_negative", "library"]].first()
    table["non_negative"] = table["non_negative"].astype(str).str.lower() == "true"
    labels = {cls.key: cls.label for cls in [*REGISTRY.values(), *PEERS]}
    table.insert(0, "description", [labels.get(m, "") for m in table.index])
    return table


def _summary_lines(summary: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    non_negative = models.index[models["non_negative"]]
    rmse, precision = summary[("rmse", "mean")], summary[(PRECISION, "mean")]
    return [_best_line("best non-negative RMSE", rmse[rmse.index.isin(non_negative)], models, True),
            _best_line("best RMSE", rmse, models, True),
            _best_line("best non-negative precision@10",
                       precision[precision.index.isin(non_negative)], models, False),
            _best_line("best precision@10", precision, models, False)]


def _shown(summary: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame(index=summary.index)
    for metric in METRICS:
        mean, std = summary[(metric, "mean")], summary[(metric, "std")].fillna(0)
        digits = 1 if metric == "fit_seconds" else 4
        shown[metric] = [("—" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}")
                         for m, s in zip(mean, std)]
    return shown


def report(results: pd.DataFrame) -> str:
    summary, models = evaluation.summarize(results), catalogue(results)
    shown = _shown(summary)
    shown.insert(0, "library", models.loc[shown.index, "library"])
    lines = [f"Fold means over {results['fold'].nunique()} fold(s) "
             "(± standard deviation across folds):", "", shown.to_string(), ""]
    return "\n".join(lines + _summary_lines(summary, models))


def _figure(summary: pd.DataFrame, models: pd.DataFrame, metric: str, title: str,
            lower_is_better: bool, path: Path):
    values = summary[(metric, "mean")].dropna().sort_values(ascending=lower_is_better)
    errors = summary.loc[values.index, (metric, "std")].fillna(0)
    colors = ["#dd8452" if models.loc[m, "non_negative"] else "#4c72b0" for m in values.index]
    labels = [m if models.loc[m, "library"] == "ours" else f"{m} ({models.loc[m, 'library']})"
              for m in values.index]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(values) + 1.2))
    bars = ax.barh(labels, values, xerr=errors, color=colors, capsize=2)
    for bar, model in zip(bars, values.index):
        if models.loc[model, "library"] != "ours":
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    ax.invert_yaxis()
    ax.set(xlabel=title, xlim=(0, (values + errors).max() * 1.18),
           title=f"{title}\nfold means ± standard deviation; orange: non-negative factors; "
                 "hatched: other libraries")
    for y, (value, error) in enumerate(zip(values, errors)):
        ax.text(value + error, y, f"  {value:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    _atomic(path, lambda p: fig.savefig(p, dpi=100, format="png", metadata={"Software": None}))
    plt.close(fig)


def _markdown_table(table: pd.DataFrame) -> str:
    rows = [list(table.columns), ["---"] * len(table.columns),
            *[[str(value) for value in row] for row in table.itertuples(index=False)]]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def write_report(results: pd.DataFrame, path: Path) -> None:
    """``path`` (Markdown): the protocol, the fold means of every model, two figures."""
    summary, models = evaluation.summarize(results), catalogue(results)
    rmse_png, precision_png = path.with_name("evaluation_rmse.png"), \
        path.with_name("evaluation_precision.png")
    _figure(summary, models, "rmse", "RMSE (lower is better)", True, rmse_png)
    _figure(summary, models, PRECISION, f"precision@{evaluation.TOP_N} (higher is better)", False,
            precision_png)
    table = _shown(summary)
    table.insert(0, "description", models.loc[table.index, "description"])
    table.insert(1, "non-negative", ["yes" if models.loc[m, "non_negative"] else "no"
                                     for m in table.index])
    table.insert(2, "library", models.loc[table.index, "library"])
    folds = ", ".join(f"u{f}" for f in sorted(results["fold"].unique()))
    text = "\n".join([
        "# Held-out evaluation of the recommenders on MovieLens-100k", "",
        f"Folds {folds} (the official splits). For each fold and model, the hyperparameters "
        "are chosen on a validation split carved from the training ratings, then the model is "
        "refitted on all of them and scored on the fold's test ratings: RMSE (predictions "
        "clipped to 1-5 stars; unseen users or movies get the bias baseline) and precision@10 "
        "and recall@10 over every movie a user did not rate in training (relevant: the user's "
        "test movies; \"liked\": only those rated 4 or 5). The other libraries' models "
        "(`library` other than ours; `make peers`) go through the same search, refit and "
        "scoring. The chosen settings of every fold are in `evaluation.csv` and `peers.csv` "
        "(`params`).", "",
        "Fold means ± standard deviation across folds; `fit_seconds` is the refit's wall time.",
        "", _markdown_table(table.reset_index()), "",
        *[f"- {line}" for line in _summary_lines(summary, models)], "",
        f"![RMSE of every model]({rmse_png.name})", "",
        f"![precision@10 of every model]({precision_png.name})", ""])
    _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def combined(results: pd.DataFrame, other_csv: Path) -> tuple[pd.DataFrame, str]:
    """``results`` with the rows of ``other_csv`` (the peers' or ours) when that file
    holds the same folds; and a sentence saying what was combined."""
    if not other_csv.is_file():
        return results, f"{other_csv.name} does not exist: the report shows this run only."
    other = pd.read_csv(other_csv)
    if set(other["fold"]) != set(results["fold"]):
        return results, (f"{other_csv.name} holds folds {sorted(set(other['fold']))}, this run "
                         f"{sorted(set(results['fold']))}: the report shows this run only.")
    other = other[~other["model"].isin(results["model"])]
    return (pd.concat([results, other], ignore_index=True),
            f"the report adds the {other['model'].nunique()} models of {other_csv.name}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", action="store_true",
                        help="run the other libraries' models (lab/peers/models.py) instead of ours")
    parser.add_argument("--folds", type=int, nargs="+", default=list(evaluation.FOLDS))
    parser.add_argument("--models", nargs="+", help="a subset of the models (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="folds evaluated in parallel")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ml-100k")
    parser.add_argument("--output", type=Path, help="the CSV written (default: build/"
                        "evaluation.csv, or build/peers.csv with --peers)")
    args = parser.parse_args(argv)
    # ours, or (--peers) the other libraries' adapters, which are registered where those
    # libraries import; Spark's ALS is compared by lab.spark.run_spark, not here
    candidates = [key for key, cls in REGISTRY.items()
                  if (cls.library != "ours" and cls.__module__.startswith("lab.peers"))
                  == args.peers and not cls.__module__.startswith("lab.spark")]
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
    start = time.perf_counter()
    print(f"evaluating {len(models)} models on folds "
          f"{', '.join(f'u{f}' for f in args.folds)} ({args.jobs} at a time); one line per "
          "model as it finishes", flush=True)
    pool = None
    try:
        if args.jobs > 1:
            pool = ProcessPoolExecutor(max_workers=args.jobs, initializer=_quiet_workers)
            n = len(args.folds)
            tables = list(pool.map(_run_fold, args.folds, [models] * n, [args.data] * n,
                                   [args.peers] * n))
            pool.shutdown()
        else:
            tables = [_run_fold(fold, models, args.data, args.peers) for fold in args.folds]
    except KeyboardInterrupt:
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        print(f"\ninterrupted: {output} was not written.", file=sys.stderr)
        return 130
    results = pd.concat(tables, ignore_index=True)
    write_csv(results, output)
    other = output.with_name((OURS_CSV if args.peers else PEERS_CSV).name)
    everything, note = combined(results, other)
    report_path = output.with_name(REPORT.name)
    write_report(everything, report_path)
    print()
    print(report(everything))
    print(f"\nwrote {output} ({len(results)} rows) and {report_path} in "
          f"{time.perf_counter() - start:.0f} s; {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
