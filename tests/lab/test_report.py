"""Tests of the report of an evaluation (lab.report: the table, the best models, the
figures, the Markdown, ours and the peers' in one) and of the command that runs the
evaluation and writes them (lab.commands.evaluate, ``make evaluate``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lab.evaluation as ev
from lab import report
from lab.commands import evaluate as command, shell
from scripts import ROOT


@pytest.mark.slow
def test_evaluate_command_writes_the_csv(tmp_path, ml_100k):
    output = tmp_path / "evaluation.csv"
    run = subprocess.run([sys.executable, "-m", "lab.commands.evaluate", "--folds", "1",
                          "--models", "global_mean", "biases", "popularity",
                          "--jobs", "1", "--data", str(ml_100k), "--output", str(output)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    table = pd.read_csv(output)
    assert list(table.columns) == ev.EVALUATION_COLS
    assert list(table["model"]) == ["global_mean", "biases", "popularity"]
    rows = table.set_index("model")
    assert np.isnan(rows.loc["popularity", "rmse"])
    assert 0.93 < rows.loc["biases", "rmse"] < 0.97 < rows.loc["global_mean", "rmse"]
    assert rows.loc["popularity", "precision_at_10"] > rows.loc["biases", "precision_at_10"]
    assert rows.loc["popularity", "precision_at_10"] > 0.2
    assert json.loads(rows.loc["biases", "params"])["bias_l2"] in (5.0, 15.0)   # its grid
    assert "best precision@10: 0.3" in run.stdout
    assert re.search(r"u1 biases +rmse 0\.9\d{3}  precision@10 0\.\d{4}", run.stdout)
    report = (tmp_path / "evaluation.md").read_text()
    assert "| biases | user + movie biases | no | ours | 0.9" in report
    for figure in ("evaluation_rmse.png", "evaluation_precision.png", "evaluation_rmse_time.png"):
        assert f"]({figure})" in report
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evaluation.csv", "evaluation.md", "evaluation_precision.png", "evaluation_rmse.png",
        "evaluation_rmse_time.png"]


def _result_rows(model, library, non_negative, rmses, precisions):
    return pd.DataFrame([{"model": model, "params": "{}", "fold": fold, "rmse": rmse,
                          "mae": rmse * 0.8, "precision_at_10": precision,
                          "recall_at_10": precision / 2, "precision_at_10_liked": precision,
                          "recall_at_10_liked": precision / 2, "fit_seconds": 1.0,
                          "non_negative": non_negative, "library": library}
                         for fold, rmse, precision in zip((1, 2), rmses, precisions)],
                        columns=ev.EVALUATION_COLS)


def test_report_puts_the_peers_beside_ours(tmp_path):
    ours = pd.concat([_result_rows("nnls_als", "ours", True, [0.92, 0.90], [0.05, 0.07]),
                      _result_rows("ease", "ours", False, [np.nan, np.nan], [0.40, 0.42])])
    peers_csv = tmp_path / "peers.csv"
    shell.write_table(_result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                   [0.90, 0.89], [0.10, 0.12]), peers_csv)
    both, note = report.combined(ours, peers_csv)
    assert sorted(both["model"].unique()) == ["ease", "nnls_als", "surprise_svdpp"]
    assert note == "the report adds the 1 models of peers.csv."
    text = report.text(both)
    assert "best RMSE: 0.8950 (surprise_svdpp, scikit-surprise 1.1.5)" in text
    assert "best non-negative RMSE: 0.9100 (nnls_als, ours)" in text
    assert "best precision@10: 0.4100 (ease, ours)" in text
    command.write_report(both, tmp_path / "evaluation.md")
    markdown = (tmp_path / "evaluation.md").read_text()
    assert markdown == report.markdown(both)
    assert re.search(r"\| surprise_svdpp \| [^|]*\| no \| scikit-surprise 1\.1\.5 \| "
                     r"0\.8950 ± 0\.0071 \|", markdown)
    # a peers' file of other folds is not mixed in
    shell.write_table(_result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                   [0.90, 0.89], [0.1, 0.1]).assign(fold=[3, 4]), peers_csv)
    alone, note = report.combined(ours, peers_csv)
    assert alone.equals(ours) and "holds folds [3, 4], this run [1, 2]" in note
    alone, note = report.combined(ours, tmp_path / "absent.csv")
    assert alone.equals(ours) and note.startswith("absent.csv does not exist")


def test_the_report_describes_the_models_of_other_environments(tmp_path):
    """The peers' and Spark's classes load without their libraries: the report of .venv
    describes their rows too."""
    both = pd.concat([_result_rows("nnls_als", "ours", True, [0.92, 0.90], [0.05, 0.07]),
                      _result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                   [0.90, 0.89], [0.10, 0.12]),
                      _result_rows("spark_als", "pyspark 4.3.0", True, [0.92, 0.92],
                                   [0.05, 0.05])])
    command.write_report(both, tmp_path / "evaluation.md")
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "| surprise_svdpp | SVD++: biases, factors and implicit feedback" in markdown
    assert "| spark_als | Spark MLlib ALS(nonnegative=True), local mode | yes |" in markdown
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evaluation.md", "evaluation_precision.png", "evaluation_rmse.png",
        "evaluation_rmse_time.png"]


def test_the_tradeoff_figure_puts_each_rating_model_at_its_fit_time_and_rmse():
    """One named point per model with an RMSE below 1.5 (a ranking-only model has none; a
    zero-filled one is off the scale and counted in the title), at its fold-mean fit time
    and RMSE; orange for non-negative factors, a triangle for a peer."""
    results = pd.concat([
        _result_rows("nnls_als", "ours", True, [0.92, 0.90], [0.05, 0.07]).assign(
            fit_seconds=[0.2, 0.4]),
        _result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False, [0.90, 0.89],
                     [0.10, 0.12]).assign(fit_seconds=[20.0, 22.0]),
        _result_rows("ease", "ours", False, [np.nan, np.nan], [0.40, 0.42]),
        _result_rows("nmf_zero", "ours", True, [2.4, 2.5], [0.36, 0.37])])
    figure = report.figures(results)[report.TRADEOFF]
    ax = figure.axes[0]
    points = {text.get_text(): tuple(text.xy) for text in ax.texts}
    assert points.keys() == {"nnls_als", "surprise_svdpp"}
    np.testing.assert_allclose(points["nnls_als"], (0.3, 0.91))
    np.testing.assert_allclose(points["surprise_svdpp"], (21.0, 0.895))
    colors = [tuple(c.get_facecolor()[0][:3]) for c in ax.collections]
    assert colors[0] != colors[1] and ax.get_xscale() == "log"
    assert ax.get_title().startswith("RMSE against fit time (1 model(s) with RMSE >= 1.5 left out)")


def test_an_evaluation_of_ranking_models_only_reports_without_rmse_figures(tmp_path):
    """`make evaluate --models ease` (no model predicts ratings): the precision figure only,
    and a report that says no RMSE was evaluated."""
    results = pd.concat([_result_rows("ease", "ours", False, [np.nan, np.nan], [0.40, 0.42]),
                         _result_rows("popularity", "ours", False, [np.nan, np.nan],
                                      [0.20, 0.22])])
    assert list(report.figures(results)) == ["evaluation_precision.png"]
    command.write_report(results, tmp_path / "evaluation.md")
    text = (tmp_path / "evaluation.md").read_text()
    assert "best RMSE: no model evaluated" in text
    assert "](evaluation_precision.png)" in text and "evaluation_rmse" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.md",
                                                          "evaluation_precision.png"]
