"""MovieLens-100k as a recommendation problem: loading, rating matrix, and more.

pandas in, pandas out.  This module knows nothing of update rules: it hands a
matrix to :mod:`nmf_core` and reads recommendations off the reconstruction.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize

import nmf_core

# The exercise's column headers: one source of truth for the whole package.
RATINGS_COLS = ["user id", "movie id", "rating", "timestamp"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Childrens", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
MOVIES_COLS = ["movie id", "movie title", "release date", "video release date",
               "IMDb URL", *GENRES]
USERS_COLS = ["user id", "age", "gender", "occupation", "zip code"]

DEFAULT_PATH = Path("data/ml-100k")
_FILES = ("u.data", "u.item", "u.user")


def load_movielens(path: str | Path = DEFAULT_PATH) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read MovieLens-100k as the exercise does.

    Parameters
    ----------
    path : str or Path, default "data/ml-100k"
        Folder holding ``u.data``, ``u.item`` and ``u.user`` (``make data``
        creates it).

    Returns
    -------
    ratings : DataFrame of shape (n_ratings, 4)
        ``RATINGS_COLS``; all integer columns.
    movies : DataFrame of shape (n_movies, 24)
        ``MOVIES_COLS``; ``release date`` parsed as a datetime (``NaT`` where
        missing), the 19 genre flags as integers 0/1.  ``u.item`` is latin-1.
    users : DataFrame of shape (n_users, 5)
        ``USERS_COLS``; ``zip code`` stays text (some are not numbers).

    Raises
    ------
    FileNotFoundError
        If the folder or one of the three files is missing.
    """
    folder = Path(path)
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"MovieLens-100k is not complete in {folder}: missing {', '.join(missing)}. "
            "Run `make data` (from the project folder) to obtain and verify it."
        )
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=RATINGS_COLS, encoding="latin-1")
    movies = pd.read_csv(folder / "u.item", sep="|", names=MOVIES_COLS, encoding="latin-1")
    movies["release date"] = pd.to_datetime(movies["release date"], format="%d-%b-%Y")
    users = pd.read_csv(folder / "u.user", sep="|", names=USERS_COLS, encoding="latin-1",
                        dtype={"zip code": str})
    return ratings, movies, users


# --- Rating matrix ----------------------------------------------------------------------

#: The string spellings ``rating_matrix(fill_value=...)`` accepts besides a number.
FILL_STRATEGIES = ("global_mean", "movie_mean", "user_mean")


def _check_ratings(ratings: pd.DataFrame, name: str = "ratings") -> None:
    """Raise if ``ratings`` lacks the columns a rating matrix needs."""
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns {RATINGS_COLS[:3]}, "
                        f"got {type(ratings).__name__}.")
    missing = [column for column in RATINGS_COLS[:3] if column not in ratings.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(ratings.columns)}. "
                         "Use the ratings from load_movielens() or add_user().")


def _check_fill_value(fill_value) -> None:
    if isinstance(fill_value, str):
        if fill_value not in FILL_STRATEGIES:
            raise ValueError(f"fill_value={fill_value!r} is not a known strategy; use a number "
                             f"or one of {', '.join(repr(s) for s in FILL_STRATEGIES)}.")
    elif isinstance(fill_value, bool) or not isinstance(fill_value, (int, float, np.number)) \
            or not np.isfinite(fill_value):
        raise ValueError(f"fill_value={fill_value!r} must be a finite number or one of "
                         f"{', '.join(repr(s) for s in FILL_STRATEGIES)}.")


def rating_matrix(ratings: pd.DataFrame, fill_value: float | str = 0) -> pd.DataFrame:
    """Pivot the ratings into the users × movies matrix X of the exercise.

    Parameters
    ----------
    ratings : DataFrame of shape (n_ratings, >=3)
        Columns ``'user id'``, ``'movie id'``, ``'rating'`` (more are ignored);
        one row per (user, movie) pair.
    fill_value : float or {"global_mean", "movie_mean", "user_mean"}, default 0
        What an unrated cell holds: a number (the exercise's default 0), the
        mean of all ratings, the mean rating of that cell's movie, or the mean
        rating of that cell's user.  Every movie and user of ``ratings`` has at
        least one rating, so every mean exists.

    Returns
    -------
    DataFrame of shape (n_users, n_movies), float
        Index ``'user id'`` and columns ``'movie id'``, both sorted ascending,
        holding every user and every movie that occurs in ``ratings``.

    Raises
    ------
    ValueError
        For an unknown ``fill_value`` or a (user, movie) pair rated twice.
    """
    _check_ratings(ratings)
    _check_fill_value(fill_value)
    if ratings.duplicated(["user id", "movie id"]).any():
        pairs = ratings.loc[ratings.duplicated(["user id", "movie id"]), ["user id", "movie id"]]
        raise ValueError(f"ratings holds {len(pairs)} repeated (user id, movie id) pair(s), e.g. "
                         f"{tuple(pairs.iloc[0])}; keep one rating per pair.")
    matrix = ratings.pivot(index="user id", columns="movie id", values="rating")
    matrix = matrix.sort_index(axis=0).sort_index(axis=1).astype(float)
    if fill_value == "global_mean":
        return matrix.fillna(float(ratings["rating"].mean()))
    if fill_value == "movie_mean":
        return matrix.fillna(matrix.mean(axis=0))          # a Series: one value per column
    if fill_value == "user_mean":
        values = matrix.to_numpy()
        user_means = np.nanmean(values, axis=1, keepdims=True)
        filled = np.where(np.isnan(values), user_means, values)
        return pd.DataFrame(filled, index=matrix.index, columns=matrix.columns)
    return matrix.fillna(float(fill_value))


