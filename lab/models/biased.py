"""The biased non-negative model, mean + user bias + movie bias + a non-negative
interaction: fitted by penalized least squares (``biased_nmf``) and as a Bayesian
posterior mean (``bayesian_nmf``)."""

from __future__ import annotations

from lab import factorizations
from lab.rules import RANK, defaults_of
from lab.factorizations.bayesian import RULES as BAYESIAN_RULES
from lab.factorizations.biased import RULES_BIASED
from lab.interface import Model
from lab.models.factorization import ALS_RULES, FactorizationModel
from recommender import RATING_SCALE


class BiasedNMF(FactorizationModel):
    """Mean + biases + a non-negative interaction
    (:func:`lab.factorizations.biased_non_negative`)."""

    key = "biased_nmf"
    label = "biased non-negative model (Koren, Bell & Volinsky 2009, factors ≥ 0)"
    non_negative = True
    defaults = {"num_components": 30, "l2": 0.08,
                **defaults_of(factorizations.biased_non_negative, "n_iter", "random_state",
                              "bias_l2")}
    rules = {**ALS_RULES, "bias_l2": RULES_BIASED["bias_l2"]}
    grid = {"num_components": [10, 30], "l2": [0.06, 0.08], "bias_l2": [5.0], "n_iter": [20],
            "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.biased_non_negative(data, **options)


class BayesianNMF(Model):
    """The biased non-negative model made Bayesian: the posterior mean by Gibbs sampling
    (:func:`lab.factorizations.bayesian_non_negative`), each sample clipped to the
    rating scale before averaging.  It has no fold-in."""

    key = "bayesian_nmf"
    label = "Bayesian non-negative model, posterior mean (Schmidt, Winther & Hansen 2009)"
    non_negative = True
    defaults = {"num_components": 30,
                **defaults_of(factorizations.bayesian_non_negative, "n_samples", "burn_in",
                              "thin", "random_state")}
    rules = {"num_components": RANK, **{name: rule for name, rule in BAYESIAN_RULES.items()
                                        if name != "verbose"}}
    grid = {"num_components": [30, 45], "n_samples": [550], "burn_in": [100], "thin": [2],
            "random_state": [0]}

    def _fit(self):
        self.result_ = factorizations.bayesian_non_negative(self.rated_, clip=RATING_SCALE,
                                                            **self.params)
