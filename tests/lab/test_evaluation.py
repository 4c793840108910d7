"""Tests of the evaluation protocol (module lab.evaluation): metrics on hand-computed cases
and their names, the validation split, the unseen-user fallback, the search over a model's
grid, a fold and what it records of the fitted model.  Its report and command:
test_report.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lab.evaluation as ev
from lab.ratings import RatingIndex
from lab import factorizations
from lab.base import FitResult
from lab.rules import real
from lab.factorizations.biased import BIAS_L2
from given_scores import GivenScores
from lab.models import REGISTRY
from lab.models.spark import SparkALS


def frame(rows):
    return pd.DataFrame(rows, columns=["user id", "movie id", "rating"])


@pytest.fixture()
def index():
    return RatingIndex(np.array([1, 2, 3]), np.array([10, 20, 30, 40]))


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
    train, validation = ev.holdout_split(ratings, random_state=3)
    assert len(validation) == 10 and len(train) == 90              # VALIDATION_FRACTION 0.1
    both = pd.concat([train, validation]).sort_values(["user id", "movie id"])
    pd.testing.assert_frame_equal(both.reset_index(drop=True), ratings)
    again, _ = ev.holdout_split(ratings, random_state=3)
    pd.testing.assert_frame_equal(train, again)
    other, _ = ev.holdout_split(ratings, random_state=4)
    assert not train.equals(other)


def test_fallback_baseline_recovers_additive_ratings(index):
    user, movie = np.array([0.5, -0.5, 0.0]), np.array([1.0, 0.0, -1.0, 0.0])
    ratings = frame([(u, m, 3 + user[i] + movie[j]) for i, u in enumerate(index.user_ids)
                     for j, m in enumerate(index.movie_ids)])
    exact = factorizations.biases(index.sparse(ratings), bias_l2=0.0, n_iter=50)
    np.testing.assert_allclose(exact.scores(np.arange(3)), 3 + user[:, None] + movie[None, :],
                               atol=1e-8)
    # regularization shrinks a bias with one rating towards zero; unseen movies get 0
    model = REGISTRY["global_mean"]().fit(frame([(1, 10, 5), (2, 20, 1), (2, 30, 1)]), index)
    mu = 7 / 3
    shrunk = model.predict([3, 3, 1], [10, 40, 40]) - mu      # user 3, movie 40: no rating
    assert 0 < shrunk[0] < 5 - mu and shrunk[1] == 0 and 0 < shrunk[2] < 5 - mu
    # the pairs a model predicts itself: user and movie both rated in training
    assert model.trained_on([1, 3, 1, 2], [10, 10, 40, 30]).tolist() == [True, False, False, True]
    # the baseline is the model REGISTRY["biases"] at its defaults, fitted alike
    biases = REGISTRY["biases"]().fit(model.ratings_, index)
    rows, cols = index.user_positions([3, 3, 1]), index.movie_positions([10, 40, 40])
    np.testing.assert_array_equal(model.predict([3, 3, 1], [10, 40, 40]),
                                  biases.result_.predict(rows, cols))


def test_an_id_outside_the_full_index_is_named(index):
    """(The filled and sparse matrices on the full index are test_fill_rule.py's.)"""
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9; it "
                                       r"holds 3 users with ids 1 to 3"):
        index.cells(frame([(9, 10, 4)]))


def Hundred():
    """Scores every pair 100."""
    return GivenScores(100.0)


def test_score_split_predicts_unseen_cells_by_the_models_bias_baseline(index):
    train = frame([(1, 10, 4), (2, 10, 2), (2, 20, 5), (1, 30, 1)])
    test = frame([(3, 10, 3), (1, 20, 4), (1, 40, 2)])          # user 3 and movie 40 unseen
    model = Hundred().fit(train, index)
    metrics = ev.score_split(model, test)
    b = factorizations.biases(index.sparse(train), bias_l2=BIAS_L2)
    predicted = np.array([b.mu + b.user_bias[2] + b.item_bias[0], 5.0,
                          b.mu + b.user_bias[0] + b.item_bias[3]])
    assert b.user_bias[2] == b.item_bias[3] == 0                # no rating: no bias
    np.testing.assert_allclose(model.predict([3, 1, 1], [10, 20, 40]), [predicted[0], 100.0,
                                                                        predicted[2]])
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - [3, 4, 2]) ** 2)))
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - [3, 4, 2])))
    # liked (>= 4): only user 1's movie 20; ties at 100 rank movie 20 first after known 10, 30
    assert metrics["precision_at_10_liked"] == pytest.approx(1 / 10)
    assert metrics["recall_at_10_liked"] == pytest.approx(1.0)


class Offset(GivenScores):
    """Every score is 3 + offset; records how many ratings each fit saw."""

    key, label = "offset", "3 + offset"
    defaults, rules = {"offset": 0.0}, {"offset": real(-10.0)}
    grid = {"offset": [1.5, 0.0, -1.0]}
    seen: list = []

    def _fit(self):
        self.seen.append(len(self.ratings_))
        self.given = 3.0 + self.params["offset"]
        super()._fit()


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


