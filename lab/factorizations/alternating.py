"""Regularized alternating least squares on the observed cells, and NNLS-ALS: :func:`als`.

Its sweeps (:func:`_alternate`) solve every row, then every column, exactly with the row
solves of :mod:`lab.factorizations.rows`.
"""

from __future__ import annotations

from lab.base import FitResult, penalty, start_or_fixed
from lab.rules import FLAG, RULES_ITERATIVE
from lab.factorizations.cells import iterate, prepared
from lab.factorizations.rows import update_side


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
    compiled, :func:`lab.factorizations.rows._nonnegative_solve`; in NumPy,
    :func:`lab.factorizations.rows.solve_nonneg`).  Exact block minimizations: the
    objective never increases.  Spark MLlib's ``ALS(regParam=l2, nonnegative=...)``
    minimizes the same.

    Parameters
    ----------
    data : array-like, DataFrame or sparse matrix of shape (n, m)
        Non-negative at observed cells when ``nonnegative``.
    num_components : int >= 1
        Rank M; it may exceed ``min(n, m)`` (:func:`lab.rules.check_rank`: a MemoryError
        only if Z and H would not fit in the machine's memory).
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
    obs, M, options = prepared(data, mask, num_components, {**RULES_ITERATIVE, "nonnegative": FLAG},
                               dict(nonnegative=nonnegative, n_iter=n_iter,
                                    random_state=random_state, l2=l2, tol=tol, verbose=verbose),
                               name, non_negative=nonnegative is True)
    return _alternate(obs, M, name, fold_into, non_negative=options.pop("nonnegative"), **options)


def _alternate(obs, M, name, fold_into, *, non_negative, n_iter, random_state, l2, tol,
               verbose) -> FitResult:
    """The sweeps of :func:`als`: rows, then columns, each solved exactly."""
    Z, H, fixed = start_or_fixed(obs.shape, M, obs.level, random_state, fold_into,
                                 non_negative=non_negative)

    def sweep() -> float:
        nonlocal Z, H
        Z, _, rss = update_side(obs.by_row, H.T, l2 * obs.row_counts, non_negative, Z)
        if not fixed:
            HT, _, rss = update_side(obs.by_col, Z, l2 * obs.col_counts, non_negative, H.T)
            H = HT.T.copy()
        return rss + penalty(l2, obs.row_counts, Z, obs.col_counts, H)

    def first() -> float:
        return obs.squared_error(Z, H) + penalty(l2, obs.row_counts, Z, obs.col_counts, H)

    losses = iterate(first, sweep, name, n_iter=n_iter, tol=tol, verbose=verbose,
                     kernels_own_cores=True)
    return FitResult(Z, H, losses)
