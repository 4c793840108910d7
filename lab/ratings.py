"""The lab's rating machinery (moved from the old recommender): the users x movies index,
the one ranker, factor models that fold new users in.

:class:`RatingIndex` owns user and movie ids and every matrix built from ratings
(filled, sparse, a new user's row); :func:`top_n` is the one ranker, under
:func:`top_n_all_users`; :class:`FactorModel` (made by :func:`fit_model`) folds new
users into any of the lab's fitted factorizations (:mod:`lab.base`,
:mod:`lab.factorizations`), :func:`recommend_for_query` ranks for them.
:mod:`lab.evaluation` scores the recommenders with these.

The data itself, its column names and the exercise's ``rat_df``
(:func:`recommender.rating_matrix`) come from the ground floor, :mod:`recommender`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender import (GENRES, MOVIES_COLS, RATINGS_COLS, USERS_COLS, find_movielens,
                         load_movielens, rating_matrix)

__all__ = ["RATING_SCALE", "FILL_STRATEGIES", "RECOMMENDATION_COLS", "RatingIndex", "top_n",
           "top_n_all_users", "genre_labels", "query_row", "FactorModel", "fit_model",
           "recommend_for_query",
           # from the ground floor, recommender
           "RATINGS_COLS", "MOVIES_COLS", "USERS_COLS", "GENRES", "find_movielens",
           "load_movielens", "rating_matrix"]

#: MovieLens ratings are whole stars from 1 to 5.
RATING_SCALE = (1, 5)


# --- Ids, positions and the matrices built from ratings -------------------------------

#: The string spellings of ``fill_value`` besides a number.
FILL_STRATEGIES = ("global_mean", "movie_mean", "user_mean")


def _plain(value):
    """A numpy scalar as plain Python, so that messages read ``3``, not ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _check_ratings(ratings, name: str = "ratings") -> None:
    """Raise unless ``ratings`` is a DataFrame with the columns a rating matrix needs."""
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns {RATINGS_COLS[:3]}; "
                        f"got {type(ratings).__name__}.")
    missing = [column for column in RATINGS_COLS[:3] if column not in ratings.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(ratings.columns)}. "
                         "Use the ratings from load_movielens().")
    if ratings.empty:
        raise ValueError(f"{name} is empty: it holds no rating.")
    values = ratings["rating"]
    numbers_ = pd.to_numeric(values, errors="coerce").astype(float)
    bad = values[~np.isfinite(numbers_.to_numpy())]
    if values.dtype.kind not in "biuf" or len(bad):
        example = f" and {len(bad)} bad value(s), e.g. {_plain(bad.iloc[0])!r}" if len(bad) else ""
        raise ValueError(f"{name}['rating'] must hold finite numbers; got dtype {values.dtype}"
                         f"{example}; drop or fix those rows first.")


def _check_fill_value(fill_value, allow_none: bool = False) -> None:
    if fill_value is None and allow_none:
        return
    if isinstance(fill_value, str):
        if fill_value not in FILL_STRATEGIES:
            raise ValueError(f"fill_value={fill_value!r} is not a known strategy; use a number "
                             f"or one of {', '.join(repr(s) for s in FILL_STRATEGIES)}.")
    elif isinstance(fill_value, (bool, np.bool_)) or not isinstance(fill_value, numbers.Real) \
            or not np.isfinite(fill_value):
        raise ValueError(f"fill_value={fill_value!r} must be a finite number or one of "
                         f"{', '.join(repr(s) for s in FILL_STRATEGIES)}"
                         f"{' (or None: observed ratings only)' if allow_none else ''}.")


