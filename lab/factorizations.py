"""The factorizations the exercise's multiplicative updates are compared with.

Each works on the observed cells of a (users x movies) matrix and takes from
:mod:`lab.base` its input validation (:func:`lab.base.validate`), the way its parameter
rules are checked (its own ``RULES_*`` mapping, :func:`lab.base.check_params`), the start
of :func:`nmf_core.non_negative` (:func:`nmf_core.start`), the count-scaled penalty,
the stopping rule and the result convention (``losses[0]`` is the objective at the start);
where one departs from these, its docstring says how.  All but the Bayesian model fold
new rows into a fitted model (``fold_into=``) with their own training half-step.

* :func:`als` - regularized alternating least squares (Zhou et al. 2008); with
  ``nonnegative=True`` NNLS-ALS, ``Z, H >= 0``, each row an exact non-negative
  least-squares problem (Bro & De Jong 1997);
* :func:`biased_non_negative` - mean + user and item biases + a non-negative
  interaction (the biased model of Koren, Bell & Volinsky 2009, with the
  factors constrained), and :func:`biases`, the same model without the
  interaction;
* :func:`truncated_svd` - the best rank-M approximation of a complete matrix
  (PureSVD of a zero-filled matrix, Cremonesi, Koren & Turrin 2010);
* :func:`implicit_nnls_als` - non-negative ALS on implicit feedback, every unrated
  cell a weak zero (Hu, Koren & Volinsky 2008), for ranking;
* :func:`bayesian_non_negative` - the biased non-negative model with priors instead of
  penalties, its posterior mean sampled by Gibbs sweeps (Schmidt, Winther & Hansen 2009;
  Salakhutdinov & Mnih 2008).  It has no ``fold_into``.

Observed cells: ``mask="observed"`` (the default here) means the non-NaN cells
of a dense input and the stored non-NaN entries of a sparse one, the natural
reading of a ratings matrix; ``mask=None`` means every cell.  Predictions are
formed at observed cells only, so with ``mask="observed"`` nothing of size
users x movies is allocated for a sparse input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls
from scipy.special import log_ndtr
from scipy.sparse.linalg import svds

from lab.base import (FLAG, ITERATIONS, PENALTY, RANK, SEED, TOLERANCE, FitResult,
                      check_params, check_rank, finished, fixed_H, integer, optional,
                      penalty, real, validate)
from lab.base import _csr_from_cells
from lab import kernels
from lab.kernels import jit
from nmf_core import start

__all__ = ["als", "biased_non_negative", "biases", "truncated_svd", "implicit_nnls_als",
           "bayesian_non_negative", "BiasedResult", "PosteriorMean", "predict_cells"]

#: The rules of the parameters the iterative factorizations share.
RULES_ITERATIVE = {"n_iter": ITERATIONS, "random_state": SEED, "l2": PENALTY,
                   "tol": TOLERANCE, "verbose": FLAG}

_PREDICT_CHUNK = 1 << 19  # observed cells handled at a time when predicting


class BiasedResult(NamedTuple):
    """``x_ij ~ mu + user_bias_i + item_bias_j + Z[i] @ H[:, j]`` with Z, H >= 0.

    Attributes
    ----------
    mu : float
        The fixed global level (the mean observed value).
    user_bias : ndarray of shape (n,)
    item_bias : ndarray of shape (m,)
    Z : ndarray of shape (n, M), non-negative
    H : ndarray of shape (M, m), non-negative
    losses : ndarray of shape (iterations done + 1,)
        The penalized objective, ``losses[0]`` at the start.
    """

    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    Z: np.ndarray
    H: np.ndarray
    losses: np.ndarray

    def reconstruction(self) -> np.ndarray:
        """The model's value of every cell, shape (n, m)."""
        return self.mu + self.user_bias[:, None] + self.item_bias[None, :] + self.Z @ self.H

    def predict(self, rows, cols) -> np.ndarray:
        """The model's values at the cells ``(rows[t], cols[t])``; shape ``(len(rows),)``."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        return (self.mu + self.user_bias[rows] + self.item_bias[cols]
                + predict_cells(self.Z, self.H, rows, cols))


def predict_cells(Z, H, rows, cols, chunk=_PREDICT_CHUNK):
    """Values of ``Z @ H`` at the cells ``(rows[t], cols[t])`` only, ``chunk`` cells at a time.

    Parameters
    ----------
    Z : ndarray of shape (n, M)
    H : ndarray of shape (M, m)
    rows, cols : int arrays of shape (n_cells,)
    chunk : int
        Memory stays ``O(chunk * M)``.

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


