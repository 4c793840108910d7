"""Other libraries' recommenders, on the same protocol as :data:`lab.evaluation.MODELS`.

Each entry of :data:`PEERS` is an :class:`lab.evaluation.ModelSpec` whose score
function fits a library's model on the training ratings and returns the dense
(n_users, n_movies) matrix of its predictions, so that the validation search,
the refit, the metrics and the cold-start fallback are exactly those of our
own models (``lab.evaluation.evaluate_fold(..., registry=PEERS)``).

The libraries are imported inside the score functions: this module loads in the
main environment (the report needs the descriptions), while the models run
only in ``.venv-peers`` (``make peers``), made from ``lab/peers/requirements.txt``.

Where a library predicts one pair at a time, the dense matrix is computed from
its fitted parameters with the library's own formula, and
:func:`_check_against` compares it with the library's ``predict`` on a few
hundred pairs before it is used.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lab.evaluation import ModelSpec, library_version, param_grid
from lab.ratings import RatingIndex

#: Pairs compared with the library's own prediction, and the largest difference allowed.
CHECKED_PAIRS = 300
CHECK_TOLERANCE = 1e-6


def _check_against(scores: np.ndarray, predict, users, movies, random_state: int) -> None:
    """Refuse ``scores`` unless it equals ``predict(rows, cols)`` (the library's predictions
    of those pairs) on random pairs of the users and movies the library was trained on
    (elsewhere the fallback baseline answers)."""
    rng = np.random.default_rng(random_state)
    rows = rng.choice(users, size=CHECKED_PAIRS)
    cols = rng.choice(movies, size=CHECKED_PAIRS)
    expected = np.asarray(predict(rows, cols), dtype=float)
    worst = float(np.max(np.abs(scores[rows, cols] - expected)))
    if worst > CHECK_TOLERANCE:
        raise RuntimeError(f"the dense predictions differ from the library's own by up to "
                           f"{worst:.3g} (allowed {CHECK_TOLERANCE:g}): the formula used for "
                           "the dense matrix does not match this library version; pin the "
                           "version of lab/peers/requirements.txt.")


def _positions(train: pd.DataFrame, index: RatingIndex) -> pd.DataFrame:
    """The ratings with users and movies as their row and column in ``index``."""
    rows, cols = index.cells(train)
    return pd.DataFrame({"row": rows, "col": cols, "rating": train["rating"].to_numpy(float)})


# --- Surprise ---------------------------------------------------------------------------

def _surprise_fit(algorithm, train: pd.DataFrame, index: RatingIndex):
    from surprise import Dataset, Reader

    data = Dataset.load_from_df(_positions(train, index), Reader(rating_scale=(1, 5)))
    trainset = data.build_full_trainset()
    algorithm.fit(trainset)
    users = np.array([trainset.to_raw_uid(u) for u in range(trainset.n_users)])
    movies = np.array([trainset.to_raw_iid(i) for i in range(trainset.n_items)])
    return trainset, users, movies


def _surprise_baseline(trainset, users, movies, shape, bu, bi) -> np.ndarray:
    """``mean + b_u + b_i`` on every cell, as Surprise predicts unknown users or movies."""
    scores = np.full(shape, trainset.global_mean)
    scores[users, :] += np.asarray(bu)[:, None]
    scores[:, movies] += np.asarray(bi)[None, :]
    return scores


def _surprise_predictor(algorithm):
    return lambda rows, cols: [algorithm.predict(r, c, clip=False).est for r, c in zip(rows, cols)]


def _svdpp(train, index, n_factors, n_epochs, reg_all, random_state):
    """SVD++ (Koren 2008) fitted by Surprise's SGD."""
    from surprise import SVDpp

    algorithm = SVDpp(n_factors=n_factors, n_epochs=n_epochs, reg_all=reg_all,
                      random_state=random_state, cache_ratings=True)
    trainset, users, movies = _surprise_fit(algorithm, train, index)
    scores = _surprise_baseline(trainset, users, movies, index.shape,
                                algorithm.bu, algorithm.bi)
    rated = [[j for j, _ in trainset.ur[u]] for u in range(trainset.n_users)]
    implicit = np.array([algorithm.yj[items].sum(axis=0) / np.sqrt(len(items)) for items in rated])
    scores[np.ix_(users, movies)] += (algorithm.pu + implicit) @ algorithm.qi.T
    _check_against(scores, _surprise_predictor(algorithm), users, movies, random_state)
    return scores


def _surprise_nmf(train, index, n_factors, n_epochs, reg, random_state):
    """Surprise's NMF: non-negative factors of the observed ratings (Luo et al. 2014).
    Surprise calls its solver SGD, but each epoch is one batch multiplicative update of
    the users' and the movies' factors, both computed in one pass over the ratings (ours
    updates H, then Z with the new H), with a count-scaled L2 penalty as in our
    ``nmf_masked``; no biases here."""
    from surprise import NMF

    algorithm = NMF(n_factors=n_factors, n_epochs=n_epochs, reg_pu=reg, reg_qi=reg,
                    random_state=random_state)
    trainset, users, movies = _surprise_fit(algorithm, train, index)
    scores = np.zeros(index.shape)
    scores[np.ix_(users, movies)] = algorithm.pu @ algorithm.qi.T
    _check_against(scores, _surprise_predictor(algorithm), users, movies, random_state)
    return scores


