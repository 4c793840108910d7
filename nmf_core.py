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
  O(nnz M).

NumPy/SciPy throughout, with one exception: the masked update is one fused
pass over the observed cells (``_half_step_loops``), compiled by numba when
it is installed (it is pinned in requirements.txt).  Without numba the same
update runs as NumPy/SciPy array code (``_half_step_numpy``), about three
times slower on MovieLens; the tests check that both give the same factors up
to rounding (1e-13 per step).  ``NUMBA_DISABLE_JIT=1`` also selects the NumPy
form (the loops run uncompiled would be hundreds of times slower).
pandas DataFrames are accepted by duck typing.

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
from scipy.optimize import linear_sum_assignment, nnls
from scipy.sparse.linalg import svds

try:  # optional: compiles the masked kernel (see _half_step_loops)
    import numba
except ImportError:  # the NumPy form of the kernel is used instead
    numba = None

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

#: Number of observed cells whose (Z H) values the NumPy form of the masked
#: update computes at once; its memory stays O(_CHUNK * M).
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
        # H <- H * A / clip(G H, eps)
        step = G @ H
        if l2:
            step += (l2 * n) * H
        H = _update_in(step, H, A, eps)
        B = X @ H.T                                      # X H_{t+1}^T, (n, M)
        K = H @ H.T
        # Z <- Z * B / clip(Z K, eps)
        step = Z @ K
        if l2:
            step += (l2 * m) * Z
        Z = _update_in(step, Z, B, eps)
    raise AssertionError("unreachable")  # pragma: no cover


def _update_in(denominator: np.ndarray, factor: np.ndarray, numerator: np.ndarray,
               eps: float) -> np.ndarray:
    """``factor * numerator / clip(denominator, eps)``, computed in ``denominator``'s array.

    The denominator is a fresh array of each iteration, so reusing it avoids
    two temporaries of the factor's size; the order of the operations (clip,
    divide, multiply) is that of the exercise's element-wise update.
    """
    np.maximum(denominator, eps, out=denominator)
    np.divide(numerator, denominator, out=denominator)
    denominator *= factor
    return denominator


class _Cells(NamedTuple):
    """The observed cells grouped by the index of the factor being updated.

    Cells ``indptr[g]:indptr[g + 1]`` belong to group ``g`` (a column j of the
    data when H is updated, a row i when Z is): ``other_index[k]`` is the other
    factor's index of cell k and ``values[k]`` its observed value.  A CSR (or
    CSC) matrix's three arrays, with int64 indices; ``counts`` holds the group
    sizes as float64 (the ``n_i`` or ``m_j`` of the penalty).
    """

    indptr: np.ndarray
    other_index: np.ndarray
    values: np.ndarray
    counts: np.ndarray


def _cells(matrix: sp.csr_array) -> _Cells:
    """``_Cells`` of a canonical CSR matrix (pass ``X.T.tocsr()`` to group by column)."""
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    return _Cells(indptr, np.asarray(matrix.indices, dtype=np.int64),
                  np.asarray(matrix.data, dtype=np.float64), np.diff(indptr).astype(np.float64))


def _half_step_numpy(indptr, other_index, values, counts, own, other, l2, eps, out):
    """One weighted multiplicative update of the factor ``own``, in NumPy/SciPy.

    ``own`` has one row per group (``Z``, or ``H.T``), ``other`` one row per
    other index.  For each group g, with ``p_k = own[g] . other[other_index[k]]``
    the model's value at its cells k::

        out[g] = own[g] * (sum_k x_k other[o_k]) / clip(sum_k p_k other[o_k] + l2 * counts[g] * own[g], eps)

    Returns ``sum_k (x_k - p_k)^2``, the squared error at the *incoming*
    factors.  ``out`` may be ``own``.  This is the readable reference that
    :func:`_half_step_loops` (the same arithmetic in one pass) is tested
    against; it costs two row gathers of the (nnz, M) cells and one sparse
    product with a matrix holding ``x`` and ``p`` stacked.
    """
    n_groups, nnz = own.shape[0], values.size
    groups = np.repeat(np.arange(n_groups), np.diff(indptr))
    pred = np.empty(nnz)
    size = min(nnz, _CHUNK)                                # memory O(_CHUNK * M)
    own_rows, other_rows = np.empty((size, own.shape[1])), np.empty((size, own.shape[1]))
    for start in range(0, nnz, _CHUNK):
        stop = min(start + _CHUNK, nnz)
        # mode="clip" skips the bounds check (the indices are valid by construction)
        np.take(own, groups[start:stop], axis=0, out=own_rows[:stop - start], mode="clip")
        np.take(other, other_index[start:stop], axis=0, out=other_rows[:stop - start], mode="clip")
        np.einsum("ij,ij->i", own_rows[:stop - start], other_rows[:stop - start],
                  out=pred[start:stop])
    residual = values - pred
    stacked = sp.csr_array(                               # [X; P], shape (2 g, other rows)
        (np.concatenate([values, pred]), np.concatenate([other_index, other_index]),
         np.concatenate([indptr, indptr[1:] + nnz])), shape=(2 * n_groups, other.shape[0]))
    both = stacked @ other
    denominator = both[n_groups:]
    if l2:
        denominator += (l2 * counts)[:, None] * own
    out[...] = _update_in(denominator, own, both[:n_groups], eps)
    return float(residual @ residual)


