"""Helpers of the tests of both NMFs, the exercise's (test_nmf_core.py) and the lab's
(lab/test_nmf.py, lab/test_nmf_options.py), and of the lab's fits (lab/conftest.py): random
problems, the documented start and objective evaluated directly, and the exercise's and the
masked equations written out literally, the references the fits are held to; the settings of
their property tests."""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from nmf_core import FLOOR

#: Deterministic property tests: the same examples on every run and in CI.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow])


def random_matrix(seed, n, m, density=1.0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, m)) * scale
    X[rng.random((n, m)) >= density] = 0.0
    return X


def random_mask(seed, shape, share):
    return np.random.default_rng(seed).random(shape) < share


def objective(X, Z, H, observed=None, l2=0.0):
    """The documented objective, evaluated directly with the full product."""
    if observed is None:
        observed = np.ones(X.shape, dtype=bool)
    residual = np.where(observed, np.nan_to_num(X) - Z @ H, 0.0)
    n_i = observed.sum(axis=1)
    m_j = observed.sum(axis=0)
    penalty = n_i @ (Z**2).sum(axis=1) + m_j @ (H**2).sum(axis=0)
    return float(np.sum(residual**2) + l2 * penalty)


def documented_start(X, mask, M, seed, offset=0.0):
    """The documented start, written out: Z0 then H0, |N(0, 1)| * sqrt(s / M), s the mean
    absolute observed value of what Z H models (``mask`` the observed cells, None for all)."""
    level = np.abs((X if mask is None else X[mask]) - offset).mean()
    rng, scale = np.random.default_rng(seed), np.sqrt(level / M)
    Z0 = np.abs(rng.standard_normal((X.shape[0], M))) * scale
    return Z0, np.abs(rng.standard_normal((M, X.shape[1]))) * scale


def literal_updates(X, Z, H, n_iter, floor=FLOOR):
    """Equations (1) and (2) of the exercise, transcribed as the sheet writes them."""
    for _ in range(n_iter):
        H = H * (Z.T @ X) / np.clip(Z.T @ Z @ H, floor, None)
        Z = Z * (X @ H.T) / np.clip(Z @ H @ H.T, floor, None)
    return Z, H


@st.composite
def problems(draw, max_rank=9, within_shape=False):
    """``(X, M, seed)``: 1 to 14 rows and columns, zeros at a drawn density, a drawn scale; M
    from 1 to ``max_rank`` (at most min(n, m) too, ``within_shape``)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n, m = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    rank = draw(st.integers(1, min(n, m, max_rank) if within_shape else max_rank))
    density = draw(st.sampled_from([0.05, 0.3, 0.7, 1.0]))
    scale = draw(st.sampled_from([1e-2, 1.0, 5.0, 1e3]))
    return random_matrix(seed, n, m, density, scale), rank, seed % 1000


def dense_masked_equations(X, W, Z, H, n_iter, l2, floor):
    """The masked equations, literally, on dense arrays; ``W`` the 0/1 mask.  H first, then
    Z with the new H; ``losses[t]`` the objective at ``(Z_t, H_t)``, evaluated directly."""
    WX, n_i, m_j = W * np.nan_to_num(X), W.sum(axis=1)[:, None], W.sum(axis=0)[None, :]
    losses = [objective(X, Z, H, W == 1, l2)]
    for _ in range(n_iter):
        H = H * (Z.T @ WX) / np.clip(Z.T @ (W * (Z @ H)) + l2 * m_j * H, floor, None)
        Z = Z * (WX @ H.T) / np.clip((W * (Z @ H)) @ H.T + l2 * n_i * Z, floor, None)
        losses.append(objective(X, Z, H, W == 1, l2))
    return Z, H, np.array(losses)


def relative_gap(got, expected):
    """The largest difference, relative to the largest entry of ``expected``."""
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def assert_non_increasing(losses, reference):
    """Each step may rise by at most 1e-12 relative to the loss scale.

    The unmasked loss comes from the trace identity, whose rounding error is
    of order eps * ||X||^2; so the slack is relative to the larger of the
    previous loss and ``reference`` (= ||X_observed||^2).
    """
    previous = losses[:-1]
    rises = np.diff(losses)
    slack = 1e-12 * np.maximum(previous, reference)
    assert np.all(rises <= slack), (
        f"loss rose by up to {rises.max():.3e} (slack {slack[np.argmax(rises - slack)]:.3e}) "
        f"at step {int(np.argmax(rises - slack)) + 1}")
