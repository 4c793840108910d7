"""placeholder"""

# ============================================================================
# Alternative models for observed-entry factorization (issue 5).
#
# Every algorithm below works on the *observed* cells of a ratings matrix held
# as a sparse matrix: predictions are only ever formed at observed cells, in
# chunks, so nothing dense of size users x movies is built.  Each public
# function validates its input once, then calls small private kernels.
# ============================================================================

from typing import NamedTuple as _NamedTuple

import numpy as _np
import scipy.sparse as _sp
from scipy.optimize import nnls as _nnls
from scipy.sparse.linalg import svds as _svds

_CHUNK = 1 << 19  # observed cells handled at a time when predicting


class FactorResult(_NamedTuple):
    """A low-rank factorization ``X ~ Z @ H`` and its objective history.

    Attributes
    ----------
    Z : ndarray of shape (n_rows, num_components)
    H : ndarray of shape (num_components, n_cols)
    losses : ndarray of shape (n_done,)
        The objective after each iteration (one value for a direct method).
    """

    Z: _np.ndarray
    H: _np.ndarray
    losses: _np.ndarray


class BiasedResult(_NamedTuple):
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
    user_bias: _np.ndarray
    item_bias: _np.ndarray
    Z: _np.ndarray
    H: _np.ndarray
    losses: _np.ndarray

    def predict(self, rows, cols):
        """Predicted values at cells ``(rows[t], cols[t])``; shape ``(len(rows),)``."""
        rows = _np.asarray(rows, dtype=_np.intp)
        cols = _np.asarray(cols, dtype=_np.intp)
        return (self.mu + self.user_bias[rows] + self.item_bias[cols]
                + predict_cells(self.Z, self.H, rows, cols))


def predict_cells(Z, H, rows, cols, chunk=_CHUNK):
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
    rows = _np.asarray(rows, dtype=_np.intp)
    cols = _np.asarray(cols, dtype=_np.intp)
    out = _np.empty(rows.shape[0], dtype=_np.float64)
    Ht = _np.ascontiguousarray(H.T)
    for start in range(0, rows.shape[0], chunk):
        stop = start + chunk
        out[start:stop] = _np.einsum("nk,nk->n", Z[rows[start:stop]], Ht[cols[start:stop]])
    return out


# ---------------------------------------------------------------- validation
def _check_components(num_components, shape, name="num_components"):
    if isinstance(num_components, bool) or not isinstance(num_components, (int, _np.integer)):
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
    if not _np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return number


def _check_n_iter(n_iter):
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, _np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}.")
    return int(n_iter)


class _Observed(_NamedTuple):
    """Observed cells in row-major (``by_row``) and column-major (``by_col``) CSR form."""

    by_row: _sp.csr_matrix   # (n_rows, n_cols)
    by_col: _sp.csr_matrix   # (n_cols, n_rows), the transpose
    rows: _np.ndarray        # (nnz,) row index of each cell, row-major order
    cols: _np.ndarray        # (nnz,) column index of each cell
    values: _np.ndarray      # (nnz,)

    @property
    def shape(self):
        return self.by_row.shape


