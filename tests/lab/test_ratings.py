"""Tests of lab/ratings.py (moved from the old recommender) on a tiny synthetic MovieLens:
the rating index, the one ranker, every user's top-n, new users' rows, factor models and
their fold-in, and the answers to bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lab.ratings as rec
from lab import base, factorizations
from lab.ratings import GENRES

# --- a tiny MovieLens-format fixture ------------------------------------------------------

# movie id, title (latin-1 on disk), release date, genres
MOVIES = [
    (1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Childrens", "Comedy"]),
    (2, "Café au lait (1993)", "01-Jan-1993", ["Comedy"]),
    (3, "Scream (1996)", "20-Dec-1996", ["Horror", "Thriller"]),
    (4, "Amélie's Nightmare (1990)", "", ["Horror"]),
    (5, "Lion King, The (1994)", "24-Jun-1994", ["Animation", "Childrens", "Musical"]),
    (6, "Heat (1995)", "15-Dec-1995", ["Action", "Crime", "Thriller"]),
]
# user id, movie id, rating, timestamp; user 3 rates everything but movie 6
RATINGS = [
    (1, 1, 5, 881250949), (1, 2, 3, 881250950), (1, 5, 4, 881250951),
    (2, 3, 5, 881250952), (2, 4, 4, 881250953), (2, 1, 1, 881250954),
    (3, 1, 2, 881250955), (3, 2, 4, 881250956), (3, 3, 3, 881250957),
    (3, 4, 1, 881250958), (3, 5, 2, 881250959),
    (4, 6, 5, 881250960),
]
USERS = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
         (3, 23, "M", "writer", "32067"), (4, 24, "F", "other", "T8H1N")]


def _write_movielens(folder):
    folder.mkdir()
    (folder / "u.data").write_text("".join("\t".join(map(str, row)) + "\n" for row in RATINGS))
    lines = []
    for movie_id, title, date, genres in MOVIES:
        flags = ["1" if genre in genres else "0" for genre in GENRES]
        url = f"http://us.imdb.com/M/title-exact?{movie_id}"
        lines.append("|".join([str(movie_id), title, date, "", url, *flags]) + "\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.user").write_text("".join("|".join(map(str, row)) + "\n" for row in USERS))
    return folder


@pytest.fixture()
def movielens(tmp_path):
    return rec.load_movielens(_write_movielens(tmp_path / "ml-tiny"))


@pytest.fixture()
def ratings(movielens):
    return movielens[0]


@pytest.fixture()
def movies(movielens):
    return movielens[1]


def _labelled(values, ratings):
    """``values`` (users x movies of ``ratings``) labelled like the rating matrix."""
    return rec.RatingIndex.from_ratings(ratings).frame(values)


# --- the rating index ----------------------------------------------------------------------

def test_index_from_ratings_holds_the_rated_users_and_movies_in_order(ratings):
    index = rec.RatingIndex.from_ratings(ratings)
    assert index.shape == (4, 6)
    assert index.user_ids.tolist() == [1, 2, 3, 4]
    assert index.movie_ids.tolist() == [1, 2, 3, 4, 5, 6]
    rows, cols = index.cells(ratings)
    assert (rows[:3].tolist(), cols[:3].tolist()) == ([0, 0, 0], [0, 1, 4])
    sparse = index.sparse(ratings)
    assert sparse.nnz == len(ratings) and sparse[1, 2] == 5
    frame = index.frame(index.filled(ratings))
    assert frame.index.name == "user id" and frame.columns.name == "movie id"
    assert frame.loc[2, 3] == 5 and frame.loc[1, 3] == 0
    with pytest.raises(KeyError, match=r"1 user id\(s\) are not in the index, e\.g\. 9"):
        index.user_positions([1, 9])


def test_index_from_tables_keeps_users_and_movies_without_ratings(movielens):
    ratings, movies, users = movielens
    index = rec.RatingIndex.from_tables(users, movies)
    assert index.shape == (4, 6)
    few = ratings[ratings["user id"] != 4]                       # nobody rated movie 6 now
    assert index.filled(few).shape == (4, 6) and not index.filled(few)[:, 5].any()
    doubled = pd.concat([movies, movies.iloc[[0]]])
    with pytest.raises(ValueError, match=r"the movie id column repeats 1 id\(s\), e\.g\. 1"):
        rec.RatingIndex.from_tables(users, doubled)


@pytest.mark.parametrize("fill", [0, 2.5, "global_mean", "movie_mean", "user_mean"])
def test_filled_matrix_is_the_ground_floors_rating_matrix(ratings, fill):
    index = rec.RatingIndex.from_ratings(ratings)
    pd.testing.assert_frame_equal(index.frame(index.filled(ratings, fill)),
                                  rec.rating_matrix(ratings, fill), check_names=False)


@pytest.mark.parametrize("bad", ["mean", "movie mean", None, float("nan"), True])
def test_filled_matrix_rejects_unknown_fill(ratings, bad):
    index = rec.RatingIndex.from_ratings(ratings)
    with pytest.raises(ValueError, match="fill_value.*global_mean.*movie_mean.*user_mean"):
        index.filled(ratings, fill_value=bad)


# --- the one ranker ------------------------------------------------------------------------

def test_top_n_ranks_unexcluded_cells_and_breaks_ties_by_position():
    scores = np.array([[0.9, 2.0, 2.0, 0.1, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    exclude = np.array([[True, False, False, False, False], [False, True, False, True, False]])
    assert rec.top_n(scores, exclude, 3).tolist() == [[1, 2, 4], [0, 2, 4]]
    assert rec.top_n(scores, exclude, 10).shape == (2, 3)     # the fewest candidates of a row
    excluded_nan = np.where(exclude, np.nan, scores)          # excluded cells may hold anything
    assert rec.top_n(excluded_nan, exclude, 1).tolist() == [[1], [0]]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_top_n_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n=.* must be a positive integer"):
        rec.top_n(np.ones((2, 3)), np.zeros((2, 3), dtype=bool), n)


def test_top_n_refuses_nan_scores_and_mismatched_shapes():
    scores = np.ones((2, 3))
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(first at row 1, column 2"):
        rec.top_n(scores, np.zeros((2, 3), dtype=bool), 1)
    with pytest.raises(ValueError, match=r"exclude has shape \(2, 2\), scores \(2, 3\)"):
        rec.top_n(np.ones((2, 3)), np.zeros((2, 2), dtype=bool), 1)


# --- every user's top-n --------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), ties=st.booleans())
def test_top_n_all_users_never_contains_rated_movies(seed, n, ties):
    rng = np.random.default_rng(seed)
    n_users, n_movies = rng.integers(1, 8), rng.integers(2, 12)
    movie_ids = np.arange(1, n_movies + 1) * 10
    cells = [(u, m) for u in range(1, n_users + 1) for m in movie_ids]
    chosen = rng.choice(len(cells), size=rng.integers(1, len(cells) + 1), replace=False)
    ratings = pd.DataFrame([(*cells[i], rng.integers(1, 6), 0) for i in chosen],
                           columns=rec.RATINGS_COLS)
    index = rec.RatingIndex.from_ratings(ratings)
    values = rng.integers(0, 3, index.shape) if ties else rng.random(index.shape) * 5
    reconstruction = index.frame(values.astype(float))
    unrated = {user: [m for m in index.movie_ids
                      if not ((ratings["user id"] == user) & (ratings["movie id"] == m)).any()]
               for user in index.user_ids}
    n_all = min(n, min(len(movies) for movies in unrated.values()))
    if n_all < 1:
        return                                  # some user rated every movie: nothing to rank
    shuffled = reconstruction.sample(frac=1.0, axis=1, random_state=seed % 1000)
    table = rec.top_n_all_users(shuffled, ratings, n=n_all)
    assert table.shape == (len(index.user_ids), n_all)
    for user in index.user_ids:
        expected = sorted(unrated[user], key=lambda m: (-reconstruction.loc[user, m], m))[:n_all]
        assert list(table.loc[user]) == expected


def test_top_n_all_users_caps_n_and_reads_a_zero_based_index_in_order(ratings):
    reconstruction = _labelled(np.arange(24.0).reshape(4, 6), ratings)
    table = rec.top_n_all_users(reconstruction, ratings, n=2)  # user 3 has one unrated movie
    assert table.shape == (4, 1) and table.loc[3, 1] == 6
    with pytest.raises(ValueError, match="n=0 must be a positive integer"):
        rec.top_n_all_users(reconstruction, ratings, n=0)
    pd.testing.assert_frame_equal(
        rec.top_n_all_users(reconstruction.reset_index(drop=True), ratings, n=1), table)
    with pytest.raises(ValueError, match="index=rat_df.index"):
        rec.top_n_all_users(reconstruction.iloc[1:].reset_index(drop=True), ratings, n=1)


def test_top_n_all_users_refuses_unlabelled_or_transposed_scores(ratings):
    reconstruction = pd.DataFrame(np.ones((4, 6)), index=[1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"no column for 1 movie id\(s\) of ratings \(e\.g\. 6\)"
                                         r".*columns=rat_df.columns"):
        rec.top_n_all_users(reconstruction, ratings)
    # 3 users, 6 movies, and user ids that are also movie ids: the transpose "fits" by labels
    square = pd.DataFrame([(u, m, 3, 0) for u in (1, 2, 3) for m in (1, 2, 3, 4, 5, 6)
                           if (u + m) % 3], columns=rec.RATINGS_COLS)
    with pytest.raises(ValueError, match=r"looks transposed \(movies as rows, users as "
                                         r"columns\): pass reconstruction\.T"):
        rec.top_n_all_users(_labelled(np.arange(18.0).reshape(3, 6), square).T, square)


def test_reconstruction_with_repeated_labels_is_refused(ratings):
    reconstruction = _labelled(np.arange(24.0).reshape(4, 6), ratings)
    doubled = pd.concat([reconstruction, reconstruction[[6]]], axis=1)
    with pytest.raises(ValueError, match=r"reconstruction repeats the movie id \(column\) 6"):
        rec.top_n_all_users(doubled, ratings, n=3)
    with pytest.raises(ValueError, match=r"repeats the user id \(row\) 2"):
        rec.top_n_all_users(pd.concat([reconstruction, reconstruction.loc[[2]]]), ratings)


def test_nan_scores_are_reported_by_ids(ratings):
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    reconstruction.loc[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite scores \(first for user id 3, movie "
                                         r"id 5: nan\)"):
        rec.top_n_all_users(reconstruction, ratings)


# --- bad ratings ---------------------------------------------------------------------------

def test_repeated_ratings_are_refused_by_every_route(ratings):
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    index = rec.RatingIndex.from_ratings(ratings)
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    for call in (lambda: index.filled(doubled), lambda: index.sparse(doubled),
                 lambda: rec.top_n_all_users(reconstruction, doubled),
                 lambda: rec.fit_model(doubled, base.non_negative, 2, n_iter=2)):
        with pytest.raises(ValueError, match=r"1 repeated \(user id, movie id\) pair\(s\), e\.g\. "
                                             r"\(1, 1\)"):
            call()


@pytest.mark.parametrize("value, message", [
    (np.nan, r"got dtype float64 and 1 bad value\(s\), e\.g\. nan"),
    ("five", r"got dtype object and 1 bad value\(s\), e\.g\. 'five'"),
])
def test_ratings_must_be_finite_numbers(ratings, value, message):
    bad = ratings.astype({"rating": object})
    bad.loc[3, "rating"] = value
    if value != value:                       # NaN keeps a numeric column
        bad = bad.astype({"rating": float})
    with pytest.raises(ValueError, match=r"ratings\['rating'\] must hold finite numbers; " + message):
        rec.RatingIndex.from_ratings(bad)
    with pytest.raises(ValueError, match=r"ratings is empty"):
        rec.RatingIndex.from_ratings(ratings.iloc[:0])
    with pytest.raises(ValueError, match=r"ratings lacks the column\(s\) \['rating'\]"):
        rec.RatingIndex.from_ratings(ratings.drop(columns="rating"))


# --- new users: their row, fold-in, recommendations -----------------------------------------

def _refit_row_with_H_fixed(x, H, n_iter=20000):
    """The exercise's Z-update for one row, H held fixed, iterated to convergence."""
    z = np.abs(np.random.default_rng(0).standard_normal(H.shape[0]))
    HHt = H @ H.T
    for _ in range(n_iter):
        z *= (x @ H.T) / np.clip(z @ HHt, 1e-12, None)
    return z


