"""The lab's rating bookkeeping: the users x movies index and the one ranker.

:class:`RatingIndex` owns user and movie ids and the matrices a model is fitted to
(filled, sparse, a new user's row); :func:`top_n` is the one ranker, behind every model's
``recommend`` (:mod:`lab.interface`) and the evaluation's precision (:mod:`lab.evaluation`).

The data itself, the star scale, the rating checks, a new user's ratings and the fill rule
(:func:`recommender.fill_for`) come from the ground floor, :mod:`recommender`; the lab applies
them on an index of its own, and reads the columns by the exercise's names as pandas code
does, written out ("user id", "movie id", "rating").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lab.base import ones_at, plain
from lab.rules import check_params, integer
from recommender import check_ratings, fill_for

__all__ = ["RatingIndex", "top_n"]


# --- Ids, positions and the matrices built from ratings -------------------------------

def _filled(movie_ids: pd.Index, shape, rows, cols, values, fill_value,
            reference: pd.DataFrame) -> np.ndarray:
    """Rated cells hold their rating, every other cell the fill of the ground floor
    (:func:`recommender.fill_for`) computed from ``reference``, the training ratings; a
    movie they do not rate gets their mean."""
    fill = fill_for(reference, fill_value)
    if isinstance(fill, pd.Series):                          # "movie_mean": one per column
        column = fill.reindex(movie_ids, fill_value=reference["rating"].mean())
        matrix = np.repeat(column.to_numpy(float)[None, :], shape[0], axis=0)
    else:
        matrix = np.full(shape, float(fill))
    matrix[rows, cols] = values
    return matrix


@dataclass(frozen=True)
class RatingIndex:
    """The users and movies of a rating matrix: ids in ascending order, one row or column each.

    The one owner of ids and positions, and of the matrices a model is fitted to
    (filled, sparse, a new user's row).
    Built from the full tables (``from_tables``), a user or movie missing from
    a training split still has its row or column; built from ratings
    (``from_ratings``), it holds exactly the users and movies rated.
    """

    user_ids: np.ndarray
    movie_ids: np.ndarray

    @classmethod
    def from_tables(cls, users: pd.DataFrame, movies: pd.DataFrame) -> "RatingIndex":
        """Every user and movie of the tables.  It checks both tables' ids itself: the ground
        floor checks only ``movies`` (:func:`recommender.recommend_movies` never reads the
        users table), with a message that names that one table."""
        for table, column in ((users, "user id"), (movies, "movie id")):
            repeated = table[column][table[column].duplicated()]
            if len(repeated):
                raise ValueError(f"the {column} column repeats {len(repeated)} id(s), e.g. "
                                 f"{plain(repeated.iloc[0])!r}; each id must name one row.")
        return cls(np.sort(users["user id"].to_numpy()), np.sort(movies["movie id"].to_numpy()))

    @classmethod
    def from_ratings(cls, ratings: pd.DataFrame, checked: bool = False) -> "RatingIndex":
        """The users and movies that ``ratings`` rates (``checked``: the caller has run
        :func:`recommender.check_ratings` on them already)."""
        if not checked:
            check_ratings(ratings)
        return cls(np.unique(ratings["user id"].to_numpy()),
                   np.unique(ratings["movie id"].to_numpy()))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.movie_ids)

    @cached_property
    def users(self) -> pd.Index:
        """The user ids as a pandas Index (row i is ``users[i]``)."""
        return pd.Index(self.user_ids, name="user id")

    @cached_property
    def movies(self) -> pd.Index:
        """The movie ids as a pandas Index (column j is ``movies[j]``)."""
        return pd.Index(self.movie_ids, name="movie id")

    def user_positions(self, user_ids, missing: str | int = "raise") -> np.ndarray:
        """Row of each user id; an id this index does not hold raises a KeyError naming it
        (``missing="raise"``) or gets the position ``missing`` (an int, e.g. -1)."""
        return _positions(self.users, user_ids, "user", missing)

    def movie_positions(self, movie_ids, missing: str | int = "raise") -> np.ndarray:
        """Column of each movie id; as :meth:`user_positions`."""
        return _positions(self.movies, movie_ids, "movie", missing)

    def cells(self, ratings: pd.DataFrame, checked: bool = False,
              missing: str | int = "raise") -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each rating, shape (n_ratings,) each, the ratings checked by the
        ground floor's :func:`recommender.check_ratings` (a pair rated twice is refused)
        unless ``checked`` says the caller has done so; ``missing`` as in
        :meth:`user_positions` (an id outside the index raises, or gets that position)."""
        if not checked:
            check_ratings(ratings)
        return (self.user_positions(ratings["user id"].to_numpy(), missing),
                self.movie_positions(ratings["movie id"].to_numpy(), missing))

    def triples(self, ratings: pd.DataFrame, checked: bool = False):
        """``(rows, cols, values)``: each rating's row, column (:meth:`cells`) and stars as
        float64, the form a library takes ratings in."""
        rows, cols = self.cells(ratings, checked)
        return rows, cols, ratings["rating"].to_numpy(dtype=float)

    def sparse(self, ratings: pd.DataFrame, checked: bool = False) -> sp.csr_matrix:
        """The ratings as a sparse users x movies matrix: stored cells = rated cells."""
        rows, cols, values = self.triples(ratings, checked)
        return sp.csr_matrix((values, (rows, cols)), shape=self.shape)

    def filled(self, ratings: pd.DataFrame, fill_value: float | str = 0,
               checked: bool = False) -> np.ndarray:
        """The users x movies matrix with every unrated cell filled, as
        :func:`recommender.rating_matrix` fills it; ``checked`` as in :meth:`cells`."""
        rows, cols = self.cells(ratings, checked)
        return _filled(self.movies, self.shape, rows, cols, ratings["rating"].to_numpy(float),
                       fill_value, ratings)

    def who_rated(self, query: Mapping[int, int]) -> sp.csr_matrix:
        """A new user's who-rated-what row, shape (1, n_movies): 1.0 at each movie of
        ``query`` (as :meth:`query_row` takes it), the stars left out."""
        return ones_at(self.query_row(query, None, None))

    def query_row(self, query: Mapping[int, int], ratings: pd.DataFrame,
                  fill_value: float | str | None = 0):
        """A new user's row: their ratings, the other cells filled as the training matrix's.
        The inputs are taken as checked: ``query`` by :func:`recommender.check_new_ratings`
        (:meth:`lab.interface.Model.fold_in` checks it), ``ratings`` by the model's fit.

        Parameters
        ----------
        query : dict {movie_id: rating}
            Movies of this index; whole stars 1-5.
        ratings : DataFrame
            The training ratings (for the global and movie means).
        fill_value : float, {"global_mean", "movie_mean"} or None
            As the training matrix was filled; None: a sparse row holding only
            the query's ratings.

        Returns
        -------
        ndarray of shape (1, n_movies), or csr_matrix of that shape for None.
        """
        cols = self.movie_positions(list(query))
        values = np.array(list(query.values()), dtype=float)
        rows = np.zeros(cols.size, dtype=np.intp)
        if fill_value is None:
            return sp.csr_matrix((values, (rows, cols)), shape=(1, self.shape[1]))
        return _filled(self.movies, (1, self.shape[1]), rows, cols, values, fill_value, ratings)


def _positions(known: pd.Index, ids, kind: str, missing: str | int) -> np.ndarray:
    """Positions of ``ids`` in ``known`` (LensKit's ``get_indexer`` mapping)."""
    ids = np.asarray(ids)
    where = known.get_indexer(ids.ravel()).reshape(ids.shape)
    if missing == "raise" and (where < 0).any():
        absent = ids[where < 0]
        raise KeyError(f"{absent.size} {kind} id(s) are not in the index, e.g. "
                       f"{plain(absent.flat[0])!r}; it holds {known.size} {kind}s with ids "
                       f"{known[0]} to {known[-1]}. Fit with the index of the full tables, "
                       "model.fit(ratings, RatingIndex.from_tables(users, movies)), to score "
                       f"every {kind} of them.")
    return np.where(where < 0, missing, where) if missing != "raise" else where


# --- Ranking unseen movies -------------------------------------------------------------

def top_n(scores, exclude, n: int) -> np.ndarray:
    """The one ranker: positions of each row's ``n`` highest scores outside ``exclude``.

    The exercise's :func:`recommender.recommend_movies` ranks one user of a DataFrame into a
    table of titles; this ranks many rows of an array at once (the evaluation ranks every
    user of a fold), by the same rule: unrated movies only, ties to the lower movie id
    (tests hold the two equal).

    Ties go to the lower position (the lower movie id when columns are sorted
    by id), so the result does not depend on the sort algorithm.

    Parameters
    ----------
    scores : array-like of shape (k, m)
        Finite; higher = recommend first.
    exclude : bool array-like or sparse matrix of shape (k, m)
        Cells never recommended (the movies a user has rated).
    n : int >= 1

    Returns
    -------
    ndarray of int, shape (k, min(n, fewest candidates of any row))
    """
    n = check_params({"n": integer(1)}, {"n": n}, "top_n")["n"]       # how many to recommend
    scores = np.array(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (one row per user); got shape {scores.shape}.")
    excluded = (exclude != 0).toarray() if sp.issparse(exclude) else np.asarray(exclude, dtype=bool)
    if excluded.shape != scores.shape:
        raise ValueError(f"exclude has shape {excluded.shape}, scores {scores.shape}.")
    bad = ~np.isfinite(scores) & ~excluded
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"scores hold {bad.sum()} NaN or infinite values (first at row {row}, "
                         f"column {col}: {scores[row, col]}); a factorization that diverged "
                         "cannot rank movies - refit it.")
    scores[excluded] = -np.inf
    fewest = int((~excluded).sum(axis=1).min()) if scores.size else 0
    # a stable sort of the negated scores keeps the lower position first among ties
    return np.argsort(-scores, axis=1, kind="stable")[:, :min(n, fewest)]
