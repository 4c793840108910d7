"""The peers' registry (lab/peers/models.py) and the formulas it uses to turn a library's
fitted parameters into a dense score matrix.  The libraries themselves live in
``.venv-peers`` (``make peers``), not in the environment these tests run in; each fit
there also compares the dense matrix with the library's own ``predict``."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from lab import evaluation
from lab.peers import models as peers


def test_every_peer_is_a_scored_model_with_its_library():
    assert set(peers.PEERS).isdisjoint(evaluation.MODELS)
    packages = {"surprise": "scikit-surprise", "implicit": "implicit", "myfm": "myfm",
                "cornac": "cornac"}
    for name, spec in peers.PEERS.items():
        assert spec.score is not None and spec.factorize is None, name
        assert spec.library.startswith(packages[name.split("_")[0]] + " "), (name, spec.library)
        assert spec.select_by in ("rmse", "precision_at_10"), name
        assert spec.predicts_ratings == (spec.select_by == "rmse"), name
        assert len(spec.grid) >= 1 and all(isinstance(params, dict) for params in spec.grid)
    assert [m for m, s in peers.PEERS.items() if s.non_negative] == ["surprise_nmf"]


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
    block = peers.side_features(np.array([0, 0, 1]), np.array([1, 2, 0]), 2, 3, implicit=True)
    r = 1 / np.sqrt(2)
    np.testing.assert_allclose(block.toarray(), [[1, 0, 0, r, r], [0, 1, 1, 0, 0]])
    alone = peers.side_features(np.array([0]), np.array([1]), 2, 3, implicit=False)
    np.testing.assert_array_equal(alone.toarray(), np.eye(2))


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


def test_check_against_refuses_a_dense_matrix_the_library_disagrees_with():
    scores = np.arange(12.0).reshape(3, 4)
    users, movies = np.arange(3), np.arange(4)
    peers._check_against(scores, lambda rows, cols: scores[rows, cols], users, movies, 0)
    with pytest.raises(RuntimeError, match=r"differ from the library's own by up to 0\.5"):
        peers._check_against(scores, lambda rows, cols: scores[rows, cols] + 0.5, users, movies, 0)