def _filled(shape, rows, cols, values, fill_value, reference_cols, reference_values):
    """The one fill rule: rated cells hold their rating, every other cell the fill.

    ``fill_value`` a number: that number.  ``"global_mean"``: the mean of the
    reference ratings.  ``"movie_mean"``: the mean of the column's reference
    ratings.  ``"user_mean"``: the mean of the row's own ratings.  A movie or
    user without ratings gets the global mean.  The reference ratings are the
    training ratings; for the training matrix itself, its own ratings.
    """
    global_mean = float(np.mean(reference_values))
    if not isinstance(fill_value, str):
        matrix = np.full(shape, float(fill_value))
    elif fill_value == "global_mean":
        matrix = np.full(shape, global_mean)
    else:
        own_rows = fill_value == "user_mean"
        groups, group_values = (rows, values) if own_rows else (reference_cols, reference_values)
        size = shape[0] if own_rows else shape[1]
        counts = np.bincount(groups, minlength=size)
        sums = np.bincount(groups, weights=group_values, minlength=size)
        means = np.divide(sums, counts, out=np.full(size, global_mean), where=counts > 0)
        matrix = np.repeat(means[:, None], shape[1], axis=1) if own_rows \
            else np.repeat(means[None, :], shape[0], axis=0)
    matrix[rows, cols] = values
    return matrix