def test_query_row_uses_the_training_fill(ratings):
    row = rec.query_row({3: 5, 6: 1}, ratings)
    assert list(row.index) == [1, 2, 3, 4, 5, 6] and row.index.name == "movie id"
    assert row.tolist() == [0, 0, 5, 0, 0, 1]
    movie_mean = rec.query_row({3: 5}, ratings, fill_value="movie_mean")
    X = rec.rating_matrix(ratings, fill_value="movie_mean")
    assert movie_mean[1] == pytest.approx(X.loc[4, 1]) and movie_mean[3] == 5
    assert rec.query_row({3: 5, 6: 2}, ratings, "user_mean")[1] == pytest.approx(3.5)
    assert rec.query_row({3: 5}, ratings, "global_mean")[1] == pytest.approx(39 / 12)


def test_observed_only_query_row_marks_unrated_cells_nan(ratings):
    row = rec.query_row({3: 5, 6: 1}, ratings, None)
    assert row[3] == 5 and row[6] == 1 and row.isna().sum() == 4


@pytest.mark.parametrize("query, error, message", [
    ({}, ValueError, "non-empty dict"),
    ({True: 5}, TypeError, r"movie ids in query must be integers; got \[True\]"),
    ({42: 3}, KeyError, r"\[42\].*not known movies"),
    ({1: 0}, ValueError, "whole stars from 1 to 5"),
    ({1: 3.5}, ValueError, "whole stars from 1 to 5"),
    ({1: "5"}, ValueError, "whole stars from 1 to 5"),
    ({1: True}, ValueError, "whole stars from 1 to 5"),
])
def test_query_row_refuses_bad_queries(ratings, query, error, message):
    with pytest.raises(error, match=message):
        rec.query_row(query, ratings)


