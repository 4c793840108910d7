"""The exercise's recommender on MovieLens-100k, in reading order: the tables, rat_df and its
fills, recommend_movies, a new user, genre statistics, rows of H; last, checks and look-ups."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

RATINGS_COLS = ["user id", "movie id", "rating", "timestamp"]  # the exercise's column headers
RATINGS_FILE = {"sep": "\t", "names": RATINGS_COLS, "encoding": "latin-1"}  #: u.data, u1.base...
GENRES = ["unknown", "Action", "Adventure", "Animation", "Childrens", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
MOVIES_COLS = ["movie id", "movie title", "release date", "video release date", "IMDb URL", *GENRES]
USERS_COLS = ["user id", "age", "gender", "occupation", "zip code"]

#: Where :func:`load_movielens` looks: ``ml-100k/`` beside the notebook, then ``data/ml-100k/``.
SEARCH_PATHS = (Path("ml-100k"), Path("data/ml-100k"))
_FILES = ("u.data", "u.item", "u.user")
FILL_STRATEGIES = ("global_mean", "movie_mean")  #: fills computed from the ratings themselves
RATING_SCALE = (1, 5)  #: MovieLens ratings are whole stars from 1 to 5
EMPTY_BELOW = 0.5  #: a cell is empty below half a star: it would not round to even one star


def find_movielens(path: str | Path | None = None) -> Path:
    """``path``, or the first folder of ``SEARCH_PATHS`` that holds ``u.data``, ``u.item``
    and ``u.user``; FileNotFoundError naming every folder tried and how to get the data."""
    folders = [Path(path)] if path is not None else list(SEARCH_PATHS)
    for folder in folders:
        if all((folder / name).is_file() for name in _FILES):
            return folder
    tried = "; ".join(f"{f.resolve()} lacks {', '.join(n for n in _FILES if not (f / n).is_file())}"
                      for f in folders)
    raise FileNotFoundError(f"MovieLens-100k not found ({tried}). Unzip the course's ml-100k.zip "
                            "beside the notebook, so that ml-100k/u.data exists.")


def load_movielens(path: str | Path | None = None):
    """``(ratings, movies, users)`` from ``path`` or :data:`SEARCH_PATHS`, as the sheet does."""
    folder = find_movielens(path)
    ratings = pd.read_csv(folder / "u.data", **RATINGS_FILE)
    movies = pd.read_csv(folder / "u.item", sep="|", names=MOVIES_COLS, encoding="latin-1")
    movies["release date"] = pd.to_datetime(movies["release date"], format="%d-%b-%Y")
    users = pd.read_csv(folder / "u.user", sep="|", names=USERS_COLS, encoding="latin-1",
                        dtype={"zip code": str})
    return ratings, movies, users


def rating_matrix(ratings: pd.DataFrame, fill_value: float | str = 0) -> pd.DataFrame:
    """The exercise's ``rat_df`` (users x movies): the rating where rated, else the fill
    (:func:`fill_for`): a number, "global_mean" or "movie_mean"."""
    check_ratings(ratings)
    X = ratings.pivot(index="user id", columns="movie id", values="rating").astype(float)
    return X.fillna(fill_for(ratings, fill_value))


def fill_for(ratings: pd.DataFrame, fill_value: float | str):
    """The value of an unrated cell: ``fill_value`` if a finite number, the mean of all ratings
    ("global_mean"), or each movie's mean by movie id ("movie_mean"; ratings checked first)."""
    number = isinstance(fill_value, numbers.Real) and not isinstance(fill_value, bool)
    if not (fill_value in FILL_STRATEGIES if isinstance(fill_value, str) else
            number and np.isfinite(fill_value)):
        raise ValueError(f"fill_value must be a finite number or one of {FILL_STRATEGIES}; got "
                         f"{fill_value!r}.")
    if fill_value == "movie_mean":
        return ratings.groupby("movie id")["rating"].mean()
    return ratings["rating"].mean() if fill_value == "global_mean" else fill_value


def sparsity(matrix, threshold: float = EMPTY_BELOW) -> float:
    """The share of empty cells, value below ``threshold``: in ``rat_df`` (fill 0) the unrated
    cells; in ``Z @ H``, which has hardly an exact zero, the cells that round to no star."""
    values = np.asarray(matrix, dtype=float)
    if values.size == 0:
        raise ValueError(f"matrix has no cell (shape {values.shape}); pass rat_df or Z @ H.")
    return float(np.mean(values < threshold))


