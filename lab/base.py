"""The bottom of the lab: what its models and factorizations share (their parameters'
rules are :mod:`lab.rules`').

* **Input validation.**  :func:`validate`, the one input check of every factorization of
  the lab (the general NMF's every-cell path then hands the checked data to the exercise's
  :func:`nmf_core.as_matrix`, for its rule of when to multiply as CSR); its messages, and
  the lab's, write a NumPy scalar as Python's (:func:`plain`).
* **The iteration.**  :func:`start_or_fixed`: the exercise's start, :func:`nmf_core.start`,
  or H held for a fold-in (:func:`held`); :func:`penalty` (the count-scaled L2 penalty of
  ALS-WR); :func:`finished` (stop after ``n_iter`` steps or a relative decrease of at most
  ``tol``; the progress line of ``verbose``).
* **The results.**  :class:`FitResult` (``Z @ H``) and :class:`DenseScores` (a score
  matrix), each answering ``scores(rows)`` and ``predict(rows, cols)``.
* **The cells of a CSR matrix.**  :func:`cell_rows` (the row of each cell),
  :func:`row_counts` and :func:`column_counts` (the cells of each row, of each column),
  :func:`ones_at` (who rated what).

A factorization that departs from one of these says so in its own docstring.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

import nmf_core

_MASK_OBSERVED = "observed"


# --- What every fit of the lab answers ---------------------------------------------------------
# Each result type of the lab (FitResult here; BiasedResult, PosteriorMean and ItemWeights in
# lab.factorizations) answers scores(rows), every column of the rows asked for, and
# predict(rows, cols), the cells asked for only: what a model asks of its fit to score.

_PREDICT_CHUNK = 1 << 19  # cells handled at a time when predicting


def cells_from_rows(score_rows, rows, cols) -> np.ndarray:
    """Scores at the cells ``(rows[t], cols[t])`` from ``score_rows(unique_rows)`` (one
    score row per distinct row asked for, every column), each row scored once."""
    unique, inverse = np.unique(np.asarray(rows, dtype=np.intp), return_inverse=True)
    return score_rows(unique)[inverse, np.asarray(cols, dtype=np.intp)]


def predict_cells(Z, H, rows, cols, chunk=_PREDICT_CHUNK) -> np.ndarray:
    """Values of ``Z @ H`` at the cells ``(rows[t], cols[t])`` only, ``chunk`` cells at a time
    (memory ``O(chunk * M)``), shape ``(len(rows),)``."""
    rows = np.asarray(rows, dtype=np.intp)
    cols = np.asarray(cols, dtype=np.intp)
    out = np.empty(rows.shape[0], dtype=np.float64)
    Ht = np.ascontiguousarray(H.T)
    size = min(rows.shape[0], chunk)
    Z_rows, H_rows = np.empty((size, Z.shape[1])), np.empty((size, Z.shape[1]))
    for start in range(0, rows.shape[0], chunk):
        k = min(start + chunk, rows.shape[0]) - start
        np.take(Z, rows[start:start + k], axis=0, out=Z_rows[:k])          # into buffers:
        np.take(Ht, cols[start:start + k], axis=0, out=H_rows[:k])         # no allocation
        np.einsum("nk,nk->n", Z_rows[:k], H_rows[:k], out=out[start:start + k])
    return out


def cell_rows(indptr) -> np.ndarray:
    """The row of each stored cell of a CSR matrix with row pointers ``indptr``, in order."""
    return np.repeat(np.arange(len(indptr) - 1), row_counts(indptr))


def row_counts(indptr) -> np.ndarray:
    """The number of stored cells in each row of a CSR matrix with row pointers ``indptr``
    (of each column, given a CSC matrix's, or those of the transpose as CSR)."""
    return np.diff(np.asarray(indptr))


def column_counts(matrix) -> np.ndarray:
    """The number of stored cells in each column of a CSR matrix."""
    return np.bincount(matrix.indices, minlength=matrix.shape[1])


def ones_at(matrix) -> sp.csr_matrix:
    """The stored cells of a CSR matrix with every value 1.0: who rated what, not the stars."""
    return sp.csr_matrix((np.ones(matrix.nnz), matrix.indices, matrix.indptr),
                         shape=matrix.shape)


class FitResult(nmf_core.NMFResult):
    """``X ~ Z @ H``: ``Z`` (n, M), ``H`` (M, m), ``losses[t]`` the objective after t steps
    (``losses[0]`` the start).  A subclass of the exercise's :class:`nmf_core.NMFResult`,
    so ``lab.nmf.non_negative(..., fold_into=...)`` accepts it."""

    __slots__ = ()

    def scores(self, rows) -> np.ndarray:
        """``Z @ H`` for the rows asked for, shape (len(rows), m)."""
        return self.Z[np.asarray(rows, dtype=np.intp)] @ self.H

    def predict(self, rows, cols) -> np.ndarray:
        """``Z @ H`` at the cells ``(rows[t], cols[t])``, shape ``(len(rows),)``."""
        return predict_cells(self.Z, self.H, rows, cols)


class DenseScores:
    """A fit that is its score matrix (another library's predictions, a sum of models, a
    posterior mean, a constant broadcast to every cell): ``values`` (n, m); ``losses``
    empty (no objective recorded)."""

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray):
        self.values = values

    @property
    def losses(self) -> np.ndarray:
        return np.empty(0)

    def scores(self, rows) -> np.ndarray:
        """The rows asked for, shape (len(rows), m)."""
        return self.values[np.asarray(rows, dtype=np.intp)]

    def predict(self, rows, cols) -> np.ndarray:
        """The values at the cells ``(rows[t], cols[t])``, shape ``(len(rows),)``."""
        return self.values[np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)]