def _half_step_loops(indptr, other_index, values, counts, own, other, l2, eps, out):
    """The loop form of :func:`_half_step_numpy`, compiled by numba when available.

    One pass over the cells, group by group, four cells at a time: their
    model values ``p`` (four dot products sharing each load of ``own[g, c]``),
    then both sums of the update, one read-modify-write of the sums per four
    cells.  The group's leftover cells (fewer than four) go one by one, and
    finally the group's row is updated.  A group's update reads only its own
    row of ``own``, so ``out`` may be ``own``.  No fast-math: the rounding is
    fixed by the loop order and is the same on every machine; it differs from
    the NumPy form's only in the last bits.
    """
    M = own.shape[1]
    numerator = np.empty(M)
    denominator = np.empty(M)
    total = 0.0
    for g in range(own.shape[0]):
        numerator[:] = 0.0
        denominator[:] = 0.0
        squares = 0.0
        k, end = indptr[g], indptr[g + 1]
        while k + 4 <= end:
            o0, o1, o2, o3 = other_index[k], other_index[k + 1], other_index[k + 2], other_index[k + 3]
            x0, x1, x2, x3 = values[k], values[k + 1], values[k + 2], values[k + 3]
            p0 = p1 = p2 = p3 = 0.0
            for c in range(M):
                a = own[g, c]
                p0 += a * other[o0, c]
                p1 += a * other[o1, c]
                p2 += a * other[o2, c]
                p3 += a * other[o3, c]
            squares += (((x0 - p0) * (x0 - p0) + (x1 - p1) * (x1 - p1))
                        + ((x2 - p2) * (x2 - p2) + (x3 - p3) * (x3 - p3)))
            for c in range(M):
                b0, b1, b2, b3 = other[o0, c], other[o1, c], other[o2, c], other[o3, c]
                numerator[c] += (x0 * b0 + x1 * b1) + (x2 * b2 + x3 * b3)
                denominator[c] += (p0 * b0 + p1 * b1) + (p2 * b2 + p3 * b3)
            k += 4
        while k < end:
            o, x = other_index[k], values[k]
            p = 0.0
            for c in range(M):
                p += own[g, c] * other[o, c]
            squares += (x - p) * (x - p)
            for c in range(M):
                numerator[c] += x * other[o, c]
                denominator[c] += p * other[o, c]
            k += 1
        total += squares
        penalty = l2 * counts[g]
        for c in range(M):
            out[g, c] = own[g, c] * (numerator[c] / max(denominator[c] + penalty * own[g, c], eps))
    return total


def _compile(function):
    """``numba.njit`` of ``function``, cached on disk when a cache folder is writable."""
    try:
        return numba.njit(cache=True)(function)
    except RuntimeError:  # no writable cache location: compile once per process
        return numba.njit(function)


