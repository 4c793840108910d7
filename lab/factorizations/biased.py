"""The biased non-negative model and the biases alone: :func:`biased_non_negative`,
:func:`biases` and their result, :class:`BiasedResult`.

Both fit ``mu + user bias + item bias (+ Z H, Z, H >= 0)`` on the observed cells by the same
exact half-steps (:func:`_biased_half_step`: each row's factors and bias together, compiled
where numba is, with the row solves of :mod:`lab.factorizations.rows`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lab.base import held, penalty, predict_cells, start_or_fixed
from lab.rules import PENALTY, RULES_ITERATIVE
from lab.factorizations.cells import NO_INTERACTION, iterate, prepared
from lab.factorizations.rows import update_side

#: The rules of the biased fits' parameters (checked by :func:`lab.rules.check_params`).
RULES_BIASED = {**RULES_ITERATIVE, "bias_l2": PENALTY}
#: The bias penalty of :func:`biases` by default, and so of the rating models' fallback
#: (``REGISTRY["biases"]`` at its defaults).
BIAS_L2 = 10.0


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

    def scores(self, rows) -> np.ndarray:
        """The model's values of the rows asked for, every column; shape (len(rows), m)."""
        rows = np.asarray(rows, dtype=np.intp)
        return (self.mu + self.user_bias[rows, None] + self.item_bias[None, :]
                + self.Z[rows] @ self.H)

    def predict(self, rows, cols) -> np.ndarray:
        """The model's values at the cells ``(rows[t], cols[t])``; shape ``(len(rows),)``."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        return self.baseline(rows, cols) + predict_cells(self.Z, self.H, rows, cols)

    def baseline(self, rows, cols) -> np.ndarray:
        """``mu + user_bias + item_bias`` at the cells, the interaction left out: the bias
        baseline.  A position of -1 (a user or movie outside the fit) adds no bias."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        return (self.mu + np.where(rows >= 0, self.user_bias[np.maximum(rows, 0)], 0.0)
                + np.where(cols >= 0, self.item_bias[np.maximum(cols, 0)], 0.0))


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
        As in :func:`lab.factorizations.als`.  The start is the common one with ``s``
        the mean absolute deviation from ``mu`` (what the interaction models); the
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
        ``H`` (M, m), ``losses``; ``scores(rows)`` and ``predict(rows, cols)``.

    References
    ----------
    Y. Koren, R. Bell and C. Volinsky, "Matrix factorization techniques for
    recommender systems", IEEE Computer 42 (2009), 30-37.
    """
    obs, M, options = prepared(data, mask, num_components, RULES_BIASED,
                               dict(n_iter=n_iter, random_state=random_state, l2=l2,
                                    bias_l2=bias_l2, tol=tol, verbose=verbose),
                               "biased_non_negative")
    return _fit_biased(obs, M, "biased_non_negative", fold_into, **options)


def biases(data, *, n_iter=10, mask="observed", bias_l2=BIAS_L2, tol=None, verbose=False,
           fold_into=None) -> BiasedResult:
    """The baseline ``x_ij ~ mu + a_i + c_j``: :func:`biased_non_negative` without interaction.

    Minimizes ``sum_obs (x_ij - mu - a_i - c_j)^2 + bias_l2 * (||a||^2 + ||c||^2)``
    by the same exact half-steps, which here are the closed forms
    ``a_i = sum_j (x_ij - mu - c_j) / (n_i + bias_l2)`` and likewise for ``c``.
    A row or column without observed cells gets bias 0, so its prediction is
    ``mu`` plus the other side's bias.  Parameters as in :func:`biased_non_negative`, with
    defaults of their own here (``n_iter=10``, ``bias_l2=BIAS_L2``).

    Returns
    -------
    BiasedResult
        With ``Z`` of shape (n, 0) and ``H`` of shape (0, m).
    """
    obs, M, options = prepared(data, mask, NO_INTERACTION, RULES_BIASED,
                               dict(n_iter=n_iter, random_state=0, l2=0.0, bias_l2=bias_l2,
                                    tol=tol, verbose=verbose), "biases")
    return _fit_biased(obs, M, "biases", fold_into, **options)


def _fit_biased(obs, M, name, fold_into, *, n_iter, random_state, l2, bias_l2, tol,
                verbose) -> BiasedResult:
    n, m = obs.shape
    mu, item_bias = ((float(obs.by_row.data.mean()), np.zeros(m)) if fold_into is None else
                     held(fold_into, BiasedResult, {"mu": (), "item_bias": (m,)}))
    mu = float(mu)
    level = float(np.abs(obs.by_row.data - mu).mean())
    Z, H, fixed = start_or_fixed((n, m), M, level, random_state, fold_into, non_negative=True,
                                 kind=BiasedResult)
    user_bias = np.zeros(n)

    def objective(rss):
        return (rss + penalty(l2, obs.row_counts, Z, obs.col_counts, H)
                + bias_l2 * float(user_bias @ user_bias + item_bias @ item_bias))

    def sweep() -> float:
        nonlocal Z, H, user_bias, item_bias
        Z, user_bias, rss = _biased_half_step(obs.by_row, item_bias, H.T, mu, l2, bias_l2,
                                              obs.row_counts, Z)
        if not fixed:
            HT, item_bias, rss = _biased_half_step(obs.by_col, user_bias, Z, mu, l2, bias_l2,
                                                   obs.col_counts, H.T)
            H = HT.T.copy()
        return objective(rss)

    def first() -> float:
        return objective(obs.squared_error(Z, H, offset=mu + item_bias[obs.by_row.indices]))

    losses = iterate(first, sweep, name, n_iter=n_iter, tol=tol, verbose=verbose,
                     kernels_own_cores=True)
    return BiasedResult(mu, user_bias, item_bias, Z, H, losses)


def _biased_half_step(values, bias_other, F, mu, l2, bias_l2, n, previous):
    """Exact update of one side's (factors >= 0, free bias) given the other side: for each
    row r with observed columns J, minimize over z >= 0 and free b
    ``||t - F_J z - b||^2 + l2 n_r ||z||^2 + bias_l2 b^2`` with ``t = x - mu - bias_other[J]``
    (:func:`lab.factorizations.rows.update_side` with the bias).  Returns the factors, the
    biases and the residual sum of squares at them."""
    return update_side(values, F, l2 * n, True, previous, mu=mu, bias_other=bias_other,
                       bias_l2=bias_l2)
