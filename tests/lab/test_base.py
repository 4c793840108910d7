"""Tests of the lab's machinery, lab.base (the old nmf_core): the numba-compiled masked
kernel against its NumPy form, with and without numba; the lab's fast multiplicative
updates against the exercise's plain ones (nmf_core.non_negative); the dense and CSR
kernels; fold-in; the validation the lab's factorizations share; match_components."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import nmf_core
from lab import base, factorizations
from lab.base import match_components, non_negative

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_NUMBA_RUN = os.environ.get("NMF_WITHOUT_NUMBA") == "1"
needs_numba = pytest.mark.skipif(base._half_step_compiled is None,
                                 reason="numba is not installed (or NMF_WITHOUT_NUMBA=1)")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def random_matrix(seed, n, m, density=1.0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, m)) * scale
    X[rng.random((n, m)) >= density] = 0.0
    return X


def objective(X, Z, H, observed=None, l2=0.0):
    """The documented objective, evaluated directly with the full product."""
    if observed is None:
        observed = np.ones(X.shape, dtype=bool)
    residual = np.where(observed, np.nan_to_num(X) - Z @ H, 0.0)
    n_i = observed.sum(axis=1)
    m_j = observed.sum(axis=0)
    penalty = n_i @ (Z**2).sum(axis=1) + m_j @ (H**2).sum(axis=0)
    return float(np.sum(residual**2) + l2 * penalty)


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



# --------------------------------------------------------------------------
# the lab's fast updates and the exercise's plain ones: the same numbers
# --------------------------------------------------------------------------

def relative_gap(got, expected):
    """The largest difference, relative to the largest entry of ``expected``."""
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_labs_masked_update_agrees_with_the_exercises_plain_one(l2):
    """lab.base.non_negative (the compiled masked kernel where numba is installed) and
    nmf_core.non_negative (plain SciPy) draw the same start (same seed, Z then H, scale
    sqrt(mean observed / M), same clip floor) and run the same updates: the same fit, up
    to rounding.  A wide matrix (more columns than rows), 25 % of its cells observed."""
    rng = np.random.default_rng(41)
    X = rng.random((30, 70)) * 5
    observed = rng.random(X.shape) < 0.25
    for n_iter in (0, 1, 200):
        fast = non_negative(X, 5, n_iter=n_iter, mask=observed, l2=l2)
        plain = nmf_core.non_negative(X, 5, n_iter=n_iter, mask=observed, l2=l2)
        assert relative_gap(fast.Z, plain.Z) <= 1e-9
        assert relative_gap(fast.H, plain.H) <= 1e-9
        np.testing.assert_allclose(fast.losses, plain.losses, rtol=1e-9, atol=0)
    assert fast.losses[-1] < 0.5 * fast.losses[0]


@pytest.mark.parametrize("density", [1.0, 0.1])                 # dense, CSR
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_labs_unmasked_update_agrees_with_the_exercises_plain_one(density, l2):
    """The same without a mask: every cell observed, dense or (mostly zeros) CSR."""
    X = random_matrix(42, 30, 70, density=density, scale=5.0)
    fast = non_negative(X, 5, n_iter=200, l2=l2)
    plain = nmf_core.non_negative(X, 5, n_iter=200, l2=l2)
    assert relative_gap(fast.Z, plain.Z) <= 1e-9
    assert relative_gap(fast.H, plain.H) <= 1e-9
    np.testing.assert_allclose(fast.losses, plain.losses, rtol=1e-9, atol=0)


def test_the_labs_results_are_the_exercises_results():
    """lab.base.NMFResult is nmf_core.NMFResult with reconstruction(): the ground floor
    takes a lab fit (fold_into) and unpacks it as its own."""
    X = random_matrix(43, 12, 9, scale=3.0)
    fit = non_negative(X, 3, n_iter=20)
    assert isinstance(fit, nmf_core.NMFResult)
    np.testing.assert_array_equal(fit.reconstruction(), fit.Z @ fit.H)
    new = nmf_core.non_negative(X[:2], 3, n_iter=20, fold_into=fit)
    np.testing.assert_array_equal(new.H, fit.H)



# --------------------------------------------------------------------------
# the masked kernel: compiled loops against the NumPy reference
# --------------------------------------------------------------------------

def cells_with_group_sizes(sizes, n_other, seed):
    """``base._Cells`` whose groups hold ``sizes`` cells (distinct others each)."""
    rng = np.random.default_rng(seed)
    others = [np.sort(rng.choice(n_other, size, replace=False)) for size in sizes]
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.random(int(indptr[-1])) * 5
    values[::7] = 0.0                                    # observed zeros count too
    return base._Cells(indptr, np.concatenate(others).astype(np.int64), values,
                       np.diff(indptr).astype(np.float64))


def test_the_pinned_environment_uses_the_compiled_kernel():
    pytest.importorskip("numba", reason="numba cannot be imported here (or NMF_WITHOUT_NUMBA=1)")
    assert base.numba is not None, "numba is pinned in requirements.txt; `make venv`"
    assert base._half_step_compiled is not None


@needs_numba
def test_compile_falls_back_to_no_disk_cache_when_there_is_no_cache_location():
    """numba refuses cache=True for code without a source file (here: exec'd)."""
    namespace = {}
    exec("def twice(x):\n    return 2.0 * x\n", namespace)
    with pytest.raises(RuntimeError, match="cannot cache"):
        base.numba.njit(cache=True)(namespace["twice"])
    compiled = base._compile(namespace["twice"])
    assert compiled(21.0) == 42.0
    assert type(compiled._cache).__name__ == "NullCache"
    # the module's own kernel has a source file: it is cached on disk where it can be
    if os.access(Path(base.__file__).parent, os.W_OK):
        assert type(base._half_step_compiled._cache).__name__ == "FunctionCache"


# Group sizes cover empty groups, the one-by-one tail (1-3 cells) and the
# blocks of four (4, 5, 8, 11 cells); M covers 1, odd and larger ranks.
@needs_numba
@pytest.mark.parametrize("M", [1, 3, 4, 7, 20])
@pytest.mark.parametrize("l2", [0.0, 0.4])
def test_compiled_half_step_matches_the_numpy_reference(M, l2):
    sizes = [0, 1, 2, 3, 4, 5, 8, 11, 0, 30]
    cells = cells_with_group_sizes(sizes, n_other=40, seed=M)
    rng = np.random.default_rng(100 + M)
    own, other = rng.random((len(sizes), M)), rng.random((40, M))
    expected = np.empty_like(own)
    sse = base._half_step_numpy(*cells, own, other, l2, base.EPS, expected)
    got = np.empty_like(own)
    sse_compiled = base._half_step_compiled(*cells, own, other, l2, base.EPS, got)
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
    base._half_step_compiled(*cells, in_place, other, l2, base.EPS, in_place)
    assert np.array_equal(in_place, got)


@needs_numba
@pytest.mark.parametrize("l2", [0.0, 0.2])
def test_masked_fit_is_the_same_with_or_without_numba(monkeypatch, l2):
    X = random_matrix(21, 37, 29, scale=5.0)
    observed = np.random.default_rng(22).random(X.shape) < 0.35
    compiled = non_negative(X, 5, n_iter=80, mask=observed, l2=l2)
    monkeypatch.setattr(base, "_half_step_compiled", None)
    monkeypatch.setattr(base, "_CHUNK", 7)          # the NumPy form's chunks, many times
    reference = non_negative(X, 5, n_iter=80, mask=observed, l2=l2)
    np.testing.assert_allclose(compiled.Z, reference.Z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(compiled.H, reference.H, rtol=0, atol=1e-10)
    np.testing.assert_allclose(compiled.losses, reference.losses, rtol=1e-12)
    assert compiled.losses[-1] < 0.5 * compiled.losses[0]


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_numba), False])
def test_masked_early_stop_returns_the_factors_of_the_last_loss(monkeypatch, compiled):
    if not compiled:
        monkeypatch.setattr(base, "_half_step_compiled", None)
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
import lab.base as base
X = np.random.default_rng(25).random((19, 14)) * 5
observed = np.random.default_rng(26).random(X.shape) < 0.5
result = base.non_negative(X, 3, n_iter=40, mask=observed, l2=0.1)
np.save(sys.argv[1], np.concatenate([result.Z.ravel(), result.H.ravel(), result.losses]))
print(base._half_step_compiled is None)
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
# the dense and CSR kernels; the n x m product is never formed
# --------------------------------------------------------------------------

