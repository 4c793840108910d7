"""Alternating least squares: unconstrained ALS, NNLS-ALS (each row an exact non-negative
least-squares solve), the mean of several NNLS-ALS fits, and NNLS-ALS on who rated what,
confidence-weighted."""

from __future__ import annotations

import numpy as np

from lab import factorizations
from lab.base import FitResult
from lab.rules import defaults_of, integer
from lab.factorizations.implicit import RULES_IMPLICIT
from lab.interface import Model, integer_seed
from lab.models.factorization import ALS_RULES, FactorizationModel


class ALS(FactorizationModel):
    """Regularized ALS on the observed ratings (:func:`lab.factorizations.als`)."""

    key, label = "als", "unconstrained ALS (Zhou et al. 2008)"
    defaults = {"num_components": 10, "n_iter": 15,
                **defaults_of(factorizations.als, "random_state", "l2")}
    rules = ALS_RULES
    grid = {"num_components": [5, 10], "l2": [0.08, 0.12], "n_iter": [15], "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.als(data, nonnegative=self.non_negative, **options)


class NNLSALS(ALS):
    """ALS with Z, H >= 0, each row an exact non-negative least-squares solve."""

    key, label = "nnls_als", "NNLS-ALS (Bro & De Jong 1997)"
    non_negative = True
    defaults = {"num_components": 20,
                **defaults_of(factorizations.als, "n_iter", "random_state", "l2")}
    grid = {"num_components": [10, 20], "l2": [0.1, 0.12, 0.14], "n_iter": [20],
            "random_state": [0]}


class NNLSALSAverage(Model):
    """The mean of ``n_seeds`` NNLS-ALS fits from the seeds ``s``, ``s + 1``, ..., where
    ``s`` is ``random_state`` when an integer, else one seed drawn from it
    (:func:`lab.interface.integer_seed`: a Generator's or RandomState's next draw, a fresh
    one for None).

    The mean of S non-negative products ``Z_s @ H_s`` is itself one non-negative
    factorization of rank ``S * M``, ``[Z_1 ... Z_S] / S`` times the stacked H: the
    ``result_`` that scores; a new user is folded into each member and the scores averaged.
    """

    key, label = "nnls_als_avg", "NNLS-ALS, mean of five seeds"
    non_negative = True
    defaults = {**NNLSALS.defaults, "n_iter": 12, "n_seeds": 5}
    rules = {**ALS_RULES, "n_seeds": integer(1)}
    grid = {"num_components": [10, 20], "l2": [0.09, 0.11, 0.13], "n_iter": [12],
            "random_state": [0], "n_seeds": [5]}

    def _fit(self):
        params = dict(self.params)
        first, n_seeds = integer_seed(params.pop("random_state")), params.pop("n_seeds")
        self.members_ = [NNLSALS(random_state=seed, **params).fit(self.ratings_, self.index_)
                         for seed in range(first, first + n_seeds)]
        self.result_ = FitResult(np.hstack([m.result_.Z for m in self.members_]) / n_seeds,
                                 np.vstack([m.result_.H for m in self.members_]), np.empty(0))

    def _fold_in(self, query):
        return sum(m.fold_in(query).to_numpy() for m in self.members_) / len(self.members_)


class ImplicitNNLSALS(FactorizationModel):
    """Non-negative ALS on who rated what, confidence-weighted (Hu, Koren & Volinsky 2008):
    :func:`lab.factorizations.implicit_nnls_als`.  It ranks; it predicts no rating."""

    key = "implicit_nnls_als"
    label = "confidence-weighted NNLS-ALS on who rated what (Hu, Koren & Volinsky 2008)"
    non_negative, predicts_ratings, select_by = True, False, "precision"
    defaults = {"num_components": 50, **defaults_of(factorizations.implicit_nnls_als, "n_iter",
                                                    "random_state", "l2", "alpha")}
    rules = {**ALS_RULES, "alpha": RULES_IMPLICIT["alpha"]}
    grid = {"num_components": [30, 50], "l2": [30.0], "alpha": [3.0, 5.0], "n_iter": [10],
            "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.implicit_nnls_als(data, **options)
