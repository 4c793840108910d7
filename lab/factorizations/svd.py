"""The best rank-M approximation of a complete matrix (PureSVD on a zero-filled one):
:func:`truncated_svd`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from sklearn.utils.extmath import svd_flip

import nmf_core

from lab.base import FitResult, held, validate
from lab.rules import SEED, InvalidParameterError, check_params, check_rank


def truncated_svd(data, num_components, *, random_state=0, mask=None,
                  fold_into=None) -> FitResult:
    """Best rank-M approximation (Eckart-Young) of a complete matrix.

    The matrix is taken as given: impute missing ratings first (zeros give
    PureSVD, Cremonesi, Koren & Turrin 2010).  A dense input uses LAPACK's
    full SVD; a sparse input (unstored cells are zeros) uses ARPACK
    (``scipy.sparse.linalg.svds``) with a seeded start vector and is never
    densified.

    Parameters
    ----------
    data : array-like, DataFrame or sparse matrix of shape (n, m)
        Finite; negative values are allowed.
    num_components : int
        Rank M, ``1 <= M <= min(n, m)`` (``< min(n, m)`` for sparse input).
    random_state : int >= 0, numpy Generator or None, default 0
        Seed of ARPACK's start vector (sparse input only).
    mask : None
        Every cell must be observed; any other value is refused.
    fold_into : FitResult, optional
        An earlier SVD whose ``H`` (orthonormal rows) is kept: the rows of
        ``data`` are projected, ``Z = X @ H.T``, their least-squares fit.

    Returns
    -------
    FitResult
        ``Z = U_M diag(s_M)`` (n, M), ``H = V_M'`` (M, m), singular values in
        decreasing order, signs fixed so that each column of ``Z`` has a
        positive largest-magnitude entry.  ``losses`` holds the squared
        error of the zero start, ``||X||^2``, and of the result,
        ``||X - Z H||^2 = ||X||^2 - sum s_M^2``.
    """
    if mask is not None:
        what = repr(mask) if isinstance(mask, str) else f"a {type(mask).__name__}"
        raise ValueError(f"truncated_svd needs every cell (mask=None); got mask={what}. Fill "
                         "the missing cells first (lab.ratings.RatingIndex.filled).")
    X = validate(data, None, non_negative=False, mask_allowed=False).X
    M = check_rank(num_components, X.shape, "truncated_svd")
    if fold_into is None and M > min(X.shape) - sp.issparse(X):   # ARPACK: k < min(n, m)
        raise InvalidParameterError(
            f"truncated_svd: num_components must be at most {min(X.shape) - sp.issparse(X)} "
            f"for {'sparse' if sp.issparse(X) else 'dense'} data of shape {X.shape} (an SVD has "
            f"min(n, m) components; ARPACK, for sparse data, finds one fewer); got {M}.")
    random_state = check_params({"random_state": SEED}, {"random_state": random_state},
                                "truncated_svd")["random_state"]
    total = float((X ** 2).sum())                 # ||X||^2, as nmf_core.non_negative has it
    if fold_into is not None:
        H, = held(fold_into, nmf_core.NMFResult, {"H": (M, X.shape[1])})
        if not np.allclose(H @ H.T, np.eye(M), atol=1e-8):
            raise ValueError("fold_into must be a truncated_svd fit: its H has orthonormal rows "
                             "(the projection Z = X H^T is the least-squares fit only then).")
        Z = np.asarray(X @ H.T)
        # ||X - Z H||^2 = ||X||^2 - ||Z||^2 for H with orthonormal rows: X is never densified
        return FitResult(Z, H, np.array([total, max(total - float(np.vdot(Z, Z)), 0.0)]))
    if sp.issparse(X):
        v0 = np.random.default_rng(random_state).uniform(-1, 1, min(X.shape))
        U, s, Vt = svds(X, k=M, v0=v0, solver="arpack")
    else:
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
    order = np.argsort(s)[::-1][:M]
    U, s, Vt = U[:, order], s[order], Vt[order]
    U, Vt = svd_flip(U, Vt, u_based_decision=True)     # columns of unit length: signs are +-1
    return FitResult(U * s, Vt, np.array([total, max(total - float(s @ s), 0.0)]))
