"""Item-item weights (lab.factorizations.item_weights) and the models built on them: EASE's
closed form, its non-negative form by ADMM held to an exact solver, and the non-negative
sum of those weights with NNLS-ALS factors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from lab.rules import InvalidParameterError
from lab.factorizations import item_weights
from lab.models import REGISTRY
from lab.models.als import ImplicitNNLSALS
from lab.models.ease import NonNegativeEASE
from lab.commands import synthetic


def who_rated(seed=0, shape=(80, 12), density=0.35):
    """A 0/1 matrix of who rated what, every movie rated at least once."""
    rng = np.random.default_rng(seed)
    X = (rng.random(shape) < density).astype(float)
    X[0] = 1.0
    return X


def exact_columns(X, penalty):
    """Column j of the non-negative weights, each by scipy's exact NNLS: minimize
    ||x_j - X b||^2 + sum_i penalty_i b_i^2 over b >= 0 with b_j = 0 (the penalty as rows
    sqrt(penalty_i) e_i appended to X)."""
    m = X.shape[1]
    A = np.vstack([X, np.diag(np.sqrt(penalty))])
    B = np.zeros((m, m))
    for j in range(m):
        others = [i for i in range(m) if i != j]
        B[others, j] = nnls(A[:, others], np.concatenate([X[:, j], np.zeros(m)]))[0]
    return B


@pytest.mark.parametrize("l2, l2_per_rating", [(5.0, 0.0), (2.0, 0.5)])
def test_non_negative_weights_are_the_exact_nnls_solution(l2, l2_per_rating):
    """ADMM's 400 steps reach every column's exact non-negative least-squares solution, with
    the penalty growing with the movie's ratings; over a tenth of the closed form's weights are
    negative, none of these."""
    X = who_rated()
    penalty = l2 + l2_per_rating * X.sum(axis=0)
    B = item_weights(X, l2=l2, l2_per_rating=l2_per_rating, nonnegative=True, n_iter=400,
                     rho=20.0).B
    exact = exact_columns(X, penalty)
    assert B.min() >= 0 and np.all(np.diag(B) == 0)
    np.testing.assert_allclose(B, exact, atol=1e-6 * np.abs(exact).max())
    unconstrained = item_weights(X, l2=l2, l2_per_rating=l2_per_rating).B
    assert np.mean(unconstrained[~np.eye(12, dtype=bool)] < 0) > 0.1


def test_the_closed_form_is_eases_and_solves_the_constrained_least_squares():
    """B = I - P diag(1 / diag P): each column is the ridge solution with b_j = 0 (its
    normal equations hold off the diagonal), sparse and dense data alike."""
    X = who_rated(1)
    fit = item_weights(sp.csr_array(X), l2=3.0)
    B, G = fit.B, X.T @ X
    assert np.all(np.diag(B) == 0)
    residual = (G + 3.0 * np.eye(12)) @ B - G                   # zero off the diagonal
    np.testing.assert_allclose(residual[~np.eye(12, dtype=bool)], 0, atol=1e-10)
    np.testing.assert_array_equal(B, item_weights(X, l2=3.0).B)
    # the result scores rows and cells as every result of the lab does
    np.testing.assert_allclose(fit.scores([4, 1]), X[[4, 1]] @ B, atol=1e-12)
    np.testing.assert_allclose(fit.predict([4, 1, 4], [0, 5, 7]),
                               (X @ B)[[4, 1, 4], [0, 5, 7]], atol=1e-12)
    assert fit.losses.size == 0


def test_bad_settings_are_refused_by_name():
    X = who_rated()
    with pytest.raises(InvalidParameterError, match=r"item_weights: rho must be a finite "
                                                    r"number > 0; got 0\.0"):
        item_weights(X, nonnegative=True, rho=0.0)
    with pytest.raises(InvalidParameterError, match=r"item_weights: l2_per_rating must be"):
        item_weights(X, l2_per_rating=-1.0)
    empty_movie = X.copy()
    empty_movie[:, 3] = 0
    with pytest.raises(ValueError, match=r"singular: a movie nobody rated.*set l2 > 0"):
        item_weights(empty_movie, l2=0.0)
    with pytest.raises(InvalidParameterError, match=r"nn_ease_als: weight must be a finite "
                                                    r"number from 0 to 1; got 1\.5"):
        REGISTRY["nn_ease_als"](weight=1.5)


def ratings_of(X, seed=0):
    """Random whole stars where X has a cell, as a ratings table (ids from 1)."""
    stars = np.zeros(X.shape)
    stars[np.nonzero(X)] = np.random.default_rng(seed).integers(1, 6, np.count_nonzero(X))
    return synthetic.ratings_frame(sp.csr_matrix(stars))


def test_the_non_negative_model_scores_by_its_weights_and_folds_in_exactly():
    """Scores are who-rated-what times the weights; a training user's own ratings, folded
    in as a new user's, give that user's row; the same data, the same numbers."""
    X = who_rated(2, shape=(60, 15))
    ratings = ratings_of(X)
    model = REGISTRY["nn_ease"](l2=2.0, n_iter=50).fit(ratings)
    assert model.non_negative and model.result_.B.min() >= 0 and model.losses_ is None
    np.testing.assert_allclose(model.scores(), X @ model.result_.B, atol=1e-12)
    own = ratings[ratings["user id"] == 7]
    again = model.fold_in(dict(zip(own["movie id"], own["rating"])))
    np.testing.assert_allclose(again.to_numpy(), model.scores()[6], atol=1e-12)
    twin = REGISTRY["nn_ease"](l2=2.0, n_iter=50).fit(ratings)
    np.testing.assert_array_equal(twin.scores(), model.scores())


def test_the_sum_is_its_parts_scaled_by_their_mean_scores():
    """scores = (1 - w) X B / mean(X B) + w Z H / mean(Z H), each part the model of its own
    key at its defaults; a fold-in sums the parts' fold-ins alike; every part >= 0."""
    X = who_rated(3, shape=(70, 14))
    ratings = ratings_of(X, 1)
    model = REGISTRY["nn_ease_als"](weight=0.3).fit(ratings)
    items = NonNegativeEASE().fit(ratings).scores()
    factors = ImplicitNNLSALS().fit(ratings).scores()
    expected = 0.7 * items / items.mean() + 0.3 * factors / factors.mean()
    np.testing.assert_allclose(model.scores(), expected, rtol=1e-12)
    assert model.non_negative and model.scores().min() >= 0
    query = {1: 5, 4: 3, 9: 4}
    parts = [part.fold_in(query).to_numpy() for part in model.parts_]
    np.testing.assert_allclose(model.fold_in(query).to_numpy(),
                               0.7 * parts[0] / items.mean() + 0.3 * parts[1] / factors.mean(),
                               rtol=1e-12)
    only_items = REGISTRY["nn_ease_als"](weight=0.0).fit(ratings)
    assert (only_items.recommend(2, n=5).index.tolist()
            == NonNegativeEASE().fit(ratings).recommend(2, n=5).index.tolist())