def _observed_cells(data, mask, *, require_non_negative):
    """Validate ``data``/``mask`` and return the observed cells; never densifies a sparse input.

    ``mask=None`` means: every cell of a dense ``data`` is observed, and for a
    sparse ``data`` the stored entries are.  Otherwise ``mask`` (boolean array or
    sparse matrix of the same shape) marks the observed cells.
    """
    if _sp.issparse(data):
        if data.ndim != 2:
            raise ValueError(f"data must be 2-D, got shape {data.shape}.")
        shape = data.shape
        if mask is None:
            coo = data.tocoo()
            rows, cols, values = coo.row, coo.col, coo.data.astype(_np.float64)
        else:
            rows, cols = _mask_cells(mask, shape)
            values = _np.asarray(data.tocsr()[rows, cols], dtype=_np.float64).ravel()
    else:
        try:
            array = _np.asarray(data, dtype=_np.float64)
        except (TypeError, ValueError):
            raise TypeError("data must be a numeric array-like or a scipy.sparse matrix, "
                            f"got {type(data).__name__}.") from None
        if array.ndim != 2:
            raise ValueError(f"data must be 2-D (rows x columns), got shape {array.shape}.")
        shape = array.shape
        if mask is None:
            rows, cols = _np.indices(shape).reshape(2, -1)
        else:
            rows, cols = _mask_cells(mask, shape)
        values = array[rows, cols]
    if 0 in shape:
        raise ValueError(f"data must not be empty, got shape {shape}.")
    if values.size == 0:
        raise ValueError("no observed cells: the mask (or the sparse data) selects nothing.")
    if not _np.all(_np.isfinite(values)):
        raise ValueError("data has NaN or infinite values at observed cells; "
                         "fill them or leave them out of the mask.")
    if require_non_negative and values.min() < 0:
        raise ValueError(f"data must be non-negative at observed cells, found minimum "
                         f"{values.min():g}; shift or clip the data first.")
    by_row = _sp.csr_matrix((values, (rows, cols)), shape=shape)
    by_row.sum_duplicates()
    by_row.sort_indices()
    by_col = by_row.T.tocsr()
    by_col.sort_indices()
    row_idx = _np.repeat(_np.arange(shape[0]), _np.diff(by_row.indptr))
    return _Observed(by_row, by_col, row_idx, by_row.indices.astype(_np.intp), by_row.data)


def _mask_cells(mask, shape):
    if _sp.issparse(mask):
        if mask.shape != shape:
            raise ValueError(f"mask must have the data's shape {shape}, got {mask.shape}.")
        coo = mask.tocoo()
        keep = coo.data != 0
        return coo.row[keep].astype(_np.intp), coo.col[keep].astype(_np.intp)
    mask = _np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask must have the data's shape {shape}, got {mask.shape}.")
    if mask.dtype != bool:
        raise TypeError(f"mask must be a boolean array or a sparse matrix, got dtype {mask.dtype}.")
    return _np.nonzero(mask)


def _check_init(init, shape, num_components):
    n_rows, n_cols = shape
    if init is None:
        return None
    try:
        Z0, H0 = init
    except (TypeError, ValueError):
        raise TypeError("init must be a pair (Z0, H0) of arrays or None.") from None
    Z0 = _np.array(Z0, dtype=_np.float64)
    H0 = _np.array(H0, dtype=_np.float64)
    if Z0.shape != (n_rows, num_components) or H0.shape != (num_components, n_cols):
        raise ValueError(f"init must have shapes {(n_rows, num_components)} and "
                         f"{(num_components, n_cols)}, got {Z0.shape} and {H0.shape}.")
    return Z0, H0


def _random_factors(rng, shape, num_components, scale):
    """Positive starting factors: |N(0, 1)| scaled so that Z @ H starts near ``scale``."""
    factor = _np.sqrt(max(scale, 1e-12) / num_components)
    Z = _np.abs(rng.standard_normal((shape[0], num_components))) * factor
    H = _np.abs(rng.standard_normal((num_components, shape[1]))) * factor
    return Z, H


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
    padded = _np.zeros((F.shape[0] + 1, M + 1))          # [F | 1]; last row: the padding
    padded[:-1, :M] = F
    padded[:-1, M] = 1.0
    counts = _np.diff(values.indptr)
    order = _np.argsort(counts, kind="stable")
    G_aug = _np.zeros((n, M + 1, M + 1))
    b_aug = _np.zeros((n, M + 1))
    tt = _np.zeros(n)
    start = 0
    sorted_counts = _np.maximum(counts[order], 1)
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
        offsets = _np.arange(longest)
        valid = offsets[None, :] < counts[rows, None]
        where = _np.minimum(values.indptr[rows, None] + offsets[None, :], max(values.nnz - 1, 0))
        cols = _np.where(valid, values.indices[where] if values.nnz else 0, F.shape[0])
        vals = _np.where(valid, values.data[where] if values.nnz else 0.0, 0.0)
        Fg = padded[cols]                                  # (rows, longest, M + 1)
        G_aug[rows] = _np.matmul(_np.swapaxes(Fg, 1, 2), Fg)
        b_aug[rows] = _np.einsum("rlm,rl->rm", Fg, vals)
        tt[rows] = _np.einsum("rl,rl->r", vals, vals)
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
    out = _np.empty((n, M))
    rss = 0.0
    for start in range(0, n, _ROW_BLOCK):
        block = slice(start, min(start + _ROW_BLOCK, n))
        G, b, _, _, tt = _normal_equations(values[block], F)
        x = out[block] = solve(G, b, reg[block], empty[block], previous[block])
        rss += float(tt.sum() - 2 * _np.einsum("nk,nk->", x, b)
                     + _np.einsum("nk,nkl,nl->", x, G, x))
    return out, rss


