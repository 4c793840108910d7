"""Tests of what every factorization of lab.factorizations shares (lab.factorizations.cells):
the observed cells of dense and sparse input (NaN, a mask, every cell with mask=None), the
refusal of complex sparse data, the cells grouped by row and column, the loop of the
alternating fits; and lab.base.predict_cells, which they predict with."""

import numpy as np
import pytest
import scipy.sparse as sp

from lab import factorizations, kernels
from lab.base import predict_cells
from lab.factorizations.cells import grouped, iterate


def test_observed_means_non_nan_cells_and_none_means_every_cell(nnls_als, tiny_problem):
    X, mask = tiny_problem(seed=6)
    with_nan = np.where(mask, X, np.nan)
    by_nan = nnls_als(with_nan, 2, n_iter=3)                  # default "observed"
    by_mask = nnls_als(X, 2, mask=mask, n_iter=3)
    np.testing.assert_allclose(by_nan.H, by_mask.H, atol=1e-12)
    zero_filled = np.where(mask, X, 0.0)
    every_cell = factorizations.als(sp.csr_matrix(zero_filled), 2, mask=None, n_iter=3)
    dense = factorizations.als(zero_filled, 2, mask=None, n_iter=3)
    np.testing.assert_allclose(every_cell.Z, dense.Z, atol=1e-10)
    stored_only = factorizations.als(sp.csr_matrix(zero_filled), 2, n_iter=3)
    assert not np.allclose(stored_only.Z, dense.Z)
    with pytest.raises(ValueError, match="got the string 'all'"):
        factorizations.als(X, 2, mask="all")


def test_sparse_input_equals_dense_with_mask(nnls_als, tiny_problem):
    X, mask = tiny_problem(seed=5)
    sparse = sp.csr_matrix(np.where(mask, X, 0.0))
    for function in (factorizations.als, nnls_als,
                     factorizations.biased_non_negative):
        dense = function(X, 2, mask=mask, n_iter=3, random_state=7)
        stored = function(sparse, 2, n_iter=3, random_state=7)
        np.testing.assert_allclose(stored.Z, dense.Z, atol=1e-10)
        np.testing.assert_allclose(stored.losses, dense.losses, rtol=1e-10)


def test_sparse_complex_data_is_refused_like_dense():
    with pytest.raises(TypeError, match=r"data must be real and numeric; got a sparse matrix of "
                                        r"dtype complex128"):
        factorizations.als(sp.csr_matrix(np.ones((3, 3))).astype(complex), 1)


# ------------------------------------------------------------------ predictions
def test_predict_cells_matches_the_full_product():
    rng = np.random.default_rng(3)
    Z, H = rng.random((9, 3)), rng.random((3, 8))
    rows, cols = rng.integers(0, 9, 50), rng.integers(0, 8, 50)
    np.testing.assert_allclose(predict_cells(Z, H, rows, cols, chunk=7),
                               (Z @ H)[rows, cols], rtol=1e-12)


def test_grouped_holds_the_cells_by_row_and_by_column_with_sorted_indices():
    X = sp.random(7, 5, density=0.4, random_state=0, format="csc")
    by_row, by_col = grouped(X)
    assert by_row.format == by_col.format == "csr" and by_col.has_sorted_indices
    assert (by_row != X).nnz == 0 and (by_col != X.T).nnz == 0


def test_iterate_records_the_start_and_each_sweep_and_stops_by_the_rule(capsys):
    sweeps = [8.0, 4.0, 3.9, 3.899]
    run = lambda tol, n_iter=4, verbose=False: iterate(
        lambda: 10.0, iter(sweeps).__next__, "demo", n_iter=n_iter, tol=tol, verbose=verbose)
    np.testing.assert_array_equal(run(None), [10.0, 8.0, 4.0, 3.9, 3.899])
    # 4.0 -> 3.9 is the first sweep to lower the objective by at most 5 %: it is the last
    np.testing.assert_array_equal(run(0.05), [10.0, 8.0, 4.0, 3.9])
    np.testing.assert_array_equal(run(None, n_iter=0), [10.0])      # no sweep at all
    run(None, verbose=True)
    assert "demo: iteration     4 of 4, objective 3.899000e+00" in capsys.readouterr().out


def test_iterate_holds_blas_to_one_thread_where_the_kernels_own_the_cores():
    """kernels_own_cores: the start's objective and every sweep run with BLAS on one thread
    (where the kernels are compiled; without numba BLAS keeps its threads)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> float:
        return float(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))

    with threadpool_limits(limits=2, user_api="blas"):          # as a user's BLAS may run
        assert blas_threads() == 2.0
        held = iterate(blas_threads, blas_threads, "demo", n_iter=2, tol=None, verbose=False,
                       kernels_own_cores=True)
        free = iterate(blas_threads, blas_threads, "demo", n_iter=2, tol=None, verbose=False)
        assert blas_threads() == 2.0                           # and back after the loop
    assert list(held) == [1.0 if kernels.COMPILED else 2.0] * 3 and list(free) == [2.0] * 3
