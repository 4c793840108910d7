"""What our factorization models share: :class:`FactorizationModel`.

A factorization model fits one function of :mod:`lab.factorizations` or
:func:`lab.nmf.non_negative` to the rating matrix its ``fill`` describes, scores by its
result (``result_.scores``, ``result_.predict``), and folds a new user in with that
function's own row update (``fold_into``): the query becomes a row filled as the training
matrix was.  The multiplicative-update models fold in by following the training run instead
(:func:`lab.nmf.follow`, :mod:`lab.models.multiplicative`).  :meth:`fold_in_rows` folds every
training user in again (``make spark`` compares Spark's user factors with it).  Spark's ALS
(:mod:`lab.models.spark`) is fitted by Spark; the function is its fold-in's alone.
"""

from __future__ import annotations

from typing import ClassVar

from lab.rules import RANK, RULES_ITERATIVE
from lab.interface import Model, integer_seed

#: The parameters of the alternating factorizations' models (ALS, NNLS-ALS, the biased
#: model...): the rank, and the rules of those the functions share (tol and verbose left out).
ALS_RULES = {"num_components": RANK,
             **{name: RULES_ITERATIVE[name] for name in ("n_iter", "random_state", "l2")}}


class FactorizationModel(Model):
    """A factorization fitted to the rating matrix that ``fill`` describes: a number or
    "global_mean" / "movie_mean" (every cell observed, as the exercise's
    ``rat_df``), or None (the observed ratings only, ``mask="observed"``)."""

    fill: ClassVar = None

    def factorize(self, data, **options):
        raise NotImplementedError

    @property
    def _mask(self) -> str | None:
        """The mask of the matrices factorized: the observed cells where nothing is filled."""
        return "observed" if self.fill is None else None

    def _matrix(self):
        """The training matrix and its mask: the observed ratings, or ``rat_df`` filled."""
        if self.fill is None:
            return self.rated_, self._mask
        return self.index_.filled(self.ratings_, self.fill, checked=True), self._mask

    def _fit(self):
        # the seed drawn once (an integer stays as it is): the fit and every fold-in use it
        self.options_ = dict(self.params)
        if "random_state" in self.options_:
            self.options_["random_state"] = integer_seed(self.options_["random_state"])
        data, mask = self._matrix()
        self.result_ = self.factorize(data, mask=mask, **self.options_)

    def fold_in_rows(self):
        """Every training row folded in again against the fitted movie factors, by the fit's
        own row update (``fold_into``): a result with the new Z, the same H and the
        objective at them (``losses[-1]``)."""
        self._check_fitted()
        data, mask = self._matrix()
        return self.factorize(data, mask=mask, fold_into=self.result_, **self.options_)

    def _fold_in(self, query):
        row = self.index_.query_row(query, self.ratings_, self.fill)
        new = self.factorize(row, mask=self._mask, fold_into=self.result_, **self.options_)
        return new.scores([0])[0]
