"""The baselines: the global mean, the user and movie biases, popularity."""

from __future__ import annotations

import numpy as np

from lab import factorizations
from lab.base import DenseScores
from lab.rules import defaults_of
from lab.factorizations.biased import RULES_BIASED
from lab.interface import Model
from lab.models.factorization import FactorizationModel


class GlobalMean(Model):
    """Every score is the mean training rating (a pair without training ratings is
    predicted by the bias baseline, as for every rating model)."""

    key, label = "global_mean", "global mean"

    def _fit(self):
        self.mean_ = float(self.ratings_["rating"].mean())
        self.result_ = DenseScores(np.broadcast_to(self.mean_, self.index_.shape))

    def _fold_in(self, query):
        return np.full(self.index_.shape[1], self.mean_)


class Biases(FactorizationModel):
    """Mean + a user bias + a movie bias (:func:`lab.factorizations.biases`) on the observed
    ratings; fitted and folded in as every factorization model is.  At its defaults, the
    baseline every rating model predicts its pairs without training ratings by
    (:class:`lab.interface.Model`)."""

    key, label = "biases", "user + movie biases"
    defaults = defaults_of(factorizations.biases, "bias_l2")          # BIAS_L2
    rules = {"bias_l2": RULES_BIASED["bias_l2"]}
    grid = {"bias_l2": [5.0, 15.0]}

    def factorize(self, data, **options):
        return factorizations.biases(data, **options)


class Popularity(Model):
    """The most-rated movies first, for everyone (it ranks; it predicts no rating)."""

    key, label = "popularity", "popularity (most-rated first)"
    predicts_ratings, select_by = False, "precision"

    def _fit(self):
        self.counts_ = self._movie_counts.astype(float)
        self.result_ = DenseScores(np.broadcast_to(self.counts_, self.index_.shape))

    def _fold_in(self, query):
        return self.counts_.copy()
