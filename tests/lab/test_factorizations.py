"""Tests of the other factorizations (module lab.factorizations):
als (and NNLS-ALS, als(nonnegative=True)), biased_non_negative, biases, truncated_svd,
implicit_nnls_als and bayesian_non_negative.

Each algorithm is checked against a literal, loop-by-loop reference on a tiny
case, for the monotone objective it promises, for its fold-in of new rows and
for its error messages (the shared parameter rules are in test_parameters.py).
"""

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import lsq_linear, nnls

from lab import factorizations, kernels

#: NNLS-ALS: ALS with Z, H >= 0.
NNLS_ALS = partial(factorizations.als, nonnegative=True)


def tiny_problem(seed=0, shape=(7, 6), density=0.6):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, 6, size=shape).astype(float)
    mask = rng.random(shape) < density
    mask[0, :] = False          # a row without observed cells
    mask[1, 0] = True
    return X, mask


def start(X, mask, M, seed, offset=0.0):
    """The documented common start: Z0 then H0, |N(0, 1)| * sqrt(s / M), s the mean
    absolute observed value of what Z H models."""
    level = np.abs(X[mask] - offset).mean()
    rng = np.random.default_rng(seed)
    scale = np.sqrt(level / M)
    Z0 = np.abs(rng.standard_normal((X.shape[0], M))) * scale
    return Z0, np.abs(rng.standard_normal((M, X.shape[1]))) * scale


# ----------------------------------------------------------- literal references
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
                Z[i] = np.linalg.inv(l2 * J.size * np.eye(M) + H[:, J] @ H[:, J].T) @ H[:, J] @ X[i, J]
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
@pytest.mark.parametrize("function, nonneg", [(factorizations.als, False), (NNLS_ALS, True)],
                         ids=["als", "nnls_als"])
def test_alternating_matches_literal_reference(function, nonneg):
    X, mask = tiny_problem()
    _, H0 = start(X, mask, 3, seed=1)
    result = function(X, 3, mask=mask, l2=0.05, n_iter=4, random_state=1)
    Z, H = reference_als(X, mask, H0.copy(), 0.05, 4, nonneg)
    np.testing.assert_allclose(result.Z, Z, atol=1e-8)
    np.testing.assert_allclose(result.H, H, atol=1e-8)
    assert np.all(result.Z[0] == 0)             # row 0 has no observed cell


def test_nonnegative_als_stays_non_negative_where_unconstrained_als_goes_negative():
    """On data whose unconstrained ALS factors turn negative, als(nonnegative=True) keeps
    Z, H >= 0 (with exact zeros: the constraint binds), and its last half-step is, column
    by column, the literal NNLS (scipy's Lawson-Hanson) of the stacked ridge system
    ``||[Z_I; sqrt(l2 m_j) I] h - [x_I; 0]||^2`` against the final Z."""
    X, mask = tiny_problem(seed=20, shape=(12, 10), density=0.7)
    free = factorizations.als(X, 3, mask=mask, l2=0.05, n_iter=6, random_state=3)
    assert min(free.Z.min(), free.H.min()) < -0.05         # the constraint has work to do
    fit = NNLS_ALS(X, 3, mask=mask, l2=0.05, n_iter=6, random_state=3)
    assert fit.Z.min() >= 0 and fit.H.min() >= 0
    assert (fit.Z[1:] == 0).any() or (fit.H == 0).any()
    for j in range(X.shape[1]):
        I = np.flatnonzero(mask[:, j])
        A = np.vstack([fit.Z[I], np.sqrt(0.05 * I.size) * np.eye(3)])
        expected = nnls(A, np.concatenate([X[I, j], np.zeros(3)]))[0]
        np.testing.assert_allclose(fit.H[:, j], expected, atol=1e-9)
    # and the sweeps are those of the literal reference from the same start
    _, H0 = start(X, mask, 3, seed=3)
    Z, H = reference_als(X, mask, H0.copy(), 0.05, 6, nonneg=True)
    np.testing.assert_allclose(fit.Z, Z, atol=1e-8)
    np.testing.assert_allclose(fit.H, H, atol=1e-8)


