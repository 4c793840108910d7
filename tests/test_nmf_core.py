"""Tests of nmf_core.non_negative, the exercise's function: the loss it records, the loss never
rising, the literal equations, its start, its containers, scikit-learn's NMF tests ported to
it, and its answers to bad input.  The general NMF's options are tested in tests/lab/."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given

import lab.nmf
import nmf_core
from nmf_cases import (PROPERTY, assert_non_increasing, documented_start, literal_updates,
                        problems, random_matrix)
from nmf_core import NMFResult, non_negative

#: The tests that hold for both NMFs, the exercise's and the lab's general one without its
#: options (the lab's options have theirs in tests/lab/test_nmf_options.py).
BOTH_NMFS = pytest.mark.parametrize("fit", [non_negative, lab.nmf.non_negative],
                                    ids=["nmf_core", "lab.nmf"])


# --- what it returns -----------------------------------------------------------------------

@BOTH_NMFS
def test_result_shapes_types_and_non_negativity(fit):
    Z, H, losses = result = fit(random_matrix(0, 12, 9), 4, n_iter=30)
    assert isinstance(result, NMFResult)
    assert Z.shape == (12, 4) and H.shape == (4, 9) and losses.shape == (31,)
    assert Z.dtype == H.dtype == losses.dtype == np.float64
    assert (Z >= 0).all() and (H >= 0).all() and losses[-1] < 0.5 * losses[0]


@BOTH_NMFS
@pytest.mark.parametrize("n_iter", [0, 1, 7, 40])
@pytest.mark.parametrize("density", [1.0, 0.08])         # BLAS products, CSR products
def test_each_recorded_loss_is_the_squared_error_of_its_iterate(fit, n_iter, density):
    X = random_matrix(1, 40, 30, density=density, scale=5.0)
    full = fit(X, 5, n_iter=40).losses
    Z, H, losses = fit(X, 5, n_iter=n_iter)
    assert np.array_equal(losses, full[: n_iter + 1])
    np.testing.assert_allclose(losses[-1], np.sum((X - Z @ H) ** 2), rtol=1e-9)


@BOTH_NMFS
def test_the_start_is_absolute_normal_draws_z_then_h(fit):
    X = random_matrix(13, 10, 7, scale=6.0)
    Z0, H0, losses = fit(X, 3, n_iter=0, random_state=5)
    expected = documented_start(X, None, 3, 5)
    assert np.array_equal(Z0, expected[0]) and np.array_equal(H0, expected[1])
    Z, H = nmf_core.start(X.shape, 3, X.mean(), 5)
    assert np.array_equal(Z, Z0) and np.array_equal(H, H0)
    assert losses.shape == (1,)


# --- the loss never rises ------------------------------------------------------------------

@BOTH_NMFS
@PROPERTY
@given(problems())
def test_the_loss_never_increases(fit, problem):
    X, M, seed = problem
    assert_non_increasing(fit(X, M, n_iter=60, random_state=seed).losses, np.sum(X**2))


@BOTH_NMFS
def test_the_loss_never_increases_on_the_digits(fit, digits):
    assert_non_increasing(fit(digits, 16, n_iter=300).losses, np.sum(digits**2))


# --- the literal equations, containers, seeds ----------------------------------------------

@pytest.mark.parametrize("density", [1.0, 0.1])
def test_the_literal_equations_give_the_same_factors(digits, density):
    X = digits[:300] if density == 1.0 else random_matrix(14, 60, 80, density=density, scale=4.0)
    start = non_negative(X, 10, n_iter=0, random_state=3)
    Z_literal, H_literal = literal_updates(X, start.Z, start.H, 50)
    Z, H, _ = non_negative(X, 10, n_iter=50, random_state=3)
    np.testing.assert_allclose(Z, Z_literal, rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_literal, rtol=0, atol=1e-10)


@BOTH_NMFS
@pytest.mark.parametrize("density", [1.0, 0.5, 0.1, 0.02])
def test_arrays_sparse_matrices_dataframes_and_lists_give_the_same_factors(fit, density):
    X = random_matrix(6, 35, 25, density=density, scale=5.0)
    reference = fit(X, 4, n_iter=80)
    for data in [sp.csr_matrix(X), sp.csc_array(X), sp.coo_matrix(X), X.tolist(),
                 pd.DataFrame(X, index=range(100, 135), columns=[f"c{j}" for j in range(25)])]:
        other = fit(data, 4, n_iter=80)
        np.testing.assert_allclose(other.Z, reference.Z, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.H, reference.H, rtol=0, atol=1e-10)
        np.testing.assert_allclose(other.losses, reference.losses, rtol=1e-12)


def test_same_seed_same_numbers_and_every_kind_of_seed():
    X = random_matrix(12, 25, 19, density=0.4, scale=4.0)
    a, b = non_negative(X, 4, n_iter=50, random_state=123), non_negative(X.copy(), 4, n_iter=50,
                                                                          random_state=123)
    assert all(np.array_equal(first, second) for first, second in zip(a, b))
    assert not np.allclose(a.Z, non_negative(X, 4, n_iter=50, random_state=124).Z)
    generator = non_negative(X, 4, n_iter=50, random_state=np.random.default_rng(123))
    assert np.array_equal(generator.Z, a.Z)
    legacy = non_negative(X, 4, n_iter=5, random_state=np.random.RandomState(7))
    assert np.isfinite(legacy.losses).all()
    assert non_negative(X, 4, n_iter=0, random_state=None).Z.shape == (25, 4)


def test_a_huge_sparse_matrix_never_forms_the_dense_product():
    """A dense 200000 x 100000 float64 matrix would need 160 GB."""
    n, m, nnz = 200_000, 100_000, 3_000
    rng = np.random.default_rng(15)
    X = sp.coo_array((rng.random(nnz) * 4 + 1, (rng.integers(0, n, nnz), rng.integers(0, m, nnz))),
                     shape=(n, m))
    Z, H, losses = non_negative(X, 3, n_iter=5)
    assert Z.shape == (n, 3) and H.shape == (3, m) and losses[-1] <= losses[0]


# --- edge cases: the clip, zeros, more components than rows -------------------------------

def test_the_clip_turns_an_empty_column_into_zeros_without_warnings():
    X = random_matrix(20, 8, 6, scale=3.0)
    X[:, 2] = 0.0                                  # its numerator (Z^T X)_k2 is 0 at every step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            Z, H, losses = non_negative(X, 3, n_iter=300)
    assert np.isfinite(losses).all() and np.abs(H[:, 2]).max() < 1e-12
    zeros = non_negative(np.zeros((7, 5)), 3, n_iter=40)
    assert not zeros.Z.any() and not zeros.H.any() and not zeros.losses.any()


@pytest.mark.parametrize("shape", [(5, 4), (4, 9)])   # tall, and wide as MovieLens is
def test_more_components_than_the_smaller_side_work_as_in_scikit_learn(shape):
    X = random_matrix(18, *shape, scale=2.0)
    M = min(shape) + 3
    Z, H, losses = non_negative(X, M, n_iter=500)
    assert Z.shape == (shape[0], M) and H.shape == (M, shape[1])
    assert_non_increasing(losses, np.sum(X**2))
    assert losses[-1] < 1e-3 * losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("M", [10, 16])
def test_the_final_loss_on_the_digits_is_scikit_learns(digits, M):
    from sklearn.decomposition import NMF

    ours, theirs = [], []
    for seed in range(5):
        ours.append(non_negative(digits, M, n_iter=1000, random_state=seed).losses[-1])
        model = NMF(n_components=M, solver="mu", init="random", tol=0, max_iter=1000,
                    random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached (tol=0)
            model.fit(digits)
        theirs.append(model.reconstruction_err_**2)
    ratio = np.median(ours) / np.median(theirs)
    assert abs(ratio - 1) < 0.03, f"median loss ratio ours/sklearn = {ratio:.4f}"


# --- scikit-learn's NMF tests (sklearn/decomposition/tests/test_nmf.py), ported -------------
# Run on both NMFs (BOTH_NMFS).

@BOTH_NMFS
def test_sklearn_fit_nn_output(fit):
    Z, H, _ = fit(np.c_[5.0 - np.arange(1, 6), 5.0 + np.arange(1, 6)], 2)
    assert not ((Z < 0).any() or (H < 0).any())


@BOTH_NMFS
def test_sklearn_fit_close(fit):
    X = np.abs(np.random.RandomState(42).randn(6, 5))
    assert np.sqrt(fit(X, 5, n_iter=600).losses[-1]) < 0.1


@BOTH_NMFS
def test_sklearn_true_reconstruction(fit):
    """A planted exact factorization (15 x 10, rank 5) is recovered almost exactly.

    scikit-learn plants sparse factors and fits the KL divergence; for the squared loss,
    multiplicative updates from a random start can stall on such zero patterns (a known
    local minimum of MU), so the planted factors here are dense."""
    rng = np.random.RandomState(42)
    X = np.abs(rng.randn(15, 5)) @ np.abs(rng.randn(5, 10))
    Z, H, losses = fit(X, 5, n_iter=1000)
    assert np.sqrt(losses[-1]) < 0.1
    np.testing.assert_allclose(Z @ H, X, atol=0.01)


@BOTH_NMFS
def test_sklearn_sparse_input_gives_the_dense_result(fit):
    A = np.abs(np.random.RandomState(42).randn(10, 10))
    A[:, 2 * np.arange(5)] = 0
    dense, sparse = fit(A, 5, n_iter=100), fit(sp.csc_matrix(A), 5, n_iter=100)
    np.testing.assert_allclose(sparse.Z, dense.Z, rtol=1e-7)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-7)


# --- bad input: the message names the problem, the value seen and what to do ----------------

@pytest.mark.parametrize("data, error, message", [
    (-np.ones((2, 3)), ValueError, r"data has 6 negative entries, e\.g\. -1\.0; NMF needs finite "
                                   r"values >= 0: fill \(DataFrame\.fillna\) or clip"),
    (np.array([[1.0, np.nan], [np.inf, 2.0]]), ValueError, r"data has 2 NaN or infinite entries"),
    (pd.DataFrame([[1.0, np.nan]]), ValueError, r"data has 1 NaN or infinite entries, e\.g\. nan"),
    (sp.csr_array(np.array([[0.0, -2.0]])), ValueError, r"data has 1 negative entries, e\.g\. -2"),
    (np.ones(5), ValueError, r"data must be a 2-D matrix with a row and a column; got shape "
                             r"\(5,\)"),
    (np.zeros((0, 5)), ValueError, r"got shape \(0, 5\)"),
    (sp.csr_array((5, 0)), ValueError, r"got shape \(5, 0\)"),
    (np.array([["a", "b"]]), TypeError, r"data must be numeric; got dtype <U1; convert or drop "
                                        r"it\."),
    (pd.Series([1.0, 2.0]), ValueError, r"data must be a 2-D matrix .*; got shape \(2,\)"),
    (pd.DataFrame({"rating": [1.0], "title": ["a"]}), TypeError,
     r"data must be numeric; got dtype object in the columns \['title'\]"),
])
def test_bad_data_is_refused_with_the_problem_and_the_value(data, error, message):
    with pytest.raises(error, match=message):
        non_negative(data, 1)


@pytest.mark.parametrize("arguments, error, message", [
    ({"num_components": 0}, ValueError, r"num_components must be an integer >= 1; got 0\."),
    ({"num_components": 1.5}, TypeError, r"num_components must be an integer >= 1; got 1\.5\."),
    ({"num_components": "2"}, TypeError, r"got '2'\."),
    ({"num_components": True}, TypeError, r"got True\."),
    ({"num_components": 10**20}, MemoryError, r"num_components=100000000000000000000 is too "
                                              r"many: Z and H would need .* GiB; choose fewer"),
    ({"n_iter": -1}, ValueError, r"n_iter must be an integer >= 0; got -1\."),
    ({"n_iter": 10.0}, TypeError, r"n_iter must be an integer >= 0; got 10\.0\."),
    ({"random_state": -1}, ValueError, r"random_state must be an integer >= 0, a numpy "
                                       r"Generator or RandomState, or None; got -1\."),
    ({"random_state": "seed"}, ValueError, r"random_state must be .*; got 'seed'\."),
])
def test_bad_parameters_are_named_with_their_value(arguments, error, message):
    with pytest.raises(error, match=message):
        non_negative(np.ones((3, 4)), **{"num_components": 2, **arguments})


def test_numpy_integers_are_integers():
    assert non_negative(np.ones((4, 4)), np.int64(2), n_iter=np.int32(3)).losses.shape == (4,)
