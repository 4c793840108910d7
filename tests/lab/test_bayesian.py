"""Tests of lab.factorizations.bayesian_non_negative, the biased non-negative model sampled
by Gibbs sweeps: recovery of a planted model (better than the penalized fits), seeds and
clip, and its pieces (lab.factorizations.bayesian): the truncated-normal draw, the priors'
(location, precision) steps, and the compiled sweep against its Python loops."""

import numpy as np
import pytest

from lab import factorizations
from lab.factorizations import bayesian
from needs import needs_numba


def planted_biased(seed=0, shape=(40, 30), M=2, density=0.5, noise=0.2):
    """Ratings from a known biased non-negative model, and which cells are observed."""
    rng = np.random.default_rng(seed)
    truth = (3.0 + rng.normal(0, 0.4, (shape[0], 1)) + rng.normal(0, 0.4, (1, shape[1]))
             + rng.uniform(0, 1, (shape[0], M)) @ rng.uniform(0, 1, (M, shape[1])))
    X = truth + rng.normal(0, noise, shape)
    return X, truth, rng.random(shape) < density


def test_bayesian_posterior_mean_recovers_a_planted_model():
    X, truth, mask = planted_biased()
    fit = factorizations.bayesian_non_negative(np.where(mask, X, np.nan), 2, n_samples=150,
                                               burn_in=100, thin=1, random_state=0)
    assert fit.values.shape == X.shape and fit.n_samples == 150
    np.testing.assert_array_equal(fit.scores([3, 0]), fit.values[[3, 0]])
    np.testing.assert_array_equal(fit.predict([3, 0], [1, 2]), fit.values[[3, 0], [1, 2]])
    held_out = ~mask

    def held_out_error(fitted):
        everything = fitted.scores(np.arange(truth.shape[0]))
        return np.sqrt(np.mean((everything - truth)[held_out] ** 2))

    data = np.where(mask, X, np.nan)
    error = held_out_error(fit)
    # measured: 0.151, against 0.240 for the biases alone and 0.173 for the penalized model
    assert error < 0.7 * held_out_error(factorizations.biases(data))
    assert error < held_out_error(factorizations.biased_non_negative(data, 2, l2=0.05))
    assert fit.last.Z.min() >= 0 and fit.last.H.min() >= 0
    assert fit.last.Z.shape == (40, 2) and fit.last.H.shape == (2, 30)
    # the last sweeps fit the observed cells to about the noise level (0.2)
    assert fit.last.losses.shape == (251,)
    assert 0.1 < np.sqrt(fit.last.losses[-1] / mask.sum()) < 0.25 < np.sqrt(
        fit.last.losses[0] / mask.sum())
    np.testing.assert_array_equal(fit.predict([0, 5], [1, 2]), fit.values[[0, 5], [1, 2]])


def test_bayesian_same_seed_same_numbers_and_clip():
    X, _, mask = planted_biased(seed=1, shape=(12, 9))
    data = np.where(mask, X, np.nan)
    first = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=7, clip=(3.0, 4.0))
    again = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=7, clip=(3.0, 4.0))
    other = factorizations.bayesian_non_negative(data, 2, n_samples=20, burn_in=5,
                                                 random_state=8, clip=(3.0, 4.0))
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)
    assert first.values.min() >= 3.0 and first.values.max() <= 4.0
    assert first.values.max() > 3.9 and first.values.min() < 3.1    # the clip did act


# ------------------------------------------------------------------ its pieces
@pytest.mark.parametrize("a", [-2.0, 0.0, 0.7, 4.0])
def test_standard_normal_above_has_the_truncated_mean(a):
    from scipy.stats import norm
    rng = np.random.default_rng(0)
    draws = np.array([bayesian._standard_normal_above(rng, a) for _ in range(20000)])
    assert draws.min() >= a
    expected = norm.pdf(a) / norm.sf(a)                 # the mean of N(0, 1) above a
    assert abs(draws.mean() - expected) < 4 * draws.std() / np.sqrt(draws.size)


def test_truncated_normal_hyperparameters_find_the_generating_prior():
    from scipy.stats import truncnorm
    location, precision = np.array([0.5, -0.3]), np.array([4.0, 9.0])
    scale = 1 / np.sqrt(precision)
    X = np.column_stack([truncnorm.rvs(-m / s, np.inf, loc=m, scale=s, size=4000,
                                       random_state=k)
                         for k, (m, s) in enumerate(zip(location, scale))])
    rng = np.random.default_rng(1)
    m, l = np.zeros(2), np.ones(2)
    draws = []
    for sweep in range(600):
        m, l = bayesian._truncated_normal_hyper(rng, X, m, l)
        if sweep >= 200:
            draws.append(np.concatenate([m, l]))
    mean = np.mean(draws, axis=0)
    np.testing.assert_allclose(mean[:2], location, atol=0.08)
    np.testing.assert_allclose(mean[2:], precision, rtol=0.12)


@needs_numba
def test_compiled_gibbs_sweep_draws_what_the_python_one_draws():
    rng = np.random.default_rng(3)
    ptr = np.array([0, 3, 3, 7, 12], dtype=np.int64)          # a row without cells
    other = rng.integers(0, 6, 12).astype(np.int64)
    fixed = rng.uniform(0, 1, (6, 3))
    residual = rng.normal(size=12)
    results = []
    for sweep in (bayesian._gibbs_factors, bayesian._gibbs_factors_loops):
        errors, own = residual.copy(), np.full((4, 3), 0.2)
        sweep(np.random.default_rng(11), ptr, other, errors, own, fixed,
              np.array([0.1, 0.0, -0.5]), np.array([1.0, 2.0, 4.0]), 3.0)
        results.append((errors, own))
    (errors_a, own_a), (errors_b, own_b) = results
    assert not np.allclose(own_a[[0, 2, 3]], 0.2)
    np.testing.assert_allclose(own_a, own_b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(errors_a, errors_b, rtol=0, atol=1e-12)


def test_verbose_prints_the_labs_progress_line_with_each_sample_error(capsys):
    """Every tenth of the 20 sweeps, the squared training error of that sweep's sample, in
    the progress line every iterative fit of the lab prints (lab.base.finished)."""
    X, _, mask = planted_biased()
    fit = factorizations.bayesian_non_negative(np.where(mask, X, np.nan), 2, n_samples=10,
                                               burn_in=10, thin=1, random_state=0, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("bayesian_non_negative: iteration    20 of 20")
    printed = [float(line.rsplit(" ", 1)[1]) for line in lines]
    np.testing.assert_allclose(printed, fit.last.losses[2::2], rtol=1e-6)