#: A cell "holds a rating" when its value is at least this: the lowest star on
#: MovieLens' 1-5 scale, rounded half down (0.5 would round to one star).
MEANINGFUL_RATING = 0.5


def sparsity(matrix, threshold: float = MEANINGFUL_RATING) -> float:
    """Share of the cells that hold no meaningful rating.

    The exercise asks for a reconstruction Z·H that is "less sparse" than X.
    Z·H has (almost) no exact zeros, so counting zeros would say nothing;
    instead a cell counts as empty when its value is below ``threshold``,
    i.e. it would not round to even one star.  For X with the zero fill this
    is exactly the share of unrated cells.

    Parameters
    ----------
    matrix : array-like of shape (n_users, n_movies)
        X or a reconstruction Z·H (DataFrame or ndarray).
    threshold : float, default MEANINGFUL_RATING (0.5)
        Values below it count as empty.

    Returns
    -------
    float in [0, 1]
        ``mean(matrix < threshold)``; 1 for an all-empty matrix.
    """
    values = np.asarray(matrix, dtype=float)
    if values.size == 0:
        raise ValueError(f"matrix must have at least one cell, got shape {values.shape}.")
    return float(np.mean(values < threshold))


# --- Recommending -----------------------------------------------------------------------

#: Output columns of recommend_movies and recommend_for_query.
RECOMMENDATION_COLS = ["movie id", "movie title", "predicted score", "genres"]


def genre_labels(movies: pd.DataFrame, sep: str = "|") -> pd.Series:
    """Each movie's genres as one string, e.g. ``"Animation|Childrens|Comedy"``.

    Parameters
    ----------
    movies : DataFrame of shape (n_movies, 24)
        As from :func:`load_movielens`.
    sep : str, default "|"

    Returns
    -------
    Series of shape (n_movies,), str
        Indexed by ``'movie id'``; genres in the order of ``GENRES``.
    """
    flags = movies.set_index("movie id")[GENRES].astype(bool)
    names = np.array(GENRES, dtype=object)
    return pd.Series([sep.join(names[row]) for row in flags.to_numpy()],
                     index=flags.index, name="genres", dtype=object)


def _user_ids(ratings: pd.DataFrame) -> np.ndarray:
    return np.sort(ratings["user id"].unique())


def _check_reconstruction(reconstruction: pd.DataFrame, ratings: pd.DataFrame,
                          movies: pd.DataFrame) -> None:
    """Raise unless ``reconstruction`` is labelled by user ids and movie ids."""
    if not isinstance(reconstruction, pd.DataFrame):
        raise TypeError("reconstruction must be a DataFrame labelled by user id and movie id, "
                        f"got {type(reconstruction).__name__}; build it as "
                        "pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns).")
    users = _user_ids(ratings)
    missing = np.setdiff1d(users, reconstruction.index.to_numpy())
    if missing.size:
        positional = reconstruction.index.equals(pd.RangeIndex(len(reconstruction)))
        hint = ("Its index is 0, 1, ..., n-1 (row positions) while user ids start at "
                f"{users[0]}, so row u would be another user's predictions. "
                if positional else "")
        raise ValueError(
            f"reconstruction has no row for {missing.size} user id(s) of ratings "
            f"(e.g. {missing[0]}). {hint}Build it with the rating matrix's labels: "
            "pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns).")
    unknown = np.setdiff1d(reconstruction.columns.to_numpy(), movies["movie id"].to_numpy())
    if unknown.size:
        raise ValueError(
            f"reconstruction has {unknown.size} column(s) that are not movie ids of movies "
            f"(e.g. {unknown[0]!r}). Build it with columns=rat_df.columns.")


def _top_unrated(scores: pd.Series, rated, movies: pd.DataFrame, n: int) -> pd.DataFrame:
    """The n best-scored movies outside ``rated``, ties broken by movie id."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be a positive integer (the number of recommendations).")
    candidates = scores[~scores.index.isin(np.asarray(list(rated)))]
    table = pd.DataFrame({"movie id": candidates.index.to_numpy(),
                          "predicted score": candidates.to_numpy(dtype=float)})
    table = table.sort_values(["predicted score", "movie id"], ascending=[False, True],
                              kind="mergesort").head(n)
    chosen = movies.set_index("movie id").loc[table["movie id"]].reset_index()
    table["movie title"] = chosen["movie title"].to_numpy()
    table["genres"] = genre_labels(chosen).to_numpy()
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table[RECOMMENDATION_COLS]


def recommend_movies(reconstruction: pd.DataFrame, user_id: int, movies: pd.DataFrame,
                     ratings: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The n movies a user has not rated with the highest predicted score.

    Parameters
    ----------
    reconstruction : DataFrame of shape (n_users, n_movies)
        Z·H labelled like the rating matrix:
        ``pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)``.
        The exercise's ``pd.DataFrame(Z @ H, columns=rat_df.columns)`` has row
        positions 0..n-1 as index while user ids start at 1; that is detected
        and refused rather than silently reading another user's row.
    user_id : int
        A user of ``ratings``.
    movies : DataFrame of shape (n_movies_total, 24)
        As from :func:`load_movielens` (titles and genres).
    ratings : DataFrame of shape (n_ratings, 4)
        The ratings the reconstruction was fitted on; the user's rated movies
        are never recommended.
    n : int, default 20
        How many movies; fewer when the user has rated almost everything.

    Returns
    -------
    DataFrame of shape (min(n, n_unrated), 4)
        Columns ``RECOMMENDATION_COLS`` (movie id, movie title, predicted
        score, genres as ``"|"``-joined names), index ``rank`` 1..n, sorted by
        predicted score (highest first), ties by ascending movie id.

    Raises
    ------
    KeyError
        If ``user_id`` is not a user of ``ratings``.
    ValueError
        If the reconstruction is not labelled by user and movie ids, or ``n``
        is not a positive integer.
    """
    _check_ratings(ratings)
    users = _user_ids(ratings)
    if user_id not in set(users.tolist()):
        raise KeyError(f"user_id={user_id!r} is not a user of ratings (ids run from "
                       f"{users[0]} to {users[-1]}, {users.size} users); add new users with "
                       "add_user() and refit, or use recommend_for_query().")
    _check_reconstruction(reconstruction, ratings, movies)
    rated = ratings.loc[ratings["user id"] == user_id, "movie id"].to_numpy()
    return _top_unrated(reconstruction.loc[user_id], rated, movies, n)


