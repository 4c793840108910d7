"""The lab's shared machinery and its fast multiplicative updates (moved from nmf_core).

The exercise's plain version of the algorithm is :func:`nmf_core.non_negative` (the
ground floor, written to be read).  This module is the lab's: its :func:`non_negative`
runs the same updates, H first, then Z with the new H (``*``, ``/`` element-wise)::

    H <- H * (Z.T @ X) / clip(Z.T @ Z @ H, floor)          (1)
    Z <- Z * (X @ H.T) / clip(Z @ H @ H.T, floor)          (2)

from the same start, fast: :func:`_mu_full` (every cell observed) or :func:`_mu_masked`
(observed ratings only; numba compiles its loop :func:`_half_step_loops` when installed,
:func:`_half_step_numpy` is the NumPy form).  The lab's models (:mod:`lab.evaluation`)
use it, so their numbers are those measured before the two floors were split.
Then what every factorization of the lab shares (start, penalty, stopping rule,
parameter rules, validation) and :func:`match_components`.  The other
factorizations live in :mod:`lab.factorizations`, which imports this module.

Lee & Seung, "Algorithms for non-negative matrix factorization", NIPS 13 (2001).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

import nmf_core
from nmf_core import EPS

try:  # optional: compiles the masked kernel (see _half_step_loops)
    import numba
except ImportError:  # the NumPy form of the kernel is used instead
    numba = None

__all__ = ["NMFResult", "non_negative", "match_components", "EPS", "check_parameters",
           "PARAMETER_RULES"]

# EPS, imported from nmf_core: the relative floor of every denominator, the float64
# machine epsilon (2.2e-16).  Denominators are clipped at ``EPS * s**1.5``, ``s`` the
# mean observed value (the size of a denominator once ``Z @ H`` fits the data), so the
# clip acts only on (numerically) zero denominators, whatever the data's magnitude.

#: Without a mask, a matrix with fewer non-zero cells than this share is handled
#: as CSR, otherwise as dense, whatever its container (MovieLens, 6 % non-zero:
#: 1 ms per CSR product against 3-4.5 ms dense; the break-even is near 20 %).
_SPARSE_DENSITY = 0.2

#: Cells the NumPy form of the masked update handles at once (memory O(_CHUNK * M)).
_CHUNK = 8192

_MASK_OBSERVED = "observed"


class NMFResult(nmf_core.NMFResult):
    """``X ~ Z @ H``: from :func:`non_negative`, ``als``, ``nnls_als`` and ``truncated_svd``.

    The exercise's :class:`nmf_core.NMFResult` (a subclass: the ground floor accepts it)
    with :meth:`reconstruction`, which the lab's recommenders read scores from.
    ``Z`` (n, M) holds one row of weights per row of the data, ``H`` (M, m) one
    component per row; ``losses[t]`` is the objective at ``(Z_t, H_t)``, from
    ``losses[0]`` at the start to ``losses[-1]`` at the returned factors.
    """

    __slots__ = ()

    def reconstruction(self) -> np.ndarray:
        """The model's value of every cell, ``Z @ H``, shape (n, m)."""
        return self.Z @ self.H


# --- The exercise's algorithm, fast --------------------------------------------------------

