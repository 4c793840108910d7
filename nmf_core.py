"""Non-negative matrix factorization by clipped multiplicative updates.

The exercise's algorithm, made exact, fast and checkable: a non-negative
data matrix ``X`` of shape (n, m) is approximated by ``Z @ H`` with ``Z`` of
shape (n, M) and ``H`` of shape (M, m), both non-negative, by alternating the
multiplicative updates of Lee & Seung (2001)::

    H <- H * (Z.T @ X) / clip(Z.T @ Z @ H, eps)          (1)
    Z <- Z * (X @ H.T) / clip(Z @ H @ H.T, eps)          (2)  (with the new H)

The public entry point is :func:`non_negative`.  It validates its input once
(:func:`_validate`, reusable by other models) and hands plain float64 arrays or
CSR matrices to small private kernels:

* ``_mu_full`` - every cell observed; ``X`` dense or CSR (chosen by density,
  see ``_SPARSE_DENSITY``), cost per iteration O(nnz(X) M + (n + m) M^2) on the
  CSR path;
* ``_mu_masked`` - only the observed cells count (seed 004's weighted rules
  with a count-scaled L2 penalty); ``(Z H)`` is evaluated at the observed
  cells only, so the n x m product is never formed and an iteration costs
  O(nnz M + (n + m) M^2).

Plain NumPy/SciPy; pandas DataFrames are accepted by duck typing.

References
----------
D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix factorization",
Advances in Neural Information Processing Systems 13 (2001), 556-562.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

__all__ = ["NMFResult", "non_negative", "match_components", "EPS"]

#: Default lower bound for every denominator: the float64 machine epsilon
#: (about 2.2e-16).  It only matters where a denominator is (numerically) zero,
#: e.g. a pixel that is 0 in every image; for data whose entries are themselves
#: of order 1e-8 or smaller, rescale the data or pass a smaller ``eps``.
EPS = float(np.finfo(np.float64).eps)

#: A dense input whose fraction of non-zero cells is below this threshold is
#: converted to CSR, and a sparse input at or above it to a dense array, so the
#: kernel depends on the data and not on its container.  Measured on this
#: machine (one BLAS thread): for the 943 x 1682 MovieLens matrix with M = 20
#: at 6 % density the two CSR products of an iteration take ~1 ms each against
#: ~3-4.5 ms for the dense BLAS products; the break-even lies near 20 %.
_SPARSE_DENSITY = 0.2

#: Number of observed cells whose (Z H) values are computed at once on the
#: masked path; memory stays O(_CHUNK * M).
_CHUNK = 8192

_MASK_OBSERVED = "observed"


class NMFResult(NamedTuple):
    """Result of :func:`non_negative`.

    Attributes
    ----------
    Z : ndarray of shape (n, M)
        Non-negative weights, one row per row of the data.
    H : ndarray of shape (M, m)
        Non-negative basis vectors (components), one row each.
    losses : ndarray of shape (iterations done + 1,)
        ``losses[t]`` is the objective at ``(Z_t, H_t)``; ``losses[0]`` belongs
        to the random start and ``losses[-1]`` to the returned factors.
    """

    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray


# --------------------------------------------------------------------------
# Input validation (shared with the alternative models at the end of the file)
# --------------------------------------------------------------------------

class _Checked(NamedTuple):
    """Validated data, as returned by :func:`_validate`.

    X : ndarray of shape (n, m) or csr_array
        float64.  Unmasked: the whole matrix, dense if the input was dense and
        CSR (canonical: sorted indices, no duplicates) if it was sparse.
        Masked: a CSR matrix holding exactly the observed cells as its stored
        entries (an observed 0 is stored explicitly), with their values.
    masked : bool
        Whether only the stored cells of ``X`` are observed.
    """

    X: np.ndarray | sp.csr_array
    masked: bool


def _locate(flat_index: int, n_cols: int, labels) -> str:
    """Describe cell ``flat_index`` of a row-major (., n_cols) matrix."""
    row, col = divmod(int(flat_index), n_cols)
    where = f"row {row}, column {col}"
    if labels is not None:
        where += f" (index {labels[0][row]!r}, column {labels[1][col]!r})"
    return where


def _to_float_array(data, name: str):
    """Return ``(array, labels)``: float64 ndarray of ``data`` and DataFrame labels."""
    labels = None
    if hasattr(data, "dtypes") and hasattr(data, "columns") and hasattr(data, "index"):
        bad = [col for col, dtype in zip(data.columns, data.dtypes)
               if getattr(dtype, "kind", "O") not in "biuf"]
        if bad:
            raise TypeError(
                f"{name} has non-numeric columns {bad!r} "
                f"(dtypes {[str(data[c].dtype) for c in bad]}); "
                "drop them or convert them to numbers first.")
        labels = (list(data.index), list(data.columns))
        array = data.to_numpy(dtype=np.float64, na_value=np.nan)
        return array, labels
    try:
        array = np.asarray(data)
    except ValueError as error:  # e.g. ragged nested lists
        raise ValueError(f"{name} must be a 2-D array of numbers; got {type(data).__name__} "
                         f"that NumPy cannot read as one ({error}).") from None
    if array.dtype.kind not in "biuf":
        if array.dtype.kind == "c":
            raise TypeError(f"{name} must be real; got complex dtype {array.dtype}.")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} must be numeric; got dtype {array.dtype} ({error})."
            ) from None
    return np.asarray(array, dtype=np.float64), labels


def _check_shape(shape: tuple, name: str) -> None:
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D of shape (n, m); got shape {shape}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {shape}; it needs at least one row and one column.")


def _check_values(values: np.ndarray, flat_positions, n_cols: int, labels, name: str,
                  masked: bool) -> None:
    """Raise on NaN/inf or negative ``values`` (observed cells, row-major order)."""
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        first = bad[0]
        where = _locate(flat_positions(first), n_cols, labels)
        hint = ("mark them as unobserved in `mask`, or fill them (e.g. DataFrame.fillna(0))"
                if masked else
                "pass mask=\"observed\" to treat NaN as missing ratings, "
                "or fill them first (e.g. DataFrame.fillna(0))")
        cells = " in observed cells" if masked else ""
        raise ValueError(
            f"{name} has {bad.size} NaN or infinite entries{cells} "
            f"(first at {where}: {values[first]}); {hint}.")
    negative = values < 0
    if negative.any():
        bad = np.flatnonzero(negative)
        first = bad[0]
        where = _locate(flat_positions(first), n_cols, labels)
        raise ValueError(
            f"{name} has {bad.size} negative entries (first at {where}: {values[first]}); "
            "non-negative matrix factorization needs data >= 0 - shift or clip the data first.")


def _dense_mask(mask, shape: tuple) -> np.ndarray:
    """Boolean array of ``mask`` (array-like of bool or 0/1) with shape ``shape``."""
    array = np.asarray(mask)
    if array.shape != shape:
        raise ValueError(f"mask must have the shape of data {shape}; got shape {array.shape}.")
    if array.dtype == bool:
        return array
    if array.dtype.kind in "iuf" and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise ValueError(
        f"mask must be boolean (True = observed) or 0/1; got dtype {array.dtype} "
        "with other values.")


def _csr_from_cells(rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                    shape: tuple) -> sp.csr_array:
    """CSR matrix from cells listed in row-major order; zeros stay stored."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_array((np.asarray(values, dtype=np.float64),
                           cols.astype(np.int64), indptr), shape=shape)
    matrix.has_canonical_format = True
    return matrix


