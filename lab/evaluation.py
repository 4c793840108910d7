"""Held-out evaluation of recommenders on MovieLens-100k's five official splits.

The protocol, in one place:

* **Splits** - the official folds u1..u5 (``u{k}.base`` 80 %, ``u{k}.test``
  20 % of the ratings; the five test sets are disjoint).
* **Rating accuracy** - RMSE and MAE on the test ratings, every prediction
  clipped to the 1-5 star scale.  A test rating whose user or movie has no
  training rating is predicted by the bias baseline
  (:func:`lab.factorizations.biases`), whatever the model.
* **Top-N accuracy** - precision and recall at 10 over every movie the user
  has not rated in the training set, ranked by :func:`lab.ratings.top_n`;
  relevant = the user's test movies, or only those rated 4 or more ("liked").
* **Hyperparameters** - chosen on a validation set carved at random from the
  training ratings (never the test set), by validation RMSE for rating models
  and precision@10 for ranking models, then refitted on the whole base set.

:data:`MODELS` lists every recommender with its candidate hyperparameters;
``python -m lab.evaluate`` (``make evaluate``) runs all of them on all folds.
"""

from __future__ import annotations

import json
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

import lab.base
from lab import factorizations
from lab.ratings import (RATING_SCALE, RATINGS_COLS, FactorModel, RatingIndex, fit_model,
                         find_movielens, load_movielens, top_n)

FOLDS = (1, 2, 3, 4, 5)
TOP_N = 10
LIKED_RATING = 4
VALIDATION_FRACTION = 0.1
#: Penalty of the bias baseline that predicts cells of users or movies unseen in training.
FALLBACK_BIAS_L2 = 10.0
#: The measured columns of a result row, in order.
METRICS = ["rmse", "mae", "precision_at_10", "recall_at_10", "precision_at_10_liked",
           "recall_at_10_liked", "fit_seconds"]
#: One row per model and fold: ``non_negative`` tells whether the model's factors are
#: constrained to be >= 0, ``library`` who implemented it ("ours", or a package and version).
EVALUATION_COLS = ["model", "params", "fold", *METRICS, "non_negative", "library"]


