"""One interface for every recommender of the lab: ours, the peers' and Spark's.

Modelled on scikit-learn's estimators and implicit's models::

    model = REGISTRY["nnls_als"](num_components=20, l2=0.1, random_state=0)
    model.fit(ratings)                  # 'user id', 'movie id', 'rating' -> self
    model.predict(user_ids, movie_ids)  # predictions of those pairs (ndarray; scalars: float)
    model.recommend(user_id, n=10)      # the n best movies the user has not rated (Series)
    model.fold_in({50: 5, 181: 4})      # a new user's score of every movie (Series)
    model.losses_                       # the fit's objective per step, [0] the start (or None)

A model class declares what the registry, the evaluation and the report need beside its
code: ``key`` (its registry key), ``label`` (a line of the report), ``library``,
``environment`` (the virtual environment it runs in: ``.venv`` for ours and
scikit-learn's, ``.venv-peers`` or ``.venv-spark`` for the libraries only those install)
and ``needs`` (the modules it imports that only its environment installs),
``non_negative`` (are its factors constrained >= 0; a model whose constraint is a
parameter reads it on the instance, so callers read ``model.non_negative`` of the fitted
model), ``predicts_ratings`` (False for a
model that only ranks: no RMSE is reported), ``select_by`` (the validation metric that
picks its parameters: "rmse", lower is better, or "precision", precision at the
evaluation's cut-off, higher is better),
``defaults`` and ``rules`` (its parameters, checked by :func:`lab.rules.check_params`: a
bad value raises :class:`lab.rules.InvalidParameterError` from the constructor) and
``grid`` (the candidates of the validation search, one list per parameter).
It implements ``_fit()``, which reads ``ratings_``, ``rated_`` and ``index_`` (set by
``fit``) and keeps the fit as ``result_``, which answers ``scores(rows)`` and
``predict(rows, cols)`` itself: a result of :mod:`lab.factorizations` or :mod:`lab.nmf`, or
a :class:`lab.base.DenseScores` (another library's predictions, a sum of models, a
constant).  A model that can fold in a new user implements ``_fold_in(query)``.

A rating model predicts a pair whose user or movie has no training rating (or is not in
its index) by the bias baseline of its training ratings, mean + user bias + movie bias
(:func:`lab.factorizations.biases` at its defaults, the fit of the model
``REGISTRY["biases"]``, and the result's ``baseline``), as the evaluation scores every
model; a model that only ranks raises a KeyError for an id outside its index.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import ClassVar

import numpy as np
import pandas as pd

from lab import factorizations
from lab.base import column_counts, ones_at, row_counts
from lab.rules import InvalidParameterError, Rule, check_params
from lab.ratings import RatingIndex, top_n
from recommender import check_new_ratings, check_ratings


class Model:
    """The base class of every model of :data:`lab.models.REGISTRY`."""

    key: ClassVar[str]
    label: ClassVar[str]
    library: ClassVar[str] = "ours"
    environment: ClassVar[str] = ".venv"
    needs: ClassVar[tuple[str, ...]] = ()
    non_negative: ClassVar[bool] = False
    predicts_ratings: ClassVar[bool] = True
    select_by: ClassVar[str] = "rmse"
    defaults: ClassVar[dict] = {}
    rules: ClassVar[Mapping[str, Rule]] = {}
    grid: ClassVar[dict] = {}

    def __init__(self, **params):
        self.params = check_params(self.rules, {**self.defaults, **params}, self.key)
        self.index_ = None

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.items() if self.defaults.get(k, None) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # --- what every model does the same way --------------------------------------------------

    def fit(self, ratings: pd.DataFrame, index: RatingIndex | None = None) -> "Model":
        """Fit to ``ratings`` (columns ``'user id'``, ``'movie id'``, ``'rating'``); ``index``
        (a :class:`lab.ratings.RatingIndex`) sets the users and movies scored, by default
        those of ``ratings``.  Returns the model, with ``rated_``, the training ratings as
        a sparse users x movies matrix of the index."""
        check_ratings(ratings)                  # once: the index and the matrix trust it
        self.index_ = RatingIndex.from_ratings(ratings, checked=True) if index is None else index
        self.ratings_ = ratings
        self.rated_ = self.index_.sparse(ratings, checked=True)
        self._fallback = None
        self._fit()
        return self

    def scores(self) -> np.ndarray:
        """The score of every (user, movie) of the index, shape ``index_.shape``."""
        self._check_fitted()
        return self.result_.scores(np.arange(self.index_.shape[0]))

    def predict(self, user_ids, movie_ids):
        """The predictions of the pairs ``(user_ids[t], movie_ids[t])``: an array of their
        shape, or a float for two scalars.  A rating model predicts a pair whose user or
        movie has no training rating, or is not in the index, by the bias baseline of its
        training ratings; a model that only ranks raises a KeyError for an id not in its
        index."""
        self._check_fitted()
        users, movies = np.asarray(user_ids), np.asarray(movie_ids)
        if users.shape != movies.shape:
            raise ValueError(f"user_ids and movie_ids must have the same shape; got "
                             f"{users.shape} and {movies.shape}.")
        missing = -1 if self.predicts_ratings else "raise"
        rows = self.index_.user_positions(users.ravel(), missing=missing)
        cols = self.index_.movie_positions(movies.ravel(), missing=missing)
        if self.predicts_ratings:
            values = self._baseline_at(rows, cols)
            seen = self._trained_at(rows, cols)
            values[seen] = self.result_.predict(rows[seen], cols[seen])
        else:
            values = self.result_.predict(rows, cols)
        return float(values[0]) if users.ndim == 0 else values.reshape(users.shape)

    def recommend(self, user_id, n: int = 10) -> pd.Series:
        """The ``n`` movies ``user_id`` has not rated with the highest scores (ties: lower
        movie id): a Series of scores indexed by movie id, best first."""
        self._check_fitted()
        if isinstance(user_id, (bool, np.bool_)) or not isinstance(user_id, numbers.Integral):
            raise TypeError(f"user_id must be an integer user id; got {user_id!r}.")
        row = self.index_.user_positions([user_id])
        scores = self.result_.scores(row)
        best = top_n(scores, self.rated_[row], n)[0]
        return pd.Series(scores[0, best], name="score",
                         index=pd.Index(self.index_.movie_ids[best], name="movie id"))

    def fold_in(self, query: Mapping[int, int]) -> pd.Series:
        """A new user's score of every movie from ``{movie id: stars}`` alone, the fitted
        model unchanged: a Series indexed by movie id.  NotImplementedError for a model
        that cannot answer a new user without refitting."""
        self._check_fitted()
        query = check_new_ratings(query, self.index_.movie_ids, "query")
        scores = self._fold_in(query)
        return pd.Series(scores, index=pd.Index(self.index_.movie_ids, name="movie id"),
                         name="score")

    # --- what each model implements ----------------------------------------------------------

    def _fit(self) -> None:
        """Fit to ``ratings_`` / ``rated_`` over ``index_`` and set ``result_``."""
        raise NotImplementedError

    # --- what the fit's result answers ---------------------------------------------------------

    @property
    def losses_(self) -> np.ndarray | None:
        """``result_.losses``: the fit's objective per step, ``[0]`` the start; None where the
        fit records none (a closed form, an average of models, another library's fit)."""
        self._check_fitted()
        losses = self.result_.losses
        return losses if losses.size else None

    # --- the bias baseline of the pairs without training ratings -------------------------------

    def trained_on(self, user_ids, movie_ids) -> np.ndarray:
        """Whether the user and the movie of each pair both have training ratings (the
        pairs a rating model predicts itself; the others get the bias baseline)."""
        self._check_fitted()
        users, movies = np.asarray(user_ids).ravel(), np.asarray(movie_ids).ravel()
        return self._trained_at(self.index_.user_positions(users, missing=-1),
                                self.index_.movie_positions(movies, missing=-1))

    def _trained_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        seen = (rows >= 0) & (cols >= 0)
        seen[seen] &= (self._user_counts[rows[seen]] > 0) & (self._movie_counts[cols[seen]] > 0)
        return seen

    @property
    def who_rated_(self):
        """Who rated what in training: ``rated_`` (users x movies, CSR) with every rating 1.0."""
        self._check_fitted()
        return ones_at(self.rated_)

    @property
    def _user_counts(self) -> np.ndarray:
        return row_counts(self.rated_.indptr)

    @property
    def _movie_counts(self) -> np.ndarray:
        return column_counts(self.rated_)

    def _baseline_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The bias baseline of the training ratings at the cells: the biases
        (:func:`lab.factorizations.biases`, at its defaults) fitted once, on first use (a
        position of -1, an id outside the index, adds no bias)."""
        if self._fallback is None:
            self._fallback = factorizations.biases(self.rated_)
        return self._fallback.baseline(rows, cols)

    def _fold_in(self, query: dict[int, int]) -> np.ndarray:
        raise NotImplementedError(f"{self.key} cannot fold in a new user: it has no update of "
                                  "one user's factors with the rest held fixed. Add the user's "
                                  "ratings to the training ratings and fit again.")

    def _check_fitted(self) -> None:
        if self.index_ is None:
            raise RuntimeError(f"this {self.key} model is not fitted yet; call .fit(ratings) "
                               "first.")


def integer_seed(random_state) -> int:
    """The integer seed of ``random_state`` (anything :data:`lab.rules.SEED` accepts), for what
    takes an int only (another library, Spark, a run of consecutive seeds): an integer as it
    is; from a Generator or RandomState, its next draw (below 2**31 - 1); for None, a fresh
    draw."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if random_state is None or isinstance(random_state, np.random.Generator):
        return int(np.random.default_rng(random_state).integers(2**31 - 1))
    return int(random_state)


def library_version(package: str) -> str:
    """``"package version"`` as installed (the peers' and Spark's environments may lack it)."""
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (not installed)"


__all__ = ["Model", "InvalidParameterError", "integer_seed", "library_version"]
