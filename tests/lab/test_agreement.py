"""Agreement: the filled matrix, the sparse matrix and a new user's row are one rule.

Whatever route builds a rating matrix (the exercise's pivot, the evaluation's
full-index matrix, the sparse matrix of observed ratings, a new user's query
row), an observed cell holds its rating and an unrated cell holds the fill the
strategy prescribes.  And every model of the evaluation registry fits, scores and
folds in a new user on a small planted data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lab.evaluation as ev
import lab.ratings as rec  # rec.rating_matrix: the ground floor's, re-exported

FILLS = [0, 2.5, "global_mean", "movie_mean", "user_mean"]

# users 1..4, movies 10..50; movie 50 and user 5 have no rating (they exist in the tables)
RATINGS = pd.DataFrame(
    [(1, 10, 5), (1, 20, 3), (1, 40, 4), (2, 30, 5), (2, 40, 4), (2, 10, 1),
     (3, 10, 2), (3, 20, 4), (3, 30, 3), (4, 20, 5)],
    columns=["user id", "movie id", "rating"])
USER_IDS = np.array([1, 2, 3, 4, 5])
MOVIE_IDS = np.array([10, 20, 30, 40, 50])


def expected_fill(fill, user, movie, ratings):
    """The fill of one unrated cell, written out by hand from the documented rule."""
    if not isinstance(fill, str):
        return float(fill)
    mean = ratings["rating"].mean()
    if fill == "global_mean":
        return mean
    if fill == "movie_mean":
        own = ratings.loc[ratings["movie id"] == movie, "rating"]
        return own.mean() if len(own) else mean
    own = ratings.loc[ratings["user id"] == user, "rating"]
    return own.mean() if len(own) else mean


def expected_matrix(fill, ratings, user_ids, movie_ids):
    table = np.empty((len(user_ids), len(movie_ids)))
    given = {(u, m): r for u, m, r in ratings[["user id", "movie id", "rating"]].itertuples(index=False)}
    for i, user in enumerate(user_ids):
        for j, movie in enumerate(movie_ids):
            table[i, j] = given.get((user, movie), expected_fill(fill, user, movie, ratings))
    return table


@pytest.mark.parametrize("fill", FILLS)
def test_pivoted_matrix_follows_the_rule(fill):
    matrix = rec.rating_matrix(RATINGS, fill)
    assert list(matrix.index) == [1, 2, 3, 4] and list(matrix.columns) == [10, 20, 30, 40]
    np.testing.assert_allclose(matrix.to_numpy(),
                               expected_matrix(fill, RATINGS, [1, 2, 3, 4], [10, 20, 30, 40]))


@pytest.mark.parametrize("fill", FILLS)
def test_full_index_matrix_follows_the_rule_and_extends_the_pivot(fill):
    index = rec.RatingIndex(USER_IDS, MOVIE_IDS)
    filled = index.filled(RATINGS, fill)
    np.testing.assert_allclose(filled, expected_matrix(fill, RATINGS, USER_IDS, MOVIE_IDS))
    np.testing.assert_allclose(filled[:4, :4], rec.rating_matrix(RATINGS, fill).to_numpy())


def test_sparse_matrix_holds_exactly_the_ratings():
    index = rec.RatingIndex(USER_IDS, MOVIE_IDS)
    sparse = index.sparse(RATINGS)
    assert sparse.shape == (5, 5) and sparse.nnz == len(RATINGS)
    rows, cols = sparse.nonzero()
    observed = {(USER_IDS[r], MOVIE_IDS[c]): sparse[r, c] for r, c in zip(rows, cols)}
    assert observed == {(u, m): float(r) for u, m, r in RATINGS.itertuples(index=False)}
    for fill in FILLS:
        np.testing.assert_allclose(index.filled(RATINGS, fill)[rows, cols], sparse.data)


@pytest.mark.parametrize("fill", FILLS)
def test_new_user_row_is_the_row_the_matrix_would_give_them(fill):
    """A query's row: its ratings where given, elsewhere the fill of the training data
    (a user-mean fill takes the query's own mean, as it would for a user of the matrix)."""
    query = {20: 5, 30: 2}
    row = rec.query_row(query, RATINGS, fill)
    assert list(row.index) == [10, 20, 30, 40]
    new_user = 99
    for movie, value in row.items():
        if movie in query:
            assert value == query[movie]
        elif fill == "user_mean":
            assert value == pytest.approx(np.mean(list(query.values())))
        else:
            assert value == pytest.approx(expected_fill(fill, new_user, movie, RATINGS))


# --- every model of the evaluation registry ----------------------------------------------

def planted_fold(seed=0, n_users=120, n_movies=80, rank=3):
    """Ratings from a sparse non-negative rank-3 taste model; who rates what follows it too.

    Users and movies load on few of the three tastes (gamma(0.3) factors); a user
    rates a movie with a probability proportional to their taste for it, and rates
    it higher the more they like it.  Returns the training and test ratings (80 % /
    20 % of the rated cells, at random) and the index over all users and movies.
    """
    rng = np.random.default_rng(seed)
    taste = rng.gamma(0.3, 1.0, (n_users, rank)) @ rng.gamma(0.3, 1.0, (rank, n_movies))
    liking = taste / taste.max(axis=1, keepdims=True)
    rows, cols = np.nonzero(rng.random(taste.shape) < 0.7 * liking)
    stars = np.clip(np.rint(1 + 4 * liking[rows, cols] + rng.normal(0, 0.3, rows.size)), 1, 5)
    table = pd.DataFrame({"user id": rows + 1, "movie id": cols + 1, "rating": stars.astype(int)})
    test = rng.random(len(table)) < 0.2
    index = rec.RatingIndex(np.arange(1, n_users + 1), np.arange(1, n_movies + 1))
    return table[~test].reset_index(drop=True), table[test].reset_index(drop=True), index


@pytest.fixture(scope="module")
def fold():
    train, test, index = planted_fold()
    mean_scores = ev.fit_scores("global_mean", train, index, {})
    reference = ev.score_split(mean_scores, train, test, index)
    return train, test, index, reference


@pytest.mark.parametrize("model", list(ev.MODELS))
def test_every_registered_model_fits_scores_and_beats_the_global_mean(model, fold):
    import json

    train, test, index, reference = fold
    spec = ev.MODELS[model]
    params = json.loads(json.dumps(spec.grid[0]))           # what the CSV stores, read back
    assert params == spec.grid[0]
    scores = ev.fit_scores(model, train, index, params)
    assert scores.shape == index.shape and np.isfinite(scores).all()
    metrics = ev.score_split(scores, train, test, index, spec.predicts_ratings)
    if model == "global_mean":
        assert metrics["rmse"] == reference["rmse"] > 1.0
    elif spec.select_by == "rmse":
        assert metrics["rmse"] < reference["rmse"] - 0.02, (metrics, reference)
    else:
        assert metrics["precision_at_10"] > reference["precision_at_10"] + 0.02, (metrics, reference)


FACTOR_MODELS = [name for name, spec in ev.MODELS.items() if spec.factorize is not None]


@pytest.mark.parametrize("model", FACTOR_MODELS)
def test_every_factor_model_folds_in_a_user_with_its_own_half_step(model, fold):
    """Folding a training user's own ratings back in reproduces their trained scores
    (the fold-in is the training's row update against the trained columns), and a
    new user's query gets unseen movies ranked by those scores."""
    train, _, index, _ = fold
    fitted = ev.fit_factor_model(model, train, index, ev.MODELS[model].grid[0])
    trained = fitted.scores()
    for user in (1, 7, 40):
        own = train[train["user id"] == user]
        again = fitted.fold_in(dict(zip(own["movie id"], own["rating"])))
        row = trained[index.user_positions([user])[0]]
        assert np.corrcoef(again.to_numpy(), row)[0, 1] > 0.995, (model, user)
        assert np.abs(again.to_numpy() - row).max() < 0.1 * np.abs(row).max()
    query = {3: 5, 10: 4, 11: 1}
    movies = pd.DataFrame({"movie id": index.movie_ids, "movie title": "m",
                           **{g: 0 for g in rec.GENRES}})
    top = rec.recommend_for_query(query, fitted, movies, n=5)
    scores = fitted.fold_in(query)
    assert not set(top["movie id"]) & set(query)
    expected = scores.drop(list(query)).sort_values(ascending=False, kind="stable").head(5)
    np.testing.assert_allclose(top["predicted score"], expected.to_numpy())
