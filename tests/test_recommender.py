"""Unit, property and error-path tests of recommender.py on a tiny synthetic MovieLens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nmf_core
import recommender as rec
from ranking_cases import best_unrated, random_ratings
from tiny_movielens import write_tiny_movielens
from recommender import GENRES

# The tiny MovieLens (4 users, 6 movies, 12 ratings) and its fixtures movielens, ratings and
# movies are tests/conftest.py's; tiny_movielens.write_tiny_movielens writes its files.


def _labelled(values, ratings):
    matrix = rec.rating_matrix(ratings)
    return pd.DataFrame(values, index=matrix.index, columns=matrix.columns)


# --- loading -------------------------------------------------------------------------------

def test_load_movielens_columns_dtypes_and_latin1(movielens):
    ratings, movies, users = movielens
    assert list(ratings.columns) == rec.RATINGS_COLS
    assert list(movies.columns) == rec.MOVIES_COLS and "Childrens" in movies.columns
    assert list(users.columns) == rec.USERS_COLS
    assert all(pd.api.types.is_integer_dtype(ratings[c]) for c in rec.RATINGS_COLS)
    assert all(pd.api.types.is_integer_dtype(movies[g]) for g in GENRES)
    assert pd.api.types.is_datetime64_any_dtype(movies["release date"])
    assert movies["release date"].isna().sum() == 1
    assert movies.loc[movies["movie id"] == 2, "movie title"].item() == "Café au lait (1993)"
    assert users.loc[users["user id"] == 4, "zip code"].item() == "T8H1N"
    assert (len(ratings), len(movies), len(users)) == (12, 6, 4)


def test_load_movielens_missing_file_says_how_to_get_the_data(tmp_path):
    folder = write_tiny_movielens(tmp_path / "ml-tiny")
    (folder / "u.item").unlink()
    with pytest.raises(FileNotFoundError, match=r"u\.item.*Unzip the course"):
        rec.load_movielens(folder)


# --- rating matrix -----------------------------------------------------------------------


def test_find_movielens_tries_the_folders_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"ml-100k lacks u\.data, u\.item, u\.user.*"
                                                r"data/ml-100k lacks.*ml-100k\.zip"):
        rec.find_movielens()
    (tmp_path / "data").mkdir()
    write_tiny_movielens(tmp_path / "data" / "ml-100k")
    assert rec.find_movielens() == rec.SEARCH_PATHS[1] == Path("data/ml-100k")
    write_tiny_movielens(tmp_path / "ml-100k")                   # the exercise's layout comes first
    assert rec.find_movielens() == rec.SEARCH_PATHS[0] == Path("ml-100k")


# --- rating matrix -----------------------------------------------------------------------

def test_rating_matrix_is_the_exercises_pivot(ratings):
    X = rec.rating_matrix(ratings)
    exercise = ratings.pivot(index="user id", columns="movie id", values="rating").fillna(0)
    pd.testing.assert_frame_equal(X, exercise.astype(float))
    assert X.shape == (4, 6) and X.index.name == "user id" and X.columns.name == "movie id"
    assert X.loc[2, 3] == 5 and X.loc[1, 3] == 0 and X.to_numpy().sum() == ratings["rating"].sum()


def test_rating_matrix_number_fill(ratings):
    X = rec.rating_matrix(ratings, fill_value=2.5)
    assert X.loc[1, 3] == 2.5 and X.loc[1, 1] == 5
    assert (X == 2.5).to_numpy().sum() == 4 * 6 - len(ratings)


def test_rating_matrix_global_mean(ratings):
    X = rec.rating_matrix(ratings, fill_value="global_mean")
    assert X.loc[1, 3] == pytest.approx(39 / 12) and X.loc[4, 1] == pytest.approx(39 / 12)
    assert X.loc[4, 6] == 5


def test_rating_matrix_movie_mean(ratings):
    X = rec.rating_matrix(ratings, fill_value="movie_mean")
    assert X.loc[4, 1] == pytest.approx((5 + 1 + 2) / 3)    # movie 1 rated by users 1, 2, 3
    assert X.loc[1, 3] == pytest.approx((5 + 3) / 2)
    assert X.loc[1, 6] == pytest.approx(5) and X.loc[2, 1] == 1


@pytest.mark.parametrize("bad", ["mean", "movie mean", "user_mean", None, float("nan"), True])
def test_rating_matrix_rejects_unknown_fill(ratings, bad):
    with pytest.raises(ValueError, match=r"fill_value must be a finite number or one of "
                                         r"\('global_mean', 'movie_mean'\); got"):
        rec.rating_matrix(ratings, fill_value=bad)


def test_sparsity_counts_cells_below_threshold(ratings):
    X = rec.rating_matrix(ratings)
    assert rec.sparsity(X) == pytest.approx(1 - 12 / 24)
    assert rec.sparsity(np.array([[0.49, 0.5], [1.0, 0.0]])) == pytest.approx(0.5)
    assert rec.sparsity(np.array([[0.49, 0.5], [1.0, 0.0]]), threshold=1.0) == pytest.approx(0.75)
    assert rec.sparsity(rec.rating_matrix(ratings, fill_value="global_mean")) == 0
    with pytest.raises(ValueError, match=r"matrix has no cell \(shape \(0, 3\)\)"):
        rec.sparsity(np.zeros((0, 3)))


# --- recommend_movies --------------------------------------------------------------------

def test_recommend_movies_ranks_unrated_by_score_with_columns(ratings, movies):
    scores = np.tile(np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), (4, 1))
    top = rec.recommend_movies(_labelled(scores, ratings), 1, movies, ratings, n=20)
    assert list(top.columns) == ["movie id", "movie title", "predicted score", "genres"]
    assert list(top["movie id"]) == [3, 4, 6]          # 1, 2, 5 are rated by user 1
    assert list(top.index) == [1, 2, 3] and top.index.name == "rank"
    assert top["movie title"].iloc[1] == "Amélie's Nightmare (1990)"
    assert top["genres"].iloc[0] == "Horror|Thriller"
    assert top["predicted score"].tolist() == pytest.approx([0.7, 0.6, 0.4])


def test_recommend_movies_breaks_ties_by_movie_id(ratings, movies):
    scores = np.full((4, 6), 2.0)
    scores[:, 5] = 3.0                                   # movie 6 best, the rest tied
    top = rec.recommend_movies(_labelled(scores, ratings), 4, movies, ratings, n=4)
    assert list(top["movie id"]) == [1, 2, 3, 4]         # movie 6 is rated by user 4
    shuffled = _labelled(scores, ratings)[[5, 3, 6, 1, 4, 2]]     # columns in another order
    top = rec.recommend_movies(shuffled, 1, movies, ratings, n=2)
    assert list(top["movie id"]) == [6, 3]


def test_recommend_movies_reads_the_right_users_row(ratings, movies):
    scores = np.zeros((4, 6))
    scores[2, 5] = 1.0                                   # only user 3 (row 2) likes movie 6
    top = rec.recommend_movies(_labelled(scores, ratings), 3, movies, ratings, n=1)
    assert top["movie id"].item() == 6 and top["predicted score"].item() == 1.0


def test_recommend_movies_accepts_the_exercises_zero_based_frame_in_matrix_order(ratings, movies):
    X = rec.rating_matrix(ratings)
    scores = np.arange(24.0).reshape(4, 6)
    exercise = pd.DataFrame(scores, columns=X.columns)                  # index 0..3
    labelled = pd.DataFrame(scores, index=X.index, columns=X.columns)   # index 1..4
    for user in (1, 3):
        pd.testing.assert_frame_equal(rec.recommend_movies(exercise, user, movies, ratings),
                                      rec.recommend_movies(labelled, user, movies, ratings))
    with pytest.raises(ValueError, match=r"one per user of ratings \(4\).*got 3 rows, index "
                                         r"\[0, 1, 2\].*index=rat_df\.index"):
        rec.recommend_movies(exercise.iloc[:3], 1, movies, ratings)   # 3 rows for 4 users
    with pytest.raises(ValueError, match=r"in rat_df's order.*got 4 rows, index \[4, 3, 2\]"):
        rec.recommend_movies(labelled.iloc[::-1], 1, movies, ratings)  # rows out of order


def test_recommend_movies_refuses_a_frame_without_the_rated_movies(ratings, movies):
    reconstruction = _labelled(np.ones((4, 6)), ratings).drop(columns=[5])
    with pytest.raises(ValueError, match=r"movie 5, rated by user 1, has no column.*"
                                         r"index=rat_df\.index, columns=rat_df\.columns"):
        rec.recommend_movies(reconstruction, 1, movies, ratings)
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    reconstruction[999] = 1.0
    with pytest.raises(ValueError, match=r"999 is not a movie id of movies"):
        rec.recommend_movies(reconstruction, 1, movies, ratings)
    with pytest.raises(ValueError, match=r"it repeats a movie id"):
        rec.recommend_movies(pd.concat([_labelled(np.ones((4, 6)), ratings),
                                        _labelled(np.ones((4, 6)), ratings)[[6]]], axis=1),
                             1, movies, ratings)


def test_recommend_movies_refuses_nan_scores_bad_users_and_bad_n(ratings, movies):
    scores = np.ones((4, 6))
    scores[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"reconstruction holds NaN or infinite scores.*refit"):
        rec.recommend_movies(_labelled(scores, ratings), 1, movies, ratings)
    good = _labelled(np.ones((4, 6)), ratings)
    for user in (True, 99, "1"):
        with pytest.raises(KeyError,
                           match=rf"user_id={user!r} is not .* \(users 1\.\.4\).*add_user"):
            rec.recommend_movies(good, user, movies, ratings)
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"n must be a positive integer"):
            rec.recommend_movies(good, 1, movies, ratings, n=n)
    with pytest.raises(TypeError, match=r"reconstruction must be a DataFrame; got ndarray"):
        rec.recommend_movies(np.ones((4, 6)), 1, movies, ratings)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), ties=st.booleans())
def test_recommendations_are_the_best_unrated_movies(seed, n, ties):
    """Against a brute-force ranking, on random tables (wide and tall), with and without ties."""
    rng = np.random.default_rng(seed)
    n_movies = rng.integers(2, 12)
    movies = pd.DataFrame({"movie id": np.arange(1, n_movies + 1) * 10,
                           "movie title": [f"M{i}" for i in range(n_movies)]})
    for genre in GENRES:
        movies[genre] = rng.integers(0, 2, n_movies)
    ratings = random_ratings(rng, movies["movie id"])
    X = rec.rating_matrix(ratings)
    values = rng.integers(0, 3, X.shape) if ties else rng.random(X.shape) * 5
    reconstruction = pd.DataFrame(values, index=X.index, columns=X.columns)
    for user in X.index:
        top = rec.recommend_movies(reconstruction, user, movies, ratings, n=n)
        expected = best_unrated(lambda m: reconstruction.loc[user, m], ratings, user, X.columns,
                                n)
        assert list(top["movie id"]) == expected


# --- the tables: each error names the table at fault ---------------------------------------

def test_movies_is_checked_as_carefully_as_ratings(ratings, movies):
    good = _labelled(np.ones((4, 6)), ratings)
    with pytest.raises(ValueError, match=r"movies lacks the column\(s\) \['movie title'\]"):
        rec.recommend_movies(good, 1, movies.drop(columns="movie title"), ratings)
    with pytest.raises(ValueError, match=r"movies lacks the column\(s\) \['Horror'\]"):
        rec.genre_distribution([1], movies.drop(columns="Horror"))
    with pytest.raises(TypeError, match=r"movies must be a DataFrame.*got dict"):
        rec.recommend_movies(good, 1, {"movie id": [1]}, ratings)
    doubled = pd.concat([movies, movies.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"movies\['movie id'\] must name each movie once; got 1 "
                                         r"twice"):
        rec.recommend_movies(good, 1, doubled, ratings)


def test_nan_ids_in_ratings_are_blamed_on_ratings(ratings, movies):
    bad = ratings.astype({"user id": float})
    bad.loc[4, "user id"] = np.nan
    good = _labelled(np.ones((4, 6)), ratings)
    for call in (lambda: rec.rating_matrix(bad),
                 lambda: rec.recommend_movies(good, 1, movies, bad)):
        with pytest.raises(ValueError, match=r"ratings\['user id'\] must hold finite numbers; got "
                                             r"dtype float64, e\.g\. nan in row 4"):
            call()


def test_ratings_of_numeric_text_are_refused_by_name_not_by_an_index_error(ratings, movies):
    """Every value converts, so no value is the culprit: the column's dtype is (found by a
    new user reading ratings with dtype=str)."""
    text = ratings.astype({"rating": str})
    good = _labelled(np.ones((4, 6)), ratings)
    for call in (lambda: rec.rating_matrix(text), lambda: rec.add_user(text, {1: 5}, movies),
                 lambda: rec.recommend_movies(good, 1, movies, text)):
        with pytest.raises(ValueError, match=r"ratings\['rating'\] must hold finite numbers; got "
                                             r"dtype (object|str), e\.g\. '5' in row 0; convert "
                                             r"\(pd\.to_numeric\)"):
            call()


@pytest.mark.parametrize("value", [np.nan, "five"])
def test_ratings_must_be_finite_numbers(ratings, value):
    bad = ratings.astype({"rating": object})
    bad.loc[3, "rating"] = value
    if value != value:
        bad = bad.astype({"rating": float})
    with pytest.raises(ValueError, match=r"ratings\['rating'\] must hold finite numbers; got dtype "
                                         rf"(float64|object), e\.g\. {value!r}"):
        rec.rating_matrix(bad)


def test_ratings_table_errors(ratings):
    with pytest.raises(ValueError, match=r"ratings is empty"):
        rec.rating_matrix(ratings.iloc[:0])
    with pytest.raises(ValueError, match=r"ratings lacks the column\(s\) \['rating'\]"):
        rec.rating_matrix(ratings.drop(columns="rating"))
    with pytest.raises(TypeError, match=r"ratings must be a DataFrame.*got list"):
        rec.rating_matrix([[1, 1, 5]])
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError,
                       match=r"ratings repeats the \(user id, movie id\) pair \[1, 1\]"):
        rec.rating_matrix(doubled)


# --- new users -----------------------------------------------------------------------------

def test_add_user_appends_next_free_id(ratings, movies):
    new, user_id = rec.add_user(ratings, {5: 5, 1: 4}, movies)
    assert user_id == 5
    assert len(new) == len(ratings) + 2 and len(ratings) == 12   # input untouched
    assert new.dtypes.equals(ratings.dtypes)
    assert new[new["user id"] == 5].set_index("movie id")["rating"].to_dict() == {5: 5, 1: 4}
    assert (new.loc[new["user id"] == 5, "timestamp"] == ratings["timestamp"].max() + 1).all()
    again, second = rec.add_user(new, {3: 1}, movies)
    assert second == 6 and rec.rating_matrix(again).shape == (6, 6)


@pytest.mark.parametrize("query, shown", [
    ({1: 5, 42: 3}, r"\{42: 3\}"), ({1: 0}, r"\{1: 0\}"), ({1: 3.5, 2: 4}, r"\{1: 3\.5\}"),
    ({1: "5"}, r"\{1: '5'\}"), ({1: True}, r"\{1: True\}"), ({}, r"\{\}"), ([1, 5], r"\[1, 5\]"),
    (pd.Series({1: 5}), r"1 +5"), (np.array([1, 5]), r"array\(\[1, 5\]\)"),
])
def test_add_user_refuses_bad_new_ratings_and_shows_them(ratings, movies, query, shown):
    with pytest.raises(ValueError, match=r"new_ratings must be a non-empty dict \{movie id: "
                                         r"stars\}.*whole numbers 1 to 5; got " + shown):
        rec.add_user(ratings, query, movies)


# --- genre statistics and prototypes --------------------------------------------------------

def test_genre_distribution_shares_per_movie_and_genre(movies):
    shares = rec.genre_distribution([1, 3, 5], movies)
    assert list(shares.index) == GENRES and shares.name == "share"
    assert shares["Animation"] == shares["Childrens"] == pytest.approx(2 / 3)
    assert shares["Horror"] == pytest.approx(1 / 3) and shares["Drama"] == 0
    assert shares.sum() == pytest.approx((3 + 2 + 3) / 3)  # the mean number of genres per movie
    with pytest.raises(KeyError, match=r"movie id\(s\) \[42\] are not in movies"):
        rec.genre_distribution([1, 42], movies)


def _planted_catalogue(rng, n_per_genre=20):
    planted = ["Horror", "Comedy", "Animation"]
    ids, flags = [], []
    for g, genre in enumerate(planted):
        for i in range(n_per_genre):
            ids.append(100 * (g + 1) + i)
            row = {name: 0 for name in GENRES}
            row[genre] = 1
            row["Drama"] = int(rng.random() < 0.3)          # noise genre shared by all
            flags.append(row)
    movies = pd.DataFrame(flags)
    movies.insert(0, "movie id", ids)
    movies.insert(1, "movie title", [f"Movie {i}" for i in ids])
    return planted, movies


def test_prototypes_find_the_planted_genres():
    rng = np.random.default_rng(0)
    planted, movies = _planted_catalogue(rng)
    block = np.kron(np.eye(3), np.ones((1, 20)))             # component k likes genre k
    H_true = block * rng.uniform(0.5, 1.5, block.shape)
    Z_true = rng.random((60, 3)) * (rng.random((60, 3)) < 0.5) + np.eye(3)[np.arange(60) % 3]
    X = Z_true @ H_true
    cells = np.argwhere(X > 0)
    ratings = pd.DataFrame({"user id": cells[:, 0] + 1, "movie id": movies["movie id"].to_numpy()[
        cells[:, 1]], "rating": 1})
    _, H, _ = nmf_core.non_negative(X, 3, n_iter=3000)
    enrichment = rec.genre_enrichment(H, movies["movie id"], movies, ratings)
    assert enrichment.shape == (3, len(GENRES))
    winners = enrichment[planted].idxmax(axis=1)
    assert sorted(winners) == sorted(planted)                # each planted genre wins once
    assert (enrichment[planted].max(axis=1) > 2.5).all()     # a third of the ratings each: ~3x
    assert (enrichment["Drama"] < 2).all()                   # the noise genre is not the story
    top = rec.top_movies(H, movies["movie id"], movies, n=5)
    for k, genre in winners.items():
        titles = top[k].split("; ")
        ids = movies.set_index("movie title").loc[titles, "movie id"]
        assert movies.set_index("movie id").loc[ids, genre].all()


def test_genre_enrichment_definition_by_hand(ratings, movies):
    H = np.array([[1.0, 0, 0, 0, 0, 0]])                 # all weight on Toy Story
    enrichment = rec.genre_enrichment(H, movies["movie id"], movies, ratings)
    counts = ratings["movie id"].value_counts().reindex(range(1, 7), fill_value=0)
    comedy_share = counts[[1, 2]].sum() / counts.sum()     # movies 1 and 2 are comedies
    assert enrichment.loc[0, "Comedy"] == pytest.approx(1 / comedy_share)
    assert enrichment.loc[0, "Horror"] == 0
    assert np.isnan(enrichment.loc[0, "Western"])           # no rated movie is a western


def test_top_movies_ties_by_movie_id(movies):
    H = np.array([[1.0, 2.0, 2.0, 0.0, 2.0, 0.5]])
    assert rec.top_movies(H, movies["movie id"], movies, n=3)[0] == (
        "Café au lait (1993); Scream (1996); Lion King, The (1994)")


def test_prototype_helpers_reject_mismatched_or_negative_H(ratings, movies):
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*6 movie ids"):
        rec.genre_enrichment(np.ones((2, 3)), movies["movie id"], movies, ratings)
    with pytest.raises(ValueError, match=r"H must be finite and non-negative"):
        rec.top_movies(-np.ones((1, 6)), movies["movie id"], movies)
    for n in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=rf"n must be a positive integer \(how many "
                                             rf"movies\); got {n!r}\."):
            rec.top_movies(np.ones((1, 6)), movies["movie id"], movies, n=n)