def non_negative(data, num_components, *, n_iter=1000, random_state=0, mask=None, l2=0.0,
                 eps=EPS, tol=None, verbose=False, fold_into=None) -> NMFResult:
    """Non-negative matrix factorization ``X ~ Z @ H`` by multiplicative updates.

    The lab's fast form of the exercise's :func:`nmf_core.non_negative`: the same start
    and updates, so the same factors and losses up to rounding (tests/lab/test_base.py
    holds them to 1e-9); with a mask, one compiled pass over the observed cells per update.
    Alternates the exercise's updates, H first, then Z with the new H::

        H <- H * (Z^T X) / clip(Z^T Z H, floor)
        Z <- Z * (X H^T) / clip(Z H H^T, floor)

    with ``Z^T Z H`` evaluated as ``(Z^T Z) H`` and ``Z H H^T`` as ``Z (H H^T)``:
    the same numbers up to rounding, at O((n + m) M^2) instead of O(n m M).

    Parameters
    ----------
    data : array-like, DataFrame or scipy sparse matrix of shape (n, m)
        Non-negative and finite in every observed cell.
    num_components : int
        Number of components M, ``1 <= M <= min(n, m)`` (``<= m`` with ``fold_into``).
    n_iter : int >= 0, default 1000
        Iterations (each updates H, then Z); 0 returns the start.
    random_state : int >= 0, numpy Generator or None, default 0
        Seed of the start: ``Z0``, then ``H0``, absolute standard normal draws
        times ``sqrt(s / M)``, ``s`` the mean observed value (scikit-learn's scale).
    mask : None, "observed", array-like of bool or 0/1, or sparse matrix
        Observed cells.  None: all (the exercise).  "observed": the non-NaN cells
        of a dense input, the stored non-NaN entries of a sparse one.  An array: its
        True (or 1) cells; a sparse matrix: its stored entries, whatever their value.
    l2 : float >= 0, default 0
        Weight of the penalty ``l2 (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``,
        ``n_i``, ``m_j`` the observed cells of row i, column j (Zhou et al. 2008).
    eps : float > 0, default ``EPS``
        Denominators are clipped below at ``floor = eps * s**1.5`` (``eps`` if s = 0).
    tol : float >= 0 or None, default None
        Stop once an iteration lowers the objective by at most ``tol`` times its
        previous value; None runs all ``n_iter`` iterations.
    verbose : bool, default False
        Print the objective at the start, every tenth of ``n_iter`` and at the end.
    fold_into : NMFResult, optional
        An earlier ``non_negative`` fit of other rows with the same columns: its
        ``H`` stays fixed and only ``Z`` is fitted, by the Z-update above (a new
        user of a fitted model).

    Returns
    -------
    NMFResult
        ``Z`` (n, M), ``H`` (M, m) and ``losses[t]``, ``||X - Z_t H_t||_F^2`` (over
        the observed cells) plus the penalty, for t = 0 .. iterations done.

    Bad input raises TypeError or ValueError.  Neither update increases the objective
    where the clip does not act (Lee & Seung's auxiliary function; mask and penalty too).

    Examples
    --------
    >>> X = np.random.default_rng(0).random((20, 8))
    >>> Z, H, losses = non_negative(X, 3, n_iter=200)
    >>> Z.shape, H.shape, losses.shape
    ((20, 3), (3, 8), (201,))
    >>> bool(np.all(np.diff(losses) <= 0))
    True
    """
    checked = _validate(data, mask)
    M = _check_rank(num_components, checked.X.shape, fold_into)
    options = check_parameters(n_iter=n_iter, random_state=random_state, l2=l2, eps=eps,
                               tol=tol, verbose=verbose)
    X = checked.X
    n, m = X.shape
    level = _mean_observed(checked)
    Z, H = _initialize(n, m, M, level, options.pop("random_state"))
    fixed_H = _fixed_H(fold_into, M, m, non_negative=True)
    if fixed_H is not None:
        H = fixed_H
    floor = options.pop("eps") * (level * np.sqrt(level) if level > 0 else 1.0)
    if checked.masked:
        result = _mu_masked(X, Z, H, update_H=fixed_H is None, floor=floor, **options)
    else:
        result = _mu_full(_kernel_matrix(X), Z, H, update_H=fixed_H is None, floor=floor,
                          **options)
    return NMFResult(*result)


def _mu_full(X, Z, H, *, update_H, n_iter, l2, floor, tol, verbose):
    """Multiplicative updates when every cell is observed; returns ``(Z, H, losses)``.

    ``X`` is a float64 ndarray or CSR matrix.  The loss of ``(Z_t, H_t)`` is
    ``||X||^2 - 2 <Z^T X, H> + <Z^T Z, H H^T>``: the H-update's own products
    and the previous Z-update's ``H H^T``, so it costs O(m M) extra.  Rounding
    can put an exact fit a few ulps below zero; that is clamped at 0.
    """
    n, m = X.shape
    sparse = sp.issparse(X)
    XT = X.T.tocsr() if sparse else None
    norm_x = float(X.data @ X.data) if sparse else float(np.vdot(X, X))
    rows, cols = np.full(n, float(m)), np.full(m, float(n))    # observed cells per row, column
    losses = np.empty(n_iter + 1)
    K = H @ H.T                                          # H_t H_t^T
    for t in range(n_iter + 1):
        A = (XT @ Z).T if sparse else Z.T @ X            # Z_t^T X, (M, m)
        G = Z.T @ Z                                      # Z_t^T Z_t, (M, M)
        loss = norm_x - 2.0 * np.vdot(A, H) + np.vdot(G, K)
        losses[t] = max(loss, 0.0) + _penalty(l2, rows, Z, cols, H)
        if _finished(losses, t, n_iter, tol, verbose, "non_negative"):
            return Z, H, losses[: t + 1]
        if update_H:                                     # (1) H <- H * A / clip(G H, floor)
            H = _update_in(G @ H + (l2 * n) * H, H, A, floor)
            K = H @ H.T
        B = X @ H.T                                      # X H_{t+1}^T, (n, M)
        Z = _update_in(Z @ K + (l2 * m) * Z, Z, B, floor)  # (2) Z <- Z * B / clip(Z K, floor)
    raise AssertionError("unreachable")  # pragma: no cover


