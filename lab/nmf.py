"""The general NMF of the lab: the exercise's multiplicative updates with the options that the
exercise does not need.

:func:`non_negative` runs the updates of :func:`nmf_core.non_negative` (Lee & Seung 2001)
from the same start (:func:`nmf_core.start`), and adds:

* ``mask``: fit the observed cells only.  With ``P = Z H`` at the observed cells, ``Z^T P``
  stands in for ``Z^T Z H`` and ``P H^T`` for ``Z H H^T``; the pass over the cells is the
  compiled kernel of :mod:`lab.kernels` where numba is installed, its NumPy form elsewhere;
* ``l2``: the count-scaled penalty of ALS-WR (:func:`lab.base.penalty`), whose terms join
  the denominators;
* ``eps``: the clip floor relative to the data, ``eps * s**1.5`` (``s`` the mean observed
  value), so that a factorization of ``c X`` is that of ``X`` scaled by ``sqrt(c)``;
* ``tol`` and ``verbose``: the lab's stopping rule and progress line
  (:func:`lab.base.finished`);
* ``fold_into``: keep an earlier fit's H and fit only Z, as for new users.

With none of them set, the result is that of :func:`nmf_core.non_negative` (factors tested
bit for bit, losses to 1e-9; the exercise's function is the reference) wherever neither clip
floor binds, as on data of ordinary scale: the exercise clips at the fixed
``nmf_core.FLOOR``, the lab at ``eps * s**1.5``, which scales with the data.  Data and mask
are read by :func:`lab.base.validate`, the lab's one input check; without a mask the checked
data then go through :func:`nmf_core.as_matrix` (the exercise's rule of when to multiply as
CSR, which checks them again, cheaply).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lab import kernels
from lab.base import FitResult, mean_observed, penalty, start_or_fixed, validate
from lab.rules import RANK, RULES_ITERATIVE, real
from lab.factorizations.cells import checked, grouped, iterate
from nmf_core import as_matrix, squared_error

__all__ = ["non_negative", "follow", "EPS", "RULES"]

#: The default ``eps``: denominators are clipped below at ``EPS * s**1.5``.
EPS = float(np.finfo(np.float64).eps)

#: The rules of :func:`non_negative`'s parameters (checked by :func:`lab.rules.check_params`).
RULES = {"num_components": RANK, **RULES_ITERATIVE, "eps": real(0.0, strict=True)}


def non_negative(data, num_components, *, n_iter=1000, random_state=0, mask=None, l2=0.0,
                 eps=EPS, tol=None, verbose=False, fold_into=None) -> FitResult:
    """Factorize ``data ~ Z @ H``, Z and H >= 0, by the clipped multiplicative updates.

    Parameters
    ----------
    data : array-like, DataFrame or SciPy sparse matrix of shape (n, m), >= 0 where observed
    num_components : int >= 1, the number M of components (rows of H); may exceed min(n, m)
    n_iter : int >= 0, default 1000: steps, each updating H, then Z; 0 returns the start
    random_state : int >= 0, numpy Generator or RandomState, or None: seeds the start
        (:func:`nmf_core.start`, ``s`` the mean observed value)
    mask : None (every cell), "observed" (the non-NaN cells, or a sparse matrix's stored
        entries), or a boolean (0/1) array or sparse matrix of data's shape (its True cells
        or stored entries): the only cells the loss and the updates see
    l2 : float >= 0, default 0: adds ``l2 (sum_i n_i ||Z[i]||^2 + sum_j m_j ||H[:, j]||^2)``,
        ``n_i``, ``m_j`` the observed cells of row i, column j (Zhou et al. 2008)
    eps : float > 0, default ``EPS``: denominators are clipped below at ``eps * s**1.5``
    tol : float >= 0 or None (default): stop after a step that lowers the objective by at
        most tol times itself; None runs all n_iter steps
    verbose : bool: print the objective at the start, each tenth of n_iter and the end
    fold_into : NMFResult, optional: a fit of other rows with the same columns; its H is
        kept and only Z is fitted: new rows are scored without refitting the others

    Returns
    -------
    FitResult (an :class:`nmf_core.NMFResult` that also answers ``scores(rows)`` and
    ``predict(rows, cols)``): ``Z`` (n, M), ``H`` (M, m) and ``losses[t]``, the squared error
    over the observed cells plus the penalty after t steps, ``losses[0]`` at the start.
    """
    run = _prepare(data, num_components, dict(n_iter=n_iter, random_state=random_state,
                                              mask=mask, l2=l2, eps=eps, tol=tol,
                                              verbose=verbose), fold_into)
    Z, H, losses, _ = run.updates(run.X, run.Z, run.H, update_H=not run.fixed, **run.options)
    return FitResult(Z, H, losses)


def follow(data, rows, num_components, *, n_iter=1000, random_state=0, mask=None, l2=0.0,
           eps=EPS, tol=None) -> np.ndarray:
    """The factors Z of new ``rows`` (data of the same columns as ``data``, masked alike)
    fitted the way :func:`non_negative` fits the rows of ``data``: the same run, from the
    same start, every Z-update of it applied to the new rows too, which leave H untouched.
    The new rows start where a row of ``nmf_core.start`` is on average: every entry
    ``sqrt(2 / pi) sqrt(s / M)``, ``s`` the mean observed value of ``data``.

    A fold-in against the final H alone (``fold_into``) ends at the best rows for that H,
    where the trained rows, after ``n_iter`` steps of a moving H, have not arrived; a
    training row given here as a new one ends next to its trained row.  Costs one fit."""
    run = _prepare(data, num_components, dict(n_iter=n_iter, random_state=random_state,
                                              mask=mask, l2=l2, eps=eps, tol=tol,
                                              verbose=False))
    new = validate(rows, mask, name="rows")
    if new.X.shape[1] != run.X.shape[1]:
        raise ValueError(f"rows must have the {run.X.shape[1]} columns of data; got shape "
                         f"{new.X.shape}.")
    Z0 = np.full((new.X.shape[0], run.M), np.sqrt(2 / np.pi * run.level / run.M))
    *_, followers = run.updates(run.X, run.Z, run.H, update_H=True,
                                follow=(new.X, Z0), **run.options)
    return followers


class _Run(NamedTuple):
    """A run of the updates, checked and started: data X (dense, or CSR of the observed
    cells when masked), rank M, the mean observed value, the start Z and H (H ``fixed`` when
    folding in), the iteration (``updates``: :func:`_every_cell` or :func:`_masked`) and its
    options."""

    X: object
    M: int
    level: float
    Z: np.ndarray
    H: np.ndarray
    fixed: bool
    updates: object
    options: dict


def _prepare(data, num_components, options: dict, fold_into=None) -> _Run:
    """Check the parameters, the data and the rank (:func:`lab.factorizations.cells.checked`),
    draw the start (H held at ``fold_into``'s, if given: :func:`lab.base.start_or_fixed`)."""
    mask = options.pop("mask")
    rules = {k: rule for k, rule in RULES.items() if k != "num_components"}
    data, M, options = checked(data, mask, num_components, rules, options, "non_negative")
    s = mean_observed(data)
    Z, H, fixed = start_or_fixed(data.X.shape, M, s, options.pop("random_state"), fold_into,
                                 non_negative=True)
    options["floor"] = options.pop("eps") * (s ** 1.5 if s > 0 else 1.0)
    return _Run(data.X, M, s, Z, H, fixed, _masked if data.masked else _every_cell,
                options)


def _step(factor, numerator, denominator, floor: float) -> np.ndarray:
    """One multiplicative update, the exercise's: ``factor * numerator / max(denominator,
    floor)``, element-wise, in :func:`nmf_core.non_negative`'s order of operations, so that
    without options this module's factors are the exercise's bit for bit (on the digits and
    MovieLens, where no denominator reaches either floor).  (The masked kernels' NumPy form,
    :func:`lab.kernels._update_in`, divides first, in place: it saves the memory of a
    product the size of the factor.)"""
    return factor * numerator / np.clip(denominator, floor, None)


def _every_cell(X, Z, H, *, update_H, n_iter, l2, floor, tol, verbose, follow=None):
    """The updates over every cell, as :func:`nmf_core.non_negative` runs them (its loss,
    :func:`nmf_core.squared_error`, from the same products), with the penalty's terms in
    the denominators (every row has m cells, every column n), in the lab's loop
    (:func:`lab.factorizations.cells.iterate`); returns ``(Z, H, losses, followers)``, the
    last the Z of ``follow = (rows, their start)`` after every Z-update (or None).  The
    data were checked by :func:`lab.base.validate`, which also admits the masks and missing
    values the exercise's function refuses; mostly zeros are multiplied as CSR by the
    ground floor's rule (:func:`nmf_core.as_matrix`)."""
    n, m = X.shape
    X = as_matrix(X)
    Xf, Zf = follow if follow is not None else (None, None)
    XX = (X ** 2).sum()                        # ||X||^2, as nmf_core.non_negative computes it
    row_counts, col_counts = np.full(n, float(m)), np.full(m, float(n))
    ZtX, ZtZ = Z.T @ X, Z.T @ Z

    def loss() -> float:                        # of the current Z and H, from Z^T X, Z^T Z
        return (max(squared_error(XX, ZtX, ZtZ, H), 0.0)
                + penalty(l2, row_counts, Z, col_counts, H))

    def sweep() -> float:
        nonlocal Z, H, Zf, ZtX, ZtZ
        if update_H:
            ZtZH = ZtZ @ H
            if l2:
                ZtZH += l2 * n * H
            H = _step(H, ZtX, ZtZH, floor)                                         # (1)
        HHt = H @ H.T
        ZHHt = Z @ HHt
        if l2:
            ZHHt += l2 * m * Z
        Z = _step(Z, X @ H.T, ZHHt, floor)                                         # (2)
        if Zf is not None:                       # the same update (2) for the followers
            Zf = _step(Zf, Xf @ H.T, Zf @ HHt + l2 * m * Zf, floor)
        ZtX, ZtZ = Z.T @ X, Z.T @ Z             # for the loss, and for the next (1)
        return loss()

    losses = iterate(loss, sweep, "non_negative", n_iter=n_iter, tol=tol, verbose=verbose)
    return Z, H, losses, Zf


def _masked(Xo, Z, H, *, update_H, n_iter, l2, floor, tol, verbose, follow=None):
    """The updates over the observed cells (the stored entries of CSR ``Xo``), each
    half-step one pass over the cells grouped by column, then by row
    (:func:`lab.factorizations.cells.grouped`, in the layout of
    :func:`lab.kernels.masked_half_step`).  With ``P = Z H`` at those cells and ``n_i`` /
    ``m_j`` the observed cells of row i / column j::

        H <- H * (Z^T Xo) / clip(Z^T P + l2 * m_j * H, floor)
        Z <- Z * (Xo H^T) / clip(P' H^T + l2 * n_i * Z, floor)   (P' with the new H)

    the minimizers of Lee & Seung's auxiliary function of the masked, penalized objective.
    The H half-step also returns the squared error at the incoming ``(Z, H)``: each sweep
    ends with it, the next H computed ahead, in the lab's loop
    (:func:`lab.factorizations.cells.iterate`).  Returns ``(Z, H, losses, followers)`` as
    :func:`_every_cell`.
    """
    half_step = kernels.masked_half_step()
    by_row, by_col = (kernels.cells(side) for side in grouped(Xo))
    if follow is not None:
        followed = kernels.cells(sp.csr_array(follow[0]))
        Zf = np.array(follow[1], dtype=np.float64, order="C")
    Z = np.array(Z, dtype=np.float64, order="C")
    HT = np.array(H.T, dtype=np.float64, order="C")      # row j = column j of H
    HT_next = np.empty_like(HT)

    def loss_and_next_H() -> float:
        # the error of (Z, H); H's update into HT_next (unused when H is fixed)
        return (half_step(*by_col, HT, Z, l2, floor, HT_next)
                + penalty(l2, by_row.counts, Z, by_col.counts, HT.T))

    def sweep() -> float:
        nonlocal HT, HT_next
        if update_H:
            HT, HT_next = HT_next, HT
        half_step(*by_row, Z, HT, l2, floor, Z)            # Z's update, in place
        if follow is not None:                             # the followers' update alike
            half_step(*followed, Zf, HT, l2, floor, Zf)
        return loss_and_next_H()

    losses = iterate(loss_and_next_H, sweep, "non_negative", n_iter=n_iter, tol=tol,
                     verbose=verbose, kernels_own_cores=True)
    return Z, HT.T.copy(), losses, Zf if follow is not None else None
