"""Synthetic ratings at the scale of MovieLens-1M and -10M, for the scale benchmarks
(``make bench``'s scale part, :mod:`lab.commands.bench_scale`; ``make spark-scale``,
:mod:`lab.commands.spark_scale`): the real data sets' numbers of users, movies and ratings
(:data:`SHAPES`), their skew, and a ratings table of them (:func:`ratings_frame`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lab.base import predict_cells
from recommender import RATING_SCALE

#: name: (users, movies, ratings) of the real MovieLens data sets
SHAPES = {"1m": (6_040, 3_706, 1_000_209), "10m": (69_878, 10_677, 10_000_054)}


def synthetic_ratings(n_users, n_movies, n_ratings, rank=10, *, seed):
    """A sparse users x movies matrix of 1..5 ratings with MovieLens-like skew.

    Users and movies are drawn with log-normal activity and popularity (a few
    very active users, a long tail of rarely rated movies); ratings come from a
    non-negative rank-``rank`` model plus noise, rounded and clipped to 1..5.

    Returns
    -------
    csr_matrix of shape (n_users, n_movies) with ``n_ratings`` stored entries
    """
    rng = np.random.default_rng(seed)
    user_weight = rng.lognormal(0, 1.0, n_users)
    movie_weight = rng.lognormal(0, 1.5, n_movies)
    cells = np.empty(0, dtype=np.int64)
    while cells.size < n_ratings:            # draw, drop repeated cells, top up
        extra = int((n_ratings - cells.size) * 1.1) + 1000
        rows = rng.choice(n_users, extra, p=user_weight / user_weight.sum())
        cols = rng.choice(n_movies, extra, p=movie_weight / movie_weight.sum())
        cells = np.unique(np.concatenate([cells, rows.astype(np.int64) * n_movies + cols]))
    cells = rng.permutation(cells)[:n_ratings]
    rows, cols = np.divmod(cells, n_movies)
    Z = rng.gamma(1.0, 1.0, (n_users, rank))
    H = rng.gamma(1.0, 1.0, (rank, n_movies))
    raw = predict_cells(Z, H, rows, cols)            # chunked: no (ratings x rank) array
    low, high = RATING_SCALE                         # whole stars, as MovieLens
    scaled = (high - low) * (raw - raw.min()) / (np.ptp(raw) + 1e-12)
    ratings = np.clip(np.rint(low + scaled + rng.normal(0, 0.7, raw.size)), low, high)
    return sp.csr_matrix((ratings, (rows, cols)), shape=(n_users, n_movies))


def ratings_frame(X) -> pd.DataFrame:
    """The stored cells of a sparse users x movies matrix as a ratings table: ids from 1,
    row i -> user id i + 1, column j -> movie id j + 1."""
    coo = X.tocoo()
    return pd.DataFrame({"user id": coo.row.astype(np.int64) + 1,
                         "movie id": coo.col.astype(np.int64) + 1,
                         "rating": coo.data.astype(float)})
