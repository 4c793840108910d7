"""Tests of the lab's machinery: the masked update (lab.kernels.masked_updates), compiled
and in its NumPy form, against nmf_core.non_negative with a mask (the exercise's plain
reference), against its equations written out densely (a literal reference in this file)
and against each other, with and without numba; what a mask means (observed
zeros, unobserved rows, ignored cells, containers, a full mask = nmf_core.non_negative);
its fold-in; and the shared pieces of lab.base (results, validation, the start)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nmf_core
from lab import base
from lab import factorizations, kernels
from lab.kernels import masked_updates

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_NUMBA_RUN = os.environ.get("NMF_WITHOUT_NUMBA") == "1"
needs_numba = pytest.mark.skipif(kernels._half_step_compiled is None,
                                 reason="numba is not installed (or NMF_WITHOUT_NUMBA=1)")
#: Both forms of the masked update: compiled (where numba is) and NumPy (kernels.numpy_form).
FORMS = [pytest.param("compiled", marks=needs_numba), "numpy"]
# Deterministic property tests: the same examples on every run and in CI.
PROPERTY = settings(derandomize=True, deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def random_matrix(seed, n, m, density=1.0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, m)) * scale
    X[rng.random((n, m)) >= density] = 0.0
    return X


def objective(X, Z, H, observed, l2=0.0):
    """The documented objective, evaluated directly with the full product."""
    residual = np.where(observed, np.nan_to_num(X) - Z @ H, 0.0)
    penalty = observed.sum(axis=1) @ (Z**2).sum(axis=1) + observed.sum(axis=0) @ (H**2).sum(axis=0)
    return float(np.sum(residual**2) + l2 * penalty)


def relative_gap(got, expected):
    """The largest difference, relative to the largest entry of ``expected``."""
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def dense_masked_updates(X, W, Z, H, n_iter, l2, floor):
    """The masked equations, literally, on dense arrays; ``W`` the 0/1 mask.  H first, then
    Z with the new H; ``losses[t]`` the objective at ``(Z_t, H_t)``, evaluated directly."""
    WX, n_i, m_j = W * np.nan_to_num(X), W.sum(axis=1)[:, None], W.sum(axis=0)[None, :]
    losses = [objective(X, Z, H, W == 1, l2)]
    for _ in range(n_iter):
        H = H * (Z.T @ WX) / np.clip(Z.T @ (W * (Z @ H)) + l2 * m_j * H, floor, None)
        Z = Z * (WX @ H.T) / np.clip((W * (Z @ H)) @ H.T + l2 * n_i * Z, floor, None)
        losses.append(objective(X, Z, H, W == 1, l2))
    return Z, H, np.array(losses)


def form(name):
    """The block runs masked_updates compiled ("compiled") or in its NumPy form ("numpy")."""
    return kernels.numpy_form() if name == "numpy" else contextlib.nullcontext()


def assert_non_increasing(losses, reference):
    """Each step may rise by at most 1e-12 relative to the larger of the previous loss and
    ``reference`` (= ||X_observed||^2): rounding, not a rise of the objective."""
    rises = np.diff(losses)
    slack = 1e-12 * np.maximum(losses[:-1], reference)
    assert np.all(rises <= slack), (
        f"loss rose by up to {rises.max():.3e} at step {int(np.argmax(rises - slack)) + 1}")


# --------------------------------------------------------------------------
# the masked update, compiled and in NumPy: its equations, written out densely
# --------------------------------------------------------------------------

@pytest.mark.parametrize("form_name", FORMS)
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_masked_updates_follow_the_masked_equations_written_densely(form_name, l2):
    """masked_updates and a literal dense transcription of its equations (dense_masked_updates,
    a 0/1 mask W), from the same start (nmf_core's, s the mean observed value) with the floor
    eps * s**1.5: the same factors after 200 steps and the same losses at every step, each the
    objective evaluated directly.  A wide matrix (more columns than rows), ~30 % observed."""
    rng = np.random.default_rng(41)
    X = rng.random((30, 70)) * 5
    observed = rng.random(X.shape) < 0.3
    s = float(X[observed].mean())
    with form(form_name):
        assert (kernels._half_step_compiled is None) == (form_name == "numpy")
        start = masked_updates(X, 5, n_iter=0, mask=observed, l2=l2)
        fit = masked_updates(X, 5, n_iter=200, mask=observed, l2=l2)
    Z0, H0 = base.initialize(30, 70, 5, s, 0)
    np.testing.assert_array_equal(start.Z, Z0)
    np.testing.assert_array_equal(start.H, H0)
    Z, H, losses = dense_masked_updates(X, observed.astype(float), Z0, H0, 200, l2,
                                        nmf_core.EPS * s**1.5)
    assert fit.Z.shape == (30, 5) and fit.H.shape == (5, 70) and fit.losses.shape == (201,)
    np.testing.assert_allclose(fit.Z, Z, rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.H, H, rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.losses, losses, rtol=1e-9, atol=0)
    np.testing.assert_allclose(start.losses, losses[:1], rtol=1e-12)
    assert fit.losses[-1] < 0.5 * fit.losses[0]
    # the penalty is in the equations: a fit without it (or with it) differs
    other = masked_updates(X, 5, n_iter=200, mask=observed, l2=0.1 - l2)
    assert relative_gap(other.Z @ other.H, fit.Z @ fit.H) > 1e-3


# --------------------------------------------------------------------------
# what the mask means: observed cells, and only they
# --------------------------------------------------------------------------

def random_mask(seed, shape, share):
    return np.random.default_rng(seed).random(shape) < share


@st.composite
def masked_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 14))
    m = draw(st.integers(1, 14))
    rank = draw(st.integers(1, min(n, m, 7)))
    density = draw(st.sampled_from([0.05, 0.3, 0.7, 1.0]))
    scale = draw(st.sampled_from([1e-2, 1.0, 5.0, 1e3]))
    X = random_matrix(seed, n, m, density=density, scale=scale)
    mask = random_mask(seed + 1, (n, m), draw(st.sampled_from([0.1, 0.5, 0.9, 1.0])))
    mask.flat[seed % mask.size] = True       # at least one observed cell
    l2 = draw(st.sampled_from([0.0, 1e-3, 0.1, 2.0]))
    return X, rank, mask, l2, seed % 1000


@PROPERTY
@given(masked_problems())
def test_masked_loss_never_increases(problem):
    X, rank, mask, l2, seed = problem
    losses = masked_updates(X, rank, n_iter=60, random_state=seed, mask=mask, l2=l2).losses
    assert_non_increasing(losses, np.sum(X[mask] ** 2))


def test_a_full_mask_without_penalty_is_the_exercises_non_negative():
    X = random_matrix(10, 20, 16, density=0.6, scale=2.0)
    plain = nmf_core.non_negative(X, 3, n_iter=60)
    for mask in (np.ones(X.shape, dtype=bool), np.ones(X.shape, dtype=int)):
        masked = masked_updates(X, 3, n_iter=60, mask=mask)
        np.testing.assert_allclose(masked.Z, plain.Z, rtol=1e-9, atol=0)
        np.testing.assert_allclose(masked.H, plain.H, rtol=1e-9, atol=0)
        np.testing.assert_allclose(masked.losses, plain.losses, rtol=1e-9, atol=0)
    assert plain.losses[-1] < 0.5 * plain.losses[0]


def test_a_stored_zero_in_a_sparse_mask_is_an_observed_zero():
    X = random_matrix(11, 6, 5) + 1.0
    X[0, 0] = 0.0
    dense_mask = np.zeros(X.shape, dtype=bool)
    dense_mask[:, :3] = True
    rows, cols = np.nonzero(dense_mask)
    stored = sp.coo_array((np.where(X[rows, cols] == 0, 0.0, 1.0), (rows, cols)), shape=X.shape)
    assert stored.nnz == dense_mask.sum()                       # one stored entry is 0
    a = masked_updates(X, 2, n_iter=20, mask=dense_mask)
    b = masked_updates(X, 2, n_iter=20, mask=stored)
    assert np.array_equal(a.Z, b.Z) and np.array_equal(a.H, b.H)
    assert np.array_equal(a.losses, b.losses)
    # unobserved, the zero would change the fit
    without = dense_mask.copy()
    without[0, 0] = False
    assert not np.allclose(masked_updates(X, 2, n_iter=20, mask=without).Z, a.Z)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_unobserved_rows_and_columns_get_zero_factors(l2):
    X = random_matrix(18, 6, 5) + 1.0
    observed = np.ones(X.shape, dtype=bool)
    observed[2, :] = False
    observed[:, 4] = False
    Z, H, losses = masked_updates(X, 2, n_iter=10, mask=observed, l2=l2)
    assert not Z[2].any() and not H[:, 4].any()
    assert np.delete(Z, 2, axis=0).all() and H[:, :4].all()     # the others are fitted
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_nan_and_negatives_in_unobserved_cells_are_ignored():
    X = random_matrix(19, 6, 5) + 1.0
    observed = np.ones(X.shape, dtype=bool)
    observed[1, 2] = observed[3, 0] = False
    dirty = X.copy()
    dirty[1, 2], dirty[3, 0] = np.nan, -5.0
    a = masked_updates(X, 2, n_iter=20, mask=observed, l2=0.1)
    b = masked_updates(dirty, 2, n_iter=20, mask=observed, l2=0.1)
    assert np.array_equal(a.Z, b.Z) and np.array_equal(a.H, b.H)
    assert np.array_equal(a.losses, b.losses)


def test_nan_or_inf_in_an_observed_cell_is_refused():
    X = np.ones((3, 4))
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"data has 1 NaN or infinite entries in observed cells "
                                         r"\(first at row 0, column 0: inf\); mark them as "
                                         r"unobserved in `mask`"):
        masked_updates(X, 2, mask="observed")
    observed = np.ones(X.shape, dtype=bool)
    observed[0, 0] = False
    assert np.isfinite(masked_updates(X, 2, n_iter=5, mask=observed).losses).all()


def test_masked_inputs_agree_across_containers():
    X = random_matrix(8, 30, 20, scale=5.0) + 0.5
    observed = random_mask(9, X.shape, 0.25)
    with_nan = np.where(observed, X, np.nan)
    reference = masked_updates(X, 3, n_iter=60, mask=observed, l2=0.05)
    rows, cols = np.nonzero(observed)
    sparse_data = sp.coo_array((X[rows, cols], (rows, cols)), shape=X.shape)
    variants = [
        dict(data=pd.DataFrame(with_nan), mask="observed"),
        dict(data=with_nan, mask="observed"),
        dict(data=sparse_data, mask="observed"),
        dict(data=sp.csr_array(sparse_data), mask="observed"),
        dict(data=X, mask=sp.csr_matrix(observed)),
        dict(data=X * 0 + 7.0 * ~observed + X * observed, mask=observed),  # unobserved values ignored
        dict(data=X, mask=observed.astype(int)),
    ]
    for variant in variants:
        other = masked_updates(variant["data"], 3, n_iter=60, mask=variant["mask"], l2=0.05)
        np.testing.assert_allclose(other.Z, reference.Z, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.H, reference.H, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.losses, reference.losses, rtol=1e-12)
    assert reference.losses[-1] < 0.5 * reference.losses[0]


@pytest.mark.parametrize("k", [-40, -3, 0, 5, 60])
def test_scaling_the_data_by_a_power_of_four_scales_the_masked_factors_exactly(k):
    """masked_updates(c X, l2 = c l2) = (sqrt(c) Z, sqrt(c) H) bit for bit when c = 4**k: no
    product rounds differently and the floor moves with the data (eps * s**1.5)."""
    X = random_matrix(31, 12, 9, density=0.6, scale=5.0)
    X[X == 0] = np.nan
    c, root = 4.0 ** k, 2.0 ** k
    base_fit = masked_updates(X, 3, n_iter=80, mask="observed", l2=0.1)
    scaled = masked_updates(X * c, 3, n_iter=80, mask="observed", l2=0.1 * c)
    np.testing.assert_array_equal(scaled.Z, base_fit.Z * root)
    np.testing.assert_array_equal(scaled.H, base_fit.H * root)
    np.testing.assert_array_equal(scaled.losses, base_fit.losses * c * c)


@pytest.mark.parametrize("as_sparse", [False, True])
@pytest.mark.parametrize("l2", [0.0, 0.5])
def test_all_zero_observed_cells_give_zero_factors_without_warnings(as_sparse, l2):
    X = np.zeros((7, 5))
    data = sp.csr_array(X) if as_sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            Z, H, losses = masked_updates(data, 3, n_iter=40, mask=np.ones(X.shape, dtype=bool),
                                          l2=l2)
    assert Z.shape == (7, 3) and H.shape == (3, 5)
    assert not Z.any() and not H.any() and not losses.any()


def test_verbose_prints_the_objective_each_tenth_of_the_run(capsys):
    fit = masked_updates(random_matrix(16, 8, 6), 2, n_iter=250, mask="observed", l2=0.1,
                         verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [int(line.split()[2]) for line in lines] == list(range(0, 251, 25))
    assert lines[-1].startswith("masked_updates: iteration   250 of 250, objective ")
    printed = [float(line.rsplit(" ", 1)[1]) for line in lines]
    np.testing.assert_allclose(printed, fit.losses[::25], rtol=1e-6)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_masked_updates_agree_with_the_exercises_masked_non_negative(l2):
    """masked_updates (the compiled kernel where numba is installed) and nmf_core.non_negative
    with a mask (plain SciPy, the reference) draw the same start (same seed, Z then H, scale
    sqrt(mean observed / M), same clip floor) and run the same updates: the same fit, up to
    rounding.  A wide matrix (more columns than rows), 25 % of its cells observed."""
    rng = np.random.default_rng(41)
    X = rng.random((30, 70)) * 5
    observed = rng.random(X.shape) < 0.25
    for n_iter in (0, 1, 200):
        fast = masked_updates(X, 5, n_iter=n_iter, mask=observed, l2=l2)
        plain = nmf_core.non_negative(X, 5, n_iter=n_iter, mask=observed, l2=l2)
        assert relative_gap(fast.Z, plain.Z) <= 1e-9
        assert relative_gap(fast.H, plain.H) <= 1e-9
        np.testing.assert_allclose(fast.losses, plain.losses, rtol=1e-9, atol=0)
    assert fast.losses[-1] < 0.5 * fast.losses[0]
    np.testing.assert_allclose(fast.losses[-1], objective(X, fast.Z, fast.H, observed, l2),
                               rtol=1e-10)


def test_masked_updates_need_a_mask():
    with pytest.raises(ValueError, match=r"masked_updates needs a mask \(e\.g\. mask='observed'\); "
                                         r"for every cell observed, use nmf_core\.non_negative"):
        masked_updates(random_matrix(40, 6, 5), 2, mask=None)


def test_the_labs_results_are_the_exercises_results():
    """lab.base.FitResult is nmf_core.NMFResult with reconstruction(): the ground floor
    takes a lab fit (fold_into) and unpacks it as its own."""
    X = random_matrix(43, 12, 9, scale=3.0)
    fit = masked_updates(X, 3, n_iter=20)
    assert isinstance(fit, base.FitResult) and isinstance(fit, nmf_core.NMFResult)
    np.testing.assert_array_equal(fit.reconstruction(), fit.Z @ fit.H)
    new = nmf_core.non_negative(X[:2], 3, n_iter=20, fold_into=fit)
    np.testing.assert_array_equal(new.H, fit.H)


def test_the_start_is_the_exercises_start():
    """lab.base.initialize draws what nmf_core.non_negative starts from (n_iter=0)."""
    X = random_matrix(44, 9, 7, scale=4.0)
    start = nmf_core.non_negative(X, 3, n_iter=0, random_state=5)
    Z, H = base.initialize(9, 7, 3, float(X.mean()), 5)
    np.testing.assert_array_equal(Z, start.Z)
    np.testing.assert_array_equal(H, start.H)


# --------------------------------------------------------------------------
# the masked kernel: compiled loops against the NumPy form
# --------------------------------------------------------------------------

def cells_with_group_sizes(sizes, n_other, seed):
    """``kernels._Cells`` whose groups hold ``sizes`` cells (distinct others each)."""
    rng = np.random.default_rng(seed)
    others = [np.sort(rng.choice(n_other, size, replace=False)) for size in sizes]
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.random(int(indptr[-1])) * 5
    values[::7] = 0.0                                    # observed zeros count too
    return kernels._Cells(indptr, np.concatenate(others).astype(np.int64), values,
                          np.diff(indptr).astype(np.float64))


def test_the_pinned_environment_uses_the_compiled_kernel():
    pytest.importorskip("numba", reason="numba cannot be imported here (or NMF_WITHOUT_NUMBA=1)")
    assert kernels.numba is not None, "numba is pinned in requirements-dev.txt; `make venv`"
    assert kernels._half_step_compiled is not None


@needs_numba
def test_compile_falls_back_to_no_disk_cache_when_there_is_no_cache_location():
    """numba refuses cache=True for code without a source file (here: exec'd)."""
    namespace = {}
    exec("def twice(x):\n    return 2.0 * x\n", namespace)
    with pytest.raises(RuntimeError, match="cannot cache"):
        kernels.numba.njit(cache=True)(namespace["twice"])
    compiled = kernels._compile(namespace["twice"])
    assert compiled(21.0) == 42.0
    assert type(compiled._cache).__name__ == "NullCache"
    # the module's own kernel has a source file: it is cached on disk where it can be
    if os.access(Path(kernels.__file__).parent, os.W_OK):
        assert type(kernels._half_step_compiled._cache).__name__ == "FunctionCache"


def test_jit_is_the_identity_without_numba(monkeypatch):
    monkeypatch.setattr(kernels, "numba", None)
    assert kernels.jit(relative_gap) is relative_gap


# Group sizes cover empty groups, the one-by-one tail (1-3 cells) and the
# blocks of four (4, 5, 8, 11 cells); M covers 1, odd and larger ranks.
@needs_numba
@pytest.mark.parametrize("M", [1, 3, 4, 7, 20])
@pytest.mark.parametrize("l2", [0.0, 0.4])
def test_compiled_half_step_matches_the_numpy_form(M, l2):
    sizes = [0, 1, 2, 3, 4, 5, 8, 11, 0, 30]
    cells = cells_with_group_sizes(sizes, n_other=40, seed=M)
    rng = np.random.default_rng(100 + M)
    own, other = rng.random((len(sizes), M)), rng.random((40, M))
    expected = np.empty_like(own)
    sse = kernels._half_step_numpy(*cells, own, other, l2, nmf_core.EPS, expected)
    got = np.empty_like(own)
    sse_compiled = kernels._half_step_compiled(*cells, own, other, l2, nmf_core.EPS, got)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(sse_compiled, sse, rtol=1e-13)
    # the squared error is that of the incoming factors, computed directly
    groups = np.repeat(np.arange(len(sizes)), sizes)
    direct = np.sum((cells.values - np.sum(own[groups] * other[cells.other_index], axis=1)) ** 2)
    np.testing.assert_allclose(sse_compiled, direct, rtol=1e-12)
    # an empty group without penalty has a zero numerator: its row becomes 0
    assert not got[0].any() and not got[8].any()
    # in place (out is own) gives the same numbers
    in_place = own.copy()
    kernels._half_step_compiled(*cells, in_place, other, l2, nmf_core.EPS, in_place)
    assert np.array_equal(in_place, got)


@needs_numba
@pytest.mark.skipif(kernels.numba is not None and kernels.numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one core: numba cannot run two threads here")
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_compiled_kernel_gives_the_same_fit_on_one_and_two_threads(l2, on_threads):
    """The groups run in parallel, each summed by one thread in a fixed order: factors and
    losses are bit for bit those of one thread, on a wide matrix with uneven groups."""
    rng = np.random.default_rng(8)
    X = sp.random(300, 900, density=0.05, random_state=8, format="csr",
                  data_rvs=lambda k: rng.integers(1, 6, k).astype(float))
    one, two = on_threads(lambda: masked_updates(X, 7, n_iter=25, mask="observed", l2=l2))
    assert np.array_equal(one.Z, two.Z) and np.array_equal(one.H, two.H)
    assert np.array_equal(one.losses, two.losses)
    assert one.losses[-1] < 0.5 * one.losses[0]


def test_python_loops_match_the_numpy_form():
    """The loops the compiler gets, run as plain Python, give the NumPy form's numbers."""
    cells = cells_with_group_sizes([0, 1, 3, 4, 9], n_other=12, seed=2)
    rng = np.random.default_rng(3)
    own, other = rng.random((5, 3)), rng.random((12, 3))
    expected, got = np.empty_like(own), np.empty_like(own)
    sse = kernels._half_step_numpy(*cells, own, other, 0.3, nmf_core.EPS, expected)
    assert kernels._half_step_loops(*cells, own, other, 0.3, nmf_core.EPS, got) == \
        pytest.approx(sse, rel=1e-13)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


@needs_numba
@pytest.mark.parametrize("l2", [0.0, 0.2])
def test_masked_fit_is_the_same_with_or_without_numba(monkeypatch, l2):
    X = random_matrix(21, 37, 29, scale=5.0)
    observed = np.random.default_rng(22).random(X.shape) < 0.35
    compiled = masked_updates(X, 5, n_iter=80, mask=observed, l2=l2)
    monkeypatch.setattr(kernels, "_half_step_compiled", None)
    monkeypatch.setattr(kernels, "_CHUNK", 7)          # the NumPy form's chunks, many times
    reference = masked_updates(X, 5, n_iter=80, mask=observed, l2=l2)
    np.testing.assert_allclose(compiled.Z, reference.Z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(compiled.H, reference.H, rtol=0, atol=1e-10)
    np.testing.assert_allclose(compiled.losses, reference.losses, rtol=1e-12)
    assert compiled.losses[-1] < 0.5 * compiled.losses[0]


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_numba), False])
def test_masked_early_stop_returns_the_factors_of_the_last_loss(monkeypatch, compiled):
    if not compiled:
        monkeypatch.setattr(kernels, "_half_step_compiled", None)
    X = random_matrix(23, 30, 24, scale=4.0)
    observed = np.random.default_rng(24).random(X.shape) < 0.4
    Z, H, losses = masked_updates(X, 3, n_iter=2000, mask=observed, l2=0.1, tol=1e-5)
    assert 10 < losses.size - 1 < 2000
    np.testing.assert_allclose(losses[-1], objective(X, Z, H, observed, 0.1), rtol=1e-12)
    assert losses[-2] - losses[-1] <= 1e-5 * losses[-2]        # stopped here ...
    assert np.all(-np.diff(losses[:-1]) > 1e-5 * losses[:-2])  # ... and not one step earlier


WITHOUT_NUMBA = """
import sys
import numpy as np
{block}
from lab import kernels
X = np.random.default_rng(25).random((19, 14)) * 5
observed = np.random.default_rng(26).random(X.shape) < 0.5
result = kernels.masked_updates(X, 3, n_iter=40, mask=observed, l2=0.1)
np.save(sys.argv[1], np.concatenate([result.Z.ravel(), result.H.ravel(), result.losses]))
print(kernels._half_step_compiled is None)
"""


@pytest.mark.parametrize("block, env", [
    ("sys.modules['numba'] = None  # as if it were not installed", {}),
    ("", {"NUMBA_DISABLE_JIT": "1"}),
], ids=["not-installed", "jit-disabled"])
def test_without_numba_the_numpy_form_gives_the_same_fit(tmp_path, block, env):
    script = tmp_path / "fit.py"
    script.write_text(WITHOUT_NUMBA.format(block=block))
    out = tmp_path / "fit.npy"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    child = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                           text=True, env=environment, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "True"                # the NumPy form was used
    X = np.random.default_rng(25).random((19, 14)) * 5
    observed = np.random.default_rng(26).random(X.shape) < 0.5
    here = masked_updates(X, 3, n_iter=40, mask=observed, l2=0.1)
    np.testing.assert_allclose(np.load(out), np.concatenate(
        [here.Z.ravel(), here.H.ravel(), here.losses]), rtol=1e-10, atol=1e-12)


def test_huge_sparse_input_never_forms_the_dense_product():
    """A 200000 x 100000 dense float64 matrix would need 160 GB."""
    n, m, nnz = 200_000, 100_000, 3_000
    rng = np.random.default_rng(15)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, m, nnz)
    X = sp.coo_array((rng.random(nnz) * 4 + 1, (rows, cols)), shape=(n, m))
    Z, H, losses = masked_updates(X, 3, n_iter=5, l2=0.01)
    assert Z.shape == (n, 3) and H.shape == (3, m)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


