"""Our models: the exercise's MU NMF under its fills, the other factorizations, baselines.

Every class is a :class:`lab.interface.Model`; :data:`lab.models.REGISTRY` lists them.
A factorization model (:class:`FactorizationModel`) fits one function of
:mod:`lab.factorizations` or :func:`lab.nmf.non_negative` to the rating matrix its ``fill``
describes, and folds a new user in with that function's own row update (``fold_into``):
the query becomes a row filled as the training matrix was.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

from lab.base import ITERATIONS, PENALTY, RANK, SEED, integer, real
from lab import factorizations
from lab.interface import Model, library_version
from lab.nmf import non_negative
from lab.ratings import RATING_SCALE


# --- baselines --------------------------------------------------------------------------------

class GlobalMean(Model):
    """Every prediction is the mean training rating."""

    key, label = "global_mean", "global mean"

    def _fit(self, ratings):
        self.mean_ = float(ratings["rating"].mean())

    def _score_rows(self, rows):
        return np.full((len(rows), self.index_.shape[1]), self.mean_)

    def _fold_in(self, query):
        return np.full(self.index_.shape[1], self.mean_)


class Biases(Model):
    """Mean + a user bias + a movie bias (:func:`lab.factorizations.biases`)."""

    key, label = "biases", "user + movie biases"
    defaults = {"bias_l2": 10.0}
    rules = {"bias_l2": PENALTY}
    grid = {"bias_l2": [5.0, 15.0]}

    def _fit(self, ratings):
        self.result_ = factorizations.biases(self._rated, **self.params)
        self.losses_ = self.result_.losses

    def _score_rows(self, rows):
        r = self.result_
        return r.mu + r.user_bias[rows, None] + r.item_bias[None, :]

    def _fold_in(self, query):
        new = factorizations.biases(self.index_.query_row(query, self.ratings_, None),
                                    fold_into=self.result_, **self.params)
        return new.reconstruction()[0]


class Popularity(Model):
    """The most-rated movies first, for everyone (it ranks; it predicts no rating)."""

    key, label = "popularity", "popularity (most-rated first)"
    predicts_ratings, select_by = False, "precision"

    def _fit(self, ratings):
        self.counts_ = np.asarray((self._rated != 0).sum(axis=0), dtype=float).ravel()

    def _score_rows(self, rows):
        return np.broadcast_to(self.counts_, (len(rows), self.counts_.size)).copy()

    def _fold_in(self, query):
        return self.counts_.copy()


class EASE(Model):
    """EASE (Steck 2019): item-item weights ``B = argmin ||X - X B||^2 + l2 ||B||^2`` with
    ``diag(B) = 0``, in closed form, on the 0/1 matrix X of who rated what; scores ``X B``."""

    key, label = "ease", "EASE, closed form (Steck 2019)"
    predicts_ratings, select_by = False, "precision"
    defaults = {"l2": 400.0}
    rules = {"l2": PENALTY}
    grid = {"l2": [200.0, 400.0, 800.0]}

    def _fit(self, ratings):
        X = (self._rated != 0).astype(float)
        gram = (X.T @ X).toarray()
        gram[np.diag_indices_from(gram)] += self.params["l2"]
        inverse = np.linalg.inv(gram)
        self.weights_ = -inverse / np.diag(inverse)
        np.fill_diagonal(self.weights_, 0.0)
        self.who_rated_ = X

    def _score_rows(self, rows):
        return np.asarray(self.who_rated_[rows] @ self.weights_)

    def _fold_in(self, query):
        row = np.zeros(self.index_.shape[1])
        row[self.index_.movie_positions(list(query))] = 1.0
        return row @ self.weights_


class ScikitLearnNMF(Model):
    """scikit-learn's NMF (coordinate descent from NNDSVDa) on the zero-filled matrix."""

    key, label = "sklearn_nmf", "scikit-learn NMF, zero fill"
    library, non_negative, select_by = library_version("scikit-learn"), True, "precision"
    defaults = {"num_components": 20, "max_iter": 400, "random_state": 0}
    rules = {"num_components": RANK, "max_iter": integer(1), "random_state": SEED}
    grid = {"num_components": [10, 20], "max_iter": [400], "random_state": [0]}

    def _fit(self, ratings):
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning
        p = self.params
        self.model_ = NMF(n_components=p["num_components"], init="nndsvda",
                          max_iter=p["max_iter"], random_state=p["random_state"])
        with warnings.catch_warnings():
            # max_iter is a budget chosen on validation data, so stopping at it is intended
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.W_ = self.model_.fit_transform(self._rated)

    def _score_rows(self, rows):
        return self.W_[rows] @ self.model_.components_

    def _fold_in(self, query):
        row = self.index_.query_row(query, self.ratings_, 0)
        return (self.model_.transform(row) @ self.model_.components_)[0]


# --- factorizations ---------------------------------------------------------------------------

