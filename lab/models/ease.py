"""EASE (Steck 2019): item-item weights in closed form, a top-N model."""

from __future__ import annotations

import numpy as np

from lab.base import PENALTY
from lab.interface import Model


class EASE(Model):
    """EASE (Steck 2019): item-item weights ``B = argmin ||X - X B||^2 + l2 ||B||^2`` with
    ``diag(B) = 0``, in closed form, on the 0/1 matrix X of who rated what; scores ``X B``."""

    key, label = "ease", "EASE, closed form (Steck 2019)"
    predicts_ratings, select_by = False, "precision"
    defaults = {"l2": 400.0}
    rules = {"l2": PENALTY}
    grid = {"l2": [200.0, 400.0, 800.0]}

    def _fit(self, ratings):
        X = (self.rated_ != 0).astype(float)
        gram = (X.T @ X).toarray()
        gram[np.diag_indices_from(gram)] += self.params["l2"]
        inverse = np.linalg.inv(gram)
        self.weights_ = -inverse / np.diag(inverse)
        np.fill_diagonal(self.weights_, 0.0)
        self.who_rated_ = X

    def _score_rows(self, rows):
        return np.asarray(self.who_rated_[rows] @ self.weights_)

    def _fold_in(self, query):
        who_rated = self.index_.query_row(query, self.ratings_, None) != 0
        return np.asarray(who_rated.astype(float) @ self.weights_)[0]
