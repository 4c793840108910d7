"""Tests of lab/ratings.py: the rating index and its matrices, the one ranker, the rating
checks every route shares and a new user's row, on a tiny synthetic MovieLens (the fixtures
movielens, ratings and movies of tests/conftest.py).  What every model does on top of it is
test_interface.py's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lab.ratings import RatingIndex, top_n
from lab.models import REGISTRY

# The tiny MovieLens (fixtures movielens, ratings, movies) is tests/conftest.py's.


def frame_of(index, values):
    """``values`` (users x movies of ``index``) as a DataFrame labelled by the ids."""
    return pd.DataFrame(values, index=index.users, columns=index.movies)


# --- the rating index ----------------------------------------------------------------------

def test_index_from_ratings_holds_the_rated_users_and_movies_in_order(ratings):
    index = RatingIndex.from_ratings(ratings)
    assert index.shape == (4, 6)
    assert index.user_ids.tolist() == [1, 2, 3, 4]
    assert index.movie_ids.tolist() == [1, 2, 3, 4, 5, 6]
    rows, cols = index.cells(ratings)
    assert (rows[:3].tolist(), cols[:3].tolist()) == ([0, 0, 0], [0, 1, 4])
    sparse = index.sparse(ratings)
    assert sparse.nnz == len(ratings) and sparse[1, 2] == 5
    frame = frame_of(index, index.filled(ratings))
    assert frame.index.name == "user id" and frame.columns.name == "movie id"
    assert frame.loc[2, 3] == 5 and frame.loc[1, 3] == 0
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9"):
        index.user_positions([1, 9])


def test_index_from_tables_keeps_users_and_movies_without_ratings(movielens):
    ratings, movies, users = movielens
    index = RatingIndex.from_tables(users, movies)
    assert index.shape == (4, 6)
    few = ratings[ratings["user id"] != 4]                       # nobody rated movie 6 now
    assert index.filled(few).shape == (4, 6) and not index.filled(few)[:, 5].any()
    doubled = pd.concat([movies, movies.iloc[[0]]])
    with pytest.raises(ValueError, match=r"the movie id column repeats 1 id\(s\), e\.g\. 1"):
        RatingIndex.from_tables(users, doubled)


@pytest.mark.parametrize("bad", ["mean", "movie mean", None, float("nan"), True])
def test_filled_matrix_rejects_unknown_fill(ratings, bad):
    index = RatingIndex.from_ratings(ratings)
    with pytest.raises(ValueError, match=r"fill_value must be a finite number or one of "
                                         r"\('global_mean', 'movie_mean'\)"):
        index.filled(ratings, fill_value=bad)


# --- the one ranker ------------------------------------------------------------------------

def test_top_n_ranks_unexcluded_cells_and_breaks_ties_by_position():
    scores = np.array([[0.9, 2.0, 2.0, 0.1, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    exclude = np.array([[True, False, False, False, False], [False, True, False, True, False]])
    assert top_n(scores, exclude, 3).tolist() == [[1, 2, 4], [0, 2, 4]]
    assert top_n(scores, exclude, 10).shape == (2, 3)     # the fewest candidates of a row
    excluded_nan = np.where(exclude, np.nan, scores)          # excluded cells may hold anything
    assert top_n(excluded_nan, exclude, 1).tolist() == [[1], [0]]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_top_n_rejects_bad_n(n):
    with pytest.raises(ValueError, match=r"top_n: n must be an integer >= 1; got .* of type"):
        top_n(np.ones((2, 3)), np.zeros((2, 3), dtype=bool), n)


def test_top_n_refuses_nan_scores_and_mismatched_shapes():
    scores = np.ones((2, 3))
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first at row 1, column 2"):
        top_n(scores, np.zeros((2, 3), dtype=bool), 1)
    with pytest.raises(ValueError, match=r"exclude has shape \(2, 2\), scores \(2, 3\)"):
        top_n(np.ones((2, 3)), np.zeros((2, 2), dtype=bool), 1)


# --- bad ratings ---------------------------------------------------------------------------

def test_repeated_ratings_are_refused_by_every_route(ratings):
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    index = RatingIndex.from_ratings(ratings)
    for call in (lambda: index.filled(doubled), lambda: index.sparse(doubled),
                 lambda: REGISTRY["nmf_zero"](num_components=2, n_iter=2).fit(doubled),
                 lambda: REGISTRY["nnls_als"](num_components=2, n_iter=2).fit(doubled)):
        with pytest.raises(ValueError, match=r"ratings repeats the \(user id, movie id\) pair "
                                             r"\[1, 1\]; keep one"):
            call()


def test_every_way_into_the_lab_applies_the_ground_floors_rating_check(ratings):
    """A NaN rating, an empty table, a missing column: the index and a model's fit refuse
    each with the ground floor's error (its words are test_recommender.py's to check)."""
    bad = ratings.astype({"rating": float})
    bad.loc[3, "rating"] = np.nan
    for table in (bad, ratings.iloc[:0], ratings.drop(columns="rating")):
        for call in (RatingIndex.from_ratings, REGISTRY["biases"]().fit):
            with pytest.raises(ValueError, match=r"^ratings(\['rating'\])? (must|is|lacks)"):
                call(table)


# --- new users: bad queries ----------------------------------------------------------------

@pytest.mark.parametrize("query, error, message", [
    ({}, ValueError, r"query must be a non-empty dict \{movie id: stars\}.*got \{\}"),
    ([(1, 5)], ValueError, r"got \[\(1, 5\)\]"),
    ({True: 5}, ValueError, r"the ids those of movies\['movie id'\].*got \{True: 5\}"),
    ({42: 3}, ValueError, r"got \{42: 3\}"),
    ({1: 0}, ValueError, r"the stars whole numbers 1 to 5; got \{1: 0\}"),
    ({1: 3.5}, ValueError, r"got \{1: 3\.5\}"),
    ({1: "5"}, ValueError, r"got \{1: '5'\}"),
    ({1: True}, ValueError, r"got \{1: True\}"),
])
def test_fold_in_refuses_bad_queries(ratings, query, error, message):
    model = REGISTRY["nmf_zero"](num_components=2, n_iter=10).fit(ratings)
    with pytest.raises(error, match=message):
        model.fold_in(query)