def knn_votes(similarity: np.ndarray, residual: np.ndarray, k: int) -> np.ndarray:
    """What the neighbours add to the baseline of one user, for every movie at once.

    For movie i, Surprise's ``KNNBaseline`` takes the ``k`` movies the user rated that
    are most similar to i (``similarity[i]``, one column per rated movie); those with a
    positive similarity vote with their residual from the baseline, weighted by it:
    ``sum(sim * residual) / sum(sim)``, or 0 when none is positive.
    """
    if similarity.shape[1] > k:
        keep = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        similarity = np.take_along_axis(similarity, keep, axis=1)
        residual = residual[keep]
    weight = np.maximum(similarity, 0.0)
    total = weight.sum(axis=1)
    return np.divide((weight * residual).sum(axis=1), total, out=np.zeros_like(total),
                     where=total > 0)


def _knn_baseline(train, index, k, shrinkage, random_state):
    """Item-based kNN on baseline residuals, Pearson-baseline similarity (Koren 2010)."""
    from surprise import KNNBaseline

    algorithm = KNNBaseline(k=k, sim_options={"name": "pearson_baseline", "user_based": False,
                                              "shrinkage": shrinkage}, verbose=False)
    trainset, users, movies = _surprise_fit(algorithm, train, index)
    bu, bi = algorithm.bu, algorithm.bi
    mean = trainset.global_mean
    scores = _surprise_baseline(trainset, users, movies, index.shape, bu, bi)
    similarity = np.asarray(algorithm.sim)
    for u in range(trainset.n_users):
        items, ratings = map(np.array, zip(*trainset.ur[u]))
        residual = ratings - (mean + bu[u] + bi[items])
        scores[users[u], movies] += knn_votes(similarity[:, items], residual, k)
    _check_against(scores, _surprise_predictor(algorithm), users, movies, random_state)
    return scores


# --- implicit and cornac: who rated what ------------------------------------------------

def _implicit_als(train, index, factors, regularization, alpha, iterations, random_state):
    """Weighted ALS on the 0/1 matrix of who rated what, by the implicit library (conjugate
    gradient), with the confidence of Hu, Koren & Volinsky (2008): ``1 + alpha`` at a rated
    cell, 1 elsewhere, as in :func:`factorizations.implicit_nnls_als`.  (implicit reads the
    matrix it is given as the confidences and multiplies it by its own ``alpha``, so it is
    handed ``1 + alpha`` at the rated cells and ``alpha=1``.)"""
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=1.0,
                                    iterations=iterations, random_state=random_state,
                                    num_threads=1)
    confidence = (index.sparse(train) != 0).astype(np.float32).tocsr() * np.float32(1 + alpha)
    model.fit(confidence, show_progress=False)
    return np.asarray(model.user_factors, float) @ np.asarray(model.item_factors, float).T


def _bpr(train, index, k, max_iter, learning_rate, lambda_reg, random_state):
    """Bayesian personalized ranking (Rendle et al. 2009): SGD on pairs (rated, not rated),
    by cornac."""
    import cornac

    positions = _positions(train, index)
    triples = list(zip(positions["row"], positions["col"], positions["rating"]))
    data = cornac.data.Dataset.from_uir(triples, seed=random_state)
    model = cornac.models.BPR(k=k, max_iter=max_iter, learning_rate=learning_rate,
                              lambda_reg=lambda_reg, num_threads=1, seed=random_state)
    model.fit(data)
    users = np.array(list(data.uid_map.keys()))[list(data.uid_map.values())]
    movies = np.array(list(data.iid_map.keys()))[list(data.iid_map.values())]
    known = model.u_factors @ model.i_factors.T + model.i_biases
    scores = np.full(index.shape, known.min() - 1.0)    # movies nobody rated in training: last
    scores[np.ix_(users, movies)] = known
    return scores


# --- myFM: a Bayesian factorization machine ---------------------------------------------

def side_features(rows, cols, n_own: int, n_other: int, implicit: bool):
    """Feature matrix of one side (users or movies): its one-hot identity, plus, when
    ``implicit``, the other side it co-occurs with, each row scaled to unit norm."""

    identity = sp.identity(n_own, format="csr")
    if not implicit:
        return identity
    seen = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_own, n_other))
    counts = np.maximum(np.asarray(seen.sum(axis=1)).ravel(), 1.0)
    return sp.hstack([identity, sp.diags(1 / np.sqrt(counts)) @ seen], format="csr")