# --------------------------------------------------------------------------
# fold-in: new rows against a fixed H
# --------------------------------------------------------------------------

def test_fold_in_keeps_H_and_runs_the_training_z_update():
    X = random_matrix(34, 20, 12, density=0.7, scale=3.0)
    X[X == 0] = np.nan
    fit = masked_updates(X, 3, n_iter=300, l2=0.1)
    new = masked_updates(X[:4], 3, n_iter=300, l2=0.1, fold_into=fit)
    np.testing.assert_array_equal(new.H, fit.H)
    assert np.all(np.diff(new.losses) <= 1e-12 * new.losses[0])
    # the literal Z-update with H fixed, from the same start, gives the same rows
    observed = ~np.isnan(X[:4])
    data = np.where(observed, X[:4], 0.0)
    Z, _ = base.initialize(4, 12, 3, float(data[observed].mean()), 0)
    floor = nmf_core.EPS * float(data[observed].mean()) ** 1.5
    for _ in range(300):
        P = np.where(observed, Z @ fit.H, 0.0)
        Z = Z * (data @ fit.H.T) / np.maximum(P @ fit.H.T + 0.1 * observed.sum(1)[:, None] * Z,
                                              floor)
    np.testing.assert_allclose(new.Z, Z, rtol=1e-9)
    # rows of the training data come back close to their trained weights
    assert np.abs(new.Z @ fit.H - fit.Z[:4] @ fit.H).max() < 0.05 * np.nanmax(X)