def test_zero_fill_fold_in_is_the_converged_exercise_update_of_the_new_row(ratings, movies):
    """Folding a query in equals the exercise's Z-update of the new user's row, H fixed."""
    model = rec.fit_model(ratings, base.non_negative, 2, n_iter=5000)
    query = {3: 5, 4: 4}
    top = rec.recommend_for_query(query, model, movies, n=4)
    assert list(top.columns) == rec.RECOMMENDATION_COLS and list(top.index) == [1, 2, 3, 4]
    assert not {3, 4} & set(top["movie id"]) and len(top) == 4
    x = np.array([0, 0, 5, 4, 0, 0], dtype=float)        # the new user's zero-filled row
    z = _refit_row_with_H_fixed(x, model.result.H)
    np.testing.assert_allclose(model.fold_in(query).to_numpy(), z @ model.result.H, rtol=1e-4,
                               atol=1e-6)
    expected = sorted(set(range(1, 7)) - {3, 4}, key=lambda m: (-(z @ model.result.H)[m - 1], m))
    assert list(top["movie id"]) == expected
    assert top["predicted score"].tolist() == pytest.approx(
        [(z @ model.result.H)[m - 1] for m in expected], rel=1e-4)
    titles = dict(zip(movies["movie id"], movies["movie title"]))
    assert top["movie title"].tolist() == [titles[m] for m in expected]
    assert top.set_index("movie id").loc[1, "genres"] == "Animation|Childrens|Comedy"


