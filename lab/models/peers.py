"""Other libraries' recommenders as models of :data:`lab.models.REGISTRY`.

Each class of :data:`PEERS` is a :class:`lab.interface.Model` whose ``_fit`` fits a
library's model on the training ratings and keeps the dense (n_users, n_movies) matrix of
its predictions, so that the validation search, the refit, the metrics and the cold-start
fallback are exactly those of our own models.

The libraries are imported inside the methods: this module loads in every environment
(the report needs the labels, the tests the rules and grids, :data:`lab.models.REGISTRY`
the keys and their environment), while the models fit only in their ``environment``,
``.venv-peers`` (``make peers``), made from ``requirements-peers.txt``; there
:mod:`lab.models` registers them.

Where a library predicts one pair at a time, the dense matrix is computed from its fitted
parameters with the library's own formula.  Every peer's fit compares that matrix with the
library's own prediction (:meth:`Peer.library_predict`, by :meth:`Peer.checked`) on a few
hundred pairs, before it is used.  Two peers fold in a new
user with their library's own mechanism (``implicit_als``:
implicit's solve of one user's factors, ``myfm_bfm_implicit``: myFM's prediction for a user
known only by the movies they rated); the other five raise NotImplementedError, their
libraries having none.
"""

from __future__ import annotations

import contextlib
import io
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lab.base import DenseScores, cells_from_rows, row_counts
from lab.rules import PENALTY, RANK, SEED, integer, real
from lab.interface import Model, integer_seed, library_version
from lab.ratings import RatingIndex
from recommender import RATING_SCALE

#: Pairs compared with the library's own prediction.
CHECKED_PAIRS = 300

__all__ = ["PEERS", "Peer", "SurpriseSVDpp", "SurpriseKNNBaseline", "SurpriseNMF", "ImplicitALS",
           "MyFMBayesianFM", "MyFMBayesianFMImplicit", "CornacBPR", "knn_votes",
           "side_features", "unit_rows", "fm_scores"]


def _positions(train: pd.DataFrame, index: RatingIndex) -> pd.DataFrame:
    """The ratings with users and movies as their row and column in ``index``."""
    rows, cols, values = index.triples(train, checked=True)        # the model's fit checked them
    return pd.DataFrame({"row": rows, "col": cols, "rating": values})


#: The virtual environment that installs the peers' libraries (``make peers``).
ENVIRONMENT = ".venv-peers"


#: The check's tolerance for a library that computes in float32 (implicit, cornac): the
#: first ``make peers`` stopped at 1.43e-6 on implicit's ALS with the default 1e-6.
FLOAT32_TOLERANCE = 1e-5


class Peer(Model):
    """A library's model: ``_dense()`` fits it on ``self.ratings_`` (its seed ``self.seed_``,
    from ``random_state`` by :func:`lab.interface.integer_seed`) and returns its score of
    every (user, movie) of ``self.index_``; ``library_predict(rows, cols)`` is the library's
    own prediction of those cells, for the pairs it was trained on (:meth:`trained_on`).
    A subclass names the module of its library in ``needs``."""

    environment = ENVIRONMENT
    #: The largest difference allowed between the dense matrix and the library's prediction:
    #: float64 rounding; a library computing in float32 (implicit, cornac) allows more.
    check_tolerance: ClassVar[float] = 1e-6

    def _fit(self):
        self.seed_ = integer_seed(self.params["random_state"])
        self.result_ = DenseScores(self.checked(self._dense()))

    def checked(self, scores: np.ndarray) -> np.ndarray:
        """``scores``, unless it differs from :meth:`library_predict` on random pairs of the
        users and movies with training ratings (the others get the fallback baseline)."""
        rng = np.random.default_rng(self.seed_)
        rows = rng.choice(np.flatnonzero(self._user_counts), size=CHECKED_PAIRS)
        cols = rng.choice(np.flatnonzero(self._movie_counts), size=CHECKED_PAIRS)
        worst = float(np.max(np.abs(scores[rows, cols] - self.library_predict(rows, cols))))
        if worst > self.check_tolerance:
            raise RuntimeError(f"the dense predictions differ from the library's own by up to "
                               f"{worst:.3g} (allowed {self.check_tolerance:g}): the formula "
                               "used for the dense matrix does not match this library "
                               "version; install the version pinned in requirements-peers.txt.")
        return scores

    def _dense(self) -> np.ndarray:
        raise NotImplementedError

    def library_predict(self, rows, cols) -> np.ndarray:
        raise NotImplementedError