def test_fold_in_refuses_a_mismatched_fit():
    fit = masked_updates(random_matrix(35, 8, 6), 2, n_iter=5)
    with pytest.raises(ValueError, match=r"fold_into must be an earlier fit \(NMFResult\) whose H "
                                         r"has shape \(num_components, columns of data\) = "
                                         r"\(2, 5\).*got FitResult with H of shape \(2, 6\)"):
        masked_updates(random_matrix(35, 3, 5), 2, fold_into=fit)
    with pytest.raises(ValueError, match=r"\(3, 6\)"):
        masked_updates(random_matrix(35, 3, 6), 3, fold_into=fit)
    biased = factorizations.biased_non_negative(random_matrix(35, 8, 6), 2, n_iter=2)
    with pytest.raises(ValueError, match=r"\(NMFResult\).*got BiasedResult"):
        masked_updates(random_matrix(35, 3, 6), 2, fold_into=biased)   # its biases would be lost


# --------------------------------------------------------------------------
# the validation every factorization of the lab shares
# --------------------------------------------------------------------------

def test_validate_contract():
    X = np.array([[0.0, 2.0, np.nan], [1.0, 0.0, 3.0]])
    checked = base.validate(X, "observed")
    assert checked.masked and sp.issparse(checked.X) and checked.X.format == "csr"
    assert checked.X.nnz == 5                                   # observed zeros stay stored
    assert checked.X.toarray().tolist() == [[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]
    plain = base.validate(np.nan_to_num(X))
    assert not plain.masked and isinstance(plain.X, np.ndarray) and plain.X.dtype == np.float64
    sparse = base.validate(sp.coo_matrix(np.nan_to_num(X)))
    assert not sparse.masked and sparse.X.format == "csr" and sparse.X.has_canonical_format
    assert base.mean_observed(checked) == pytest.approx(6 / 5)
    assert base.mean_observed(plain) == pytest.approx(6 / 6)


NNLS_ALS = partial(factorizations.als, nonnegative=True)


def test_data_too_small_for_float64_is_refused_not_turned_into_nan():
    X = random_matrix(36, 30, 20) * 1e-250
    for function in (masked_updates, NNLS_ALS):
        with pytest.raises(ValueError, match=r"data is too small for float64 arithmetic: its "
                                             r"largest entry .*e-25\d, cubed, underflows; multiply"):
            function(X, 3)


def test_data_whose_squares_overflow_is_refused_by_every_function():
    X = random_matrix(33, 6, 5) * 1e200
    for function in (masked_updates, factorizations.als, NNLS_ALS,
                     factorizations.biased_non_negative, factorizations.truncated_svd):
        with pytest.raises(ValueError, match=r"data is too large for float64 arithmetic: its "
                                             r"largest entry 9\.4e\+199, squared and summed "
                                             r"over 30 cells, overflows; divide the data"):
            function(X, 2)
    assert np.isfinite(masked_updates(X * 1e-200 * 1e150, 2, n_iter=5).losses).all()


# --------------------------------------------------------------------------
# the same file without numba
# --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(WITHOUT_NUMBA_RUN, reason="this is that run")
def test_the_kernel_tests_pass_without_numba():
    """This file again, in a child process where numba cannot be imported: every test
    of the NumPy form runs, those of the compiled kernel are skipped, none fails.

    Skipped there: the compiled form's 2 checks against the dense equations, the
    pinned-environment check, the compile fallback, the 10 kernel comparisons, the 2 fits
    on one and two threads, the 2 fits with and without numba and the compiled early stop
    (19); this test (slow) is
    deselected; the other 37 run (the prefetch hint's test checks its Python form
    there).  About 7 s."""
    child = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-m", "not slow", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "NMF_WITHOUT_NUMBA": "1"})
    summary = child.stdout.strip().splitlines()[-1]
    assert child.returncode == 0, child.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", summary)[1])
    skipped = int(re.search(r"(\d+) skipped", summary)[1])
    assert (passed, skipped) == (37, 19), summary


def test_prefetch_is_a_hint_only():
    """In Python it does nothing; compiled, it takes int32 and int64 rows, even the last
    row of an array (the hint may reach past its end: a prefetch never faults), and the
    compiled passes that use it give the NumPy form's numbers (tests above)."""
    F = np.arange(12.0).reshape(4, 3)
    assert kernels._prefetch_row(F, 3) is None
    if kernels._half_step_compiled is None:
        return
    @kernels.numba.njit
    def touch(array, rows):
        total = 0.0
        for r in rows:
            kernels._prefetch_row(array, r)
            total += array[r, 0]
        return total
    for dtype in (np.int32, np.int64):
        assert touch(F, np.array([0, 3, 1], dtype=dtype)) == 0.0 + 9.0 + 3.0
    assert np.array_equal(F, np.arange(12.0).reshape(4, 3))