#: The compiled kernel, or None where numba is missing or switched off.
_half_step_compiled = (None if numba is None or numba.config.DISABLE_JIT
                       else _compile(_half_step_loops))


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

    Both are a half-step over the cells grouped by column, then by row: the
    compiled :func:`_half_step_loops`, or :func:`_half_step_numpy` without
    numba.  The H half-step also returns the squared error at ``(Z_t, H_t)``,
    so the loss of each iteration comes with its update; only the final loss
    costs one more H half-step, whose update is discarded.
    """
    half_step = _half_step_numpy if _half_step_compiled is None else _half_step_compiled
    by_row = _cells(Xo)
    by_col = _cells(Xo.T.tocsr())
    Z = np.array(Z, dtype=np.float64, order="C")
    HT = np.array(H.T, dtype=np.float64, order="C")      # row j = column j of H
    HT_next = np.empty_like(HT)
    losses = np.empty(n_iter + 1)
    for t in range(n_iter + 1):
        # H_{t+1} into HT_next; the squared error is that of (Z_t, H_t)
        loss = half_step(*by_col, HT, Z, l2, eps, HT_next)
        if l2:
            loss += l2 * (by_row.counts @ np.einsum("ik,ik->i", Z, Z)
                          + by_col.counts @ np.einsum("jk,jk->j", HT, HT))
        losses[t] = loss
        if _finished(losses, t, n_iter, tol, verbose):
            return Z, HT.T.copy(), losses[: t + 1]
        HT, HT_next = HT_next, HT
        half_step(*by_row, Z, HT, l2, eps, Z)            # Z_{t+1}, in place
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

# ============================================================================
# Alternative models for observed-entry factorization (issue 5).
#
# Every algorithm below works on the *observed* cells of a ratings matrix held
# as a sparse matrix: predictions are only ever formed at observed cells, in
# chunks, so nothing dense of size users x movies is built.  Each public
# function validates its input once, then calls small private kernels; the
# random start is :func:`_initialize`'s, as for :func:`non_negative`.
#
# Observed cells: ``mask="observed"`` (the default here) means the non-NaN
# cells of a dense input and the stored entries of a sparse one -- the natural
# reading for a ratings matrix; ``mask=None`` means every cell, and a boolean
# array or sparse matrix marks them explicitly, as in :func:`non_negative`.
# (ALS and the biased model accept negative values, so they cannot share
# :func:`_validate`, which insists on non-negative data.)
# ============================================================================

_PREDICT_CHUNK = 1 << 19  # observed cells handled at a time when predicting

__all__ += ["FactorResult", "BiasedResult", "predict_cells", "als", "nnls_als",
            "biased_non_negative", "truncated_svd"]


class FactorResult(NamedTuple):
    """A low-rank factorization ``X ~ Z @ H`` and its objective history.

    Attributes
    ----------
    Z : ndarray of shape (n_rows, num_components)
    H : ndarray of shape (num_components, n_cols)
    losses : ndarray of shape (n_done,)
        The objective after each iteration (one value for a direct method).
    """

    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray


class BiasedResult(NamedTuple):
    """``x_ij ~ mu + user_bias_i + item_bias_j + Z[i] @ H[:, j]`` with Z, H >= 0.

    Attributes
    ----------
    mu : float
        Mean of the observed values.
    user_bias : ndarray of shape (n_rows,)
    item_bias : ndarray of shape (n_cols,)
    Z : ndarray of shape (n_rows, num_components), non-negative
    H : ndarray of shape (num_components, n_cols), non-negative
    losses : ndarray of shape (n_done,)
        The regularized objective after each iteration.
    """

    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray

    def predict(self, rows, cols):
        """Predicted values at cells ``(rows[t], cols[t])``; shape ``(len(rows),)``."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        return (self.mu + self.user_bias[rows] + self.item_bias[cols]
                + predict_cells(self.Z, self.H, rows, cols))


def predict_cells(Z, H, rows, cols, chunk=_PREDICT_CHUNK):
    """Values of ``Z @ H`` at the cells ``(rows[t], cols[t])`` only.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, M)
    H : ndarray of shape (M, n_cols)
    rows, cols : int arrays of shape (n_cells,)
    chunk : int
        Cells handled at a time; memory stays ``O(chunk * M)``.

    Returns
    -------
    ndarray of shape (n_cells,)
    """
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    out = np.empty(rows.shape[0], dtype=np.float64)
    Ht = np.ascontiguousarray(H.T)
    for start in range(0, rows.shape[0], chunk):
        stop = start + chunk
        out[start:stop] = np.einsum("nk,nk->n", Z[rows[start:stop]], Ht[cols[start:stop]])
    return out


# ---------------------------------------------------------------- validation
def _check_rank(num_components, shape, name="num_components"):
    if isinstance(num_components, bool) or not isinstance(num_components, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {num_components!r} "
                        f"of type {type(num_components).__name__}.")
    if not 1 <= num_components <= min(shape):
        raise ValueError(f"{name} must lie in [1, {min(shape)}] (the smaller side of the "
                         f"{shape[0]} x {shape[1]} data), got {num_components}.")
    return int(num_components)


def _check_nonneg_number(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}.") from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return number


def _check_n_iter(n_iter):
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}.")
    return int(n_iter)


class _Observed(NamedTuple):
    """Observed cells in row-major (``by_row``) and column-major (``by_col``) CSR form."""

    by_row: sp.csr_matrix   # (n_rows, n_cols)
    by_col: sp.csr_matrix   # (n_cols, n_rows), the transpose
    rows: np.ndarray        # (nnz,) row index of each cell, row-major order
    cols: np.ndarray        # (nnz,) column index of each cell
    values: np.ndarray      # (nnz,)

    @property
    def shape(self):
        return self.by_row.shape