def _update_in(denominator: np.ndarray, factor: np.ndarray, numerator: np.ndarray,
               floor: float) -> np.ndarray:
    """``factor * numerator / clip(denominator, floor)`` in the denominator's (fresh) array."""
    np.maximum(denominator, floor, out=denominator)
    np.divide(numerator, denominator, out=denominator)
    denominator *= factor
    return denominator


def _mu_masked(Xo: sp.csr_array, Z, H, *, update_H, n_iter, l2, floor, tol, verbose):
    """Multiplicative updates over the observed cells; returns ``(Z, H, losses)``.

    ``Xo`` is CSR, its stored entries exactly the observed cells.  With ``P = Z H``
    at those cells and ``n_i`` / ``m_j`` the observed cells of row i / column j,
    the objective ``sum_obs (x_ij - p_ij)^2 + l2 (sum_i n_i ||Z[i]||^2 + sum_j m_j
    ||H[:, j]||^2)`` descends by (minimizers of Lee & Seung's auxiliary function)::

        H <- H * (Z^T Xo) / clip(Z^T P + l2 * m_j * H, floor)
        Z <- Z * (Xo H^T) / clip(P' H^T + l2 * n_i * Z, floor)   (P' with the new H)

    each a half-step over the cells grouped by column, then by row.  The H
    half-step also returns the squared error at ``(Z_t, H_t)``: the loss.
    """
    half_step = _half_step_numpy if _half_step_compiled is None else _half_step_compiled
    by_row, by_col = _cells(Xo), _cells(Xo.T.tocsr())
    Z = np.array(Z, dtype=np.float64, order="C")
    HT = np.array(H.T, dtype=np.float64, order="C")      # row j = column j of H
    HT_next = np.empty_like(HT)
    losses = np.empty(n_iter + 1)
    for t in range(n_iter + 1):
        # H_{t+1} into HT_next (unused when H is fixed); the error is that of (Z_t, H_t)
        losses[t] = (half_step(*by_col, HT, Z, l2, floor, HT_next)
                     + _penalty(l2, by_row.counts, Z, by_col.counts, HT.T))
        if _finished(losses, t, n_iter, tol, verbose, "non_negative"):
            return Z, HT.T.copy(), losses[: t + 1]
        if update_H:
            HT, HT_next = HT_next, HT
        half_step(*by_row, Z, HT, l2, floor, Z)            # Z_{t+1}, in place
    raise AssertionError("unreachable")  # pragma: no cover


class _Cells(NamedTuple):
    """Observed cells by group (a column j when H is updated, a row i when Z is): a CSR
    matrix's arrays.  Cells ``indptr[g]:indptr[g + 1]`` form group g; cell k has the other
    factor's index ``other_index[k]`` and value ``values[k]``; ``counts`` are group sizes."""

    indptr: np.ndarray
    other_index: np.ndarray
    values: np.ndarray
    counts: np.ndarray


def _cells(matrix: sp.csr_array) -> _Cells:
    """``_Cells`` of a canonical CSR matrix (pass ``X.T.tocsr()`` to group by column)."""
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    return _Cells(indptr, np.asarray(matrix.indices, dtype=np.int64),
                  np.asarray(matrix.data, dtype=np.float64), np.diff(indptr).astype(np.float64))