@dataclass(frozen=True)
class RatingIndex:
    """The users and movies of a rating matrix: ids in ascending order, one row or column each.

    The one owner of ids and positions: every matrix of the lab that is
    built from ratings (filled, sparse, a new user's row) is built here.
    Built from the full tables (``from_tables``), a user or movie missing from
    a training split still has its row or column; built from ratings
    (``from_ratings``), it holds exactly the users and movies rated.
    """

    user_ids: np.ndarray
    movie_ids: np.ndarray

    @classmethod
    def from_tables(cls, users: pd.DataFrame, movies: pd.DataFrame) -> "RatingIndex":
        for table, column in ((users, "user id"), (movies, "movie id")):
            repeated = table[column][table[column].duplicated()]
            if len(repeated):
                raise ValueError(f"the {column} column repeats {len(repeated)} id(s), e.g. "
                                 f"{_plain(repeated.iloc[0])!r}; each id must name one row.")
        return cls(np.sort(users["user id"].to_numpy()), np.sort(movies["movie id"].to_numpy()))

    @classmethod
    def from_ratings(cls, ratings: pd.DataFrame) -> "RatingIndex":
        _check_ratings(ratings)
        return cls(np.unique(ratings["user id"].to_numpy()),
                   np.unique(ratings["movie id"].to_numpy()))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.movie_ids)

    def user_positions(self, user_ids) -> np.ndarray:
        """Row of each user id; KeyError naming an id this index does not hold."""
        return _positions(self.user_ids, user_ids, "user")

    def movie_positions(self, movie_ids) -> np.ndarray:
        """Column of each movie id; KeyError naming an id this index does not hold."""
        return _positions(self.movie_ids, movie_ids, "movie")

    def cells(self, ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each rating, shape (n_ratings,) each; a pair rated twice is refused."""
        _check_ratings(ratings)
        rows = self.user_positions(ratings["user id"].to_numpy())
        cols = self.movie_positions(ratings["movie id"].to_numpy())
        flat = rows.astype(np.int64) * self.shape[1] + cols
        if np.unique(flat).size != flat.size:
            first = ratings.loc[pd.Series(flat).duplicated().to_numpy(), ["user id", "movie id"]]
            pair = tuple(_plain(v) for v in first.iloc[0])
            raise ValueError(f"ratings holds {len(first)} repeated (user id, movie id) pair(s), "
                             f"e.g. {pair}; keep one rating per pair.")
        return rows, cols

    def sparse(self, ratings: pd.DataFrame) -> sp.csr_matrix:
        """The ratings as a sparse users x movies matrix: stored cells = rated cells."""
        rows, cols = self.cells(ratings)
        return sp.csr_matrix((ratings["rating"].to_numpy(dtype=float), (rows, cols)),
                             shape=self.shape)

    def filled(self, ratings: pd.DataFrame, fill_value: float | str = 0) -> np.ndarray:
        """The users x movies matrix with every unrated cell filled (see :func:`rating_matrix`)."""
        _check_fill_value(fill_value)
        rows, cols = self.cells(ratings)
        values = ratings["rating"].to_numpy(dtype=float)
        return _filled(self.shape, rows, cols, values, fill_value, cols, values)

    def query_row(self, query: Mapping[int, int], ratings: pd.DataFrame,
                  fill_value: float | str | None = 0):
        """A new user's row: their ratings, the other cells filled as the training matrix's.

        Parameters
        ----------
        query : dict {movie_id: rating}
            Movies of this index; whole stars 1-5.
        ratings : DataFrame
            The training ratings (for the global and movie means).
        fill_value : float, {"global_mean", "movie_mean", "user_mean"} or None
            As the training matrix was filled (``"user_mean"``: the query's
            own mean); None: a sparse row holding only the query's ratings.

        Returns
        -------
        ndarray of shape (1, n_movies), or csr_matrix of that shape for None.
        """
        _check_fill_value(fill_value, allow_none=True)
        query = _check_query(query, self.movie_ids, "query")
        cols = self.movie_positions(list(query))
        values = np.array(list(query.values()), dtype=float)
        rows = np.zeros(cols.size, dtype=np.intp)
        if fill_value is None:
            return sp.csr_matrix((values, (rows, cols)), shape=(1, self.shape[1]))
        _, reference_cols = self.cells(ratings)
        return _filled((1, self.shape[1]), rows, cols, values, fill_value, reference_cols,
                       ratings["rating"].to_numpy(dtype=float))

    def frame(self, values) -> pd.DataFrame:
        """``values`` of shape (n_users, n_movies) labelled by user id (rows) and movie id."""
        return pd.DataFrame(values, index=pd.Index(self.user_ids, name="user id"),
                            columns=pd.Index(self.movie_ids, name="movie id"))


def _positions(known: np.ndarray, ids, kind: str) -> np.ndarray:
    ids = np.asarray(ids)
    where = np.searchsorted(known, ids)
    found = (where < known.size) & (known[np.minimum(where, known.size - 1)] == ids)
    if not found.all():
        missing = ids[~found]
        raise KeyError(f"{missing.size} {kind} id(s) are not in the index, e.g. "
                       f"{_plain(missing[0])!r}; "
                       f"it holds {known.size} {kind}s with ids {known[0]} to {known[-1]}. "
                       "Build the index from the full users and movies tables.")
    return where


# --- Ranking unseen movies -------------------------------------------------------------

#: Output columns of recommend_for_query (those of the ground floor's recommend_movies).
RECOMMENDATION_COLS = ["movie id", "movie title", "predicted score", "genres"]


def top_n(scores, exclude, n: int) -> np.ndarray:
    """The one ranker: positions of each row's ``n`` highest scores outside ``exclude``.

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
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n={n!r} must be a positive integer (the number of recommendations).")
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


def genre_labels(movies: pd.DataFrame, sep: str = "|") -> pd.Series:
    """Each movie's genres as one string, e.g. ``"Animation|Childrens|Comedy"``.

    Returns
    -------
    Series of shape (n_movies,), str
        Indexed by ``'movie id'``; genres in the order of ``GENRES``.
    """
    flags = movies.set_index("movie id")[GENRES].astype(bool)
    names = np.array(GENRES, dtype=object)
    return pd.Series([sep.join(names[row]) for row in flags.to_numpy()],
                     index=flags.index, name="genres", dtype=object)


def _recommendation_table(movie_ids, scores, movies: pd.DataFrame) -> pd.DataFrame:
    """Ranked movies as ``RECOMMENDATION_COLS`` with index ``rank`` 1..n."""
    chosen = movies.set_index("movie id").loc[np.asarray(movie_ids)].reset_index()
    table = pd.DataFrame({"movie id": chosen["movie id"].to_numpy(),
                          "movie title": chosen["movie title"].to_numpy(),
                          "predicted score": np.asarray(scores, dtype=float),
                          "genres": genre_labels(chosen).to_numpy()})
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def _check_reconstruction(reconstruction, ratings: pd.DataFrame, movies=None) -> None:
    """Raise unless ``reconstruction`` has a row per user and a column per movie of ``ratings``
    (and, given ``movies``, no column that is not a movie id)."""
    build = "pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)"
    if not isinstance(reconstruction, pd.DataFrame):
        raise TypeError(f"reconstruction must be a DataFrame labelled by user id and movie id; "
                        f"got {type(reconstruction).__name__}. Build it as {build}.")
    for axis, labels in (("user id (row)", reconstruction.index),
                         ("movie id (column)", reconstruction.columns)):
        if not labels.is_unique:
            repeated = _plain(labels[labels.duplicated()][0])
            raise ValueError(f"reconstruction repeats the {axis} {repeated!r}; each user and "
                             f"movie needs exactly one row or column. Build it as {build}.")
    rated_users, rated_movies = np.unique(ratings["user id"]), np.unique(ratings["movie id"])
    missing_movies = np.setdiff1d(rated_movies, reconstruction.columns.to_numpy())
    if missing_movies.size:
        flipped = np.isin(rated_movies, reconstruction.index.to_numpy()).all() and \
            np.isin(rated_users, reconstruction.columns.to_numpy()).all()
        hint = ("It looks transposed (movies as rows, users as columns): pass "
                "reconstruction.T. " if flipped else "")
        raise ValueError(f"reconstruction has no column for {missing_movies.size} movie id(s) of "
                         f"ratings (e.g. {missing_movies[0]}). {hint}Build it as {build}.")
    missing_users = np.setdiff1d(rated_users, reconstruction.index.to_numpy())
    if missing_users.size:
        positional = reconstruction.index.equals(pd.RangeIndex(len(reconstruction)))
        hint = (f"Its index is 0, 1, ..., n-1 (row positions) with {len(reconstruction)} rows, "
                f"but ratings has {rated_users.size} users, so the rows cannot be matched to "
                "them. " if positional else "")
        raise ValueError(f"reconstruction has no row for {missing_users.size} user id(s) of "
                         f"ratings (e.g. {missing_users[0]}). {hint}Build it as {build}.")
    if movies is not None:
        unknown = np.setdiff1d(reconstruction.columns.to_numpy(), movies["movie id"].to_numpy())
        if unknown.size:
            raise ValueError(f"reconstruction has {unknown.size} column(s) that are not movie ids "
                             f"of movies (e.g. {_plain(unknown[0])!r}). Build it as {build}.")
    values = reconstruction.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"reconstruction holds {(~np.isfinite(values)).sum()} NaN or infinite "
                         f"scores (first for user id {_plain(reconstruction.index[row])!r}, movie "
                         f"id {_plain(reconstruction.columns[col])!r}: {values[row, col]}); a "
                         "factorization that diverged cannot rank movies - refit it.")


