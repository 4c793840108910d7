"""The peers' adapters (lab/models/peers.py): their declarations, rules and grids, the
formulas that turn a library's fitted parameters into dense scores, and, where the
libraries import (``.venv-peers``, ``make peers``), every peer fitted on a small planted
data set through ``REGISTRY[key]``: predictions, recommendations, fold-in, and the dense
scores against the library's own prediction.  In the main ``.venv`` the tests that need a
library skip."""

from __future__ import annotations

import heapq
import itertools
from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lab.rules import SEED, real
from lab.interface import integer_seed
from lab.models import MODELS, OURS, REGISTRY, missing_modules
from lab.models import peers

BY_KEY = {cls.key: cls for cls in peers.PEERS}
#: The PyPI package of each module a peer needs.
PACKAGE = {"surprise": "scikit-surprise", "myfm": "myfm", "implicit": "implicit",
           "cornac": "cornac"}
FOLDS_IN = {"implicit_als", "myfm_bfm_implicit"}


# --- declarations, rules and grids (no library needed) ---------------------------------------

def test_each_peer_declares_its_library_and_how_it_is_selected():
    assert set(BY_KEY).isdisjoint(cls.key for cls in OURS)
    for key, cls in BY_KEY.items():
        (module,) = cls.needs
        assert cls.library.startswith(PACKAGE[module] + " "), (key, cls.library)
        assert key.startswith(module + "_"), key
        assert cls.select_by == ("rmse" if cls.predicts_ratings else "precision"), key
        assert cls.label and cls.__doc__, key


def test_the_peers_are_registered_where_their_libraries_import():
    libraries = sorted(PACKAGE)
    absent = [m for m in libraries if not find_spec(m)]
    assert sorted(missing_modules(".venv-peers", MODELS)) == absent
    if all(find_spec(name) for name in libraries):
        assert all(REGISTRY[key] is cls for key, cls in BY_KEY.items())
        assert list(REGISTRY)[len(OURS):len(OURS) + len(BY_KEY)] == list(BY_KEY)
    else:
        assert set(BY_KEY).isdisjoint(REGISTRY)
        assert all(REGISTRY.elsewhere[key] is cls for key, cls in BY_KEY.items())


# --- the dense formulas (no library needed) ---------------------------------------------------

def _surprise_vote(similarity_row, residual, k):
    """Surprise's KNNBaseline.estimate for one movie, written as the library writes it."""
    neighbours = heapq.nlargest(k, zip(similarity_row, residual), key=lambda pair: pair[0])
    total = weighted = 0.0
    for sim, r in neighbours:
        if sim > 0:
            total += sim
            weighted += sim * r
    return weighted / total if total else 0.0


@pytest.mark.parametrize("n_rated, k", [(3, 5), (12, 5), (40, 40), (41, 40)])
def test_knn_votes_follow_surprise(n_rated, k):
    rng = np.random.default_rng(n_rated)
    similarity = rng.uniform(-0.5, 1.0, size=(30, n_rated))
    similarity[0] = -0.1                                   # no positive neighbour: no vote
    residual = rng.normal(size=n_rated)
    votes = peers.knn_votes(similarity, residual, k)
    expected = [_surprise_vote(row, residual, k) for row in similarity]
    np.testing.assert_allclose(votes, expected, rtol=0, atol=1e-12)
    assert votes[0] == 0.0 and np.count_nonzero(votes) == 29


def test_side_features_are_identity_then_normalized_co_occurrence():
    who_rated = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=float))
    block = peers.side_features(who_rated, implicit=True)
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(block.toarray(), [[1, 0, 0, 0, r, r], [0, 1, 0, 1, 0, 0],
                                                 [0, 0, 1, 0, 0, 0]])     # no cell: stays 0
    alone = peers.side_features(who_rated, implicit=False)
    np.testing.assert_array_equal(alone.toarray(), np.eye(3))


def test_fm_scores_equal_the_machine_pair_by_pair():
    rng = np.random.default_rng(3)
    users = sp.csr_matrix(rng.uniform(size=(4, 5)) * (rng.uniform(size=(4, 5)) < 0.5))
    movies = sp.csr_matrix(rng.uniform(size=(6, 3)) * (rng.uniform(size=(6, 3)) < 0.6))
    w0, w, V = 0.7, rng.normal(size=8), rng.normal(size=(8, 2))
    scores = peers.fm_scores(users, movies, w0, w, V)
    for u, i in itertools.product(range(4), range(6)):
        x = np.concatenate([users[u].toarray().ravel(), movies[i].toarray().ravel()])
        pairwise = sum(V[a] @ V[b] * x[a] * x[b] for a in range(8) for b in range(a + 1, 8))
        assert scores[u, i] == pytest.approx(w0 + w @ x + pairwise, abs=1e-12)