def top_n_all_users(reconstruction: pd.DataFrame, ratings: pd.DataFrame,
                    n: int = 10) -> pd.DataFrame:
    """Every user's top-n unrated movie ids at once (vectorised recommend_movies).

    Parameters
    ----------
    reconstruction : DataFrame of shape (n_users, n_movies)
        Labelled as for :func:`recommend_movies` (rows: the users of
        ``ratings``, columns: movie ids).
    ratings : DataFrame
        The ratings the model was fitted on; rated movies are excluded.
    n : int, default 10
        Must not exceed the number of unrated movies of any user.

    Returns
    -------
    DataFrame of shape (n_users, n), int
        Index ``'user id'`` (the users of ``ratings``), columns ``1..n`` (the
        rank); the same movies in the same order as ``recommend_movies``.
    """
    _check_ratings(ratings)
    users = _user_ids(ratings)
    missing = np.setdiff1d(users, reconstruction.index.to_numpy())
    if missing.size:
        raise ValueError(f"reconstruction has no row for {missing.size} user id(s) of ratings "
                         f"(e.g. {missing[0]}); build it as pd.DataFrame(Z @ H, "
                         "index=rat_df.index, columns=rat_df.columns).")
    frame = reconstruction.loc[users].sort_index(axis=1)
    movie_ids = frame.columns.to_numpy()
    scores = frame.to_numpy(dtype=float).copy()
    rows = np.searchsorted(users, ratings["user id"].to_numpy())
    cols = np.searchsorted(movie_ids, ratings["movie id"].to_numpy())
    inside = (cols < movie_ids.size) & (movie_ids[np.minimum(cols, movie_ids.size - 1)]
                                         == ratings["movie id"].to_numpy())
    scores[rows[inside], cols[inside]] = -np.inf
    unrated = np.isfinite(scores).sum(axis=1).min()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= unrated:
        raise ValueError(f"n={n!r} must be an integer from 1 to {unrated}, the fewest unrated "
                         "movies of any user.")
    # a stable sort of the negated scores keeps ascending movie id among ties
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    return pd.DataFrame(movie_ids[order], index=pd.Index(users, name="user id"),
                        columns=pd.RangeIndex(1, n + 1, name="rank"))


# --- New users: adding ratings and folding in -------------------------------------------

RATING_SCALE = (1, 5)


def _check_query(query, known_movie_ids, what: str) -> dict[int, int]:
    """Validate ``{movie_id: rating}``; return it with plain int keys and values."""
    if not isinstance(query, Mapping) or not query:
        raise ValueError(f"{what} must be a non-empty dict {{movie_id: rating}}, got {query!r}.")
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

    Parameters
    ----------
    movies : DataFrame
        As from :func:`load_movielens`.
    titles : iterable of str
        Exact ``'movie title'`` values (MovieLens puts articles last and the
        year in brackets).

    Returns
    -------
    list of int
        One id per title, in the given order.

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

    Parameters
    ----------
    ratings : DataFrame of shape (n_ratings, 4)
        ``RATINGS_COLS``; not modified.
    new_ratings : dict {movie_id: rating}
        Known movie ids of ``movies``; ratings are whole stars 1-5.
    movies : DataFrame
        As from :func:`load_movielens`.

    Returns
    -------
    new : DataFrame of shape (n_ratings + len(new_ratings), 4)
        ``ratings`` followed by the new rows; same columns and dtypes.  The
        timestamp is one second after the latest one in ``ratings`` (fixed,
        so reruns are identical).
    user_id : int
        The new user's id: one more than the largest id in ``ratings``.

    Raises
    ------
    KeyError
        For a movie id that is not in ``movies``.
    ValueError
        For an empty dict or a rating that is not an integer from 1 to 5.
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
              fill_value: float | str = 0) -> pd.Series:
    """A new user's row of the rating matrix, filled like the training matrix.

    Parameters
    ----------
    query : dict {movie_id: rating}
        Movies must be columns of ``rating_matrix(ratings)``; whole stars 1-5.
    ratings : DataFrame
        The ratings the model was trained on (they fix the columns and, for
        ``"global_mean"`` / ``"movie_mean"``, the fill values).
    fill_value : float or {"global_mean", "movie_mean", "user_mean"}, default 0
        As for :func:`rating_matrix`; ``"user_mean"`` uses the query's mean.

    Returns
    -------
    Series of shape (n_movies,)
        Indexed by the sorted movie ids of ``ratings`` (``'movie id'``).
    """
    _check_ratings(ratings)
    _check_fill_value(fill_value)
    columns = pd.Index(np.sort(ratings["movie id"].unique()), name="movie id")
    query = _check_query(query, columns, "query")
    if fill_value == "global_mean":
        row = pd.Series(float(ratings["rating"].mean()), index=columns)
    elif fill_value == "movie_mean":
        row = ratings.groupby("movie id")["rating"].mean().reindex(columns).astype(float)
    elif fill_value == "user_mean":
        row = pd.Series(float(np.mean(list(query.values()))), index=columns)
    else:
        row = pd.Series(float(fill_value), index=columns)
    row.loc[list(query)] = np.array(list(query.values()), dtype=float)
    row.name = "rating"
    return row