def _by_user_id(reconstruction, ratings: pd.DataFrame):
    """The exercise's ``pd.DataFrame(Z @ H, columns=rat_df.columns)``, indexed 0..n-1 with one
    row per user of ``ratings``, labelled with the user ids in the rating matrix's (ascending)
    order; any other frame unchanged."""
    users = np.unique(ratings["user id"])
    if isinstance(reconstruction, pd.DataFrame) and len(reconstruction) == users.size \
            and reconstruction.index.equals(pd.RangeIndex(users.size)):
        return reconstruction.set_axis(pd.Index(users, name="user id"), axis=0)
    return reconstruction


def _scores_and_rated(reconstruction: pd.DataFrame, ratings: pd.DataFrame, movies=None):
    """The reconstruction's scores and rated cells on one index: the users of ``ratings``
    (rows) and the reconstruction's movie ids (columns), both ascending."""
    _check_ratings(ratings)
    reconstruction = _by_user_id(reconstruction, ratings)
    _check_reconstruction(reconstruction, ratings, movies)
    index = RatingIndex(np.unique(ratings["user id"]), np.sort(reconstruction.columns.to_numpy()))
    scores = reconstruction.loc[index.user_ids, index.movie_ids].to_numpy(dtype=float)
    return index, scores, index.sparse(ratings)


