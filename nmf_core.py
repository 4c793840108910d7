"""Non-negative matrix factorization by the exercise's clipped multiplicative updates.

``X`` (n x m) >= 0 is approximated by ``Z @ H`` (n x M times M x m, both >= 0) by Lee & Seung's
updates, H first, then Z with the new H; ``*``, ``/`` act element-wise, denominators are clipped::

    H <- H * (Z^T X) / clip(Z^T Z H)        (1)
    Z <- Z * (X H^T) / clip(Z H H^T)        (2)

Lee & Seung, "Algorithms for non-negative matrix factorization", NIPS 13 (2001).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

#: Denominators are clipped below at ``EPS * s**1.5``, s the mean observed value (a fit's scale).
EPS = float(np.finfo(np.float64).eps)
SPARSE_BELOW = 0.2  #: unmasked data with a smaller share of non-zero cells is multiplied as CSR


class NMFResult(NamedTuple):
    """``X ~ Z @ H``: ``Z`` (n, M), ``H`` (M, m), ``losses[t]`` the loss after t steps."""
    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray


def non_negative(data, num_components, *, n_iter=1000, random_state=0, mask=None, l2=0.0,
                 eps=EPS, tol=None, verbose=False, fold_into=None) -> NMFResult:
    """Factorize ``data ~ Z @ H``, Z and H >= 0, by the multiplicative updates (1) and (2).

    Parameters
    ----------
    data : array-like, DataFrame or scipy sparse matrix of shape (n, m), >= 0 where observed
    num_components : int >= 1, the number M of components (rows of H)
    n_iter : int >= 0, default 1000: steps, each updating H, then Z; 0 returns the start
    random_state : int >= 0, numpy Generator or None, default 0: seeds the start, ``Z0`` then
        ``H0``, ``|N(0, 1)| sqrt(s / M)`` draws, ``s`` the mean observed value (Z0 H0 ~ s)
    mask : None (every cell), "observed" (the non-NaN cells, or stored entries) or a bool (0/1)
        array or sparse matrix (its True cells or stored entries): the cells the loss and
        the updates see; ``Z H`` is then formed at those alone
    l2 : float >= 0, default 0: adds ``l2 (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``,
        ``n_i``, ``m_j`` the observed cells of row i, column j (Zhou et al. 2008)
    eps : float > 0, default ``EPS``: denominators are clipped below at ``eps * s**1.5``
    tol : float >= 0 or None: stop after a step that lowers the loss by <= tol times itself
    verbose : bool, default False: print the loss at the start, each tenth of n_iter, the end
    fold_into : NMFResult, optional: a fit of other rows with the same columns; its H is
        kept and only Z is fitted, by (2): new users are scored without refitting the others

    Returns
    -------
    NMFResult: ``Z`` (n, M), ``H`` (M, m), ``losses[t]`` = ``||X - Z_t H_t||^2`` over the observed
        cells + the penalty, t = 0 (the start) .. steps; no step raises it unless clipped.

    >>> Z, H, losses = non_negative(np.random.default_rng(0).random((6, 10)), 3, n_iter=200)
    >>> Z.shape, H.shape, bool(np.all(np.diff(losses) <= 0))
    ((6, 3), (3, 10), True)
    """
    X, masked = _check_data(data, mask)       # float64 ndarray, or CSR (masked: observed cells)
    M, n_iter, l2, eps, tol = _check_options(num_components, n_iter, l2, eps, tol, verbose)
    (n, m), x = X.shape, X.data if sp.issparse(X) else X.ravel()    # x: the observed values
    s = float(x.sum()) / (X.nnz if masked else n * m)          # the mean observed value
    floor = eps * s ** 1.5 if s > 0 else eps
    Z, H = _start(n, m, M, s, random_state)
    H = H if fold_into is None else _fixed_H(fold_into, M, m)
    n_i, m_j = (np.diff(X.indptr)[:, None], np.diff(X.tocsc().indptr)) if masked else (m, n)
    XHt, HHt, xx, losses = X @ H.T, H @ H.T, float(x @ x), []
    for t in range(n_iter + 1):          # the loss of (Z_t, H_t), then the step to t + 1
        ZtZ, P = Z.T @ Z, _at_cells(X, Z, H) if masked else None    # P: Z H at the observed cells
        error = (np.sum((x - P.data) ** 2) if masked else                       # ||X - ZH||^2
                 max(xx - 2 * np.vdot(XHt, Z) + np.vdot(ZtZ, HHt), 0.0))
        penalty = l2 * (np.sum(n_i * Z**2) + np.sum(m_j * H**2)) if l2 else 0.0
        losses.append(float(error + penalty))
        done = t == n_iter or t > 0 and losses[-2] - losses[-1] <= tol * losses[-2]
        if verbose and (done or t % max(1, n_iter // 10) == 0):
            print(f"non_negative: iteration {t:>5d} of {n_iter}, objective {losses[t]:.6e}")
        if done:
            break
        if fold_into is None:            # Z^T Z H as (Z^T Z) H, or at the observed cells only
            ZtZH = (P.T @ Z).T if masked else ZtZ @ H
            H = H * (Z.T @ X) / np.clip(ZtZH + l2 * m_j * H, floor, None)             # (1)
        XHt, HHt = X @ H.T, H @ H.T
        ZHHt = _at_cells(X, Z, H) @ H.T if masked else Z @ HHt
        Z = Z * XHt / np.clip(ZHHt + l2 * n_i * Z, floor, None)                          # (2)
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


def _at_cells(X: sp.csr_array, Z, H) -> sp.csr_array:  # Z @ H at the stored cells of X only
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    P = np.einsum("ik,ik->i", Z[rows], np.ascontiguousarray(H.T)[X.indices])  # C order: fast
    return sp.csr_array((P, X.indices, X.indptr), shape=X.shape)


def _fixed_H(fold_into, M: int, m: int) -> np.ndarray:
    H = getattr(fold_into, "H", None)
    if not (isinstance(fold_into, NMFResult) and np.shape(H) == (M, m) and np.isfinite(H).all()
            and np.all(H >= 0)):
        raise ValueError(f"fold_into must be an earlier fit (NMFResult) whose H has shape "
                         f"(num_components, columns of data) = {(M, m)}, finite and >= 0; got "
                         f"{type(fold_into).__name__} with H of shape {np.shape(H)}.")
    return np.array(H, dtype=np.float64)


def _check_options(num_components, n_iter, l2, eps, tol, verbose) -> tuple:  # Type/ValueError
    for name, v, kind, rule, low in [
            ("num_components", num_components, numbers.Integral, "an integer >= 1", 1),
            ("n_iter", n_iter, numbers.Integral, "an integer >= 0", 0),
            ("l2", l2, numbers.Real, "a finite number >= 0", 0),
            ("eps", eps, numbers.Real, "a finite number > 0", np.finfo(float).smallest_subnormal),
            ("tol", 0 if tol is None else tol, numbers.Real, "a finite number >= 0 or None", 0),
            ("verbose", verbose, (bool, np.bool_), "True or False", 0)]:
        if not isinstance(v, kind) or isinstance(v, (bool, np.bool_)) != (name == "verbose"):
            raise TypeError(f"{name} must be {rule}; got {v!r} of type {type(v).__name__}.")
        if not low <= v < np.inf:
            raise ValueError(f"{name} must be {rule}; got {v!r}.")
    return int(num_components), int(n_iter), float(l2), float(eps), -np.inf if tol is None \
        else float(tol)                                          # tol None: never stop early


def _check_data(data, mask) -> tuple:
    """``(X, masked)``: X float64, dense or CSR; with a mask, CSR of exactly the observed cells."""
    if hasattr(data, "columns") and hasattr(data, "dtypes"):          # a DataFrame
        bad = [c for c, d in zip(data.columns, data.dtypes) if getattr(d, "kind", "") not in "biuf"]
        if bad:
            raise TypeError(f"data has non-numeric columns {bad!r}; drop or convert them first.")
        data = data.to_numpy(np.float64, na_value=np.nan)
    X = sp.csr_array(data, copy=True) if sp.issparse(data) else np.asarray(data)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"data must be numeric; got dtype {X.dtype} (real numbers only).")
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"data must be 2-D of shape (n, m); got shape {X.shape}." if X.ndim != 2
                         else f"data is empty: shape {X.shape}; it needs a row and a column.")
    X = X.astype(np.float64)
    if mask is None:           # every cell observed; mostly zeros: CSR products are cheaper
        if sp.issparse(X) or np.count_nonzero(X) < SPARSE_BELOW * X.size:
            X = sp.csr_array(X)
            X.sum_duplicates()
    else:                      # CSR of exactly the observed cells (observed zeros stored)
        rows, cols = sp.csr_array(_mask(X, mask)).tocoo().coords
        values = np.asarray(X[rows, cols], dtype=np.float64).ravel()
        known = ~np.isnan(values) if isinstance(mask, str) else slice(None)  # NaN: not observed
        if values[known].size == 0:
            raise ValueError("data has no observed cell: the mask selects none; mark one at least.")
        X = sp.csr_array((values[known], (rows[known], cols[known])), shape=X.shape)
    _check_values(X, mask is not None)
    return X, mask is not None


def _mask(X, mask):
    """The observed cells as a bool array or a sparse matrix (stored entries = observed)."""
    if isinstance(mask, str) and mask != "observed":
        raise ValueError("mask must be None, 'observed', a boolean (or 0/1) array or a sparse "
                         f"matrix; got the string {mask!r}.")
    if isinstance(mask, str):         # the non-NaN cells, or the stored entries of sparse data
        return X if sp.issparse(X) else ~np.isnan(X)
    if np.shape(mask) != X.shape:
        raise ValueError(f"mask must have the shape of data {X.shape}; got shape {np.shape(mask)}.")
    if sp.issparse(mask):             # its stored entries, whatever their value
        return sp.csr_array((np.ones(mask.nnz), mask.tocoo().coords), shape=X.shape)
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
        raise ValueError(f"mask must be boolean (True = observed) or 0/1; got dtype "
                         f"{mask.dtype} with values {np.unique(mask)[:4].tolist()}.")
    return mask.astype(bool)


def _check_values(X, masked: bool) -> None:
    """Refuse NaN, infinite or negative values, and sizes float64 cannot square or cube."""
    x = X.data if sp.issparse(X) else X.ravel()
    for bad, what, hint in [
            (~np.isfinite(x), "NaN or infinite entries" + " in observed cells" * masked,
             "mark them as unobserved in `mask`, or fill them (DataFrame.fillna)" if masked else
             'pass mask="observed" to treat NaN as missing, or fill them (DataFrame.fillna)'),
            (x < 0, "negative entries", "NMF needs data >= 0: shift or clip the data first")]:
        if bad.any():
            k = int(np.argmax(bad))
            i, j = ((np.searchsorted(X.indptr, k, "right") - 1, X.indices[k]) if sp.issparse(X)
                    else divmod(k, X.shape[1]))
            raise ValueError(f"data has {bad.sum()} {what} (first at row {i}, column {j}: "
                             f"{x[k]}); {hint}.")
    top, limits = x.max(initial=0.0), np.finfo(np.float64)      # x^2 summed must not overflow,
    if top > np.sqrt(limits.max / max(x.size, 1)) or 0 < top < np.cbrt(limits.tiny):  # x^3 not
        raise ValueError(f"data is too {'large' if top > 1 else 'small'} for float64 arithmetic "
                         f"(largest entry {top:.3g}); divide or multiply it by a constant first.")