def _observed_cells(data, mask, *, require_non_negative):
    """Validate ``data``/``mask`` and return the observed cells; never densifies a sparse input.

    ``mask="observed"``: the non-NaN cells of a dense ``data``, the stored
    entries of a sparse one.  ``mask=None``: every cell (a sparse ``data`` then
    holds zeros in its unstored cells).  Otherwise ``mask`` (boolean array or
    sparse matrix of the same shape) marks the observed cells.
    """
    if isinstance(mask, str) and mask != _MASK_OBSERVED:
        raise ValueError(f"mask must be {_MASK_OBSERVED!r}, None, a boolean array or a sparse "
                         f"matrix; got the string {mask!r}.")
    if sp.issparse(data):
        if data.ndim != 2:
            raise ValueError(f"data must be 2-D, got shape {data.shape}.")
        shape = data.shape
        if isinstance(mask, str):
            coo = data.tocoo()
            keep = ~np.isnan(coo.data)
            rows, cols, values = coo.row[keep], coo.col[keep], coo.data[keep].astype(np.float64)
        elif mask is None:
            rows, cols = np.indices(shape).reshape(2, -1)
            values = np.asarray(data.toarray(), dtype=np.float64).ravel()
        else:
            rows, cols = _mask_cells(mask, shape)
            values = np.asarray(data.tocsr()[rows, cols], dtype=np.float64).ravel()
    else:
        try:
            array = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("data must be a numeric array-like or a scipy.sparse matrix, "
                            f"got {type(data).__name__}.") from None
        if array.ndim != 2:
            raise ValueError(f"data must be 2-D (rows x columns), got shape {array.shape}.")
        shape = array.shape
        if isinstance(mask, str):
            rows, cols = np.nonzero(~np.isnan(array))
        elif mask is None:
            rows, cols = np.indices(shape).reshape(2, -1)
        else:
            rows, cols = _mask_cells(mask, shape)
        values = array[rows, cols]
    if 0 in shape:
        raise ValueError(f"data must not be empty, got shape {shape}.")
    if values.size == 0:
        raise ValueError("no observed cells: the mask (or the sparse data) selects nothing.")
    if not np.all(np.isfinite(values)):
        raise ValueError("data has NaN or infinite values at observed cells; "
                         "fill them or leave them out of the mask.")
    if require_non_negative and values.min() < 0:
        raise ValueError(f"data must be non-negative at observed cells, found minimum "
                         f"{values.min():g}; shift or clip the data first.")
    by_row = sp.csr_matrix((values, (rows, cols)), shape=shape)
    by_row.sum_duplicates()
    by_row.sort_indices()
    by_col = by_row.T.tocsr()
    by_col.sort_indices()
    row_idx = np.repeat(np.arange(shape[0]), np.diff(by_row.indptr))
    return _Observed(by_row, by_col, row_idx, by_row.indices.astype(np.intp), by_row.data)


def _mask_cells(mask, shape):
    if sp.issparse(mask):
        if mask.shape != shape:
            raise ValueError(f"mask must have the data's shape {shape}, got {mask.shape}.")
        coo = sp.csr_matrix(mask).tocoo()          # stored entries, whatever their value
        return coo.row.astype(np.intp), coo.col.astype(np.intp)
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask must have the data's shape {shape}, got {mask.shape}.")
    if mask.dtype != bool:
        raise TypeError(f"mask must be a boolean array or a sparse matrix, got dtype {mask.dtype}.")
    return np.nonzero(mask)


def _check_init(init, shape, num_components):
    n_rows, n_cols = shape
    if init is None:
        return None
    try:
        Z0, H0 = init
    except (TypeError, ValueError):
        raise TypeError("init must be a pair (Z0, H0) of arrays or None.") from None
    Z0 = np.array(Z0, dtype=np.float64)
    H0 = np.array(H0, dtype=np.float64)
    if Z0.shape != (n_rows, num_components) or H0.shape != (num_components, n_cols):
        raise ValueError(f"init must have shapes {(n_rows, num_components)} and "
                         f"{(num_components, n_cols)}, got {Z0.shape} and {H0.shape}.")
    return Z0, H0


# ---------------------------------------------------------------- kernels
_GATHER = 1 << 12  # padded cells gathered at once when forming normal equations


def _normal_equations(values, F):
    """Per-row Gram matrices and right-hand sides over each row's observed cells.

    For row ``r`` with observed columns ``J_r`` and values ``v_r``:
    ``G[r] = F[J_r]' F[J_r]``, ``b[r] = F[J_r]' v_r``, ``g[r] = F[J_r]' 1``,
    ``t[r] = sum(v_r)`` and ``tt[r] = v_r' v_r``.  Rows are sorted by their
    number of cells and gathered in groups into zero-padded (rows, cells, M+1)
    stacks of ``[F | 1]``, so one batched matrix product per group gives G and
    g (memory ``O(_GATHER * M)``).

    Parameters
    ----------
    values : csr_matrix of shape (n, m)
        Targets at the observed cells (explicitly stored zeros count as cells).
    F : ndarray of shape (m, M)

    Returns
    -------
    G : ndarray of shape (n, M, M)
    b, g : ndarray of shape (n, M)
    t, tt : ndarray of shape (n,)
    """
    n, M = values.shape[0], F.shape[1]
    padded = np.zeros((F.shape[0] + 1, M + 1))          # [F | 1]; last row: the padding
    padded[:-1, :M] = F
    padded[:-1, M] = 1.0
    counts = np.diff(values.indptr)
    order = np.argsort(counts, kind="stable")
    G_aug = np.zeros((n, M + 1, M + 1))
    b_aug = np.zeros((n, M + 1))
    tt = np.zeros(n)
    start = 0
    sorted_counts = np.maximum(counts[order], 1)
    while start < n:
        # rows are sorted by length: the largest group whose padded size fits
        low, high = start + 1, n                   # bisection on the group's end
        while low < high:
            mid = (low + high + 1) // 2
            if (mid - start) * int(sorted_counts[mid - 1]) <= _GATHER:
                low = mid
            else:
                high = mid - 1
        stop = low
        rows = order[start:stop]
        longest = max(int(counts[rows[-1]]), 1)
        offsets = np.arange(longest)
        valid = offsets[None, :] < counts[rows, None]
        where = np.minimum(values.indptr[rows, None] + offsets[None, :], max(values.nnz - 1, 0))
        cols = np.where(valid, values.indices[where] if values.nnz else 0, F.shape[0])
        vals = np.where(valid, values.data[where] if values.nnz else 0.0, 0.0)
        Fg = padded[cols]                                  # (rows, longest, M + 1)
        G_aug[rows] = np.matmul(np.swapaxes(Fg, 1, 2), Fg)
        b_aug[rows] = np.einsum("rlm,rl->rm", Fg, vals)
        tt[rows] = np.einsum("rl,rl->r", vals, vals)
        start = stop
    return G_aug[:, :M, :M], b_aug[:, :M], G_aug[:, :M, M], b_aug[:, M], tt