# --- The iteration: penalty, stopping rule, fixed columns -------------------------------

def penalty(l2: float, row_counts, Z, col_counts, H) -> float:
    """``l2 * (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``, ``n_i`` and ``m_j`` the
    observed cells of row i and column j (the penalty of ALS-WR, Zhou et al. 2008)."""
    if not l2:
        return 0.0
    return l2 * float(row_counts @ np.einsum("ik,ik->i", Z, Z)
                      + col_counts @ np.einsum("kj,kj->j", H, H))


def finished(losses: np.ndarray, t: int, n_iter: int, tol, verbose: bool, name: str) -> bool:
    """The stopping rule and progress line, called once ``losses[t]`` is known: stop at
    ``t == n_iter``, or once an iteration lowered the objective by at most ``tol`` times
    its previous value."""
    done = t == n_iter or (tol is not None and t > 0
                           and losses[t - 1] - losses[t] <= tol * losses[t - 1])
    if verbose and (done or t % max(1, n_iter // 10) == 0):
        print(f"{name}: iteration {t:>5d} of {n_iter}, objective {losses[t]:.6e}", flush=True)
    return done


def held(fold_into, kind, shapes: dict, *, non_negative=()) -> list:
    """The arrays that a fold-in holds fixed, ``fold_into.<name>`` for each name of ``shapes``,
    as float64 copies; ValueError unless ``fold_into`` is an earlier fit of type ``kind`` whose
    arrays have those shapes and finite entries, >= 0 for the names in ``non_negative``."""
    found = {name: np.asarray(getattr(fold_into, name, np.nan)) for name in shapes}
    ok = isinstance(fold_into, kind) and all(
        a.dtype.kind in "biuf" and a.shape == shapes[name] and bool(np.isfinite(a).all())
        and not (name in non_negative and a.size and a.min() < 0) for name, a in found.items())
    if not ok:
        wanted = " and ".join(f"{name} has shape {shape}" for name, shape in shapes.items())
        seen = ", ".join(f"{name} of shape {a.shape}" for name, a in found.items())
        raise ValueError(f"fold_into must be an earlier fit ({kind.__name__}) whose {wanted} with "
                         f"finite{' non-negative' if non_negative else ''} entries; got "
                         f"{type(fold_into).__name__} with {seen}. Fold into a fit of this "
                         "function on the same columns and number of components.")
    return [np.array(a, dtype=np.float64) for a in found.values()]


def start_or_fixed(shape: tuple, M: int, level: float, random_state, fold_into, *,
                   non_negative: bool, kind=None):
    """The start of an iterative fit, ``(Z, H, fixed)``: :func:`nmf_core.start` at ``level``
    (zero-width factors for M = 0); folding in, H is ``fold_into``'s (checked by :func:`held`,
    an :class:`nmf_core.NMFResult` unless ``kind`` says otherwise) and ``fixed`` is True: only
    Z is fitted."""
    fixed = fold_into is not None
    if fixed:                                   # checked before anything is drawn
        H_held, = held(fold_into, nmf_core.NMFResult if kind is None else kind,
                       {"H": (M, shape[1])}, non_negative=("H",) if non_negative else ())
    Z, H = (nmf_core.start(shape, M, level, random_state) if M else
            (np.zeros((shape[0], 0)), np.zeros((0, shape[1]))))
    return Z, (H_held if fixed else H), fixed


# --- Input validation: one function for every factorization of the lab ------------------

class Checked(NamedTuple):
    """float64 data: the whole matrix (dense or CSR) or, masked, CSR of the observed cells."""

    X: np.ndarray | sp.csr_array
    masked: bool


def validate(data, mask=None, *, name: str = "data", non_negative: bool = True,
              mask_allowed: bool = True) -> Checked:
    """Check data and mask once, for every factorization; return float64 data for the kernels.

    ``mask``: None (every cell observed), "observed" (the non-NaN cells, or a sparse matrix's
    stored entries), or a boolean (0/1) array or sparse matrix of data's shape (its True
    cells, or stored entries); unobserved cells may hold anything.
    TypeError: non-numeric data (DataFrame columns are named) or mask.
    ValueError: not 2-D, empty, no observed cell, NaN / infinite (or, if
    ``non_negative``, negative) observed values, counted with the first one
    located, values whose squares overflow, a mask of the wrong shape or values.
    ``mask_allowed=False`` (a method needing every cell) changes the NaN hint.
    (The exercise's ``nmf_core`` checks its own data: it refuses NaN and has no mask, which
    the lab's fits take.)
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
        return Checked(X, False)
    if mask is None or (isinstance(mask, str) and mask == _MASK_OBSERVED):
        if sp.issparse(X):                                       # the stored entries
            rows = cell_rows(X.indptr)
            cols, values = X.indices, X.data
        else:                                                    # the non-NaN cells
            rows, cols = np.nonzero(~np.isnan(X))
            values = X[rows, cols]
        if mask is None:                                         # every cell, sparse
            _check_values(values, lambda k: (rows[k], cols[k]), masked=False, **check)
            X.eliminate_zeros()
            return Checked(X, False)
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
    return Checked(csr_from_cells(rows, cols, values, X.shape), True)


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
        return cell_rows(pattern.indptr), pattern.indices
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


def plain(value):
    """A numpy scalar as plain Python, so that messages read ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _check_values(values, locate, *, labels, name, masked, non_negative, mask_allowed) -> None:
    """Raise on NaN/inf, negative (if refused) or overflowing observed ``values``;
    ``locate(k)`` gives the (row, column) of ``values[k]`` for the message."""
    def where(k):
        row, col = locate(k)
        text = f"row {row}, column {col}"
        if labels is not None:   # DataFrame labels, as plain Python values
            text += f" (index {plain(labels[0][row])!r}, column {plain(labels[1][col])!r})"
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


def csr_from_cells(rows, cols, values, shape: tuple) -> sp.csr_array:
    """CSR matrix from cells listed in row-major order; zeros stay stored."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_array((np.asarray(values, dtype=np.float64),
                           np.asarray(cols, dtype=np.int64), indptr), shape=shape)
    matrix.has_canonical_format = True
    return matrix


def mean_observed(checked: Checked) -> float:
    """Mean absolute value of the observed cells (unmasked: of all n * m cells), the level
    of the start; ``nmf_core.non_negative`` takes the mean entry of all cells, having no mask."""
    X = checked.X
    if checked.masked:
        return float(np.abs(X.data).mean())
    total = np.abs(X.data).sum() if sp.issparse(X) else np.abs(X).sum()
    return float(total) / (X.shape[0] * X.shape[1])