def top_n_all_users(reconstruction: pd.DataFrame, ratings: pd.DataFrame,
                    n: int = 10) -> pd.DataFrame:
    """Every user's top-n unrated movie ids at once, by the scores of ``reconstruction``.

    ``reconstruction`` is Z·H labelled like the rating matrix,
    ``pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)`` (an index
    0..n-1 with one row per user of ``ratings`` is read in ascending user id order);
    ties go to the lower movie id, a user's rated movies are never ranked.

    Returns
    -------
    DataFrame of shape (n_users, min(n, fewest unrated movies of any user)), int
        Index ``'user id'`` (the users of ``ratings``), columns ``rank`` 1..n.
    """
    index, scores, rated = _scores_and_rated(reconstruction, ratings)
    best = top_n(scores, rated, n)
    return pd.DataFrame(index.movie_ids[best], index=pd.Index(index.user_ids, name="user id"),
                        columns=pd.RangeIndex(1, best.shape[1] + 1, name="rank"))


# --- New users -------------------------------------------------------------------------

def _check_query(query, known_movie_ids, what: str) -> dict[int, int]:
    """Validate ``{movie_id: rating}``; return it with plain int keys and values."""
    if not isinstance(query, Mapping) or not query:
        raise ValueError(f"{what} must be a non-empty dict {{movie_id: rating}}, got {query!r}.")
    not_ids = [movie for movie in query if isinstance(movie, (bool, np.bool_))
               or not isinstance(movie, numbers.Integral)]
    if not_ids:
        raise TypeError(f"movie ids in {what} must be integers; got {not_ids!r}.")
    known = set(np.asarray(known_movie_ids).tolist())
    unknown = [movie for movie in query if movie not in known]
    if unknown:
        raise KeyError(f"movie id(s) {unknown} in {what} are not known movies; look ids up in "
                       "movies['movie id'] (e.g. movies[movies['movie title'].str.contains(...)]).")
    low, high = RATING_SCALE
    bad = {movie: rating for movie, rating in query.items()
           if isinstance(rating, bool) or not isinstance(rating, (int, float, np.number))
           or not float(rating).is_integer() or not low <= rating <= high}
    if bad:
        raise ValueError(f"rating(s) {bad} in {what} are not whole stars from {low} to {high}; "
                         "MovieLens ratings are the integers 1, 2, 3, 4, 5.")
    return {int(movie): int(rating) for movie, rating in query.items()}


def query_row(query: Mapping[int, int], ratings: pd.DataFrame,
              fill_value: float | str | None = 0) -> pd.Series:
    """A new user's row of ``rating_matrix(ratings, fill_value)``, as a Series by movie id
    (``fill_value=None``: NaN in every unrated cell, as ``mask="observed"`` reads it)."""
    index = RatingIndex.from_ratings(ratings)
    row = index.query_row(query, ratings, fill_value)
    if fill_value is None:
        row = np.where(row.toarray() != 0, row.toarray(), np.nan)
    return pd.Series(row[0], index=pd.Index(index.movie_ids, name="movie id"), name="rating")