def _validate(data, mask=None, *, name: str = "data") -> _Checked:
    """Check data (and mask) once; return float64 data for the kernels.

    Parameters
    ----------
    data : array-like, DataFrame or scipy sparse matrix of shape (n, m)
        Non-negative and finite in every observed cell.
    mask : None, "observed", array-like of bool of shape (n, m), or sparse
        ``None``: every cell is observed.  ``"observed"``: the non-NaN cells of
        a dense input, the stored non-NaN entries of a sparse one.  A boolean
        (or 0/1) array: True marks an observed cell.  A sparse matrix: its
        stored entries mark the observed cells, whatever their value.
        Unobserved cells may hold anything, NaN included.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    _Checked
        ``(X, masked)``; see :class:`_Checked`.

    Raises
    ------
    TypeError
        Non-numeric data (DataFrame columns are named).
    ValueError
        Not 2-D, empty, negative or non-finite observed entries, or a mask of
        the wrong shape or kind.
    """
    if sp.issparse(data):
        matrix = sp.csr_array(data, dtype=np.float64, copy=True)
        _check_shape(matrix.shape, name)
        matrix.sum_duplicates()
        labels = None
    else:
        array, labels = _to_float_array(data, name)
        _check_shape(array.shape, name)
        matrix = None
    shape = (matrix if matrix is not None else array).shape
    n_cols = shape[1]

    if mask is None:
        if matrix is not None:
            rows = np.repeat(np.arange(shape[0]), np.diff(matrix.indptr))
            _check_values(matrix.data, lambda k: rows[k] * n_cols + matrix.indices[k],
                          n_cols, None, name, masked=False)
            matrix.eliminate_zeros()
            return _Checked(matrix, False)
        flat = array.ravel()
        _check_values(flat, lambda k: k, n_cols, labels, name, masked=False)
        return _Checked(array, False)

    # Masked: find the observed cells (row-major order) and their values.
    if isinstance(mask, str):
        if mask != _MASK_OBSERVED:
            raise ValueError(
                f"mask must be None, {_MASK_OBSERVED!r}, a boolean array or a sparse matrix; "
                f"got the string {mask!r}.")
        if matrix is not None:
            rows = np.repeat(np.arange(shape[0]), np.diff(matrix.indptr))
            keep = ~np.isnan(matrix.data)
            rows, cols, values = rows[keep], matrix.indices[keep], matrix.data[keep]
        else:
            rows, cols = np.nonzero(~np.isnan(array))
            values = array[rows, cols]
    else:
        if sp.issparse(mask):
            if mask.shape != shape:
                raise ValueError(
                    f"mask must have the shape of data {shape}; got shape {mask.shape}.")
            pattern = sp.csr_array(mask, copy=True)
            pattern.sum_duplicates()
            rows = np.repeat(np.arange(shape[0]), np.diff(pattern.indptr))
            cols = pattern.indices
        else:
            rows, cols = np.nonzero(_dense_mask(mask, shape))
        if matrix is not None:
            values = np.asarray(matrix[rows, cols], dtype=np.float64).ravel() \
                if rows.size else np.zeros(0)
        else:
            values = array[rows, cols]
    _check_values(values, lambda k: rows[k] * n_cols + cols[k], n_cols, labels, name,
                  masked=True)
    return _Checked(_csr_from_cells(rows, cols, values, shape), True)


