"""A model of the lab's interface whose scores are given, whatever it is fitted on: the
tests of the evaluation, the interface and the ranking hold what those do with scores
alone (test_evaluation.py, test_interface.py, test_ranking.py)."""

import numpy as np

from lab.base import DenseScores
from lab.interface import Model


class GivenScores(Model):
    """Scores ``scores`` (an array of the index's shape, or one number for every cell)."""

    key, label = "given", "given scores"

    def __init__(self, scores=0.0, **params):
        super().__init__(**params)
        self.given = scores

    def _fit(self):
        values = np.asarray(self.given, dtype=float)
        self.result_ = DenseScores(np.broadcast_to(values, self.index_.shape))
