"""Tests of lab/interface.py: what every model does the same way (lab.interface.Model: fit,
scores, predict, recommend, fold_in, the fit's record), on a tiny synthetic MovieLens (the
fixtures movielens, ratings and movies of tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.ratings import RatingIndex

from recommender import RATINGS_COLS
from lab import factorizations
from lab.models import REGISTRY
from lab.nmf import non_negative
from given_scores import GivenScores
from ranking_cases import best_unrated, random_ratings


# --- recommend: the one ranker behind every model ------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), ties=st.booleans())
def test_recommend_never_contains_rated_movies_and_ranks_by_score_then_id(seed, n, ties):
    rng = np.random.default_rng(seed)
    ratings = random_ratings(rng, np.arange(1, rng.integers(2, 12) + 1) * 10)
    index = RatingIndex.from_ratings(ratings)
    values = (rng.integers(0, 3, index.shape) if ties else rng.random(index.shape) * 5)
    model = GivenScores(values).fit(ratings)
    for row, user in enumerate(index.user_ids):
        top = model.recommend(int(user), n)
        expected = best_unrated(lambda m: values[row, index.movie_positions([m])[0]], ratings,
                                user, index.movie_ids, n)
        assert list(top.index) == expected                  # capped at the unrated movies
        assert top.index.name == "movie id" and top.name == "score"


def test_recommend_refuses_nan_scores_unknown_users_and_bad_requests(ratings):
    values = np.ones((4, 6))
    values[2, 5] = np.nan                                    # user 3 has not rated movie 6
    model = GivenScores(values).fit(ratings)
    assert list(model.recommend(1, 2).index) == [3, 4]
    with pytest.raises(ValueError, match=r"scores hold 1 NaN or infinite values"):
        model.recommend(3)
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9"):
        model.recommend(9)
    with pytest.raises(TypeError, match=r"user_id must be an integer user id; got True"):
        model.recommend(True)
    with pytest.raises(ValueError, match=r"top_n: n must be an integer >= 1; got 0 of type int"):
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


# --- fold-in and the fit's record ----------------------------------------------------------

def _refit_row_with_H_fixed(x, H, n_iter=20000):
    """The exercise's Z-update for one row, H held fixed, iterated to convergence."""
    z = np.abs(np.random.default_rng(0).standard_normal(H.shape[0]))
    HHt = H @ H.T
    for _ in range(n_iter):
        z *= (x @ H.T) / np.clip(z @ HHt, 1e-12, None)
    return z


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
                           columns=RATINGS_COLS)
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
    direct = non_negative(RatingIndex.from_ratings(ratings).sparse(ratings), 2,
                          n_iter=50, l2=0.1, mask="observed")
    np.testing.assert_array_equal(observed.result_.Z, direct.Z)


def test_fold_in_is_reproducible_whatever_the_training_seed(ratings):
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=50,
                                 random_state=np.random.default_rng(1)).fit(ratings)
    first, second = model.fold_in({3: 5}), model.fold_in({3: 5})
    pd.testing.assert_series_equal(first, second)
