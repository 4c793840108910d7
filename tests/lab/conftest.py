"""Fixtures shared by the lab's tests: the fits taken by name, a tiny problem and the
documented common start (the tests of lab.factorizations and lab.base); star ratings from a
planted non-negative model and a small regular ratings table (the tests of the models); the
MovieLens-100k folder ``make data`` fills (the tests of the evaluation, the report and the
commands).  (The digits and the tiny
MovieLens folder, shared with the ground floor's tests, are tests/conftest.py's.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fits import FUNCTIONS
from nmf_cases import documented_start
from recommender import RATING_SCALE


#: The fits the tests take by name (from fits.FUNCTIONS); NNLS-ALS is ALS with Z, H >= 0.
FITS_BY_NAME = {"als": FUNCTIONS["als"], "nnls_als": FUNCTIONS["als(nonnegative=True)"],
                "biased_non_negative": FUNCTIONS["biased_non_negative"]}


@pytest.fixture
def function(request):
    """The fit named by the test's parameter ``function``, given indirectly:
    ``@pytest.mark.parametrize("function", ["als", "nnls_als"], indirect=True)``."""
    return FITS_BY_NAME[request.param]


@pytest.fixture
def nnls_als():
    """NNLS-ALS: ``lab.factorizations.als`` with ``nonnegative=True``."""
    return FITS_BY_NAME["nnls_als"]


def _tiny_problem(seed=0, shape=(7, 6), density=0.6):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, 6, size=shape).astype(float)
    mask = rng.random(shape) < density
    mask[0, :] = False          # a row without observed cells
    mask[1, 0] = True
    return X, mask


@pytest.fixture
def tiny_problem():
    """``tiny_problem(seed=0, shape=(7, 6), density=0.6)``: ratings 1..5 and a mask of the
    observed cells, row 0 without any, cell (1, 0) observed."""
    return _tiny_problem


@pytest.fixture
def common_start():
    """``common_start(X, mask, M, seed, offset=0.0)``: the start ``(Z0, H0)`` every iterative
    factorization draws (:func:`nmf_core.start`), written out (nmf_cases.documented_start)."""
    return documented_start


def _planted_stars(seed=0, n_users=50, n_movies=40, rank=4, density=0.5, tastes="dense"):
    """Whole stars from a planted non-negative rank-``rank`` model plus noise (sd 0.3 star);
    user and movie ids from 1.  ``tastes="dense"``: uniform factors, a share ``density`` of
    the cells rated at random.  ``tastes="sparse"``: users and movies load on few tastes
    (gamma(0.3) factors), and who rates what follows them, as in real ratings: a user rates a
    movie with probability ``density`` times their liking for it (the model over the user's
    largest value), and rates it higher the more they like it."""
    rng = np.random.default_rng(seed)
    if tastes == "sparse":
        model = rng.gamma(0.3, 1.0, (n_users, rank)) @ rng.gamma(0.3, 1.0, (rank, n_movies))
        liking = model / model.max(axis=1, keepdims=True)
        rated = rng.random(model.shape) < density * liking
    else:
        model = rng.random((n_users, rank)) @ rng.random((rank, n_movies))
        liking, rated = model / model.max(), None
    low, high = RATING_SCALE
    stars = np.clip(np.rint(low + (high - low) * liking + rng.normal(0, 0.3, model.shape)),
                    low, high)
    rows, cols = np.nonzero(rng.random(model.shape) < density if rated is None else rated)
    # written out rather than synthetic.ratings_frame, which stores float ratings: whole
    # stars stay ints here, as in u.data
    return pd.DataFrame({"user id": rows + 1, "movie id": cols + 1,
                         "rating": stars[rows, cols].astype(int)})


@pytest.fixture(scope="session")
def planted_stars():
    """``planted_stars(seed=0, n_users=50, n_movies=40, rank=4, density=0.5,
    tastes="dense")``: a ratings table of whole stars from a planted non-negative model plus
    noise."""
    return _planted_stars


def _regular_ratings(n_users, n_movies, every, seed=0):
    """Users 1..n_users and movies 1..n_movies; every cell is rated, in whole stars drawn from
    ``seed``, except where ``(user + movie) % every == 0``."""
    rng = np.random.default_rng(seed)
    cells = [(u, m) for u in range(1, n_users + 1) for m in range(1, n_movies + 1)
             if (u + m) % every]
    return pd.DataFrame([(u, m, int(rng.integers(1, 6))) for u, m in cells],
                        columns=["user id", "movie id", "rating"])


@pytest.fixture(scope="session")
def regular_ratings():
    """``regular_ratings(n_users, n_movies, every, seed=0)``: a small ratings table with a
    regular pattern of unrated cells, for the tests that only need some model to fit."""
    return _regular_ratings


@pytest.fixture
def ml_100k():
    """The MovieLens-100k folder ``make data`` fills, data/ml-100k; the test is skipped
    where the data are missing."""
    from scripts import ML_100K as folder

    if not (folder / "u1.base").is_file():
        pytest.skip("needs MovieLens-100k in data/ml-100k: run `make data` first")
    return folder


@pytest.fixture
def fake_now(monkeypatch):
    """Replace lab.clock.now, the lab's one clock, by one that advances only when a work
    says so: ``fake_now(seconds, result=None)`` spends the seconds and returns ``result``."""
    from lab import clock

    current = [0.0]
    monkeypatch.setattr(clock, "now", lambda: current[0])

    def spend(seconds, result=None):
        current[0] += seconds
        return result
    return spend
