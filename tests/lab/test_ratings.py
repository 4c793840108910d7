"""Tests of lab/ratings.py (the rating index, the one ranker, a new user's row and the query
check) and of what every model does the same way on top of it (lab.interface.Model:
fit, scores, predict, recommend, fold_in), on a tiny synthetic MovieLens (the fixtures
movielens, ratings and movies of tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lab.ratings as rec
import recommender
from lab import factorizations
from lab.models import REGISTRY
from lab.interface import Model
from lab.nmf import non_negative

# The tiny MovieLens (fixtures movielens, ratings, movies) is tests/conftest.py's.


def _labelled(values, ratings):
    """``values`` (users x movies of ``ratings``) labelled like the rating matrix."""
    return frame_of(rec.RatingIndex.from_ratings(ratings), values)


def frame_of(index, values):
    """``values`` (users x movies of ``index``) as a DataFrame labelled by the ids."""
    return pd.DataFrame(values, index=index.users, columns=index.movies)


# --- the rating index ----------------------------------------------------------------------

def test_index_from_ratings_holds_the_rated_users_and_movies_in_order(ratings):
    index = rec.RatingIndex.from_ratings(ratings)
    assert index.shape == (4, 6)
    assert index.user_ids.tolist() == [1, 2, 3, 4]
    assert index.movie_ids.tolist() == [1, 2, 3, 4, 5, 6]
    rows, cols = index.cells(ratings)
    assert (rows[:3].tolist(), cols[:3].tolist()) == ([0, 0, 0], [0, 1, 4])
    sparse = index.sparse(ratings)
    assert sparse.nnz == len(ratings) and sparse[1, 2] == 5
    frame = frame_of(index, index.filled(ratings))
    assert frame.index.name == "user id" and frame.columns.name == "movie id"
    assert frame.loc[2, 3] == 5 and frame.loc[1, 3] == 0
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9"):
        index.user_positions([1, 9])


def test_index_from_tables_keeps_users_and_movies_without_ratings(movielens):
    ratings, movies, users = movielens
    index = rec.RatingIndex.from_tables(users, movies)
    assert index.shape == (4, 6)
    few = ratings[ratings["user id"] != 4]                       # nobody rated movie 6 now
    assert index.filled(few).shape == (4, 6) and not index.filled(few)[:, 5].any()
    doubled = pd.concat([movies, movies.iloc[[0]]])
    with pytest.raises(ValueError, match=r"the movie id column repeats 1 id\(s\), e\.g\. 1"):
        rec.RatingIndex.from_tables(users, doubled)


@pytest.mark.parametrize("fill", [0, 2.5, "global_mean", "movie_mean"])
def test_filled_matrix_is_the_ground_floors_rating_matrix(ratings, fill):
    index = rec.RatingIndex.from_ratings(ratings)
    pd.testing.assert_frame_equal(frame_of(index, index.filled(ratings, fill)),
                                  recommender.rating_matrix(ratings, fill), check_names=False)


@pytest.mark.parametrize("bad", ["mean", "movie mean", None, float("nan"), True])
def test_filled_matrix_rejects_unknown_fill(ratings, bad):
    index = rec.RatingIndex.from_ratings(ratings)
    with pytest.raises(ValueError, match=r"fill_value must be a finite number or one of \('global_mean', 'movie_mean'\)"):
        index.filled(ratings, fill_value=bad)


# --- the one ranker ------------------------------------------------------------------------

def test_top_n_ranks_unexcluded_cells_and_breaks_ties_by_position():
    scores = np.array([[0.9, 2.0, 2.0, 0.1, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    exclude = np.array([[True, False, False, False, False], [False, True, False, True, False]])
    assert rec.top_n(scores, exclude, 3).tolist() == [[1, 2, 4], [0, 2, 4]]
    assert rec.top_n(scores, exclude, 10).shape == (2, 3)     # the fewest candidates of a row
    excluded_nan = np.where(exclude, np.nan, scores)          # excluded cells may hold anything
    assert rec.top_n(excluded_nan, exclude, 1).tolist() == [[1], [0]]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_top_n_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n=.* must be a positive integer"):
        rec.top_n(np.ones((2, 3)), np.zeros((2, 3), dtype=bool), n)


def test_top_n_refuses_nan_scores_and_mismatched_shapes():
    scores = np.ones((2, 3))
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first at row 1, column 2"):
        rec.top_n(scores, np.zeros((2, 3), dtype=bool), 1)
    with pytest.raises(ValueError, match=r"exclude has shape \(2, 2\), scores \(2, 3\)"):
        rec.top_n(np.ones((2, 3)), np.zeros((2, 2), dtype=bool), 1)


# --- recommend: the one ranker behind every model ------------------------------------------

class FixedScores(Model):
    """A model whose scores are given: what Model.recommend does with them, alone."""

    key, label = "fixed", "given scores"

    def __init__(self, values):
        super().__init__()
        self.values = np.asarray(values, dtype=float)

    def _fit(self, ratings):
        pass

    def _score_rows(self, rows):
        return self.values[rows]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), ties=st.booleans())
def test_recommend_never_contains_rated_movies_and_ranks_by_score_then_id(seed, n, ties):
    rng = np.random.default_rng(seed)
    n_users, n_movies = rng.integers(1, 8), rng.integers(2, 12)
    movie_ids = np.arange(1, n_movies + 1) * 10
    cells = [(u, m) for u in range(1, n_users + 1) for m in movie_ids]
    chosen = rng.choice(len(cells), size=rng.integers(1, len(cells) + 1), replace=False)
    ratings = pd.DataFrame([(*cells[i], rng.integers(1, 6), 0) for i in chosen],
                           columns=rec.RATINGS_COLS)
    index = rec.RatingIndex.from_ratings(ratings)
    values = (rng.integers(0, 3, index.shape) if ties else rng.random(index.shape) * 5)
    model = FixedScores(values).fit(ratings)
    for row, user in enumerate(index.user_ids):
        rated = set(ratings.loc[ratings["user id"] == user, "movie id"])
        unrated = [m for m in index.movie_ids if m not in rated]
        top = model.recommend(int(user), n)
        expected = sorted(unrated, key=lambda m: (-values[row, index.movie_positions([m])[0]],
                                                  m))[:n]
        assert list(top.index) == expected                  # capped at the unrated movies
        assert top.index.name == "movie id" and top.name == "score"


def test_recommend_refuses_nan_scores_unknown_users_and_bad_requests(ratings):
    values = np.ones((4, 6))
    values[2, 5] = np.nan                                    # user 3 has not rated movie 6
    model = FixedScores(values).fit(ratings)
    assert list(model.recommend(1, 2).index) == [3, 4]
    with pytest.raises(ValueError, match=r"scores hold 1 NaN or infinite values"):
        model.recommend(3)
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9"):
        model.recommend(9)
    with pytest.raises(TypeError, match=r"user_id must be an integer user id; got True"):
        model.recommend(True)
    with pytest.raises(ValueError, match=r"n=0 must be a positive integer"):
        model.recommend(1, 0)
    with pytest.raises(ValueError, match=r"user_ids and movie_ids must have the same shape; "
                                         r"got \(2,\) and \(1,\)"):
        model.predict([1, 2], [3])


def test_an_unfitted_model_says_so():
    model = REGISTRY["nnls_als"](l2=0.2)
    assert repr(model) == "NNLSALS(l2=0.2)"
    for call in (model.scores, lambda: model.recommend(1), lambda: model.fold_in({1: 5}),
                 lambda: model.predict([1], [1])):
        with pytest.raises(RuntimeError, match=r"this nnls_als model is not fitted yet; call "
                                               r"\.fit\(ratings\) first"):
            call()


# --- bad ratings ---------------------------------------------------------------------------

def test_repeated_ratings_are_refused_by_every_route(ratings):
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    index = rec.RatingIndex.from_ratings(ratings)
    for call in (lambda: index.filled(doubled), lambda: index.sparse(doubled),
                 lambda: REGISTRY["nmf_zero"](num_components=2, n_iter=2).fit(doubled),
                 lambda: REGISTRY["nnls_als"](num_components=2, n_iter=2).fit(doubled)):
        with pytest.raises(ValueError, match=r"ratings repeats the \(user id, movie id\) pair "
                                             r"\[1, 1\]; keep one"):
            call()


@pytest.mark.parametrize("value, message", [
    (np.nan, r"got dtype float64, e\.g\. nan in row 3; convert \(pd\.to_numeric\)"),
    ("five", r"got dtype object, e\.g\. 'five' in row 3; convert \(pd\.to_numeric\)"),
])
def test_ratings_must_be_finite_numbers(ratings, value, message):
    bad = ratings.astype({"rating": object})
    bad.loc[3, "rating"] = value
    if value != value:                       # NaN keeps a numeric column
        bad = bad.astype({"rating": float})
    with pytest.raises(ValueError, match=r"ratings\['rating'\] must hold finite numbers; " + message):
        rec.RatingIndex.from_ratings(bad)
    with pytest.raises(ValueError, match=r"ratings\['rating'\] must hold finite numbers"):
        REGISTRY["biases"]().fit(bad)
    with pytest.raises(ValueError, match=r"ratings is empty"):
        rec.RatingIndex.from_ratings(ratings.iloc[:0])
    with pytest.raises(ValueError, match=r"ratings lacks the column\(s\) \['rating'\]"):
        rec.RatingIndex.from_ratings(ratings.drop(columns="rating"))


# --- new users: their row, fold-in ------------------------------------------------------------

def _refit_row_with_H_fixed(x, H, n_iter=20000):
    """The exercise's Z-update for one row, H held fixed, iterated to convergence."""
    z = np.abs(np.random.default_rng(0).standard_normal(H.shape[0]))
    HHt = H @ H.T
    for _ in range(n_iter):
        z *= (x @ H.T) / np.clip(z @ HHt, 1e-12, None)
    return z


