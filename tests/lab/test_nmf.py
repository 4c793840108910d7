"""Tests of lab.nmf.non_negative, the lab's general NMF: with no option set it is the
exercise's nmf_core.non_negative (the reference; test_nmf_core.py runs the exercise's tests on
both NMFs); with options, its claims proved on many inputs (the loss it reports, the loss never
increasing with l2 or a mask, the literal equations, the clip floor's scale); what a mask
means, and the masked pass, compiled and in its NumPy form, against its equations written out
densely and against each other, with and without numba; and that the n x m product is never
formed.  Its options, edge cases, fold-in and answers to bad input are test_nmf_options.py's;
the kernel passes themselves are tested in test_kernels.py, the input checks every lab
function shares in test_base.py.  The helpers are tests/nmf_cases.py's, the digits fixture
conftest.py's."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import lab.nmf
import nmf_core
from lab import kernels
from lab.nmf import non_negative
from nmf_core import NMFResult
from nmf_cases import (PROPERTY, assert_non_increasing, dense_masked_equations, documented_start,
                       literal_updates, objective, problems, random_mask, random_matrix,
                       relative_gap)
from needs import needs_numba
from scripts import ROOT

#: Both forms of the masked pass: compiled (where numba is) and NumPy (kernels.numpy_form).
FORMS = [pytest.param("compiled", marks=needs_numba), "numpy"]


def form(name):
    """The block runs the masked pass compiled ("compiled") or in its NumPy form ("numpy")."""
    return kernels.numpy_form() if name == "numpy" else contextlib.nullcontext()


# --------------------------------------------------------------------------
# with no option set: the exercise's function, the reference
# --------------------------------------------------------------------------

def mostly_zeros():
    """A wide random matrix with 6 % of its cells non-zero (so both functions multiply
    it as CSR), two of its rows and two of its columns all zero."""
    X = random_matrix(50, 70, 110, density=0.06, scale=5.0)
    X[[3, 40]] = 0.0
    X[:, [5, 77]] = 0.0
    assert 0 < np.count_nonzero(X) < 0.1 * X.size
    return X


@pytest.mark.parametrize("problem", ["digits", "mostly zeros"])
@pytest.mark.parametrize("container", ["dense", "csr", "dataframe"])
def test_with_no_option_set_it_is_the_exercises_non_negative(digits, problem, container):
    """lab.nmf.non_negative with every option at its default and nmf_core.non_negative
    (the reference) give the same Z and H, bit for bit, and losses to 1e-9 (relative), on
    dense, CSR and DataFrame input, on the digits and on a mostly-zero matrix, from three
    seeds."""
    X = digits if problem == "digits" else mostly_zeros()
    data = {"dense": lambda: X, "csr": lambda: sp.csr_array(X),
            "dataframe": lambda: pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
            }[container]()
    for seed, n_iter in ((1, 0), (7, 40), (0, 300)):
        ours = non_negative(data, 10, n_iter=n_iter, random_state=seed)
        reference = nmf_core.non_negative(data, 10, n_iter=n_iter, random_state=seed)
        assert isinstance(ours, NMFResult) and ours.losses.shape == (n_iter + 1,)
        for got, expected in zip(ours, reference):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
        # the same order of operations (lab.nmf._step): the factors are equal bit for bit
        assert np.array_equal(ours.Z, reference.Z) and np.array_equal(ours.H, reference.H)
    assert ours.losses[-1] < 0.7 * ours.losses[0]               # the fits went somewhere


# --------------------------------------------------------------------------
# basic contract
# --------------------------------------------------------------------------

@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_masked_loss_equals_direct_objective(l2):
    X = random_matrix(3, 30, 22, scale=4.0)
    observed = np.random.default_rng(4).random(X.shape) < 0.3
    for n_iter in (0, 1, 20):
        Z, H, losses = non_negative(X, 4, n_iter=n_iter, mask=observed, l2=l2)
        np.testing.assert_allclose(losses[-1], objective(X, Z, H, observed, l2), rtol=1e-9)


def test_unmasked_l2_loss_equals_direct_objective():
    X = random_matrix(5, 20, 15, scale=2.0)
    Z, H, losses = non_negative(X, 3, n_iter=15, l2=0.2)
    np.testing.assert_allclose(losses[-1], objective(X, Z, H, None, 0.2), rtol=1e-9)


# --------------------------------------------------------------------------
# proofs: monotonicity (property-based)
# --------------------------------------------------------------------------

@st.composite
def masked_problems(draw):
    X, rank, seed = draw(problems(max_rank=7, within_shape=True))
    mask = random_mask(seed + 1, X.shape, draw(st.sampled_from([0.1, 0.5, 0.9, 1.0])))
    mask.flat[seed % mask.size] = True       # at least one observed cell
    l2 = draw(st.sampled_from([0.0, 1e-3, 0.1, 2.0]))
    return X, rank, mask, l2, seed


@PROPERTY
@given(problems(max_rank=7, within_shape=True), st.sampled_from([1e-3, 0.1, 2.0]))
def test_loss_never_increases_with_l2(problem, l2):
    X, rank, seed = problem
    losses = non_negative(X, rank, n_iter=60, random_state=seed, l2=l2).losses
    assert_non_increasing(losses, np.sum(X**2))


@PROPERTY
@given(masked_problems())
def test_masked_loss_never_increases(problem):
    X, rank, mask, l2, seed = problem
    losses = non_negative(X, rank, n_iter=60, random_state=seed, mask=mask, l2=l2).losses
    assert_non_increasing(losses, np.sum(X[mask] ** 2))


# --------------------------------------------------------------------------
# proofs: containers, determinism, the literal equations
# --------------------------------------------------------------------------

@pytest.mark.parametrize("density", [1.0, 0.1])
def test_dense_and_csr_kernels_agree(monkeypatch, density):
    """Force each kernel in turn: BLAS products and CSR products, same numbers."""
    X = random_matrix(7, 30, 40, density=density, scale=3.0)
    monkeypatch.setattr(nmf_core, "SPARSE_BELOW", 0.0)     # always dense (the ground floor's rule)
    dense = non_negative(X, 5, n_iter=100)
    monkeypatch.setattr(nmf_core, "SPARSE_BELOW", 1.01)    # always CSR
    csr = non_negative(X, 5, n_iter=100)
    np.testing.assert_allclose(csr.Z, dense.Z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(csr.H, dense.H, rtol=0, atol=1e-10)
    np.testing.assert_allclose(csr.losses, dense.losses, rtol=1e-10)


def test_same_seed_same_factors_bit_for_bit_with_options():
    kwargs = {"mask": "observed", "l2": 0.1}
    X = random_matrix(12, 25, 19, density=0.4, scale=4.0)
    a = non_negative(X, 4, n_iter=50, random_state=123, **kwargs)
    b = non_negative(X.copy(), 4, n_iter=50, random_state=123, **kwargs)
    c = non_negative(X, 4, n_iter=50, random_state=124, **kwargs)
    for first, second in zip(a, b):
        assert np.array_equal(first, second)
    assert not np.allclose(a.Z, c.Z)


def test_a_masked_start_is_the_exercises_from_the_observed_mean():
    """The start is the exercise's (nmf_core.start; unmasked, test_nmf_core.py holds both
    NMFs to it): with a mask, its level is the mean of the observed cells alone."""
    X = random_matrix(13, 10, 7, scale=6.0)
    observed = random_mask(14, X.shape, 0.4)
    masked = non_negative(X, 3, n_iter=0, random_state=5, mask=observed)
    for got, expected in zip(masked[:2], documented_start(X, observed, 3, 5)):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("density", [1.0, 0.1])
def test_matches_literal_equations(digits, density):
    """Identical factors to a literal transcription of (1) and (2) after 50 steps."""
    X = digits[:300] if density == 1.0 else random_matrix(14, 60, 80, density=density, scale=4.0)
    Z0, H0, _ = non_negative(X, 10, n_iter=0, random_state=3)
    Z_lit, H_lit = literal_updates(X, Z0, H0, 50, lab.nmf.EPS)
    Z, H, _ = non_negative(X, 10, n_iter=50, random_state=3)
    np.testing.assert_allclose(Z, Z_lit, rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_lit, rtol=0, atol=1e-10)


# --------------------------------------------------------------------------
# the masked pass, compiled and in NumPy: its equations, written out densely
# --------------------------------------------------------------------------

@pytest.mark.parametrize("form_name", FORMS)
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_masked_fit_follows_the_masked_equations_written_densely(form_name, l2):
    """non_negative with a mask and a literal dense transcription of its equations
    (dense_masked_equations, a 0/1 mask W), from the same start (nmf_core.start, s the mean
    observed value) with the floor eps * s**1.5: the same factors after 200 steps and the
    same losses at every step, each the objective evaluated directly.  A wide matrix (more
    columns than rows), ~30 % observed."""
    rng = np.random.default_rng(41)
    X = rng.random((30, 70)) * 5
    observed = rng.random(X.shape) < 0.3
    s = float(X[observed].mean())
    with form(form_name):
        assert (kernels.compiled(kernels._half_step_compiled) is None) == (form_name == "numpy")
        start = non_negative(X, 5, n_iter=0, mask=observed, l2=l2)
        fit = non_negative(X, 5, n_iter=200, mask=observed, l2=l2)
    Z0, H0 = nmf_core.start((30, 70), 5, s, 0)
    np.testing.assert_array_equal(start.Z, Z0)
    np.testing.assert_array_equal(start.H, H0)
    Z, H, losses = dense_masked_equations(X, observed.astype(float), Z0, H0, 200, l2,
                                        lab.nmf.EPS * s**1.5)
    assert fit.Z.shape == (30, 5) and fit.H.shape == (5, 70) and fit.losses.shape == (201,)
    np.testing.assert_allclose(fit.Z, Z, rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.H, H, rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.losses, losses, rtol=1e-9, atol=0)
    np.testing.assert_allclose(start.losses, losses[:1], rtol=1e-12)
    assert fit.losses[-1] < 0.5 * fit.losses[0]
    # the penalty is in the equations: a fit without it (or with it) differs
    other = non_negative(X, 5, n_iter=200, mask=observed, l2=0.1 - l2)
    assert relative_gap(other.Z @ other.H, fit.Z @ fit.H) > 1e-3


@needs_numba
@pytest.mark.skipif(kernels.numba is not None and kernels.numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one core: numba cannot run two threads here")
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_compiled_pass_gives_the_same_fit_on_one_and_two_threads(l2, on_threads):
    """The groups run in parallel, each summed by one thread in a fixed order: factors and
    losses are bit for bit those of one thread, on a wide matrix with uneven groups."""
    rng = np.random.default_rng(8)
    X = sp.random(300, 900, density=0.05, random_state=8, format="csr",
                  data_rvs=lambda k: rng.integers(1, 6, k).astype(float))
    one, two = on_threads(lambda: non_negative(X, 7, n_iter=25, mask="observed", l2=l2))
    assert np.array_equal(one.Z, two.Z) and np.array_equal(one.H, two.H)
    assert np.array_equal(one.losses, two.losses)
    assert one.losses[-1] < 0.5 * one.losses[0]


@needs_numba
@pytest.mark.parametrize("l2", [0.0, 0.2])
def test_masked_fit_is_the_same_with_or_without_numba(monkeypatch, l2):
    X = random_matrix(21, 37, 29, scale=5.0)
    observed = np.random.default_rng(22).random(X.shape) < 0.35
    compiled = non_negative(X, 5, n_iter=80, mask=observed, l2=l2)
    monkeypatch.setattr(kernels, "_half_step_compiled", None)
    monkeypatch.setattr(kernels, "_CHUNK", 7)          # the NumPy form's chunks, many times
    reference = non_negative(X, 5, n_iter=80, mask=observed, l2=l2)
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
    Z, H, losses = non_negative(X, 3, n_iter=2000, mask=observed, l2=0.1, tol=1e-5)
    assert 10 < losses.size - 1 < 2000
    np.testing.assert_allclose(losses[-1], objective(X, Z, H, observed, 0.1), rtol=1e-12)
    assert losses[-2] - losses[-1] <= 1e-5 * losses[-2]        # stopped here ...
    assert np.all(-np.diff(losses[:-1]) > 1e-5 * losses[:-2])  # ... and not one step earlier


WITHOUT_NUMBA = """
import sys
import numpy as np
{block}
from lab import kernels
from lab.nmf import non_negative
X = np.random.default_rng(25).random((19, 14)) * 5
observed = np.random.default_rng(26).random(X.shape) < 0.5
result = non_negative(X, 3, n_iter=40, mask=observed, l2=0.1)
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
    here = non_negative(X, 3, n_iter=40, mask=observed, l2=0.1)
    np.testing.assert_allclose(np.load(out), np.concatenate(
        [here.Z.ravel(), here.H.ravel(), here.losses]), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------
# what the mask means: observed cells, and only they
# --------------------------------------------------------------------------

@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_a_full_mask_is_no_mask(l2):
    """A mask marking every cell (boolean or 0/1) fits what no mask fits; without the
    penalty, that is the exercise's nmf_core.non_negative."""
    X = random_matrix(10, 20, 16, density=0.6, scale=2.0)
    plain = non_negative(X, 3, n_iter=60, l2=l2)
    if not l2:
        reference = nmf_core.non_negative(X, 3, n_iter=60)
        for got, expected in zip(plain, reference):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
    for mask in (np.ones(X.shape, dtype=bool), np.ones(X.shape, dtype=int)):
        masked = non_negative(X, 3, n_iter=60, l2=l2, mask=mask)
        np.testing.assert_allclose(masked.Z, plain.Z, rtol=1e-9, atol=0)
        np.testing.assert_allclose(masked.H, plain.H, rtol=1e-9, atol=0)
        np.testing.assert_allclose(masked.losses, plain.losses, rtol=1e-9, atol=0)
    assert plain.losses[-1] < (0.5 if not l2 else 0.8) * plain.losses[0]


def test_a_stored_zero_in_a_sparse_mask_is_an_observed_zero():
    X = random_matrix(11, 6, 5) + 1.0
    X[0, 0] = 0.0
    dense_mask = np.zeros(X.shape, dtype=bool)
    dense_mask[:, :3] = True
    rows, cols = np.nonzero(dense_mask)
    stored = sp.coo_array((np.where(X[rows, cols] == 0, 0.0, 1.0), (rows, cols)), shape=X.shape)
    assert stored.nnz == dense_mask.sum()                       # one stored entry is 0
    a = non_negative(X, 2, n_iter=20, mask=dense_mask)
    b = non_negative(X, 2, n_iter=20, mask=stored)
    assert np.array_equal(a.Z, b.Z) and np.array_equal(a.H, b.H)
    assert np.array_equal(a.losses, b.losses)
    # unobserved, the zero would change the fit
    without = dense_mask.copy()
    without[0, 0] = False
    assert not np.allclose(non_negative(X, 2, n_iter=20, mask=without).Z, a.Z)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_unobserved_rows_and_columns_get_zero_factors(l2):
    X = random_matrix(18, 6, 5) + 1.0
    observed = np.ones(X.shape, dtype=bool)
    observed[2, :] = False
    observed[:, 4] = False
    Z, H, losses = non_negative(X, 2, n_iter=10, mask=observed, l2=l2)
    assert not Z[2].any() and not H[:, 4].any()
    assert np.delete(Z, 2, axis=0).all() and H[:, :4].all()     # the others are fitted
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_nan_and_negatives_in_unobserved_cells_are_ignored():
    X = random_matrix(19, 6, 5) + 1.0
    observed = np.ones(X.shape, dtype=bool)
    observed[1, 2] = observed[3, 0] = False
    dirty = X.copy()
    dirty[1, 2], dirty[3, 0] = np.nan, -5.0
    a = non_negative(X, 2, n_iter=20, mask=observed, l2=0.1)
    b = non_negative(dirty, 2, n_iter=20, mask=observed, l2=0.1)
    assert np.array_equal(a.Z, b.Z) and np.array_equal(a.H, b.H)
    assert np.array_equal(a.losses, b.losses)


def test_nan_or_inf_in_an_observed_cell_is_refused():
    X = np.ones((3, 4))
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"data has 1 NaN or infinite entries in observed cells "
                                         r"\(first at row 0, column 0: inf\); mark them as "
                                         r"unobserved in `mask`"):
        non_negative(X, 2, mask="observed")
    observed = np.ones(X.shape, dtype=bool)
    observed[0, 0] = False
    assert np.isfinite(non_negative(X, 2, n_iter=5, mask=observed).losses).all()


