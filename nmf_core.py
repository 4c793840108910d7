"""Non-negative matrix factorization by the exercise's clipped multiplicative updates.

``X`` (n x m) >= 0 is approximated by ``Z @ H`` (n x M times M x m, both >= 0) by Lee & Seung's
updates, H first, then Z with the new H; ``*``, ``/`` act element-wise, denominators are clipped::

    H <- H * (Z^T X) / clip(Z^T Z H)        (1)         Z <- Z * (X H^T) / clip(Z H H^T)        (2)

Lee & Seung, "Algorithms for non-negative matrix factorization", NIPS 13 (2001).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

EPS = float(np.finfo(np.float64).eps)  #: denominators are clipped at EPS s^1.5, s the mean entry
SPARSE_BELOW = 0.2  #: data with a smaller share of non-zero cells is multiplied as CSR


class NMFResult(NamedTuple):
    """``X ~ Z @ H``: ``Z`` (n, M), ``H`` (M, m), ``losses[t]`` the loss after t steps."""
    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray


def non_negative(data, num_components, *, n_iter=1000, random_state=0, eps=EPS, tol=None,
                 fold_into=None) -> NMFResult:
    """Factorize ``data ~ Z @ H``, Z and H >= 0, by the multiplicative updates (1) and (2).

    Parameters
    ----------
    data : array-like, DataFrame or scipy sparse matrix of shape (n, m), every entry >= 0
    num_components : int >= 1, the number M of components (rows of H)
    n_iter : int >= 0, default 1000: steps, each updating H, then Z; 0 returns the start
    random_state : int >= 0, numpy Generator or RandomState, or None: seeds the start, ``Z0``
        then ``H0``, each ``|N(0, 1)| sqrt(s / M)``, ``s`` the mean entry of data
    eps : float > 0, default ``EPS``: denominators are clipped below at ``eps * s**1.5``
    tol : float >= 0 or None (default): stop after a step that lowers the loss by at most
        tol times itself; None runs all n_iter steps
    fold_into : NMFResult, optional: a fit of other rows with the same columns; its H is
        kept and only Z is fitted, by (2): new users are scored without refitting the others

    Returns NMFResult: ``Z`` (n, M), ``H`` (M, m) and ``losses[t] = ||X - Z_t H_t||^2``
    for t = 0 (the start) .. the last step; no step raises it unless a denominator is clipped.
    """
    X = _check_data(data)                     # float64: ndarray, or CSR when mostly zeros
    M, n_iter, eps, tol = _check_options(num_components, n_iter, eps, tol)
    n, m = X.shape
    s = float(X.sum()) / (n * m)                                  # the mean entry
    floor = eps * s ** 1.5 if s > 0 else eps
    Z, H = _start(n, m, M, s, random_state)
    if fold_into is not None:                 # H of the earlier fit stays; (1) is skipped
        H = _fixed_H(fold_into, M, m)
    XX = float(X.multiply(X).sum() if sp.issparse(X) else np.vdot(X, X))     # ||X||^2
    XHt, HHt, losses = X @ H.T, H @ H.T, []
    for t in range(n_iter + 1):
        ZtZ = Z.T @ Z
        # ||X - Z H||^2 = ||X||^2 - 2 <X H^T, Z> + <Z^T Z, H H^T>: the n x m Z H is never formed
        losses.append(max(XX - 2 * float(np.vdot(XHt, Z)) + float(np.vdot(ZtZ, HHt)), 0.0))
        if t == n_iter or (t > 0 and losses[-2] - losses[-1] <= tol * losses[-2]):
            break
        if fold_into is None:
            H = H * (Z.T @ X) / np.clip(ZtZ @ H, floor, None)        # (1): Z^T X / Z^T Z H
            XHt, HHt = X @ H.T, H @ H.T
        Z = Z * XHt / np.clip(Z @ HHt, floor, None)                 # (2): X H^T / Z H H^T
    return NMFResult(Z, H, np.array(losses))


def _start(n: int, m: int, M: int, s: float, random_state):
    try:
        rng, scale = np.random.default_rng(random_state), np.sqrt(s / M)
        return tuple(np.abs(rng.standard_normal(size)) * scale for size in ((n, M), (M, m)))
    except (TypeError, ValueError) as error:
        raise type(error)(f"random_state must be an integer >= 0, a numpy Generator or "
                          f"RandomState, or None; got {random_state!r}.") from None
    except MemoryError:
        raise MemoryError(f"num_components={M} needs {8 * (n + m) * M / 2**30:.3g} GiB for Z "
                          f"and H of data of shape {(n, m)}; choose fewer components.") from None


def _fixed_H(fold_into, M: int, m: int) -> np.ndarray:
    H = getattr(fold_into, "H", None)
    if (isinstance(fold_into, NMFResult) and np.shape(H) == (M, m) and np.all(np.isfinite(H))
            and np.all(H >= 0)):
        return np.array(H, dtype=np.float64)
    raise ValueError(f"fold_into must be an earlier fit (NMFResult) whose H has shape (num_comp"
                     f"onents, columns of data) = {(M, m)}, finite and >= 0; got "
                     f"{type(fold_into).__name__} with H of shape {np.shape(H)}.")


def _check_options(num_components, n_iter, eps, tol) -> tuple:  # TypeError or ValueError
    for name, v, kind, rule, low in [
            ("num_components", num_components, numbers.Integral, "an integer >= 1", 1),
            ("n_iter", n_iter, numbers.Integral, "an integer >= 0", 0),
            ("eps", eps, numbers.Real, "a finite number > 0", np.finfo(float).smallest_subnormal),
            ("tol", 0 if tol is None else tol, numbers.Real, "a finite number >= 0 or None", 0)]:
        if not isinstance(v, kind) or isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be {rule}; got {v!r} of type {type(v).__name__}.")
        if not low <= v < np.inf:
            raise ValueError(f"{name} must be {rule}; got {v!r}.")
    return int(num_components), int(n_iter), float(eps), -np.inf if tol is None \
        else float(tol)                                          # tol None: never stop early


def _check_data(data):
    """X as float64, dense or (mostly zeros) CSR.  TypeError for non-numbers; ValueError for a
    bad shape, NaN, inf, negatives or entries too large or small for float64."""
    X = sp.coo_array(data).tocsr() if sp.issparse(data) else np.asarray(data)  # a copy, summed
    if X.dtype.kind not in "biuf":
        columns = [c for c, d in getattr(data, "dtypes", {}).items() if d.kind not in "biuf"]
        raise TypeError(f"data must be numeric; got dtype {X.dtype}" + (
            f": its non-numeric columns are {columns!r}" if columns else "") + ".")
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"data must be 2-D of shape (n, m); got shape {X.shape}." if X.ndim != 2
                         else f"data is empty: shape {X.shape}; it needs a row and a column.")
    X = X.astype(np.float64)
    if sp.issparse(X) or np.count_nonzero(X) < SPARSE_BELOW * X.size:   # CSR products are
        X = sp.csr_array(X)                                             # cheaper then
    x = X.data if sp.issparse(X) else X.ravel()
    for bad, what, hint in [
            (~np.isfinite(x), "NaN or infinite entries",
             "fill missing ratings first (DataFrame.fillna, or recommender.rating_matrix)"),
            (x < 0, "negative entries", "NMF needs data >= 0: shift or clip the data first")]:
        if bad.any():
            k = int(np.argmax(bad))
            i, j = ((np.searchsorted(X.indptr, k, "right") - 1, X.indices[k]) if sp.issparse(X)
                    else divmod(k, X.shape[1]))
            raise ValueError(f"data has {bad.sum()} {what} (first at row {i}, column {j}: "
                             f"{x[k]}); {hint}.")
    top, (tiny, huge) = x.max(initial=0.0), (np.finfo(float).tiny, np.finfo(float).max)
    if top > np.sqrt(huge / max(x.size, 1)) or 0 < top < np.cbrt(tiny):  # x^2 summed, x^3 fit
        raise ValueError(f"data is too {'large' if top > 1 else 'small'} for float64 arithmetic "
                         f"(largest entry {top:.3g}); divide or multiply it by a constant first.")
    return X
