"""Tests of lab.factorizations.biased_non_negative (mean + user and item biases + a
non-negative interaction) and lab.factorizations.biases (the biases alone): the literal
reference on a tiny case, the objective they report, recovery of pure biases, the closed
form of the biases, and fold-in, with its check of the kind of model folded into.  What
the biased model shares with ALS (the monotone objective, the row solves) is tested in
test_row_solves.py."""

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from lab import factorizations


def reference_biased(X, mask, H, l2, bias_l2, n_iter):
    """Each row's (z >= 0, free bias) block by bounded least squares on a stacked system."""
    n, m = X.shape
    M = H.shape[0]
    mu = X[mask].mean()
    Z, a, c = np.zeros((n, M)), np.zeros(n), np.zeros(m)
    lower = np.r_[np.zeros(M), -np.inf]
    for _ in range(n_iter):
        for i in range(n):
            J = np.flatnonzero(mask[i])
            if J.size == 0:
                Z[i], a[i] = 0, 0
                continue
            A = np.block([[H[:, J].T, np.ones((J.size, 1))],
                          [np.sqrt(l2 * J.size) * np.eye(M), np.zeros((M, 1))],
                          [np.zeros((1, M)), np.sqrt(bias_l2) * np.ones((1, 1))]])
            y = np.r_[X[i, J] - mu - c[J], np.zeros(M + 1)]
            sol = lsq_linear(A, y, bounds=(lower, np.inf), method="bvls", tol=1e-14).x
            Z[i], a[i] = sol[:M], sol[M]
        for j in range(m):
            I = np.flatnonzero(mask[:, j])
            if I.size == 0:
                H[:, j], c[j] = 0, 0
                continue
            A = np.block([[Z[I], np.ones((I.size, 1))],
                          [np.sqrt(l2 * I.size) * np.eye(M), np.zeros((M, 1))],
                          [np.zeros((1, M)), np.sqrt(bias_l2) * np.ones((1, 1))]])
            y = np.r_[X[I, j] - mu - a[I], np.zeros(M + 1)]
            sol = lsq_linear(A, y, bounds=(lower, np.inf), method="bvls", tol=1e-14).x
            H[:, j], c[j] = sol[:M], sol[M]
    return mu, a, c, Z, H


# ------------------------------------------------------------------ equivalence
def test_biased_matches_literal_reference(tiny_problem, common_start):
    X, mask = tiny_problem(seed=3)
    _, H0 = common_start(X, mask, 2, seed=4, offset=X[mask].mean())
    result = factorizations.biased_non_negative(X, 2, mask=mask, l2=0.1, bias_l2=2.0, n_iter=3,
                                          random_state=4)
    mu, a, c, Z, H = reference_biased(X, mask, H0.copy(), 0.1, 2.0, 3)
    assert result.mu == pytest.approx(mu)
    np.testing.assert_allclose(result.user_bias, a, atol=1e-6)
    np.testing.assert_allclose(result.item_bias, c, atol=1e-6)
    np.testing.assert_allclose(result.Z, Z, atol=1e-6)
    np.testing.assert_allclose(result.H, H, atol=1e-6)


def test_objective_matches_its_definition(tiny_problem):
    X, mask = tiny_problem(seed=8)
    result = factorizations.biased_non_negative(X, 2, mask=mask, l2=0.3, bias_l2=1.5, n_iter=2)
    rows, cols = np.nonzero(mask)
    fit = result.mu + result.user_bias[rows] + result.item_bias[cols] \
        + np.sum(result.Z[rows] * result.H[:, cols].T, axis=1)
    n, m = mask.sum(1), mask.sum(0)
    expected = np.sum((X[rows, cols] - fit) ** 2) \
        + 0.3 * (n @ (result.Z ** 2).sum(1) + m @ (result.H ** 2).sum(0)) \
        + 1.5 * (result.user_bias @ result.user_bias + result.item_bias @ result.item_bias)
    assert result.losses[-1] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(result.predict(rows, cols), fit, rtol=1e-12)


