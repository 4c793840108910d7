"""MovieLens-100k as a recommendation problem: loading, rating matrix, and more.

pandas in, pandas out.  This module knows nothing of update rules: it hands a
matrix to :mod:`nmf_core` and reads recommendations off the reconstruction.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
