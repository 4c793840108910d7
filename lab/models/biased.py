"""The biased non-negative model, mean + user bias + movie bias + a non-negative
interaction: fitted by penalized least squares (``biased_nmf``) and as a Bayesian
posterior mean (``bayesian_nmf``)."""

from __future__ import annotations

from lab import factorizations
from lab.base import PENALTY, RANK, SEED, integer
from lab.interface import ResultModel
from lab.models.factorization import ALS_RULES, FactorizationModel
from lab.ratings import RATING_SCALE


class BiasedNMF(FactorizationModel):
    """Mean + biases + a non-negative interaction
    (:func:`lab.factorizations.biased_non_negative`)."""

    key, label = "biased_nmf", "biased non-negative model (Koren, Bell & Volinsky 2009, factors ≥ 0)"
    non_negative = True
    defaults = {"num_components": 30, "n_iter": 20, "random_state": 0, "l2": 0.08, "bias_l2": 5.0}
    rules = {**ALS_RULES, "bias_l2": PENALTY}
    grid = {"num_components": [10, 30], "l2": [0.06, 0.08], "bias_l2": [5.0], "n_iter": [20],
            "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.biased_non_negative(data, **options)


class BayesianNMF(ResultModel):
    """The biased non-negative model made Bayesian: the posterior mean by Gibbs sampling
    (:func:`lab.factorizations.bayesian_non_negative`), each sample clipped to the
    rating scale before averaging.  It has no fold-in."""

    key = "bayesian_nmf"
    label = "Bayesian non-negative model, posterior mean (Schmidt, Winther & Hansen 2009)"
    non_negative = True
    defaults = {"num_components": 30, "n_samples": 550, "burn_in": 100, "thin": 2,
                "random_state": 0}
    rules = {"num_components": RANK, "n_samples": integer(1), "burn_in": integer(0),
             "thin": integer(1), "random_state": SEED}
    grid = {"num_components": [30, 45], "n_samples": [550], "burn_in": [100], "thin": [2],
            "random_state": [0]}

    def _fit(self, ratings):
        self.result_ = factorizations.bayesian_non_negative(self.rated_, clip=RATING_SCALE,
                                                            **self.params)
        self.losses_ = self.result_.losses
