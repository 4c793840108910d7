"""Tests of lab.factorizations.als, regularized ALS and (nonnegative=True) NNLS-ALS: the
literal, row-by-row reference on a tiny case, the constraint, recovery, descent without a
penalty, seeds, the refusal of negative data, and the fold-in of new rows.  What ALS shares
with the biased model (the monotone objective, the row solves, the block-by-block NumPy
form) is tested in test_row_solves.py; the shared parameter rules in test_parameters.py."""

import numpy as np
import pytest
from scipy.optimize import nnls

from lab import factorizations


def reference_als(X, mask, H, l2, n_iter, nonneg):
    """Row by row: the closed form of ALS-WR, or an NNLS on the stacked ridge system."""
    n, m = X.shape
    M = H.shape[0]
    Z = np.zeros((n, M))
    for _ in range(n_iter):
        for i in range(n):
            J = np.flatnonzero(mask[i])
            if J.size == 0:
                Z[i] = 0
                continue
            if nonneg:   # stacked ridge system: ||[H_J'; sqrt(l2 n) I] z - [x; 0]||^2
                A = np.vstack([H[:, J].T, np.sqrt(l2 * J.size) * np.eye(M)])
                Z[i] = nnls(A, np.concatenate([X[i, J], np.zeros(M)]))[0]
            else:
                A = l2 * J.size * np.eye(M) + H[:, J] @ H[:, J].T
                Z[i] = np.linalg.inv(A) @ H[:, J] @ X[i, J]
        for j in range(m):
            I = np.flatnonzero(mask[:, j])
            if I.size == 0:
                H[:, j] = 0
                continue
            if nonneg:
                A = np.vstack([Z[I], np.sqrt(l2 * I.size) * np.eye(M)])
                H[:, j] = nnls(A, np.concatenate([X[I, j], np.zeros(M)]))[0]
            else:
                H[:, j] = np.linalg.inv(l2 * I.size * np.eye(M) + Z[I].T @ Z[I]) @ Z[I].T @ X[I, j]
    return Z, H


# ------------------------------------------------------------------ equivalence
@pytest.mark.parametrize("function, nonneg", [("als", False), ("nnls_als", True)],
                         ids=["als", "nnls_als"], indirect=["function"])
def test_alternating_matches_literal_reference(function, nonneg, tiny_problem, common_start):
    X, mask = tiny_problem()
    _, H0 = common_start(X, mask, 3, seed=1)
    result = function(X, 3, mask=mask, l2=0.05, n_iter=4, random_state=1)
    Z, H = reference_als(X, mask, H0.copy(), 0.05, 4, nonneg)
    np.testing.assert_allclose(result.Z, Z, atol=1e-8)
    np.testing.assert_allclose(result.H, H, atol=1e-8)
    assert np.all(result.Z[0] == 0)             # row 0 has no observed cell


def test_nonnegative_als_stays_non_negative_where_unconstrained_als_goes_negative(
        nnls_als, tiny_problem, common_start):
    """On data whose unconstrained ALS factors turn negative, als(nonnegative=True) keeps
    Z, H >= 0 (with exact zeros: the constraint binds), and its last half-step is, column
    by column, the literal NNLS (scipy's Lawson-Hanson) of the stacked ridge system
    ``||[Z_I; sqrt(l2 m_j) I] h - [x_I; 0]||^2`` against the final Z."""
    X, mask = tiny_problem(seed=20, shape=(12, 10), density=0.7)
    free = factorizations.als(X, 3, mask=mask, l2=0.05, n_iter=6, random_state=3)
    assert min(free.Z.min(), free.H.min()) < -0.05         # the constraint has work to do
    fit = nnls_als(X, 3, mask=mask, l2=0.05, n_iter=6, random_state=3)
    assert fit.Z.min() >= 0 and fit.H.min() >= 0
    assert (fit.Z[1:] == 0).any() or (fit.H == 0).any()
    for j in range(X.shape[1]):
        I = np.flatnonzero(mask[:, j])
        A = np.vstack([fit.Z[I], np.sqrt(0.05 * I.size) * np.eye(3)])
        expected = nnls(A, np.concatenate([X[I, j], np.zeros(3)]))[0]
        np.testing.assert_allclose(fit.H[:, j], expected, atol=1e-9)
    # and the sweeps are those of the literal reference from the same start
    _, H0 = common_start(X, mask, 3, seed=3)
    Z, H = reference_als(X, mask, H0.copy(), 0.05, 6, nonneg=True)
    np.testing.assert_allclose(fit.Z, Z, atol=1e-8)
    np.testing.assert_allclose(fit.H, H, atol=1e-8)


def test_nnls_als_recovers_a_nonnegative_low_rank_matrix(nnls_als):
    rng = np.random.default_rng(0)
    X = rng.random((30, 2)) @ rng.random((2, 25)) * 3
    mask = rng.random(X.shape) < 0.7
    result = nnls_als(X, 2, mask=mask, l2=0.0, n_iter=300, random_state=0)
    assert result.Z.min() >= 0 and result.H.min() >= 0
    fit = result.Z @ result.H
    assert np.sqrt(np.mean((fit - X)[~mask] ** 2)) < 0.05   # held-out cells too


@pytest.mark.parametrize("function", ["als", "nnls_als"], indirect=True)
def test_no_penalty_with_sparse_rows_still_descends(function, tiny_problem):
    X, mask = tiny_problem(seed=2, shape=(12, 10), density=0.3)
    losses = function(X, 5, mask=mask, l2=0.0, n_iter=8).losses
    assert np.all(np.isfinite(losses))
    assert np.all(np.diff(losses) <= 1e-9 * losses[0])


def test_same_seed_same_result(nnls_als, tiny_problem):
    X, mask = tiny_problem(seed=9)
    first = nnls_als(X, 2, mask=mask, random_state=4, n_iter=3)
    second = nnls_als(X, 2, mask=mask, random_state=4, n_iter=3)
    np.testing.assert_array_equal(first.H, second.H)


# -------------------------------------------------------------------- errors
def test_nnls_als_rejects_negative_observed_data(nnls_als, tiny_problem):
    X, mask = tiny_problem()
    with pytest.raises(ValueError, match=r"data has \d+ negative entries \(first at row 1, "
                                         r"column 0: -\d\.0\)"):
        nnls_als(np.where(mask, -X, 0.0), 2, mask=mask)
    # negative values outside the mask do not matter
    nnls_als(np.where(mask, X, -1.0), 2, mask=mask, n_iter=1)


# ------------------------------------------------------------------ fold-in
@pytest.mark.parametrize("function, nonneg", [("als", False), ("nnls_als", True)],
                         ids=["als", "nnls_als"], indirect=["function"])
def test_fold_in_is_the_exact_row_solve_against_the_fixed_H(function, nonneg, tiny_problem):
    X, mask = tiny_problem(seed=15, shape=(20, 8))
    fit = function(X, 3, mask=mask, l2=0.05, n_iter=10)
    new_rows = np.where(mask[:3], X[:3] + 1, np.nan)
    folded = function(new_rows, 3, l2=0.05, n_iter=2, fold_into=fit)
    np.testing.assert_array_equal(folded.H, fit.H)
    Z, _ = reference_als(np.nan_to_num(new_rows), mask[:3], fit.H.copy(), 0.05, 1, nonneg)
    np.testing.assert_allclose(folded.Z, Z, atol=1e-8)
    assert folded.losses[1] == folded.losses[2]      # one exact half-step is already optimal
