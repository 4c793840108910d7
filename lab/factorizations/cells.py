"""What the factorizations of :mod:`lab.factorizations` share: the observed cells they fit
and the squared error there (the model's values at given cells are
:func:`lab.base.predict_cells`).

* :func:`checked`: what each iterative fit checks first (its options, its data, its rank);
  :func:`prepared` then groups the observed cells by row and by column (:class:`_Observed`);
* :func:`grouped`: the cells by row and by column;
* :func:`iterate`: the loop of the alternating fits (ALS, the biased model, implicit ALS,
  :mod:`lab.nmf`'s updates).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lab.base import (cell_rows, csr_from_cells, finished, mean_observed, predict_cells,
                      row_counts, validate)
from lab.rules import check_params, check_rank
from lab import kernels


class _Observed(NamedTuple):
    """The observed cells, by row (CSR, n x m) and by column (CSR of the transpose, m x n)."""

    by_row: sp.csr_matrix
    by_col: sp.csr_matrix
    row_counts: np.ndarray   # float64 (n,): n_i, observed cells of row i
    col_counts: np.ndarray   # float64 (m,): m_j
    level: float             # the mean absolute observed value (lab.base.mean_observed)

    @property
    def shape(self):
        return self.by_row.shape

    @property
    def rows(self) -> np.ndarray:
        """The row of each observed cell, in ``by_row``'s (row-major) order."""
        return cell_rows(self.by_row.indptr)

    def squared_error(self, Z, H, offset=None) -> float:
        """``sum_obs (x_ij - offset_ij - z_i . h_j)^2``, ``offset`` (nnz,) in row-major order:
        compiled where numba is (:func:`lab.kernels.squared_error`), else in NumPy."""
        compiled = kernels.squared_error(self.by_row.indptr, self.by_row.indices,
                                         self.by_row.data, Z, H.T, offset)
        if compiled is not None:
            return compiled
        residual = self.by_row.data - predict_cells(Z, H, self.rows, self.by_row.indices)
        if offset is not None:
            residual -= offset
        return float(residual @ residual)


#: The rank of a model without interaction (the biases alone), for :func:`prepared`.
NO_INTERACTION = object()


def checked(data, mask, num_components, rules: dict, options: dict, name: str, *,
            non_negative: bool = True):
    """What each iterative fit checks first, in this order: its options by their ``rules``
    (:func:`lab.rules.check_params`), the data and mask (:func:`lab.base.validate`), the rank
    (:func:`lab.rules.check_rank`; :data:`NO_INTERACTION`: 0).  Returns ``(checked data, rank,
    checked options)``."""
    options = check_params(rules, options, name)
    data = validate(data, mask, non_negative=non_negative)
    M = 0 if num_components is NO_INTERACTION else check_rank(num_components, data.X.shape, name)
    return data, M, options


def prepared(data, mask, num_components, rules: dict, options: dict, name: str, *,
             non_negative: bool = False):
    """:func:`checked`, then the observed cells grouped by row and by column: ``(observed
    cells, rank, checked options)``; what ``mask`` means is in :mod:`lab.factorizations`'
    docstring."""
    data, M, options = checked(data, mask, num_components, rules, options, name,
                               non_negative=non_negative)
    X = data.X
    if not data.masked:                    # every cell is observed: store them all, zeros too
        dense = X.toarray() if sp.issparse(X) else X
        rows, cols = np.indices(dense.shape).reshape(2, -1)
        X = csr_from_cells(rows, cols, dense.ravel(), dense.shape)
    by_row, by_col = grouped(X)
    return _Observed(by_row, by_col, row_counts(by_row.indptr).astype(np.float64),
                     row_counts(by_col.indptr).astype(np.float64), mean_observed(data)), M, options


def grouped(X) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The stored cells of ``X`` grouped by row (CSR) and by column (CSR of the transpose,
    indices sorted): the two orders every alternating pass runs in."""
    by_row = sp.csr_matrix(X)
    by_col = by_row.T.tocsr()
    by_col.sort_indices()
    return by_row, by_col


def iterate(objective, sweep, name: str, *, n_iter: int, tol, verbose,
            kernels_own_cores: bool = False) -> np.ndarray:
    """The loop every alternating fit runs: ``losses[0] = objective()`` at the start, then one
    ``sweep()`` at a time (it updates the fit's factors and returns the new objective) until
    :func:`lab.base.finished` says stop.  Returns the objectives recorded, ``losses[t]`` after
    t sweeps.  With ``kernels_own_cores`` (sweeps of the compiled kernels) BLAS is held to one
    thread throughout (:func:`lab.kernels.single_threaded_blas`)."""
    with kernels.single_threaded_blas() if kernels_own_cores else contextlib.nullcontext():
        losses = np.empty(n_iter + 1)
        losses[0] = objective()
        t = 0
        while not finished(losses, t, n_iter, tol, verbose, name):
            t += 1
            losses[t] = sweep()
    return losses[: t + 1]