def recommend_movies(reconstruction: pd.DataFrame, user_id: int, movies: pd.DataFrame,
                     ratings: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` movies ``user_id`` has not rated with the highest score in ``reconstruction``
    (``Z @ H`` with rat_df's rows, numbered from 0 or by user id, and columns): ``movie id``,
    ``movie title``, ``predicted score``, ``genres`` by ``rank``."""
    _check_inputs(reconstruction, user_id, movies, ratings, n)        # bad input: a clear error
    row = np.sort(ratings["user id"].unique()).searchsorted(user_id)   # rat_df's rows: sorted ids
    rated = ratings.loc[ratings["user id"] == user_id, "movie id"]
    scores = reconstruction.iloc[row].drop(rated).sort_index()         # unseen, by movie id
    best = scores.sort_values(ascending=False, kind="stable").head(n)  # ties: lower id first
    table = movies.set_index("movie id").loc[best.index, ["movie title"]]
    table["predicted score"], table["genres"] = best, genre_labels(movies)[best.index]
    return table.reset_index().set_axis(pd.RangeIndex(1, len(best) + 1, name="rank"))


def genre_labels(movies: pd.DataFrame) -> pd.Series:
    """Each movie's genres as one string, e.g. ``"Animation|Childrens|Comedy"``, by movie id."""
    flags = movies.set_index("movie id")[GENRES].astype(bool)
    return flags.dot(flags.columns + "|").str[:-1]          # True * "Comedy|" is "Comedy|"


def add_user(ratings: pd.DataFrame, new_ratings: Mapping[int, int],
             movies: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``(ratings + the new user's rows, the new user id)``: one more than the largest id;
    ``new_ratings`` maps movie ids to whole stars 1-5.  ``ratings`` itself is not changed."""
    check_ratings(ratings)
    _check_movies(movies)
    new_ratings = check_new_ratings(new_ratings, movies["movie id"])
    user_id = int(ratings["user id"].max()) + 1
    rows = pd.DataFrame({"user id": user_id, "movie id": list(new_ratings),   # timestamp: 1 s
                         "rating": list(new_ratings.values()),                  # after the last
                         "timestamp": int(ratings.get("timestamp", pd.Series([0])).max()) + 1})
    rows = rows[list(ratings.columns)].astype(ratings.dtypes.to_dict())
    return pd.concat([ratings, rows], ignore_index=True), user_id


def genre_distribution(movie_ids, movies: pd.DataFrame) -> pd.Series:
    """The share of the movies carrying each genre (a movie counts once per genre; ``GENRES``)."""
    return _genre_flags(movie_ids, movies).mean(axis=0).rename("share")


def genre_enrichment(H, movie_ids, movies: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """Each genre's share weighted by row k of H's loadings over its share of all ratings (2:
    twice as common), by ``component`` and ``GENRES`` (NaN where undefined)."""
    H, ids, G = _H_and_genres(H, movie_ids, movies)
    check_ratings(ratings)
    counts = ratings["movie id"].value_counts().reindex(ids, fill_value=0).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        enrichment = (H @ G) / H.sum(axis=1, keepdims=True) / (counts @ G / counts.sum())
    return pd.DataFrame(np.where(np.isfinite(enrichment), enrichment, np.nan),
                        index=pd.RangeIndex(len(H), name="component"),
                        columns=pd.Index(GENRES, name="genre"))


def top_movies(H, movie_ids, movies: pd.DataFrame, n: int = 3) -> pd.Series:
    """Each row of H's ``n`` movies of largest loading (ties by movie id), by ``component``."""
    H, ids, _ = _H_and_genres(H, movie_ids, movies)
    n = _how_many(n)
    titles = movies.set_index("movie id")["movie title"]
    return pd.Series(["; ".join(titles.loc[ids[np.lexsort((ids, -row))[:n]]]) for row in H],
                     index=pd.RangeIndex(len(H), name="component"), name="top movies")


def check_ratings(ratings) -> None:
    """Raise, naming the fault, the value and the fix, unless ``ratings`` can be a rat_df."""
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a DataFrame with columns {RATINGS_COLS[:3]}; got "
                        f"{type(ratings).__name__}. Use the ratings from load_movielens().")
    missing = [c for c in RATINGS_COLS[:3] if c not in ratings.columns]
    if missing or ratings.empty:
        raise ValueError(f"ratings lacks the column(s) {missing}; it has {list(ratings.columns)}."
                         if missing else "ratings is empty: it holds no rating.")
    for column in RATINGS_COLS[:3]:
        values = ratings[column]
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(float, na_value=np.nan)
        finite = np.isfinite(numeric)
        if values.dtype.kind not in "biuf" or not finite.all():
            k = int(np.argmin(finite))           # the first value that is no finite number, or 0
            raise ValueError(f"ratings[{column!r}] must hold finite numbers; got dtype "
                             f"{values.dtype}, e.g. {values.to_numpy(object)[k]!r} in row "
                             f"{values.index[k]}; convert (pd.to_numeric) or drop such rows first.")
    repeated = ratings.loc[ratings.duplicated(["user id", "movie id"]), ["user id", "movie id"]]
    if len(repeated):
        raise ValueError(f"ratings repeats the (user id, movie id) pair {repeated.iloc[0].tolist()}"
                         "; keep one (ratings.drop_duplicates(['user id', 'movie id'])).")


def check_new_ratings(new_ratings, movie_ids, what: str = "new_ratings") -> dict[int, int]:
    """``new_ratings`` as a dict of ints; raise unless it maps some ``movie_ids`` to stars."""
    known, stars = set(movie_ids), range(RATING_SCALE[0], RATING_SCALE[1] + 1)
    mapping = isinstance(new_ratings, Mapping)         # tested first: a Series has no truth value
    bad = {m: r for m, r in new_ratings.items() if isinstance(m, bool) or m not in known
           or isinstance(r, bool) or r not in stars} if mapping else new_ratings
    if not mapping or bad or not new_ratings:
        raise ValueError(f"{what} must be a non-empty dict {{movie id: stars}}, the ids those of "
                         f"movies['movie id'], the stars whole numbers 1 to 5; got {bad!r}.")
    return {int(m): int(r) for m, r in new_ratings.items()}


def _check_movies(movies) -> None:
    if not isinstance(movies, pd.DataFrame):
        raise TypeError(f"movies must be a DataFrame with columns 'movie id', 'movie title' and "
                        f"the genres; got {type(movies).__name__}. Use load_movielens().")
    missing = [c for c in ["movie id", "movie title", *GENRES] if c not in movies.columns]
    if missing:
        raise ValueError(f"movies lacks the column(s) {missing}; use the movies table from "
                         "load_movielens(), which has the exercise's columns.")
    if not (ids := movies["movie id"]).is_unique or ids.isna().any():
        raise ValueError("movies['movie id'] must name each movie once; got "
                         f"{ids[ids.duplicated() | ids.isna()].iloc[0]} twice or as NaN.")


def _check_inputs(reconstruction, user_id, movies, ratings, n) -> None:
    """The checks of :func:`recommend_movies`: each bad input raises an error naming it.  It
    sorts the user ids itself, so that recommend_movies can show its user-to-row lookup."""
    check_ratings(ratings)
    _check_movies(movies)
    users = np.sort(ratings["user id"].unique())
    build = "Build it as pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)."
    if not isinstance(reconstruction, pd.DataFrame):
        raise TypeError(f"reconstruction must be a DataFrame; got {type(reconstruction).__name__}."
                        f" {build}")
    if not (reconstruction.index.equals(pd.RangeIndex(len(users)))       # the exercise's
            or reconstruction.index.equals(pd.Index(users))):               # or by user id
        raise ValueError(f"reconstruction must have rat_df's rows: one per user of ratings "
                         f"({len(users)}), in rat_df's order, numbered 0..{len(users) - 1} or "
                         f"indexed by user id; got {len(reconstruction)} rows, index "
                         f"{reconstruction.index[:3].tolist()}... {build}")
    if isinstance(user_id, bool) or user_id not in users:
        raise KeyError(f"user_id={user_id!r} is not a user of ratings (users {users[0]}.."
                       f"{users[-1]}); add a new user with add_user() and refit.")
    _how_many(n)
    columns, rated = reconstruction.columns, ratings.loc[ratings["user id"] == user_id, "movie id"]
    unknown, absent = np.setdiff1d(columns, movies["movie id"]), np.setdiff1d(rated, columns)
    if not columns.is_unique or unknown.size or absent.size:
        why = (f"{unknown[0]} is not a movie id of movies" if unknown.size else
               f"movie {absent[0]}, rated by user {user_id}, has no column" if absent.size else
               "it repeats a movie id")
        raise ValueError(f"reconstruction's rows and columns must be rat_df's; {why}. {build}")
    if not np.isfinite(reconstruction.to_numpy(float)).all():
        raise ValueError("reconstruction holds NaN or infinite scores; a factorization that "
                         "diverged cannot rank movies: refit it.")


def _how_many(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer (how many movies); got {n!r}.")
    return int(n)


def _genre_flags(movie_ids, movies) -> pd.DataFrame:
    _check_movies(movies)
    flags = movies.set_index("movie id")[GENRES]
    unknown = np.setdiff1d(np.asarray(movie_ids), flags.index)
    if unknown.size:
        raise KeyError(f"movie id(s) {unknown[:5].tolist()} are not in movies.")
    return flags.loc[np.asarray(movie_ids)]


def _H_and_genres(H, movie_ids, movies) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H checked against the movie ids (``rat_df.columns``), and their 0/1 genre flags."""
    H, ids = np.asarray(H, dtype=float), np.asarray(movie_ids)
    if H.ndim != 2 or H.shape[1] != ids.size:
        raise ValueError(f"H has shape {H.shape} but {ids.size} movie ids were given; pass H of "
                         "shape (M, n_movies) and movie_ids=rat_df.columns.")
    if not np.isfinite(H).all() or (H < 0).any():
        raise ValueError("H must be finite and non-negative: a factor of non_negative().")
    return H, ids, _genre_flags(ids, movies).to_numpy(dtype=float)
