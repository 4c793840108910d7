"""The exercise's clipped multiplicative updates as models: the zero, global-mean and
movie-mean fills of the rating matrix, and the observed ratings alone with a penalty."""

from __future__ import annotations

from lab.base import ITERATIONS, PENALTY, RANK, SEED
from lab.models.factorization import FactorizationModel
from lab.nmf import non_negative

_MU_RULES = {"num_components": RANK, "n_iter": ITERATIONS, "random_state": SEED}


class MultiplicativeNMF(FactorizationModel):
    """The exercise's clipped multiplicative updates, :func:`lab.nmf.non_negative`, on the
    matrix ``fill`` describes; on the observed ratings (``fill`` None, :class:`MUObserved`)
    restricted to the rated cells."""

    non_negative = True
    defaults = {"num_components": 20, "n_iter": 500, "random_state": 0}
    rules = _MU_RULES

    def factorize(self, data, **options):
        return non_negative(data, **options)


class MUZeroFill(MultiplicativeNMF):
    """The exercise: multiplicative updates on the zero-filled matrix."""

    key, label, fill, select_by = "nmf_zero", "MU NMF, zero fill (the exercise)", 0, "precision"
    grid = {"num_components": [10, 20, 30], "n_iter": [500], "random_state": [0]}


class MUGlobalMeanFill(MultiplicativeNMF):
    key, label, fill = "nmf_global_mean", "MU NMF, global-mean fill", "global_mean"
    grid = {"num_components": [5, 15], "n_iter": [500], "random_state": [0]}


class MUMovieMeanFill(MultiplicativeNMF):
    key, label, fill = "nmf_movie_mean", "MU NMF, movie-mean fill", "movie_mean"
    grid = {"num_components": [5, 15], "n_iter": [500], "random_state": [0]}


class MUObserved(MultiplicativeNMF):
    """Multiplicative updates on the observed ratings only, with the count-scaled L2."""

    key, label = "nmf_masked", "masked regularized MU NMF"
    defaults = {**MultiplicativeNMF.defaults, "l2": 0.1}
    rules = {**_MU_RULES, "l2": PENALTY}
    grid = {"num_components": [20, 50, 100], "l2": [0.1, 0.15], "n_iter": [500],
            "random_state": [0]}
