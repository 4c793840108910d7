"""scikit-learn's NMF as a model of the lab (scikit-learn is in every environment)."""

from __future__ import annotations

import warnings

import numpy as np

from lab.base import FitResult
from lab.rules import RANK, SEED, integer
from lab.interface import Model, integer_seed, library_version


class ScikitLearnNMF(Model):
    """scikit-learn's NMF (coordinate descent from NNDSVDa) on the zero-filled matrix."""

    key, label = "sklearn_nmf", "scikit-learn NMF, zero fill"
    library, non_negative, select_by = library_version("scikit-learn"), True, "precision"
    defaults = {"num_components": 20, "max_iter": 400, "random_state": 0}
    rules = {"num_components": RANK, "max_iter": integer(1), "random_state": SEED}
    grid = {"num_components": [10, 20], "max_iter": [400], "random_state": [0]}

    def _fit(self):
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning
        p = self.params
        self.model_ = NMF(n_components=p["num_components"], init="nndsvda",
                          max_iter=p["max_iter"], random_state=integer_seed(p["random_state"]))
        with warnings.catch_warnings():
            # max_iter is a budget chosen on validation data, so stopping at it is intended
            warnings.simplefilter("ignore", ConvergenceWarning)
            W = self.model_.fit_transform(self.rated_)
        self.result_ = FitResult(W, self.model_.components_, np.empty(0))

    def _fold_in(self, query):
        row = self.index_.query_row(query, self.ratings_, 0)
        return (self.model_.transform(row) @ self.model_.components_)[0]
