"""Item-item weights for ranking: :func:`item_weights`, EASE in closed form (Steck 2019), or
with the weights constrained to be non-negative, by ADMM (Steck, Dimakopoulou, Riabov &
Jebara 2020, "ADMM SLIM").

The weights ``B`` (m x m) minimize, over the data ``X`` (users x movies; for ranking the
0/1 matrix of who rated what)::

    ||X - X B||^2 + sum_i lam_i ||B[i]||^2     with diag(B) = 0   (and B >= 0)

``lam_i = l2 + l2_per_rating * G_ii``, ``G = X^T X`` (for 0/1 data ``G_ii`` counts the ratings
of movie i): a penalty that grows with a movie's ratings, as EASE's dropout-emphasis
variant has it (Steck 2020, "Autoencoders that don't overfit towards the identity").  A
user's scores are ``x B``: every movie scored by the movies the user rated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from typing import NamedTuple

from lab.base import cells_from_rows, validate
from lab.rules import FLAG, ITERATIONS, PENALTY, check_params, real


class ItemWeights(NamedTuple):
    """The weights ``B`` (m, m) and the data ``X`` they were fitted to: a row's scores are
    ``X[row] @ B``; answers ``scores(rows)`` and ``predict(rows, cols)`` as the lab's
    factorization results do.  ``losses`` is empty: a closed form, or ADMM, whose iterates
    are not a descent of the objective."""

    B: np.ndarray
    X: object
    losses: np.ndarray

    def scores(self, rows) -> np.ndarray:
        """``X[rows] @ B``, shape (len(rows), m)."""
        return np.asarray(self.X[np.asarray(rows, dtype=np.intp)] @ self.B)

    def predict(self, rows, cols) -> np.ndarray:
        """The scores at the cells ``(rows[t], cols[t])``, from each row's scores once."""
        return cells_from_rows(self.scores, rows, cols)


#: The rules of :func:`item_weights`' parameters.
RULES_ITEM_WEIGHTS = {"l2": PENALTY, "l2_per_rating": PENALTY, "nonnegative": FLAG,
                      "n_iter": ITERATIONS, "rho": real(0.0, strict=True)}


def item_weights(data, *, l2=400.0, l2_per_rating=0.0, nonnegative=False, n_iter=40,
                 rho=200.0) -> ItemWeights:
    """The weights ``B`` of the objective above, shape (m, m), its diagonal 0, with the data
    (:class:`ItemWeights`, which scores rows as every result of the lab does).

    Parameters
    ----------
    data : array-like or sparse matrix of shape (n, m), finite (every cell observed)
    l2, l2_per_rating : float >= 0
        The penalty of row i of B is ``l2 + l2_per_rating * G_ii``; ``G + diag(lam)`` must
        be invertible (``l2 > 0`` makes sure of it).
    nonnegative : bool, default False
        False: EASE's closed form ``B = I - P diag(1 / diag(P))``, ``P = (G + diag(lam))^-1``.
        True: ``B >= 0`` too, by ``n_iter`` steps of ADMM with penalty parameter ``rho``:
        each step solves the equality-constrained problem for ``B`` in closed form (one
        product with the inverse ``(G + diag(lam) + rho I)^-1``, formed once), clips it at
        0 for ``C`` and updates the scaled dual ``U``; ``C`` is kept (>= 0, diagonal 0).
    n_iter : int >= 0, default 40 (with ``nonnegative`` only)
    rho : float > 0, default 200 (with ``nonnegative`` only)
    """
    params = check_params(RULES_ITEM_WEIGHTS, dict(l2=l2, l2_per_rating=l2_per_rating,
                                                   nonnegative=nonnegative, n_iter=n_iter,
                                                   rho=rho), "item_weights")
    X = validate(data, None, non_negative=False, mask_allowed=False).X
    G = X.T @ X
    G = G.toarray() if sp.issparse(G) else np.array(G, dtype=np.float64)
    penalty = params["l2"] + params["l2_per_rating"] * np.diag(G)
    if not params["nonnegative"]:
        P = _inverse(G, penalty)
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0.0)
        return ItemWeights(B, X, np.empty(0))
    P = _inverse(G, penalty + params["rho"])
    diagonal = np.diag(P)
    C, U = np.zeros_like(G), np.zeros_like(G)
    for _ in range(params["n_iter"]):
        B = P @ (G + params["rho"] * (C - U))
        B -= P * (np.diag(B) / diagonal)            # the multiplier that zeroes diag(B)
        C = np.maximum(B + U, 0.0)
        U += B - C
    np.fill_diagonal(C, 0.0)          # 0 up to rounding already: the constraint, exactly
    return ItemWeights(C, X, np.empty(0))


def _inverse(G: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    A = G.copy()
    A[np.diag_indices_from(A)] += penalty
    try:
        return np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise ValueError("X^T X plus the penalty is singular: a movie nobody rated with no "
                         "penalty; set l2 > 0.") from None
