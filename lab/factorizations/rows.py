"""The exact row solves of ALS, NNLS-ALS and the biased model, and the NumPy form of them.

Both ALS variants (:mod:`lab.factorizations.alternating`) and the biased model
(:mod:`lab.factorizations.biased`) solve, for each row of one side, a small M x M problem
against the other side held fixed.  :func:`_update_side` runs such a half-step: the compiled
row solves of :mod:`lab.kernels` first where numba is (:func:`_solve_compiled`, the bridge
to :func:`lab.kernels._solve_rows_loops`), then the rows they leave, or every row without
numba, block by block (:func:`_blocks`) in NumPy: :func:`_normal_equations` forms each row's
normal equations, :func:`_solve_ridge` or :func:`_solve_nonneg` solves them.
:func:`_solve_nonneg` also serves the implicit-feedback model
(:mod:`lab.factorizations.implicit`).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from lab import kernels


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


def _update_side(values, F, reg, empty, nonnegative, previous):
    """New factors for every row of ``values`` (n, m) against fixed ``F`` (m, M).

    Row r minimizes ``||v_r - F_J x||^2 + reg[r] ||x||^2`` over its observed columns J,
    with ``x >= 0`` when ``nonnegative``; ``previous`` (n, M), the current factors, warm-starts
    the non-negative solver.  Compiled where numba is (:func:`lab.kernels._solve_rows_loops`:
    one pass per row on all cores); the rows it leaves unsettled, or all rows without numba,
    are solved block by block in NumPy (:func:`_normal_equations`, then :func:`_solve_nonneg`
    or :func:`_solve_ridge`).  Also returns the residual sum of squares
    ``sum_r ||v_r - F_J x_r||^2`` at the new factors, from the normal equations (no second
    pass over the cells), summed in row order.
    """
    n, M = values.shape[0], F.shape[1]
    out, squares = np.empty((n, M)), np.empty(n)
    pending = _solve_compiled(values, F, reg, nonnegative, previous, out, squares)
    for rows in _blocks(pending, n):
        G, b, _, _, tt = _normal_equations(values[rows], F)
        x = out[rows] = (_solve_nonneg(G, b, reg[rows], empty[rows], previous[rows])
                         if nonnegative else _solve_ridge(G, b, reg[rows], empty[rows]))
        squares[rows] = (tt - 2 * np.einsum("nk,nk->n", x, b)
                         + np.einsum("nk,nkl,nl->n", x, G, x))
    return out, float(squares.sum())


def _solve_compiled(values, F, reg, nonnegative, previous, out, squares, *, mu=0.0,
                    bias_other=None, bias_l2=0.0, bias_out=None):
    """Run the compiled row solves (:func:`lab.kernels._solve_rows_loops`) into ``out``,
    ``squares`` (and ``bias_out`` when ``bias_other`` is given); returns the rows left for
    the NumPy form: None for all of them (numba missing or switched off)."""
    if kernels._solve_rows_compiled is None:
        return None
    kernel = kernels.solve_rows
    n = values.shape[0]
    settled = np.empty(n, dtype=np.bool_)
    with_bias = bias_other is not None
    kernel(values.indptr, values.indices, np.asarray(values.data, dtype=np.float64),
           np.ascontiguousarray(F, dtype=np.float64), np.asarray(reg, dtype=np.float64),
           float(mu), bias_other if with_bias else np.zeros(1), float(bias_l2), with_bias,
           bool(nonnegative), np.ascontiguousarray(previous, dtype=np.float64), out,
           bias_out if with_bias else np.empty(n), squares, settled)
    return np.flatnonzero(~settled)


def _blocks(pending, n):
    """Row selections of at most ``_ROW_BLOCK`` rows: of ``pending`` (an index array), or of
    all ``n`` rows (slices) when ``pending`` is None."""
    if pending is None:
        return [slice(start, min(start + _ROW_BLOCK, n)) for start in range(0, n, _ROW_BLOCK)]
    return [pending[start:start + _ROW_BLOCK] for start in range(0, pending.size, _ROW_BLOCK)]


def _solve_ridge(G, b, reg, empty):
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