def _check_components(num_components) -> int:
    if (isinstance(num_components, (bool, np.bool_))
            or not isinstance(num_components, numbers.Integral) or num_components < 1):
        raise ValueError(
            f"num_components must be a positive integer; got {num_components!r} "
            f"({type(num_components).__name__}).")
    return int(num_components)


def _check_number(value, name: str, *, positive: bool = False, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value < 0 or (positive and value == 0):
        need = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name} must be {need} finite number; got {value!r}.")
    return float(value)


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------

def _initialize(n: int, m: int, M: int, mean: float, random_state):
    """Random positive start ``(Z0, H0)``.

    ``Z0 = |N(0, 1)| * s`` of shape (n, M) is drawn first, then ``H0`` of shape
    (M, m) from the same generator, with ``s = sqrt(mean / M)`` (the
    scikit-learn scale): the entries of ``Z0 @ H0`` then average
    ``(2 / pi) * mean``, the data's magnitude.  ``mean`` is the mean of the
    observed entries; if it is 0 the factors start (and stay) at zero.
    """
    rng = np.random.default_rng(random_state)
    scale = np.sqrt(mean / M)
    Z = np.abs(rng.standard_normal((n, M))) * scale
    H = np.abs(rng.standard_normal((M, m))) * scale
    return Z, H


def _should_stop(losses: np.ndarray, t: int, tol) -> bool:
    """Relative decrease over the last 10 iterations below ``tol``."""
    if tol is None or t < 10:
        return False
    before = losses[t - 10]
    return before == 0.0 or (before - losses[t]) < tol * before


def _finished(losses: np.ndarray, t: int, n_iter: int, tol, verbose: bool) -> bool:
    """Print progress every 100 iterations and at the end; say whether to stop."""
    done = t == n_iter or _should_stop(losses, t, tol)
    if verbose and (t % 100 == 0 or done):
        print(f"non_negative: iteration {t:6d}  loss {losses[t]:.6e}")
    return done