def test_masked_inputs_agree_across_containers():
    X = random_matrix(8, 30, 20, scale=5.0) + 0.5
    observed = random_mask(9, X.shape, 0.25)
    with_nan = np.where(observed, X, np.nan)
    reference = non_negative(X, 3, n_iter=60, mask=observed, l2=0.05)
    rows, cols = np.nonzero(observed)
    sparse_data = sp.coo_array((X[rows, cols], (rows, cols)), shape=X.shape)
    variants = [
        dict(data=pd.DataFrame(with_nan), mask="observed"),
        dict(data=with_nan, mask="observed"),
        dict(data=sparse_data, mask="observed"),
        dict(data=sp.csr_array(sparse_data), mask="observed"),
        dict(data=X, mask=sp.csr_matrix(observed)),
        dict(data=X * 0 + 7.0 * ~observed + X * observed, mask=observed),  # unobserved: ignored
        dict(data=X, mask=observed.astype(int)),
    ]
    for variant in variants:
        other = non_negative(variant["data"], 3, n_iter=60, mask=variant["mask"], l2=0.05)
        np.testing.assert_allclose(other.Z, reference.Z, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.H, reference.H, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.losses, reference.losses, rtol=1e-12)
    assert reference.losses[-1] < 0.5 * reference.losses[0]
