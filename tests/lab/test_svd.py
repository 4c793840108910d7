"""Tests of lab.factorizations.truncated_svd: the best rank-M approximation (dense by
LAPACK, sparse by ARPACK), its fold-in (a projection) and its error messages."""

import numpy as np
import pytest
import scipy.sparse as sp

from lab import factorizations


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


def test_svd_fold_in_projects_onto_the_components():
    X = np.random.default_rng(17).random((15, 7))
    fit = factorizations.truncated_svd(X, 3)
    folded = factorizations.truncated_svd(X[2:4], 3, fold_into=fit)
    np.testing.assert_allclose(folded.Z, fit.Z[2:4], atol=1e-12)
    # its loss, from the norms alone (a sparse row is never densified), is the direct one
    for rows in (X[2:4], sp.csr_array(X[2:4])):
        again = factorizations.truncated_svd(rows, 3, fold_into=fit)
        direct = np.sum((X[2:4] - again.Z @ again.H) ** 2)
        np.testing.assert_allclose(again.losses, [np.sum(X[2:4] ** 2), direct], rtol=1e-10)


# -------------------------------------------------------------------- errors
def test_truncated_svd_errors():
    with pytest.raises(ValueError, match=r"1 NaN or infinite entries \(first at row 0, column 1: "
                                         r"nan\); this method needs every cell: fill them first"):
        factorizations.truncated_svd(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match=r"truncated_svd needs every cell \(mask=None\); got "
                                         r"mask='observed'"):
        factorizations.truncated_svd(np.ones((3, 3)), 1, mask="observed")