def _half_step_numpy(indptr, other_index, values, counts, own, other, l2, floor, out):
    """One masked multiplicative update of ``own`` (``Z``, or ``H.T``), in NumPy/SciPy.

    With ``p_k = own[g] . other[o_k]`` the model's value at cell k of group g::

        out[g] = own[g] * (sum_k x_k other[o_k])
                 / clip(sum_k p_k other[o_k] + l2 * counts[g] * own[g], floor)

    Returns ``sum_k (x_k - p_k)^2`` at the incoming factors; ``out`` may be ``own``.
    Two row gathers of the cells, then one sparse product with ``[X; P]``.
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
    out[...] = _update_in(denominator, own, both[:n_groups], floor)
    return float(residual @ residual)


def _half_step_loops(indptr, other_index, values, counts, own, other, l2, floor, out):
    """:func:`_half_step_numpy` as one pass over the cells, compiled by numba when available.

    Group by group, four cells at a time: their model values (four dot products
    sharing each load of ``own[g, c]``), then both sums; leftover cells one by
    one; then the group's row.  No fast-math, so the loop order fixes the
    rounding (it differs from the NumPy form's in the last bits only).
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
            o0, o1, o2, o3 = (other_index[k], other_index[k + 1], other_index[k + 2],
                              other_index[k + 3])
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
            out[g, c] = own[g, c] * (numerator[c]
                                     / max(denominator[c] + penalty * own[g, c], floor))
    return total


def _compile(function):
    """``numba.njit`` of ``function``, cached on disk when a cache folder is writable."""
    try:
        return numba.njit(cache=True)(function)
    except RuntimeError:  # no writable cache location: compile once per process
        return numba.njit(function)


def _jit(function):
    """``function`` compiled by numba, or ``function`` itself where numba is missing or
    switched off (then it runs as plain Python: the same numbers, far slower)."""
    return function if numba is None or numba.config.DISABLE_JIT else _compile(function)


#: The compiled kernel, or None where numba is missing or switched off.
_half_step_compiled = (None if numba is None or numba.config.DISABLE_JIT
                       else _compile(_half_step_loops))


def _kernel_matrix(X):
    """Dense or CSR by density (``_SPARSE_DENSITY``), whatever the container."""
    n, m = X.shape
    if sp.issparse(X):
        return X if X.nnz < _SPARSE_DENSITY * n * m else X.toarray()
    return sp.csr_array(X) if np.count_nonzero(X) < _SPARSE_DENSITY * n * m else X


# --- What every factorization of the package shares: start, penalty, stopping --------------

def _initialize(n: int, m: int, M: int, level: float, random_state):
    """The one random start: ``Z0`` (n, M), then ``H0`` (M, m), each ``|N(0, 1)| sqrt(level / M)``.

    ``level``, the mean absolute observed value of what ``Z @ H`` models, gives
    ``Z0 @ H0`` the data's size (its entries average ``(2 / pi) * level``).
    """
    rng = np.random.default_rng(random_state)
    scale = np.sqrt(level / M)
    Z = np.abs(rng.standard_normal((n, M))) * scale
    H = np.abs(rng.standard_normal((M, m))) * scale
    return Z, H


def _penalty(l2: float, row_counts, Z, col_counts, H) -> float:
    """``l2 * (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``: the one penalty of every model."""
    if not l2:
        return 0.0
    return l2 * float(row_counts @ np.einsum("ik,ik->i", Z, Z)
                      + col_counts @ np.einsum("kj,kj->j", H, H))


def _finished(losses: np.ndarray, t: int, n_iter: int, tol, verbose: bool, name: str) -> bool:
    """The one stopping rule and progress line, called once ``losses[t]`` is known: stop at
    ``t == n_iter``, or once an iteration lowered the objective by at most ``tol`` times
    its previous value."""
    done = t == n_iter or (tol is not None and t > 0
                           and losses[t - 1] - losses[t] <= tol * losses[t - 1])
    if verbose and (done or t % max(1, n_iter // 10) == 0):
        print(f"{name}: iteration {t:>5d} of {n_iter}, objective {losses[t]:.6e}", flush=True)
    return done


def _fixed_H(fold_into, M: int, m: int, *, non_negative: bool, kind=None):
    """``fold_into.H`` checked against the result type, the rank and the columns (None
    without a fold-in)."""
    if fold_into is None:
        return None
    kind = NMFResult if kind is None else kind
    H = getattr(fold_into, "H", None)
    ok = (isinstance(fold_into, kind) and isinstance(H, np.ndarray) and H.shape == (M, m)
          and bool(np.isfinite(H).all()) and not (non_negative and H.size and H.min() < 0))
    if not ok:
        raise ValueError(
            f"fold_into must be an earlier fit ({kind.__name__}) whose H has shape "
            f"(num_components, columns of data) = {(M, m)} with finite"
            f"{' non-negative' if non_negative else ''} entries; got {type(fold_into).__name__}"
            f" with H of shape {getattr(H, 'shape', None)}.")
    return np.array(H, dtype=np.float64)


# --- Parameter rules: one table for every factorization function ---------------------------

_INTEGER, _REAL, _FLAG = numbers.Integral, numbers.Real, (bool, np.bool_)
_NONE, _GENERATOR = (type(None),), (type(None), np.random.Generator)

#: The one rule of each parameter shared by the factorization functions:
#: (the rule in words, the accepted type, its range, other accepted types).
PARAMETER_RULES = {
    "num_components": ("an integer >= 1", _INTEGER, lambda v: v >= 1, ()),
    "n_iter": ("an integer >= 0", _INTEGER, lambda v: v >= 0, ()),
    "random_state": ("an integer >= 0, a numpy Generator or None", _INTEGER, lambda v: v >= 0,
                     _GENERATOR),
    "l2": ("a finite number >= 0", _REAL, lambda v: np.isfinite(v) and v >= 0, ()),
    "bias_l2": ("a finite number >= 0", _REAL, lambda v: np.isfinite(v) and v >= 0, ()),
    "eps": ("a finite number > 0", _REAL, lambda v: np.isfinite(v) and v > 0, ()),
    "tol": ("a finite number >= 0 or None", _REAL, lambda v: np.isfinite(v) and v >= 0, _NONE),
    "verbose": ("True or False", _FLAG, lambda v: True, ()),
    "alpha": ("a finite number >= 0", _REAL, lambda v: np.isfinite(v) and v >= 0, ()),
    "n_samples": ("an integer >= 1", _INTEGER, lambda v: v >= 1, ()),
    "burn_in": ("an integer >= 0", _INTEGER, lambda v: v >= 0, ()),
    "thin": ("an integer >= 1", _INTEGER, lambda v: v >= 1, ()),
}


def check_parameters(**values) -> dict:
    """Check keyword parameters by :data:`PARAMETER_RULES`; return them as plain Python values.

    A value of the wrong type (a string, a bool where a number is needed, a
    float for an integer) raises TypeError, a value out of range ValueError;
    both messages name the parameter, its rule and the value seen.
    """
    checked = {}
    for name, value in values.items():
        rule, kind, in_range, others = PARAMETER_RULES[name]
        if isinstance(value, others):
            checked[name] = value
            continue
        if not isinstance(value, kind) or (kind is not _FLAG and isinstance(value, _FLAG)):
            raise TypeError(f"{name} must be {rule}; got {value!r} of type "
                            f"{type(value).__name__}.")
        if not in_range(value):
            raise ValueError(f"{name} must be {rule}; got {value!r}.")
        checked[name] = {_INTEGER: int, _REAL: float, _FLAG: bool}[kind](value)
    return checked


def _check_rank(num_components, shape: tuple, fold_into=None) -> int:
    """``num_components`` as an int in ``[1, min(n, m)]``, checked before anything is allocated.

    More is never needed: ``Z = X``, ``H = I`` is an exact non-negative
    factorization of rank ``min(n, m)``.  Rows folded into an earlier fit keep
    its rank, which may exceed their number (``M <= m`` still holds).
    """
    M = check_parameters(num_components=num_components)["num_components"]
    limit, what = (shape[1], "m") if fold_into is not None else (min(shape), "min(n, m)")
    if M > limit:
        raise ValueError(f"num_components must be an integer from 1 to {what} = {limit} "
                         f"for data of shape {shape}; got {M}.")
    return M


# --- Input validation: one function for every factorization --------------------------------

class _Checked(NamedTuple):
    """float64 data: the whole matrix (dense or CSR) or, masked, CSR of the observed cells."""

    X: np.ndarray | sp.csr_array
    masked: bool


def _validate(data, mask=None, *, name: str = "data", non_negative: bool = True,
              mask_allowed: bool = True) -> _Checked:
    """Check data and mask once, for every factorization; return float64 data for the kernels.

    ``mask`` as in :func:`non_negative`; unobserved cells may hold anything.
    TypeError: non-numeric data (DataFrame columns are named) or mask.
    ValueError: not 2-D, empty, no observed cell, NaN / infinite (or, if
    ``non_negative``, negative) observed values, counted with the first one
    located, values whose squares overflow, a mask of the wrong shape or values.
    ``mask_allowed=False`` (a method needing every cell) changes the NaN hint.
    """
    labels = None
    if sp.issparse(data):
        if data.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be real and numeric; got a sparse matrix of dtype "
                            f"{data.dtype}.")
        X = sp.csr_array(data, dtype=np.float64, copy=True)
        X.sum_duplicates()
    else:
        X, labels = _to_float_array(data, name)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"{name} must be 2-D of shape (n, m); got shape {X.shape}." if X.ndim != 2
                         else f"{name} is empty: shape {X.shape}; it needs at least one row and "
                         "one column.")
    check = dict(labels=labels, name=name, non_negative=non_negative, mask_allowed=mask_allowed)
    if mask is None and not sp.issparse(X):                      # every cell, dense
        _check_values(X.ravel(), lambda k: divmod(int(k), X.shape[1]), masked=False, **check)
        return _Checked(X, False)
    if mask is None or (isinstance(mask, str) and mask == _MASK_OBSERVED):
        if sp.issparse(X):                                       # the stored entries
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            cols, values = X.indices, X.data
        else:                                                    # the non-NaN cells
            rows, cols = np.nonzero(~np.isnan(X))
            values = X[rows, cols]
        if mask is None:                                         # every cell, sparse
            _check_values(values, lambda k: (rows[k], cols[k]), masked=False, **check)
            X.eliminate_zeros()
            return _Checked(X, False)
        keep = ~np.isnan(values)
        rows, cols, values = rows[keep], cols[keep], values[keep]
    else:
        rows, cols = _mask_cells(mask, X.shape)
        values = (np.asarray(X[rows, cols], dtype=np.float64).ravel() if sp.issparse(X)
                  else X[rows, cols]) if rows.size else np.zeros(0)
    if values.size == 0:
        raise ValueError(f"{name} has no observed cell: the mask (or the sparse {name}) "
                         "selects nothing; mark at least one cell as observed.")
    _check_values(values, lambda k: (rows[k], cols[k]), masked=True, **check)
    return _Checked(_csr_from_cells(rows, cols, values, X.shape), True)


def _mask_cells(mask, shape: tuple):
    """Row and column indices (row-major order) of the cells a mask marks as observed."""
    if isinstance(mask, str):
        raise ValueError(f"mask must be None, {_MASK_OBSERVED!r}, a boolean (or 0/1) array "
                         f"or a sparse matrix; got the string {mask!r}.")
    if sp.issparse(mask):
        if mask.shape != shape:
            raise ValueError(f"mask must have the shape of data {shape}; got shape {mask.shape}.")
        pattern = sp.csr_array(mask, copy=True)
        pattern.sum_duplicates()
        return np.repeat(np.arange(shape[0]), np.diff(pattern.indptr)), pattern.indices
    array = np.asarray(mask)
    if array.shape != shape:
        raise ValueError(f"mask must have the shape of data {shape}; got shape {array.shape}.")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"mask must be boolean (True = observed) or 0/1; got dtype {array.dtype}.")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        other = array[~np.isin(array, (0, 1))][0].item()
        raise ValueError(f"mask must be boolean (True = observed) or 0/1; got dtype "
                         f"{array.dtype} with other values, e.g. {other!r}.")
    return np.nonzero(array.astype(bool))