def fold_in(row, H, observed=None) -> np.ndarray:
    """A new user's factor row z ≥ 0 against a fixed H, without refitting.

    Solves the non-negative least-squares problem
    ``min_{z >= 0} ||row - z @ H||²`` with :func:`scipy.optimize.nnls`
    (Lawson-Hanson active set).  This is the problem the Z-update of the
    factorization solves for one row when H is held fixed, so the result is the
    row a refit with fixed H converges to, reached exactly in milliseconds
    instead of by many multiplicative steps (seed 001's ``transform``).

    Parameters
    ----------
    row : array-like of shape (n_movies,)
        The user's row, filled with the training matrix's convention
        (see :func:`query_row`).
    H : array-like of shape (M, n_movies)
        The fitted movie factors; non-negative.
    observed : array-like of bool, shape (n_movies,), optional
        Fit only these cells (for a model trained with a mask on the
        observed ratings).  By default every cell counts, as with the
        exercise's filled matrix.

    Returns
    -------
    ndarray of shape (M,)
        The user's non-negative factor row; predictions are ``z @ H``.
    """
    row = np.asarray(row, dtype=float)
    H = np.asarray(H, dtype=float)
    if H.ndim != 2 or row.ndim != 1 or H.shape[1] != row.shape[0]:
        raise ValueError(f"row of shape {row.shape} and H of shape {H.shape} do not fit: "
                         "H must be (M, n_movies) and row (n_movies,).")
    if not np.all(np.isfinite(row)) or not np.all(np.isfinite(H)) or (H < 0).any():
        raise ValueError("row must be finite and H finite and non-negative; "
                         "fill the row with query_row() and pass the fitted H.")
    if observed is not None:
        observed = np.asarray(observed, dtype=bool)
        if observed.shape != row.shape:
            raise ValueError(f"observed has shape {observed.shape}, expected {row.shape}.")
        row, H = row[observed], H[:, observed]
    z, _ = optimize.nnls(H.T, row)
    return z


def recommend_for_query(query: Mapping[int, int], H, ratings: pd.DataFrame,
                        movies: pd.DataFrame, n: int = 10,
                        fill_value: float | str = 0) -> pd.DataFrame:
    """Recommend for a new user from their ratings alone: fill, fold in, rank.

    Parameters
    ----------
    query : dict {movie_id: rating}
    H : array-like of shape (M, n_movies)
        Fitted on ``rating_matrix(ratings, fill_value)``; its columns are the
        sorted movie ids of ``ratings``.
    ratings, movies : DataFrame
        The training ratings and the movie table.
    n : int, default 10
    fill_value : as for :func:`rating_matrix`; must match the training fill.

    Returns
    -------
    DataFrame of shape (min(n, n_movies - len(query)), 4)
        As :func:`recommend_movies`; the query's movies never appear.
    """
    row = query_row(query, ratings, fill_value)
    H = np.asarray(H, dtype=float)
    if H.ndim != 2 or H.shape[1] != row.size:
        raise ValueError(f"H has shape {H.shape} but ratings has {row.size} movies; pass the H "
                         "fitted on rating_matrix(ratings).")
    z = fold_in(row.to_numpy(), H)
    scores = pd.Series(z @ H, index=row.index)
    return _top_unrated(scores, query.keys(), movies, n)


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
    counts = flags.loc[ids].sum(axis=0).astype(int).to_numpy() if ids.size else np.zeros(len(GENRES), int)
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


def genre_enrichment(H, movie_ids, movies: pd.DataFrame) -> pd.DataFrame:
    """How over-represented each genre is in each component of H.

    For component k, its weights over movies are normalised to sum to one,
    ``w_kj = H[k, j] / sum_j H[k, j]``; the H-weighted genre share is
    ``sum_j w_kj * G[j, g]`` with ``G`` the 0/1 genre flags.  The enrichment
    divides that by the genre's share among the movies of ``movie_ids`` (the
    catalogue the model was fitted on): 1 is "as in the catalogue", 3 is
    "three times as much weight on this genre as the catalogue has".

    Parameters
    ----------
    H : array-like of shape (M, n_movies)
    movie_ids : array-like of shape (n_movies,)
        The movie id of each column of H (``rat_df.columns``).
    movies : DataFrame

    Returns
    -------
    DataFrame of shape (M, 19)
        Index ``component`` 0..M-1, columns ``GENRES``.  NaN for a genre no
        catalogue movie carries, or a component whose row is all zero.
    """
    H, ids = _check_H(H, movie_ids, movies)
    G = movies.set_index("movie id").loc[ids, GENRES].to_numpy(dtype=float)
    totals = H.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = (H @ G) / totals
        enrichment = weighted / G.mean(axis=0)
    enrichment[~np.isfinite(enrichment)] = np.nan
    return pd.DataFrame(enrichment, index=pd.RangeIndex(H.shape[0], name="component"),
                        columns=pd.Index(GENRES, name="genre"))


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
                        n_genres: int = 3) -> pd.DataFrame:
    """One line per component: its most enriched genres and its top movies.

    Parameters
    ----------
    H : array-like of shape (M, n_movies)
    movie_ids : array-like of shape (n_movies,)
    movies : DataFrame
    n_movies, n_genres : int
        How many top movies and enriched genres to list.

    Returns
    -------
    DataFrame of shape (M, 4)
        Index ``component``; columns ``weight share`` (the component's share
        of the total mass of H), ``top genres`` (``"Horror ×4.1, ..."``, by
        enrichment), ``median year`` (median release year of the top movies;
        NaN without a ``release date`` column) and ``top movies`` (titles
        joined by ``"; "``).
    """
    H, ids = _check_H(H, movie_ids, movies)
    enrichment = genre_enrichment(H, ids, movies)
    top = component_top_movies(H, ids, movies, n=n_movies)
    indexed = movies.set_index("movie id")
    years = (indexed["release date"].dt.year.astype(float) if "release date" in indexed
             else pd.Series(np.nan, index=indexed.index))
    rows = []
    for k in range(H.shape[0]):
        best = enrichment.loc[k].dropna().sort_values(ascending=False, kind="mergesort")
        top_ids = top.loc[top["component"] == k, "movie id"]
        rows.append({
            "weight share": H[k].sum() / H.sum() if H.sum() > 0 else np.nan,
            "top genres": ", ".join(f"{g} ×{v:.1f}" for g, v in best.head(n_genres).items()),
            "median year": years.loc[top_ids].median(),
            "top movies": "; ".join(top.loc[top["component"] == k, "movie title"])})
    return pd.DataFrame(rows, index=pd.RangeIndex(H.shape[0], name="component"))