def test_biased_matches_literal_reference():
    X, mask = tiny_problem(seed=3)
    _, H0 = start(X, mask, 2, seed=4, offset=X[mask].mean())
    result = factorizations.biased_non_negative(X, 2, mask=mask, l2=0.1, bias_l2=2.0, n_iter=3,
                                          random_state=4)
    mu, a, c, Z, H = reference_biased(X, mask, H0.copy(), 0.1, 2.0, 3)
    assert result.mu == pytest.approx(mu)
    np.testing.assert_allclose(result.user_bias, a, atol=1e-6)
    np.testing.assert_allclose(result.item_bias, c, atol=1e-6)
    np.testing.assert_allclose(result.Z, Z, atol=1e-6)
    np.testing.assert_allclose(result.H, H, atol=1e-6)


def test_sparse_input_equals_dense_with_mask():
    X, mask = tiny_problem(seed=5)
    sparse = sp.csr_matrix(np.where(mask, X, 0.0))
    for function in (factorizations.als, NNLS_ALS,
                     factorizations.biased_non_negative):
        dense = function(X, 2, mask=mask, n_iter=3, random_state=7)
        stored = function(sparse, 2, n_iter=3, random_state=7)
        np.testing.assert_allclose(stored.Z, dense.Z, atol=1e-10)
        np.testing.assert_allclose(stored.losses, dense.losses, rtol=1e-10)


# ---------------------------------------------------------------- monotonicity
@pytest.mark.parametrize("function", [factorizations.als, NNLS_ALS,
                                      factorizations.biased_non_negative],
                         ids=["als", "nnls_als", "biased_non_negative"])
def test_objective_never_increases(function):
    rng = np.random.default_rng(11)
    X = rng.integers(1, 6, size=(40, 30)).astype(float)
    mask = rng.random(X.shape) < 0.3
    losses = function(X, 4, mask=mask, l2=0.02, n_iter=25, random_state=2).losses
    assert losses.shape == (26,)                 # the start, then one per sweep
    assert np.all(np.diff(losses) <= 1e-10 * losses[0])
    assert losses[-1] < 0.9 * losses[0]          # and it does make progress


def test_objective_matches_its_definition():
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


def test_nnls_als_recovers_a_nonnegative_low_rank_matrix():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2)) @ rng.random((2, 25)) * 3
    mask = rng.random(X.shape) < 0.7
    result = NNLS_ALS(X, 2, mask=mask, l2=0.0, n_iter=300, random_state=0)
    assert result.Z.min() >= 0 and result.H.min() >= 0
    fit = result.Z @ result.H
    assert np.sqrt(np.mean((fit - X)[~mask] ** 2)) < 0.05   # held-out cells too


def test_biased_model_recovers_pure_biases():
    rng = np.random.default_rng(1)
    a, c = rng.normal(0, 0.5, 20), rng.normal(0, 0.5, 15)
    X = 3 + a[:, None] + c[None, :]
    result = factorizations.biased_non_negative(X, 1, l2=1e-3, bias_l2=1e-6, n_iter=30)
    fit = result.predict(*np.indices(X.shape).reshape(2, -1)).reshape(X.shape)
    assert np.abs(fit - X).max() < 0.05


# ----------------------------------------------------------------- truncated SVD
def test_truncated_svd_is_the_best_rank_k_approximation():
    rng = np.random.default_rng(2)
    X = rng.random((12, 9))
    U, s, Vt = np.linalg.svd(X)
    best = (U[:, :3] * s[:3]) @ Vt[:3]
    result = factorizations.truncated_svd(X, 3)
    np.testing.assert_allclose(result.Z @ result.H, best, atol=1e-12)
    np.testing.assert_allclose(result.losses, [np.sum(X ** 2), np.sum((X - best) ** 2)])
    sparse = factorizations.truncated_svd(sp.csr_matrix(X), 3, random_state=0)
    np.testing.assert_allclose(sparse.Z @ sparse.H, best, atol=1e-8)
    np.testing.assert_allclose(np.abs(sparse.Z), np.abs(result.Z), atol=1e-8)