# --- Surprise ---------------------------------------------------------------------------

class SurprisePeer(Peer):
    """A model of Surprise, fitted on the ratings with the index's positions as raw ids.
    Surprise has no fold-in: it predicts an unknown user by the baseline alone, whatever
    they rated; ``fold_in`` raises NotImplementedError."""

    library, needs = library_version("scikit-surprise"), ("surprise",)

    def _surprise_fit(self, algorithm) -> None:
        from surprise import Dataset, Reader

        data = Dataset.load_from_df(_positions(self.ratings_, self.index_),
                                    Reader(rating_scale=RATING_SCALE))
        self.trainset_ = trainset = data.build_full_trainset()
        self.algorithm_ = algorithm
        algorithm.fit(trainset)
        self.users_ = np.array([trainset.to_raw_uid(u) for u in range(trainset.n_users)])
        self.movies_ = np.array([trainset.to_raw_iid(i) for i in range(trainset.n_items)])

    def _baseline(self, bu, bi) -> np.ndarray:
        """``mean + b_u + b_i`` on every cell, as Surprise predicts unknown users or movies."""
        scores = np.full(self.index_.shape, self.trainset_.global_mean)
        scores[self.users_, :] += np.asarray(bu)[:, None]
        scores[:, self.movies_] += np.asarray(bi)[None, :]
        return scores

    def library_predict(self, rows, cols):
        return np.array([self.algorithm_.predict(r, c, clip=False).est
                         for r, c in zip(rows, cols)])


class SurpriseSVDpp(SurprisePeer):
    """SVD++ (Koren 2008) fitted by Surprise's SGD.  No fold-in (see :class:`SurprisePeer`)."""

    key, label = "surprise_svdpp", "SVD++: biases, factors and implicit feedback, SGD (Koren 2008)"
    defaults = {"n_factors": 20, "n_epochs": 20, "reg_all": 0.02, "random_state": 0}
    rules = {"n_factors": RANK, "n_epochs": integer(1), "reg_all": PENALTY,
             "random_state": SEED}
    grid = {"n_factors": [20], "n_epochs": [20], "reg_all": [0.02, 0.05], "random_state": [0]}

    def _dense(self):
        from surprise import SVDpp

        p = self.params
        algorithm = SVDpp(n_factors=p["n_factors"], n_epochs=p["n_epochs"],
                          reg_all=p["reg_all"], random_state=self.seed_,
                          cache_ratings=True)
        self._surprise_fit(algorithm)
        trainset = self.trainset_
        scores = self._baseline(algorithm.bu, algorithm.bi)
        rated = [[j for j, _ in trainset.ur[u]] for u in range(trainset.n_users)]
        implicit = np.array([algorithm.yj[items].sum(axis=0) / np.sqrt(len(items))
                             for items in rated])
        scores[np.ix_(self.users_, self.movies_)] += (algorithm.pu + implicit) @ algorithm.qi.T
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


class SurpriseKNNBaseline(SurprisePeer):
    """Item-based kNN on baseline residuals, Pearson-baseline similarity (Koren 2010), by
    Surprise.  ``random_state`` only seeds the check against Surprise's ``predict`` (the
    fit is deterministic).  No fold-in (see :class:`SurprisePeer`)."""

    key = "surprise_knn_baseline"
    label = "item kNN on baseline residuals, Pearson-baseline similarity (Koren 2010)"
    defaults = {"k": 20, "shrinkage": 100, "random_state": 0}
    rules = {"k": integer(1), "shrinkage": integer(0), "random_state": SEED}
    grid = {"k": [20, 40], "shrinkage": [100], "random_state": [0]}

    def _dense(self):
        from surprise import KNNBaseline

        k = self.params["k"]
        algorithm = KNNBaseline(k=k, sim_options={"name": "pearson_baseline",
                                                  "user_based": False,
                                                  "shrinkage": self.params["shrinkage"]},
                                verbose=False)
        self._surprise_fit(algorithm)
        trainset = self.trainset_
        bu, bi = algorithm.bu, algorithm.bi
        mean = trainset.global_mean
        scores = self._baseline(bu, bi)
        similarity = np.asarray(algorithm.sim)
        for u in range(trainset.n_users):
            items, ratings = map(np.array, zip(*trainset.ur[u]))
            residual = ratings - (mean + bu[u] + bi[items])
            scores[self.users_[u], self.movies_] += knn_votes(similarity[:, items], residual, k)
        return scores


