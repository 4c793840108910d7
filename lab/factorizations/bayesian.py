"""The biased non-negative model made Bayesian: :func:`bayesian_non_negative`, its posterior
mean sampled by Gibbs sweeps, and its result, :class:`PosteriorMean`.

The sweeps' inner loops (:func:`_gibbs_biases_loops`, :func:`_gibbs_factors_loops` and the
truncated-normal draw :func:`_standard_normal_above`) are compiled by numba where it is
installed (:func:`lab.kernels.jit`; without it they run as plain Python, far slower);
:func:`_truncated_normal_hyper` draws the priors' (location, precision) pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from lab.base import DenseScores, finished, predict_cells
from lab.rules import FLAG, SEED, integer
from lab.factorizations.biased import BiasedResult
from lab.factorizations.cells import prepared
from lab.kernels import jit


#: Hyperpriors of :func:`bayesian_non_negative`, for data on a scale of a few units (stars):
#: every precision ~ Gamma(shape, rate); the truncated normals' locations ~ N(0, 1/loc_precision).
_GAMMA_SHAPE, _GAMMA_RATE, _LOC_PRECISION = 1.0, 1.0, 1.0
#: The rules of :func:`bayesian_non_negative`'s parameters (num_components: the rank rule).
RULES = {"n_samples": integer(1), "burn_in": integer(0), "thin": integer(1),
         "random_state": SEED, "verbose": FLAG}
_MEAN_PRECISION = 1e-4        # the global level's prior N(0, 1e4): practically flat
_START_SCALE = 0.3            # factors start uniform on [0, _START_SCALE]
_HYPER_STEPS = 5              # Metropolis steps per sweep for each (location, precision) pair


class PosteriorMean(DenseScores):
    """The predictions of :func:`bayesian_non_negative`: the mean over its posterior samples,
    a :class:`lab.base.DenseScores` of them.

    Attributes
    ----------
    values : ndarray of shape (n, m)
        The mean prediction of every cell over the kept samples (each sample clipped
        first when ``clip`` was given).
    n_samples : int
        How many samples were averaged.
    last : BiasedResult
        The last sample; its ``losses`` hold the squared error on the observed cells
        after every sweep (burn-in included, ``losses[0]`` at the start).
    """

    __slots__ = ("n_samples", "last")

    def __init__(self, mean: np.ndarray, n_samples: int, last: BiasedResult):
        super().__init__(mean)
        self.n_samples, self.last = n_samples, last

    @property
    def losses(self) -> np.ndarray:
        """The squared error on the observed cells after every sweep (``last.losses``)."""
        return self.last.losses


def bayesian_non_negative(data, num_components, *, n_samples=550, burn_in=100, thin=2,
                          random_state=0, mask="observed", clip=None,
                          verbose=False) -> PosteriorMean:
    """The biased non-negative model, Bayesian: its posterior mean, by Gibbs sampling.

    The model of :func:`lab.factorizations.biased_non_negative`,
    ``x_ij ~ N(mu + a_i + c_j + z_i . h_j, 1/tau)`` on the observed cells with ``Z, H >= 0``,
    given priors instead of penalties: each component k has ``z_ik ~ N+(m_k, 1/lambda_k)``,
    a normal cut off below 0 whose location ``m_k`` and precision ``lambda_k`` are
    themselves sampled (and the same for H, with its own pairs), the biases are normal with
    sampled precisions, ``tau`` has a Gamma prior.  Nothing is tuned but the rank.

    A sweep draws each user's bias, each movie's, the level, then every ``z_ik`` from
    its conditional (a normal truncated to ``[0, inf)``; a user's factors depend on no
    other user's, so a sweep costs one pass over the observed cells per component), the
    same for H, then the precisions from their Gamma conditionals and each
    (location, precision) pair by a few Metropolis steps on its exact conditional.
    After ``burn_in`` sweeps, every ``thin``-th sweep's predictions are averaged.  Without
    ``clip``, the average of ``S`` samples is a single model: one non-negative factorization
    of rank ``S * M`` with averaged biases (posterior averaging, as in Bayesian PMF); with
    ``clip``, each sample is clipped first, and the mean is what it is.  Departing from the
    lab's conventions: the factors start uniform on [0, 0.3] (not :func:`nmf_core.start`),
    and a fixed number of sweeps runs (no ``tol``).

    Parameters
    ----------
    data, num_components, mask
        As in :func:`lab.factorizations.als`; the hyperpriors suit data on a scale of a
        few units.
    n_samples : int >= 1, default 550
        Samples averaged (``burn_in + n_samples * thin`` sweeps in all).
    burn_in : int >= 0, default 100
    thin : int >= 1, default 2
    random_state : int, Generator or None
        Seeds every draw: the same seed gives the same numbers.
    clip : (low, high), optional
        Clip each sample's predictions to this range before averaging (the rating
        scale, when the scores are rating predictions).
    verbose : bool
        Print the squared training error of the sample after every tenth of the
        sweeps (:func:`lab.base.finished`, the lab's progress line; no stopping rule).

    Returns
    -------
    PosteriorMean
        ``values`` (n, m, the posterior mean), ``n_samples``, ``last`` (the last sample as a
        :class:`lab.factorizations.BiasedResult`); ``scores(rows)`` and
        ``predict(rows, cols)``.

    References
    ----------
    M. N. Schmidt, O. Winther and L. K. Hansen, "Bayesian non-negative matrix
    factorization", ICA 2009.  T. Brouwer and P. Lió, "Comparative study of inference
    methods for Bayesian nonnegative matrix factorisation", ECML PKDD 2017.
    R. Salakhutdinov and A. Mnih, "Bayesian probabilistic matrix factorization using
    Markov chain Monte Carlo", ICML 2008.  C. P. Robert, "Simulation of truncated
    normal variables", Statistics and Computing 5 (1995).
    """
    obs, M, params = prepared(data, mask, num_components, RULES,
                              dict(n_samples=n_samples, burn_in=burn_in, thin=thin,
                                   random_state=random_state, verbose=verbose),
                              "bayesian_non_negative")
    low, high = _check_clip(clip)
    rng = np.random.default_rng(params["random_state"])
    n, m = obs.shape
    x = obs.by_row.data.astype(np.float64)
    user_ptr, movie_of = obs.by_row.indptr.astype(np.int64), obs.by_row.indices.astype(np.int64)
    movie_ptr, user_of = obs.by_col.indptr.astype(np.int64), obs.by_col.indices.astype(np.int64)
    rows = obs.rows
    by_movie = np.lexsort((rows, movie_of))            # the cells in by_col's order

    mu, a, c = float(x.mean()), np.zeros(n), np.zeros(m)
    Z = rng.uniform(0, _START_SCALE, size=(n, M))
    H = rng.uniform(0, _START_SCALE, size=(m, M))      # one row per movie while sampling
    hyper = {side: (np.zeros(M), np.ones(M)) for side in "ZH"}
    bias_precision = [1.0, 1.0]
    residual = x - mu - predict_cells(Z, H.T, rows, movie_of)
    tau = 1.0 / max(float(residual @ residual) / x.size, 1e-3)
    squared_errors = [float(residual @ residual)]
    total = np.zeros((n, m))
    kept = 0
    sweeps = params["burn_in"] + params["n_samples"] * params["thin"]
    for sweep in range(sweeps):
        _gibbs_biases(rng, user_ptr, residual, a, bias_precision[0], tau)
        by_col = residual[by_movie]
        _gibbs_biases(rng, movie_ptr, by_col, c, bias_precision[1], tau)
        residual[by_movie] = by_col
        precision = _MEAN_PRECISION + tau * x.size
        new_mu = (tau * (residual.sum() + x.size * mu) / precision
                  + rng.standard_normal() / np.sqrt(precision))
        residual -= new_mu - mu
        mu = new_mu
        _gibbs_factors(rng, user_ptr, movie_of, residual, Z, H, *hyper["Z"], tau)
        by_col = residual[by_movie]
        _gibbs_factors(rng, movie_ptr, user_of, by_col, H, Z, *hyper["H"], tau)
        residual[by_movie] = by_col
        squared_errors.append(float(residual @ residual))
        tau = rng.gamma(_GAMMA_SHAPE + x.size / 2, 1 / (_GAMMA_RATE + squared_errors[-1] / 2))
        bias_precision = [rng.gamma(_GAMMA_SHAPE + v.size / 2, 1 / (_GAMMA_RATE + v @ v / 2))
                          for v in (a, c)]
        hyper = {"Z": _truncated_normal_hyper(rng, Z, *hyper["Z"]),
                 "H": _truncated_normal_hyper(rng, H, *hyper["H"])}
        finished(squared_errors, sweep + 1, sweeps, None, params["verbose"],
                 "bayesian_non_negative")                 # the lab's progress line
        if sweep >= params["burn_in"] and (sweep - params["burn_in"]) % params["thin"] == 0:
            sample = BiasedResult(mu, a, c, Z, H.T, np.empty(0)).scores(np.arange(len(a)))
            total += sample if clip is None else np.clip(sample, low, high, out=sample)
            kept += 1
    last = BiasedResult(mu, a, c, Z, np.ascontiguousarray(H.T), np.array(squared_errors))
    return PosteriorMean(total / kept, kept, last)


def _check_clip(clip) -> tuple[float, float]:
    if clip is None:
        return -np.inf, np.inf
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise TypeError(f"clip must be None or a pair (low, high) of numbers; got {clip!r}.") \
            from None
    if not low < high:
        raise ValueError(f"clip must be a pair (low, high) with low < high; got {clip!r}.")
    return low, high


def _truncated_normal_hyper(rng, X, location, precision):
    """Draw each column's (location, precision) of the prior ``X[:, k] ~ N+(m_k, 1/l_k)``.

    Metropolis steps on ``(m, log l)``, scaled to the posterior's width; the target is
    the exact conditional, the prior of ``(m, l)`` times the columns' density under
    the cut-off normal (whose normalizer ``Phi(m sqrt(l))^-n`` couples the two).
    """
    n = X.shape[0]
    sums, squares = X.sum(axis=0), (X * X).sum(axis=0)

    def log_target(m, l):
        spread = squares - 2 * m * sums + n * m * m
        return (n / 2 * np.log(l) - l / 2 * spread - n * log_ndtr(m * np.sqrt(l))
                + _GAMMA_SHAPE * np.log(l) - _GAMMA_RATE * l - _LOC_PRECISION / 2 * m * m)

    current = log_target(location, precision)
    location_step, log_precision_step = 2 / np.sqrt(n * precision), 2 * np.sqrt(2 / n)
    for _ in range(_HYPER_STEPS):
        proposed_m = location + location_step * rng.standard_normal(location.shape)
        proposed_l = precision * np.exp(log_precision_step * rng.standard_normal(precision.shape))
        proposed = log_target(proposed_m, proposed_l)
        accept = np.log(rng.random(location.shape)) < proposed - current
        location = np.where(accept, proposed_m, location)
        precision = np.where(accept, proposed_l, precision)
        current = np.where(accept, proposed, current)
    return location, precision


def _standard_normal_above(rng, a):
    """A standard normal draw conditioned on ``>= a``, for any ``a`` (Robert 1995)."""
    if a <= 0.0:
        while True:
            value = rng.standard_normal()
            if value >= a:
                return value
    rate = 0.5 * (a + np.sqrt(a * a + 4.0))        # the best exponential proposal
    while True:
        value = a + rng.standard_exponential() / rate
        if rng.random() <= np.exp(-0.5 * (value - rate) ** 2):
            return value


def _gibbs_biases_loops(rng, ptr, residual, bias, bias_precision, tau):
    """Draw each row's bias given everything else; ``residual`` (this side's cell order)
    follows.  Row g owns the cells ``ptr[g]:ptr[g+1]``."""
    for g in range(bias.shape[0]):
        start, stop = ptr[g], ptr[g + 1]
        total = 0.0
        for t in range(start, stop):
            total += residual[t]
        precision = bias_precision + tau * (stop - start)
        mean = tau * (total + (stop - start) * bias[g]) / precision
        new = mean + rng.standard_normal() / np.sqrt(precision)
        for t in range(start, stop):
            residual[t] -= new - bias[g]
        bias[g] = new


def _gibbs_factors_loops(rng, ptr, other, residual, own, fixed, location, precision, tau):
    """Draw every row of ``own`` (n_own, M) given ``fixed`` (n_other, M); ``residual`` in
    this side's cell order (cell t of row g pairs it with row ``other[t]`` of ``fixed``)
    follows.  Within a row the M coordinates are drawn in turn, each from a normal cut
    off below 0, on a copy of the row's cells (its residuals and partners' factors)."""
    M = own.shape[1]
    longest = int(np.max(ptr[1:] - ptr[:-1])) if own.shape[0] else 0
    partners = np.empty((M, longest))
    errors = np.empty(longest)
    for g in range(own.shape[0]):
        start, count = ptr[g], ptr[g + 1] - ptr[g]
        for j in range(count):
            errors[j] = residual[start + j]
            for k in range(M):
                partners[k, j] = fixed[other[start + j], k]
        for k in range(M):
            linear = 0.0
            quadratic = 0.0
            for j in range(count):
                f = partners[k, j]
                quadratic += f * f
                linear += f * errors[j]
            old = own[g, k]
            linear += old * quadratic
            conditional = tau * quadratic + precision[k]
            mean = (tau * linear + precision[k] * location[k]) / conditional
            scale = 1.0 / np.sqrt(conditional)
            new = max(mean + scale * _standard_normal_above(rng, -mean / scale), 0.0)
            own[g, k] = new
            if new != old:
                for j in range(count):
                    errors[j] -= (new - old) * partners[k, j]
        for j in range(count):
            residual[start + j] = errors[j]


_standard_normal_above = jit(_standard_normal_above)
_gibbs_biases = jit(_gibbs_biases_loops)
_gibbs_factors = jit(_gibbs_factors_loops)