class _Offset(peers.Peer):
    """A peer without a library: its dense matrix is 0, 1, 2, ..., its library's prediction
    that matrix plus ``offset``."""

    key, label = "offset", "a fake library"
    defaults, rules = {"offset": 0.0, "random_state": 0}, {"offset": real(), "random_state": SEED}

    def _dense(self):
        return np.arange(float(np.prod(self.index_.shape))).reshape(self.index_.shape)

    def library_predict(self, rows, cols):
        return self._dense()[rows, cols] + self.params["offset"]


def test_every_peers_fit_checks_its_dense_matrix_against_its_library():
    np.testing.assert_array_equal(_Offset().fit(RATINGS).scores(),
                                  np.arange(N_USERS * N_MOVIES).reshape(N_USERS, N_MOVIES))
    with pytest.raises(RuntimeError, match=r"differ from the library's own by up to 0\.5 "):
        _Offset(offset=0.5).fit(RATINGS)


# --- every peer fitted on a planted data set (in .venv-peers) --------------------------------

N_USERS, N_MOVIES = 40, 24
USER_IDS = np.arange(1, N_USERS + 1) * 3                   # ids that are not positions
MOVIE_IDS = np.arange(1, N_MOVIES + 1) * 7 + 100


def _group(position, n):
    return (np.asarray(position) >= n // 2).astype(int)


def _planted():
    """Two taste groups: user u likes the half of the movies of its group, rating about 70 %
    of them 4-5 stars, and rates about 20 % of the others 1-2 stars."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(N_USERS):
        for i in range(N_MOVIES):
            same = _group(u, N_USERS) == _group(i, N_MOVIES)
            if rng.uniform() < (0.7 if same else 0.2):
                stars = rng.integers(4, 6) if same else rng.integers(1, 3)
                rows.append((USER_IDS[u], MOVIE_IDS[i], int(stars)))
    return pd.DataFrame(rows, columns=["user id", "movie id", "rating"])


RATINGS = _planted()
#: Small settings, so that each fit takes a second or less.
SMALL = {"surprise_svdpp": dict(n_factors=4, n_epochs=30),
         "surprise_knn_baseline": dict(k=10),
         "surprise_nmf": dict(n_factors=4, n_epochs=100, reg=0.06),
         "myfm_bfm": dict(rank=4, n_sweeps=100),
         "myfm_bfm_implicit": dict(rank=4, n_sweeps=100),
         "implicit_als": dict(factors=2, regularization=1.0, alpha=1.0, iterations=15),
         "cornac_bpr": dict(k=4, max_iter=200, learning_rate=0.05)}
_FITTED = {}


def fitted(key):
    """``REGISTRY[key](**SMALL[key])`` fitted on the planted ratings (once per key); skips
    where the peer's library does not import."""
    pytest.importorskip(BY_KEY[key].needs[0])
    if key not in _FITTED:
        assert key in REGISTRY, f"{key} is not registered although {BY_KEY[key].needs[0]} imports"
        _FITTED[key] = REGISTRY[key](**SMALL[key]).fit(RATINGS)
    return _FITTED[key]


def _rated_matrix():
    rated = np.zeros((N_USERS, N_MOVIES), dtype=bool)
    rated[np.searchsorted(USER_IDS, RATINGS["user id"]),
          np.searchsorted(MOVIE_IDS, RATINGS["movie id"])] = True
    return rated


SAME = _group(np.arange(N_USERS), N_USERS)[:, None] == _group(np.arange(N_MOVIES), N_MOVIES)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_peer_fits_and_scores_every_user_and_movie(key):
    model = fitted(key)
    scores = model.scores()
    assert scores.shape == (N_USERS, N_MOVIES) and np.isfinite(scores).all()
    assert model.params == {**BY_KEY[key].defaults, **SMALL[key]}
    # predict reads the same scores, by id
    u, i = np.meshgrid(np.arange(N_USERS), np.arange(N_MOVIES), indexing="ij")
    np.testing.assert_array_equal(model.predict(USER_IDS[u.ravel()], MOVIE_IDS[i.ravel()]),
                                  scores.ravel())
    unrated = ~_rated_matrix()
    liked, other = scores[unrated & SAME].mean(), scores[unrated & ~SAME].mean()
    if model.predicts_ratings:
        # the planted tastes: 4-5 stars in the own group, 1-2 elsewhere
        assert liked - other > 1.0, (key, liked, other)
        observed = model.predict(RATINGS["user id"], RATINGS["movie id"])
        rmse = np.sqrt(np.mean((np.clip(observed, 1, 5) - RATINGS["rating"]) ** 2))
        assert rmse < 1.0, (key, rmse)
    else:
        assert liked > other, (key, liked, other)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_peer_recommends_unseen_movies_of_the_users_taste(key):
    model = fitted(key)
    rated = _rated_matrix()
    hits = possible = 0
    for u, user_id in enumerate(USER_IDS):
        best = model.recommend(int(user_id), n=4)
        assert len(best) == 4 and best.is_monotonic_decreasing
        cols = np.searchsorted(MOVIE_IDS, best.index)
        assert not rated[u, cols].any(), (key, user_id)            # unseen movies only
        np.testing.assert_array_equal(best.to_numpy(), model.scores()[u, cols])
        hits += SAME[u, cols].sum()
        possible += min(4, (SAME[u] & ~rated[u]).sum())     # unseen movies of the own group
    assert hits >= 0.8 * possible, (key, hits, possible)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_peer_folds_in_a_new_user_or_says_it_cannot(key):
    model = fitted(key)
    query = {int(m): 5 for m in MOVIE_IDS[:6]}                   # six movies of group 0
    if key not in FOLDS_IN:
        with pytest.raises(NotImplementedError, match=key):
            model.fold_in(query)
        return
    before = model.scores()
    scores = model.fold_in(query)
    assert scores.index.equals(pd.Index(MOVIE_IDS, name="movie id"))
    assert np.isfinite(scores).all()
    rest = scores.to_numpy()[6:]
    assert rest[:N_MOVIES // 2 - 6].mean() > rest[N_MOVIES // 2 - 6:].mean() + 0.1, (key, rest)
    np.testing.assert_array_equal(model.scores(), before)        # the model is unchanged
    np.testing.assert_array_equal(model.fold_in(query), scores)  # and the answer repeatable


@pytest.mark.parametrize("key", list(BY_KEY))
def test_dense_scores_equal_the_library_prediction(key):
    model = fitted(key)
    rows, cols = (a.ravel() for a in np.meshgrid(np.arange(N_USERS), np.arange(N_MOVIES),
                                                 indexing="ij"))
    assert model.trained_on(model.index_.user_ids[rows], model.index_.movie_ids[cols]).all()
    expected = model.library_predict(rows, cols)
    np.testing.assert_allclose(model.scores()[rows, cols], expected, rtol=0, atol=1e-6)
    assert np.ptp(expected) > 0.5                                 # not a constant


def test_implicit_fold_in_of_a_training_user_is_near_its_factors():
    """implicit's recalculate_user solves a user's factors exactly; for a user of the
    training data it lands near the factors the fit found (conjugate-gradient steps)."""
    model = fitted("implicit_als")
    rated = _rated_matrix()
    gaps = []
    for u in range(N_USERS):
        query = {int(m): 4 for m in MOVIE_IDS[rated[u]]}
        gaps.append(np.abs(model.fold_in(query).to_numpy() - model.scores()[u]).max())
    assert np.median(gaps) < 0.05, gaps


def test_myfm_fold_in_is_the_library_prediction_for_a_user_without_identity():
    """The implicit BFM scores a new user from the movies rated: with every identity weight
    of the users dropped from the fit's features, the dense formula gives the same."""
    model = fitted("myfm_bfm_implicit")
    query = {int(m): 5 for m in MOVIE_IDS[:6]}
    user = np.zeros(N_USERS + N_MOVIES)
    user[N_USERS:N_USERS + 6] = 1 / np.sqrt(6)
    samples = model.model_.predictor_.samples
    expected = sum(peers.fm_scores(sp.csr_matrix(user[None, :]), model.movies_features_,
                                   s.w0, np.asarray(s.w), np.asarray(s.V))[0]
                   for s in samples) / len(samples)
    np.testing.assert_allclose(model.fold_in(query).to_numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_a_dense_matrix_off_the_library_is_refused(key):
    """Every peer's fit checks its dense matrix against the library's own prediction: the
    fitted matrix passes, 0.01 off on every cell is refused."""
    model = fitted(key)
    np.testing.assert_array_equal(model.checked(model.scores()), model.scores())
    with pytest.raises(RuntimeError, match="differ from the library's own by up to 0.01"):
        model.checked(model.scores() + 0.01)


@pytest.mark.parametrize("key", list(BY_KEY))
def test_a_random_state_gives_the_fit_of_its_seed(key):
    """random_state takes what lab.rules.SEED allows; a RandomState is drawn from once, so
    two RandomState(5) give the same fit, and the integer drawn gives it too."""
    pytest.importorskip(BY_KEY[key].needs[0])
    small = SMALL[key]
    first = REGISTRY[key](random_state=np.random.RandomState(5), **small).fit(RATINGS)
    again = REGISTRY[key](random_state=np.random.RandomState(5), **small).fit(RATINGS)
    seed = integer_seed(np.random.RandomState(5))
    by_int = REGISTRY[key](random_state=seed, **small).fit(RATINGS)
    assert first.seed_ == again.seed_ == by_int.seed_ == seed
    np.testing.assert_array_equal(first.scores(), again.scores())
    np.testing.assert_array_equal(first.scores(), by_int.scores())
    assert np.isfinite(REGISTRY[key](random_state=None, **small).fit(RATINGS).scores()).all()