class SurpriseNMF(SurprisePeer):
    """Surprise's NMF: non-negative factors of the observed ratings (Luo et al. 2014).
    Surprise calls its solver SGD, but each epoch is one batch multiplicative update of
    the users' and the movies' factors, both computed in one pass over the ratings (ours
    updates H, then Z with the new H), with a count-scaled L2 penalty as in our
    ``nmf_masked``; no biases here.  No fold-in (see :class:`SurprisePeer`)."""

    key = "surprise_nmf"
    label = ("non-negative factors of the observed ratings, multiplicative updates "
             "(Luo et al. 2014)")
    non_negative = True
    defaults = {"n_factors": 50, "n_epochs": 500, "reg": 0.1, "random_state": 0}
    rules = {"n_factors": RANK, "n_epochs": integer(1), "reg": PENALTY,
             "random_state": SEED}
    grid = {"n_factors": [50, 100], "n_epochs": [500], "reg": [0.1, 0.15], "random_state": [0]}

    def _dense(self):
        from surprise import NMF

        p = self.params
        algorithm = NMF(n_factors=p["n_factors"], n_epochs=p["n_epochs"], reg_pu=p["reg"],
                        reg_qi=p["reg"], random_state=self.seed_)
        self._surprise_fit(algorithm)
        scores = np.zeros(self.index_.shape)
        scores[np.ix_(self.users_, self.movies_)] = algorithm.pu @ algorithm.qi.T
        return scores


# --- implicit and cornac: who rated what ------------------------------------------------

class ImplicitALS(Peer):
    """Weighted ALS on the 0/1 matrix of who rated what, by the implicit library (conjugate
    gradient), with the confidence of Hu, Koren & Volinsky (2008): ``1 + alpha`` at a rated
    cell, 1 elsewhere, as in our ``implicit_nnls_als``.  (implicit reads the matrix it is
    given as the confidences and multiplies it by its own ``alpha``, so it is handed
    ``1 + alpha`` at the rated cells and ``alpha=1``.)  It ranks; it predicts no rating.

    A new user is folded in by implicit's own ``recalculate_user``: their factors solved
    exactly with the movies' factors fixed, from the confidences of the movies they rated
    (the stars do not enter, as in the fit)."""

    key, label = "implicit_als", "weighted ALS on who rated what (Hu, Koren & Volinsky 2008)"
    library, needs = library_version("implicit"), ("implicit",)
    check_tolerance = FLOAT32_TOLERANCE
    predicts_ratings, select_by = False, "precision"
    defaults = {"factors": 32, "regularization": 10.0, "alpha": 0.0, "iterations": 15,
                "random_state": 0}
    rules = {"factors": RANK, "regularization": PENALTY, "alpha": real(0.0),
             "iterations": integer(1), "random_state": SEED}
    grid = {"factors": [32, 64], "regularization": [10.0, 50.0], "alpha": [0.0, 4.0],
            "iterations": [15], "random_state": [0]}

    def _confidence(self, who_rated) -> sp.csr_matrix:
        return who_rated.astype(np.float32).tocsr() * np.float32(1 + self.params["alpha"])

    def _dense(self):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        self.model_ = AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"], alpha=1.0,
            iterations=p["iterations"], random_state=self.seed_, num_threads=1)
        self.confidence_ = self._confidence(self.who_rated_)
        self.model_.fit(self.confidence_, show_progress=False)
        return (np.asarray(self.model_.user_factors, float)
                @ np.asarray(self.model_.item_factors, float).T)

    def library_predict(self, rows, cols):
        """implicit's ``recommend`` of every movie (nothing filtered), read at the cells."""
        return cells_from_rows(self._recommended, rows, cols)

    def _recommended(self, users):
        """implicit's score of every movie for each of ``users``, by its ``recommend``."""
        n_movies = self.index_.shape[1]
        ids, scores = self.model_.recommend(users, self.confidence_[users], N=n_movies,
                                            filter_already_liked_items=False)
        dense = np.empty((len(users), n_movies))
        np.put_along_axis(dense, ids, scores, axis=1)
        return dense

    def _fold_in(self, query):
        row = self.index_.who_rated(query)
        factors = self.model_.recalculate_user(0, self._confidence(row))
        return np.asarray(self.model_.item_factors, float) @ np.asarray(factors, float)


