"""The exercise's clipped multiplicative updates as models: the zero, global-mean and
movie-mean fills of the rating matrix, and the observed ratings alone with a penalty."""

from __future__ import annotations

from lab.rules import defaults_of
from lab.models.factorization import FactorizationModel
from lab.nmf import RULES, follow, non_negative

#: The parameters of the MU models: those of :func:`lab.nmf.non_negative` they set.
_MU_RULES = {name: RULES[name] for name in ("num_components", "n_iter", "random_state")}
_SEED = defaults_of(non_negative, "random_state")     # (the class's non_negative is a flag)


class MultiplicativeNMF(FactorizationModel):
    """The exercise's clipped multiplicative updates, :func:`lab.nmf.non_negative`, on the
    matrix ``fill`` describes; on the observed ratings (``fill`` None, :class:`MUObserved`)
    restricted to the rated cells.

    A new user is folded in the way training fits a row (:func:`lab.nmf.follow`): the
    user's row follows the training run, each of its Z-updates against the same H.  After
    ``n_iter`` multiplicative steps the trained rows are still on their way; a fold-in
    against the final H alone would reach the best row for that H and rank a training
    user's own ratings apart from the user's trained scores.  It costs one fit."""

    non_negative = True
    defaults = {"num_components": 20, "n_iter": 500, **_SEED}
    rules = _MU_RULES

    def factorize(self, data, **options):
        return non_negative(data, **options)

    def _fold_in(self, query):
        """The new user's row follows a replay of the fit (:func:`lab.nmf.follow`)."""
        data, mask = self._matrix()
        row = self.index_.query_row(query, self.ratings_, self.fill)
        return (follow(data, row, mask=mask, **self.options_) @ self.result_.H)[0]


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
    rules = {**_MU_RULES, "l2": RULES["l2"]}
    grid = {"num_components": [20, 50, 100], "l2": [0.1, 0.15], "n_iter": [500],
            "random_state": [0]}
