"""Tests of the evaluation protocol (module lab.evaluation) and of lab/evaluate.py:
metrics on hand-computed cases and their names, the validation split, the unseen-user
fallback, the search over a model's grid, a fold, and the CSV and report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lab.evaluation as ev
import lab.ratings as rec
from lab.base import real
from lab import factorizations
from lab.interface import Model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "ml-100k"
needs_data = pytest.mark.skipif(not (DATA / "u1.base").is_file(), reason="run `make data` first")


def frame(rows):
    return pd.DataFrame(rows, columns=["user id", "movie id", "rating"])


@pytest.fixture()
def index():
    return rec.RatingIndex(np.array([1, 2, 3]), np.array([10, 20, 30, 40]))


def test_rating_errors_clip_to_the_scale():
    rmse, mae = ev.rating_errors([0.0, 6.0, 3.0], [1, 5, 4])
    assert rmse == pytest.approx(np.sqrt(1 / 3))
    assert mae == pytest.approx(1 / 3)


def test_top_n_accuracy_by_hand():
    scores = np.array([[9.0, 8.0, 7.0, 6.0, 5.0],
                       [1.0, 2.0, 3.0, 4.0, 5.0],
                       [5.0, 5.0, 5.0, 5.0, 5.0]])
    known = np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    relevant = np.array([[0, 1, 0, 0, 1],     # top 2 after excluding movie 0: 1, 2 -> 1 hit
                         [0, 0, 0, 0, 0],     # no relevant movie: user left out
                         [0, 1, 0, 0, 0]], bool)  # ties: positions 0, 1 -> 1 hit
    precision, recall = ev.top_n_accuracy(scores, known, relevant, n=2)
    assert precision == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert recall == pytest.approx((1 / 2 + 1 / 1) / 2)


def test_holdout_split_is_a_seeded_partition():
    ratings = frame([(u, m, 3) for u in range(1, 11) for m in range(1, 11)])
    train, validation = ev.holdout_split(ratings, fraction=0.2, random_state=3)
    assert len(validation) == 20 and len(train) == 80
    both = pd.concat([train, validation]).sort_values(["user id", "movie id"])
    pd.testing.assert_frame_equal(both.reset_index(drop=True), ratings)
    again, _ = ev.holdout_split(ratings, fraction=0.2, random_state=3)
    pd.testing.assert_frame_equal(train, again)
    other, _ = ev.holdout_split(ratings, fraction=0.2, random_state=4)
    assert not train.equals(other)
    with pytest.raises(ValueError, match="fraction must lie strictly between 0 and 1, got 1.5"):
        ev.holdout_split(ratings, fraction=1.5)


def test_fallback_baseline_recovers_additive_ratings(index):
    user, movie = np.array([0.5, -0.5, 0.0]), np.array([1.0, 0.0, -1.0, 0.0])
    ratings = frame([(u, m, 3 + user[i] + movie[j]) for i, u in enumerate(index.user_ids)
                     for j, m in enumerate(index.movie_ids)])
    exact = factorizations.biases(index.sparse(ratings), bias_l2=0.0, n_iter=50)
    np.testing.assert_allclose(exact.reconstruction(), 3 + user[:, None] + movie[None, :],
                               atol=1e-8)
    # regularization shrinks a bias with one rating towards zero; unseen movies get 0
    shrunk = ev.fallback_baseline(frame([(1, 10, 5), (2, 20, 1), (2, 30, 1)]), index)
    assert 0 < shrunk.item_bias[0] < 5 - 7 / 3 and shrunk.item_bias[3] == 0
    assert shrunk.user_bias[2] == 0


def test_filled_matrix_on_the_full_index(index):
    ratings = frame([(1, 10, 4), (2, 10, 2), (2, 20, 5)])     # user 3, movies 30 and 40 unseen
    zero = index.filled(ratings, 0)
    assert zero.shape == (3, 4) and zero[0, 0] == 4 and zero[2].sum() == 0
    movie_mean = index.filled(ratings, "movie_mean")
    np.testing.assert_allclose(movie_mean[2], [3, 5, 11 / 3, 11 / 3])
    np.testing.assert_allclose(index.sparse(ratings).toarray(), zero)
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9; it "
                                       r"holds 3 users with ids 1 to 3"):
        index.cells(frame([(9, 10, 4)]))


def test_score_split_falls_back_to_the_baseline_for_unseen_cells(index):
    train = frame([(1, 10, 4), (2, 10, 2), (2, 20, 5), (1, 30, 1)])
    test = frame([(3, 10, 3), (1, 20, 4), (1, 40, 2)])          # user 3 and movie 40 unseen
    scores = np.full(index.shape, 100.0)                        # clipped to 5 where used
    baseline = factorizations.BiasedResult(3.0, np.array([0.1, 0.2, 0.0]),
                                           np.array([0.5, 0.0, 0.0, 0.0]), np.zeros((3, 0)),
                                           np.zeros((0, 4)), np.zeros(1))
    metrics = ev.score_split(scores, train, test, index, baseline=baseline)
    predicted = np.array([3.0 + 0.0 + 0.5, 5.0, 3.0 + 0.1 + 0.0])
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - [3, 4, 2]) ** 2)))
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - [3, 4, 2])))
    # liked (>= 4): only user 1's movie 20; ties at 100 rank movie 20 first after known 10, 30
    assert metrics["precision_at_10_liked"] == pytest.approx(1 / 10)
    assert metrics["recall_at_10_liked"] == pytest.approx(1.0)


class Offset(Model):
    """Every score is 3 + offset; records how many ratings each fit saw."""

    key, label = "offset", "3 + offset"
    defaults, rules = {"offset": 0.0}, {"offset": real(-10.0)}
    grid = {"offset": [1.5, 0.0, -1.0]}
    seen: list = []

    def _fit(self, ratings):
        self.seen.append(len(ratings))

    def _score_rows(self, rows):
        return np.full((len(rows), self.index_.shape[1]), 3.0 + self.params["offset"])


def test_select_params_searches_the_grid_on_validation_only(index, monkeypatch):
    monkeypatch.setitem(ev.REGISTRY, "offset", Offset)
    monkeypatch.setattr(Offset, "seen", [])
    base = frame([(u, m, 3) for u in index.user_ids for m in index.movie_ids])
    best, trials = ev.select_params("offset", base, index, random_state=0)
    assert best == {"offset": 0.0}
    assert trials["params"].tolist() == ['{"offset": 1.5}', '{"offset": 0.0}', '{"offset": -1.0}']
    assert trials["rmse"].tolist() == [1.5, 0.0, 1.0]
    assert list(trials.columns) == ["params", "rmse", "mae", *ev.TOP_N_METRICS]
    assert Offset.seen == [len(base) - round(0.1 * len(base))] * 3    # never the held-out part
    # ranking models are chosen by precision, higher first; the first of a tie wins
    monkeypatch.setattr(Offset, "select_by", "precision")
    best, trials = ev.select_params("offset", base, index, random_state=0)
    assert best == {"offset": 1.5} and trials["precision_at_10"].nunique() == 1


def test_top_n_metric_names_follow_the_cut_off():
    assert ev.TOP_N == 10
    assert ev.TOP_N_METRICS == ["precision_at_10", "recall_at_10", "precision_at_10_liked",
                                "recall_at_10_liked"]
    assert ev.METRICS == ["rmse", "mae", *ev.TOP_N_METRICS, "fit_seconds"]
    assert ev.SELECTION == {"rmse": ("rmse", True), "precision": ("precision_at_10", False)}


def test_an_unknown_model_is_refused_with_the_registry(index):
    with pytest.raises(KeyError, match=r"unknown model 'nmf'; the registry holds global_mean, "
                                       r"biases, popularity"):
        ev.fit_scores("nmf", frame([(1, 10, 4)]), index, {})


@needs_data
def test_official_folds_have_disjoint_tests():
    tests = [ev.load_split(fold, DATA)[1] for fold in ev.FOLDS]
    assert all(len(t) == 20000 for t in tests)
    pairs = pd.concat(tests)[["user id", "movie id"]]
    assert not pairs.duplicated().any()
    base, test = ev.load_split(1, DATA)
    assert len(base) == 80000
    assert base.merge(test, on=["user id", "movie id"]).empty
    with pytest.raises(ValueError, match="fold must be one of"):
        ev.load_split(6, DATA)


@needs_data
def test_a_fold_with_fixed_settings(tmp_path):
    """evaluate_fold without the search: the given or default settings, every parameter
    recorded, one progress call per model."""
    seen = []
    table = ev.evaluate_fold(1, ["global_mean", "biases"], path=DATA, tune=False,
                             params={"biases": {"bias_l2": 3.0}}, progress=seen.append)
    assert list(table.columns) == ev.EVALUATION_COLS and [r["model"] for r in seen] == [
        "global_mean", "biases"]
    rows = table.set_index("model")
    assert json.loads(rows.loc["biases", "params"]) == {"bias_l2": 3.0}
    assert json.loads(rows.loc["global_mean", "params"]) == {}
    assert 0.93 < rows.loc["biases", "rmse"] < 0.97 < rows.loc["global_mean", "rmse"] < 1.2
    assert rows.loc["biases", "library"] == "ours" and not rows["non_negative"].any()


@needs_data
@pytest.mark.slow
def test_evaluate_script_writes_the_csv(tmp_path):
    output = tmp_path / "evaluation.csv"
    run = subprocess.run([sys.executable, "-m", "lab.evaluate", "--folds", "1",
                          "--models", "global_mean", "biases", "popularity",
                          "--jobs", "1", "--data", str(DATA), "--output", str(output)],
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
    for figure in ("evaluation_rmse.png", "evaluation_precision.png"):
        assert f"]({figure})" in report
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evaluation.csv", "evaluation.md", "evaluation_precision.png", "evaluation_rmse.png"]


def _evaluate_script():
    import lab.evaluate
    return lab.evaluate


def _result_rows(model, library, non_negative, rmses, precisions):
    return pd.DataFrame([{"model": model, "params": "{}", "fold": fold, "rmse": rmse,
                          "mae": rmse * 0.8, "precision_at_10": precision,
                          "recall_at_10": precision / 2, "precision_at_10_liked": precision,
                          "recall_at_10_liked": precision / 2, "fit_seconds": 1.0,
                          "non_negative": non_negative, "library": library}
                         for fold, rmse, precision in zip((1, 2), rmses, precisions)],
                        columns=ev.EVALUATION_COLS)


def test_report_puts_the_peers_beside_ours(tmp_path):
    script = _evaluate_script()
    ours = pd.concat([_result_rows("nnls_als", "ours", True, [0.92, 0.90], [0.05, 0.07]),
                      _result_rows("ease", "ours", False, [np.nan, np.nan], [0.40, 0.42])])
    peers_csv = tmp_path / "peers.csv"
    script.write_csv(_result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                  [0.90, 0.89], [0.10, 0.12]), peers_csv)
    both, note = script.combined(ours, peers_csv)
    assert sorted(both["model"].unique()) == ["ease", "nnls_als", "surprise_svdpp"]
    assert note == "the report adds the 1 models of peers.csv."
    text = script.report(both)
    assert "best RMSE: 0.8950 (surprise_svdpp, scikit-surprise 1.1.5)" in text
    assert "best non-negative RMSE: 0.9100 (nnls_als, ours)" in text
    assert "best precision@10: 0.4100 (ease, ours)" in text
    script.write_report(both, tmp_path / "evaluation.md")
    markdown = (tmp_path / "evaluation.md").read_text()
    assert re.search(r"\| surprise_svdpp \| [^|]*\| no \| scikit-surprise 1\.1\.5 \| "
                     r"0\.8950 ± 0\.0071 \|", markdown)
    # a peers' file of other folds is not mixed in
    script.write_csv(_result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                  [0.90, 0.89], [0.1, 0.1]).assign(fold=[3, 4]), peers_csv)
    alone, note = script.combined(ours, peers_csv)
    assert alone.equals(ours) and "holds folds [3, 4], this run [1, 2]" in note
    alone, note = script.combined(ours, tmp_path / "absent.csv")
    assert alone.equals(ours) and note.startswith("absent.csv does not exist")


def test_the_report_describes_the_peers_in_the_main_environment(tmp_path):
    script = _evaluate_script()
    both = pd.concat([_result_rows("nnls_als", "ours", True, [0.92, 0.90], [0.05, 0.07]),
                      _result_rows("surprise_svdpp", "scikit-surprise 1.1.5", False,
                                   [0.90, 0.89], [0.10, 0.12])])
    script.write_report(both, tmp_path / "evaluation.md")
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "| surprise_svdpp | SVD++: biases, factors and implicit feedback" in markdown