def fm_scores(users, movies, w0: float, w: np.ndarray, V: np.ndarray) -> np.ndarray:
    """A factorization machine's prediction for every (user, movie) pair at once.

    The features of a pair are those of its user (a row of ``users``) followed by those of
    its movie (a row of ``movies``); ``w`` and ``V`` hold the weights and factor vectors of
    all features in that order.  For a feature vector x the machine predicts
    ``w0 + w.x + sum_{a<b} <v_a, v_b> x_a x_b`` (Rendle 2010); with x = (f, g) the pairwise
    sum splits into the terms within f, those within g, and ``<V_f' f, V_g' g>``, and the
    terms within x are ``(|V'x|^2 - sum_a x_a^2 |v_a|^2) / 2``.
    """
    split = users.shape[1]
    sides = []
    for features, w_side, V_side in ((users, w[:split], V[:split]),
                                     (movies, w[split:], V[split:])):
        embedded = features @ V_side
        within = ((embedded ** 2).sum(axis=1)
                  - features.multiply(features) @ (V_side ** 2).sum(axis=1)) / 2
        sides.append((embedded, features @ w_side + within))
    (user_vectors, user_terms), (movie_vectors, movie_terms) = sides
    return w0 + user_terms[:, None] + movie_terms[None, :] + user_vectors @ movie_vectors.T


def _bayesian_fm(train, index, rank, n_iter, implicit, random_state):
    """Bayesian factorization machine sampled by Gibbs (Rendle 2013), by myFM: features are
    the user and the movie (and, with ``implicit``, the movies the user rated and the users
    who rated the movie, as in SVD++); the prediction is the mean over the kept samples."""
    import myfm

    rows, cols = index.cells(train)
    n_users, n_movies = index.shape
    users = side_features(rows, cols, n_users, n_movies, implicit)
    movies = side_features(cols, rows, n_movies, n_users, implicit)
    blocks = [myfm.RelationBlock(rows, users), myfm.RelationBlock(cols, movies)]

    # one prior per group of features: user, movie (and the two implicit groups)
    groups = [n_users, n_movies] if not implicit else [n_users, n_movies, n_movies, n_users]
    model = myfm.MyFMRegressor(rank=rank, random_seed=random_state)
    with contextlib.redirect_stderr(io.StringIO()):       # myFM's progress bar
        model.fit(sp.csr_matrix((len(rows), 0)), train["rating"].to_numpy(float), X_rel=blocks,
                  n_iter=n_iter, group_shapes=groups)
    samples = model.predictor_.samples
    scores = sum(fm_scores(users, movies, s.w0, np.asarray(s.w), np.asarray(s.V)) for s in samples)
    scores /= len(samples)

    def predict(pair_rows, pair_cols):
        pairs = [myfm.RelationBlock(pair_rows, users), myfm.RelationBlock(pair_cols, movies)]
        return model.predict(sp.csr_matrix((len(pair_rows), 0)), pairs)

    _check_against(scores, predict, np.unique(rows), np.unique(cols), random_state)
    return scores


PEERS: dict[str, ModelSpec] = {
    "surprise_svdpp": ModelSpec(
        param_grid(n_factors=20, n_epochs=20, reg_all=[0.02, 0.05], random_state=0),
        "rmse", False, "SVD++: biases, factors and implicit feedback, SGD (Koren 2008)",
        score=_svdpp, library=library_version("scikit-surprise")),
    "surprise_knn_baseline": ModelSpec(
        param_grid(k=[20, 40], shrinkage=100, random_state=0),
        "rmse", False, "item kNN on baseline residuals, Pearson-baseline similarity (Koren 2010)",
        score=_knn_baseline, library=library_version("scikit-surprise")),
    "surprise_nmf": ModelSpec(
        param_grid(n_factors=[50, 100], n_epochs=500, reg=[0.1, 0.15], random_state=0),
        "rmse", True, "non-negative factors of the observed ratings, multiplicative updates "
        "(Luo et al. 2014)", score=_surprise_nmf, library=library_version("scikit-surprise")),
    "myfm_bfm": ModelSpec(
        param_grid(rank=[10, 20], n_iter=200, implicit=False, random_state=0),
        "rmse", False, "Bayesian factorization machine, Gibbs sampling, user + movie (Rendle 2013)",
        score=_bayesian_fm, library=library_version("myfm")),
    "myfm_bfm_implicit": ModelSpec(
        param_grid(rank=[10, 20], n_iter=200, implicit=True, random_state=0),
        "rmse", False, "the same, plus who rated what as features (implicit feedback)",
        score=_bayesian_fm, library=library_version("myfm")),
    "implicit_als": ModelSpec(
        param_grid(factors=[32, 64], regularization=[10.0, 50.0], alpha=[0.0, 4.0], iterations=15,
                   random_state=0),
        "precision_at_10", False, "weighted ALS on who rated what (Hu, Koren & Volinsky 2008)",
        score=_implicit_als, predicts_ratings=False, library=library_version("implicit")),
    "cornac_bpr": ModelSpec(
        param_grid(k=[50, 100], max_iter=500, learning_rate=0.01, lambda_reg=0.01,
                   random_state=0),
        "precision_at_10", False, "Bayesian personalized ranking (Rendle et al. 2009)",
        score=_bpr, predicts_ratings=False, library=library_version("cornac")),
}