@pytest.mark.parametrize("density", [1.0, 0.1])
def test_dense_and_csr_kernels_agree(monkeypatch, density):
    """Force each kernel in turn: BLAS products and CSR products, same numbers."""
    X = random_matrix(7, 30, 40, density=density, scale=3.0)
    monkeypatch.setattr(base, "_SPARSE_DENSITY", 0.0)     # always dense
    dense = non_negative(X, 5, n_iter=100)
    monkeypatch.setattr(base, "_SPARSE_DENSITY", 1.01)    # always CSR
    csr = non_negative(sp.csr_array(X), 5, n_iter=100)
    np.testing.assert_allclose(csr.Z, dense.Z, rtol=0, atol=1e-10)
    np.testing.assert_allclose(csr.H, dense.H, rtol=0, atol=1e-10)
    np.testing.assert_allclose(csr.losses, dense.losses, rtol=1e-10)


def test_huge_sparse_input_never_forms_the_dense_product():
    """A 200000 x 100000 dense float64 matrix would need 160 GB."""
    n, m, nnz = 200_000, 100_000, 3_000
    rng = np.random.default_rng(15)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, m, nnz)
    X = sp.coo_array((rng.random(nnz) * 4 + 1, (rows, cols)), shape=(n, m))
    for kwargs in ({}, {"mask": "observed", "l2": 0.01}):
        Z, H, losses = non_negative(X, 3, n_iter=5, **kwargs)
        assert Z.shape == (n, 3) and H.shape == (3, m)
        assert np.isfinite(losses).all() and losses[-1] <= losses[0]