_ROW_BLOCK = 4096  # rows whose M x M systems are held in memory at once


def _update_side(values, F, reg, empty, solve, previous):
    """New factors for every row of ``values`` (n, m) against fixed ``F`` (m, M), block by block.

    ``previous`` (n, M) are the current factors, a warm start for the solver.
    Also returns the residual sum of squares ``sum_r ||v_r - F_J x_r||^2`` at
    the new factors, from the normal equations (no second pass over the cells).
    """
    n, M = values.shape[0], F.shape[1]
    out = np.empty((n, M))
    rss = 0.0
    for start in range(0, n, _ROW_BLOCK):
        block = slice(start, min(start + _ROW_BLOCK, n))
        G, b, _, _, tt = _normal_equations(values[block], F)
        x = out[block] = solve(G, b, reg[block], empty[block], previous[block])
        rss += float(tt.sum() - 2 * np.einsum("nk,nk->", x, b)
                     + np.einsum("nk,nkl,nl->", x, G, x))
    return out, rss


def _solve_ridge(G, b, reg, empty, start=None):
    """Unconstrained minimizers of ``x'Gx - 2b'x + reg ||x||^2`` for a stack of rows."""
    M = G.shape[1]
    A = G + reg[:, None, None] * np.eye(M)
    A[empty] = np.eye(M)                        # rows without cells: solution 0
    rhs = b.copy()
    rhs[empty] = 0.0
    try:
        return np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:               # l2 = 0 and a row with too few cells
        return np.stack([np.linalg.lstsq(A[r], rhs[r], rcond=None)[0] for r in range(len(A))])


def _solve_nonneg(G, b, reg, empty, start=None, max_rounds=12):
    """Exact minimizers over ``x >= 0`` of ``x'(G + reg I)x - 2b'x`` for a stack of rows.

    A batched active-set pass first: solve on the free variables of every row
    at once, drop variables that came out negative, re-admit fixed ones whose
    gradient says they should grow.  A row is accepted only when it satisfies
    the optimality (KKT) conditions ``x >= 0``, ``(b - A x)_k = 0`` where
    ``x_k > 0`` and ``<= 0`` where ``x_k = 0`` -- sufficient for this convex
    problem.  ``start`` (n, M), e.g. the previous iterate, gives the first
    guess of the free set.  The rare rows not settled after ``max_rounds``
    (and every row of a block with a singular system, possible when l2 = 0)
    are solved by scipy's NNLS (Lawson-Hanson) on the square-root form
    ``min ||S x - y||^2`` with ``A = G + reg I = S'S`` from A's eigenvalues.
    """
    n, M = b.shape
    eye = np.eye(M, dtype=bool)
    A = G + reg[:, None, None] * np.eye(M)
    A[empty] = np.eye(M)
    rhs = b.copy()
    rhs[empty] = 0.0
    scale = np.abs(rhs).max(axis=1, keepdims=True) + np.abs(A).max(axis=(1, 2))[:, None] + 1e-300
    # warm start: the previous solution's support (the active set moves little)
    free = np.ones((n, M), dtype=bool) if start is None else start > 0
    x = np.zeros((n, M))
    pending = np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        f = free[pending]
        both = f[:, :, None] & f[:, None, :]
        system = np.where(both, A[pending], eye)
        try:
            sol = np.linalg.solve(system, np.where(f, rhs[pending], 0.0)[..., None])[..., 0]
        except np.linalg.LinAlgError:            # a singular system (l2 = 0): exact fallback
            break
        negative = f & (sol < 0)
        gradient = rhs[pending] - np.einsum("nkl,nl->nk", A[pending], sol)
        tolerance = 1e-9 * scale[pending]
        grow = ~f & (gradient > tolerance)
        stationary = np.all(~f | (np.abs(gradient) <= tolerance), axis=1)
        done = ~negative.any(axis=1) & ~grow.any(axis=1) & stationary
        x[pending[done]] = sol[done]
        # drop negative variables; if none, re-admit the fixed one with the largest gradient
        adjust = ~done
        rows = pending[adjust]
        new_free = f[adjust] & ~negative[adjust]
        no_negative = ~negative[adjust].any(axis=1)
        best = np.argmax(np.where(grow[adjust], gradient[adjust], -np.inf), axis=1)
        new_free[np.flatnonzero(no_negative), best[no_negative]] = True
        free[rows] = new_free
        pending = rows
    if pending.size:
        # A = V diag(w) V' (w >= 0): x'Ax - 2b'x = ||S x - y||^2 - y'y with
        # S = diag(sqrt w) V' and y = diag(1/sqrt w) V'b (b lies in A's range;
        # zero eigenvalues are dropped), exact also when A is only semi-definite.
        w, V = np.linalg.eigh(A[pending])
        keep = w > 1e-12 * w.max(axis=1, keepdims=True)
        root = np.sqrt(np.where(keep, w, 0.0))
        y = np.where(keep, np.einsum("nkl,nk->nl", V, rhs[pending]) / np.where(keep, root, 1.0),
                      0.0)
        S = root[:, :, None] * np.swapaxes(V, 1, 2)
        for r, row in enumerate(pending):
            x[row] = nnls(S[r], y[r])[0]
    return np.maximum(x, 0.0)


