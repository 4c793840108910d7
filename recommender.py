"""MovieLens-100k as a recommendation problem: the exercise's recommender.

pandas in, pandas out.  Reading order: loading the data; :class:`RatingIndex`,
the one owner of user and movie ids and of the matrices built from ratings;
:func:`rating_matrix` (the exercise's ``rat_df``); ranking unseen movies
(:func:`top_n`, the one ranker, under :func:`recommend_movies`); new users
(:class:`FactorModel` folds them into any fitted factorization); genre
statistics; the rows of H as prototypical users.

This module knows nothing of update rules: it hands matrices to
:mod:`nmf_core` (or :mod:`factorizations`) and reads recommendations off what
comes back.  The held-out evaluation lives in :mod:`evaluation`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

# The exercise's column headers: one source of truth for the whole package.
RATINGS_COLS = ["user id", "movie id", "rating", "timestamp"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Childrens", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
MOVIES_COLS = ["movie id", "movie title", "release date", "video release date",
               "IMDb URL", *GENRES]
USERS_COLS = ["user id", "age", "gender", "occupation", "zip code"]

#: Where :func:`load_movielens` looks, in this order: the project's ``make data``
#: folder, then the exercise's layout (``ml-100k/`` beside the notebook).
SEARCH_PATHS = (Path("data/ml-100k"), Path("ml-100k"))
_FILES = ("u.data", "u.item", "u.user")

#: MovieLens ratings are whole stars from 1 to 5.
RATING_SCALE = (1, 5)


def find_movielens(path: str | Path | None = None) -> Path:
    """The folder holding MovieLens-100k: ``path``, or the first complete one of ``SEARCH_PATHS``.

    Raises
    ------
    FileNotFoundError
        Naming every folder tried, what is missing and how to get the data.
    """
    candidates = [Path(path)] if path is not None else list(SEARCH_PATHS)
    for folder in candidates:
        if all((folder / name).is_file() for name in _FILES):
            return folder
    tried = "; ".join(
        f"{folder.resolve()} lacks {', '.join(n for n in _FILES if not (folder / n).is_file())}"
        for folder in candidates)
    raise FileNotFoundError(
        f"MovieLens-100k not found ({tried}). Run `make data` in the project folder, or unzip "
        "the course's ml-100k.zip so that ml-100k/u.data lies beside the notebook.")


def load_movielens(path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame,
                                                              pd.DataFrame]:
    """Read MovieLens-100k as the exercise does.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding ``u.data``, ``u.item`` and ``u.user``.  By default
        ``data/ml-100k`` (``make data`` creates it), else ``ml-100k``, both
        relative to the working directory.

    Returns
    -------
    ratings : DataFrame of shape (n_ratings, 4)
        ``RATINGS_COLS``; all integer columns.
    movies : DataFrame of shape (n_movies, 24)
        ``MOVIES_COLS``; ``release date`` parsed as a datetime (``NaT`` where
        missing), the 19 genre flags as integers 0/1.  ``u.item`` is latin-1.
    users : DataFrame of shape (n_users, 5)
        ``USERS_COLS``; ``zip code`` stays text (some are not numbers).
    """
    folder = find_movielens(path)
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=RATINGS_COLS, encoding="latin-1")
    movies = pd.read_csv(folder / "u.item", sep="|", names=MOVIES_COLS, encoding="latin-1")
    movies["release date"] = pd.to_datetime(movies["release date"], format="%d-%b-%Y")
    users = pd.read_csv(folder / "u.user", sep="|", names=USERS_COLS, encoding="latin-1",
                        dtype={"zip code": str})
    return ratings, movies, users


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
                         "Use the ratings from load_movielens() or add_user().")
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

    The one owner of ids and positions: every matrix of the package that is
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


def rating_matrix(ratings: pd.DataFrame, fill_value: float | str = 0) -> pd.DataFrame:
    """Pivot the ratings into the users x movies matrix X of the exercise (``rat_df``).

    Parameters
    ----------
    ratings : DataFrame
        Columns ``'user id'``, ``'movie id'``, ``'rating'`` (more are ignored);
        one row per (user, movie) pair.
    fill_value : float or {"global_mean", "movie_mean", "user_mean"}, default 0
        What an unrated cell holds: a number (the exercise's default 0), the
        mean of all ratings, the mean rating of the cell's movie, or the mean
        rating of the cell's user.

    Returns
    -------
    DataFrame of shape (n_users, n_movies), float
        Index ``'user id'`` and columns ``'movie id'``, both ascending,
        holding every user and every movie that occurs in ``ratings``.

    Raises
    ------
    ValueError
        For an unknown ``fill_value`` or a (user, movie) pair rated twice.
    """
    index = RatingIndex.from_ratings(ratings)
    return index.frame(index.filled(ratings, fill_value))


#: A cell "holds a rating" when its value is at least this: the lowest star on
#: MovieLens' 1-5 scale, rounded half down (0.5 would round to one star).
MEANINGFUL_RATING = 0.5


def sparsity(matrix, threshold: float = MEANINGFUL_RATING) -> float:
    """Share of the cells that hold no meaningful rating (value below ``threshold``).

    The exercise asks for a reconstruction Z·H "less sparse" than X.  Z·H has
    (almost) no exact zeros, so counting zeros would say nothing; a cell
    counts as empty when it would not round to even one star.  For X with the
    zero fill this is exactly the share of unrated cells.

    Parameters
    ----------
    matrix : array-like of shape (n_users, n_movies)
        X or a reconstruction Z·H (DataFrame or ndarray).
    threshold : float, default MEANINGFUL_RATING (0.5)

    Returns
    -------
    float in [0, 1]
    """
    values = np.asarray(matrix, dtype=float)
    if values.size == 0:
        raise ValueError(f"matrix must have at least one cell, got shape {values.shape}.")
    return float(np.mean(values < threshold))


# --- Ranking unseen movies -------------------------------------------------------------

#: Output columns of recommend_movies and recommend_for_query.
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


def _check_user(user_id, index: "RatingIndex") -> int:
    if isinstance(user_id, (bool, np.bool_)) or not isinstance(user_id, numbers.Integral):
        raise TypeError(f"user_id must be an integer user id; got {user_id!r} of type "
                        f"{type(user_id).__name__}.")
    if user_id not in set(index.user_ids.tolist()):
        raise KeyError(f"user_id={user_id!r} is not a user of ratings (ids run from "
                       f"{index.user_ids[0]} to {index.user_ids[-1]}, {index.shape[0]} users); add "
                       "new users with add_user() and refit, or fold them in with "
                       "recommend_for_query().")
    return int(user_id)


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


def recommend_movies(reconstruction: pd.DataFrame, user_id: int, movies: pd.DataFrame,
                     ratings: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` movies a user has not rated with the highest predicted score.

    Parameters
    ----------
    reconstruction : DataFrame of shape (n_users, n_movies)
        Z·H labelled like the rating matrix:
        ``pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)``.
        The exercise's ``pd.DataFrame(Z @ H, columns=rat_df.columns)``, indexed
        0..n-1 with one row per user, is read in ``rat_df``'s order (row i is
        the i-th user id, ascending).  Missing users, a transposed frame,
        repeated labels and NaN scores are refused with a message.
    user_id : int
        A user of ``ratings``.
    movies : DataFrame
        As from :func:`load_movielens` (titles and genres).
    ratings : DataFrame
        The ratings the reconstruction was fitted on; the user's rated movies
        are never recommended.
    n : int, default 20
        How many movies; fewer when the user has rated almost everything.

    Returns
    -------
    DataFrame of shape (min(n, n_unrated), 4)
        ``RECOMMENDATION_COLS``, index ``rank`` 1..n, by predicted score
        (highest first), ties by ascending movie id.
    """
    index, scores, rated = _scores_and_rated(reconstruction, ratings, movies)
    row = index.user_positions([_check_user(user_id, index)])[0]
    best = top_n(scores[row:row + 1], rated[row:row + 1], n)[0]
    return _recommendation_table(index.movie_ids[best], scores[row, best], movies)


def top_n_all_users(reconstruction: pd.DataFrame, ratings: pd.DataFrame,
                    n: int = 10) -> pd.DataFrame:
    """Every user's top-n unrated movie ids at once: :func:`recommend_movies` for all users.

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


def find_movie_ids(movies: pd.DataFrame, titles) -> list[int]:
    """Movie ids of exact titles, e.g. ``["Lion King, The (1994)"]``.

    Raises
    ------
    KeyError
        For a title that matches no movie or several; the message lists
        titles containing its first word, to help spell it.
    """
    ids = []
    for title in titles:
        found = movies.loc[movies["movie title"] == title, "movie id"]
        if len(found) != 1:
            word = title.split()[0] if title.split() else title
            near = movies.loc[movies["movie title"].str.contains(word, regex=False),
                              "movie title"].head(5).tolist()
            raise KeyError(f"title {title!r} matches {len(found)} movies, expected exactly one; "
                           f"titles containing {word!r}: {near}.")
        ids.append(int(found.iloc[0]))
    return ids


def add_user(ratings: pd.DataFrame, new_ratings: Mapping[int, int],
             movies: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Append a new user's ratings under the next free user id.

    Returns
    -------
    new : DataFrame
        ``ratings`` (not modified) followed by the new rows, same columns and
        dtypes; the timestamp is one second after the latest in ``ratings``.
    user_id : int
        One more than the largest id in ``ratings``.
    """
    _check_ratings(ratings)
    query = _check_query(new_ratings, movies["movie id"], "new_ratings")
    user_id = int(ratings["user id"].max()) + 1
    timestamp = int(ratings["timestamp"].max()) + 1 if "timestamp" in ratings else 0
    rows = pd.DataFrame({"user id": user_id, "movie id": list(query),
                         "rating": list(query.values()), "timestamp": timestamp})
    rows = rows[list(ratings.columns)].astype(ratings.dtypes.to_dict())
    return pd.concat([ratings, rows], ignore_index=True), user_id


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
    (``nmf_core.non_negative``, ``nmf_core.nnls_als``, ...), ``options`` its
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
        """:meth:`scores` labelled by user id and movie id, for :func:`recommend_movies`."""
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
        ``nmf_core.non_negative``, ``nmf_core.als``, ``nmf_core.nnls_als``,
        ``nmf_core.biased_non_negative`` or ``nmf_core.truncated_svd``.
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
        From :func:`fit_model`, with any of the package's factorizations.
    movies : DataFrame
    n : int, default 10

    Returns
    -------
    DataFrame of shape (min(n, n_movies - len(query)), 4)
        As :func:`recommend_movies`; the query's movies never appear.
    """
    if not isinstance(model, FactorModel):
        raise TypeError(f"model must be a FactorModel from fit_model(); got "
                        f"{type(model).__name__}. Fit it with recommender.fit_model(ratings, "
                        "nmf_core.non_negative, M, ...), which remembers how to fold users in.")
    scores = model.fold_in(query)
    rated = scores.index.isin(list(query))
    best = top_n(scores.to_numpy()[None, :], rated[None, :], n)[0]
    return _recommendation_table(scores.index[best], scores.to_numpy()[best], movies)


# --- Genre statistics -------------------------------------------------------------------

def genre_distribution(movie_ids, movies: pd.DataFrame) -> pd.DataFrame:
    """How many of the given movies carry each genre.

    A movie with several genres counts once for each of them, so ``count``
    sums to the number of genre tags, and ``share`` (per movie: the fraction of
    the movies that carry the genre) sums to the mean number of genres per
    movie, not to 1.

    Parameters
    ----------
    movie_ids : array-like of shape (n,)
        Movie ids of ``movies`` (repeats count repeatedly).
    movies : DataFrame
        As from :func:`load_movielens`.

    Returns
    -------
    DataFrame of shape (19, 3)
        Columns ``genre`` (every one of ``GENRES``, in that order), ``count``
        (int), ``share`` (float, ``count / n``; 0 for an empty list).
    """
    ids = np.asarray(movie_ids)
    flags = movies.set_index("movie id")[GENRES]
    unknown = np.setdiff1d(ids, flags.index.to_numpy())
    if unknown.size:
        raise KeyError(f"movie id(s) {unknown[:5].tolist()} are not in movies.")
    counts = (flags.loc[ids].sum(axis=0).astype(int).to_numpy() if ids.size
              else np.zeros(len(GENRES), int))
    return pd.DataFrame({"genre": GENRES, "count": counts,
                         "share": counts / ids.size if ids.size else np.zeros(len(GENRES))})


def on_genre_share(movie_ids, movies: pd.DataFrame, genres) -> float:
    """Fraction of the movies that carry at least one of ``genres``.

    Parameters
    ----------
    movie_ids : array-like of shape (n,), n >= 1
    movies : DataFrame
    genres : str or list of str
        Names from ``GENRES``, e.g. ``["Animation", "Childrens"]``.

    Returns
    -------
    float in [0, 1]
    """
    genres = [genres] if isinstance(genres, str) else list(genres)
    wrong = [genre for genre in genres if genre not in GENRES]
    if wrong or not genres:
        raise ValueError(f"genres {wrong or genres} must be non-empty names from GENRES: {GENRES}.")
    ids = np.asarray(movie_ids)
    if ids.size == 0:
        raise ValueError("movie_ids is empty; a share of nothing is undefined.")
    flags = movies.set_index("movie id")[genres]
    return float(flags.loc[ids].to_numpy().any(axis=1).mean())


def genre_statistics(reconstruction: pd.DataFrame, user_ids, movies: pd.DataFrame,
                     ratings: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """Genre distribution of what users rated versus their top-n predictions.

    Parameters
    ----------
    reconstruction : DataFrame of shape (n_users, n_movies)
        As for :func:`recommend_movies`.
    user_ids : int or iterable of int
        Users of ``ratings``.
    movies, ratings : DataFrame
    n : int, default 20
        How many recommendations to describe.

    Returns
    -------
    DataFrame of shape (len(user_ids) * 2 * 19, 6)
        Tidy (long) table for seaborn, columns ``user id``, ``which``
        (``"rated"`` or ``"recommended"``), ``genre``, ``count``, ``share``
        (per movie, see :func:`genre_distribution`) and ``movies`` (how many
        movies the row describes).
    """
    user_ids = [user_ids] if np.isscalar(user_ids) else list(user_ids)
    tables = []
    for user in user_ids:
        recommended = recommend_movies(reconstruction, user, movies, ratings, n=n)["movie id"]
        rated = ratings.loc[ratings["user id"] == user, "movie id"]
        for which, ids in (("rated", rated), ("recommended", recommended)):
            table = genre_distribution(ids.to_numpy(), movies)
            table.insert(0, "which", which)
            table.insert(0, "user id", user)
            table["movies"] = len(ids)
            tables.append(table)
    return pd.concat(tables, ignore_index=True)


# --- Prototypes: rows of H --------------------------------------------------------------

def _check_H(H, movie_ids, movies: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(H, dtype=float)
    ids = np.asarray(movie_ids)
    if H.ndim != 2 or H.shape[1] != ids.size:
        raise ValueError(f"H has shape {H.shape} but {ids.size} movie ids were given; pass "
                         "H of shape (M, n_movies) and movie_ids=rat_df.columns.")
    if (H < 0).any() or not np.all(np.isfinite(H)):
        raise ValueError("H must be finite and non-negative.")
    unknown = np.setdiff1d(ids, movies["movie id"].to_numpy())
    if unknown.size:
        raise KeyError(f"movie id(s) {unknown[:5].tolist()} are not in movies.")
    return H, ids


def genre_enrichment(H, movie_ids, movies: pd.DataFrame,
                     ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """How over-represented each genre is in each component of H.

    For component k, its weights over movies are normalised to sum to one,
    ``w_kj = H[k, j] / sum_j H[k, j]``; the H-weighted genre share is
    ``sum_j w_kj * G[j, g]`` with ``G`` the 0/1 genre flags.  The enrichment
    divides that by the genre's share of a reference: 1 is "as common as in the
    reference", 3 is "three times as much weight on this genre".

    Parameters
    ----------
    H : array-like of shape (M, n_movies)
    movie_ids : array-like of shape (n_movies,)
        The movie id of each column of H (``rat_df.columns``).
    movies : DataFrame
    ratings : DataFrame, optional
        The reference is the genre's share among the ratings (a movie counts
        once per rating), which H's loadings, large for often rated movies,
        are fairly compared with.  Without it, the catalogue (each movie once).

    Returns
    -------
    DataFrame of shape (M, 19)
        Index ``component`` 0..M-1, columns ``GENRES``.  NaN for a genre no
        catalogue movie carries, or a component whose row is all zero.
    """
    H, ids = _check_H(H, movie_ids, movies)
    G = movies.set_index("movie id").loc[ids, GENRES].to_numpy(dtype=float)
    reference = _genre_reference(ids, movies, ratings).to_numpy()
    totals = H.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = (H @ G) / totals
        enrichment = weighted / reference
    enrichment[~np.isfinite(enrichment)] = np.nan
    return pd.DataFrame(enrichment, index=pd.RangeIndex(H.shape[0], name="component"),
                        columns=pd.Index(GENRES, name="genre"))


def _genre_reference(ids, movies: pd.DataFrame, ratings: pd.DataFrame | None) -> pd.Series:
    """Each genre's share of the catalogue ``ids`` (each movie once), or of the ratings."""
    G = movies.set_index("movie id").loc[ids, GENRES].to_numpy(dtype=float)
    if ratings is None:
        return pd.Series(G.mean(axis=0), index=GENRES)
    _check_ratings(ratings)
    counts = ratings["movie id"].value_counts().reindex(ids, fill_value=0).to_numpy(float)
    return pd.Series(counts @ G / counts.sum(), index=GENRES)