def _mu_full(X, Z, H, *, n_iter: int, l2: float, eps: float, tol, verbose: bool):
    """Multiplicative updates when every cell is observed.

    ``X`` is a float64 ndarray or a CSR matrix of shape (n, m).  The loss of
    ``(Z_t, H_t)`` uses the identity

        ||X - Z H||^2 = ||X||^2 - 2 <Z^T X, H> + <Z^T Z, H H^T>

    whose two products ``Z^T X`` and ``Z^T Z`` are exactly the ones the
    H-update needs, and ``H H^T`` the one the previous Z-update needed: the
    loss costs O(m M) extra.  Its rounding error is about eps * ||X||^2, so an
    almost exact fit can come out a few ulps below zero; that is clamped at 0
    (a squared norm is never negative).  With ``l2 > 0`` the objective adds
    ``l2 * (m ||Z||^2 + n ||H||^2)`` (seed 004's count-scaled penalty with all
    cells observed).
    """
    n, m = X.shape
    sparse = sp.issparse(X)
    if sparse:
        XT = X.T.tocsr()
        norm_x = float(X.data @ X.data)
    else:
        norm_x = float(np.vdot(X, X))
    losses = np.empty(n_iter + 1)
    K = H @ H.T                                          # H_t H_t^T
    for t in range(n_iter + 1):
        A = (XT @ Z).T if sparse else Z.T @ X            # Z_t^T X, (M, m)
        G = Z.T @ Z                                      # Z_t^T Z_t, (M, M)
        loss = norm_x - 2.0 * np.vdot(A, H) + np.vdot(G, K)
        if l2:
            loss += l2 * (m * np.trace(G) + n * np.trace(K))
        losses[t] = max(loss, 0.0)
        if _finished(losses, t, n_iter, tol, verbose):
            return Z, H, losses[: t + 1]
        # H <- H * A / clip(G H, eps), in place in the fresh denominator array
        step = G @ H
        if l2:
            step += (l2 * n) * H
        np.maximum(step, eps, out=step)
        np.divide(A, step, out=step)
        step *= H
        H = step
        B = X @ H.T                                      # X H_{t+1}^T, (n, M)
        K = H @ H.T
        # Z <- Z * B / clip(Z K, eps)
        step = Z @ K
        if l2:
            step += (l2 * m) * Z
        np.maximum(step, eps, out=step)
        np.divide(B, step, out=step)
        step *= Z
        Z = step
    raise AssertionError("unreachable")  # pragma: no cover