def _alternate(obs, num_components, n_iter, random_state, l2, tol, verbose, init, solve, name):
    shape = obs.shape
    n_row = np.diff(obs.by_row.indptr).astype(np.float64)
    n_col = np.diff(obs.by_col.indptr).astype(np.float64)
    if init is None:
        Z, H = _initialize(shape[0], shape[1], num_components,
                           max(float(np.mean(np.abs(obs.values))), 1e-12), random_state)
    else:
        Z, H = init
    losses = []
    for it in range(n_iter):
        Z, _ = _update_side(obs.by_row, H.T, l2 * n_row, n_row == 0, solve, Z)
        Ht, rss = _update_side(obs.by_col, Z, l2 * n_col, n_col == 0, solve, H.T)
        H = Ht.T.copy()
        losses.append(rss + l2 * (n_row @ np.einsum("ik,ik->i", Z, Z)
                                  + n_col @ np.einsum("kj,kj->j", H, H)))
        if verbose:
            print(f"{name} iteration {it + 1}: objective {losses[-1]:.6g}")
        if tol is not None and it > 0 and losses[-2] - losses[-1] <= tol * abs(losses[-2]):
            break
    return FactorResult(Z, H, np.asarray(losses))


def als(data, num_components, *, n_iter=20, random_state=0, mask="observed", l2=0.1,
        tol=None, verbose=False, init=None):
    """Regularized alternating least squares on observed cells (no sign constraint).

    Minimizes ``sum_obs (x_ij - z_i . h_j)^2 + l2 * (sum_i n_i ||z_i||^2 +
    sum_j m_j ||h_j||^2)`` where ``n_i``, ``m_j`` count the observed cells of row
    ``i`` and column ``j`` (the weighted penalty of ALS-WR, also used by
    :func:`non_negative`).  Each half-step is the closed form
    ``z_i = (H_i H_i' + l2 n_i I)^{-1} H_i x_i`` over row i's observed cells,
    an exact block minimization, so the objective never increases.

    Parameters
    ----------
    data : array-like or sparse matrix of shape (n_rows, n_cols)
    num_components : int
        Rank M, ``1 <= M <= min(n_rows, n_cols)``.
    n_iter : int, default 20
        Full sweeps (all rows, then all columns).
    random_state : int, default 0
        Seed of the positive random start (``np.random.default_rng``).
    mask : "observed", None, bool array or sparse matrix of shape (n_rows, n_cols)
        Observed cells.  ``"observed"`` (default): the non-NaN cells of a
        dense ``data``, the stored entries of a sparse one; ``None``: every
        cell; an array or sparse matrix: its True / stored cells.
    l2 : float, default 0.1
        Penalty weight, ``>= 0``.
    tol : float, optional
        Stop early when an iteration lowers the objective by at most
        ``tol`` times its previous value.
    verbose : bool, default False
    init : pair (Z0, H0), optional
        Starting factors of shapes (n_rows, M) and (M, n_cols); only ``H0`` matters.

    Returns
    -------
    FactorResult
        ``Z`` (n_rows, M), ``H`` (M, n_cols), ``losses`` (objective per iteration).
        Rows or columns without observed cells get zero factors.

    References
    ----------
    Zhou, Wilkinson, Schreiber & Pan (2008), "Large-scale parallel collaborative
    filtering for the Netflix prize", AAIM.
    """
    obs = _observed_cells(data, mask, require_non_negative=False)
    M = _check_rank(num_components, obs.shape)
    return _alternate(obs, M, _check_n_iter(n_iter), random_state, _check_nonneg_number(l2, "l2"),
                      tol, verbose, _check_init(init, obs.shape, M), _solve_ridge, "als")


