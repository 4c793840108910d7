"""The report of the evaluation: what ``make evaluate`` and ``make peers`` print and write.

From the result rows of :func:`lab.evaluation.evaluate_fold` (one per model and fold, the
columns :data:`lab.evaluation.EVALUATION_COLS`):

* :func:`catalogue` - per model its description, ``non_negative`` and ``library``;
* :func:`text` - the fold means (± standard deviation) and the best models, as printed;
* :func:`figures` - two bar charts, RMSE and precision@10, and RMSE against fit time, by
  file name;
* :func:`markdown` - ``build/evaluation.md``: the protocol, the table, the best models,
  the figures;
* :func:`combined` - this run's rows with those of the other run's CSV (ours or the
  peers'), when it holds the same folds, so that both stand in one report.

Nothing here writes a file: the command (:mod:`lab.commands.evaluate`) does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from lab import evaluation
from lab.models import REGISTRY, Model

METRICS = evaluation.METRICS
AT_N = f"@{evaluation.TOP_N}"                    # as the report writes the cut-off
#: The figures of the report: file name -> (metric, axis title, lower is better).
FIGURES = {"evaluation_rmse.png": ("rmse", "RMSE (lower is better)", True),
           "evaluation_precision.png": (evaluation.PRECISION,
                                        f"precision{AT_N} (higher is better)",
                                        False)}


def catalogue(results: pd.DataFrame) -> pd.DataFrame:
    """Per model: its label (from the model classes, those of other environments included),
    ``non_negative`` and ``library`` (from the result rows, as the run that produced them
    recorded them)."""
    table = results.groupby("model", sort=False)[["non_negative", "library"]].first()
    table["non_negative"] = table["non_negative"].astype(str).str.lower() == "true"
    labels = {cls.key: cls.label for cls in [*REGISTRY.values(), *REGISTRY.elsewhere.values()]}
    table.insert(0, "description", [labels.get(m, "") for m in table.index])
    return table


def _best_line(label, values, catalogue, lower_is_better):
    values = values.dropna()
    if values.empty:
        return f"{label}: no model evaluated"
    name = values.idxmin() if lower_is_better else values.idxmax()
    return f"{label}: {values[name]:.4f} ({name}, {catalogue.loc[name, 'library']})"


def summary_lines(summary: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """The best RMSE and precision at the cut-off, among the non-negative models and among
    all."""
    non_negative = models.index[models["non_negative"]]
    rmse, precision = summary[("rmse", "mean")], summary[(evaluation.PRECISION, "mean")]
    return [_best_line("best non-negative RMSE", rmse[rmse.index.isin(non_negative)], models, True),
            _best_line("best RMSE", rmse, models, True),
            _best_line(f"best non-negative precision{AT_N}",
                       precision[precision.index.isin(non_negative)], models, False),
            _best_line(f"best precision{AT_N}", precision, models, False)]


def _shown(summary: pd.DataFrame) -> pd.DataFrame:
    shown = pd.DataFrame(index=summary.index)
    for metric in METRICS:
        mean, std = summary[(metric, "mean")], summary[(metric, "std")].fillna(0)
        digits = 1 if metric == "fit_seconds" else 4
        shown[metric] = [("—" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}")
                         for m, s in zip(mean, std)]
    return shown


def text(results: pd.DataFrame) -> str:
    """The fold means of every model and the best models, as the command prints them."""
    summary, models = evaluation.summarize(results), catalogue(results)
    shown = _shown(summary)
    shown.insert(0, "library", models.loc[shown.index, "library"])
    lines = [f"Fold means over {results['fold'].nunique()} fold(s) "
             "(± standard deviation across folds):", "", shown.to_string(), ""]
    return "\n".join(lines + summary_lines(summary, models))


def figure(summary: pd.DataFrame, models: pd.DataFrame, metric: str, title: str,
           lower_is_better: bool) -> Figure:
    """A bar chart of ``metric``'s fold means with their standard deviations, best first;
    orange: non-negative factors, hatched: other libraries."""
    values = summary[(metric, "mean")].dropna().sort_values(ascending=lower_is_better)
    errors = summary.loc[values.index, (metric, "std")].fillna(0)
    colors = ["#dd8452" if models.loc[m, "non_negative"] else "#4c72b0" for m in values.index]
    labels = [m if models.loc[m, "library"] == Model.library
              else f"{m} ({models.loc[m, 'library']})" for m in values.index]
    fig = Figure(figsize=(8, 0.38 * len(values) + 1.2))
    ax = fig.subplots()
    bars = ax.barh(labels, values, xerr=errors, color=colors, capsize=2)
    for bar, model in zip(bars, values.index):
        if models.loc[model, "library"] != Model.library:
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    ax.invert_yaxis()
    ax.set(xlabel=title, xlim=(0, (values + errors).max() * 1.18),
           title=f"{title}\nfold means ± standard deviation; orange: non-negative factors; "
                 "hatched: other libraries")
    for y, (value, error) in enumerate(zip(values, errors)):
        ax.text(value + error, y, f"  {value:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    return fig


#: The figure of every rating model's RMSE against its fit time, and the RMSE above which a
#: model is left out of it (the zero-filled top-N models, near 2.5, would flatten the rest).
TRADEOFF, TRADEOFF_BELOW = "evaluation_rmse_time.png", 1.5
#: The figures' descriptions in the report.
ALT = {"evaluation_rmse.png": "RMSE of every model",
       "evaluation_precision.png": f"precision{AT_N} of every model",
       TRADEOFF: "RMSE against fit time of every rating model"}


def tradeoff_figure(summary: pd.DataFrame, models: pd.DataFrame) -> Figure:
    """Every model with an RMSE below :data:`TRADEOFF_BELOW`: its fold-mean RMSE against its
    fold-mean fit time (log scale), each point named; orange: non-negative factors;
    triangles: other libraries.  The title counts the models left out."""
    rmse = summary[("rmse", "mean")].dropna().sort_values()
    left_out = int((rmse >= TRADEOFF_BELOW).sum())
    rmse = rmse[rmse < TRADEOFF_BELOW]
    seconds = summary.loc[rmse.index, ("fit_seconds", "mean")]
    fig = Figure(figsize=(9, 6))
    ax = fig.subplots()
    for rank, model in enumerate(rmse.index):
        ours = models.loc[model, "library"] == Model.library
        ax.scatter(seconds[model], rmse[model], marker="o" if ours else "^", s=36,
                   color="#dd8452" if models.loc[model, "non_negative"] else "#4c72b0")
        ax.annotate(model, (seconds[model], rmse[model]), xytext=(5, 4 if rank % 2 else -10),
                    textcoords="offset points", fontsize=7)   # alternate: fewer overlaps
    ax.set(xscale="log", xlabel="fit time, seconds (fold mean, log scale)",
           ylabel="RMSE (fold mean, lower is better)",
           title=f"RMSE against fit time ({left_out} model(s) with RMSE >= {TRADEOFF_BELOW:g} "
                 "left out)\norange: non-negative factors; triangles: other libraries")
    fig.tight_layout()
    return fig


def _drawn(summary: pd.DataFrame) -> list[str]:
    """The figures an evaluation has values for: none of RMSE when only ranking models were
    evaluated, none of precision when no model ranks."""
    metric_of = {**{name: metric for name, (metric, *_) in FIGURES.items()}, TRADEOFF: "rmse"}
    return [name for name, metric in metric_of.items()
            if summary[(metric, "mean")].notna().any()]


def figures(results: pd.DataFrame) -> dict[str, Figure]:
    """The report's figures (:data:`FIGURES` and :data:`TRADEOFF`) that the results have values
    for (:func:`_drawn`), by file name."""
    summary, models = evaluation.summarize(results), catalogue(results)
    return {name: (tradeoff_figure(summary, models) if name == TRADEOFF else
                   figure(summary, models, *FIGURES[name])) for name in _drawn(summary)}


def _markdown_table(table: pd.DataFrame) -> str:
    rows = [list(table.columns), ["---"] * len(table.columns),
            *[[str(value) for value in row] for row in table.itertuples(index=False)]]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def markdown(results: pd.DataFrame) -> str:
    """The report (Markdown): the protocol, the fold means of every model, the best
    models, and the figures it has values for (files beside it: :data:`FIGURES` and
    :data:`TRADEOFF`, those of :func:`figures`)."""
    summary, models = evaluation.summarize(results), catalogue(results)
    table = _shown(summary)
    table.insert(0, "description", models.loc[table.index, "description"])
    table.insert(1, "non-negative", ["yes" if models.loc[m, "non_negative"] else "no"
                                     for m in table.index])
    table.insert(2, "library", models.loc[table.index, "library"])
    folds = ", ".join(f"u{f}" for f in sorted(results["fold"].unique()))
    (low, high), liked = evaluation.RATING_SCALE, evaluation.LIKED_RATING
    return "\n".join([
        "# Held-out evaluation of the recommenders on MovieLens-100k", "",
        f"Folds {folds} (the official splits). For each fold and model, the hyperparameters "
        "are chosen on a validation split carved from the training ratings, then the model is "
        "refitted on all of them and scored on the fold's test ratings: RMSE (predictions "
        f"clipped to {low}-{high} stars; unseen users or movies get the bias baseline) and "
        f"precision{AT_N} and recall{AT_N} over every movie a user did not rate in training "
        f"(relevant: the user's test movies; \"liked\": only those rated {liked} or more). The "
        "other libraries' models "
        "(`library` other than ours; `make peers`) go through the same search, refit and "
        "scoring. The chosen settings of every fold are in `evaluation.csv` and `peers.csv` "
        "(`params`).", "",
        "Fold means ± standard deviation across folds; `fit_seconds` is the refit's wall time.",
        "", _markdown_table(table.reset_index()), "",
        *[f"- {line}" for line in summary_lines(summary, models)], "",
        *[f"![{ALT[name]}]({name})\n" for name in _drawn(summary)]])


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
