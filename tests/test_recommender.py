"""Unit, property and error-path tests of recommender.py on a tiny synthetic MovieLens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nmf_core
import recommender as rec
from recommender import GENRES

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


def test_load_movielens_missing_file_says_make_data(tmp_path):
    folder = _write_movielens(tmp_path / "ml-tiny")
    (folder / "u.item").unlink()
    with pytest.raises(FileNotFoundError, match=r"u\.item.*make data"):
        rec.load_movielens(folder)


# --- rating matrix -----------------------------------------------------------------------

def test_rating_matrix_zero_fill_shape_labels_values(ratings):
    X = rec.rating_matrix(ratings)
    assert X.shape == (4, 6)
    assert X.index.name == "user id" and X.columns.name == "movie id"
    assert list(X.index) == [1, 2, 3, 4] and list(X.columns) == [1, 2, 3, 4, 5, 6]
    assert X.loc[2, 3] == 5 and X.loc[1, 3] == 0 and X.loc[3, 6] == 0
    assert X.to_numpy().sum() == ratings["rating"].sum()


def test_rating_matrix_number_fill(ratings):
    X = rec.rating_matrix(ratings, fill_value=2.5)
    assert X.loc[1, 3] == 2.5 and X.loc[1, 1] == 5
    assert (X == 2.5).to_numpy().sum() == 4 * 6 - len(ratings)


def test_rating_matrix_global_mean(ratings):
    X = rec.rating_matrix(ratings, fill_value="global_mean")
    mean = 39 / 12
    assert ratings["rating"].mean() == pytest.approx(mean)
    assert X.loc[1, 3] == pytest.approx(mean) and X.loc[4, 1] == pytest.approx(mean)
    assert X.loc[4, 6] == 5


def test_rating_matrix_movie_mean(ratings):
    X = rec.rating_matrix(ratings, fill_value="movie_mean")
    assert X.loc[4, 1] == pytest.approx((5 + 1 + 2) / 3)    # movie 1 rated by users 1, 2, 3
    assert X.loc[1, 3] == pytest.approx((5 + 3) / 2)
    assert X.loc[1, 6] == pytest.approx(5)
    assert X.loc[2, 1] == 1


def test_rating_matrix_user_mean(ratings):
    X = rec.rating_matrix(ratings, fill_value="user_mean")
    assert X.loc[1, 3] == pytest.approx((5 + 3 + 4) / 3)
    assert X.loc[3, 6] == pytest.approx((2 + 4 + 3 + 1 + 2) / 5)
    assert X.loc[4, 1] == pytest.approx(5)
    assert X.loc[1, 1] == 5


@pytest.mark.parametrize("bad", ["mean", "movie mean", None, float("nan"), True])
def test_rating_matrix_rejects_unknown_fill(ratings, bad):
    with pytest.raises(ValueError, match="fill_value.*global_mean.*movie_mean.*user_mean"):
        rec.rating_matrix(ratings, fill_value=bad)


def test_rating_matrix_rejects_duplicate_pairs(ratings):
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"repeated.*\(1, 1\)"):
        rec.rating_matrix(doubled)


# --- sparsity ----------------------------------------------------------------------------

def test_sparsity_counts_cells_below_threshold(ratings):
    X = rec.rating_matrix(ratings)
    assert rec.sparsity(X) == pytest.approx(1 - 12 / 24)
    assert rec.sparsity(np.array([[0.49, 0.5], [1.0, 0.0]])) == pytest.approx(0.5)
    assert rec.sparsity(np.array([[0.49, 0.5], [1.0, 0.0]]), threshold=1.0) == pytest.approx(0.75)
    assert rec.sparsity(rec.rating_matrix(ratings, fill_value="global_mean")) == 0


# --- recommend_movies --------------------------------------------------------------------

def test_recommend_movies_ranks_unrated_by_score_with_columns(ratings, movies):
    scores = np.tile(np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), (4, 1))
    top = rec.recommend_movies(_labelled(scores, ratings), 1, movies, ratings, n=20)
    assert list(top.columns) == rec.RECOMMENDATION_COLS
    assert list(top["movie id"]) == [3, 4, 6]          # 1, 2, 5 are rated by user 1
    assert list(top.index) == [1, 2, 3]
    assert top["movie title"].iloc[1] == "Amélie's Nightmare (1990)"
    assert top["genres"].iloc[0] == "Horror|Thriller"
    assert top["predicted score"].tolist() == pytest.approx([0.7, 0.6, 0.4])


def test_recommend_movies_breaks_ties_by_movie_id(ratings, movies):
    scores = np.full((4, 6), 2.0)
    scores[:, 5] = 3.0                                   # movie 6 best, the rest tied
    top = rec.recommend_movies(_labelled(scores, ratings), 4, movies, ratings, n=4)
    assert list(top["movie id"]) == [1, 2, 3, 4]         # movie 6 is rated by user 4
    top = rec.recommend_movies(_labelled(scores, ratings), 1, movies, ratings, n=2)
    assert list(top["movie id"]) == [6, 3]


def test_recommend_movies_reads_the_right_users_row(ratings, movies):
    scores = np.zeros((4, 6))
    scores[2, 5] = 1.0                                   # only user 3 (row 2) likes movie 6
    top = rec.recommend_movies(_labelled(scores, ratings), 3, movies, ratings, n=1)
    assert top["movie id"].item() == 6 and top["predicted score"].item() == 1.0


def test_recommend_movies_reads_the_exercises_zero_based_frame_in_matrix_order(ratings, movies):
    X = rec.rating_matrix(ratings)
    scores = np.arange(24.0).reshape(4, 6)
    exercise = pd.DataFrame(scores, columns=X.columns)                  # index 0..3
    labelled = pd.DataFrame(scores, index=X.index, columns=X.columns)   # index 1..4
    for user in (1, 3):
        pd.testing.assert_frame_equal(rec.recommend_movies(exercise, user, movies, ratings),
                                      rec.recommend_movies(labelled, user, movies, ratings))
    with pytest.raises(ValueError, match=r"0, 1, \.\.\., n-1 \(row positions\) with 3 rows, but "
                                         r"ratings has 4 users.*index=rat_df\.index"):
        rec.recommend_movies(exercise.iloc[:3], 1, movies, ratings)


def test_recommend_movies_refuses_unlabelled_or_unknown_columns(ratings, movies):
    X = rec.rating_matrix(ratings)
    reconstruction = pd.DataFrame(np.ones(X.shape), index=X.index)
    with pytest.raises(ValueError, match=r"no column for 1 movie id\(s\) of ratings \(e\.g\. 6\)"
                                         r".*columns=rat_df.columns"):
        rec.recommend_movies(reconstruction, 1, movies, ratings)
    reconstruction = _labelled(np.ones(X.shape), ratings)
    reconstruction[999] = 1.0
    with pytest.raises(ValueError, match=r"1 column\(s\) that are not movie ids of movies "
                                         r"\(e\.g\. 999\)"):
        rec.recommend_movies(reconstruction, 1, movies, ratings)


def test_recommend_movies_refuses_a_transposed_reconstruction(movies):
    # 3 users, 6 movies, and user ids that are also movie ids: the transpose "fits" by labels
    ratings = pd.DataFrame([(u, m, 3, 0) for u in (1, 2, 3) for m in (1, 2, 3, 4, 5, 6)
                            if (u + m) % 3], columns=rec.RATINGS_COLS)
    reconstruction = _labelled(np.arange(18.0).reshape(3, 6), ratings)
    with pytest.raises(ValueError, match=r"looks transposed \(movies as rows, users as "
                                         r"columns\): pass reconstruction\.T"):
        rec.recommend_movies(reconstruction.T, 1, movies, ratings)


def test_recommend_movies_refuses_nan_scores_and_a_bool_user(ratings, movies):
    scores = np.ones((4, 6))
    scores[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"reconstruction holds 1 NaN or infinite scores \(first "
                                         r"for user id 1, movie id 4: nan\).*refit"):
        rec.recommend_movies(_labelled(scores, ratings), 1, movies, ratings)
    with pytest.raises(TypeError, match=r"user_id must be an integer user id; got True of type bool"):
        rec.recommend_movies(_labelled(np.ones((4, 6)), ratings), True, movies, ratings)


def test_recommend_movies_unknown_user(ratings, movies):
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    with pytest.raises(KeyError, match="user_id=99.*1 to 4"):
        rec.recommend_movies(reconstruction, 99, movies, ratings)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_recommend_movies_rejects_bad_n(ratings, movies, n):
    with pytest.raises(ValueError, match="n="):
        rec.recommend_movies(_labelled(np.ones((4, 6)), ratings), 1, movies, ratings, n=n)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), ties=st.booleans())
def test_recommendations_never_contain_rated_movies(seed, n, ties):
    rng = np.random.default_rng(seed)
    n_users, n_movies = rng.integers(1, 8), rng.integers(2, 12)
    movies = pd.DataFrame({"movie id": np.arange(1, n_movies + 1) * 10,
                           "movie title": [f"M{i}" for i in range(n_movies)]})
    for genre in GENRES:
        movies[genre] = rng.integers(0, 2, n_movies)
    cells = [(u, m) for u in range(1, n_users + 1) for m in movies["movie id"]]
    chosen = rng.choice(len(cells), size=rng.integers(1, len(cells) + 1), replace=False)
    ratings = pd.DataFrame([(*cells[i], rng.integers(1, 6), 0) for i in chosen],
                           columns=rec.RATINGS_COLS)
    X = rec.rating_matrix(ratings)
    values = rng.integers(0, 3, X.shape) if ties else rng.random(X.shape) * 5
    reconstruction = pd.DataFrame(values, index=X.index, columns=X.columns)
    for user in X.index:
        top = rec.recommend_movies(reconstruction, user, movies, ratings, n=n)
        rated = set(ratings.loc[ratings["user id"] == user, "movie id"])
        unrated = [m for m in X.columns if m not in rated]
        assert not rated & set(top["movie id"])
        assert len(top) == min(n, len(unrated))
        expected = sorted(unrated, key=lambda m: (-reconstruction.loc[user, m], m))[:n]
        assert list(top["movie id"]) == expected
    n_all = min(n, min(len(X.columns) - (ratings["user id"] == u).sum() for u in X.index))
    if n_all >= 1:
        shuffled = reconstruction.sample(frac=1.0, axis=1, random_state=seed % 1000)
        table = rec.top_n_all_users(shuffled, ratings, n=n_all)
        for user in X.index:
            top = rec.recommend_movies(reconstruction, user, movies, ratings, n=n_all)
            assert list(table.loc[user]) == list(top["movie id"])


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


# --- adding users ------------------------------------------------------------------------

def test_find_movie_ids_exact_titles_and_help(movies):
    assert rec.find_movie_ids(movies, ["Scream (1996)", "Toy Story (1995)"]) == [3, 1]
    with pytest.raises(KeyError, match=r"'Scream'.*\['Scream \(1996\)'\]"):
        rec.find_movie_ids(movies, ["Scream"])


def test_add_user_appends_next_free_id(ratings, movies):
    new, user_id = rec.add_user(ratings, {5: 5, 1: 4}, movies)
    assert user_id == 5
    assert len(new) == len(ratings) + 2 and len(ratings) == 12   # input untouched
    assert new.dtypes.equals(ratings.dtypes)
    added = new[new["user id"] == 5].set_index("movie id")["rating"]
    assert added.to_dict() == {5: 5, 1: 4}
    assert (new.loc[new["user id"] == 5, "timestamp"] == ratings["timestamp"].max() + 1).all()
    again, second = rec.add_user(new, {3: 1}, movies)
    assert second == 6 and rec.rating_matrix(again).shape == (6, 6)


def test_add_user_rejects_unknown_movie(ratings, movies):
    with pytest.raises(KeyError, match=r"\[42\].*not known movies"):
        rec.add_user(ratings, {1: 5, 42: 3}, movies)


@pytest.mark.parametrize("rating", [0, 6, 3.5, -1, "5", True])
def test_add_user_rejects_invalid_rating(ratings, movies, rating):
    with pytest.raises(ValueError, match="whole stars from 1 to 5"):
        rec.add_user(ratings, {1: rating}, movies)


def test_add_user_rejects_empty_query(ratings, movies):
    with pytest.raises(ValueError, match="non-empty dict"):
        rec.add_user(ratings, {}, movies)


# --- new users: fold-in ------------------------------------------------------------------

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


def test_zero_fill_fold_in_is_the_converged_exercise_update_of_the_new_row(ratings, movies):
    """Folding a query in equals adding the user and running the Z-update with H fixed."""
    model = rec.fit_model(ratings, nmf_core.non_negative, 2, n_iter=5000)
    query = {3: 5, 4: 4}
    top = rec.recommend_for_query(query, model, movies, n=4)
    assert not {3, 4} & set(top["movie id"]) and len(top) == 4
    new, user = rec.add_user(ratings, query, movies)
    x = rec.rating_matrix(new).loc[user].to_numpy()
    z = _refit_row_with_H_fixed(x, model.result.H)
    np.testing.assert_allclose(model.fold_in(query).to_numpy(), z @ model.result.H, rtol=1e-4,
                               atol=1e-6)
    expected = sorted(set(range(1, 7)) - {3, 4}, key=lambda m: (-(z @ model.result.H)[m - 1], m))
    assert list(top["movie id"]) == expected


def test_observed_fold_in_counts_only_the_query_and_recovers_a_planted_user():
    rng = np.random.default_rng(7)
    n_users, n_movies = 30, 40
    Z, H = rng.random((n_users, 3)), rng.random((3, n_movies))
    cells = [(u + 1, m + 1) for u in range(n_users) for m in range(n_movies) if rng.random() < 0.6]
    ratings = pd.DataFrame([(u, m, (Z @ H)[u - 1, m - 1], 0) for u, m in cells],
                           columns=rec.RATINGS_COLS)
    model = rec.fit_model(ratings, nmf_core.nnls_als, 3, fill_value=None, l2=0.0, n_iter=300)
    z_true = np.array([2.0, 0.0, 1.0])
    truth = z_true @ model.result.H                               # a user the model can express
    query = {m + 1: truth[m] for m in range(0, n_movies, 3)}      # 14 of 40 movies
    # a query holds whole stars; this planted row does not, so its values are put into the
    # model's own sparse row and folded in by the model's own function
    row = model.index.query_row({m: 3 for m in query}, ratings, None)
    row.data[:] = [query[m] for m in sorted(query)]
    folded = nmf_core.nnls_als(row, 3, l2=0.0, n_iter=1, fold_into=model.result)
    np.testing.assert_allclose(folded.Z[0], z_true, atol=1e-8)
    # the unrated movies were not read as zeros: a zero fill gives another answer
    filled = np.where(np.isin(np.arange(1, n_movies + 1), list(query)), truth, 0.0)[None, :]
    zero = nmf_core.nnls_als(filled, 3, l2=0.0, n_iter=1, mask=None, fold_into=model.result)
    assert np.abs(zero.Z @ model.result.H - truth).max() > 0.5


def test_recommend_for_query_rejects_unknown_movies_and_bad_ratings(ratings, movies):
    model = rec.fit_model(ratings, nmf_core.non_negative, 2, n_iter=10)
    with pytest.raises(KeyError, match=r"movie id\(s\) \[99\] in query are not known movies"):
        rec.recommend_for_query({99: 5}, model, movies)
    with pytest.raises(ValueError, match=r"rating\(s\) \{1: 7\} in query are not whole stars"):
        rec.recommend_for_query({1: 7}, model, movies)


# --- genre statistics --------------------------------------------------------------------

def test_genre_distribution_counts_each_tag_and_shares_per_movie(movies):
    table = rec.genre_distribution([1, 3, 5], movies)
    assert list(table.columns) == ["genre", "count", "share"] and list(table["genre"]) == GENRES
    counts = table.set_index("genre")["count"]
    assert counts["Animation"] == 2 and counts["Childrens"] == 2 and counts["Horror"] == 1
    assert counts.sum() == 3 + 2 + 3                     # one count per genre tag
    assert table["share"].sum() == pytest.approx(8 / 3)  # mean genres per movie
    assert table.set_index("genre")["share"]["Animation"] == pytest.approx(2 / 3)


def test_on_genre_share(movies):
    assert rec.on_genre_share([1, 2, 3, 5], movies, ["Animation", "Childrens"]) == 0.5
    assert rec.on_genre_share(movies["movie id"], movies, "Horror") == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="Children'"):
        rec.on_genre_share([1], movies, ["Children"])


def test_genre_statistics_is_tidy_and_sums_correctly(ratings, movies):
    scores = np.tile(np.arange(6, 0, -1, dtype=float), (4, 1))
    stats = rec.genre_statistics(_labelled(scores, ratings), [1, 2], movies, ratings, n=2)
    assert list(stats.columns) == ["user id", "which", "genre", "count", "share", "movies"]
    assert len(stats) == 2 * 2 * len(GENRES)
    totals = stats.groupby(["user id", "which"])["count"].sum()
    # user 1 rated 1, 2, 5 (3 + 1 + 3 tags); recommended 3, 4 (2 + 1 tags)
    assert totals[(1, "rated")] == 7 and totals[(1, "recommended")] == 3
    # user 2 rated 1, 3, 4 (3 + 2 + 1 tags); recommended 2, 5 (1 + 3 tags)
    assert totals[(2, "rated")] == 6 and totals[(2, "recommended")] == 4
    shares = stats.groupby(["user id", "which"])["share"].sum()
    np.testing.assert_allclose(shares, totals / stats.groupby(["user id", "which"])["movies"].first())


# --- prototypes --------------------------------------------------------------------------

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
    from sklearn.decomposition import NMF

    rng = np.random.default_rng(0)
    planted, movies = _planted_catalogue(rng)
    block = np.kron(np.eye(3), np.ones((1, 20)))             # component k likes genre k
    H_true = block * rng.uniform(0.5, 1.5, block.shape)
    Z_true = rng.random((60, 3)) * (rng.random((60, 3)) < 0.5) + np.eye(3)[np.arange(60) % 3]
    X = Z_true @ H_true
    model = NMF(3, init="nndsvda", max_iter=2000, tol=1e-8, random_state=0)
    model.fit(X)
    H = model.components_
    enrichment = rec.genre_enrichment(H, movies["movie id"], movies)
    assert enrichment.shape == (3, len(GENRES))
    winners = enrichment.idxmax(axis=1)
    assert sorted(winners) == sorted(planted)                # each planted genre wins once
    assert (enrichment.max(axis=1) > 2.5).all()              # catalogue share 1/3, so ~3x
    assert (enrichment["Drama"] < 2).all()                 # the noise genre is not the story
    top = rec.component_top_movies(H, movies["movie id"], movies, n=5)
    for k, genre in winners.items():
        top_ids = top.loc[top["component"] == k, "movie id"]
        assert movies.set_index("movie id").loc[top_ids, genre].all()
    summary = rec.describe_components(H, movies["movie id"], movies, n_genres=1)
    assert [s.split(" ×")[0] for s in summary["top genres"]] == list(winners)


def test_genre_enrichment_definition_by_hand():
    rng = np.random.default_rng(1)
    _, movies = _planted_catalogue(rng, n_per_genre=2)       # 6 movies, 2 per genre
    H = np.array([[1.0, 1.0, 0, 0, 0, 0], [0, 0, 0, 0, 3.0, 1.0]])
    enrichment = rec.genre_enrichment(H, movies["movie id"], movies)
    assert enrichment.loc[0, "Horror"] == pytest.approx(1 / (2 / 6))
    assert enrichment.loc[1, "Animation"] == pytest.approx(3.0)
    assert enrichment.loc[0, "Comedy"] == 0
    assert np.isnan(enrichment.loc[0, "Western"])           # no catalogue movie is a western


def test_component_top_movies_ties_by_movie_id(movies):
    H = np.array([[1.0, 2.0, 2.0, 0.0, 2.0, 0.5]])
    top = rec.component_top_movies(H, movies["movie id"], movies, n=3)
    assert list(top["movie id"]) == [2, 3, 5] and list(top["rank"]) == [1, 2, 3]


def test_describe_components_lists_top_movies_and_their_median_year(movies):
    H = np.array([[0, 0, 3.0, 2.0, 0, 1.0], [4.0, 0, 0, 0, 3.0, 0]])
    summary = rec.describe_components(H, movies["movie id"], movies, n_movies=2, n_genres=1)
    assert list(summary.columns) == ["top genres", "median year", "top movies"]
    assert summary.loc[0, "top movies"] == "Scream (1996); Amélie's Nightmare (1990)"
    assert summary.loc[0, "top genres"].startswith("Horror ×")
    assert summary.loc[0, "median year"] == 1993          # (1996 + 1990) / 2: titles' years
    assert summary.loc[1, "median year"] == 1994.5


def test_prototype_helpers_reject_mismatched_H(movies):
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*6 movie ids"):
        rec.genre_enrichment(np.ones((2, 3)), movies["movie id"], movies)


# --- bad input that once gave a wrong answer ------------------------------------------------

def test_reconstruction_with_repeated_labels_is_refused(ratings, movies):
    reconstruction = _labelled(np.arange(24.0).reshape(4, 6), ratings)
    doubled = pd.concat([reconstruction, reconstruction[[6]]], axis=1)
    with pytest.raises(ValueError, match=r"reconstruction repeats the movie id \(column\) 6"):
        rec.recommend_movies(doubled, 1, movies, ratings, n=3)
    with pytest.raises(ValueError, match=r"repeats the user id \(row\) 2"):
        rec.top_n_all_users(pd.concat([reconstruction, reconstruction.loc[[2]]]), ratings)


def test_nan_scores_are_reported_by_ids(ratings, movies):
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    reconstruction.loc[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite scores \(first for user id 3, movie "
                                         r"id 5: nan\)"):
        rec.top_n_all_users(reconstruction, ratings)


def test_repeated_ratings_are_refused_by_every_route(ratings, movies):
    doubled = pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True)
    reconstruction = _labelled(np.ones((4, 6)), ratings)
    for call in (lambda: rec.rating_matrix(doubled),
                 lambda: rec.recommend_movies(reconstruction, 1, movies, doubled),
                 lambda: rec.top_n_all_users(reconstruction, doubled)):
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
        rec.rating_matrix(bad)
    with pytest.raises(ValueError, match=r"ratings is empty"):
        rec.rating_matrix(ratings.iloc[:0])


def test_query_must_name_movies_by_integer_id(ratings, movies):
    with pytest.raises(TypeError, match=r"movie ids in new_ratings must be integers; got \[True\]"):
        rec.add_user(ratings, {True: 5}, movies)


def test_observed_only_query_row_marks_unrated_cells_nan(ratings):
    row = rec.query_row({3: 5, 6: 1}, ratings, None)
    assert row[3] == 5 and row[6] == 1 and row.isna().sum() == 4


def test_recommend_for_query_wants_a_fitted_model(ratings, movies):
    fit = nmf_core.non_negative(rec.rating_matrix(ratings), 2, n_iter=5)
    with pytest.raises(TypeError, match=r"model must be a FactorModel from fit_model\(\); got "
                                        r"NMFResult"):
        rec.recommend_for_query({1: 5}, fit, movies)
    with pytest.raises(ValueError, match=r"fit_model sets the mask from fill_value"):
        rec.fit_model(ratings, nmf_core.non_negative, 2, mask="observed")


def test_fold_in_is_reproducible_whatever_the_training_seed(ratings, movies):
    model = rec.fit_model(ratings, nmf_core.non_negative, 2, n_iter=50,
                          random_state=np.random.default_rng(1))
    first, second = model.fold_in({3: 5}), model.fold_in({3: 5})
    pd.testing.assert_series_equal(first, second)


def test_score_contributions_split_the_score_exactly():
    rng = np.random.default_rng(4)
    Z, H = rng.random((5, 3)), rng.random((3, 7))
    users, films = np.array([10, 20, 30, 40, 50]), np.array([7, 1, 3, 2, 9, 8, 4])  # unsorted
    table = rec.score_contributions(Z, H, users, films, 30, 9)
    assert table["contribution"].sum() == pytest.approx((Z @ H)[2, 4])
    assert table["share"].sum() == pytest.approx(1.0)
    assert list(table["contribution"]) == sorted(table["contribution"], reverse=True)
    k = table.index[0]
    assert table.loc[k, "contribution"] == pytest.approx(Z[2, k] * H[k, 4])
    with pytest.raises(KeyError, match=r"1 movie id\(s\) are not in the index, e\.g\. 5"):
        rec.score_contributions(Z, H, users, films, 30, 5)


def test_release_year_prefers_the_title_and_falls_back_to_the_date(movies):
    table = movies.copy()
    table.loc[table["movie id"] == 5, "movie title"] = "Lion King, The"        # no year in title
    years = rec.release_year(table)
    assert years[3] == 1996 and years[4] == 1990 and years[5] == 1994


def test_genre_enrichment_against_the_ratings_counts_each_rating(ratings, movies):
    H = np.array([[1.0, 0, 0, 0, 0, 0]])                 # all weight on Toy Story
    per_rating = rec.genre_enrichment(H, movies["movie id"], movies, ratings)
    catalogue = rec.genre_enrichment(H, movies["movie id"], movies)
    counts = ratings["movie id"].value_counts().reindex(range(1, 7), fill_value=0)
    comedy_share = counts[[1, 2]].sum() / counts.sum()     # movies 1 and 2 are comedies
    assert per_rating.loc[0, "Comedy"] == pytest.approx(1 / comedy_share)
    assert catalogue.loc[0, "Comedy"] == pytest.approx(1 / (2 / 6))


def test_describe_components_leaves_out_genres_too_rare_to_tell(ratings, movies):
    """With the ratings as reference, Musical (one movie, two ratings of twelve) is kept,
    and 'unknown' never appears; a genre under MIN_GENRE_SHARE of the reference is left out."""
    H = np.array([[0, 0, 0, 0, 5.0, 0]])                 # The Lion King: Animation, Musical
    summary = rec.describe_components(H, movies["movie id"], movies, n_genres=10,
                                      ratings=ratings)
    genres = [part.split(" ×")[0] for part in summary.loc[0, "top genres"].split(", ")]
    assert "unknown" not in genres and {"Animation", "Childrens", "Musical"} <= set(genres)
    few = ratings[~((ratings["movie id"] == 5) & (ratings["user id"] != 1))]   # one Lion King rating
    many = pd.concat([few] + [few[few["movie id"] != 5].assign(**{"user id": few["user id"] + 10 * k})
                             for k in range(1, 10)], ignore_index=True)
    summary = rec.describe_components(H, movies["movie id"], movies, n_genres=10, ratings=many)
    assert "Musical" not in summary.loc[0, "top genres"]     # 1 of ~100 ratings: under 2 %