def nnls_als(data, num_components, *, n_iter=20, random_state=0, mask="observed", l2=0.1,
             tol=None, verbose=False, init=None):
    """Non-negative alternating least squares with L2 on observed cells.

    Same objective as :func:`als` with ``Z >= 0`` and ``H >= 0``.  Each half-step
    solves, for every row ``i``, the non-negative least-squares problem
    ``min_{z >= 0} z'(H_i H_i' + l2 n_i I) z - 2 z' H_i x_i`` exactly (Cholesky
    factor of the regularized normal equations handed to
    ``scipy.optimize.nnls``), so the objective never increases.

    Parameters and return value are those of :func:`als`; ``data`` must be
    non-negative at observed cells.  The starting ``H0`` must be non-negative.

    References
    ----------
    Bro & De Jong (1997), "A fast non-negativity-constrained least squares
    algorithm", J. Chemometrics 11.
    """
    obs = _observed_cells(data, mask, require_non_negative=True)
    M = _check_rank(num_components, obs.shape)
    init = _check_init(init, obs.shape, M)
    if init is not None and (init[1].min() < 0):
        raise ValueError("init H0 must be non-negative for nnls_als.")
    return _alternate(obs, M, _check_n_iter(n_iter), random_state, _check_nonneg_number(l2, "l2"),
                      tol, verbose, init, _solve_nonneg, "nnls_als")


# ------------------------------------------------------- biased non-negative
def _biased_half_step(values, offsets_other, bias_other, F, mu, l2, bias_l2, n, previous):
    """Exact update of one side's (factors >= 0, free bias) given the other side.

    For each row r with observed columns J: minimize over z >= 0 and free b
    ``||t - F_J z - b||^2 + l2 n_r ||z||^2 + bias_l2 b^2`` with
    ``t = x - mu - bias_other[J]``.  The bias is eliminated in closed form
    (Schur complement), leaving an NNLS in z; then
    ``b = (sum t - (sum_J F_J) z) / (n_r + bias_l2)``.  Rows go block by block.
    Also returns the residual sum of squares at the new values.
    """
    targets = sp.csr_matrix((values.data - mu - bias_other[offsets_other], values.indices,
                              values.indptr), shape=values.shape, copy=False)
    rows, M = values.shape[0], F.shape[1]
    z, bias = np.empty((rows, M)), np.empty(rows)
    rss = 0.0
    for start in range(0, rows, _ROW_BLOCK):
        block = slice(start, min(start + _ROW_BLOCK, rows))
        # F_J'F_J, F_J't, F_J'1, sum t, t't
        G, Ft, g, t_sum, tt = _normal_equations(targets[block], F)
        count = n[block]
        empty = count == 0
        denom = np.where(empty, 1.0, count + bias_l2)
        schur = G - g[:, :, None] * g[:, None, :] / denom[:, None, None]
        rhs = Ft - g * (t_sum / denom)[:, None]
        x = z[block] = _solve_nonneg(schur, rhs, l2 * count, empty, previous[block])
        c = bias[block] = np.where(empty, 0.0, (t_sum - np.einsum("nk,nk->n", g, x)) / denom)
        # ||t - F x - c||^2 expanded
        rss += float(tt.sum() - 2 * np.einsum("nk,nk->", x, Ft) - 2 * c @ t_sum
                     + np.einsum("nk,nkl,nl->", x, G, x) + 2 * c @ np.einsum("nk,nk->n", g, x)
                     + count @ (c * c))
    return z, bias, rss