def test_query_row_uses_the_training_fill(ratings):
    index = rec.RatingIndex.from_ratings(ratings)
    assert index.query_row({3: 5, 6: 1}, ratings).tolist() == [[0, 0, 5, 0, 0, 1]]
    movie_mean = index.query_row({3: 5}, ratings, fill_value="movie_mean")[0]
    X = recommender.rating_matrix(ratings, fill_value="movie_mean")
    assert movie_mean[0] == pytest.approx(X.loc[4, 1]) and movie_mean[2] == 5
    assert index.query_row({3: 5}, ratings, "global_mean")[0, 0] == pytest.approx(39 / 12)


def test_observed_only_query_row_stores_only_the_query(ratings):
    row = rec.RatingIndex.from_ratings(ratings).query_row({3: 5, 6: 1}, ratings, None)
    assert row.shape == (1, 6) and row.nnz == 2
    assert row.toarray().tolist() == [[0, 0, 5, 0, 0, 1]]


@pytest.mark.parametrize("query, error, message", [
    ({}, ValueError, r"query must be a non-empty dict \{movie id: stars\}.*got \{\}"),
    ([(1, 5)], ValueError, r"got \[\(1, 5\)\]"),
    ({True: 5}, ValueError, r"the ids those of movies\['movie id'\].*got \{True: 5\}"),
    ({42: 3}, ValueError, r"got \{42: 3\}"),
    ({1: 0}, ValueError, r"the stars whole numbers 1 to 5; got \{1: 0\}"),
    ({1: 3.5}, ValueError, r"got \{1: 3\.5\}"),
    ({1: "5"}, ValueError, r"got \{1: '5'\}"),
    ({1: True}, ValueError, r"got \{1: True\}"),
])
def test_query_row_and_fold_in_refuse_bad_queries(ratings, query, error, message):
    with pytest.raises(error, match=message):
        rec.RatingIndex.from_ratings(ratings).query_row(query, ratings)
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=10).fit(ratings)
    with pytest.raises(error, match=message):
        model.fold_in(query)


