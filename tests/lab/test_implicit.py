"""Tests of lab.factorizations.implicit_nnls_als, non-negative ALS on implicit feedback:
its sweeps against the literal confidence-weighted problem over every cell, and the
objective it reports."""

import numpy as np
import pytest
from scipy.optimize import nnls

from lab import factorizations


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


def test_implicit_nnls_als_matches_the_literal_weighted_problem(tiny_problem, common_start):
    X, mask = tiny_problem(seed=19, shape=(9, 7), density=0.4)
    result = factorizations.implicit_nnls_als(np.where(mask, X, np.nan), 2, l2=0.5, alpha=4.0,
                                              n_iter=3, random_state=5)
    _, H0 = common_start(mask.astype(float), mask, 2, seed=5)     # the level: who rated, 1
    Z, H = reference_implicit(mask, H0, 0.5, 4.0, 3)
    np.testing.assert_allclose(result.Z, Z, atol=1e-8)
    np.testing.assert_allclose(result.H, H, atol=1e-8)
    # the objective it reports is the weighted loss over every cell, and it never rises
    C, P = 1 + 4.0 * mask, mask.astype(float)
    direct = np.sum(C * (P - Z @ H) ** 2) + 0.5 * (np.sum(Z ** 2) + np.sum(H ** 2))
    assert result.losses[-1] == pytest.approx(direct, rel=1e-10)
    assert np.all(np.diff(result.losses) <= 1e-12 * result.losses[0])
