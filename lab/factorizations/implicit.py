"""Non-negative ALS on implicit feedback (who rated what, every unrated cell a weak zero):
:func:`implicit_nnls_als`."""

from __future__ import annotations

import numpy as np

from lab.base import FitResult, ones_at, predict_cells, start_or_fixed
from lab.rules import PENALTY, RULES_ITERATIVE
from lab.factorizations.cells import iterate, prepared
from lab.factorizations.rows import normal_equations, row_blocks, solve_nonneg
from nmf_core import squared_error

#: The rules of :func:`implicit_nnls_als`' parameters (checked by :func:`lab.rules.check_params`).
RULES_IMPLICIT = {**RULES_ITERATIVE, "alpha": PENALTY}


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
    (:func:`lab.factorizations.rows.solve_nonneg`), so the objective never increases.
    Scores ``Z H`` rank the movies a user is likely to rate, as the zero-filled NMF does,
    but with the unobserved cells counted as weak, not as certain, zeros.

    Parameters
    ----------
    data, num_components, n_iter, random_state, mask, tol, verbose, fold_into
        As in :func:`lab.factorizations.als`; ``mask`` marks the observed cells (the
        positives).  The start is :func:`nmf_core.start` at the level 1 of a positive
        cell (not the mean rating).
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
    obs, M, options = prepared(data, mask, num_components, RULES_IMPLICIT,
                               dict(n_iter=n_iter, random_state=random_state, l2=l2, tol=tol,
                                    verbose=verbose, alpha=alpha), "implicit_nnls_als")
    Z, H, fixed = start_or_fixed(obs.shape, M, 1.0, options["random_state"], fold_into,
                                 non_negative=True)
    positives = [ones_at(part) for part in (obs.by_row, obs.by_col)]
    l2, alpha = options["l2"], options["alpha"]
    rows = obs.rows

    def objective(Z, H):
        # sum_all (p - zh)^2, expanded as the exercise's loss is (nmf_core.squared_error:
        # |P|^2 = the number of positives, P^T Z by the column-grouped ones); plus
        # alpha * sum_obs (1 - zh)^2
        at_observed = predict_cells(Z, H, rows, positives[0].indices)
        everywhere = squared_error(positives[0].nnz, (positives[1] @ Z).T, Z.T @ Z, H)
        return float(everywhere + alpha * np.sum((1 - at_observed) ** 2)
                     + l2 * (np.vdot(Z, Z) + np.vdot(H, H)))

    def sweep() -> float:
        nonlocal Z, H
        Z = _implicit_side(positives[0], H.T, l2, alpha, Z)
        if not fixed:
            H = _implicit_side(positives[1], Z, l2, alpha, H.T).T.copy()
        return objective(Z, H)

    losses = iterate(lambda: objective(Z, H), sweep, "implicit_nnls_als", n_iter=options["n_iter"],
                     tol=options["tol"], verbose=options["verbose"])
    return FitResult(Z, H, losses)


def _implicit_side(positive, F, l2, alpha, previous):
    """New rows ``x >= 0`` minimizing ``sum_j c_j (p_j - x . f_j)^2 + l2 ||x||^2`` for each row.

    ``positive`` (n, m) holds the observed cells as ones; ``F`` (m, M) is fixed.  The Gram
    matrix is ``F'F + alpha * sum_obs f_j f_j'``, the right-hand side ``(1 + alpha) *
    sum_obs f_j``; the sums over the observed cells are the explicit model's
    (:func:`lab.factorizations.rows.normal_equations`).
    """
    n, base = positive.shape[0], F.T @ F
    out = np.empty((n, F.shape[1]))
    for block in row_blocks(None, n):
        observed, _, g, _, _ = normal_equations(positive[block], F)
        size = g.shape[0]
        out[block] = solve_nonneg(base + alpha * observed, (1 + alpha) * g, np.full(size, l2),
                                  np.zeros(size, dtype=bool), previous[block])
    return out