def test_zero_fill_fold_in_is_the_converged_exercise_update_of_the_new_row(ratings):
    """Folding a query in equals the exercise's Z-update of the new user's row, H fixed."""
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=5000).fit(ratings)
    H = model.result_.H
    scores = model.fold_in({3: 5, 4: 4})
    assert list(scores.index) == [1, 2, 3, 4, 5, 6] and scores.index.name == "movie id"
    x = np.array([0, 0, 5, 4, 0, 0], dtype=float)        # the new user's zero-filled row
    z = _refit_row_with_H_fixed(x, H)
    np.testing.assert_allclose(scores.to_numpy(), z @ H, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model.result_.H, H)      # the fitted model is unchanged


def test_observed_fold_in_counts_only_the_query_and_recovers_a_planted_user():
    rng = np.random.default_rng(7)
    n_users, n_movies = 30, 40
    Z, H = rng.random((n_users, 3)), rng.random((3, n_movies))
    cells = [(u + 1, m + 1) for u in range(n_users) for m in range(n_movies) if rng.random() < 0.6]
    ratings = pd.DataFrame([(u, m, (Z @ H)[u - 1, m - 1], 0) for u, m in cells],
                           columns=rec.RATINGS_COLS)
    model = REGISTRY["nnls_als"](num_components=3, l2=0.0, n_iter=300).fit(ratings)
    fit = model.result_
    z_true = np.array([2.0, 0.0, 1.0])
    truth = z_true @ fit.H                                        # a user the model can express
    query = {m + 1: truth[m] for m in range(0, n_movies, 3)}      # 14 of 40 movies
    # a query holds whole stars; this planted row does not, so its values are put into the
    # model's own sparse row and folded in by the model's own function
    row = model.index_.query_row({m: 3 for m in query}, ratings, None)
    row.data[:] = [query[m] for m in sorted(query)]
    folded = factorizations.als(row, 3, nonnegative=True, l2=0.0, n_iter=1, fold_into=fit)
    np.testing.assert_allclose(folded.Z[0], z_true, atol=1e-8)
    # the unrated movies were not read as zeros: a zero fill gives another answer
    filled = np.where(np.isin(np.arange(1, n_movies + 1), list(query)), truth, 0.0)[None, :]
    zero = factorizations.als(filled, 3, nonnegative=True, l2=0.0, n_iter=1, mask=None,
                              fold_into=fit)
    assert np.abs(zero.Z @ fit.H - truth).max() > 0.5


def test_scores_are_the_fits_reconstruction(ratings):
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=50).fit(ratings)
    np.testing.assert_array_equal(model.scores(), model.result_.Z @ model.result_.H)
    assert model.losses_ is model.result_.losses and model.index_.shape == (4, 6)
    observed = REGISTRY["nmf_masked"](num_components=2, n_iter=50, l2=0.1).fit(ratings)
    direct = non_negative(rec.RatingIndex.from_ratings(ratings).sparse(ratings), 2,
                          n_iter=50, l2=0.1, mask="observed")
    np.testing.assert_array_equal(observed.result_.Z, direct.Z)


def test_fold_in_is_reproducible_whatever_the_training_seed(ratings):
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=50,
                                 random_state=np.random.default_rng(1)).fit(ratings)
    first, second = model.fold_in({3: 5}), model.fold_in({3: 5})
    pd.testing.assert_series_equal(first, second)
