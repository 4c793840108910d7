"""The held-out protocol: MovieLens-100k's five official splits, the metrics, the search.

The protocol, in one place (the models it evaluates are those of :data:`lab.models.REGISTRY`):

* **Splits** - the official folds u1..u5 (``u{k}.base`` 80 %, ``u{k}.test``
  20 % of the ratings; the five test sets are disjoint).
* **Rating accuracy** - RMSE and MAE of the model's ``predict`` on the test ratings, every
  prediction clipped to the 1-5 star scale.  A test rating whose user or movie has no
  training rating is predicted by the model's bias baseline (:class:`lab.interface.Model`),
  whatever the model.
* **Top-N accuracy** - precision and recall at :data:`TOP_N` over every movie the user
  has not rated in the training set, ranked by :func:`lab.ratings.top_n`;
  relevant = the user's test movies, or only those rated 4 or more ("liked").
* **Hyperparameters** - every candidate of a model's ``grid`` (scikit-learn's
  ``ParameterGrid``) is fitted on a validation split carved at random from the training
  ratings (never the test set) and the best by the model's ``select_by`` metric (RMSE,
  or precision at :data:`TOP_N`; the first on ties) is refitted on the whole base set.

``python -m lab.commands.evaluate`` (``make evaluate``) runs every model on every fold;
:mod:`lab.report` makes the report of its results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import ParameterGrid

from lab import clock
from lab.base import row_counts
from lab.models import REGISTRY
from lab.ratings import RatingIndex, top_n
from recommender import RATING_SCALE, RATINGS_FILE, check_ratings, find_movielens, load_movielens

FOLDS = (1, 2, 3, 4, 5)
TOP_N = 10
LIKED_RATING = 4
VALIDATION_FRACTION = 0.1
#: The top-N metrics, named from the cut-off: precision and recall at TOP_N, over every
#: test movie and over the liked ones only (``_liked``).
PRECISION, RECALL = f"precision_at_{TOP_N}", f"recall_at_{TOP_N}"
TOP_N_METRICS = [PRECISION, RECALL, f"{PRECISION}_liked", f"{RECALL}_liked"]
#: The measured columns of a result row, in order.
METRICS = ["rmse", "mae", *TOP_N_METRICS, "fit_seconds"]
#: The validation metric a model's ``select_by`` names, and whether lower is better.
SELECTION = {"rmse": ("rmse", True), "precision": (PRECISION, False)}
#: One row per model and fold: ``non_negative`` tells whether the fitted model's factors are
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
        ``RATINGS_COLS``, each file read as :func:`recommender.load_movielens` reads
        ``u.data`` (:data:`recommender.RATINGS_FILE`: the splits share its format).
    """
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}.")
    folder = find_movielens(path)
    files = [folder / f"u{fold}.base", folder / f"u{fold}.test"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)} in {folder}; run `make data`.")
    return tuple(pd.read_csv(f, **RATINGS_FILE) for f in files)


def fold_data(fold: int, path: str | Path | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame, RatingIndex]:
    """``(base, test, index)`` of one fold: its split (:func:`load_split`) and the index of
    the full users and movies tables, so that a user or movie the base set lacks still has
    its row or column."""
    _, movies, users = load_movielens(path)
    return (*load_split(fold, path), RatingIndex.from_tables(users, movies))


