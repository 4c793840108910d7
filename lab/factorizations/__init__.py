"""The factorizations the exercise's multiplicative updates are compared with, one module each.

Each takes its input validation from :mod:`lab.base` (:func:`lab.base.validate`) and the
way its parameter rules are checked from :mod:`lab.rules` (:func:`lab.rules.check_params`, on
rules declared beside it).  The iterative ones (ALS and NNLS-ALS, the biased model,
the implicit-feedback ALS) start from :func:`nmf_core.start`, keep the result convention
(``losses[0]`` is the objective at the start), run one loop with the stopping rule,
:func:`lab.factorizations.cells.iterate`, and fold new rows into a fitted model
(``fold_into=``) with their own training half-step; the rating models among them penalize
the factors scaled by each row's count (the implicit one, whose rows see every cell, does
not).  The others depart as their docstrings say: the truncated SVD is a closed form of a
complete matrix that folds in by projection, the Bayesian model samples from its own
start, and the item weights are a closed form or ADMM, with no fold-in step.

* :func:`als` (:mod:`~lab.factorizations.alternating`) - regularized alternating least
  squares (Zhou et al. 2008); with ``nonnegative=True`` NNLS-ALS, ``Z, H >= 0``, each row
  an exact non-negative least-squares problem (Bro & De Jong 1997);
* :func:`biased_non_negative` (:mod:`~lab.factorizations.biased`) - mean + user and item
  biases + a non-negative interaction (the biased model of Koren, Bell & Volinsky 2009,
  with the factors constrained), and :func:`biases`, the same model without the
  interaction; both return a :class:`BiasedResult`;
* :func:`truncated_svd` (:mod:`~lab.factorizations.svd`) - the best rank-M approximation
  of a complete matrix (PureSVD of a zero-filled matrix, Cremonesi, Koren & Turrin 2010);
* :func:`implicit_nnls_als` (:mod:`~lab.factorizations.implicit`) - non-negative ALS on
  implicit feedback, every unrated cell a weak zero (Hu, Koren & Volinsky 2008), for
  ranking;
* :func:`bayesian_non_negative` (:mod:`~lab.factorizations.bayesian`) - the biased
  non-negative model with priors instead of penalties, its posterior mean
  (:class:`PosteriorMean`) sampled by Gibbs sweeps (Schmidt, Winther & Hansen 2009;
  Salakhutdinov & Mnih 2008).  It has no ``fold_into``;
* :func:`item_weights` (:mod:`~lab.factorizations.item_weights`) - item-item weights for
  ranking, EASE in closed form (Steck 2019) or constrained >= 0 by ADMM (Steck et al.
  2020); weights, not factors: an :class:`ItemWeights` scores a row as ``x B``, and a new
  row needs no fold-in step.

Each returns a result that answers ``scores(rows)`` and ``predict(rows, cols)`` itself
(:class:`lab.base.FitResult`, :class:`BiasedResult`, :class:`PosteriorMean`,
:class:`ItemWeights`).  What they
share is in :mod:`~lab.factorizations.cells` (the observed cells, the loop)
and :mod:`~lab.factorizations.rows` (the exact row solves of ALS, NNLS-ALS and the biased
model, NumPy and compiled).

Observed cells: ``mask="observed"`` (the default of each function here with a ``mask``
but :func:`truncated_svd`, which needs every cell: ``mask=None``; :func:`item_weights`
reads the rated cells of its data, the stored entries) means the non-NaN cells
of a dense input and the stored non-NaN entries of a sparse one, the natural
reading of a ratings matrix; ``mask=None`` means every cell.  Predictions are
formed at observed cells only, so with ``mask="observed"`` nothing of size
users x movies is allocated for a sparse input, but by :func:`bayesian_non_negative`,
whose posterior mean is a dense users x movies matrix.
"""

from __future__ import annotations

from lab.factorizations.alternating import als
from lab.factorizations.bayesian import PosteriorMean, bayesian_non_negative
from lab.factorizations.biased import BiasedResult, biased_non_negative, biases
from lab.factorizations.implicit import implicit_nnls_als
from lab.factorizations.item_weights import ItemWeights, item_weights
from lab.factorizations.svd import truncated_svd

__all__ = ["als", "biased_non_negative", "biases", "truncated_svd", "implicit_nnls_als",
           "bayesian_non_negative", "item_weights", "BiasedResult", "PosteriorMean",
           "ItemWeights"]