def test_predict_cells_matches_the_full_product():
    rng = np.random.default_rng(3)
    Z, H = rng.random((9, 3)), rng.random((3, 8))
    rows, cols = rng.integers(0, 9, 50), rng.integers(0, 8, 50)
    np.testing.assert_allclose(factorizations.predict_cells(Z, H, rows, cols, chunk=7),
                               (Z @ H)[rows, cols], rtol=1e-12)


def test_same_seed_same_result():
    X, mask = tiny_problem(seed=9)
    first = NNLS_ALS(X, 2, mask=mask, random_state=4, n_iter=3)
    second = NNLS_ALS(X, 2, mask=mask, random_state=4, n_iter=3)
    np.testing.assert_array_equal(first.H, second.H)


# -------------------------------------------------------------------- errors
def test_nnls_als_rejects_negative_observed_data():
    X, mask = tiny_problem()
    with pytest.raises(ValueError, match=r"data has \d+ negative entries \(first at row 1, "
                                         r"column 0: -\d\.0\)"):
        NNLS_ALS(np.where(mask, -X, 0.0), 2, mask=mask)
    # negative values outside the mask do not matter
    NNLS_ALS(np.where(mask, X, -1.0), 2, mask=mask, n_iter=1)


def test_truncated_svd_errors():
    with pytest.raises(ValueError, match=r"num_components must be < 4 for sparse data; got 4"):
        factorizations.truncated_svd(sp.random(5, 4, density=0.5, random_state=0), 4)
    with pytest.raises(ValueError, match=r"1 NaN or infinite entries \(first at row 0, column 1: "
                                         r"nan\); this method needs every cell: fill them first"):
        factorizations.truncated_svd(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match=r"truncated_svd needs every cell \(mask=None\); got "
                                         r"mask='observed'"):
        factorizations.truncated_svd(np.ones((3, 3)), 1, mask="observed")