def test_biased_model_recovers_pure_biases():
    rng = np.random.default_rng(1)
    a, c = rng.normal(0, 0.5, 20), rng.normal(0, 0.5, 15)
    X = 3 + a[:, None] + c[None, :]
    result = factorizations.biased_non_negative(X, 1, l2=1e-3, bias_l2=1e-6, n_iter=30)
    fit = result.predict(*np.indices(X.shape).reshape(2, -1)).reshape(X.shape)
    assert np.abs(fit - X).max() < 0.05


# ------------------------------------------------------------------ biases alone
def test_biases_are_the_biased_model_without_interaction_and_the_closed_form(tiny_problem):
    X, mask = tiny_problem(seed=14)
    result = factorizations.biases(X, mask=mask, bias_l2=1.5, n_iter=200, tol=0.0)
    assert result.Z.shape == (7, 0) and result.H.shape == (0, 6)
    mu = X[mask].mean()
    a, c = result.user_bias, result.item_bias
    # stationary: each bias is its closed form given the other side
    for i in range(7):
        J = mask[i]
        expected = (X[i, J] - mu - c[J]).sum() / (J.sum() + 1.5) if J.any() else 0.0
        assert a[i] == pytest.approx(expected, abs=1e-8)   # a was updated before c
    for j in range(6):
        I = mask[:, j]
        assert c[j] == pytest.approx((X[I, j] - mu - a[I]).sum() / (I.sum() + 1.5), abs=1e-10)
    assert np.all(np.diff(result.losses) <= 1e-12 * result.losses[0])
    np.testing.assert_allclose(result.scores(np.arange(len(a))), mu + a[:, None] + c[None, :])
    np.testing.assert_allclose(result.predict([0, 2], [5, 1]), mu + a[[0, 2]] + c[[5, 1]])


# ------------------------------------------------------------------ fold-in
def test_biased_fold_in_keeps_the_columns_and_the_level(tiny_problem):
    X, mask = tiny_problem(seed=16, shape=(20, 8))
    fit = factorizations.biased_non_negative(X, 2, mask=mask, n_iter=15)
    row = np.where(mask[4:5], X[4:5], np.nan)
    folded = factorizations.biased_non_negative(row, 2, n_iter=15, fold_into=fit)
    assert folded.mu == fit.mu
    np.testing.assert_array_equal(folded.item_bias, fit.item_bias)
    np.testing.assert_array_equal(folded.H, fit.H)
    np.testing.assert_allclose(folded.scores([0])[0], fit.scores([4])[0], atol=1e-3)


def test_fold_in_checks_the_kind_of_model(nnls_als, tiny_problem):
    X, mask = tiny_problem(seed=18, shape=(20, 8))
    biased = factorizations.biased_non_negative(X, 2, mask=mask, n_iter=3)
    plain = nnls_als(X, 2, mask=mask, n_iter=3)
    with pytest.raises(ValueError, match=r"fold_into must be an earlier fit \(BiasedResult\)"):
        factorizations.biased_non_negative(X[:2], 2, mask=mask[:2], fold_into=plain)
    with pytest.raises(ValueError, match=r"\(NMFResult\).*got BiasedResult"):
        factorizations.als(X[:2], 2, mask=mask[:2], fold_into=biased)
    with pytest.raises(ValueError, match=r"fold_into must be a truncated_svd fit: its H has "
                                         r"orthonormal rows"):
        factorizations.truncated_svd(X[:2], 2, fold_into=plain)
    # biases alone fold in too (their H is empty)
    base = factorizations.biases(X, mask=mask)
    again = factorizations.biases(np.where(mask[:3], X[:3], np.nan), fold_into=base)
    np.testing.assert_array_equal(again.item_bias, base.item_bias)
    np.testing.assert_allclose(again.user_bias, base.user_bias[:3], atol=0.05)
    # a fit whose level or movie biases are not finite, or of other columns, is refused by name
    rows = np.where(mask[:3], X[:3], np.nan)
    for broken, seen in [(base._replace(mu=np.nan), r"mu of shape \(\)"),
                         (base._replace(item_bias=base.item_bias[:-1]),
                          r"item_bias of shape \(7,\)")]:
        with pytest.raises(ValueError, match=r"whose mu has shape \(\) and item_bias has shape "
                                             r"\(8,\) with finite entries; got BiasedResult with .*"
                                             + seen):
            factorizations.biases(rows, fold_into=broken)