def load_split(fold: int, path: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One of MovieLens-100k's five official train/test splits.

    Parameters
    ----------
    fold : int in 1..5
        Reads ``u{fold}.base`` and ``u{fold}.test``.
    path : str or Path, optional
        The MovieLens folder (see :func:`recommender.find_movielens`).

    Returns
    -------
    base, test : DataFrame of shape (80000, 4) and (20000, 4)
        ``RATINGS_COLS``.
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}.")
    folder = find_movielens(path)
    files = [folder / f"u{fold}.base", folder / f"u{fold}.test"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {folder}; run `make data`.")
    return tuple(pd.read_csv(f, sep="\t", names=RATINGS_COLS, encoding="latin-1") for f in files)


def holdout_split(ratings: pd.DataFrame, fraction: float = VALIDATION_FRACTION,
                  random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a random validation set from training ratings (never from a test set).

    Returns
    -------
    train, validation : DataFrame
        ``round(fraction * len(ratings))`` ratings, drawn without replacement
        with ``np.random.default_rng(random_state)``, go to ``validation``.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a DataFrame; got {type(ratings).__name__}.")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}.")
    rng = np.random.default_rng(random_state)
    held = np.zeros(len(ratings), dtype=bool)
    held[rng.permutation(len(ratings))[:round(fraction * len(ratings))]] = True
    return ratings[~held].reset_index(drop=True), ratings[held].reset_index(drop=True)


# --- metrics ---------------------------------------------------------------------------

def rating_errors(predicted, actual, scale=RATING_SCALE) -> tuple[float, float]:
    """RMSE and MAE after clipping the predictions to the rating scale [1, 5]."""
    predicted = np.clip(np.asarray(predicted, dtype=float), *scale)
    error = predicted - np.asarray(actual, dtype=float)
    return float(np.sqrt(np.mean(error ** 2))), float(np.mean(np.abs(error)))


def top_n_accuracy(scores, known, relevant, n: int = TOP_N) -> tuple[float, float]:
    """Mean precision@n and recall@n over the users with at least one relevant movie.

    Parameters
    ----------
    scores : ndarray of shape (n_users, n_movies)
        Higher = recommend first; ranked by :func:`lab.ratings.top_n`.
    known : sparse or bool matrix of shape (n_users, n_movies)
        Movies each user rated in training: never recommended.
    relevant : sparse or bool matrix of shape (n_users, n_movies)
        The held-out movies that count as hits.

    Returns
    -------
    precision, recall : float
        ``hits / n`` and ``hits / n_relevant``, averaged over users.
    """
    relevant = sp.csr_matrix(relevant, dtype=bool)
    known = sp.csr_matrix(known, dtype=bool)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if users.size == 0:
        return float("nan"), float("nan")
    best = top_n(np.asarray(scores)[users], known[users], n)
    hits = np.take_along_axis(relevant[users].toarray(), best, axis=1).sum(axis=1).astype(float)
    n_relevant = np.diff(relevant.indptr)[users]
    return float(np.mean(hits / n)), float(np.mean(hits / n_relevant))


def fallback_baseline(train: pd.DataFrame, index: RatingIndex) -> factorizations.BiasedResult:
    """The bias baseline that predicts cells of users or movies unseen in ``train``."""
    return factorizations.biases(index.sparse(train), bias_l2=FALLBACK_BIAS_L2)


def score_split(scores, train: pd.DataFrame, test: pd.DataFrame, index: RatingIndex,
                predicts_ratings: bool = True, baseline=None) -> dict[str, float]:
    """All metrics of one fitted model on one held-out set.

    Test cells of users or movies without any training rating are predicted
    by ``baseline`` (a :class:`lab.factorizations.BiasedResult`; by default
    :func:`fallback_baseline` of ``train``).

    Returns
    -------
    dict with keys ``rmse``, ``mae`` (NaN when ``predicts_ratings`` is False),
    ``precision_at_10``, ``recall_at_10``, ``precision_at_10_liked``,
    ``recall_at_10_liked``.
    """
    rows, cols = index.cells(test)
    known = index.sparse(train) != 0
    metrics = {}
    if predicts_ratings:
        baseline = fallback_baseline(train, index) if baseline is None else baseline
        seen_users = np.asarray(known.sum(axis=1)).ravel() > 0
        seen_movies = np.asarray(known.sum(axis=0)).ravel() > 0
        unseen = ~(seen_users[rows] & seen_movies[cols])
        predicted = np.where(unseen, baseline.predict(rows, cols), np.asarray(scores)[rows, cols])
        metrics["rmse"], metrics["mae"] = rating_errors(predicted, test["rating"])
    else:
        metrics["rmse"] = metrics["mae"] = float("nan")
    truth = test["rating"].to_numpy()
    for suffix, keep in (("", truth > 0), ("_liked", truth >= LIKED_RATING)):
        relevant = sp.csr_matrix((np.ones(keep.sum(), dtype=bool), (rows[keep], cols[keep])),
                                 shape=index.shape)
        precision, recall = top_n_accuracy(scores, known, relevant)
        metrics[f"precision_at_10{suffix}"], metrics[f"recall_at_10{suffix}"] = precision, recall
    return metrics


# --- the models ------------------------------------------------------------------------
# A factor model is a factorization function fitted by lab.ratings.fit_model; its
# params hold "fill" (how unrated cells are filled; absent: observed ratings only)
# and the function's keyword arguments.  The other models are score functions
# (train, index, **params) -> a dense (n_users, n_movies) score matrix.

def _global_mean(train, index):
    return np.full(index.shape, float(train["rating"].mean()))


def _biases(train, index, bias_l2):
    return factorizations.biases(index.sparse(train), bias_l2=bias_l2).reconstruction()


def _popularity(train, index):
    _, cols = index.cells(train)
    counts = np.bincount(cols, minlength=index.shape[1]).astype(float)
    return np.broadcast_to(counts, index.shape).copy()


def _nnls_als_average(train, index, n_seeds, random_state, **params):
    """Mean of ``n_seeds`` NNLS-ALS fits from the seeds ``random_state, random_state + 1, ...``.

    The mean of S non-negative products ``Z_s @ H_s`` is itself one non-negative
    factorization of rank ``S * M``: ``[Z_1 ... Z_S] / S`` times the stacked ``H``.
    """
    total = np.zeros(index.shape)
    for seed in range(random_state, random_state + n_seeds):
        total += fit_model(train, factorizations.nnls_als, fill_value=None, index=index,
                           random_state=seed, **params).scores()
    return total / n_seeds


def _bayesian(train, index, **params):
    """The posterior mean of the Bayesian biased non-negative model, each sample clipped to
    the rating scale before averaging."""
    return factorizations.bayesian_non_negative(index.sparse(train), clip=RATING_SCALE,
                                                **params).mean


def _ease(train, index, l2):
    """EASE (Steck 2019): item-item weights ``B = argmin ||X - X B||^2 + l2 ||B||^2`` with
    ``diag(B) = 0``, in closed form, on the 0/1 matrix X of who rated what; scores ``X B``."""
    X = (index.sparse(train) != 0).astype(float)
    gram = (X.T @ X).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return np.asarray(X @ weights)


def _sklearn_nmf(train, index, num_components, max_iter, random_state):
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    model = NMF(n_components=num_components, init="nndsvda", max_iter=max_iter,
                random_state=random_state)
    with warnings.catch_warnings():
        # max_iter is a budget chosen on validation data, so stopping at it is intended
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(index.sparse(train))
    return W @ model.components_


@dataclass(frozen=True)
class ModelSpec:
    """A recommender on the scoreboard: how to fit it and which settings to try.

    Exactly one of ``factorize`` (a factorization fitted through
    :func:`lab.ratings.fit_model`) and ``score`` (a score function) is set.
    ``grid`` lists the candidate hyperparameters (one dict each, complete
    enough to refit exactly); ``select_by`` is the validation metric that picks
    one: ``"rmse"`` (lower is better) or ``"precision_at_10"`` (higher).
    """

    grid: tuple
    select_by: str
    non_negative: bool
    description: str
    factorize: Callable | None = None
    score: Callable | None = None
    predicts_ratings: bool = True
    library: str = "ours"


def library_version(package: str) -> str:
    """``"package version"`` as installed (the peers' and Spark's environments may lack it)."""
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (not installed)"


def param_grid(**axes) -> tuple[dict, ...]:
    """Every combination of the axes' values (a scalar is a single value), in order.

    >>> param_grid(k=[1, 2], l2=0.1)
    ({'k': 1, 'l2': 0.1}, {'k': 2, 'l2': 0.1})
    """
    combos = [{}]
    for key, values in axes.items():
        values = values if isinstance(values, (list, tuple)) else [values]
        combos = [{**c, key: v} for c in combos for v in values]
    return tuple(combos)


MODELS: dict[str, ModelSpec] = {
    "global_mean": ModelSpec(param_grid(), "rmse", False, "every prediction is the mean training rating",
                             score=_global_mean),
    "biases": ModelSpec(param_grid(bias_l2=[5.0, 15.0]), "rmse", False,
                        "mean + regularized user and movie biases", score=_biases),
    "popularity": ModelSpec(param_grid(), "precision_at_10", False,
                            "most-rated movies first (ranking only)", score=_popularity,
                            predicts_ratings=False),
    "nmf_zero": ModelSpec(param_grid(fill=0, num_components=[10, 20, 30], n_iter=500, random_state=0),
                          "precision_at_10", True,
                          "the exercise: multiplicative updates on the zero-filled matrix",
                          factorize=lab.base.non_negative),
    "nmf_global_mean": ModelSpec(param_grid(fill="global_mean", num_components=[5, 15], n_iter=500,
                                       random_state=0), "rmse", True,
                                 "multiplicative updates, missing = global mean",
                                 factorize=lab.base.non_negative),
    "nmf_movie_mean": ModelSpec(param_grid(fill="movie_mean", num_components=[5, 15], n_iter=500,
                                      random_state=0), "rmse", True,
                                "multiplicative updates, missing = movie mean",
                                factorize=lab.base.non_negative),
    "nmf_masked": ModelSpec(param_grid(num_components=[20, 50, 100], l2=[0.1, 0.15], n_iter=500,
                                  random_state=0), "rmse", True,
                            "multiplicative updates on observed ratings, L2",
                            factorize=lab.base.non_negative),
    "nnls_als": ModelSpec(param_grid(num_components=[10, 20], l2=[0.1, 0.12, 0.14], n_iter=20,
                                random_state=0), "rmse", True,
                          "non-negative ALS (NNLS per row), L2", factorize=factorizations.nnls_als),
    "nnls_als_avg": ModelSpec(param_grid(num_components=[10, 20], l2=[0.09, 0.11, 0.13], n_iter=12,
                                    random_state=0, n_seeds=5), "rmse", True,
                              "mean of five NNLS-ALS fits (different seeds)",
                              score=_nnls_als_average),
    "biased_nmf": ModelSpec(param_grid(num_components=[10, 30], l2=[0.06, 0.08], bias_l2=5.0,
                                  n_iter=20, random_state=0), "rmse", True,
                            "mean + biases + non-negative interaction",
                            factorize=factorizations.biased_non_negative),
    "bayesian_nmf": ModelSpec(param_grid(num_components=[30, 45], n_samples=550, burn_in=100,
                                         thin=2, random_state=0), "rmse", True,
                              "the biased non-negative model, Bayesian: posterior mean by "
                              "Gibbs sampling (Schmidt et al. 2009)", score=_bayesian),
    "als": ModelSpec(param_grid(num_components=[5, 10], l2=[0.08, 0.12], n_iter=15, random_state=0),
                     "rmse", False, "unconstrained regularized ALS (closed form)",
                     factorize=factorizations.als),
    "svd_zero": ModelSpec(param_grid(fill=0, num_components=[5, 10, 15, 20, 30, 50]),
                          "precision_at_10", False,
                          "rank-k SVD of the zero-filled matrix (PureSVD)",
                          factorize=factorizations.truncated_svd),
    "svd_movie_mean": ModelSpec(param_grid(fill="movie_mean", num_components=[2, 5, 10]), "rmse",
                                False, "rank-k SVD of the movie-mean-filled matrix",
                                factorize=factorizations.truncated_svd),
    "sklearn_nmf": ModelSpec(param_grid(num_components=[10, 20], max_iter=400, random_state=0),
                             "precision_at_10", True,
                             "scikit-learn NMF on the zero-filled matrix", score=_sklearn_nmf,
                             library=library_version("scikit-learn")),
    "ease": ModelSpec(param_grid(l2=[200.0, 400.0, 800.0]), "precision_at_10", False,
                      "EASE: closed-form item-item weights on who rated what (Steck 2019)",
                      score=_ease, predicts_ratings=False),
    "implicit_nnls_als": ModelSpec(param_grid(num_components=[30, 50], l2=[30.0], alpha=[3.0, 5.0],
                                         n_iter=10, random_state=0), "precision_at_10", True,
                                   "non-negative ALS on who rated what, confidence-weighted "
                                   "(Hu, Koren & Volinsky 2008)",
                                   factorize=factorizations.implicit_nnls_als,
                                   predicts_ratings=False),
}


#: What the validation search of ``make evaluate`` picks on fold u1 (``select_params(model,
#: u1.base, index, random_state=1)``) for the models the notebook's short evaluation shows;
#: the notebook fits them with these settings instead of searching again, and a test re-runs
#: the search to check them.
FOLD1_CHOICES = {
    "global_mean": {},
    "biases": {"bias_l2": 5.0},
    "popularity": {},
    "nmf_zero": {"fill": 0, "n_iter": 500, "num_components": 20, "random_state": 0},
    "nmf_masked": {"l2": 0.1, "n_iter": 500, "num_components": 100, "random_state": 0},
    "nnls_als": {"l2": 0.12, "n_iter": 20, "num_components": 20, "random_state": 0},
    "svd_zero": {"fill": 0, "num_components": 15},
}


def _spec(model: str, registry: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    registry = MODELS if registry is None else registry
    if model not in registry:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(registry)}.")
    return registry[model]


def fit_factor_model(model: str, train: pd.DataFrame, index: RatingIndex, params: Mapping,
                     registry: Mapping[str, ModelSpec] | None = None) -> FactorModel:
    """Fit a factor model of ``registry`` (default :data:`MODELS`; one with ``factorize``); it
    can fold in new users."""
    registry = MODELS if registry is None else registry
    spec = _spec(model, registry)
    if spec.factorize is None:
        raise ValueError(f"{model!r} is not a single factorization; factor models: "
                         f"{', '.join(m for m, s in registry.items() if s.factorize)}.")
    params = dict(params)
    return fit_model(train, spec.factorize, fill_value=params.pop("fill", None), index=index,
                     **params)


def fit_scores(model: str, train: pd.DataFrame, index: RatingIndex, params: Mapping,
               registry: Mapping[str, ModelSpec] | None = None) -> np.ndarray:
    """Fit ``registry[model]`` (default :data:`MODELS`) with ``params`` on ``train``; return
    its (n_users, n_movies) scores."""
    spec = _spec(model, registry)
    if spec.factorize is not None:
        return fit_factor_model(model, train, index, params, registry).scores()
    return spec.score(train, index, **params)


def select_params(model: str, base: pd.DataFrame, index: RatingIndex, random_state: int = 0,
                  registry: Mapping[str, ModelSpec] | None = None) -> tuple[dict, pd.DataFrame]:
    """Choose ``model``'s hyperparameters on a validation split carved from ``base``.

    ``registry`` holds the model (default :data:`MODELS`; the peers' registry lives in
    ``lab/peers/models.py``).

    Returns
    -------
    best : dict
        The candidate of the grid with the best validation ``select_by``
        metric (the first on ties).
    trials : DataFrame
        One row per candidate: ``params`` (JSON) and its validation metrics.
    """
    spec = _spec(model, registry)
    train, validation = holdout_split(base, random_state=random_state)
    baseline = fallback_baseline(train, index)
    rows = []
    for params in spec.grid:
        scores = fit_scores(model, train, index, params, registry)
        metrics = score_split(scores, train, validation, index, spec.predicts_ratings, baseline)
        rows.append({"params": json.dumps(params, sort_keys=True), **metrics})
    trials = pd.DataFrame(rows)
    column = trials[spec.select_by]
    best = int(column.idxmin() if spec.select_by == "rmse" else column.idxmax())
    return dict(spec.grid[best]), trials


def evaluate_fold(fold: int, models=None, path: str | Path | None = None, tune: bool = True,
                  params: Mapping | None = None, progress: Callable | None = None,
                  registry: Mapping[str, ModelSpec] | None = None) -> pd.DataFrame:
    """Tune, fit and score each model on one official fold.

    Parameters
    ----------
    fold : int in 1..5
    models : iterable of str, optional
        Names in ``registry``; all by default.
    path : str or Path, optional
        The MovieLens folder.
    tune : bool, default True
        Choose hyperparameters on a validation split of ``u{fold}.base``
        (seeded by the fold).  If False, use ``params[model]`` or the grid's
        first candidate.
    params : dict {model: dict}, optional
        Fixed hyperparameters (used when ``tune`` is False).
    progress : callable, optional
        Called after each model with its row (a dict of the columns below).
    registry : dict {name: ModelSpec}, optional
        Where the models are defined; :data:`MODELS` by default.

    Returns
    -------
    DataFrame with columns :data:`EVALUATION_COLS`, one row per model.
        ``params`` is JSON (the exact keyword arguments of the refit) and
        ``fit_seconds`` the wall time of that refit on the whole base set.
    """
    _, movies, users = load_movielens(path)
    index = RatingIndex.from_tables(users, movies)
    base, test = load_split(fold, path)
    baseline = fallback_baseline(base, index)
    rows = []
    registry = MODELS if registry is None else registry
    for model in (models or registry):
        spec = _spec(model, registry)
        if tune:
            chosen, _ = select_params(model, base, index, random_state=fold, registry=registry)
        else:
            chosen = dict((params or {}).get(model, spec.grid[0]))
        start = time.perf_counter()
        scores = fit_scores(model, base, index, chosen, registry)
        seconds = time.perf_counter() - start
        metrics = score_split(scores, base, test, index, spec.predicts_ratings, baseline)
        rows.append({"model": model, "params": json.dumps(chosen, sort_keys=True), "fold": fold,
                     **metrics, "fit_seconds": seconds, "non_negative": spec.non_negative,
                     "library": spec.library})
        if progress is not None:
            progress(rows[-1])
    return pd.DataFrame(rows, columns=EVALUATION_COLS)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Fold means and standard deviations of every metric, one row per model.

    Returns
    -------
    DataFrame indexed by model, columns ``(metric, "mean")`` and
    ``(metric, "std")``, sorted by mean RMSE (ranking-only models last).
    """
    table = results.groupby("model", sort=False)[METRICS].agg(["mean", "std"])
    return table.sort_values(("rmse", "mean"), na_position="last")


def train_test_rmse(model: str, params: Mapping, base: pd.DataFrame, test: pd.DataFrame,
                    index: RatingIndex) -> tuple[float, float]:
    """RMSE of one fit on the ratings it was trained on and on held-out ratings.

    Both clipped to [1, 5]; held-out cells of users or movies unseen in
    ``base`` are predicted by the fallback baseline, as in :func:`score_split`.
    """
    scores = fit_scores(model, base, index, params)
    rows, cols = index.cells(base)
    train_rmse, _ = rating_errors(scores[rows, cols], base["rating"])
    return train_rmse, score_split(scores, base, test, index)["rmse"]