class FactorizationModel(Model):
    """A factorization fitted to the rating matrix that ``fill`` describes: a number or
    "global_mean" / "movie_mean" / "user_mean" (every cell observed, as the exercise's
    ``rat_df``), or None (the observed ratings only, ``mask="observed"``)."""

    fill: ClassVar = None

    def factorize(self, data, **options):
        raise NotImplementedError

    def _matrix(self, ratings):
        if self.fill is None:
            return self._rated, "observed"
        return self.index_.filled(ratings, self.fill), None

    def _fit(self, ratings):
        data, mask = self._matrix(ratings)
        self.result_ = self.factorize(data, mask=mask, **self.params)
        self.losses_ = self.result_.losses

    def _score_rows(self, rows):
        return self._scores_of(self.result_, rows)

    def _predict_cells(self, rows, cols):
        r = self.result_
        values = factorizations.predict_cells(r.Z, r.H, rows, cols)
        if hasattr(r, "user_bias"):
            values += r.mu + r.user_bias[rows] + r.item_bias[cols]
        return values

    @staticmethod
    def _scores_of(result, rows):
        scores = result.Z[rows] @ result.H
        if hasattr(result, "user_bias"):
            scores += result.mu + result.user_bias[rows, None] + result.item_bias[None, :]
        return scores

    def _fold_in(self, query):
        row = self.index_.query_row(query, self.ratings_, self.fill)
        options = dict(self.params)
        if "random_state" in options and not isinstance(options["random_state"], int):
            options["random_state"] = 0            # the same start for every call
        new = self.factorize(row, mask="observed" if self.fill is None else None,
                             fold_into=self.result_, **options)
        return self._scores_of(new, [0])[0]


_MU_RULES = {"num_components": RANK, "n_iter": ITERATIONS, "random_state": SEED}


class MultiplicativeNMF(FactorizationModel):
    """The exercise's clipped multiplicative updates, :func:`lab.nmf.non_negative`, on the
    matrix ``fill`` describes; on the observed ratings (``fill`` None, :class:`MUObserved`)
    restricted to the rated cells."""

    non_negative = True
    defaults = {"num_components": 20, "n_iter": 500, "random_state": 0}
    rules = _MU_RULES

    def factorize(self, data, **options):
        return non_negative(data, **options)


class MUZeroFill(MultiplicativeNMF):
    """The exercise: multiplicative updates on the zero-filled matrix."""

    key, label, fill, select_by = "nmf_zero", "MU NMF, zero fill (the exercise)", 0, "precision"
    grid = {"num_components": [10, 20, 30], "n_iter": [500], "random_state": [0]}


class MUGlobalMeanFill(MultiplicativeNMF):
    key, label, fill = "nmf_global_mean", "MU NMF, global-mean fill", "global_mean"
    grid = {"num_components": [5, 15], "n_iter": [500], "random_state": [0]}


class MUMovieMeanFill(MultiplicativeNMF):
    key, label, fill = "nmf_movie_mean", "MU NMF, movie-mean fill", "movie_mean"
    grid = {"num_components": [5, 15], "n_iter": [500], "random_state": [0]}


class MUObserved(MultiplicativeNMF):
    """Multiplicative updates on the observed ratings only, with the count-scaled L2."""

    key, label = "nmf_masked", "masked regularized MU NMF"
    defaults = {**MultiplicativeNMF.defaults, "l2": 0.1}
    rules = {**_MU_RULES, "l2": PENALTY}
    grid = {"num_components": [20, 50, 100], "l2": [0.1, 0.15], "n_iter": [500],
            "random_state": [0]}


_ALS_RULES = {"num_components": RANK, "n_iter": ITERATIONS, "random_state": SEED, "l2": PENALTY}