# ------------------------------------------------------------ the sparse path
class NoDense(sp.csr_matrix):
    """A sparse matrix that refuses to become dense."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("densified")

    todense = toarray


@pytest.mark.parametrize("function", [factorizations.als, NNLS_ALS,
                                      factorizations.biased_non_negative],
                         ids=["als", "nnls_als", "biased_non_negative"])
def test_sparse_path_never_densifies_and_blocks_do_not_matter(function, monkeypatch):
    """The NumPy form of the row solves (what runs without numba) goes block by block."""
    rng = np.random.default_rng(5)
    dense = np.where(rng.random((30, 20)) < 0.3, rng.integers(1, 6, (30, 20)), 0).astype(float)
    X = NoDense(dense)
    whole = function(X, 3, n_iter=3, random_state=1)
    monkeypatch.setattr(factorizations, "_ROW_BLOCK", 4)     # many row blocks
    with kernels.numpy_form():
        blocked = function(X, 3, n_iter=3, random_state=1)
    np.testing.assert_allclose(blocked.Z, whole.Z, atol=1e-10)
    np.testing.assert_allclose(blocked.losses, whole.losses, rtol=1e-10)


def test_synthetic_scale_data_has_the_requested_shape():
    from lab.benchmarks import bench_scale as bench
    X = bench.synthetic_ratings(60, 40, 700, seed=3)
    assert X.shape == (60, 40) and X.nnz == 700
    assert set(np.unique(X.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(np.unique(X.data)) >= 4
    counts = np.diff(X.tocsc().indptr)
    assert counts.max() > 3 * np.median(counts)              # popular and rare movies
    np.testing.assert_array_equal(bench.synthetic_ratings(60, 40, 700, seed=3).data, X.data)


@pytest.mark.parametrize("max_rounds, warm", [(0, False), (1, False), (12, False), (12, True)])
def test_batched_nonnegative_solver_matches_scipy_nnls(max_rounds, warm):
    rng = np.random.default_rng(12)
    n, M = 300, 6
    F = rng.standard_normal((n, 15, M))
    G = np.einsum("nrk,nrl->nkl", F, F)
    b = rng.standard_normal((n, M)) * 3
    reg = rng.uniform(0, 2, n)
    empty = np.zeros(n, bool)
    empty[:3] = True
    start = rng.random((n, M)) - 0.5 if warm else None
    x = factorizations._solve_nonneg(G, b, reg, empty, start=start, max_rounds=max_rounds)
    for r in range(n):
        if empty[r]:
            assert np.all(x[r] == 0)
            continue
        A = G[r] + reg[r] * np.eye(M)
        L = np.linalg.cholesky(A)
        expected = nnls(L.T, np.linalg.solve(L, b[r]))[0]
        np.testing.assert_allclose(x[r], expected, atol=1e-9)
    assert (x == 0).any() and (x > 0).any()


def test_observed_means_non_nan_cells_and_none_means_every_cell():
    X, mask = tiny_problem(seed=6)
    with_nan = np.where(mask, X, np.nan)
    by_nan = NNLS_ALS(with_nan, 2, n_iter=3)                  # default "observed"
    by_mask = NNLS_ALS(X, 2, mask=mask, n_iter=3)
    np.testing.assert_allclose(by_nan.H, by_mask.H, atol=1e-12)
    zero_filled = np.where(mask, X, 0.0)
    every_cell = factorizations.als(sp.csr_matrix(zero_filled), 2, mask=None, n_iter=3)
    dense = factorizations.als(zero_filled, 2, mask=None, n_iter=3)
    np.testing.assert_allclose(every_cell.Z, dense.Z, atol=1e-10)
    stored_only = factorizations.als(sp.csr_matrix(zero_filled), 2, n_iter=3)
    assert not np.allclose(stored_only.Z, dense.Z)
    with pytest.raises(ValueError, match="got the string 'all'"):
        factorizations.als(X, 2, mask="all")


def test_nonnegative_solver_handles_singular_systems():
    """l2 = 0 and fewer cells than components: the optimum is still found."""
    rng = np.random.default_rng(13)
    n, M = 40, 6
    F = rng.random((n, 3, M))                      # 3 cells, 6 unknowns: G has rank 3
    v = rng.random((n, 3)) * 4
    G = np.einsum("nrk,nrl->nkl", F, F)
    b = np.einsum("nrk,nr->nk", F, v)
    x = factorizations._solve_nonneg(G, b, np.zeros(n), np.zeros(n, bool))
    for r in range(n):
        best = nnls(F[r], v[r])[0]
        assert np.sum((F[r] @ x[r] - v[r]) ** 2) == pytest.approx(
            np.sum((F[r] @ best - v[r]) ** 2), abs=1e-9)
    assert x.min() >= 0


@pytest.mark.parametrize("function", [factorizations.als, NNLS_ALS], ids=["als", "nnls_als"])
def test_no_penalty_with_sparse_rows_still_descends(function):
    X, mask = tiny_problem(seed=2, shape=(12, 10), density=0.3)
    losses = function(X, 5, mask=mask, l2=0.0, n_iter=8).losses
    assert np.all(np.isfinite(losses))
    assert np.all(np.diff(losses) <= 1e-9 * losses[0])


# ------------------------------------------------------------------ biases alone
def test_biases_are_the_biased_model_without_interaction_and_the_closed_form():
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
    np.testing.assert_allclose(result.reconstruction(), mu + a[:, None] + c[None, :])


# ------------------------------------------------------------------ fold-in
@pytest.mark.parametrize("function, nonneg", [(factorizations.als, False), (NNLS_ALS, True)],
                         ids=["als", "nnls_als"])
def test_fold_in_is_the_exact_row_solve_against_the_fixed_H(function, nonneg):
    X, mask = tiny_problem(seed=15, shape=(20, 8))
    fit = function(X, 3, mask=mask, l2=0.05, n_iter=10)
    new_rows = np.where(mask[:3], X[:3] + 1, np.nan)
    folded = function(new_rows, 3, l2=0.05, n_iter=2, fold_into=fit)
    np.testing.assert_array_equal(folded.H, fit.H)
    Z, _ = reference_als(np.nan_to_num(new_rows), mask[:3], fit.H.copy(), 0.05, 1, nonneg)
    np.testing.assert_allclose(folded.Z, Z, atol=1e-8)
    assert folded.losses[1] == folded.losses[2]      # one exact half-step is already optimal


def test_biased_fold_in_keeps_the_columns_and_the_level():
    X, mask = tiny_problem(seed=16, shape=(20, 8))
    fit = factorizations.biased_non_negative(X, 2, mask=mask, n_iter=15)
    row = np.where(mask[4:5], X[4:5], np.nan)
    folded = factorizations.biased_non_negative(row, 2, n_iter=15, fold_into=fit)
    assert folded.mu == fit.mu
    np.testing.assert_array_equal(folded.item_bias, fit.item_bias)
    np.testing.assert_array_equal(folded.H, fit.H)
    np.testing.assert_allclose(folded.reconstruction()[0], fit.reconstruction()[4], atol=1e-3)


def test_svd_fold_in_projects_onto_the_components():
    X = np.random.default_rng(17).random((15, 7))
    fit = factorizations.truncated_svd(X, 3)
    folded = factorizations.truncated_svd(X[2:4], 3, fold_into=fit)
    np.testing.assert_allclose(folded.Z, fit.Z[2:4], atol=1e-12)


def test_fold_in_checks_the_kind_of_model():
    X, mask = tiny_problem(seed=18, shape=(20, 8))
    biased = factorizations.biased_non_negative(X, 2, mask=mask, n_iter=3)
    plain = NNLS_ALS(X, 2, mask=mask, n_iter=3)
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


def test_sparse_complex_data_is_refused_like_dense():
    with pytest.raises(TypeError, match=r"data must be real and numeric; got a sparse matrix of "
                                        r"dtype complex128"):
        factorizations.als(sp.csr_matrix(np.ones((3, 3))).astype(complex), 1)


# ------------------------------------------------------------ implicit feedback
def reference_implicit(observed, H, l2, alpha, n_iter):
    """Row by row: an NNLS on the stacked confidence-weighted system over every cell."""
    n, m = observed.shape
    M = H.shape[0]
    P = observed.astype(float)
    C = 1 + alpha * P
    Z = np.zeros((n, M))
    for _ in range(n_iter):
        for i in range(n):
            A = np.vstack([np.sqrt(C[i])[:, None] * H.T, np.sqrt(l2) * np.eye(M)])
            Z[i] = nnls(A, np.concatenate([np.sqrt(C[i]) * P[i], np.zeros(M)]))[0]
        for j in range(m):
            A = np.vstack([np.sqrt(C[:, j])[:, None] * Z, np.sqrt(l2) * np.eye(M)])
            H[:, j] = nnls(A, np.concatenate([np.sqrt(C[:, j]) * P[:, j], np.zeros(M)]))[0]
    return Z, H


def test_implicit_nnls_als_matches_the_literal_weighted_problem():
    X, mask = tiny_problem(seed=19, shape=(9, 7), density=0.4)
    result = factorizations.implicit_nnls_als(np.where(mask, X, np.nan), 2, l2=0.5, alpha=4.0,
                                              n_iter=3, random_state=5)
    rng = np.random.default_rng(5)
    rng.standard_normal((9, 2))                                  # Z0 is drawn first
    H0 = np.abs(rng.standard_normal((2, 7))) * np.sqrt(1.0 / 2)
    Z, H = reference_implicit(mask, H0, 0.5, 4.0, 3)
    np.testing.assert_allclose(result.Z, Z, atol=1e-8)
    np.testing.assert_allclose(result.H, H, atol=1e-8)
    # the objective it reports is the weighted loss over every cell, and it never rises
    C, P = 1 + 4.0 * mask, mask.astype(float)
    direct = np.sum(C * (P - Z @ H) ** 2) + 0.5 * (np.sum(Z ** 2) + np.sum(H ** 2))
    assert result.losses[-1] == pytest.approx(direct, rel=1e-10)
    assert np.all(np.diff(result.losses) <= 1e-12 * result.losses[0])


# ----------------------------------------------------------- the Bayesian model
def planted_biased(seed=0, shape=(40, 30), M=2, density=0.5, noise=0.2):
    """Ratings from a known biased non-negative model, and which cells are observed."""
    rng = np.random.default_rng(seed)
    truth = (3.0 + rng.normal(0, 0.4, (shape[0], 1)) + rng.normal(0, 0.4, (1, shape[1]))
             + rng.uniform(0, 1, (shape[0], M)) @ rng.uniform(0, 1, (M, shape[1])))
    X = truth + rng.normal(0, noise, shape)
    return X, truth, rng.random(shape) < density


def test_bayesian_posterior_mean_recovers_a_planted_model():
    X, truth, mask = planted_biased()
    fit = factorizations.bayesian_non_negative(np.where(mask, X, np.nan), 2, n_samples=150,
                                               burn_in=100, thin=1, random_state=0)
    assert fit.mean.shape == X.shape and fit.n_samples == 150
    held_out = ~mask
    def held_out_error(fitted):
        return np.sqrt(np.mean((fitted.reconstruction() - truth)[held_out] ** 2))

    data = np.where(mask, X, np.nan)
    error = held_out_error(fit)
    # measured: 0.151, against 0.240 for the biases alone and 0.173 for the penalized model
    assert error < 0.7 * held_out_error(factorizations.biases(data))
    assert error < held_out_error(factorizations.biased_non_negative(data, 2, l2=0.05))
    assert fit.last.Z.min() >= 0 and fit.last.H.min() >= 0
    assert fit.last.Z.shape == (40, 2) and fit.last.H.shape == (2, 30)
    # the last sweeps fit the observed cells to about the noise level (0.2)
    assert fit.last.losses.shape == (251,)
    assert 0.1 < np.sqrt(fit.last.losses[-1] / mask.sum()) < 0.25 < np.sqrt(
        fit.last.losses[0] / mask.sum())
    np.testing.assert_array_equal(fit.predict([0, 5], [1, 2]), fit.mean[[0, 5], [1, 2]])


def test_bayesian_same_seed_same_numbers_and_clip():
    X, _, mask = planted_biased(seed=1, shape=(12, 9))
    data = np.where(mask, X, np.nan)
    first = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=7, clip=(3.0, 4.0))
    again = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=7, clip=(3.0, 4.0))
    other = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=8, clip=(3.0, 4.0))
    np.testing.assert_array_equal(first.mean, again.mean)
    assert not np.array_equal(first.mean, other.mean)
    assert first.mean.min() >= 3.0 and first.mean.max() <= 4.0
    assert first.mean.max() > 3.9 and first.mean.min() < 3.1    # the clip did act


@pytest.mark.parametrize("a", [-2.0, 0.0, 0.7, 4.0])
def test_standard_normal_above_has_the_truncated_mean(a):
    from scipy.stats import norm
    rng = np.random.default_rng(0)
    draws = np.array([factorizations._standard_normal_above(rng, a) for _ in range(20000)])
    assert draws.min() >= a
    expected = norm.pdf(a) / norm.sf(a)                 # the mean of N(0, 1) above a
    assert abs(draws.mean() - expected) < 4 * draws.std() / np.sqrt(draws.size)


def test_truncated_normal_hyperparameters_find_the_generating_prior():
    from scipy.stats import truncnorm
    location, precision = np.array([0.5, -0.3]), np.array([4.0, 9.0])
    scale = 1 / np.sqrt(precision)
    X = np.column_stack([truncnorm.rvs(-m / s, np.inf, loc=m, scale=s, size=4000,
                                       random_state=k)
                         for k, (m, s) in enumerate(zip(location, scale))])
    rng = np.random.default_rng(1)
    m, l = np.zeros(2), np.ones(2)
    draws = []
    for sweep in range(600):
        m, l = factorizations._truncated_normal_hyper(rng, X, m, l)
        if sweep >= 200:
            draws.append(np.concatenate([m, l]))
    mean = np.mean(draws, axis=0)
    np.testing.assert_allclose(mean[:2], location, atol=0.08)
    np.testing.assert_allclose(mean[2:], precision, rtol=0.12)


@pytest.mark.skipif(factorizations._gibbs_factors is factorizations._gibbs_factors_loops,
                    reason="numba is not installed (or NMF_WITHOUT_NUMBA=1)")
def test_compiled_gibbs_sweep_draws_what_the_python_one_draws():
    rng = np.random.default_rng(3)
    ptr = np.array([0, 3, 3, 7, 12], dtype=np.int64)          # a row without cells
    other = rng.integers(0, 6, 12).astype(np.int64)
    fixed = rng.uniform(0, 1, (6, 3))
    residual = rng.normal(size=12)
    results = []
    for sweep in (factorizations._gibbs_factors, factorizations._gibbs_factors_loops):
        errors, own = residual.copy(), np.full((4, 3), 0.2)
        sweep(np.random.default_rng(11), ptr, other, errors, own, fixed,
              np.array([0.1, 0.0, -0.5]), np.array([1.0, 2.0, 4.0]), 3.0)
        results.append((errors, own))
    (errors_a, own_a), (errors_b, own_b) = results
    assert not np.allclose(own_a[[0, 2, 3]], 0.2)
    np.testing.assert_allclose(own_a, own_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(errors_a, errors_b, rtol=0, atol=1e-12)


def test_scale_bench_reads_one_iteration_without_the_set_up(monkeypatch):
    """per_iteration: a fit of k iterations that costs set-up + k * step on a fake clock gives
    back exactly step and the 1-iteration fit's time; the floating-point counts are those of
    the documented formulas."""
    from lab.benchmarks import bench_scale as bench
    clock = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])

    def fit(k, set_up=0.7, step=0.25):
        clock[0] += set_up + k * step

    step, one = bench.per_iteration(fit, extra=3, repeat=2)
    assert step == pytest.approx(0.25) and one == pytest.approx(0.95)
    assert bench.FLOP_PER_CELL["nmf_masked"](20) == 240
    assert bench.FLOP_PER_CELL["nnls_als"](20) == 2 * (800 + 60)
    assert bench.FLOP_PER_CELL["biased_nmf"](20) == 2 * (800 + 60 + 4)
    assert set(bench.TARGETS) == set(bench.ALGORITHMS)


def test_the_scale_bench_names_its_algorithms_by_their_registry_keys():
    from lab.benchmarks import bench_scale as bench
    from lab.models import REGISTRY
    assert set(bench.ALGORITHMS) <= set(REGISTRY)


# ------------------------------------------------------ the compiled row solves

needs_compiled_rows = pytest.mark.skipif(kernels._solve_rows_compiled is None,
                                         reason="numba missing or switched off")


def uneven_wide_ratings(seed, shape=(40, 90)):
    """Ratings 1..5 on a wide matrix whose rows hold 0 to 60 cells (the blocks of four
    cells and the one-by-one tail of the compiled pass), columns as uneven."""
    rng = np.random.default_rng(seed)
    n, m = shape
    sizes = np.concatenate([[0, 1, 2, 3, 4, 5, 7, 11], rng.integers(0, 61, n - 8)])
    rows = np.repeat(np.arange(n), sizes)
    cols = np.concatenate([np.sort(rng.choice(m, k, replace=False)) for k in sizes])
    data = rng.integers(1, 6, rows.size).astype(float)
    return sp.csr_matrix((data, (rows, cols)), shape=shape)


FITS = {
    "als": partial(factorizations.als, n_iter=6),
    "nnls_als": partial(NNLS_ALS, n_iter=6),
    "biased": partial(factorizations.biased_non_negative, n_iter=6),
    "biases": lambda X, M, **kw: factorizations.biases(X, n_iter=4, **kw),
}


@needs_compiled_rows
@pytest.mark.parametrize("name", list(FITS))
@pytest.mark.parametrize("M", [1, 5, 20])
def test_compiled_row_solves_match_the_numpy_form(name, M):
    """Factors, biases and losses of the compiled pass equal the NumPy form's to rounding
    (with a penalty every row's minimizer is unique)."""
    X = uneven_wide_ratings(seed=M)
    options = {} if name == "biases" else {"l2": 0.3}
    compiled = FITS[name](X, M, **options)
    with kernels.numpy_form():
        reference = FITS[name](X, M, **options)
    scale = np.abs(reference.Z).max(initial=1.0)
    np.testing.assert_allclose(compiled.Z, reference.Z, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(compiled.H, reference.H, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(compiled.losses, reference.losses, rtol=1e-10)
    for bias in ("user_bias", "item_bias"):
        if hasattr(reference, bias):
            np.testing.assert_allclose(getattr(compiled, bias), getattr(reference, bias),
                                       rtol=0, atol=1e-9)
    assert compiled.losses[-1] < compiled.losses[0]


@needs_compiled_rows
@pytest.mark.parametrize("name", ["als", "nnls_als", "biased"])
def test_without_penalty_the_compiled_solves_descend_as_the_numpy_form(name):
    """l2 = 0: rows and columns with fewer cells than M have many minimizers (the compiled
    pass leaves them to the NumPy form), so the paths may part; both descend, to objectives
    within 2 %."""
    X = uneven_wide_ratings(seed=5)
    compiled = FITS[name](X, 5, l2=0.0)
    with kernels.numpy_form():
        reference = FITS[name](X, 5, l2=0.0)
    for losses in (compiled.losses, reference.losses):
        assert np.all(np.diff(losses) <= 1e-9 * losses[0])
    assert compiled.losses[-1] == pytest.approx(reference.losses[-1], rel=0.02)


def nonnegative_problems(seed, count=200, M=7, cells=12):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((count, cells, M))
    A = np.einsum("nrk,nrl->nkl", F, F) + rng.uniform(0.01, 2, count)[:, None, None] * np.eye(M)
    return A, rng.standard_normal((count, M)) * 3


@needs_compiled_rows
@pytest.mark.parametrize("start", ["zero", "random", "solution"])
def test_compiled_nonnegative_solve_is_scipy_nnls_from_any_feasible_start(start):
    A, b = nonnegative_problems(seed=14)
    rng = np.random.default_rng(15)
    zeros = positives = 0
    for r in range(len(b)):
        L = np.linalg.cholesky(A[r])
        expected = nnls(L.T, np.linalg.solve(L, b[r]))[0]
        x = {"zero": np.zeros(7), "random": rng.random(7) * (rng.random(7) < 0.5),
             "solution": expected.copy()}[start]
        assert kernels._nonnegative_solve(A[r], b[r], x)
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-10)
        zeros, positives = zeros + (x == 0).sum(), positives + (x > 0).sum()
    assert zeros > 100 and positives > 100                 # both sides of the constraint


@needs_compiled_rows
def test_compiled_solves_leave_singular_rows_to_the_numpy_form():
    """l2 = 0: a row with fewer cells than components is singular; it is reported unsettled
    (and untouched by the Cholesky step), the others are solved."""
    X = uneven_wide_ratings(seed=3)
    M = 6
    F = np.random.default_rng(4).random((X.shape[1], M))
    n = X.shape[0]
    out, squares, settled = np.full((n, M), -1.0), np.empty(n), np.empty(n, dtype=bool)
    kernels._solve_rows_compiled(X.indptr, X.indices, X.data, F, np.zeros(n), 0.0, np.zeros(1),
                                 0.0, False, False, np.zeros((n, M)), out, np.empty(n), squares,
                                 settled)
    counts = np.diff(X.indptr)
    np.testing.assert_array_equal(settled, (counts == 0) | (counts >= M))
    for r in np.flatnonzero(counts >= M):
        J = X.indices[X.indptr[r]:X.indptr[r + 1]]
        v = X.data[X.indptr[r]:X.indptr[r + 1]]
        expected = np.linalg.lstsq(F[J], v, rcond=None)[0]
        np.testing.assert_allclose(out[r], expected, rtol=0, atol=1e-8)
        assert squares[r] == pytest.approx(np.sum((F[J] @ expected - v) ** 2), abs=1e-8)


@needs_compiled_rows
@pytest.mark.skipif(kernels.numba is not None and kernels.numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one core: numba cannot run two threads here")
@pytest.mark.parametrize("name", ["nnls_als", "biased"])
def test_compiled_row_solves_give_the_same_fit_on_one_and_two_threads(name, on_threads):
    X = uneven_wide_ratings(seed=9, shape=(120, 300))
    one, two = on_threads(lambda: FITS[name](X, 8))
    assert np.array_equal(one.Z, two.Z) and np.array_equal(one.H, two.H)
    assert np.array_equal(one.losses, two.losses)
    assert one.losses[-1] < 0.5 * one.losses[0]
