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

EPS = float(np.finfo(np.float64).eps)  #: the clip floor is EPS s^1.5, s the mean observed value
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
    random_state : int >= 0, numpy Generator or RandomState, or None: seeds the start, ``Z0``
        then ``H0``, each ``|N(0, 1)| sqrt(s / M)``, ``s`` the mean observed value
    mask : None (every cell), "observed" (non-NaN cells, or stored entries), or a bool (0/1) array
        or sparse matrix (True cells or stored entries): the only cells the loss and updates see;
        ``Z H`` is then formed at those cells alone (``P`` below)
    l2 : float >= 0, default 0: adds ``l2 (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``,
        ``n_i``, ``m_j`` the observed cells of row i, column j (Zhou et al. 2008)
    eps : float > 0, default ``EPS``: denominators are clipped below at ``eps * s**1.5``
    tol : float >= 0 or None (default): stop after a step that lowers the loss by at most
        tol times itself; None runs all n_iter steps
    verbose : bool: print the loss at the start, each tenth of n_iter and the end
    fold_into : NMFResult, optional: a fit of other rows with the same columns; its H is
        kept and only Z is fitted, by (2): new users are scored without refitting the others

    Returns NMFResult: ``Z`` (n, M), ``H`` (M, m) and ``losses[t]``, ``||X - Z_t H_t||^2`` over
    the observed cells + the penalty, for t = 0 (the start) .. the last step; no step raises it
    unless a denominator is clipped.
    """
    X, masked = _check_data(data, mask)        # float64 ndarray, or CSR (masked: observed cells)
    M, n_iter, l2, eps, tol = _check_options(num_components, n_iter, l2, eps, tol, verbose)
    n, m = X.shape
    s = float(X.sum()) / (X.nnz if masked else n * m)           # the mean observed value
    floor = eps * s ** 1.5 if s > 0 else eps
    Z, H = _start(n, m, M, s, random_state)
    if fold_into is not None:                 # H of the earlier fit stays; (1) is skipped
        H = _fixed_H(fold_into, M, m)
    n_i, m_j = ((np.diff(X.indptr)[:, None], np.diff(X.tocsc().indptr)) if masked
                else (m, n))                                  # observed cells per row, column
    rows = np.repeat(np.arange(n), n_i.ravel()) if masked else None      # row of each cell
    XX = float(X.multiply(X).sum() if sp.issparse(X) else np.vdot(X, X))     # ||X||^2
    XHt, HHt, losses = X @ H.T, H @ H.T, []
    for t in range(n_iter + 1):
        ZtZ, P = Z.T @ Z, _at_cells(X, rows, Z, H) if masked else None   # P: Z H at the cells
        # ||X - Z H||^2: over the cells with a mask; else expanded, never forming the n x m Z H
        error = (float(np.sum((X.data - P.data) ** 2)) if masked
                 else max(XX - 2 * float(np.vdot(XHt, Z)) + float(np.vdot(ZtZ, HHt)), 0.0))
        losses.append(error + (l2 * float(np.sum(n_i * Z**2) + np.sum(m_j * H**2)) if l2 else 0))
        done = t == n_iter or (t > 0 and losses[-2] - losses[-1] <= tol * losses[-2])
        if verbose and (done or t % max(1, n_iter // 10) == 0):
            print(f"non_negative: iteration {t:>5d} of {n_iter}, objective {losses[t]:.6e}")
        if done:
            break
        if fold_into is None:
            ZtZH = Z.T @ P if masked else ZtZ @ H                             # Z^T Z H
            if l2:
                ZtZH += l2 * m_j * H                                  # the penalty's term
            H = H * (Z.T @ X) / np.clip(ZtZH, floor, None)                            # (1)
            XHt, HHt = X @ H.T, H @ H.T
            P = _at_cells(X, rows, Z, H) if masked else None                 # with the new H
        ZHHt = P @ H.T if masked else Z @ HHt                                # Z H H^T
        if l2:
            ZHHt += l2 * n_i * Z                                      # the penalty's term
        Z = Z * XHt / np.clip(ZHHt, floor, None)                                      # (2)
    return NMFResult(Z, H, np.array(losses))


def _at_cells(X, rows, Z, H) -> sp.csr_array:
    """``Z @ H`` at the stored cells of CSR ``X`` only (cell k in row ``rows[k]``), as CSR."""
    values = np.einsum("ik,ik->i", Z[rows], np.ascontiguousarray(H.T)[X.indices])
    return sp.csr_array((values, X.indices, X.indptr), shape=X.shape)


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


def _check_options(num_components, n_iter, l2, eps, tol, verbose) -> tuple:  # Type/ValueError
    for name, v, kind, rule, low in [
            ("num_components", num_components, numbers.Integral, "an integer >= 1", 1),
            ("n_iter", n_iter, numbers.Integral, "an integer >= 0", 0),
            ("l2", l2, numbers.Real, "a finite number >= 0", 0),
            ("eps", eps, numbers.Real, "a finite number > 0", np.finfo(float).smallest_subnormal),
            ("tol", 0 if tol is None else tol, numbers.Real, "a finite number >= 0 or None", 0)]:
        if not isinstance(v, kind) or isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be {rule}; got {v!r} of type {type(v).__name__}.")
        if not low <= v < np.inf:
            raise ValueError(f"{name} must be {rule}; got {v!r}.")
    return int(num_components), int(n_iter), float(l2), float(eps), -np.inf if tol is None \
        else float(tol)                                          # tol None: never stop early


def _check_data(data, mask) -> tuple:
    """``(X, masked)``: X float64, dense or CSR; with a mask, CSR of exactly the observed cells.
    TypeError for non-numbers; ValueError for a bad shape or mask, NaN, inf or negatives."""
    X = sp.coo_array(data).tocsr() if sp.issparse(data) else np.asarray(data)  # a copy, summed
    if X.dtype.kind not in "biuf":
        columns = [c for c, d in getattr(data, "dtypes", {}).items() if d.kind not in "biuf"]
        raise TypeError(f"data must be numeric; got dtype {X.dtype}" + (
            f": its non-numeric columns are {columns!r}" if columns else "") + ".")
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"data must be 2-D of shape (n, m); got shape {X.shape}." if X.ndim != 2
                         else f"data is empty: shape {X.shape}; it needs a row and a column.")
    X, masked = X.astype(np.float64), mask is not None
    if isinstance(mask, str) and mask == "observed":   # the non-NaN cells, or stored entries
        mask = X if sp.issparse(X) else ~np.isnan(X)
    elif isinstance(mask, str) or masked and np.shape(mask) != X.shape:
        got = f"the string {mask!r}" if isinstance(mask, str) else f"shape {np.shape(mask)}"
        raise ValueError("mask must be None, 'observed', a boolean (or 0/1) array or a sparse "
                         f"matrix of the shape of data {X.shape}; got {got}.")
    elif masked and not sp.issparse(mask) and not (np.asarray(mask).dtype.kind in "biuf"
                                                   and np.isin(mask, (0, 1)).all()):
        raise ValueError(f"mask must be boolean (True = observed) or 0/1; got dtype "
                         f"{np.asarray(mask).dtype} with values {np.unique(mask)[:4].tolist()}.")
    if not masked:              # every cell observed; mostly zeros: CSR products are cheaper
        X = sp.csr_array(X) if sp.issparse(X) or np.count_nonzero(X) < SPARSE_BELOW * X.size else X
    else:                       # CSR of the observed cells (of a sparse mask: stored entries)
        rows, cols = sp.coo_array(mask).coords if sp.issparse(mask) else np.nonzero(mask)
        values = np.asarray(X[rows, cols], dtype=np.float64).ravel()
        known = ~np.isnan(values) if isinstance(mask, str) or mask is X else slice(None)
        if values[known].size == 0:
            raise ValueError("data has no observed cell: the mask selects none; "
                             "mark one at least.")
        X = sp.csr_array((values[known], (rows[known], cols[known])), shape=X.shape)
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
    top, (tiny, huge) = x.max(initial=0.0), (np.finfo(float).tiny, np.finfo(float).max)
    if top > np.sqrt(huge / max(x.size, 1)) or 0 < top < np.cbrt(tiny):  # x^2 summed, x^3 fit
        raise ValueError(f"data is too {'large' if top > 1 else 'small'} for float64 arithmetic "
                         f"(largest entry {top:.3g}); divide or multiply it by a constant first.")
    return X, masked