def _solve_ridge(G, b, reg, empty, start=None):
    """Unconstrained minimizers of ``x'Gx - 2b'x + reg ||x||^2`` for a stack of rows."""
    M = G.shape[1]
    A = G + reg[:, None, None] * _np.eye(M)
    A[empty] = _np.eye(M)                        # rows without cells: solution 0
    rhs = b.copy()
    rhs[empty] = 0.0
    return _np.linalg.solve(A, rhs[..., None])[..., 0]


def _solve_nonneg(G, b, reg, empty, start=None, max_rounds=12):
    """Exact minimizers over ``x >= 0`` of ``x'(G + reg I)x - 2b'x`` for a stack of rows.

    A batched active-set pass first: solve on the free variables of every row
    at once, drop variables that came out negative, re-admit fixed ones whose
    gradient says they should grow.  A row is accepted only when it satisfies
    the optimality (KKT) conditions ``x >= 0``, ``(b - A x)_k = 0`` where
    ``x_k > 0`` and ``<= 0`` where ``x_k = 0`` -- sufficient for this convex
    problem.  ``start`` (n, M), e.g. the previous iterate, gives the first
    guess of the free set.  The rare rows not settled after ``max_rounds`` are solved by
    scipy's NNLS (Lawson-Hanson) on the Cholesky form
    ``min ||L' x - L^{-1} b||^2`` with ``A = G + reg I = L L'``.
    """
    n, M = b.shape
    eye = _np.eye(M, dtype=bool)
    A = G + reg[:, None, None] * _np.eye(M)
    A[empty] = _np.eye(M)
    rhs = b.copy()
    rhs[empty] = 0.0
    scale = _np.abs(rhs).max(axis=1, keepdims=True) + _np.abs(A).max(axis=(1, 2))[:, None] + 1e-300
    # warm start: the previous solution's support (the active set moves little)
    free = _np.ones((n, M), dtype=bool) if start is None else start > 0
    x = _np.zeros((n, M))
    pending = _np.arange(n)
    for _ in range(max_rounds):
        if pending.size == 0:
            break
        f = free[pending]
        both = f[:, :, None] & f[:, None, :]
        system = _np.where(both, A[pending], eye)
        sol = _np.linalg.solve(system, _np.where(f, rhs[pending], 0.0)[..., None])[..., 0]
        negative = f & (sol < 0)
        gradient = rhs[pending] - _np.einsum("nkl,nl->nk", A[pending], sol)
        grow = ~f & (gradient > 1e-12 * scale[pending])
        done = ~negative.any(axis=1) & ~grow.any(axis=1)
        x[pending[done]] = sol[done]
        # drop negative variables; if none, re-admit the fixed one with the largest gradient
        adjust = ~done
        rows = pending[adjust]
        new_free = f[adjust] & ~negative[adjust]
        no_negative = ~negative[adjust].any(axis=1)
        best = _np.argmax(_np.where(grow[adjust], gradient[adjust], -_np.inf), axis=1)
        new_free[_np.flatnonzero(no_negative), best[no_negative]] = True
        free[rows] = new_free
        pending = rows
    if pending.size:
        L = _np.linalg.cholesky(A[pending])
        y = _np.linalg.solve(L, rhs[pending][..., None])[..., 0]
        for r, row in enumerate(pending):
            x[row] = _nnls(L[r].T, y[r])[0]
    return _np.maximum(x, 0.0)