class CornacBPR(Peer):
    """Bayesian personalized ranking (Rendle et al. 2009): SGD on pairs (rated, not rated),
    by cornac.  It ranks; it predicts no rating.  Movies nobody rated in training come
    last.  cornac has no fold-in for BPR (a user outside the training data has no
    factors); ``fold_in`` raises NotImplementedError."""

    key, label = "cornac_bpr", "Bayesian personalized ranking (Rendle et al. 2009)"
    library, needs = library_version("cornac"), ("cornac",)
    check_tolerance = FLOAT32_TOLERANCE
    predicts_ratings, select_by = False, "precision"
    defaults = {"k": 50, "max_iter": 500, "learning_rate": 0.01, "lambda_reg": 0.01,
                "random_state": 0}
    rules = {"k": RANK, "max_iter": integer(1), "learning_rate": real(0.0, strict=True),
             "lambda_reg": PENALTY, "random_state": SEED}
    grid = {"k": [50, 100], "max_iter": [500], "learning_rate": [0.01], "lambda_reg": [0.01],
            "random_state": [0]}

    def _dense(self):
        import cornac

        p = self.params
        positions = _positions(self.ratings_, self.index_)
        triples = list(zip(positions["row"], positions["col"], positions["rating"]))
        self.dataset_ = data = cornac.data.Dataset.from_uir(triples, seed=self.seed_)
        self.model_ = model = cornac.models.BPR(
            k=p["k"], max_iter=p["max_iter"], learning_rate=p["learning_rate"],
            lambda_reg=p["lambda_reg"], num_threads=1, seed=self.seed_)
        model.fit(data)
        self.users_ = np.array(list(data.uid_map.keys()))[list(data.uid_map.values())]
        self.movies_ = np.array(list(data.iid_map.keys()))[list(data.iid_map.values())]
        known = model.u_factors @ model.i_factors.T + model.i_biases
        scores = np.full(self.index_.shape, known.min() - 1.0)
        scores[np.ix_(self.users_, self.movies_)] = known
        return scores

    def library_predict(self, rows, cols):
        """cornac's ``score(user, item)``, pair by pair."""
        uid, iid = self.dataset_.uid_map, self.dataset_.iid_map
        return np.array([self.model_.score(uid[r], iid[c]) for r, c in zip(rows, cols)],
                        dtype=float)


# --- myFM: a Bayesian factorization machine ---------------------------------------------

def side_features(who_rated, implicit: bool):
    """Feature matrix of one side (users, or movies given the transpose): its one-hot
    identity, plus, when ``implicit``, the other side it co-occurs with (``who_rated``, a
    who-rated-what matrix of ones), each row scaled to unit norm."""
    identity = sp.identity(who_rated.shape[0], format="csr")
    if not implicit:
        return identity
    return sp.hstack([identity, unit_rows(who_rated)], format="csr")


def unit_rows(who_rated) -> sp.csr_matrix:
    """Each row of a who-rated-what matrix scaled to unit norm (a row without cells stays
    empty): myFM's implicit features."""
    counts = np.maximum(row_counts(who_rated.indptr), 1.0)
    return sp.diags(1 / np.sqrt(counts)) @ who_rated


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