def _to_float_array(data, name: str):
    """Return ``(array, labels)``: the float64 ndarray of ``data`` and a DataFrame's labels."""
    if hasattr(data, "dtypes") and hasattr(data, "columns") and hasattr(data, "index"):
        bad = [col for col, dtype in zip(data.columns, data.dtypes)
               if getattr(dtype, "kind", "O") not in "biuf"]
        if bad:
            raise TypeError(f"{name} has non-numeric columns {bad!r} "
                            f"(dtypes {[str(data[c].dtype) for c in bad]}); "
                            "drop them or convert them to numbers first.")
        return data.to_numpy(dtype=np.float64, na_value=np.nan), (list(data.index),
                                                                  list(data.columns))
    try:
        array = np.asarray(data)
    except ValueError as error:  # e.g. ragged nested lists
        raise ValueError(f"{name} must be a 2-D array of numbers; got {type(data).__name__} "
                         f"that NumPy cannot read as one ({error}).") from None
    if array.dtype.kind == "c":
        raise TypeError(f"{name} must be real; got complex dtype {array.dtype}.")
    try:
        return np.asarray(array, dtype=np.float64), None
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be numeric; got dtype {array.dtype} ({error}).") from None


def _check_values(values, locate, *, labels, name, masked, non_negative, mask_allowed) -> None:
    """Raise on NaN/inf, negative (if refused) or overflowing observed ``values``;
    ``locate(k)`` gives the (row, column) of ``values[k]`` for the message."""
    def where(k):
        row, col = locate(k)
        text = f"row {row}, column {col}"
        if labels is not None:   # DataFrame labels, as plain Python values
            text += " (index {!r}, column {!r})".format(
                *(v.item() if isinstance(v, np.generic) else v
                  for v in (labels[0][row], labels[1][col])))
        return f"first at {text}: {values[k]}"

    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        if masked:
            hint = "mark them as unobserved in `mask`, or fill them (e.g. DataFrame.fillna(0))"
        elif mask_allowed:
            hint = ("pass mask=\"observed\" to treat NaN as missing ratings, "
                    "or fill them first (e.g. DataFrame.fillna(0))")
        else:
            hint = "this method needs every cell: fill them first (e.g. DataFrame.fillna(0))"
        cells = " in observed cells" if masked else ""
        raise ValueError(f"{name} has {bad.size} NaN or infinite entries{cells} "
                         f"({where(bad[0])}); {hint}.")
    bad = np.flatnonzero(values < 0) if non_negative else ()
    if len(bad):
        raise ValueError(f"{name} has {len(bad)} negative entries ({where(bad[0])}); non-negative "
                         "matrix factorization needs data >= 0 - shift or clip the data first.")
    largest = float(np.abs(values).max()) if values.size else 0.0
    if largest > np.sqrt(np.finfo(np.float64).max / max(values.size, 1)):
        raise ValueError(f"{name} is too large for float64 arithmetic: its largest entry "
                         f"{largest:.3g}, squared and summed over {values.size} cells, overflows; "
                         "divide the data by a constant (e.g. its largest entry) first.")
    if 0 < largest < np.cbrt(np.finfo(np.float64).tiny):     # the factors' products underflow
        raise ValueError(f"{name} is too small for float64 arithmetic: its largest entry "
                         f"{largest:.3g}, cubed, underflows; multiply the data by a constant "
                         "(e.g. 1 / its largest entry) first.")


def _csr_from_cells(rows, cols, values, shape: tuple) -> sp.csr_array:
    """CSR matrix from cells listed in row-major order; zeros stay stored."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_array((np.asarray(values, dtype=np.float64),
                           np.asarray(cols, dtype=np.int64), indptr), shape=shape)
    matrix.has_canonical_format = True
    return matrix


def _mean_observed(checked: _Checked) -> float:
    """Mean absolute value of the observed cells (unmasked: of all n * m cells)."""
    X = checked.X
    if checked.masked:
        return float(np.abs(X.data).mean())
    total = np.abs(X.data).sum() if sp.issparse(X) else np.abs(X).sum()
    return float(total) / (X.shape[0] * X.shape[1])


# --- Comparing components ------------------------------------------------------------------

def match_components(A, B):
    """Pair each row of ``A`` (k, d) with its own row of ``B`` (l >= k, d) by cosine similarity.

    Solves the assignment problem that maximizes the summed similarity
    (``scipy.optimize.linear_sum_assignment``).  Returns ``order`` (k,), so that
    ``B[order[i]]`` is the partner of ``A[i]`` (no row of B used twice), and
    ``similarity`` (k,), each pair's cosine (0 where a row is all zero).
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