def _alternate(obs, num_components, n_iter, random_state, l2, tol, verbose, init, solve, name):
    shape = obs.shape
    n_row = _np.diff(obs.by_row.indptr).astype(_np.float64)
    n_col = _np.diff(obs.by_col.indptr).astype(_np.float64)
    if init is None:
        rng = _np.random.default_rng(random_state)
        Z, H = _random_factors(rng, shape, num_components, float(_np.mean(_np.abs(obs.values))))
    else:
        Z, H = init
    losses = []
    for it in range(n_iter):
        Z, _ = _update_side(obs.by_row, H.T, l2 * n_row, n_row == 0, solve, Z)
        Ht, rss = _update_side(obs.by_col, Z, l2 * n_col, n_col == 0, solve, H.T)
        H = Ht.T.copy()
        losses.append(rss + l2 * (n_row @ _np.einsum("ik,ik->i", Z, Z)
                                  + n_col @ _np.einsum("kj,kj->j", H, H)))
        if verbose:
            print(f"{name} iteration {it + 1}: objective {losses[-1]:.6g}")
        if tol is not None and it > 0 and losses[-2] - losses[-1] <= tol * abs(losses[-2]):
            break
    return FactorResult(Z, H, _np.asarray(losses))


def als(data, num_components, *, n_iter=20, random_state=0, mask=None, l2=0.1,
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
    mask : bool array or sparse matrix of shape (n_rows, n_cols), optional
        Observed cells.  ``None``: every cell of a dense ``data``, the stored
        entries of a sparse ``data``.
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
    M = _check_components(num_components, obs.shape)
    return _alternate(obs, M, _check_n_iter(n_iter), random_state, _check_nonneg_number(l2, "l2"),
                      tol, verbose, _check_init(init, obs.shape, M), _solve_ridge, "als")


def nnls_als(data, num_components, *, n_iter=20, random_state=0, mask=None, l2=0.1,
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
    M = _check_components(num_components, obs.shape)
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
    targets = _sp.csr_matrix((values.data - mu - bias_other[offsets_other], values.indices,
                              values.indptr), shape=values.shape, copy=False)
    rows, M = values.shape[0], F.shape[1]
    z, bias = _np.empty((rows, M)), _np.empty(rows)
    rss = 0.0
    for start in range(0, rows, _ROW_BLOCK):
        block = slice(start, min(start + _ROW_BLOCK, rows))
        # F_J'F_J, F_J't, F_J'1, sum t, t't
        G, Ft, g, t_sum, tt = _normal_equations(targets[block], F)
        count = n[block]
        empty = count == 0
        denom = _np.where(empty, 1.0, count + bias_l2)
        schur = G - g[:, :, None] * g[:, None, :] / denom[:, None, None]
        rhs = Ft - g * (t_sum / denom)[:, None]
        x = z[block] = _solve_nonneg(schur, rhs, l2 * count, empty, previous[block])
        c = bias[block] = _np.where(empty, 0.0, (t_sum - _np.einsum("nk,nk->n", g, x)) / denom)
        # ||t - F x - c||^2 expanded
        rss += float(tt.sum() - 2 * _np.einsum("nk,nk->", x, Ft) - 2 * c @ t_sum
                     + _np.einsum("nk,nkl,nl->", x, G, x) + 2 * c @ _np.einsum("nk,nk->n", g, x)
                     + count @ (c * c))
    return z, bias, rss


def biased_non_negative(data, num_components, *, n_iter=20, random_state=0, mask=None, l2=0.1,
                        bias_l2=5.0, tol=None, verbose=False, init=None):
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
    M = _check_components(num_components, obs.shape)
    n_iter = _check_n_iter(n_iter)
    l2 = _check_nonneg_number(l2, "l2")
    bias_l2 = _check_nonneg_number(bias_l2, "bias_l2")
    init = _check_init(init, obs.shape, M)
    n_row = _np.diff(obs.by_row.indptr).astype(_np.float64)
    n_col = _np.diff(obs.by_col.indptr).astype(_np.float64)
    mu = float(obs.values.mean())
    if init is None:
        rng = _np.random.default_rng(random_state)
        Z, H = _random_factors(rng, obs.shape, M, 0.5)
    else:
        Z, H = init
        if H.min() < 0 or Z.min() < 0:
            raise ValueError("init factors must be non-negative for biased_non_negative.")
    user_bias = _np.zeros(obs.shape[0])
    item_bias = _np.zeros(obs.shape[1])
    col_of_row_cells = obs.by_row.indices
    row_of_col_cells = obs.by_col.indices
    losses = []
    for it in range(n_iter):
        Z, user_bias, _ = _biased_half_step(obs.by_row, col_of_row_cells, item_bias,
                                         H.T, mu, l2, bias_l2, n_row, Z)
        Ht, item_bias, rss = _biased_half_step(obs.by_col, row_of_col_cells, user_bias,
                                          Z, mu, l2, bias_l2, n_col, H.T)
        H = Ht.T.copy()
        losses.append(rss + l2 * (n_row @ _np.einsum("ik,ik->i", Z, Z)
                                  + n_col @ _np.einsum("kj,kj->j", H, H))
                      + bias_l2 * (user_bias @ user_bias + item_bias @ item_bias))
        if verbose:
            print(f"biased_non_negative iteration {it + 1}: objective {losses[-1]:.6g}")
        if tol is not None and it > 0 and losses[-2] - losses[-1] <= tol * abs(losses[-2]):
            break
    return BiasedResult(mu, user_bias, item_bias, Z, H, _np.asarray(losses))


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
    if _sp.issparse(data):
        X = data.tocsr().astype(_np.float64)
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"data must be a non-empty 2-D matrix, got shape {X.shape}.")
        if not _np.all(_np.isfinite(X.data)):
            raise ValueError("data has NaN or infinite values; impute them first.")
        M = _check_components(num_components, X.shape)
        if M >= min(X.shape):
            raise ValueError(f"num_components must be < {min(X.shape)} for sparse data, got {M}; "
                             "pass a dense array for a full-rank decomposition.")
        v0 = _np.random.default_rng(random_state).uniform(-1, 1, min(X.shape))
        U, s, Vt = _svds(X, k=M, v0=v0, solver="arpack")
        total = float(X.multiply(X).sum())
    else:
        try:
            X = _np.asarray(data, dtype=_np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"data must be numeric, got {type(data).__name__}.") from None
        if X.ndim != 2 or 0 in X.shape:
            raise ValueError(f"data must be a non-empty 2-D array, got shape {X.shape}.")
        if not _np.all(_np.isfinite(X)):
            raise ValueError("data has NaN or infinite values; impute them first.")
        M = _check_components(num_components, X.shape)
        U, s, Vt = _np.linalg.svd(X, full_matrices=False)
        total = float(_np.sum(X * X))
    order = _np.argsort(s)[::-1][:M]
    U, s, Vt = U[:, order], s[order], Vt[order]
    signs = _np.sign(U[_np.argmax(_np.abs(U), axis=0), _np.arange(M)])
    signs[signs == 0] = 1.0
    U, Vt = U * signs, Vt * signs[:, None]
    loss = max(total - float(s @ s), 0.0)
    return FactorResult(U * s, Vt, _np.array([loss]))