# --------------------------------------------------------------------------
# fold-in: new rows against a fixed H
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.1}])
def test_fold_in_keeps_H_and_runs_the_training_z_update(kwargs):
    X = random_matrix(34, 20, 12, density=0.7, scale=3.0)
    if kwargs:
        X[X == 0] = np.nan
    fit = non_negative(X, 3, n_iter=300, **kwargs)
    new = non_negative(X[:4], 3, n_iter=300, fold_into=fit, **kwargs)
    np.testing.assert_array_equal(new.H, fit.H)
    assert_non_increasing(new.losses, np.nansum(X[:4] ** 2))
    # the literal Z-update with H fixed, from the same start, gives the same rows
    observed = ~np.isnan(X[:4])
    data = np.where(observed, X[:4], 0.0)
    Z, _ = base._initialize(4, 12, 3, float(data[observed].mean()), 0)
    floor = base.EPS * float(data[observed].mean()) ** 1.5
    l2 = kwargs.get("l2", 0.0)
    for _ in range(300):
        P = np.where(observed, Z @ fit.H, 0.0)
        Z = Z * (data @ fit.H.T) / np.maximum(P @ fit.H.T + l2 * observed.sum(1)[:, None] * Z,
                                              floor)
    np.testing.assert_allclose(new.Z, Z, rtol=1e-9)
    # rows of the training data come back close to their trained weights
    assert np.abs(new.Z @ fit.H - fit.Z[:4] @ fit.H).max() < 0.05 * np.nanmax(X)


def test_fold_in_refuses_a_mismatched_fit():
    fit = non_negative(random_matrix(35, 8, 6), 2, n_iter=5)
    with pytest.raises(ValueError, match=r"fold_into must be an earlier fit \(NMFResult\) whose H "
                                         r"has shape \(num_components, columns of data\) = "
                                         r"\(2, 5\).*got NMFResult with H of shape \(2, 6\)"):
        non_negative(random_matrix(35, 3, 5), 2, fold_into=fit)
    with pytest.raises(ValueError, match=r"\(3, 6\)"):
        non_negative(random_matrix(35, 3, 6), 3, fold_into=fit)
    biased = factorizations.biased_non_negative(random_matrix(35, 8, 6), 2, n_iter=2)
    with pytest.raises(ValueError, match=r"\(NMFResult\).*got BiasedResult"):
        non_negative(random_matrix(35, 3, 6), 2, fold_into=biased)   # its biases would be lost