@dataclass(frozen=True)
class FactorModel:
    """A factorization fitted to a rating matrix, and what it needs to answer a new user.

    Made by :func:`fit_model`.  ``factorize`` is the function that fitted it
    (``lab.base.non_negative``, ``lab.factorizations.nnls_als``, ...), ``options`` its
    keyword arguments, ``fill_value`` what the unrated cells held (None: the
    model saw only the observed ratings).
    """

    result: object
    factorize: Callable
    options: Mapping
    fill_value: float | str | None
    index: RatingIndex
    ratings: pd.DataFrame

    def scores(self) -> np.ndarray:
        """The model's score of every (user, movie) cell, shape ``index.shape``."""
        return self.result.reconstruction()

    def reconstruction(self) -> pd.DataFrame:
        """:meth:`scores` labelled by user id and movie id, for :func:`top_n_all_users`."""
        return self.index.frame(self.scores())

    def fold_in(self, query: Mapping[int, int]) -> pd.Series:
        """A new user's score of every movie, without refitting the others.

        The query becomes a row filled as the training matrix was
        (:meth:`RatingIndex.query_row`), and ``factorize`` fits that row alone
        with the trained columns held fixed (``fold_into``): the training's own
        row update, with the same penalty, mask and iterations.
        """
        row = self.index.query_row(query, self.ratings, self.fill_value)
        mask = "observed" if self.fill_value is None else None
        options = dict(self.options)
        if not isinstance(options.get("random_state", 0), numbers.Integral):
            options["random_state"] = 0      # the same start for every call
        new = self.factorize(row, self.result.H.shape[0], mask=mask, fold_into=self.result,
                             **options)
        return pd.Series(new.reconstruction()[0], index=pd.Index(self.index.movie_ids,
                                                                 name="movie id"))


def fit_model(ratings: pd.DataFrame, factorize: Callable, num_components: int, *,
              fill_value: float | str | None = 0, index: RatingIndex | None = None,
              **options) -> FactorModel:
    """Build the rating matrix and factorize it: the exercise's pipeline as one call.

    Parameters
    ----------
    ratings : DataFrame
    factorize : callable
        ``lab.base.non_negative``, or one of :mod:`lab.factorizations`: ``als``,
        ``nnls_als``, ``biased_non_negative``, ``truncated_svd``, ``implicit_nnls_als``.
    num_components : int
    fill_value : float, {"global_mean", "movie_mean", "user_mean"} or None, default 0
        A number or strategy: factorize the filled matrix (every cell
        observed).  None: factorize the observed ratings only (sparse matrix,
        ``mask="observed"``).
    index : RatingIndex, optional
        Rows and columns; by default the users and movies of ``ratings``.
    **options
        Passed to ``factorize`` (``n_iter``, ``l2``, ``random_state``, ...).
    """
    if "mask" in options:
        raise ValueError("fit_model sets the mask from fill_value (None: the observed ratings "
                         "only, mask='observed'; a fill: every cell); do not pass mask.")
    index = RatingIndex.from_ratings(ratings) if index is None else index
    if fill_value is None:
        data, mask = index.sparse(ratings), "observed"
    else:
        data, mask = index.filled(ratings, fill_value), None
    result = factorize(data, num_components, mask=mask, **options)
    return FactorModel(result, factorize, dict(options), fill_value, index, ratings)


def recommend_for_query(query: Mapping[int, int], model: FactorModel, movies: pd.DataFrame,
                        n: int = 10) -> pd.DataFrame:
    """Recommend for a new user from their ratings alone: fold in, then rank.

    Parameters
    ----------
    query : dict {movie_id: rating}
    model : FactorModel
        From :func:`fit_model`, with any of the lab's factorizations.
    movies : DataFrame
    n : int, default 10

    Returns
    -------
    DataFrame of shape (min(n, n_movies - len(query)), 4)
        ``RECOMMENDATION_COLS``, index ``rank`` 1..n, by predicted score (highest
        first), ties by ascending movie id; the query's movies never appear.
    """
    if not isinstance(model, FactorModel):
        raise TypeError(f"model must be a FactorModel from fit_model(); got "
                        f"{type(model).__name__}. Fit it with lab.ratings.fit_model(ratings, "
                        "lab.base.non_negative, M, ...), which remembers how to fold users in.")
    scores = model.fold_in(query)
    rated = scores.index.isin(list(query))
    best = top_n(scores.to_numpy()[None, :], rated[None, :], n)[0]
    return _recommendation_table(scores.index[best], scores.to_numpy()[best], movies)
