"""The ranking tests' random tables and their brute-force answer, for both rankers: the
exercise's recommend_movies (test_recommender.py) and the lab's Model.recommend
(lab/test_interface.py)."""

import pandas as pd

from recommender import RATINGS_COLS


def random_ratings(rng, movie_ids, max_users=7) -> pd.DataFrame:
    """1 to ``max_users`` users (ids from 1), each cell of ``movie_ids`` rated by chance with
    whole stars 1-5, at least one rating; timestamps 0."""
    n_users = rng.integers(1, max_users + 1)
    cells = [(u, m) for u in range(1, n_users + 1) for m in movie_ids]
    chosen = rng.choice(len(cells), size=rng.integers(1, len(cells) + 1), replace=False)
    return pd.DataFrame([(*cells[i], rng.integers(1, 6), 0) for i in chosen],
                        columns=RATINGS_COLS)


def best_unrated(score, ratings, user, movie_ids, n) -> list:
    """The ``n`` movies ``user`` has not rated with the highest ``score(movie id)``, ties by
    the lower id: the ranking written out by brute force."""
    rated = set(ratings.loc[ratings["user id"] == user, "movie id"])
    return sorted((m for m in movie_ids if m not in rated), key=lambda m: (-score(m), m))[:n]