def holdout_split(ratings: pd.DataFrame,
                  random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve a random validation set from training ratings (never from a test set).

    Returns
    -------
    train, validation : DataFrame
        ``round(VALIDATION_FRACTION * len(ratings))`` ratings, drawn without replacement
        with ``np.random.default_rng(random_state)``, go to ``validation``.
    """
    check_ratings(ratings)
    rng = np.random.default_rng(random_state)
    held = np.zeros(len(ratings), dtype=bool)
    held[rng.permutation(len(ratings))[:round(VALIDATION_FRACTION * len(ratings))]] = True
    return ratings[~held].reset_index(drop=True), ratings[held].reset_index(drop=True)


# --- metrics ---------------------------------------------------------------------------

def rating_errors(predicted, actual) -> tuple[float, float]:
    """RMSE and MAE after clipping the predictions to the rating scale [1, 5]."""
    predicted = np.clip(np.asarray(predicted, dtype=float), *RATING_SCALE)
    actual = np.asarray(actual, dtype=float)
    return (float(root_mean_squared_error(actual, predicted)),
            float(mean_absolute_error(actual, predicted)))


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
    n : int, default TOP_N
        The length of each user's list.

    Returns
    -------
    precision, recall : float
        ``hits / n`` and ``hits / n_relevant``, averaged over users.
    """
    relevant = sp.csr_matrix(relevant, dtype=bool)
    known = sp.csr_matrix(known, dtype=bool)
    n_relevant = row_counts(relevant.indptr)
    users = np.flatnonzero(n_relevant > 0)
    if users.size == 0:
        return float("nan"), float("nan")
    best = top_n(np.asarray(scores)[users], known[users], n)
    hits = np.take_along_axis(relevant[users].toarray(), best, axis=1).sum(axis=1).astype(float)
    n_relevant = n_relevant[users]
    return float(np.mean(hits / n)), float(np.mean(hits / n_relevant))


def score_split(model, test: pd.DataFrame, scores: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of a fitted model on a held-out set, through the model's own methods.

    RMSE and MAE from ``model.predict`` of the test pairs (a pair whose user or movie has
    no training rating gets the model's bias baseline; NaN for a model that only ranks),
    precision and recall from ``model.scores()`` (or ``scores``, when already computed),
    every movie rated in training (``model.rated_``) left out of the ranking.  A test pair
    outside the model's index (a model fitted without the index of the full tables) is
    predicted for RMSE but cannot be ranked: precision and recall leave it out.

    Returns
    -------
    dict with keys ``rmse``, ``mae`` and :data:`TOP_N_METRICS`.
    """
    index = model.index_
    rows, cols = index.cells(test, missing=-1)       # -1: outside the index, never ranked
    metrics = {"rmse": float("nan"), "mae": float("nan")}
    if model.predicts_ratings:
        predicted = model.predict(test["user id"].to_numpy(), test["movie id"].to_numpy())
        metrics["rmse"], metrics["mae"] = rating_errors(predicted, test["rating"])
    scores = model.scores() if scores is None else scores
    truth = test["rating"].to_numpy()
    ranked = (rows >= 0) & (cols >= 0)
    for suffix, keep in (("", ranked), ("_liked", ranked & (truth >= LIKED_RATING))):
        relevant = sp.csr_matrix((np.ones(keep.sum(), dtype=bool), (rows[keep], cols[keep])),
                                 shape=index.shape)
        precision, recall = top_n_accuracy(scores, model.who_rated_, relevant)
        metrics[PRECISION + suffix], metrics[RECALL + suffix] = precision, recall
    return metrics


# --- the search and the folds ---------------------------------------------------------------

def select_params(key: str, base: pd.DataFrame, index: RatingIndex,
                  random_state: int = 0) -> tuple[dict, pd.DataFrame]:
    """The candidate of the model's grid that scores best on a validation split of ``base``.

    Returns
    -------
    best : dict
        The candidate with the best validation ``select_by`` metric (the first on ties,
        in ``ParameterGrid``'s order).
    trials : DataFrame
        One row per candidate: ``params`` (JSON) and its validation metrics.
    """
    cls = REGISTRY[key]
    train, validation = holdout_split(base, random_state=random_state)
    candidates = list(ParameterGrid(cls.grid)) if cls.grid else [{}]
    rows = []
    for params in candidates:
        metrics = score_split(cls(**params).fit(train, index), validation)
        rows.append({"params": json.dumps(params, sort_keys=True), **metrics})
    trials = pd.DataFrame(rows)
    column, lower_is_better = SELECTION[cls.select_by]
    best = int(trials[column].idxmin() if lower_is_better else trials[column].idxmax())
    return dict(candidates[best]), trials


def evaluate_fold(fold: int, models=None, path: str | Path | None = None,
                  progress: Callable | None = None) -> pd.DataFrame:
    """Tune, fit and score each model on one official fold: its parameters chosen by
    :func:`select_params` on a validation split of ``u{fold}.base`` (seeded by the fold),
    then refitted on the whole base set and scored on ``u{fold}.test``.

    Parameters
    ----------
    fold : int in 1..5
    models : iterable of str, optional
        Keys of :data:`lab.models.REGISTRY`; all by default.
    path : str or Path, optional
        The MovieLens folder.
    progress : callable, optional
        Called after each model with its row (a dict of the columns below).

    Returns
    -------
    DataFrame with columns :data:`EVALUATION_COLS`, one row per model: ``params`` is JSON
    (every parameter of the refit, defaults included), ``fit_seconds`` the wall time of
    that refit on the whole base set, its scores of every user and movie included, and
    ``non_negative`` and ``library`` those of the refitted model (a model whose constraint
    is a parameter, as Spark's ``nonnegative``, reports its own).
    """
    base, test, index = fold_data(fold, path)
    rows = []
    for key in (models or REGISTRY):
        cls = REGISTRY[key]
        chosen, _ = select_params(key, base, index, random_state=fold)
        (model, scores), seconds = clock.timed(lambda: fitted_and_scored(cls(**chosen), base,
                                                                          index))
        metrics = score_split(model, test, scores)
        rows.append({"model": key, "params": json.dumps(model.params, sort_keys=True,
                                                        default=repr),
                     "fold": fold, **metrics, "fit_seconds": seconds,
                     "non_negative": model.non_negative, "library": model.library})
        if progress is not None:
            progress(rows[-1])
    return pd.DataFrame(rows, columns=EVALUATION_COLS)


def fitted_and_scored(model, base: pd.DataFrame, index: RatingIndex):
    """``(model fitted to base, its score of every cell)``: what ``fit_seconds`` times."""
    model.fit(base, index)
    return model, model.scores()


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Fold means and standard deviations of every metric, one row per model.

    Returns
    -------
    DataFrame indexed by model, columns ``(metric, "mean")`` and
    ``(metric, "std")``, sorted by mean RMSE (ranking-only models last).
    """
    table = results.groupby("model", sort=False)[METRICS].agg(["mean", "std"])
    return table.sort_values(("rmse", "mean"), na_position="last")
