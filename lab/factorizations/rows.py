"""The exact row solves of ALS, NNLS-ALS and the biased model, and the NumPy form of them.

Both ALS variants (:mod:`lab.factorizations.alternating`) and the biased model
(:mod:`lab.factorizations.biased`) solve, for each row of one side, a small M x M problem
against the other side held fixed.  :func:`update_side` runs such a half-step: the compiled
row solves first where numba is (:func:`solve_compiled`), then the rows they leave, or every
row without numba, block by block (:func:`row_blocks`) in NumPy: :func:`normal_equations`
forms each row's normal equations, :func:`_solve_ridge` or :func:`solve_nonneg` solves them.
:func:`solve_nonneg` also serves the implicit-feedback model
(:mod:`lab.factorizations.implicit`).

Compiled (the last part of this module, under :mod:`lab.kernels`' rules),
:func:`_solve_rows_loops` forms each row's normal equations in one pass over its cells and
solves them at once: by Cholesky (:func:`_cholesky_solve`) or, kept non-negative, by the
active-set method (:func:`_nonnegative_solve`).  Rows are shared out among all cores, each
formed and solved by one thread in a fixed order, so the numbers do not depend on the
number of threads.  Tests compare the two forms, and both non-negative solvers with SciPy's
NNLS.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from lab.base import row_counts
from lab.kernels import (PREFETCH_AHEAD, compiled, jit, kernel, prange,
                         prefetch_row, single_threaded_blas)


_GATHER = 1 << 12  # padded cells gathered at once when forming normal equations


def normal_equations(values, F):
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
    counts = row_counts(values.indptr)
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


def update_side(values, F, reg, nonnegative, previous, *, mu=0.0, bias_other=None, bias_l2=0.0):
    """New factors for every row of ``values`` (n, m) against fixed ``F`` (m, M).

    Row r minimizes ``||v_r - F_J x||^2 + reg[r] ||x||^2`` over its observed columns J,
    with ``x >= 0`` when ``nonnegative``; ``previous`` (n, M), the current factors, warm-starts
    the non-negative solver.  With ``bias_other`` (the biased model's half-step) each row
    also has a free bias ``c`` penalized by ``bias_l2``: the target is
    ``t = v - mu - bias_other[J]``, the bias is eliminated in closed form (its Schur
    complement), then ``c = (sum t - (sum_J F_J) x) / (n_r + bias_l2)``.  Compiled where
    numba is (:func:`_solve_rows_loops`: one pass per row on all cores); the rows it leaves
    unsettled, or all rows without numba, are solved block by block in NumPy
    (:func:`normal_equations`, then :func:`solve_nonneg` or :func:`_solve_ridge`).  Returns
    the factors, the biases (None without ``bias_other``) and the residual sum of squares
    ``sum_r ||t_r - F_J x_r - c_r||^2`` at them, from the normal equations (no second pass
    over the cells), summed in row order.
    """
    n, M = values.shape[0], F.shape[1]
    with_bias = bias_other is not None
    out, squares, bias = np.empty((n, M)), np.empty(n), np.empty(n) if with_bias else None
    pending = solve_compiled(values, F, reg, nonnegative, previous, out, squares, mu=mu,
                             bias_other=bias_other, bias_l2=bias_l2, bias_out=bias)
    if pending is not None and pending.size == 0:
        return out, bias, float(squares.sum())
    if with_bias:                                  # the targets t
        values = sp.csr_matrix((values.data - mu - bias_other[values.indices], values.indices,
                                values.indptr), shape=values.shape, copy=False)
    counts = row_counts(values.indptr)
    empty = counts == 0                            # rows without cells: factors (and bias) 0
    for rows in row_blocks(pending, n):
        # F_J'F_J, F_J't, F_J'1, sum t, t't
        G, b, g, t_sum, tt = normal_equations(values[rows], F)
        A, rhs, c, gx = G, b, 0.0, 0.0
        if with_bias:
            denom = np.where(empty[rows], 1.0, counts[rows] + bias_l2)
            A = G - g[:, :, None] * g[:, None, :] / denom[:, None, None]
            rhs = b - g * (t_sum / denom)[:, None]
        x = out[rows] = (np.zeros((len(tt), 0)) if M == 0 else
                         solve_nonneg(A, rhs, reg[rows], empty[rows], previous[rows])
                         if nonnegative else _solve_ridge(A, rhs, reg[rows], empty[rows]))
        if with_bias:
            gx = np.einsum("nk,nk->n", g, x)
            c = bias[rows] = np.where(empty[rows], 0.0, (t_sum - gx) / denom)
        squares[rows] = (tt - 2 * np.einsum("nk,nk->n", x, b) - 2 * c * t_sum
                         + np.einsum("nk,nkl,nl->n", x, G, x) + 2 * c * gx
                         + counts[rows] * c * c)
    return out, bias, float(squares.sum())


def solve_compiled(values, F, reg, nonnegative, previous, out, squares, *, mu=0.0,
                    bias_other=None, bias_l2=0.0, bias_out=None):
    """Run the compiled row solves (:func:`_solve_rows_loops`) into ``out``,
    ``squares`` (and ``bias_out`` when ``bias_other`` is given); returns the rows left for
    the NumPy form: None for all of them (numba missing or switched off)."""
    if compiled(_solve_rows_compiled) is None:
        return None
    n = values.shape[0]
    settled = np.empty(n, dtype=np.bool_)
    with_bias = bias_other is not None
    solve_rows(values.indptr, values.indices, np.asarray(values.data, dtype=np.float64),
               np.ascontiguousarray(F, dtype=np.float64), np.asarray(reg, dtype=np.float64),
               float(mu), bias_other if with_bias else np.zeros(1), float(bias_l2), with_bias,
               bool(nonnegative), np.ascontiguousarray(previous, dtype=np.float64), out,
               bias_out if with_bias else np.empty(n), squares, settled)
    return np.flatnonzero(~settled)


def row_blocks(pending, n):
    """Row selections of at most ``_ROW_BLOCK`` rows: of ``pending`` (an index array), or of
    all ``n`` rows (slices) when ``pending`` is None."""
    if pending is None:
        return [slice(start, min(start + _ROW_BLOCK, n)) for start in range(0, n, _ROW_BLOCK)]
    return [pending[start:start + _ROW_BLOCK] for start in range(0, pending.size, _ROW_BLOCK)]


def _regularized(G, b, reg, empty):
    """``(G + reg I, b)`` of a stack of rows, a row without cells made ``(I, 0)``: its
    solution is 0."""
    M = G.shape[1]
    A = G + reg[:, None, None] * np.eye(M)
    A[empty] = np.eye(M)
    rhs = b.copy()
    rhs[empty] = 0.0
    return A, rhs


def _solve_ridge(G, b, reg, empty):
    """Unconstrained minimizers of ``x'Gx - 2b'x + reg ||x||^2`` for a stack of rows."""
    A, rhs = _regularized(G, b, reg, empty)
    try:
        return np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:               # l2 = 0 and a row with too few cells
        return np.stack([np.linalg.lstsq(A[r], rhs[r], rcond=None)[0] for r in range(len(A))])


#: Rounds of :func:`solve_nonneg`'s batched active-set pass before the rows left go to
#: scipy's NNLS.
ACTIVE_SET_ROUNDS = 12


def solve_nonneg(G, b, reg, empty, start):
    """Exact minimizers over ``x >= 0`` of ``x'(G + reg I)x - 2b'x`` for a stack of rows.

    A batched active-set pass first: solve on the free variables of every row
    at once, drop variables that came out negative, re-admit fixed ones whose
    gradient says they should grow.  A row is accepted only when it satisfies
    the optimality (KKT) conditions ``x >= 0``, ``(b - A x)_k = 0`` where
    ``x_k > 0`` and ``<= 0`` where ``x_k = 0`` -- sufficient for this convex
    problem.  ``start`` (n, M), the previous iterate, gives the first guess of the
    free set (its positive entries).  The rare rows not settled after :data:`ACTIVE_SET_ROUNDS`
    (and every row of a block with a singular system, possible when l2 = 0)
    are solved by scipy's NNLS (Lawson-Hanson) on the square-root form
    ``min ||S x - y||^2`` with ``A = G + reg I = S'S`` from A's eigenvalues.
    """
    n, M = b.shape
    eye = np.eye(M, dtype=bool)
    A, rhs = _regularized(G, b, reg, empty)
    scale = np.abs(rhs).max(axis=1, keepdims=True) + np.abs(A).max(axis=(1, 2))[:, None] + 1e-300
    # warm start: the previous solution's support (the active set moves little)
    free = start > 0
    x = np.zeros((n, M))
    pending = np.arange(n)
    for _ in range(ACTIVE_SET_ROUNDS):
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


# ---------------------------------------------------------------- compiled
# One pass over the cells of each row forms its normal equations and solves them at once.

def _solve_rows_loops(indptr, other_index, values, F, reg, mu, bias_other, bias_l2,
                      with_bias, nonnegative, previous, out, bias_out, squares_out, settled):
    """Row r of ``out`` (and ``bias_out[r]`` when ``with_bias``): the exact minimizer over
    the row's cells k (other index ``o_k``, target ``t_k = values[k]``, less ``mu +
    bias_other[o_k]`` when ``with_bias``) of ::

        sum_k (t_k - F[o_k] . x - c)^2 + reg[r] ||x||^2 + bias_l2 c^2   (c = 0 without bias)

    with ``x >= 0`` when ``nonnegative`` (:func:`_nonnegative_solve`, warm-started from
    ``previous[r]``), else by Cholesky (:func:`_cholesky_solve`).  The bias is eliminated
    first (Schur complement), then ``c = (sum t - (sum F[o_k]) . x) / (n_r + bias_l2)``.
    ``squares_out[r]`` is the row's squared error at the solution, from the normal
    equations.  A row whose system is not positive definite enough for the compiled solve
    (``l2 = 0`` and fewer cells than components) gets ``settled[r] = False`` and is left to
    the NumPy form.  Rows are shared out among the cores (``prange``); each is formed and
    solved by one thread: its cells' rows of F gathered in order (asked for ``PREFETCH_AHEAD`` cells
    ahead; summing ``b``, ``g`` and
    the targets on the way), ``G = F_J' F_J`` by one BLAS matrix product, then the solve,
    so the result does not depend on the number of threads.
    """
    n_rows, M = out.shape
    for r in prange(n_rows):
        start, end = indptr[r], indptr[r + 1]
        rows = np.empty((end - start, M))  # F[o_k] of the row's cells: G by one BLAS product
        b = np.zeros(M)                # sum t F[o]
        g = np.zeros(M)                # sum F[o]
        t_sum = 0.0
        tt = 0.0
        for k in range(start, end):
            if k + PREFETCH_AHEAD < end:
                prefetch_row(F, other_index[k + PREFETCH_AHEAD])
            o, t = other_index[k], values[k]
            if with_bias:
                t -= mu + bias_other[o]
            t_sum += t
            tt += t * t
            for c in range(M):
                a = F[o, c]
                rows[k - start, c] = a
                b[c] += t * a
                g[c] += a
        G = np.dot(rows.T, rows)       # sum F[o]' F[o]
        count = end - start
        denominator = count + bias_l2 if with_bias and count > 0 else 1.0
        A = np.empty((M, M))
        rhs = np.empty(M)
        for c in range(M):
            rhs[c] = b[c] - g[c] * (t_sum / denominator) if with_bias else b[c]
            for d in range(M):
                A[c, d] = G[c, d] - g[c] * g[d] / denominator if with_bias else G[c, d]
            A[c, c] += reg[r]
        x = np.zeros(M)
        if count == 0:                 # no cells: zero factors and bias
            ok = True
        elif nonnegative:
            for c in range(M):
                x[c] = max(previous[r, c], 0.0)
            ok = _nonnegative_solve(A, rhs, x)
        else:
            ok = _cholesky_solve(A, rhs, x)
        settled[r] = ok
        gx = 0.0
        bx = 0.0
        xGx = 0.0
        for c in range(M):
            out[r, c] = x[c]
            gx += g[c] * x[c]
            bx += b[c] * x[c]
            row = 0.0
            for d in range(M):
                row += G[c, d] * x[d]
            xGx += x[c] * row
        bias = (t_sum - gx) / denominator if with_bias and count > 0 else 0.0
        bias_out[r] = bias
        # ||t - F x - c||^2 expanded
        squares_out[r] = (tt - 2.0 * bx + xGx - 2.0 * bias * t_sum + 2.0 * bias * gx
                          + count * bias * bias)


def _cholesky_solve(A, rhs, x, free=None):
    """``x[free] = A[free, free]^{-1} rhs[free]`` by Cholesky, the other entries 0; every
    entry free when ``free`` is None.  False (x untouched) when a pivot is not clearly
    positive (below ``1e-10`` of its diagonal entry): A is singular there."""
    M = rhs.size
    index = np.empty(M, dtype=np.int64)
    p = 0
    for c in range(M):
        if free is None or free[c]:
            index[p] = c
            p += 1
    L = np.zeros((p, p))
    for j in range(p):
        diagonal = A[index[j], index[j]]
        pivot = diagonal
        for q in range(j):
            pivot -= L[j, q] * L[j, q]
        if not pivot > 1e-10 * abs(diagonal):
            return False
        L[j, j] = np.sqrt(pivot)
        for i in range(j + 1, p):
            s = A[index[i], index[j]]
            for q in range(j):
                s -= L[i, q] * L[j, q]
            L[i, j] = s / L[j, j]
    y = np.empty(p)
    for j in range(p):                       # L y = rhs
        s = rhs[index[j]]
        for q in range(j):
            s -= L[j, q] * y[q]
        y[j] = s / L[j, j]
    for j in range(p - 1, -1, -1):           # L' z = y
        s = y[j]
        for q in range(j + 1, p):
            s -= L[q, j] * y[q]
        y[j] = s / L[j, j]
    for c in range(M):
        x[c] = 0.0
    for j in range(p):
        x[index[j]] = y[j]
    return True


#: Steps of the compiled active-set method before a row is left to the NumPy form.
ACTIVE_SET_STEPS = 100


def _nonnegative_solve(A, rhs, x):
    """The minimizer over ``x >= 0`` of ``x'Ax - 2 rhs'x`` (A positive definite), by the
    active-set method of Lawson & Hanson in normal-equation form (Bro & De Jong 1997),
    started from the feasible ``x`` given (the previous iterate: its support moves little).

    Solve on the free set; if some free entry came out <= 0, step from ``x`` towards that
    solution as far as stays feasible and fix the entries that reached 0; once the solution
    is positive, free the fixed entry whose gradient ``(rhs - A x)_k`` is largest, until
    none exceeds ``1e-9 (max|rhs| + max|A|)`` (the tolerance of the NumPy form).  Returns
    False when a system is singular or after :data:`ACTIVE_SET_STEPS` (then the NumPy form
    decides).
    """
    M = rhs.size
    scale = 0.0
    for c in range(M):
        scale = max(scale, abs(rhs[c]))
    largest = 0.0
    for c in range(M):
        for d in range(M):
            largest = max(largest, abs(A[c, d]))
    tolerance = 1e-9 * (scale + largest + 1e-300)
    free = np.zeros(M, dtype=np.bool_)
    for c in range(M):
        free[c] = x[c] > 0.0
    s = np.empty(M)
    for _ in range(ACTIVE_SET_STEPS):
        if not _cholesky_solve(A, rhs, s, free):
            return False
        step = 1.0
        blocking = -1
        for c in range(M):
            if free[c] and s[c] <= 0.0:
                gap = x[c] - s[c]
                ratio = x[c] / gap if gap > 0.0 else 0.0
                if blocking < 0 or ratio < step:
                    step, blocking = ratio, c
        if blocking >= 0:                    # back to feasibility, fix what reached 0
            for c in range(M):
                if free[c]:
                    x[c] += step * (s[c] - x[c])
            x[blocking] = 0.0
            for c in range(M):
                if free[c] and x[c] <= 0.0:
                    free[c] = False
                    x[c] = 0.0
            continue
        for c in range(M):
            x[c] = s[c]
        grow = -1
        best = tolerance
        for c in range(M):
            if not free[c]:
                gradient = rhs[c]
                for d in range(M):
                    gradient -= A[c, d] * x[d]
                if gradient > best:
                    best, grow = gradient, c
        if grow < 0:
            return True
        free[grow] = True
    return False


#: The compiled row solves.  Where numba is missing or switched off, the two helpers stay plain
#: Python (jit) and the batch kernel is None (kernel): every row is then solved in NumPy form.
_cholesky_solve, _nonnegative_solve = jit(_cholesky_solve), jit(_nonnegative_solve)
_solve_rows_compiled = kernel(_solve_rows_loops)


def solve_rows(*arguments) -> None:
    """:func:`_solve_rows_loops`, compiled (where it is), BLAS on one thread for the call
    (each row's Gram matrix is one BLAS product inside numba's parallel loop)."""
    with single_threaded_blas():
        _solve_rows_compiled(*arguments)