class _Observed(NamedTuple):
    """The observed cells, by row (CSR, n x m) and by column (CSR of the transpose, m x n)."""

    by_row: sp.csr_matrix
    by_col: sp.csr_matrix
    row_counts: np.ndarray   # float64 (n,): n_i, observed cells of row i
    col_counts: np.ndarray   # float64 (m,): m_j

    @property
    def shape(self):
        return self.by_row.shape

    @property
    def rows(self) -> np.ndarray:
        """The row of each observed cell, in ``by_row``'s (row-major) order."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.by_row.indptr))

    def squared_error(self, Z, H, offset=None) -> float:
        """``sum_obs (x_ij - offset_ij - z_i . h_j)^2``, ``offset`` (nnz,) in row-major order."""
        residual = self.by_row.data - predict_cells(Z, H, self.rows, self.by_row.indices)
        if offset is not None:
            residual -= offset
        return float(residual @ residual)


def _observed(data, mask, *, non_negative: bool, name: str = "data") -> _Observed:
    """Validate ``data`` and ``mask`` (:func:`lab.base.validate`); group the observed cells."""
    checked = validate(data, mask, name=name, non_negative=non_negative)
    X = checked.X
    if not checked.masked:                 # every cell is observed: store them all, zeros too
        dense = X.toarray() if sp.issparse(X) else X
        rows, cols = np.indices(dense.shape).reshape(2, -1)
        X = _csr_from_cells(rows, cols, dense.ravel(), dense.shape)
    by_row = sp.csr_matrix(X)
    by_col = by_row.T.tocsr()
    by_col.sort_indices()
    return _Observed(by_row, by_col, np.diff(by_row.indptr).astype(np.float64),
                     np.diff(by_col.indptr).astype(np.float64))


# ---------------------------------------------------------------- ALS and NNLS-ALS

def als(data, num_components, *, nonnegative=False, n_iter=20, random_state=0,
        mask="observed", l2=0.1, tol=None, verbose=False, fold_into=None) -> FitResult:
    """Regularized alternating least squares on observed cells; NNLS-ALS with ``nonnegative``.

    Minimizes ``sum_obs (x_ij - z_i . h_j)^2 + l2 * (sum_i n_i ||z_i||^2 +
    sum_j m_j ||h_j||^2)``, ``n_i`` and ``m_j`` the observed cells of row i and
    column j (the weighted penalty of ALS-WR, :func:`lab.base.penalty`),
    with ``Z, H >= 0`` when ``nonnegative``.  Each half-step solves every row exactly:
    ``z_i = (H_i H_i' + l2 n_i I)^{-1} H_i x_i`` over row i's observed cells, or, with
    ``nonnegative``, the non-negative least-squares problem
    ``min_{z >= 0} z'(H_i H_i' + l2 n_i I) z - 2 z' H_i x_i`` (an active-set method:
    compiled, :func:`lab.kernels._nonnegative_solve`; in NumPy, :func:`_solve_nonneg`).
    Exact block minimizations: the objective never increases.  Spark MLlib's ``ALS(regParam=l2, nonnegative=...)`` minimizes the same.

    Parameters
    ----------
    data : array-like, DataFrame or sparse matrix of shape (n, m)
        Non-negative at observed cells when ``nonnegative``.
    num_components : int
        Rank M, ``1 <= M <= min(n, m)``.
    nonnegative : bool, default False
        Constrain ``Z`` and ``H`` to be >= 0 (NNLS-ALS).
    n_iter : int >= 0, default 20
        Sweeps (all rows, then all columns).
    random_state, tol, verbose, mask
        As in :func:`lab.nmf.non_negative` (``mask`` as :func:`lab.base.validate` reads
        it, default "observed"); the start is the same (only ``H0`` matters, Z is solved
        first).
    l2 : float >= 0, default 0.1
        The weight of the penalty above.
    fold_into : FitResult, optional
        Keep its ``H`` and solve only the rows of ``data`` (one exact half-step per
        sweep): a new user of a fitted model.

    Returns
    -------
    FitResult
        ``Z`` (n, M), ``H`` (M, m), ``losses`` (sweeps done + 1,).  Rows or columns
        without observed cells get zero factors.

    References
    ----------
    Y. Zhou, D. Wilkinson, R. Schreiber and R. Pan, "Large-scale parallel collaborative
    filtering for the Netflix prize", AAIM 2008.  R. Bro and S. De Jong, "A fast
    non-negativity-constrained least squares algorithm", J. Chemometrics 11 (1997).
    """
    name = "als(nonnegative=True)" if nonnegative is True else "als"
    options = check_params({**RULES_ITERATIVE, "nonnegative": FLAG},
                           dict(nonnegative=nonnegative, n_iter=n_iter, random_state=random_state,
                                l2=l2, tol=tol, verbose=verbose), name)
    nonnegative = options.pop("nonnegative")
    obs = _observed(data, mask, non_negative=nonnegative)
    M = check_rank(num_components, obs.shape, name, fold_into)
    return _alternate(obs, M, name, fold_into, non_negative=nonnegative, **options)


def _alternate(obs, M, name, fold_into, *, non_negative, n_iter, random_state, l2, tol,
               verbose) -> FitResult:
    """The sweeps of :func:`als`: rows, then columns, each solved exactly."""
    n, m = obs.shape
    Z, H = start((n, m), M, float(np.abs(obs.by_row.data).mean()), random_state)
    fixed = fixed_H(fold_into, M, m, non_negative=non_negative)
    if fixed is not None:
        H = fixed
    losses = np.empty(n_iter + 1)
    losses[0] = obs.squared_error(Z, H) + penalty(l2, obs.row_counts, Z, obs.col_counts, H)
    t = 0
    while not finished(losses, t, n_iter, tol, verbose, name):
        Z, rss = _update_side(obs.by_row, H.T, l2 * obs.row_counts, obs.row_counts == 0,
                              non_negative, Z)
        if fixed is None:
            HT, rss = _update_side(obs.by_col, Z, l2 * obs.col_counts, obs.col_counts == 0,
                                   non_negative, H.T)
            H = HT.T.copy()
        t += 1
        losses[t] = rss + penalty(l2, obs.row_counts, Z, obs.col_counts, H)
    return FitResult(Z, H, losses[:t + 1])


# ---------------------------------------------------------------- biases and the biased model

def biased_non_negative(data, num_components, *, n_iter=20, random_state=0, mask="observed",
                        l2=0.1, bias_l2=5.0, tol=None, verbose=False,
                        fold_into=None) -> BiasedResult:
    """Global mean + user bias + item bias + non-negative interaction, on observed cells.

    The model ``x_ij ~ mu + a_i + c_j + z_i . h_j`` with ``Z, H >= 0`` and
    ``mu`` the mean observed value minimizes ::

        sum_obs (x_ij - mu - a_i - c_j - z_i . h_j)^2
          + l2 * (sum_i n_i ||z_i||^2 + sum_j m_j ||h_j||^2)
          + bias_l2 * (||a||^2 + ||c||^2)

    by block coordinate descent: each half-step updates one side's factors
    *and* biases together exactly (the bias eliminated in closed form, then
    a non-negative least-squares problem per row), so the objective never
    increases.  The biases carry each user's and movie's level; the
    non-negative part adds only the "who likes what".

    Parameters
    ----------
    data, num_components, n_iter, random_state, mask, l2, tol, verbose
        As in :func:`als`.  The start is the common one with ``s`` the mean
        absolute deviation from ``mu`` (what the interaction models); the
        biases start at 0.
    bias_l2 : float >= 0, default 5.0
        Penalty on the biases (unweighted: it shrinks a bias towards 0 like
        ``bias_l2`` extra ratings at the mean).
    fold_into : BiasedResult, optional
        Keep its ``H``, item biases and ``mu``; fit only the rows of ``data``
        (their factors and biases): a new user of a fitted model.

    Returns
    -------
    BiasedResult
        ``mu``, ``user_bias`` (n,), ``item_bias`` (m,), ``Z`` (n, M),
        ``H`` (M, m), ``losses``; ``reconstruction()`` and ``predict(rows, cols)``.

    References
    ----------
    Y. Koren, R. Bell and C. Volinsky, "Matrix factorization techniques for
    recommender systems", IEEE Computer 42 (2009), 30-37.
    """
    obs = _observed(data, mask, non_negative=False)
    M = check_rank(num_components, obs.shape, "biased_non_negative", fold_into)
    return _fit_biased(obs, M, "biased_non_negative", fold_into,
                       **check_params({**RULES_ITERATIVE, "bias_l2": PENALTY},
                                      dict(n_iter=n_iter, random_state=random_state, l2=l2,
                                           bias_l2=bias_l2, tol=tol, verbose=verbose),
                                      "biased_non_negative"))


def biases(data, *, n_iter=10, mask="observed", bias_l2=10.0, tol=None, verbose=False,
           fold_into=None) -> BiasedResult:
    """The baseline ``x_ij ~ mu + a_i + c_j``: :func:`biased_non_negative` without interaction.

    Minimizes ``sum_obs (x_ij - mu - a_i - c_j)^2 + bias_l2 * (||a||^2 + ||c||^2)``
    by the same exact half-steps, which here are the closed forms
    ``a_i = sum_j (x_ij - mu - c_j) / (n_i + bias_l2)`` and likewise for ``c``.
    A row or column without observed cells gets bias 0, so its prediction is
    ``mu`` plus the other side's bias.  Parameters as in :func:`biased_non_negative`, with
    defaults of their own here (``n_iter=10``, ``bias_l2=10``).

    Returns
    -------
    BiasedResult
        With ``Z`` of shape (n, 0) and ``H`` of shape (0, m).
    """
    obs = _observed(data, mask, non_negative=False)
    return _fit_biased(obs, 0, "biases", fold_into,
                       **check_params({**RULES_ITERATIVE, "bias_l2": PENALTY},
                                      dict(n_iter=n_iter, random_state=0, l2=0.0,
                                           bias_l2=bias_l2, tol=tol, verbose=verbose), "biases"))


def _fit_biased(obs, M, name, fold_into, *, n_iter, random_state, l2, bias_l2, tol,
                verbose) -> BiasedResult:
    n, m = obs.shape
    if fold_into is None:
        mu, item_bias, fixed = float(obs.by_row.data.mean()), np.zeros(m), None
    else:
        fixed = fixed_H(fold_into, M, m, non_negative=True, kind=BiasedResult)
        mu, item_bias = _fixed_biases(fold_into, m)
    level = float(np.abs(obs.by_row.data - mu).mean())
    Z, H = start((n, m), M, level, random_state) if M else (np.zeros((n, 0)), np.zeros((0, m)))
    if fixed is not None:
        H = fixed
    user_bias = np.zeros(n)

    def objective(rss):
        return (rss + penalty(l2, obs.row_counts, Z, obs.col_counts, H)
                + bias_l2 * float(user_bias @ user_bias + item_bias @ item_bias))

    losses = np.empty(n_iter + 1)
    losses[0] = objective(obs.squared_error(Z, H, offset=mu + item_bias[obs.by_row.indices]))
    t = 0
    while not finished(losses, t, n_iter, tol, verbose, name):
        Z, user_bias, rss = _biased_half_step(obs.by_row, item_bias, H.T, mu, l2, bias_l2,
                                              obs.row_counts, Z)
        if fixed is None:
            HT, item_bias, rss = _biased_half_step(obs.by_col, user_bias, Z, mu, l2, bias_l2,
                                                   obs.col_counts, H.T)
            H = HT.T.copy()
        t += 1
        losses[t] = objective(rss)
    return BiasedResult(mu, user_bias, item_bias, Z, H, losses[:t + 1])


def _fixed_biases(fold_into, m: int):
    """``(mu, item_bias)`` of a biased fit that new rows are folded into."""
    mu, item_bias = getattr(fold_into, "mu", None), getattr(fold_into, "item_bias", None)
    if not isinstance(item_bias, np.ndarray) or item_bias.shape != (m,) \
            or not np.isfinite(item_bias).all() or not np.isfinite(mu):
        raise ValueError(f"fold_into must be a BiasedResult with finite mu and item_bias of "
                         f"shape ({m},); got {type(fold_into).__name__}.")
    return float(mu), np.array(item_bias, dtype=np.float64)


def _biased_half_step(values, bias_other, F, mu, l2, bias_l2, n, previous):
    """Exact update of one side's (factors >= 0, free bias) given the other side.

    For each row r with observed columns J: minimize over z >= 0 and free b
    ``||t - F_J z - b||^2 + l2 n_r ||z||^2 + bias_l2 b^2`` with
    ``t = x - mu - bias_other[J]``.  The bias is eliminated in closed form
    (Schur complement), leaving an NNLS in z; then
    ``b = (sum t - (sum_J F_J) z) / (n_r + bias_l2)``.  Compiled as in :func:`_update_side`;
    the rows left over go block by block in NumPy.  Also returns the residual sum of squares
    at the new values, summed in row order.
    """
    rows_total, M = values.shape[0], F.shape[1]
    z, bias, squares = np.empty((rows_total, M)), np.empty(rows_total), np.empty(rows_total)
    pending = _solve_compiled(values, F, l2 * n, True, previous, z, squares, mu=mu,
                              bias_other=bias_other, bias_l2=bias_l2, bias_out=bias)
    if pending is not None and pending.size == 0:
        return z, bias, float(squares.sum())
    targets = sp.csr_matrix((values.data - mu - bias_other[values.indices], values.indices,
                             values.indptr), shape=values.shape, copy=False)
    for rows in _blocks(pending, rows_total):
        # F_J'F_J, F_J't, F_J'1, sum t, t't
        G, Ft, g, t_sum, tt = _normal_equations(targets[rows], F)
        count = n[rows]
        empty = count == 0
        denom = np.where(empty, 1.0, count + bias_l2)
        schur = G - g[:, :, None] * g[:, None, :] / denom[:, None, None]
        rhs = Ft - g * (t_sum / denom)[:, None]
        x = z[rows] = (_solve_nonneg(schur, rhs, l2 * count, empty, previous[rows]) if M
                       else np.zeros((count.size, 0)))          # biases alone
        gx = np.einsum("nk,nk->n", g, x)
        c = bias[rows] = np.where(empty, 0.0, (t_sum - gx) / denom)
        # ||t - F x - c||^2 expanded
        squares[rows] = (tt - 2 * np.einsum("nk,nk->n", x, Ft) - 2 * c * t_sum
                         + np.einsum("nk,nkl,nl->n", x, G, x) + 2 * c * gx + count * c * c)
    return z, bias, float(squares.sum())


# ---------------------------------------------------------------- implicit feedback

def implicit_nnls_als(data, num_components, *, n_iter=10, random_state=0, mask="observed",
                      l2=30.0, alpha=3.0, tol=None, verbose=False, fold_into=None) -> FitResult:
    """Non-negative ALS on implicit feedback: who rated what, weighted by confidence.

    The model of Hu, Koren & Volinsky (2008) with ``Z, H >= 0``: every cell has
    a preference ``p_ij`` (1 at an observed cell, 0 elsewhere; the values are
    not used) and a confidence ``c_ij`` (``1 + alpha`` at an observed cell, 1
    elsewhere), and the objective over *all* cells is ::

        sum_ij c_ij (p_ij - z_i . h_j)^2 + l2 * (||Z||^2 + ||H||^2)

    Each half-step solves, for every row, the non-negative least-squares
    problem with Gram matrix ``H H' + alpha * sum_obs h_j h_j' + l2 I``
    (:func:`_solve_nonneg`), so the objective never increases.  Scores ``Z H``
    rank the movies a user is likely to rate, as the zero-filled NMF does, but
    with the unobserved cells counted as weak, not as certain, zeros.

    Parameters
    ----------
    data, num_components, n_iter, random_state, mask, tol, verbose, fold_into
        As in :func:`als`; ``mask`` marks the observed cells (the positives).
    l2 : float >= 0, default 30.0
        Penalty on the squared norms of Z and H (not count-scaled: every row
        sees all cells).
    alpha : float >= 0, default 3.0
        Extra confidence of an observed cell.

    Returns
    -------
    FitResult
        ``losses`` holds the objective above, ``losses[0]`` at the start.

    References
    ----------
    Y. Hu, Y. Koren and C. Volinsky, "Collaborative filtering for implicit
    feedback datasets", IEEE ICDM 2008.
    """
    obs = _observed(data, mask, non_negative=False)
    M = check_rank(num_components, obs.shape, "implicit_nnls_als", fold_into)
    options = check_params({**RULES_ITERATIVE, "alpha": PENALTY},
                           dict(n_iter=n_iter, random_state=random_state, l2=l2, tol=tol,
                                verbose=verbose, alpha=alpha), "implicit_nnls_als")
    n, m = obs.shape
    Z, H = start((n, m), M, 1.0, options["random_state"])
    fixed = fixed_H(fold_into, M, m, non_negative=True)
    if fixed is not None:
        H = fixed
    positives = [sp.csr_matrix((np.ones(part.nnz), part.indices, part.indptr), shape=part.shape)
                 for part in (obs.by_row, obs.by_col)]
    l2, alpha = options["l2"], options["alpha"]
    rows = obs.rows

    def objective(Z, H):
        # sum_all (p - zh)^2 = |P|^2 - 2 <P, ZH> + <Z'Z, HH'>; plus alpha * sum_obs (1 - zh)^2
        at_observed = predict_cells(Z, H, rows, positives[0].indices)
        everywhere = positives[0].nnz - 2 * at_observed.sum() + np.vdot(Z.T @ Z, H @ H.T)
        return float(everywhere + alpha * np.sum((1 - at_observed) ** 2)
                     + l2 * (np.vdot(Z, Z) + np.vdot(H, H)))

    losses = np.empty(options["n_iter"] + 1)
    losses[0] = objective(Z, H)
    t = 0
    while not finished(losses, t, options["n_iter"], options["tol"], options["verbose"],
                        "implicit_nnls_als"):
        Z = _implicit_side(positives[0], H.T, l2, alpha, Z)
        if fixed is None:
            H = _implicit_side(positives[1], Z, l2, alpha, H.T).T.copy()
        t += 1
        losses[t] = objective(Z, H)
    return FitResult(Z, H, losses[:t + 1])


def _implicit_side(positive, F, l2, alpha, previous):
    """New rows ``x >= 0`` minimizing ``sum_j c_j (p_j - x . f_j)^2 + l2 ||x||^2`` for each row.

    ``positive`` (n, m) holds the observed cells as ones; ``F`` (m, M) is fixed.  The Gram
    matrix is ``F'F + alpha * sum_obs f_j f_j'`` (one product with the (m, M*M) outer
    products of F's rows), the right-hand side ``(1 + alpha) * sum_obs f_j``.
    """
    n, M = positive.shape[0], F.shape[1]
    base = F.T @ F
    outer = (F[:, :, None] * F[:, None, :]).reshape(F.shape[0], M * M)
    out = np.empty((n, M))
    for start in range(0, n, _ROW_BLOCK):
        block = slice(start, min(start + _ROW_BLOCK, n))
        rows = positive[block]
        G = base[None] + alpha * np.asarray(rows @ outer).reshape(-1, M, M)
        b = (1 + alpha) * np.asarray(rows @ F)
        size = G.shape[0]
        out[block] = _solve_nonneg(G, b, np.full(size, l2), np.zeros(size, dtype=bool),
                                   previous[block])
    return out


# ---------------------------------------------------------------- Bayesian, by Gibbs sampling

#: Hyperpriors of :func:`bayesian_non_negative`, for data on a scale of a few units (stars):
#: every precision ~ Gamma(shape, rate); the truncated normals' locations ~ N(0, 1/loc_precision).
_GAMMA_SHAPE, _GAMMA_RATE, _LOC_PRECISION = 1.0, 1.0, 1.0
_MEAN_PRECISION = 1e-4        # the global level's prior N(0, 1e4): practically flat
_START_SCALE = 0.3            # factors start uniform on [0, _START_SCALE]
_HYPER_STEPS = 5              # Metropolis steps per sweep for each (location, precision) pair


class PosteriorMean(NamedTuple):
    """The predictions of :func:`bayesian_non_negative`: the mean over its posterior samples.

    Attributes
    ----------
    mean : ndarray of shape (n, m)
        The mean prediction of every cell over the kept samples (each sample clipped
        first when ``clip`` was given).
    n_samples : int
        How many samples were averaged.
    last : BiasedResult
        The last sample; its ``losses`` hold the squared error on the observed cells
        after every sweep (burn-in included, ``losses[0]`` at the start).
    """

    mean: np.ndarray
    n_samples: int
    last: BiasedResult

    @property
    def losses(self) -> np.ndarray:
        """The squared error on the observed cells after every sweep (``last.losses``)."""
        return self.last.losses

    def reconstruction(self) -> np.ndarray:
        """The posterior mean of every cell, shape (n, m)."""
        return self.mean

    def predict(self, rows, cols) -> np.ndarray:
        """The posterior mean at the cells ``(rows[t], cols[t])``."""
        return self.mean[np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)]


def bayesian_non_negative(data, num_components, *, n_samples=550, burn_in=100, thin=2,
                          random_state=0, mask="observed", clip=None,
                          verbose=False) -> PosteriorMean:
    """The biased non-negative model, Bayesian: its posterior mean, by Gibbs sampling.

    The model of :func:`biased_non_negative`, ``x_ij ~ N(mu + a_i + c_j + z_i . h_j,
    1/tau)`` on the observed cells with ``Z, H >= 0``, given priors instead of
    penalties: each component k has ``z_ik ~ N+(m_k, 1/lambda_k)``, a normal cut off
    below 0 whose location ``m_k`` and precision ``lambda_k`` are themselves sampled
    (and the same for H, with its own pairs), the biases are normal with sampled
    precisions, ``tau`` has a Gamma prior.  Nothing is tuned but the rank.

    A sweep draws each user's bias, each movie's, the level, then every ``z_ik`` from
    its conditional (a normal truncated to ``[0, inf)``; a user's factors depend on no
    other user's, so a sweep costs one pass over the observed cells per component), the
    same for H, then the precisions from their Gamma conditionals and each
    (location, precision) pair by a few Metropolis steps on its exact conditional.
    After ``burn_in`` sweeps, every ``thin``-th sweep's predictions are averaged.  The
    average of ``S`` samples is a single model: one non-negative factorization of rank
    ``S * M`` with averaged biases (posterior averaging, as in Bayesian PMF).

    Parameters
    ----------
    data, num_components, mask
        As in :func:`als`; the hyperpriors suit data on a scale of a few units.
    n_samples : int >= 1, default 550
        Samples averaged (``burn_in + n_samples * thin`` sweeps in all).
    burn_in : int >= 0, default 100
    thin : int >= 1, default 2
    random_state : int, Generator or None
        Seeds every draw: the same seed gives the same numbers.
    clip : (low, high), optional
        Clip each sample's predictions to this range before averaging (the rating
        scale, when the scores are rating predictions).
    verbose : bool
        Print the training RMSE every 100 sweeps.

    Returns
    -------
    PosteriorMean
        ``mean`` (n, m), ``n_samples``, ``last`` (the last sample as a
        :class:`BiasedResult`); ``reconstruction()`` and ``predict(rows, cols)``.

    References
    ----------
    M. N. Schmidt, O. Winther and L. K. Hansen, "Bayesian non-negative matrix
    factorization", ICA 2009.  T. Brouwer and P. Lió, "Comparative study of inference
    methods for Bayesian nonnegative matrix factorisation", ECML PKDD 2017.
    R. Salakhutdinov and A. Mnih, "Bayesian probabilistic matrix factorization using
    Markov chain Monte Carlo", ICML 2008.  C. P. Robert, "Simulation of truncated
    normal variables", Statistics and Computing 5 (1995).
    """
    obs = _observed(data, mask, non_negative=False)
    M = check_rank(num_components, obs.shape, "bayesian_non_negative")
    params = check_params({"n_samples": integer(1), "burn_in": integer(0), "thin": integer(1),
                           "random_state": SEED, "verbose": FLAG},
                          dict(n_samples=n_samples, burn_in=burn_in, thin=thin,
                               random_state=random_state, verbose=verbose),
                          "bayesian_non_negative")
    low, high = _check_clip(clip)
    rng = np.random.default_rng(params["random_state"])
    n, m = obs.shape
    x = obs.by_row.data.astype(np.float64)
    user_ptr, movie_of = obs.by_row.indptr.astype(np.int64), obs.by_row.indices.astype(np.int64)
    movie_ptr, user_of = obs.by_col.indptr.astype(np.int64), obs.by_col.indices.astype(np.int64)
    rows = obs.rows
    by_movie = np.lexsort((rows, movie_of))            # the cells in by_col's order

    mu, a, c = float(x.mean()), np.zeros(n), np.zeros(m)
    Z = rng.uniform(0, _START_SCALE, size=(n, M))
    H = rng.uniform(0, _START_SCALE, size=(m, M))      # one row per movie while sampling
    hyper = {side: (np.zeros(M), np.ones(M)) for side in "ZH"}
    bias_precision = [1.0, 1.0]
    residual = x - mu - predict_cells(Z, H.T, rows, movie_of)
    tau = 1.0 / max(float(residual @ residual) / x.size, 1e-3)
    squared_errors = [float(residual @ residual)]
    total = np.zeros((n, m))
    kept = 0
    for sweep in range(params["burn_in"] + params["n_samples"] * params["thin"]):
        _gibbs_biases(rng, user_ptr, residual, a, bias_precision[0], tau)
        by_col = residual[by_movie]
        _gibbs_biases(rng, movie_ptr, by_col, c, bias_precision[1], tau)
        residual[by_movie] = by_col
        precision = _MEAN_PRECISION + tau * x.size
        new_mu = (tau * (residual.sum() + x.size * mu) / precision
                  + rng.standard_normal() / np.sqrt(precision))
        residual -= new_mu - mu
        mu = new_mu
        _gibbs_factors(rng, user_ptr, movie_of, residual, Z, H, *hyper["Z"], tau)
        by_col = residual[by_movie]
        _gibbs_factors(rng, movie_ptr, user_of, by_col, H, Z, *hyper["H"], tau)
        residual[by_movie] = by_col
        squared_errors.append(float(residual @ residual))
        tau = rng.gamma(_GAMMA_SHAPE + x.size / 2, 1 / (_GAMMA_RATE + squared_errors[-1] / 2))
        bias_precision = [rng.gamma(_GAMMA_SHAPE + v.size / 2, 1 / (_GAMMA_RATE + v @ v / 2))
                          for v in (a, c)]
        hyper = {"Z": _truncated_normal_hyper(rng, Z, *hyper["Z"]),
                 "H": _truncated_normal_hyper(rng, H, *hyper["H"])}
        if params["verbose"] and sweep % 100 == 0:
            print(f"bayesian_non_negative: sweep {sweep:5d}  training RMSE "
                  f"{np.sqrt(squared_errors[-1] / x.size):.4f}", flush=True)
        if sweep >= params["burn_in"] and (sweep - params["burn_in"]) % params["thin"] == 0:
            sample = mu + a[:, None] + c[None, :] + Z @ H.T
            total += sample if clip is None else np.clip(sample, low, high, out=sample)
            kept += 1
    last = BiasedResult(mu, a, c, Z, np.ascontiguousarray(H.T), np.array(squared_errors))
    return PosteriorMean(total / kept, kept, last)


def _check_clip(clip) -> tuple[float, float]:
    if clip is None:
        return -np.inf, np.inf
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise TypeError(f"clip must be None or a pair (low, high) of numbers; got {clip!r}.") \
            from None
    if not low < high:
        raise ValueError(f"clip must be a pair (low, high) with low < high; got {clip!r}.")
    return low, high


def _truncated_normal_hyper(rng, X, location, precision):
    """Draw each column's (location, precision) of the prior ``X[:, k] ~ N+(m_k, 1/l_k)``.

    Metropolis steps on ``(m, log l)``, scaled to the posterior's width; the target is
    the exact conditional, the prior of ``(m, l)`` times the columns' density under
    the cut-off normal (whose normalizer ``Phi(m sqrt(l))^-n`` couples the two).
    """
    n = X.shape[0]
    sums, squares = X.sum(axis=0), (X * X).sum(axis=0)

    def log_target(m, l):
        spread = squares - 2 * m * sums + n * m * m
        return (n / 2 * np.log(l) - l / 2 * spread - n * log_ndtr(m * np.sqrt(l))
                + _GAMMA_SHAPE * np.log(l) - _GAMMA_RATE * l - _LOC_PRECISION / 2 * m * m)

    current = log_target(location, precision)
    location_step, log_precision_step = 2 / np.sqrt(n * precision), 2 * np.sqrt(2 / n)
    for _ in range(_HYPER_STEPS):
        proposed_m = location + location_step * rng.standard_normal(location.shape)
        proposed_l = precision * np.exp(log_precision_step * rng.standard_normal(precision.shape))
        proposed = log_target(proposed_m, proposed_l)
        accept = np.log(rng.random(location.shape)) < proposed - current
        location = np.where(accept, proposed_m, location)
        precision = np.where(accept, proposed_l, precision)
        current = np.where(accept, proposed, current)
    return location, precision


def _standard_normal_above(rng, a):
    """A standard normal draw conditioned on ``>= a``, for any ``a`` (Robert 1995)."""
    if a <= 0.0:
        while True:
            value = rng.standard_normal()
            if value >= a:
                return value
    rate = 0.5 * (a + np.sqrt(a * a + 4.0))        # the best exponential proposal
    while True:
        value = a + rng.standard_exponential() / rate
        if rng.random() <= np.exp(-0.5 * (value - rate) ** 2):
            return value


def _gibbs_biases_loops(rng, ptr, residual, bias, bias_precision, tau):
    """Draw each row's bias given everything else; ``residual`` (this side's cell order)
    follows.  Row g owns the cells ``ptr[g]:ptr[g+1]``."""
    for g in range(bias.shape[0]):
        start, stop = ptr[g], ptr[g + 1]
        total = 0.0
        for t in range(start, stop):
            total += residual[t]
        precision = bias_precision + tau * (stop - start)
        mean = tau * (total + (stop - start) * bias[g]) / precision
        new = mean + rng.standard_normal() / np.sqrt(precision)
        for t in range(start, stop):
            residual[t] -= new - bias[g]
        bias[g] = new


def _gibbs_factors_loops(rng, ptr, other, residual, own, fixed, location, precision, tau):
    """Draw every row of ``own`` (n_own, M) given ``fixed`` (n_other, M); ``residual`` in
    this side's cell order (cell t of row g pairs it with row ``other[t]`` of ``fixed``)
    follows.  Within a row the M coordinates are drawn in turn, each from a normal cut
    off below 0, on a copy of the row's cells (its residuals and partners' factors)."""
    M = own.shape[1]
    longest = int(np.max(ptr[1:] - ptr[:-1])) if own.shape[0] else 0
    partners = np.empty((M, longest))
    errors = np.empty(longest)
    for g in range(own.shape[0]):
        start, count = ptr[g], ptr[g + 1] - ptr[g]
        for j in range(count):
            errors[j] = residual[start + j]
            for k in range(M):
                partners[k, j] = fixed[other[start + j], k]
        for k in range(M):
            linear = 0.0
            quadratic = 0.0
            for j in range(count):
                f = partners[k, j]
                quadratic += f * f
                linear += f * errors[j]
            old = own[g, k]
            linear += old * quadratic
            conditional = tau * quadratic + precision[k]
            mean = (tau * linear + precision[k] * location[k]) / conditional
            scale = 1.0 / np.sqrt(conditional)
            new = max(mean + scale * _standard_normal_above(rng, -mean / scale), 0.0)
            own[g, k] = new
            if new != old:
                for j in range(count):
                    errors[j] -= (new - old) * partners[k, j]
        for j in range(count):
            residual[start + j] = errors[j]


_standard_normal_above = jit(_standard_normal_above)
_gibbs_biases = jit(_gibbs_biases_loops)
_gibbs_factors = jit(_gibbs_factors_loops)


# ---------------------------------------------------------------- truncated SVD

def truncated_svd(data, num_components, *, random_state=0, mask=None,
                  fold_into=None) -> FitResult:
    """Best rank-M approximation (Eckart-Young) of a complete matrix.

    The matrix is taken as given: impute missing ratings first (zeros give
    PureSVD, Cremonesi, Koren & Turrin 2010).  A dense input uses LAPACK's
    full SVD; a sparse input (unstored cells are zeros) uses ARPACK
    (``scipy.sparse.linalg.svds``) with a seeded start vector and is never
    densified.

    Parameters
    ----------
    data : array-like, DataFrame or sparse matrix of shape (n, m)
        Finite; negative values are allowed.
    num_components : int
        Rank M, ``1 <= M <= min(n, m)`` (``< min(n, m)`` for sparse input).
    random_state : int >= 0, numpy Generator or None, default 0
        Seed of ARPACK's start vector (sparse input only).
    mask : None
        Every cell must be observed; any other value is refused.
    fold_into : FitResult, optional
        An earlier SVD whose ``H`` (orthonormal rows) is kept: the rows of
        ``data`` are projected, ``Z = X @ H.T``, their least-squares fit.

    Returns
    -------
    FitResult
        ``Z = U_M diag(s_M)`` (n, M), ``H = V_M'`` (M, m), singular values in
        decreasing order, signs fixed so that each column of ``Z`` has a
        positive largest-magnitude entry.  ``losses`` holds the squared
        error of the zero start, ``||X||^2``, and of the result,
        ``||X - Z H||^2 = ||X||^2 - sum s_M^2``.
    """
    if mask is not None:
        what = repr(mask) if isinstance(mask, str) else f"a {type(mask).__name__}"
        raise ValueError(f"truncated_svd needs every cell (mask=None); got mask={what}. Fill "
                         "the missing cells first (lab.ratings.RatingIndex.filled).")
    X = validate(data, None, non_negative=False, mask_allowed=False).X
    M = check_rank(num_components, X.shape, "truncated_svd", fold_into)
    random_state = check_params({"random_state": SEED}, {"random_state": random_state},
                                "truncated_svd")["random_state"]
    total = float(X.data @ X.data) if sp.issparse(X) else float(np.vdot(X, X))
    if fold_into is not None:
        H = fixed_H(fold_into, M, X.shape[1], non_negative=False)
        if not np.allclose(H @ H.T, np.eye(M), atol=1e-8):
            raise ValueError("fold_into must be a truncated_svd fit: its H has orthonormal rows "
                             "(the projection Z = X H^T is the least-squares fit only then).")
        Z = np.asarray(X @ H.T)
        residual = (X.toarray() if sp.issparse(X) else X) - Z @ H
        return FitResult(Z, H, np.array([total, float(np.vdot(residual, residual))]))
    if sp.issparse(X):
        if M >= min(X.shape):
            raise ValueError(f"num_components must be < {min(X.shape)} for sparse data; got {M}. "
                             "Pass a dense array for a full-rank decomposition.")
        v0 = np.random.default_rng(random_state).uniform(-1, 1, min(X.shape))
        U, s, Vt = svds(X, k=M, v0=v0, solver="arpack")
    else:
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
    order = np.argsort(s)[::-1][:M]
    U, s, Vt = U[:, order], s[order], Vt[order]
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(M)])
    signs[signs == 0] = 1.0
    U, Vt = U * signs, Vt * signs[:, None]
    return FitResult(U * s, Vt, np.array([total, max(total - float(s @ s), 0.0)]))


# ---------------------------------------------------------------- exact row solvers
# Both ALS variants and the biased model solve, for each row of one side, a
# small M x M problem against the other side held fixed.

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
    solve = _solve_nonneg if nonnegative else _solve_ridge
    for rows in _blocks(pending, n):
        G, b, _, _, tt = _normal_equations(values[rows], F)
        x = out[rows] = solve(G, b, reg[rows], empty[rows], previous[rows])
        squares[rows] = (tt - 2 * np.einsum("nk,nk->n", x, b)
                         + np.einsum("nk,nkl,nl->n", x, G, x))
    return out, float(squares.sum())


def _solve_compiled(values, F, reg, nonnegative, previous, out, squares, *, mu=0.0,
                    bias_other=None, bias_l2=0.0, bias_out=None):
    """Run the compiled row solves (:func:`lab.kernels._solve_rows_loops`) into ``out``,
    ``squares`` (and ``bias_out`` when ``bias_other`` is given); returns the rows left for
    the NumPy form: None for all of them (numba missing or switched off)."""
    kernel = kernels._solve_rows_compiled
    if kernel is None:
        return None
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