def test_observed_fold_in_counts_only_the_query_and_recovers_a_planted_user():
    rng = np.random.default_rng(7)
    n_users, n_movies = 30, 40
    Z, H = rng.random((n_users, 3)), rng.random((3, n_movies))
    cells = [(u + 1, m + 1) for u in range(n_users) for m in range(n_movies) if rng.random() < 0.6]
    ratings = pd.DataFrame([(u, m, (Z @ H)[u - 1, m - 1], 0) for u, m in cells],
                           columns=rec.RATINGS_COLS)
    model = rec.fit_model(ratings, factorizations.nnls_als, 3, fill_value=None, l2=0.0,
                          n_iter=300)
    z_true = np.array([2.0, 0.0, 1.0])
    truth = z_true @ model.result.H                               # a user the model can express
    query = {m + 1: truth[m] for m in range(0, n_movies, 3)}      # 14 of 40 movies
    # a query holds whole stars; this planted row does not, so its values are put into the
    # model's own sparse row and folded in by the model's own function
    row = model.index.query_row({m: 3 for m in query}, ratings, None)
    row.data[:] = [query[m] for m in sorted(query)]
    folded = factorizations.nnls_als(row, 3, l2=0.0, n_iter=1, fold_into=model.result)
    np.testing.assert_allclose(folded.Z[0], z_true, atol=1e-8)
    # the unrated movies were not read as zeros: a zero fill gives another answer
    filled = np.where(np.isin(np.arange(1, n_movies + 1), list(query)), truth, 0.0)[None, :]
    zero = factorizations.nnls_als(filled, 3, l2=0.0, n_iter=1, mask=None,
                                   fold_into=model.result)
    assert np.abs(zero.Z @ model.result.H - truth).max() > 0.5


