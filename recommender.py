"""MovieLens-100k as a recommendation problem, for the exercise's NMF recommender.

Reading order: loading the three tables with the exercise's column names; the rating
matrix ``rat_df`` and its fill values; :func:`recommend_movies`, the exercise's method;
new users (added and refitted, or folded into a fitted H); genre statistics; the rows
of H as prototypical users, and a score split into its components.  pandas in, pandas
out; the factorization itself is :func:`nmf_core.non_negative`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from nmf_core import NMFResult, non_negative

# The exercise's column headers.
RATINGS_COLS = ["user id", "movie id", "rating", "timestamp"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Childrens", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
MOVIES_COLS = ["movie id", "movie title", "release date", "video release date", "IMDb URL",
               *GENRES]
USERS_COLS = ["user id", "age", "gender", "occupation", "zip code"]

#: Where :func:`load_movielens` looks, in this order: ``ml-100k/`` beside the notebook, as
#: the exercise has it, then ``data/ml-100k/``.
SEARCH_PATHS = (Path("ml-100k"), Path("data/ml-100k"))
_FILES = ("u.data", "u.item", "u.user")
#: The fill values that are computed from the ratings rather than given as a number.
FILL_STRATEGIES = ("global_mean", "movie_mean", "user_mean")
#: A cell counts as empty below half a star: it would not round to even one star.
EMPTY_BELOW = 0.5


# --- The data ------------------------------------------------------------------------------

def find_movielens(path: str | Path | None = None) -> Path:
    """``path``, or the first folder of ``SEARCH_PATHS`` that holds ``u.data``, ``u.item``
    and ``u.user``; FileNotFoundError naming every folder tried and how to get the data."""
    folders = [Path(path)] if path is not None else list(SEARCH_PATHS)
    for folder in folders:
        if all((folder / name).is_file() for name in _FILES):
            return folder
    tried = "; ".join(f"{folder.resolve()} lacks "
                      f"{', '.join(n for n in _FILES if not (folder / n).is_file())}"
                      for folder in folders)
    raise FileNotFoundError(f"MovieLens-100k not found ({tried}). Unzip the course's ml-100k.zip "
                            "beside the notebook, so that ml-100k/u.data exists.")


def load_movielens(path: str | Path | None = None):
    """``(ratings, movies, users)``: the three tables, read as the exercise reads them.

    ``ratings`` has ``RATINGS_COLS``, ``movies`` ``MOVIES_COLS`` (``release date`` parsed as a
    date, genres as 0/1), ``users`` ``USERS_COLS`` (``zip code`` as text).  ``path``: the
    folder of ``u.data``; by default ``ml-100k``, else ``data/ml-100k`` (see :data:`SEARCH_PATHS`).
    """
    folder = find_movielens(path)
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=RATINGS_COLS, encoding="latin-1")
    movies = pd.read_csv(folder / "u.item", sep="|", names=MOVIES_COLS, encoding="latin-1")
    movies["release date"] = pd.to_datetime(movies["release date"], format="%d-%b-%Y")
    users = pd.read_csv(folder / "u.user", sep="|", names=USERS_COLS, encoding="latin-1",
                        dtype={"zip code": str})
    return ratings, movies, users


def rating_matrix(ratings: pd.DataFrame, fill_value: float | str = 0) -> pd.DataFrame:
    """The users x movies matrix ``rat_df`` of the exercise: rated cells hold the rating.

    Parameters
    ----------
    ratings : DataFrame with ``'user id'``, ``'movie id'``, ``'rating'``; one row per pair
    fill_value : float or "global_mean", "movie_mean", "user_mean", default 0
        What an unrated cell holds: the number, the mean of all ratings, the mean rating of
        the cell's movie, or that of the cell's user.

    Returns a float DataFrame (n_users, n_movies), index ``'user id'``, columns ``'movie id'``,
    both ascending, with every user and movie of ``ratings``: the exercise's pivot, filled.
    """
    _check_ratings(ratings)
    number = isinstance(fill_value, numbers.Real) and not isinstance(fill_value, bool)
    if not (fill_value in FILL_STRATEGIES if isinstance(fill_value, str)
            else number and np.isfinite(fill_value)):
        raise ValueError(f"fill_value must be a finite number or one of {FILL_STRATEGIES}; "
                         f"got {fill_value!r}.")
    X = ratings.pivot(index="user id", columns="movie id", values="rating").astype(float)
    if fill_value == "movie_mean":
        return X.fillna(X.mean(axis=0))
    if fill_value == "user_mean":
        return X.T.fillna(X.mean(axis=1)).T
    return X.fillna(ratings["rating"].mean() if fill_value == "global_mean" else fill_value)


def sparsity(matrix, threshold: float = EMPTY_BELOW) -> float:
    """The share of empty cells, value below ``threshold``: in ``rat_df`` (fill 0) the unrated
    cells; in ``Z @ H``, which has hardly an exact zero, the cells that round to no star."""
    values = np.asarray(matrix, dtype=float)
    if values.size == 0:
        raise ValueError(f"matrix has no cell (shape {values.shape}); pass rat_df or Z @ H.")
    return float(np.mean(values < threshold))


# --- Recommending ---------------------------------------------------------------------------

def recommend_movies(reconstruction: pd.DataFrame, user_id: int, movies: pd.DataFrame,
                     ratings: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` movies ``user_id`` has not rated with the highest score in ``reconstruction``.

    Parameters
    ----------
    reconstruction : DataFrame (n_users, n_movies), ``Z @ H`` with the columns of ``rat_df``;
        its index the user ids, or 0..n-1 as in the exercise's
        ``pd.DataFrame(Z @ H, columns=rat_df.columns)`` (row i is then the i-th user id
        in ascending order, as in ``rat_df``)
    user_id : int, a user of ``ratings``
    movies : DataFrame as from :func:`load_movielens` (titles and genres)
    ratings : DataFrame, the ratings the reconstruction was fitted to
    n : int >= 1, default 20

    Returns
    -------
    DataFrame: ``movie id``, ``movie title``, ``predicted score``, ``genres``; index ``rank``
    1..n, best first, ties by lower movie id.  Never a movie the user rated.
    """
    users = _check_tables(reconstruction, movies, ratings)      # the user ids of ratings, sorted
    if reconstruction.index.equals(pd.RangeIndex(len(users))):  # the exercise's frame: row i is
        reconstruction = reconstruction.set_axis(users, axis=0)  # the i-th user, as in rat_df
    _check_request(reconstruction, user_id, movies, ratings, n)
    rated = ratings.loc[ratings["user id"] == user_id, "movie id"]
    scores = reconstruction.loc[user_id].drop(rated).sort_index()        # unseen movies only
    best = scores.sort_values(ascending=False, kind="stable").head(n)    # ties: lower id first
    titles = movies.set_index("movie id").loc[best.index, "movie title"]
    return pd.DataFrame({"movie id": best.index, "movie title": titles.to_numpy(),
                         "predicted score": best.to_numpy(),
                         "genres": genre_labels(movies).loc[best.index].to_numpy()},
                        index=pd.RangeIndex(1, len(best) + 1, name="rank"))


