"""Item-item weights for ranking (:func:`lab.factorizations.item_weights`): EASE (Steck 2019)
and its non-negative form; and the non-negative sum of those weights and NNLS-ALS factors."""

from __future__ import annotations

import numpy as np

from lab.base import DenseScores
from lab.rules import defaults_of, real
from lab.factorizations import item_weights
from lab.factorizations.item_weights import RULES_ITEM_WEIGHTS
from lab.interface import Model
from lab.models.als import ImplicitNNLSALS


class EASE(Model):
    """EASE (Steck 2019): item-item weights ``B = argmin ||X - X B||^2 + l2 ||B||^2`` with
    ``diag(B) = 0``, in closed form, on the 0/1 matrix X of who rated what; scores ``X B``."""

    key, label = "ease", "EASE, closed form (Steck 2019)"
    predicts_ratings, select_by = False, "precision"
    defaults = defaults_of(item_weights, "l2")
    rules = {"l2": RULES_ITEM_WEIGHTS["l2"]}
    grid = {"l2": [200.0, 400.0, 800.0]}

    def _fit(self):
        self.result_ = item_weights(self.who_rated_,
                                    nonnegative=self.non_negative, **self.params)

    def _fold_in(self, query):
        return np.asarray(self.index_.who_rated(query) @ self.result_.B)[0]


class NonNegativeEASE(EASE):
    """EASE with the weights constrained ``>= 0`` (ADMM, Steck et al. 2020), each movie's
    penalty ``l2 + l2_per_rating * (its number of ratings)``: a movie is recommended only
    for the movies a user rated, never against them."""

    key = "nn_ease"
    label = "EASE with weights ≥ 0, by ADMM (Steck et al. 2020)"
    non_negative = True
    defaults = {"l2": 100.0, "l2_per_rating": 0.5, **defaults_of(item_weights, "n_iter")}
    rules = {name: RULES_ITEM_WEIGHTS[name] for name in ("l2", "l2_per_rating", "n_iter")}
    grid = {"l2": [100.0], "l2_per_rating": [0.5, 1.0], "n_iter": [40]}


class NonNegativeItemsAndFactors(Model):
    """One non-negative model of two parts: the non-negative EASE weights ``B`` and the
    confidence-weighted NNLS-ALS factors ``Z H`` (each at its model's defaults), scores
    ``(1 - weight) X B / b + weight Z H / f``, with ``b`` and ``f`` the mean training score
    of each part (so that ``weight`` shares comparable scales).  Every part is >= 0."""

    key = "nn_ease_als"
    label = "non-negative EASE + confidence-weighted NNLS-ALS, one sum"
    non_negative, predicts_ratings, select_by = True, False, "precision"
    defaults = {"weight": 0.5}
    rules = {"weight": real(0.0, high=1.0)}
    grid = {"weight": [0.4, 0.6]}
    PARTS = (NonNegativeEASE, ImplicitNNLSALS)

    def _fit(self):
        self.parts_ = [part().fit(self.ratings_, self.index_) for part in self.PARTS]
        scores = [part.scores() for part in self.parts_]
        self.scales_ = [float(s.mean()) for s in scores]
        self.result_ = DenseScores(self._combine(scores))

    def _combine(self, scores):
        w = self.params["weight"]
        return sum(share * s / scale for share, s, scale in zip((1 - w, w), scores, self.scales_))

    def _fold_in(self, query):
        return self._combine([part.fold_in(query).to_numpy() for part in self.parts_])