# --------------------------------------------------------------------------
# the validation every factorization of the lab shares
# --------------------------------------------------------------------------

def test_validate_helper_contract():
    X = np.array([[0.0, 2.0, np.nan], [1.0, 0.0, 3.0]])
    checked = base._validate(X, "observed")
    assert checked.masked and sp.issparse(checked.X) and checked.X.format == "csr"
    assert checked.X.nnz == 5                                   # observed zeros stay stored
    assert checked.X.toarray().tolist() == [[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]
    plain = base._validate(np.nan_to_num(X))
    assert not plain.masked and isinstance(plain.X, np.ndarray) and plain.X.dtype == np.float64
    sparse = base._validate(sp.coo_matrix(np.nan_to_num(X)))
    assert not sparse.masked and sparse.X.format == "csr" and sparse.X.has_canonical_format


def test_data_too_small_for_float64_is_refused_not_turned_into_nan():
    X = random_matrix(36, 30, 20) * 1e-250
    for function in (non_negative, factorizations.nnls_als):
        with pytest.raises(ValueError, match=r"data is too small for float64 arithmetic: its "
                                             r"largest entry .*e-25\d, cubed, underflows; multiply"):
            function(X, 3)


def test_data_whose_squares_overflow_is_refused_by_every_function():
    X = random_matrix(33, 6, 5) * 1e200
    for function in (non_negative, factorizations.als, factorizations.nnls_als,
                     factorizations.biased_non_negative, factorizations.truncated_svd):
        with pytest.raises(ValueError, match=r"data is too large for float64 arithmetic: its "
                                             r"largest entry 9\.4e\+199, squared and summed "
                                             r"over 30 cells, overflows; divide the data"):
            function(X, 2)
    assert np.isfinite(non_negative(X * 1e-200 * 1e150, 2, n_iter=5).losses).all()


# --------------------------------------------------------------------------
# match_components
# --------------------------------------------------------------------------

def test_match_components_recovers_a_permutation():
    rng = np.random.default_rng(20)
    A = rng.random((6, 10))
    permutation = rng.permutation(6)
    B = 3.0 * A[permutation]                      # scaled copies, shuffled
    order, similarity = match_components(A, B)
    assert np.array_equal(B[order], 3.0 * A)
    np.testing.assert_allclose(similarity, 1.0)


def test_match_components_beats_greedy_and_handles_zero_rows():
    A = np.array([[1.0, 0.0], [0.8, 0.6]])
    B = np.array([[0.8, 0.6], [0.0, 1.0], [0.0, 0.0]])
    order, similarity = match_components(A, B)
    # greedy would give A[1] its perfect partner B[0] and leave A[0] with B[1] (similarity 0)
    assert order.tolist() == [0, 1]
    np.testing.assert_allclose(similarity, [0.8, 0.6])
    order, similarity = match_components(np.zeros((1, 2)), B)
    assert similarity.tolist() == [0.0]
    with pytest.raises(ValueError, match=r"got shapes \(3, 2\) and \(2, 2\)"):
        match_components(B, A)


# --------------------------------------------------------------------------
# the same file without numba
# --------------------------------------------------------------------------

@pytest.mark.skipif(WITHOUT_NUMBA_RUN, reason="this is that run")
def test_the_kernel_tests_pass_without_numba():
    """This file again, in a child process where numba cannot be imported: every test
    of the NumPy form runs, those of the compiled kernel are skipped, none fails.

    Skipped there: the pinned-environment check, the compile fallback, the 10 kernel
    comparisons, the 2 fits with and without numba, the compiled early stop and this
    test itself (16); the other 21 run."""
    child = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-m", "not slow", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "NMF_WITHOUT_NUMBA": "1"})
    summary = child.stdout.strip().splitlines()[-1]
    assert child.returncode == 0, child.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", summary)[1])
    skipped = int(re.search(r"(\d+) skipped", summary)[1])
    assert (passed, skipped) == (21, 16), summary