class ALS(FactorizationModel):
    """Regularized ALS on the observed ratings (:func:`lab.factorizations.als`)."""

    key, label = "als", "unconstrained ALS (Zhou et al. 2008)"
    nonnegative: ClassVar[bool] = False
    defaults = {"num_components": 10, "n_iter": 15, "random_state": 0, "l2": 0.1}
    rules = _ALS_RULES
    grid = {"num_components": [5, 10], "l2": [0.08, 0.12], "n_iter": [15], "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.als(data, nonnegative=self.nonnegative, **options)


class NNLSALS(ALS):
    """ALS with Z, H >= 0, each row an exact non-negative least-squares solve."""

    key, label = "nnls_als", "NNLS-ALS (Bro & De Jong 1997)"
    nonnegative = non_negative = True
    defaults = {"num_components": 20, "n_iter": 20, "random_state": 0, "l2": 0.1}
    grid = {"num_components": [10, 20], "l2": [0.1, 0.12, 0.14], "n_iter": [20],
            "random_state": [0]}


class NNLSALSAverage(Model):
    """The mean of ``n_seeds`` NNLS-ALS fits from the seeds ``random_state``, ``+ 1``, ... (an
    integer; a Generator, RandomState or None draws the seeds instead).

    The mean of S non-negative products ``Z_s @ H_s`` is itself one non-negative
    factorization of rank ``S * M``: ``[Z_1 ... Z_S] / S`` times the stacked H.
    """

    key, label = "nnls_als_avg", "NNLS-ALS, mean of five seeds"
    non_negative = True
    defaults = {**NNLSALS.defaults, "n_iter": 12, "n_seeds": 5}
    rules = {**_ALS_RULES, "n_seeds": integer(1)}
    grid = {"num_components": [10, 20], "l2": [0.09, 0.11, 0.13], "n_iter": [12],
            "random_state": [0], "n_seeds": [5]}

    def _fit(self, ratings):
        params = dict(self.params)
        first, n_seeds = params.pop("random_state"), params.pop("n_seeds")
        seeds = (range(first, first + n_seeds) if isinstance(first, int)    # a generator or None:
                 else np.random.default_rng(first).integers(2**31, size=n_seeds).tolist())
        self.members_ = [NNLSALS(random_state=seed, **params).fit(ratings, self.index_)
                         for seed in seeds]

    def _score_rows(self, rows):
        return sum(m._score_rows(rows) for m in self.members_) / len(self.members_)

    def _fold_in(self, query):
        return sum(m._fold_in(query) for m in self.members_) / len(self.members_)


class BiasedNMF(FactorizationModel):
    """Mean + biases + a non-negative interaction
    (:func:`lab.factorizations.biased_non_negative`)."""

    key, label = "biased_nmf", "biased non-negative model (Koren, Bell & Volinsky 2009, factors ≥ 0)"
    non_negative = True
    defaults = {"num_components": 30, "n_iter": 20, "random_state": 0, "l2": 0.08, "bias_l2": 5.0}
    rules = {**_ALS_RULES, "bias_l2": PENALTY}
    grid = {"num_components": [10, 30], "l2": [0.06, 0.08], "bias_l2": [5.0], "n_iter": [20],
            "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.biased_non_negative(data, **options)


class BayesianNMF(Model):
    """The biased non-negative model made Bayesian: the posterior mean by Gibbs sampling
    (:func:`lab.factorizations.bayesian_non_negative`), each sample clipped to the
    rating scale before averaging.  It has no fold-in."""

    key = "bayesian_nmf"
    label = "Bayesian non-negative model, posterior mean (Schmidt, Winther & Hansen 2009)"
    non_negative = True
    defaults = {"num_components": 30, "n_samples": 550, "burn_in": 100, "thin": 2,
                "random_state": 0}
    rules = {"num_components": RANK, "n_samples": integer(1), "burn_in": integer(0),
             "thin": integer(1), "random_state": SEED}
    grid = {"num_components": [30, 45], "n_samples": [550], "burn_in": [100], "thin": [2],
            "random_state": [0]}

    def _fit(self, ratings):
        self.result_ = factorizations.bayesian_non_negative(self._rated, clip=RATING_SCALE,
                                                            **self.params)
        self.losses_ = self.result_.losses

    def _score_rows(self, rows):
        return self.result_.mean[rows]


class SVDZeroFill(FactorizationModel):
    """The rank-k truncated SVD of the zero-filled matrix (PureSVD)."""

    key, label, fill, select_by = "svd_zero", "rank-k SVD, zero fill (PureSVD)", 0, "precision"
    defaults = {"num_components": 15, "random_state": 0}
    rules = {"num_components": RANK, "random_state": SEED}
    grid = {"num_components": [5, 10, 15, 20, 30, 50]}

    def factorize(self, data, **options):
        return factorizations.truncated_svd(data, **options)


class SVDMovieMeanFill(SVDZeroFill):
    key, label, fill, select_by = "svd_movie_mean", "rank-k SVD, movie-mean fill", "movie_mean", "rmse"
    grid = {"num_components": [2, 5, 10]}


class ImplicitNNLSALS(FactorizationModel):
    """Non-negative ALS on who rated what, confidence-weighted (Hu, Koren & Volinsky 2008):
    :func:`lab.factorizations.implicit_nnls_als`.  It ranks; it predicts no rating."""

    key = "implicit_nnls_als"
    label = "confidence-weighted NNLS-ALS on who rated what (Hu, Koren & Volinsky 2008)"
    non_negative, predicts_ratings, select_by = True, False, "precision"
    defaults = {"num_components": 50, "n_iter": 10, "random_state": 0, "l2": 30.0, "alpha": 3.0}
    rules = {**_ALS_RULES, "alpha": real(0.0)}
    grid = {"num_components": [30, 50], "l2": [30.0], "alpha": [3.0, 5.0], "n_iter": [10],
            "random_state": [0]}

    def factorize(self, data, **options):
        return factorizations.implicit_nnls_als(data, **options)


#: Our models, in the order of the report.
OURS = [GlobalMean, Biases, Popularity, MUZeroFill, MUGlobalMeanFill, MUMovieMeanFill,
        MUObserved, NNLSALS, NNLSALSAverage, BiasedNMF, BayesianNMF, ALS, SVDZeroFill,
        SVDMovieMeanFill, ScikitLearnNMF, EASE, ImplicitNNLSALS]