class MyFMBayesianFM(Peer):
    """Bayesian factorization machine sampled by Gibbs (Rendle 2013), by myFM: features are
    the user and the movie (and, with ``implicit``, the movies the user rated and the users
    who rated the movie, as in SVD++); the prediction is the mean over the kept samples.

    Without ``implicit`` a new user's features would be empty, whatever they rated: no
    fold-in, ``fold_in`` raises NotImplementedError."""

    key = "myfm_bfm"
    label = "Bayesian factorization machine, Gibbs sampling, user + movie (Rendle 2013)"
    library, needs = library_version("myfm"), ("myfm",)
    #: Add who rated what as features (the key ``myfm_bfm_implicit``).
    implicit: ClassVar[bool] = False
    # n_sweeps: myFM's n_iter, its Gibbs sweeps (at least one; the lab's n_iter allows 0)
    defaults = {"rank": 10, "n_sweeps": 200, "random_state": 0}
    rules = {"rank": RANK, "n_sweeps": integer(1), "random_state": SEED}
    grid = {"rank": [10, 20], "n_sweeps": [200], "random_state": [0]}

    def _dense(self):
        import myfm

        p = self.params
        rows, cols, values = self.index_.triples(self.ratings_, checked=True)   # fit checked
        n_users, n_movies = self.index_.shape
        who_rated = self.who_rated_
        self.users_features_ = users = side_features(who_rated, self.implicit)
        self.movies_features_ = movies = side_features(who_rated.T.tocsr(), self.implicit)
        blocks = [myfm.RelationBlock(rows, users), myfm.RelationBlock(cols, movies)]
        # one prior per group of features: user, movie (and the two implicit groups)
        groups = ([n_users, n_movies] if not self.implicit
                  else [n_users, n_movies, n_movies, n_users])
        self.model_ = model = myfm.MyFMRegressor(rank=p["rank"], random_seed=self.seed_)
        with contextlib.redirect_stderr(io.StringIO()):       # myFM's progress bar
            model.fit(sp.csr_matrix((len(rows), 0)), values,
                      X_rel=blocks, n_iter=p["n_sweeps"], group_shapes=groups)
        samples = model.predictor_.samples
        scores = sum(fm_scores(users, movies, s.w0, np.asarray(s.w), np.asarray(s.V))
                     for s in samples)
        scores /= len(samples)
        return scores

    def library_predict(self, rows, cols):
        """myFM's ``predict`` of those (user, movie) pairs: the posterior predictive mean."""
        import myfm

        rows, cols = np.asarray(rows), np.asarray(cols)
        pairs = [myfm.RelationBlock(rows, self.users_features_),
                 myfm.RelationBlock(cols, self.movies_features_)]
        return self.model_.predict(sp.csr_matrix((len(rows), 0)), pairs)


class MyFMBayesianFMImplicit(MyFMBayesianFM):
    """:class:`MyFMBayesianFM` with who rated what as features (implicit feedback).

    A new user is folded in by myFM's own ``predict``: a user known only by the movies
    they rated (no identity feature; the rated movies, scaled to unit norm, as in the fit)
    against every movie's features, the posterior mean over the kept samples.  The stars
    of the query do not enter: which movies were rated does."""

    key = "myfm_bfm_implicit"
    label = ("Bayesian factorization machine, Gibbs sampling, user + movie + who rated what "
             "(Rendle 2013)")
    implicit = True

    def _fold_in(self, query):
        import myfm

        n_users, n_movies = self.index_.shape
        seen = unit_rows(self.index_.who_rated(query))
        user = sp.hstack([sp.csr_matrix((1, n_users)), seen], format="csr")
        blocks = [myfm.RelationBlock(np.zeros(n_movies, dtype=np.intp), user),
                  myfm.RelationBlock(np.arange(n_movies), self.movies_features_)]
        return np.asarray(self.model_.predict(sp.csr_matrix((n_movies, 0)), blocks), float)


#: The peers, in the order of the report.
PEERS = [SurpriseSVDpp, SurpriseKNNBaseline, SurpriseNMF, MyFMBayesianFM,
         MyFMBayesianFMImplicit, ImplicitALS, CornacBPR]