def test_an_unknown_model_is_refused_with_the_registry(index):
    with pytest.raises(KeyError, match=r"unknown model 'nmf'; the registry holds global_mean, "
                                       r"biases, popularity"):
        ev.select_params("nmf", frame([(1, 10, 4)]), index)


def test_official_folds_have_disjoint_tests(ml_100k):
    tests = [ev.load_split(fold, ml_100k)[1] for fold in ev.FOLDS]
    assert all(len(t) == 20000 for t in tests)
    pairs = pd.concat(tests)[["user id", "movie id"]]
    assert not pairs.duplicated().any()
    base, test = ev.load_split(1, ml_100k)
    assert len(base) == 80000
    assert base.merge(test, on=["user id", "movie id"]).empty
    with pytest.raises(ValueError, match="fold must be one of"):
        ev.load_split(6, ml_100k)


def fixed_settings(monkeypatch, params: dict) -> list:
    """Replace the validation search by ``params[key]`` (the model's defaults where absent);
    returns the list of (key, random_state) the search was asked for."""
    asked = []

    def select(key, base, index, random_state=0):
        asked.append((key, random_state))
        return dict(params.get(key, {})), None

    monkeypatch.setattr(ev, "select_params", select)
    return asked


def test_a_fold_with_fixed_settings(ml_100k, monkeypatch):
    """evaluate_fold with the search's choice given: those or the default settings, every
    parameter recorded, the search seeded by the fold, one progress call per model."""
    seen, asked = [], fixed_settings(monkeypatch, {"biases": {"bias_l2": 3.0}})
    table = ev.evaluate_fold(1, ["global_mean", "biases"], path=ml_100k, progress=seen.append)
    assert asked == [("global_mean", 1), ("biases", 1)]
    assert list(table.columns) == ev.EVALUATION_COLS and [r["model"] for r in seen] == [
        "global_mean", "biases"]
    rows = table.set_index("model")
    assert json.loads(rows.loc["biases", "params"]) == {"bias_l2": 3.0}
    assert json.loads(rows.loc["global_mean", "params"]) == {}
    assert 0.93 < rows.loc["biases", "rmse"] < 0.97 < rows.loc["global_mean", "rmse"] < 1.2
    assert rows.loc["biases", "library"] == "ours" and not rows["non_negative"].any()


class SparkALSWithoutSpark(SparkALS):
    """SparkALS with its parameters and ``non_negative``, fitted without Spark: zero factors."""

    key = "spark_als_without_spark"

    def _fit(self):
        n_users, n_movies = self.index_.shape
        M = self.params["num_components"]
        self.result_ = FitResult(np.zeros((n_users, M)), np.zeros((M, n_movies)), np.empty(0))


def test_a_fold_records_the_fitted_models_non_negative(movielens_folder, monkeypatch):
    """The row's non_negative is the refitted instance's, not its class's: SparkALS with
    nonnegative=False records False (no pyspark needed: the property reads the parameters)."""
    rows = pd.read_csv(movielens_folder / "u.data", sep="\t", header=None)
    rows.iloc[::4].to_csv(movielens_folder / "u1.test", sep="\t", header=False, index=False)
    rows.drop(rows.index[::4]).to_csv(movielens_folder / "u1.base", sep="\t", header=False,
                                      index=False)
    key = SparkALSWithoutSpark.key
    monkeypatch.setitem(ev.REGISTRY, key, SparkALSWithoutSpark)
    assert SparkALSWithoutSpark.non_negative is True                # the class: its default
    recorded = {}
    for nonnegative in (False, True):
        fixed_settings(monkeypatch, {key: {"num_components": 2, "nonnegative": nonnegative}})
        table = ev.evaluate_fold(1, [key], path=movielens_folder)
        assert table["library"].str.startswith("pyspark").all()
        recorded[nonnegative] = table["non_negative"].tolist()
    assert recorded == {False: [False], True: [True]}


def test_score_split_of_a_model_fitted_on_its_training_ratings_alone(index):
    """A model fitted without the full index (as lab/README shows: model.fit(ratings)) is
    scored all the same: pairs of a user or movie outside its index are predicted by the
    bias baseline for RMSE and left out of the ranking."""
    train = frame([(1, 10, 4), (2, 10, 2), (2, 20, 5), (1, 30, 1)])
    test = frame([(3, 10, 3), (1, 20, 4), (1, 40, 2)])          # user 3 and movie 40: outside
    model = Hundred().fit(train)                                # its index: users 1-2, 10-30
    metrics = ev.score_split(model, test)
    b = factorizations.biases(model.rated_, bias_l2=BIAS_L2)
    predicted = np.array([b.mu + b.item_bias[0], 5.0, b.mu + b.user_bias[0]])
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - [3, 4, 2]) ** 2)))
    # only (1, 20) can be ranked: user 1's one unrated movie of the index, a hit
    assert metrics["precision_at_10"] == pytest.approx(1 / 10)
    assert metrics["recall_at_10"] == pytest.approx(1.0)