def genre_labels(movies: pd.DataFrame) -> pd.Series:
    """Each movie's genres as one string, e.g. ``"Animation|Childrens|Comedy"``, by movie id."""
    _check_movies(movies)
    flags = movies.set_index("movie id")[GENRES].astype(bool)
    return flags.apply(lambda row: "|".join(row.index[row]), axis=1).rename("genres")


def add_user(ratings: pd.DataFrame, new_ratings: Mapping[int, int],
             movies: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``(ratings + the new user's rows, the new user id)``: one more than the largest id;
    ``new_ratings`` maps movie ids to whole stars 1-5.  ``ratings`` itself is not changed."""
    _check_ratings(ratings)
    new_ratings = _check_new_ratings(new_ratings, movies)
    user_id = int(ratings["user id"].max()) + 1
    rows = pd.DataFrame({"user id": user_id, "movie id": list(new_ratings),
                         "rating": list(new_ratings.values())})
    if "timestamp" in ratings:        # one second after the latest rating
        rows["timestamp"] = int(ratings["timestamp"].max()) + 1
    rows = rows[list(ratings.columns)].astype(ratings.dtypes.to_dict())
    return pd.concat([ratings, rows], ignore_index=True), user_id


def fold_in(new_ratings: Mapping[int, int], fit: NMFResult, movie_ids, movies: pd.DataFrame,
            fill_value: float = 0, **options) -> pd.Series:
    """A new user's score for every movie (Series by movie id), the other users untouched:
    the user's row of ``rat_df`` (unrated cells ``fill_value``) is fitted with ``fit.H`` fixed,
    by update (2).  ``movie_ids``: the columns ``fit`` was fitted to (``rat_df.columns``);
    ``options`` go to :func:`nmf_core.non_negative` (e.g. ``n_iter``)."""
    new_ratings = _check_new_ratings(new_ratings, movies)
    row = pd.Series(float(fill_value), index=pd.Index(movie_ids, name="movie id"))
    unknown = [movie for movie in new_ratings if movie not in row.index]
    if unknown:
        raise KeyError(f"movie id(s) {unknown} of new_ratings are not columns of the fitted "
                       f"matrix (movie_ids); the fit cannot score them.")
    row[list(new_ratings)] = list(new_ratings.values())
    new = non_negative(row.to_numpy()[None, :], np.shape(fit.H)[0], fold_into=fit, **options)
    return pd.Series((new.Z @ new.H)[0], index=row.index, name="predicted score")


def find_movie_ids(movies: pd.DataFrame, titles) -> list[int]:
    """Movie ids of exact titles, e.g. ``["Lion King, The (1994)"]``; KeyError for a title
    matching no movie or several, listing titles that contain its first word."""
    _check_movies(movies)
    ids = []
    for title in titles:
        found = movies.loc[movies["movie title"] == title, "movie id"]
        if len(found) != 1:
            word = (title.split() or [title])[0]
            near = movies.loc[movies["movie title"].str.contains(word, regex=False),
                              "movie title"].head(5).tolist()
            raise KeyError(f"title {title!r} matches {len(found)} movies, expected exactly one; "
                           f"titles containing {word!r}: {near}.")
        ids.append(int(found.iloc[0]))
    return ids


# --- Genre statistics and the rows of H -------------------------------------------------------

def genre_distribution(movie_ids, movies: pd.DataFrame) -> pd.DataFrame:
    """How many of the movies carry each genre: columns ``genre`` (all of ``GENRES``),
    ``count`` and ``share`` (count / number of movies).  A movie counts once per genre, so
    the shares of a list add up to its mean number of genres, not to 1."""
    flags = _genre_flags(movie_ids, movies)
    counts = flags.sum(axis=0).astype(int).to_numpy()
    return pd.DataFrame({"genre": GENRES, "count": counts,
                         "share": counts / len(flags) if len(flags) else 0.0})


def genre_share(movie_ids, movies: pd.DataFrame, genre: str) -> float:
    """The share of the movies (n >= 1) that carry ``genre``, one of ``GENRES``."""
    if genre not in GENRES:
        raise ValueError(f"genre must be one of {GENRES}; got {genre!r}.")
    flags = _genre_flags(movie_ids, movies)
    if flags.empty:
        raise ValueError("movie_ids is empty: the share of no movies is undefined.")
    return float(flags[genre].mean())


def genre_enrichment(H, movie_ids, movies: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """How much more weight each row of H puts on each genre than the ratings do: row k's
    loadings, normalized to sum to 1, weight the movies' 0/1 genre flags, and that share is
    divided by the genre's share of all ratings (a movie counts once per rating).  1: as
    common as among the ratings; 2: twice as common.  A DataFrame (M, 19), index
    ``component``, columns ``GENRES`` (NaN where undefined)."""
    H, ids = _check_H(H, movie_ids, movies)
    G = _genre_flags(ids, movies).to_numpy(dtype=float)
    _check_ratings(ratings)
    counts = ratings["movie id"].value_counts().reindex(ids, fill_value=0).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        enrichment = (H @ G) / H.sum(axis=1, keepdims=True) / (counts @ G / counts.sum())
    return pd.DataFrame(np.where(np.isfinite(enrichment), enrichment, np.nan),
                        index=pd.RangeIndex(len(H), name="component"),
                        columns=pd.Index(GENRES, name="genre"))


def top_movies(H, movie_ids, movies: pd.DataFrame, n: int = 3) -> pd.Series:
    """Each row of H's ``n`` movies of largest loading (ties by movie id), titles joined by
    ``"; "``, indexed by ``component``."""
    H, ids = _check_H(H, movie_ids, movies)
    titles = movies.set_index("movie id")["movie title"]
    return pd.Series(["; ".join(titles.loc[ids[np.lexsort((ids, -row))[:n]]]) for row in H],
                     index=pd.RangeIndex(len(H), name="component"), name="top movies")


def score_contributions(Z, H, user_ids, movie_ids, user_id, movie_id) -> pd.DataFrame:
    """Why ``user_id`` gets ``movie_id``: the score ``(Z H)_uj = sum_k z_uk h_kj`` split into
    its non-negative terms, one per row of H.  ``user_ids``, ``movie_ids``: the id of each row
    of Z and column of H (``rat_df.index``, ``rat_df.columns``).  A DataFrame (M, 4), index
    ``component``: ``user weight`` (z_uk), ``movie loading`` (h_kj), ``contribution`` (their
    product; they sum to the score), ``share`` of the score; largest contribution first."""
    Z, H = np.asarray(Z, dtype=float), np.asarray(H, dtype=float)
    if Z.ndim != 2 or H.ndim != 2 or Z.shape[1] != H.shape[0] or Z.shape[0] != len(user_ids) \
            or H.shape[1] != len(movie_ids):
        raise ValueError(f"Z {Z.shape} and H {H.shape} do not fit {len(user_ids)} user ids and "
                         f"{len(movie_ids)} movie ids; pass Z, H, rat_df.index, rat_df.columns.")
    row, col = _position(user_ids, user_id, "user_id"), _position(movie_ids, movie_id, "movie_id")
    terms = Z[row] * H[:, col]
    table = pd.DataFrame({"user weight": Z[row], "movie loading": H[:, col], "contribution": terms,
                          "share": terms / terms.sum() if terms.sum() > 0 else 0.0},
                         index=pd.RangeIndex(H.shape[0], name="component"))
    return table.sort_values("contribution", ascending=False, kind="stable")


# --- Checks: each names the object at fault, the value seen and what to do -------------------

def _check_ratings(ratings) -> None:
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a DataFrame with columns {RATINGS_COLS[:3]}; got "
                        f"{type(ratings).__name__}. Use the ratings from load_movielens().")
    missing = [c for c in RATINGS_COLS[:3] if c not in ratings.columns]
    if missing or ratings.empty:
        raise ValueError(f"ratings lacks the column(s) {missing}; it has {list(ratings.columns)}."
                         if missing else "ratings is empty: it holds no rating.")
    for column in RATINGS_COLS[:3]:
        values = ratings[column]
        if values.dtype.kind not in "biuf" or not np.isfinite(values.to_numpy(float)).all():
            bad = values[~np.isfinite(pd.to_numeric(values, errors="coerce").astype(float))]
            raise ValueError(f"ratings[{column!r}] must hold finite numbers; got dtype "
                             f"{values.dtype}, e.g. {_plain(bad.iloc[0])!r} in row "
                             f"{bad.index[0]}; drop or fix those rows first.")
    if ratings.duplicated(["user id", "movie id"]).any():
        pair = ratings.loc[ratings.duplicated(["user id", "movie id"]),
                           ["user id", "movie id"]].iloc[0].tolist()
        raise ValueError(f"ratings repeats the (user id, movie id) pair {pair}; keep one rating "
                         "per pair (e.g. ratings.drop_duplicates(['user id', 'movie id'])).")


def _check_movies(movies) -> None:
    if not isinstance(movies, pd.DataFrame):
        raise TypeError(f"movies must be a DataFrame with columns 'movie id', 'movie title' and "
                        f"the genres; got {type(movies).__name__}. Use load_movielens().")
    missing = [c for c in ["movie id", "movie title", *GENRES] if c not in movies.columns]
    if missing:
        raise ValueError(f"movies lacks the column(s) {missing}; use the movies table from "
                         "load_movielens(), which has the exercise's columns.")
    repeated = movies["movie id"][movies["movie id"].duplicated()]
    if len(repeated) or movies["movie id"].isna().any():
        raise ValueError("movies['movie id'] must name each movie once; got " + (
            "NaN." if movies["movie id"].isna().any() else f"{_plain(repeated.iloc[0])!r} twice."))


_BUILD = "pd.DataFrame(Z @ H, index=rat_df.index, columns=rat_df.columns)"


def _check_tables(reconstruction, movies, ratings) -> pd.Index:
    """The tables of :func:`recommend_movies` checked; returns the user ids of ``ratings``."""
    _check_ratings(ratings)
    _check_movies(movies)
    if not isinstance(reconstruction, pd.DataFrame):
        raise TypeError(f"reconstruction must be a DataFrame; got {type(reconstruction).__name__}."
                        f" Build it as {_BUILD}.")
    users = pd.Index(np.sort(ratings["user id"].unique()), name="user id")
    if reconstruction.index.equals(pd.RangeIndex(len(reconstruction))) and \
            len(reconstruction) != len(users):                 # positions of too few or many rows
        raise ValueError(f"reconstruction is indexed 0..{len(reconstruction) - 1}, row "
                         f"positions, but ratings has {len(users)} users, so its rows cannot "
                         f"be matched to them. Build it as {_BUILD}.")
    return users


def _check_request(reconstruction, user_id, movies, ratings, n) -> None:
    """The checks of :func:`recommend_movies` on a reconstruction indexed by user id."""
    build, users = _BUILD, np.sort(ratings["user id"].unique())
    if not (isinstance(user_id, numbers.Integral) and not isinstance(user_id, bool)):
        raise TypeError(f"user_id must be an integer user id; got {user_id!r}.")
    if user_id not in reconstruction.index or user_id not in set(users.tolist()):
        raise KeyError(f"user_id={user_id} is not a row of reconstruction or a user of ratings "
                       f"(users {users[0]}..{users[-1]}); add a new user with add_user() and "
                       "refit, or score one with fold_in().")
    for labels, what in ((reconstruction.index, "user ids"), (reconstruction.columns, "movie ids")):
        if not labels.is_unique:
            raise ValueError(f"reconstruction repeats {what}, e.g. "
                             f"{_plain(labels[labels.duplicated()][0])!r}. Build it as {build}.")
    rated = ratings.loc[ratings["user id"] == user_id, "movie id"]
    unknown = np.setdiff1d(reconstruction.columns, movies["movie id"])
    absent = np.setdiff1d(rated, reconstruction.columns)
    if unknown.size or absent.size:
        why = (f"{_plain(unknown[0])!r} is not a movie id of movies" if unknown.size
               else f"movie {absent[0]}, rated by user {user_id}, has no column")
        raise ValueError(f"reconstruction's columns must be the movie ids of rat_df; {why}. "
                         f"Build it as {build}.")
    if not np.isfinite(reconstruction.loc[user_id].to_numpy(float)).all():
        raise ValueError(f"reconstruction holds NaN or infinite scores for user {user_id}; a "
                         "factorization that diverged cannot rank movies: refit it.")
    if not (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"n must be a positive integer (how many movies); got {n!r}.")


def _check_new_ratings(new_ratings, movies) -> dict[int, int]:
    _check_movies(movies)
    if not isinstance(new_ratings, Mapping) or not new_ratings:
        raise ValueError(f"new_ratings must be a non-empty dict {{movie id: stars}}; got "
                         f"{new_ratings!r}.")
    unknown = [m for m in new_ratings if m not in set(movies["movie id"].tolist())]
    if unknown:
        raise KeyError(f"movie id(s) {unknown} of new_ratings are not in movies; look ids up with "
                       "find_movie_ids(movies, titles).")
    bad = {m: r for m, r in new_ratings.items() if isinstance(r, bool)
           or not isinstance(r, numbers.Real) or r not in (1, 2, 3, 4, 5)}
    if bad:
        raise ValueError(f"new_ratings {bad} are not whole stars 1 to 5, as MovieLens ratings are.")
    return {int(m): int(r) for m, r in new_ratings.items()}


def _genre_flags(movie_ids, movies) -> pd.DataFrame:
    _check_movies(movies)
    flags = movies.set_index("movie id")[GENRES]
    ids = np.asarray(movie_ids)
    unknown = np.setdiff1d(ids, flags.index)
    if unknown.size:
        raise KeyError(f"movie id(s) {unknown[:5].tolist()} are not in movies.")
    return flags.loc[ids]


def _check_H(H, movie_ids, movies) -> tuple[np.ndarray, np.ndarray]:
    H, ids = np.asarray(H, dtype=float), np.asarray(movie_ids)
    if H.ndim != 2 or H.shape[1] != ids.size:
        raise ValueError(f"H has shape {H.shape} but {ids.size} movie ids were given; pass H of "
                         "shape (M, n_movies) and movie_ids=rat_df.columns.")
    if not np.isfinite(H).all() or (H < 0).any():
        raise ValueError("H must be finite and non-negative: a factor of non_negative().")
    _genre_flags(ids, movies)     # every id a movie
    return H, ids


def _plain(value):
    """A NumPy scalar as a Python one, so that messages read 3, not np.int64(3)."""
    return value.item() if isinstance(value, np.generic) else value


def _position(ids, wanted, name: str) -> int:
    matches = np.flatnonzero(np.asarray(ids) == wanted)
    if matches.size != 1:
        raise KeyError(f"{name}={wanted!r} is {'not among' if matches.size == 0 else 'repeated in'}"
                       f" the {len(ids)} ids given (e.g. rat_df.index or rat_df.columns).")
    return int(matches[0])