def biased_non_negative(data, num_components, *, n_iter=20, random_state=0, mask="observed",
                        l2=0.1, bias_l2=5.0, tol=None, verbose=False, init=None):
    """Global mean + user bias + item bias + non-negative interaction, on observed cells.

    The model ``x_ij ~ mu + a_i + c_j + z_i . h_j`` with ``Z, H >= 0`` (seed
    003's model) minimizes ::

        sum_obs (x_ij - mu - a_i - c_j - z_i . h_j)^2
          + l2 * (sum_i n_i ||z_i||^2 + sum_j m_j ||h_j||^2)
          + bias_l2 * (||a||^2 + ||c||^2)

    with ``mu`` fixed at the mean observed value.  Fitted by block coordinate
    descent in NumPy: each half-step updates one side's factors *and* biases
    together exactly (bias eliminated in closed form, then an NNLS per row), so
    the objective never increases.  The biases absorb the level of each user
    and movie; the non-negative part adds only the "who likes what" structure.

    Parameters
    ----------
    data, num_components, n_iter, random_state, mask, l2, tol, verbose
        As in :func:`als`.
    bias_l2 : float, default 5.0
        Penalty on the biases (unweighted: shrinks a bias towards 0 like
        ``bias_l2`` phantom ratings at the mean).
    init : pair (Z0, H0), optional
        Non-negative starting factors; only ``H0`` matters.  Biases start at 0.

    Returns
    -------
    BiasedResult
        ``mu``, ``user_bias`` (n_rows,), ``item_bias`` (n_cols,), ``Z`` (n_rows, M),
        ``H`` (M, n_cols), ``losses``; ``result.predict(rows, cols)`` predicts.
    """
    obs = _observed_cells(data, mask, require_non_negative=False)
    M = _check_rank(num_components, obs.shape)
    n_iter = _check_n_iter(n_iter)
    l2 = _check_nonneg_number(l2, "l2")
    bias_l2 = _check_nonneg_number(bias_l2, "bias_l2")
    init = _check_init(init, obs.shape, M)
    n_row = np.diff(obs.by_row.indptr).astype(np.float64)
    n_col = np.diff(obs.by_col.indptr).astype(np.float64)
    mu = float(obs.values.mean())
    if init is None:
        # a small interaction to start: the biases carry the level
        Z, H = _initialize(obs.shape[0], obs.shape[1], M, 0.5, random_state)
    else:
        Z, H = init
        if H.min() < 0 or Z.min() < 0:
            raise ValueError("init factors must be non-negative for biased_non_negative.")
    user_bias = np.zeros(obs.shape[0])
    item_bias = np.zeros(obs.shape[1])
    col_of_row_cells = obs.by_row.indices
    row_of_col_cells = obs.by_col.indices
    losses = []
    for it in range(n_iter):
        Z, user_bias, _ = _biased_half_step(obs.by_row, col_of_row_cells, item_bias,
                                         H.T, mu, l2, bias_l2, n_row, Z)
        Ht, item_bias, rss = _biased_half_step(obs.by_col, row_of_col_cells, user_bias,
                                          Z, mu, l2, bias_l2, n_col, H.T)
        H = Ht.T.copy()
        losses.append(rss + l2 * (n_row @ np.einsum("ik,ik->i", Z, Z)
                                  + n_col @ np.einsum("kj,kj->j", H, H))
                      + bias_l2 * (user_bias @ user_bias + item_bias @ item_bias))
        if verbose:
            print(f"biased_non_negative iteration {it + 1}: objective {losses[-1]:.6g}")
        if tol is not None and it > 0 and losses[-2] - losses[-1] <= tol * abs(losses[-2]):
            break
    return BiasedResult(mu, user_bias, item_bias, Z, H, np.asarray(losses))


# ------------------------------------------------------------ truncated SVD
def truncated_svd(data, num_components, *, random_state=0):
    """Best rank-M approximation (Eckart-Young) of a complete matrix.

    The matrix is taken as given: impute missing ratings first (zeros give
    "PureSVD", Cremonesi et al. 2010).  A dense input uses LAPACK's full SVD;
    a sparse input (zeros = missing) uses ARPACK (``scipy.sparse.linalg.svds``)
    with a seeded start vector, and is never densified.

    Parameters
    ----------
    data : array-like or sparse matrix of shape (n_rows, n_cols)
    num_components : int
        Rank M; for sparse input ``M < min(n_rows, n_cols)``.
    random_state : int, default 0
        Seed of ARPACK's start vector (sparse input only).

    Returns
    -------
    FactorResult
        ``Z = U_M diag(s_M)`` (n_rows, M), ``H = V_M'`` (M, n_cols), singular
        values in decreasing order; signs fixed so each column of ``Z`` has a
        positive largest-magnitude entry.  ``losses`` holds the one squared
        Frobenius error ``||X - Z H||^2 = ||X||^2 - sum s_M^2``.
    """
    if sp.issparse(data):
        X = data.tocsr().astype(np.float64)
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"data must be a non-empty 2-D matrix, got shape {X.shape}.")
        if not np.all(np.isfinite(X.data)):
            raise ValueError("data has NaN or infinite values; impute them first.")
        M = _check_rank(num_components, X.shape)
        if M >= min(X.shape):
            raise ValueError(f"num_components must be < {min(X.shape)} for sparse data, got {M}; "
                             "pass a dense array for a full-rank decomposition.")
        v0 = np.random.default_rng(random_state).uniform(-1, 1, min(X.shape))
        U, s, Vt = svds(X, k=M, v0=v0, solver="arpack")
        total = float(X.multiply(X).sum())
    else:
        try:
            X = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"data must be numeric, got {type(data).__name__}.") from None
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"data must be a non-empty 2-D array, got shape {X.shape}.")
        if not np.all(np.isfinite(X)):
            raise ValueError("data has NaN or infinite values; impute them first.")
        M = _check_rank(num_components, X.shape)
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
        total = float(np.sum(X * X))
    order = np.argsort(s)[::-1][:M]
    U, s, Vt = U[:, order], s[order], Vt[order]
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(M)])
    signs[signs == 0] = 1.0
    U, Vt = U * signs, Vt * signs[:, None]
    loss = max(total - float(s @ s), 0.0)
    return FactorResult(U * s, Vt, np.array([loss]))