def _observed_product(Z: np.ndarray, HT: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                      out: np.ndarray, buffers: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``(Z @ HT.T)[rows, cols]`` into ``out`` without forming the full product.

    Works ``_CHUNK`` cells at a time through two preallocated (_CHUNK, M)
    buffers: memory O(_CHUNK * M), and no fresh allocation per call (large
    fresh allocations cost page faults that dominated the run time).
    """
    z_rows, h_cols = buffers
    for start in range(0, rows.size, _CHUNK):
        stop = min(start + _CHUNK, rows.size)
        size = stop - start
        # mode="clip" skips the per-index bounds check (indices are valid by
        # construction) and halves the cost of the gathers
        np.take(Z, rows[start:stop], axis=0, out=z_rows[:size], mode="clip")
        np.take(HT, cols[start:stop], axis=0, out=h_cols[:size], mode="clip")
        np.einsum("ij,ij->i", z_rows[:size], h_cols[:size], out=out[start:stop])
    return out


def _mu_masked(Xo: sp.csr_array, Z, H, *, n_iter: int, l2: float, eps: float, tol,
               verbose: bool):
    """Weighted multiplicative updates over the observed cells (seed 004).

    ``Xo`` is a CSR matrix of shape (n, m) whose stored entries are exactly
    the observed cells.  Objective, with ``P = (Z H)`` at the observed cells,
    ``n_i`` / ``m_j`` the observed counts of row i / column j::

        sum_obs (x_ij - p_ij)^2 + l2 * (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)

    Updates (the quadratic's auxiliary-function minimizers)::

        H <- H * (Z^T Xo) / clip(Z^T P + l2 * m_j * H, eps)
        Z <- Z * (Xo H^T) / clip(P' H^T + l2 * n_i * Z, eps)   (P' with the new H)

    Each sparse pair (numerator, denominator) shares one CSR structure stacked
    twice, so one sparse product serves both.
    """
    n, m = Xo.shape
    row_counts = np.diff(Xo.indptr)
    rows = np.repeat(np.arange(n), row_counts)
    cols = Xo.indices
    x = Xo.data
    nnz = x.size
    order = np.argsort(cols, kind="stable")              # row-major -> column-major
    col_counts = np.bincount(cols, minlength=m)
    indptr_t = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(col_counts, out=indptr_t[1:])
    # Stacked [X_o; P] (2n x m) and [X_o^T; P^T] (2m x n); only the P halves change.
    stacked = sp.csr_array(
        (np.concatenate([x, x]), np.concatenate([cols, cols]),
         np.concatenate([Xo.indptr, Xo.indptr[1:] + nnz])), shape=(2 * n, m))
    rows_t = rows[order]
    stacked_t = sp.csr_array(
        (np.concatenate([x[order], x[order]]), np.concatenate([rows_t, rows_t]),
         np.concatenate([indptr_t, indptr_t[1:] + nnz])), shape=(2 * m, n))
    pred = np.empty(nnz)
    buffers = (np.empty((min(nnz, _CHUNK), Z.shape[1])), np.empty((min(nnz, _CHUNK), Z.shape[1])))
    losses = np.empty(n_iter + 1)
    for t in range(n_iter + 1):
        HT = np.ascontiguousarray(H.T)
        _observed_product(Z, HT, rows, cols, pred, buffers)       # (Z_t H_t) at observed cells
        residual = x - pred
        loss = float(residual @ residual)
        if l2:
            loss += l2 * (row_counts @ np.einsum("ik,ik->i", Z, Z)
                          + col_counts @ np.einsum("kj,kj->j", H, H))
        losses[t] = loss
        if _finished(losses, t, n_iter, tol, verbose):
            return Z, H, losses[: t + 1]
        np.take(pred, order, out=stacked_t.data[nnz:], mode="clip")
        both = stacked_t @ Z                             # (2m, M): [Xo^T Z; P^T Z]
        denominator = both[m:].T
        if l2:
            denominator = denominator + l2 * col_counts * H
        H = H * (both[:m].T / np.maximum(denominator, eps))
        HT = np.ascontiguousarray(H.T)
        _observed_product(Z, HT, rows, cols, pred, buffers)       # (Z_t H_{t+1}) at observed cells
        stacked.data[nnz:] = pred
        both = stacked @ HT                              # (2n, M): [Xo H^T; P H^T]
        denominator = both[n:]
        if l2:
            denominator = denominator + l2 * row_counts[:, None] * Z
        Z = Z * (both[:n] / np.maximum(denominator, eps))
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def non_negative(data, num_components, *, n_iter=1000, random_state=0, mask=None, l2=0.0,
                 eps=EPS, tol=None, verbose=False) -> NMFResult:
    """Non-negative matrix factorization ``X ~ Z @ H`` by multiplicative updates.

    Alternates the exercise's updates, H first, then Z with the new H::

        H <- H * (Z^T X) / clip(Z^T Z H, eps)
        Z <- Z * (X H^T) / clip(Z H H^T, eps)

    (products as matrix products, ``*`` and ``/`` element-wise, every
    denominator clipped below at ``eps``).  ``Z^T Z H`` is evaluated as
    ``(Z^T Z) H`` and ``Z H H^T`` as ``Z (H H^T)``: the same numbers up to
    rounding, at O((n + m) M^2) instead of O(n m M).

    Parameters
    ----------
    data : array-like, pandas DataFrame or scipy sparse matrix of shape (n, m)
        Non-negative, finite in every observed cell.  Without a mask, a dense
        input whose fraction of non-zero cells is below ``_SPARSE_DENSITY``
        (0.2) is handled as CSR internally, and a sparse input above it as
        dense, so the container never changes the result.
    num_components : int
        Number of components M >= 1.  ``M > min(n, m)`` is allowed (it is a
        legal, if redundant, factorization).
    n_iter : int, default 1000
        Maximum number of iterations (each one updates H, then Z).
    random_state : int, numpy Generator or None, default 0
        Seed for ``np.random.default_rng``.  ``Z0`` is drawn first, then
        ``H0``: absolute values of standard normal draws times
        ``sqrt(mean / M)``, ``mean`` being the mean of the (observed) data, so
        ``Z0 @ H0`` has the data's magnitude (as in scikit-learn).
    mask : None, "observed", bool array of shape (n, m), or sparse matrix
        Which cells are observed (default: all).  ``"observed"`` means the
        non-NaN cells (for sparse data: its stored non-NaN entries); a boolean
        array marks observed cells with True; a sparse matrix marks them by
        its stored entries (their values are ignored).  Unobserved cells may
        hold anything, NaN included.
    l2 : float, default 0.0
        Count-scaled L2 penalty ``l2 * (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``
        with ``n_i``, ``m_j`` the numbers of observed cells in row i and
        column j (seed 004).  Without a mask, ``n_i = m`` and ``m_j = n``.
    eps : float, default ``EPS`` (float64 machine epsilon, ~2.2e-16)
        Lower bound for every denominator, so that a zero denominator
        (e.g. an all-zero column) cannot divide by zero.
    tol : float or None, default None
        Stop early once ``(loss[t-10] - loss[t]) / loss[t-10] < tol``.
        ``None`` runs all ``n_iter`` iterations.
    verbose : bool, default False
        Print the loss every 100 iterations.

    Returns
    -------
    NMFResult
        ``(Z, H, losses)``: ``Z`` of shape (n, M), ``H`` of shape (M, m),
        ``losses`` of shape (iterations done + 1,).  ``losses[t]`` is the
        objective at ``(Z_t, H_t)``: ``||X - Z_t H_t||_F^2`` without a mask,
        the sum over observed cells otherwise, plus the ``l2`` penalty.  It is
        computed without forming the n x m product.

    Raises
    ------
    TypeError
        Non-numeric data.
    ValueError
        Empty data, negative or non-finite observed entries, a mask of the
        wrong shape, ``num_components`` not a positive integer, or a bad
        ``n_iter``, ``l2``, ``eps`` or ``tol``.

    Notes
    -----
    Without clipping, Lee & Seung's auxiliary-function argument shows that
    neither update can increase the objective (also with the mask and the
    penalty).  An all-zero matrix gives all-zero factors and losses.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((20, 8))
    >>> Z, H, losses = non_negative(X, 3, n_iter=200)
    >>> Z.shape, H.shape, losses.shape
    ((20, 3), (3, 8), (201,))
    >>> bool(np.all(np.diff(losses) <= 1e-12 * losses[0]))
    True
    """
    checked = _validate(data, mask, name="data")
    M = _check_components(num_components)
    if isinstance(n_iter, (bool, np.bool_)) or not isinstance(n_iter, numbers.Integral) \
            or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative integer; got {n_iter!r}.")
    l2 = _check_number(l2, "l2")
    eps = _check_number(eps, "eps", positive=True)
    tol = _check_number(tol, "tol", allow_none=True)

    X = checked.X
    n, m = X.shape
    if checked.masked:
        mean = float(X.data.mean()) if X.nnz else 0.0
    else:
        total = X.data.sum() if sp.issparse(X) else X.sum()
        mean = float(total) / (n * m)
    Z, H = _initialize(n, m, M, mean, random_state)

    options = dict(n_iter=int(n_iter), l2=l2, eps=eps, tol=tol, verbose=bool(verbose))
    if checked.masked:
        Z, H, losses = _mu_masked(X, Z, H, **options)
    else:
        Z, H, losses = _mu_full(_kernel_matrix(X), Z, H, **options)
    return NMFResult(Z, H, losses)


def _kernel_matrix(X):
    """Dense or CSR by density (``_SPARSE_DENSITY``), whatever the container."""
    n, m = X.shape
    if sp.issparse(X):
        return X if X.nnz < _SPARSE_DENSITY * n * m else X.toarray()
    nnz = np.count_nonzero(X)
    return sp.csr_array(X) if nnz < _SPARSE_DENSITY * n * m else X


def match_components(A, B):
    """Pair the rows of ``B`` with the rows of ``A`` by cosine similarity.

    Solves the assignment problem (``scipy.optimize.linear_sum_assignment``)
    that maximizes the summed cosine similarity, so that ``B[order]`` lists,
    row by row, the partner of each row of ``A``.

    Parameters
    ----------
    A : array-like of shape (k, d)
    B : array-like of shape (l, d), with l >= k

    Returns
    -------
    order : ndarray of int, shape (k,)
        ``B[order[i]]`` is matched with ``A[i]``; no row of B is used twice.
    similarity : ndarray of shape (k,)
        Cosine similarity of each pair (0 where a row is all zero).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1] or A.shape[0] > B.shape[0]:
        raise ValueError(
            "A and B must be 2-D with the same number of columns and B at least as many "
            f"rows as A; got shapes {A.shape} and {B.shape}.")

    def unit(rows):
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)

    cosine = unit(A) @ unit(B).T
    row_index, order = linear_sum_assignment(cosine, maximize=True)
    return order[np.argsort(row_index)], cosine[row_index, order][np.argsort(row_index)]


# --- Alternative models ---