def test_recommend_for_query_rejects_unknown_movies_and_bad_ratings(ratings, movies):
    model = rec.fit_model(ratings, base.non_negative, 2, n_iter=10)
    with pytest.raises(KeyError, match=r"movie id\(s\) \[99\] in query are not known movies"):
        rec.recommend_for_query({99: 5}, model, movies)
    with pytest.raises(ValueError, match=r"rating\(s\) \{1: 7\} in query are not whole stars"):
        rec.recommend_for_query({1: 7}, model, movies)


def test_recommend_for_query_wants_a_fitted_model(ratings, movies):
    fit = base.non_negative(rec.rating_matrix(ratings), 2, n_iter=5)
    with pytest.raises(TypeError, match=r"model must be a FactorModel from fit_model\(\); got "
                                        r"NMFResult"):
        rec.recommend_for_query({1: 5}, fit, movies)
    with pytest.raises(ValueError, match=r"fit_model sets the mask from fill_value"):
        rec.fit_model(ratings, base.non_negative, 2, mask="observed")


def test_fit_model_scores_are_the_fits_reconstruction(ratings):
    model = rec.fit_model(ratings, base.non_negative, 2, n_iter=50)
    np.testing.assert_array_equal(model.scores(), model.result.Z @ model.result.H)
    frame = model.reconstruction()
    assert list(frame.index) == [1, 2, 3, 4] and list(frame.columns) == [1, 2, 3, 4, 5, 6]
    observed = rec.fit_model(ratings, base.non_negative, 2, fill_value=None, n_iter=50, l2=0.1)
    direct = base.non_negative(rec.RatingIndex.from_ratings(ratings).sparse(ratings), 2,
                               n_iter=50, l2=0.1, mask="observed")
    np.testing.assert_array_equal(observed.result.Z, direct.Z)


def test_fold_in_is_reproducible_whatever_the_training_seed(ratings, movies):
    model = rec.fit_model(ratings, base.non_negative, 2, n_iter=50,
                          random_state=np.random.default_rng(1))
    first, second = model.fold_in({3: 5}), model.fold_in({3: 5})
    pd.testing.assert_series_equal(first, second)