#: A genre with a smaller share of the reference is left out of ``describe_components``'
#: top genres: a few loadings would "enrich" it many times over.
MIN_GENRE_SHARE = 0.02


def component_top_movies(H, movie_ids, movies: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Each component's n movies of highest weight in H (ties by movie id).

    Parameters
    ----------
    H : array-like of shape (M, n_movies)
    movie_ids : array-like of shape (n_movies,)
    movies : DataFrame
    n : int, default 10

    Returns
    -------
    DataFrame of shape (M * min(n, n_movies), 6)
        Tidy: ``component``, ``rank`` (1..n), ``movie id``, ``movie title``,
        ``weight`` (the entry of H), ``genres``.
    """
    H, ids = _check_H(H, movie_ids, movies)
    titles = movies.set_index("movie id")["movie title"]
    labels = genre_labels(movies)
    tables = []
    for k, weights in enumerate(H):
        order = np.lexsort((ids, -weights))[:n]
        tables.append(pd.DataFrame({
            "component": k, "rank": np.arange(1, order.size + 1), "movie id": ids[order],
            "movie title": titles.loc[ids[order]].to_numpy(), "weight": weights[order],
            "genres": labels.loc[ids[order]].to_numpy()}))
    return pd.concat(tables, ignore_index=True)


def describe_components(H, movie_ids, movies: pd.DataFrame, n_movies: int = 5,
                        n_genres: int = 3, ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per component: its most enriched genres and its top movies.

    Parameters
    ----------
    H : array-like of shape (M, n_movies)
    movie_ids : array-like of shape (n_movies,)
    movies : DataFrame
    n_movies, n_genres : int
        How many top movies and enriched genres to list.
    ratings : DataFrame, optional
        Passed to :func:`genre_enrichment` (the reference of the enrichment).

    Returns
    -------
    DataFrame of shape (M, 3)
        Index ``component``; columns ``top genres`` (``"Horror ×4.1, ..."``, by
        enrichment, among the genres holding at least ``MIN_GENRE_SHARE`` of the
        reference, "unknown" excluded), ``median year`` (median
        :func:`release_year` of the top movies) and ``top movies`` (titles
        joined by ``"; "``).
    """
    H, ids = _check_H(H, movie_ids, movies)
    reference = _genre_reference(ids, movies, ratings)
    kept = [g for g in GENRES if g != "unknown" and reference[g] >= MIN_GENRE_SHARE]
    enrichment = genre_enrichment(H, ids, movies, ratings)[kept]
    top = component_top_movies(H, ids, movies, n=n_movies)
    years = release_year(movies)
    rows = []
    for k in range(H.shape[0]):
        best = enrichment.loc[k].dropna().sort_values(ascending=False, kind="mergesort")
        top_ids = top.loc[top["component"] == k, "movie id"]
        rows.append({
            "top genres": ", ".join(f"{g} ×{v:.1f}" for g, v in best.head(n_genres).items()),
            "median year": years.loc[top_ids].median(),
            "top movies": "; ".join(top.loc[top["component"] == k, "movie title"])})
    return pd.DataFrame(rows, index=pd.RangeIndex(H.shape[0], name="component"))



def release_year(movies: pd.DataFrame) -> pd.Series:
    """Each movie's year: the ``(1977)`` ending its title, else its release date's year.

    The title's year is the original release; ``u.item``'s release date is
    sometimes that of a re-release (*Return of the Jedi (1983)* is dated 1997).

    Returns
    -------
    Series of float indexed by ``movie id`` (NaN where neither is known).
    """
    from_title = movies["movie title"].str.extract(r"\((\d{4})\)\s*$")[0].astype(float)
    if "release date" in movies:
        from_title = from_title.fillna(movies["release date"].dt.year.astype(float))
    return pd.Series(from_title.to_numpy(), index=movies["movie id"].to_numpy(),
                     name="year").rename_axis("movie id")


def score_contributions(Z, H, user_ids, movie_ids, user_id, movie_id) -> pd.DataFrame:
    """Why a user gets a movie: the score ``z_u . h_j`` split into its components.

    A reconstruction is a sum over components, ``(Z H)_uj = sum_k z_uk h_kj``, and
    every term is >= 0 in a non-negative factorization: the terms say exactly
    how much each prototype (row of H) adds to the score.

    Parameters
    ----------
    Z : array-like of shape (n_users, M)
    H : array-like of shape (M, n_movies)
    user_ids, movie_ids : array-like
        The id of each row of Z and of each column of H (``rat_df.index``,
        ``rat_df.columns``).
    user_id, movie_id : int

    Returns
    -------
    DataFrame of shape (M, 4)
        Index ``component``; columns ``user weight`` (z_uk), ``movie loading``
        (h_kj), ``contribution`` (their product) and ``share`` of the score;
        sorted by contribution, largest first.  ``contribution`` sums to the score.
    """
    Z, H = np.asarray(Z, dtype=float), np.asarray(H, dtype=float)
    if Z.ndim != 2 or H.ndim != 2 or Z.shape[1] != H.shape[0] or \
            Z.shape[0] != len(user_ids) or H.shape[1] != len(movie_ids):
        raise ValueError(f"Z {Z.shape} and H {H.shape} do not fit {len(user_ids)} user ids and "
                         f"{len(movie_ids)} movie ids; pass Z, H and rat_df.index, rat_df.columns.")
    row = _positions(np.sort(user_ids), [user_id], "user")[0]
    col = _positions(np.sort(movie_ids), [movie_id], "movie")[0]
    row, col = np.argsort(user_ids, kind="stable")[row], np.argsort(movie_ids, kind="stable")[col]
    terms = Z[row] * H[:, col]
    total = terms.sum()
    table = pd.DataFrame({"user weight": Z[row], "movie loading": H[:, col],
                          "contribution": terms,
                          "share": terms / total if total > 0 else np.zeros_like(terms)},
                         index=pd.RangeIndex(H.shape[0], name="component"))
    return table.sort_values("contribution", ascending=False, kind="mergesort")


#: Genres in the order that decides a movie's "main" genre: the most telling first.
MAIN_GENRE_ORDER = ("Animation", "Childrens", "Horror", "Sci-Fi", "Documentary", "War",
                    "Western", "Musical", "Crime", "Action", "Romance", "Thriller", "Comedy",
                    "Drama")


def main_genre(movies: pd.DataFrame, order=MAIN_GENRE_ORDER) -> pd.Series:
    """One label per movie: its first genre in ``order`` ("other" if none).

    Returns
    -------
    Series indexed by ``movie id``.
    """
    labels = pd.Series("other", index=movies["movie id"].to_numpy(), name="main genre")
    for genre in reversed(order):            # earlier genres overwrite later ones
        labels[movies[genre].to_numpy() == 1] = genre
    labels.index.name = "movie id"
    return labels