# --- Evaluation helpers ---
#
# The protocol of issue 5, in one place: MovieLens-100k's official folds
# u1..u5, rating accuracy (RMSE, MAE; predictions clipped to the rating scale;
# users or movies unseen in training fall back to the bias baseline) and top-N
# accuracy (precision/recall@10 over every movie the user has not rated in the
# base set; relevant = the user's test movies, or only those rated >= 4).
# Hyperparameters are chosen on a validation split carved from the base set.

FOLDS = (1, 2, 3, 4, 5)
TOP_N = 10
LIKED_RATING = 4
VALIDATION_FRACTION = 0.1
EVALUATION_COLS = ["model", "params", "fold", "rmse", "mae", "precision_at_10", "recall_at_10",
                   "precision_at_10_liked", "recall_at_10_liked", "fit_seconds"]


def load_split(fold: int, path: str | Path = DEFAULT_PATH) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One of MovieLens-100k's five official train/test splits.

    Parameters
    ----------
    fold : int in 1..5
        Reads ``u{fold}.base`` and ``u{fold}.test`` (80 % / 20 % of the ratings;
        the five test sets are disjoint).
    path : str or Path, default "data/ml-100k"

    Returns
    -------
    base, test : DataFrame of shape (80000, 4) and (20000, 4)
        ``RATINGS_COLS``.
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}.")
    folder = Path(path)
    files = [folder / f"u{fold}.base", folder / f"u{fold}.test"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {folder}; run `make data`.")
    return tuple(pd.read_csv(f, sep="\t", names=RATINGS_COLS, encoding="latin-1") for f in files)


def holdout_split(ratings: pd.DataFrame, fraction: float = VALIDATION_FRACTION,
                  random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a random validation set from training ratings (never from a test set).

    Returns
    -------
    train, validation : DataFrame
        ``round(fraction * len(ratings))`` ratings, drawn without replacement
        with ``np.random.default_rng(random_state)``, go to ``validation``.
    """
    _check_ratings(ratings)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}.")
    rng = np.random.default_rng(random_state)
    held = np.zeros(len(ratings), dtype=bool)
    held[rng.permutation(len(ratings))[:round(fraction * len(ratings))]] = True
    return ratings[~held].reset_index(drop=True), ratings[held].reset_index(drop=True)


@dataclass(frozen=True)
class RatingIndex:
    """Positions of every user and movie id: the rows and columns of the matrices.

    Built from the full id lists (``users['user id']``, ``movies['movie id']``),
    so a user or movie missing from a training split still has a row or column.
    """

    user_ids: np.ndarray
    movie_ids: np.ndarray

    @classmethod
    def from_tables(cls, users: pd.DataFrame, movies: pd.DataFrame) -> "RatingIndex":
        return cls(np.sort(users["user id"].to_numpy()), np.sort(movies["movie id"].to_numpy()))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.movie_ids)

    def cells(self, ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Row and column positions of each rating, shape (n_ratings,) each."""
        rows = np.searchsorted(self.user_ids, ratings["user id"].to_numpy())
        cols = np.searchsorted(self.movie_ids, ratings["movie id"].to_numpy())
        rows_ok = (rows < len(self.user_ids)) & (self.user_ids[np.minimum(rows, len(self.user_ids) - 1)]
                                                  == ratings["user id"].to_numpy())
        cols_ok = (cols < len(self.movie_ids)) & (self.movie_ids[np.minimum(cols, len(self.movie_ids) - 1)]
                                                   == ratings["movie id"].to_numpy())
        if not (rows_ok.all() and cols_ok.all()):
            raise ValueError("ratings hold user or movie ids missing from the index; build the "
                             "index from the full users and movies tables.")
        return rows, cols

    def sparse(self, ratings: pd.DataFrame) -> sp.csr_matrix:
        """The observed ratings as a sparse users x movies matrix (zeros = not rated)."""
        rows, cols = self.cells(ratings)
        return sp.csr_matrix((ratings["rating"].to_numpy(dtype=float), (rows, cols)),
                              shape=self.shape)

    def filled(self, ratings: pd.DataFrame, fill_value: float | str = 0) -> np.ndarray:
        """The exercise's filled matrix (:func:`rating_matrix`) on the full index.

        Rows and columns absent from ``ratings`` are filled the same way; a
        movie without ratings gets the global mean under ``"movie_mean"``, a
        user without ratings the global mean under ``"user_mean"``.
        """
        matrix = rating_matrix(ratings, fill_value).reindex(index=self.user_ids,
                                                             columns=self.movie_ids)
        mean = float(ratings["rating"].mean())
        if fill_value == "global_mean":
            return matrix.fillna(mean).to_numpy()
        if fill_value == "movie_mean":
            means = ratings.groupby("movie id")["rating"].mean().reindex(self.movie_ids).fillna(mean)
            return matrix.fillna(means).to_numpy()
        if fill_value == "user_mean":
            means = ratings.groupby("user id")["rating"].mean().reindex(self.user_ids).fillna(mean)
            return matrix.T.fillna(means).T.to_numpy()
        return matrix.fillna(float(fill_value)).to_numpy()


def bias_baseline(ratings: pd.DataFrame, index: RatingIndex, reg: float = 10.0,
                  n_sweeps: int = 10) -> tuple[float, np.ndarray, np.ndarray]:
    """Regularized user and movie biases: ``rating ~ mu + b_user + b_movie``.

    Minimizes ``sum (r - mu - b_u - b_i)^2 + reg (||b_user||^2 + ||b_movie||^2)``
    with ``mu`` the mean rating, by alternating the two closed-form updates
    ``b_i = sum_u (r - mu - b_u) / (reg + n_i)`` (and likewise for users).

    Returns
    -------
    mu : float
    user_bias : ndarray of shape (n_users,), 0 for users without ratings
    movie_bias : ndarray of shape (n_movies,), 0 for movies without ratings
    """
    rows, cols = index.cells(ratings)
    r = ratings["rating"].to_numpy(dtype=float)
    mu = float(r.mean())
    n_users, n_movies = index.shape
    user_bias, movie_bias = np.zeros(n_users), np.zeros(n_movies)
    user_count = np.bincount(rows, minlength=n_users)
    movie_count = np.bincount(cols, minlength=n_movies)
    for _ in range(n_sweeps):
        movie_bias = np.bincount(cols, r - mu - user_bias[rows], n_movies) / (reg + movie_count)
        user_bias = np.bincount(rows, r - mu - movie_bias[cols], n_users) / (reg + user_count)
    return mu, user_bias, movie_bias


def rating_errors(predicted, actual, scale=RATING_SCALE) -> tuple[float, float]:
    """RMSE and MAE after clipping the predictions to the rating scale [1, 5]."""
    predicted = np.clip(np.asarray(predicted, dtype=float), *scale)
    error = predicted - np.asarray(actual, dtype=float)
    return float(np.sqrt(np.mean(error ** 2))), float(np.mean(np.abs(error)))


def top_n_accuracy(scores, known, relevant, n: int = TOP_N) -> tuple[float, float]:
    """Mean precision@n and recall@n over the users with at least one relevant movie.

    Parameters
    ----------
    scores : ndarray of shape (n_users, n_movies)
        Higher = recommend first.  Ties are broken by the lower movie position.
    known : sparse or bool matrix of shape (n_users, n_movies)
        Movies each user rated in training: never recommended.
    relevant : sparse or bool matrix of shape (n_users, n_movies)
        The held-out movies that count as hits.
    n : int, default 10

    Returns
    -------
    precision, recall : float
        ``hits / n`` and ``hits / n_relevant``, averaged over users.
    """
    scores = np.array(scores, dtype=float)
    relevant = sp.csr_matrix(relevant, dtype=bool)
    known = sp.csr_matrix(known, dtype=bool)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if users.size == 0:
        return float("nan"), float("nan")
    block = scores[users]
    block[known[users].toarray()] = -np.inf
    # a stable sort on the negated scores breaks ties by movie position
    top = np.argsort(-block, axis=1, kind="stable")[:, :n]
    hits = np.asarray(relevant[users].toarray()[np.arange(users.size)[:, None], top].sum(axis=1),
                      dtype=float)
    n_relevant = np.diff(relevant.indptr)[users]
    return float(np.mean(hits / n)), float(np.mean(hits / n_relevant))


# ------------------------------------------------------------------- models
# Each fit function takes the training ratings, the index and its
# hyperparameters, and returns a dense (n_users, n_movies) score matrix: a
# predicted rating for the rating models, a popularity count for popularity.
# 943 x 1682 cells is small; the sparse algorithms themselves never need it.

def _fit_global_mean(train, index):
    return np.full(index.shape, float(train["rating"].mean()))


def _fit_biases(train, index, reg):
    mu, user_bias, movie_bias = bias_baseline(train, index, reg=reg)
    return mu + user_bias[:, None] + movie_bias[None, :]


def _fit_popularity(train, index):
    _, cols = index.cells(train)
    counts = np.bincount(cols, minlength=index.shape[1]).astype(float)
    return np.broadcast_to(counts, index.shape).copy()


def _fit_nmf(train, index, fill, num_components, n_iter, random_state):
    X = index.filled(train, fill)
    Z, H, _ = nmf_core.non_negative(X, num_components, n_iter=n_iter, random_state=random_state)
    return Z @ H


def _fit_nmf_masked(train, index, num_components, l2, n_iter, random_state):
    Z, H, _ = nmf_core.non_negative(index.sparse(train), num_components, n_iter=n_iter,
                                     random_state=random_state, mask="observed", l2=l2)
    return Z @ H


def _fit_nnls_als(train, index, num_components, l2, n_iter, random_state):
    Z, H, _ = nmf_core.nnls_als(index.sparse(train), num_components, l2=l2, n_iter=n_iter,
                                 random_state=random_state)
    return Z @ H


def _fit_nnls_als_average(train, index, num_components, l2, n_iter, random_state, n_seeds):
    """Mean of ``n_seeds`` NNLS-ALS fits from the seeds ``random_state, random_state + 1, ...``.

    The mean of S non-negative products ``Z_s @ H_s`` is itself one non-negative
    factorization of rank ``S * M``: ``[Z_1 ... Z_S] / S`` times ``H`` stacked.
    Averaging smooths out which local optimum a single start lands in.
    """
    X = index.sparse(train)
    total = np.zeros(index.shape)
    for seed in range(random_state, random_state + n_seeds):
        Z, H, _ = nmf_core.nnls_als(X, num_components, l2=l2, n_iter=n_iter, random_state=seed)
        total += Z @ H
    return total / n_seeds


def _fit_als(train, index, num_components, l2, n_iter, random_state):
    Z, H, _ = nmf_core.als(index.sparse(train), num_components, l2=l2, n_iter=n_iter,
                            random_state=random_state)
    return Z @ H


def _fit_biased(train, index, num_components, l2, bias_l2, n_iter, random_state):
    fit = nmf_core.biased_non_negative(index.sparse(train), num_components, l2=l2,
                                        bias_l2=bias_l2, n_iter=n_iter, random_state=random_state)
    return fit.mu + fit.user_bias[:, None] + fit.item_bias[None, :] + fit.Z @ fit.H


def _fit_svd(train, index, fill, num_components):
    Z, H, _ = nmf_core.truncated_svd(index.filled(train, fill), num_components)
    return Z @ H


def _fit_sklearn_nmf(train, index, num_components, max_iter, random_state):
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    model = NMF(n_components=num_components, init="nndsvda", max_iter=max_iter,
                random_state=random_state)
    with warnings.catch_warnings():
        # max_iter is a budget chosen on validation data, so stopping at it is intended
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(index.sparse(train))
    return W @ model.components_


@dataclass(frozen=True)
class ModelSpec:
    """A recommender on the scoreboard: how to fit it and which settings to try.

    ``grid`` lists the candidate hyperparameters (one dict each, complete enough
    to refit exactly); ``select_by`` is the validation metric that picks one:
    ``"rmse"`` (lower is better) or ``"precision_at_10"`` (higher is better).
    ``predicts_ratings`` is False for a pure ranking model (popularity).
    """

    fit: object
    grid: tuple
    select_by: str
    non_negative: bool
    predicts_ratings: bool = True
    description: str = ""


def _grid(**axes):
    keys = list(axes)
    combos = [{}]
    for key in keys:
        values = axes[key] if isinstance(axes[key], (list, tuple)) else [axes[key]]
        combos = [{**c, key: v} for c in combos for v in values]
    return tuple(combos)


MODELS: dict[str, ModelSpec] = {
    "global_mean": ModelSpec(_fit_global_mean, _grid(), "rmse", False,
                             description="every prediction is the mean training rating"),
    "biases": ModelSpec(_fit_biases, _grid(reg=[5.0, 15.0]), "rmse", False,
                        description="mean + regularized user and movie biases"),
    "popularity": ModelSpec(_fit_popularity, _grid(), "precision_at_10", False, False,
                            description="most-rated movies first (ranking only)"),
    "nmf_zero": ModelSpec(_fit_nmf, _grid(fill=0, num_components=[10, 20, 30], n_iter=500,
                                          random_state=0),
                          "precision_at_10", True,
                          description="the exercise: multiplicative updates on the zero-filled matrix"),
    "nmf_global_mean": ModelSpec(_fit_nmf, _grid(fill="global_mean", num_components=[5, 15],
                                                 n_iter=500, random_state=0), "rmse", True,
                                 description="multiplicative updates, missing = global mean"),
    "nmf_movie_mean": ModelSpec(_fit_nmf, _grid(fill="movie_mean", num_components=[5, 15],
                                                n_iter=500, random_state=0), "rmse", True,
                                description="multiplicative updates, missing = movie mean"),
    "nmf_masked": ModelSpec(_fit_nmf_masked, _grid(num_components=[10, 20], l2=[0.05, 0.1],
                                                   n_iter=500, random_state=0), "rmse", True,
                            description="multiplicative updates on observed ratings, L2"),
    "nnls_als": ModelSpec(_fit_nnls_als, _grid(num_components=[10, 20], l2=[0.1, 0.12, 0.14],
                                               n_iter=20, random_state=0), "rmse", True,
                          description="non-negative ALS (NNLS per row), L2"),
    "nnls_als_avg": ModelSpec(_fit_nnls_als_average,
                              _grid(num_components=[10, 20], l2=[0.09, 0.11, 0.13], n_iter=12,
                                    random_state=0, n_seeds=5), "rmse", True,
                              description="mean of five NNLS-ALS fits (different seeds)"),
    "biased_nmf": ModelSpec(_fit_biased, _grid(num_components=[10, 30], l2=[0.06, 0.08],
                                               bias_l2=5.0, n_iter=20, random_state=0),
                            "rmse", True,
                            description="mean + biases + non-negative interaction"),
    "als": ModelSpec(_fit_als, _grid(num_components=[5, 10], l2=[0.08, 0.12], n_iter=15,
                                     random_state=0), "rmse", False,
                     description="unconstrained regularized ALS (closed form)"),
    "svd_zero": ModelSpec(_fit_svd, _grid(fill=0, num_components=[5, 10, 15, 20, 30, 50]),
                          "precision_at_10", False,
                          description="rank-k SVD of the zero-filled matrix (PureSVD)"),
    "svd_movie_mean": ModelSpec(_fit_svd, _grid(fill="movie_mean", num_components=[2, 5, 10]),
                                "rmse", False,
                                description="rank-k SVD of the movie-mean-filled matrix"),
    "sklearn_nmf": ModelSpec(_fit_sklearn_nmf, _grid(num_components=[10, 20], max_iter=400,
                                                     random_state=0), "precision_at_10", True,
                             description="scikit-learn NMF on the zero-filled matrix"),
}


def fit_scores(model: str, train: pd.DataFrame, index: RatingIndex, params: Mapping) -> np.ndarray:
    """Fit ``MODELS[model]`` with ``params`` on ``train``; return its (n_users, n_movies) scores."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}.")
    return MODELS[model].fit(train, index, **params)


def score_split(scores, train: pd.DataFrame, test: pd.DataFrame, index: RatingIndex,
                predicts_ratings: bool = True, baseline=None) -> dict[str, float]:
    """All metrics of one fitted model on one held-out set.

    Ratings of users or movies without any training rating are predicted by
    the bias baseline ``baseline = (mu, user_bias, movie_bias)`` (its biases are
    0 for the unseen side); by default it is fitted on ``train``.

    Returns
    -------
    dict with keys ``rmse``, ``mae`` (NaN when ``predicts_ratings`` is False),
    ``precision_at_10``, ``recall_at_10``, ``precision_at_10_liked``,
    ``recall_at_10_liked``.
    """
    rows, cols = index.cells(test)
    known = index.sparse(train) != 0
    metrics = {}
    if predicts_ratings:
        mu, user_bias, movie_bias = baseline if baseline is not None else bias_baseline(train, index)
        seen_users = np.asarray(known.sum(axis=1)).ravel() > 0
        seen_movies = np.asarray(known.sum(axis=0)).ravel() > 0
        predicted = np.asarray(scores)[rows, cols]
        unseen = ~(seen_users[rows] & seen_movies[cols])
        predicted = np.where(unseen, mu + user_bias[rows] + movie_bias[cols], predicted)
        metrics["rmse"], metrics["mae"] = rating_errors(predicted, test["rating"])
    else:
        metrics["rmse"] = metrics["mae"] = float("nan")
    truth = test["rating"].to_numpy()
    for suffix, keep in (("", truth > 0), ("_liked", truth >= LIKED_RATING)):
        relevant = sp.csr_matrix((np.ones(keep.sum(), dtype=bool), (rows[keep], cols[keep])),
                                  shape=index.shape)
        precision, recall = top_n_accuracy(scores, known, relevant)
        metrics[f"precision_at_10{suffix}"], metrics[f"recall_at_10{suffix}"] = precision, recall
    return metrics


def select_params(model: str, base: pd.DataFrame, index: RatingIndex,
                  random_state: int = 0) -> tuple[dict, pd.DataFrame]:
    """Choose ``model``'s hyperparameters on a validation split carved from ``base``.

    Returns
    -------
    best : dict
        The candidate from ``MODELS[model].grid`` with the best validation
        ``select_by`` metric (first one on ties).
    trials : DataFrame
        One row per candidate: ``params`` (JSON) and its validation metrics.
    """
    spec = MODELS[model]
    train, validation = holdout_split(base, random_state=random_state)
    baseline = bias_baseline(train, index)
    rows = []
    for params in spec.grid:
        scores = fit_scores(model, train, index, params)
        metrics = score_split(scores, train, validation, index, spec.predicts_ratings, baseline)
        rows.append({"params": json.dumps(params, sort_keys=True), **metrics})
    trials = pd.DataFrame(rows)
    column = trials[spec.select_by]
    best = int(column.idxmin() if spec.select_by == "rmse" else column.idxmax())
    return dict(spec.grid[best]), trials


def evaluate_fold(fold: int, models=None, path: str | Path = DEFAULT_PATH,
                  tune: bool = True, params: Mapping | None = None) -> pd.DataFrame:
    """Tune, fit and score each model on one official fold.

    Parameters
    ----------
    fold : int in 1..5
    models : iterable of str, optional
        Names in :data:`MODELS`; all by default.
    tune : bool, default True
        Choose hyperparameters on a validation split of ``u{fold}.base``
        (seeded by the fold).  If False, use ``params[model]`` or the grid's
        first candidate.
    params : dict {model: dict}, optional
        Fixed hyperparameters (used when ``tune`` is False).

    Returns
    -------
    DataFrame with columns :data:`EVALUATION_COLS`, one row per model.
        ``params`` is JSON: the exact keyword arguments of the refit, and
        ``fit_seconds`` the wall time of that refit on the whole base set.
    """
    _, movies, users = load_movielens(path)
    index = RatingIndex.from_tables(users, movies)
    base, test = load_split(fold, path)
    baseline = bias_baseline(base, index)
    rows = []
    for model in (models or MODELS):
        spec = MODELS[model] if model in MODELS else None
        if spec is None:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}.")
        if tune:
            chosen, _ = select_params(model, base, index, random_state=fold)
        else:
            chosen = dict((params or {}).get(model, spec.grid[0]))
        start = time.perf_counter()
        scores = fit_scores(model, base, index, chosen)
        seconds = time.perf_counter() - start
        metrics = score_split(scores, base, test, index, spec.predicts_ratings, baseline)
        rows.append({"model": model, "params": json.dumps(chosen, sort_keys=True), "fold": fold,
                     **metrics, "fit_seconds": seconds})
    return pd.DataFrame(rows, columns=EVALUATION_COLS)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Fold means and standard deviations of every metric, one row per model.

    Returns
    -------
    DataFrame indexed by model, columns ``(metric, "mean")`` and
    ``(metric, "std")``, sorted by mean RMSE (ranking-only models last).
    """
    metrics = EVALUATION_COLS[3:]
    table = results.groupby("model", sort=False)[metrics].agg(["mean", "std"])
    return table.sort_values(("rmse", "mean"), na_position="last")


def train_test_rmse(model: str, params: Mapping, base: pd.DataFrame, test: pd.DataFrame,
                    index: RatingIndex) -> tuple[float, float]:
    """RMSE of one fit on the ratings it was trained on and on held-out ratings.

    Both clipped to [1, 5]; held-out cells of users or movies unseen in
    ``base`` fall back to the bias baseline, as in :func:`score_split`.
    """
    scores = fit_scores(model, base, index, params)
    rows, cols = index.cells(base)
    train_rmse, _ = rating_errors(scores[rows, cols], base["rating"])
    return train_rmse, score_split(scores, base, test, index)["rmse"]


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
