"""The fill rule is one rule: whatever route builds a rating matrix (the exercise's pivot,
recommender.rating_matrix; the evaluation's full-index matrix; the sparse matrix of observed
ratings; a new user's query row), an observed cell holds its rating and an unrated cell holds
the fill the strategy prescribes, written out here by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import recommender
from lab.ratings import RatingIndex

FILLS = [0, 2.5, "global_mean", "movie_mean"]

# users 1..4, movies 10..50; movie 50 and user 5 have no rating (they exist in the tables)
RATINGS = pd.DataFrame(
    [(1, 10, 5), (1, 20, 3), (1, 40, 4), (2, 30, 5), (2, 40, 4), (2, 10, 1),
     (3, 10, 2), (3, 20, 4), (3, 30, 3), (4, 20, 5)],
    columns=["user id", "movie id", "rating"])
USER_IDS = np.array([1, 2, 3, 4, 5])
MOVIE_IDS = np.array([10, 20, 30, 40, 50])


def expected_fill(fill, movie, ratings):
    """The fill of one unrated cell, written out by hand from the documented rule."""
    if not isinstance(fill, str):
        return float(fill)
    mean = ratings["rating"].mean()
    if fill == "global_mean":
        return mean
    own = ratings.loc[ratings["movie id"] == movie, "rating"]          # "movie_mean"
    return own.mean() if len(own) else mean


def expected_matrix(fill, ratings, user_ids, movie_ids):
    table = np.empty((len(user_ids), len(movie_ids)))
    cells = ratings[["user id", "movie id", "rating"]].itertuples(index=False)
    given = {(u, m): r for u, m, r in cells}
    for i, user in enumerate(user_ids):
        for j, movie in enumerate(movie_ids):
            table[i, j] = given.get((user, movie), expected_fill(fill, movie, ratings))
    return table


@pytest.mark.parametrize("fill", FILLS)
def test_pivoted_matrix_follows_the_rule(fill):
    matrix = recommender.rating_matrix(RATINGS, fill)
    assert list(matrix.index) == [1, 2, 3, 4] and list(matrix.columns) == [10, 20, 30, 40]
    np.testing.assert_allclose(matrix.to_numpy(),
                               expected_matrix(fill, RATINGS, [1, 2, 3, 4], [10, 20, 30, 40]))


@pytest.mark.parametrize("fill", FILLS)
def test_full_index_matrix_follows_the_rule_and_extends_the_pivot(fill):
    index = RatingIndex(USER_IDS, MOVIE_IDS)
    filled = index.filled(RATINGS, fill)
    np.testing.assert_allclose(filled, expected_matrix(fill, RATINGS, USER_IDS, MOVIE_IDS))
    np.testing.assert_allclose(filled[:4, :4], recommender.rating_matrix(RATINGS, fill).to_numpy())


def test_sparse_matrix_holds_exactly_the_ratings():
    index = RatingIndex(USER_IDS, MOVIE_IDS)
    sparse = index.sparse(RATINGS)
    assert sparse.shape == (5, 5) and sparse.nnz == len(RATINGS)
    rows, cols = sparse.nonzero()
    observed = {(USER_IDS[r], MOVIE_IDS[c]): sparse[r, c] for r, c in zip(rows, cols)}
    assert observed == {(u, m): float(r) for u, m, r in RATINGS.itertuples(index=False)}
    for fill in FILLS:
        np.testing.assert_allclose(index.filled(RATINGS, fill)[rows, cols], sparse.data)


@pytest.mark.parametrize("fill", FILLS)
def test_new_user_row_is_the_row_the_matrix_would_give_them(fill):
    """A query's row: its ratings where given, elsewhere the fill of the training data."""
    query = {20: 5, 30: 2}
    index = RatingIndex(USER_IDS, MOVIE_IDS)
    row = index.query_row(query, RATINGS, fill)
    assert row.shape == (1, 5)
    for movie, value in zip(MOVIE_IDS, row[0]):
        if movie in query:
            assert value == query[movie]
        else:
            assert value == pytest.approx(expected_fill(fill, movie, RATINGS))
    observed = index.query_row(query, RATINGS, None)             # the query's cells alone
    assert observed.nnz == 2 and observed.toarray().tolist() == [[0, 5, 2, 0, 0]]
