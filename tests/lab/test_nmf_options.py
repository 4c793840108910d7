"""Tests of lab.nmf.non_negative's options and edges: tol, verbose, all-zero data and ranks
up to and beyond the smaller side; its answers to bad data beyond those every lab function
shares (test_parameters.py): entries located, DataFrame columns named, ragged lists; the clip
floor's scale (eps * s**1.5) and data of any magnitude; fold-in and
follow (new rows against a fixed H, fitted the way training fits a row); wide matrices; and
scikit-learn's NMF tests ported to it.  The core claims are test_nmf.py's."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lab.nmf
import nmf_core
from lab import factorizations
from lab.nmf import non_negative
from nmf_cases import assert_non_increasing, literal_updates, objective, random_matrix

# --------------------------------------------------------------------------
# options: tol, verbose, edge cases
# --------------------------------------------------------------------------


def test_tol_stops_at_the_first_small_step_and_default_runs_all(digits):
    tol = 1e-4
    losses = non_negative(digits, 8, n_iter=1000, tol=tol).losses
    t = losses.size - 1
    assert 10 <= t < 1000
    relative = -np.diff(losses) / losses[:-1]
    assert relative[-1] <= tol                    # the last step was small ...
    assert relative[:-1].min() > tol              # ... and no step before it was
    assert non_negative(digits[:50], 8, n_iter=60).losses.size == 61


@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.1}])
def test_verbose_prints_the_objective_each_tenth_of_the_run(capsys, kwargs):
    fit = non_negative(random_matrix(16, 8, 6), 2, n_iter=250, verbose=True, **kwargs)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [int(line.split()[2]) for line in lines] == list(range(0, 251, 25))
    assert lines[-1].startswith("non_negative: iteration   250 of 250, objective ")
    printed = [float(line.rsplit(" ", 1)[1]) for line in lines]
    np.testing.assert_allclose(printed, fit.losses[::25], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed"}, {"mask": "observed", "l2": 0.5},
                                    {"l2": 0.5}, {"tol": 1e-4}])
@pytest.mark.parametrize("as_sparse", [False, True])
def test_all_zero_matrix_gives_zero_factors_without_warnings(kwargs, as_sparse):
    X = np.zeros((7, 5))
    data = sp.csr_array(X) if as_sparse else X
    if kwargs.get("mask") == "observed":         # every cell observed, and all of them zero
        kwargs = {**kwargs, "mask": np.ones(X.shape, dtype=bool)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            Z, H, losses = non_negative(data, 3, n_iter=40, **kwargs)
    assert Z.shape == (7, 3) and H.shape == (3, 5)
    assert not Z.any() and not H.any() and not losses.any()
    assert np.isfinite(losses).all() and losses.size >= 1


def test_rank_up_to_the_smaller_side_fits_almost_exactly():
    X = random_matrix(17, 5, 4, scale=2.0)
    Z, H, losses = non_negative(X, 4, n_iter=2000)
    assert Z.shape == (5, 4) and H.shape == (4, 4)
    assert_non_increasing(losses, np.sum(X**2))
    assert losses[-1] < 1e-3 * losses[0]          # enough freedom to fit almost exactly


# --------------------------------------------------------------------------
# bad data beyond test_parameters.py's: sparse, DataFrame and inf, each located
# --------------------------------------------------------------------------

def test_negative_entries_of_a_sparse_matrix_are_counted_and_located():
    X = np.ones((4, 5))
    X[1, 3], X[2, 0], X[3, 4] = -2.0, -1.0, -0.5
    with pytest.raises(ValueError, match=r"data has 3 negative entries \(first at row 1, column 3"):
        non_negative(sp.csr_matrix(X), 2)


def test_negative_entry_in_a_dataframe_is_located_by_position():
    frame = pd.DataFrame(np.ones((3, 2)), index=[11, 12, 13], columns=["a", "b"])
    frame.loc[12, "b"] = -1.0
    with pytest.raises(ValueError, match=r"data has 1 negative entries \(first at row 1, column 1 "
                                         r"\(index 12, column 'b'\): -1\.0\); non-negative matrix "
                                         r"factorization needs data >= 0"):
        non_negative(frame, 1)


def test_an_infinite_entry_suggests_mask_or_fillna():
    X = np.ones((3, 4))
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"1 NaN or infinite entries \(first at row 2, column 1: "
                                         r"inf\); pass mask=\"observed\".*fillna"):
        non_negative(X, 2)
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        non_negative(pd.DataFrame(X), 2)


def test_non_numeric_dataframe_columns_are_named():
    frame = pd.DataFrame({"rating": [1.0, 2.0], "title": ["a", "b"],
                          "when": pd.to_datetime(["2020", "2021"])})
    with pytest.raises(TypeError, match=r"data has non-numeric columns \['title', 'when'\]"):
        non_negative(frame, 1)


def test_ragged_lists():
    with pytest.raises(ValueError, match=r"inhomogeneous"):     # NumPy's own message
        non_negative([[1.0, 2.0], [3.0]], 1)


# --------------------------------------------------------------------------
# magnitude: the clip means the same for data of any size
# --------------------------------------------------------------------------

@pytest.mark.parametrize("k", [-40, -3, 0, 5, 60])
@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.1}])
def test_scaling_the_data_by_a_power_of_four_scales_the_factors_exactly(k, kwargs):
    """non_negative(c X, l2 = c l2) = (sqrt(c) Z, sqrt(c) H) bit for bit when c = 4**k: no
    product rounds differently and the clip's floor moves with the data (eps * s**1.5)."""
    X = random_matrix(31, 12, 9, density=0.6, scale=5.0)
    if kwargs:
        X[X == 0] = np.nan
    c, root = 4.0 ** k, 2.0 ** k
    base = non_negative(X, 3, n_iter=80, **kwargs)
    scaled = non_negative(X * c, 3, n_iter=80, **{**kwargs, "l2": kwargs.get("l2", 0.0) * c})
    np.testing.assert_array_equal(scaled.Z, base.Z * root)
    np.testing.assert_array_equal(scaled.H, base.H * root)
    np.testing.assert_array_equal(scaled.losses, base.losses * c * c)


def test_tiny_data_is_factorized_not_zeroed():
    X = random_matrix(32, 15, 10)
    tiny = non_negative(X * 1e-20, 3, n_iter=200)
    plain = non_negative(X, 3, n_iter=200)
    np.testing.assert_allclose((tiny.Z @ tiny.H) * 1e20, plain.Z @ plain.H, rtol=1e-8)
    np.testing.assert_allclose(tiny.losses * 1e40, plain.losses, rtol=1e-8)


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
    # the literal Z-update with H fixed, from the same start (nmf_core.start, s the mean
    # observed value), gives the same rows
    observed = ~np.isnan(X[:4])
    data = np.where(observed, X[:4], 0.0)
    s = float(data[observed].mean())
    Z, _ = nmf_core.start((4, 12), 3, s, 0)
    floor = lab.nmf.EPS * s ** 1.5
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
                                         r"has shape \(2, 5\).*got FitResult with H of shape "
                                         r"\(2, 6\)"):
        non_negative(random_matrix(35, 3, 5), 2, fold_into=fit)
    with pytest.raises(ValueError, match=r"\(3, 6\)"):
        non_negative(random_matrix(35, 3, 6), 3, fold_into=fit)
    with pytest.raises(ValueError, match=r"got tuple"):
        non_negative(random_matrix(35, 3, 6), 2, fold_into=(fit.Z, fit.H))
    negative = fit._replace(H=-fit.H)
    with pytest.raises(ValueError, match=r"with finite non-negative entries"):
        non_negative(random_matrix(35, 3, 6), 2, fold_into=negative)
    biased = factorizations.biased_non_negative(random_matrix(35, 8, 6), 2, n_iter=2)
    with pytest.raises(ValueError, match=r"\(NMFResult\).*got BiasedResult"):
        non_negative(random_matrix(35, 3, 6), 2, fold_into=biased)   # its biases would be lost


# --------------------------------------------------------------------------
# the clip floor: its documented scale, eps * s**1.5
# --------------------------------------------------------------------------

def tiny_columns(seed=40):
    """Wide data (more columns than rows) whose columns 0 and 1 are 1e-12 and 1e-17 times
    the rest: their H-denominators fall just above and just below the documented floor."""
    X = random_matrix(seed, 12, 30, scale=5.0) + 0.1
    X[:, 0] *= 1e-12
    X[:, 1] *= 1e-17
    return X


def column_error(X, eps, floor_factor):
    """Largest relative difference, over the two tiny columns of H, between non_negative
    (with ``eps``) and the literal equations with the documented floor times a factor."""
    start = non_negative(X, 4, n_iter=0, random_state=1)
    floor = lab.nmf.EPS * X.mean() ** 1.5 * floor_factor
    _, H_literal = literal_updates(X, start.Z, start.H, 60, floor)
    H = non_negative(X, 4, n_iter=60, random_state=1, eps=eps).H
    return float(np.max(np.abs(H[:, :2] - H_literal[:, :2]) / np.abs(H_literal[:, :2])))


def test_the_floor_is_eps_times_the_mean_to_the_power_one_and_a_half():
    X = tiny_columns()
    assert column_error(X, lab.nmf.EPS, 1.0) < 1e-8
    # the check has power: a floor a million times too large or too small is caught
    assert column_error(X, lab.nmf.EPS * 1e6, 1.0) > 1e-3
    assert column_error(X, lab.nmf.EPS * 1e-6, 1.0) > 1e-3


def test_the_floor_acts_on_the_smaller_tiny_column_only():
    X = tiny_columns()
    Z, H, _ = non_negative(X, 4, n_iter=60, random_state=1)
    floor = lab.nmf.EPS * X.mean() ** 1.5
    denominators = (Z.T @ Z) @ H
    assert (denominators[:, 0] > floor).all()          # 1e-12: above the floor
    assert (denominators[:, 1] < floor).all()          # 1e-17: clipped


# --------------------------------------------------------------------------
# wide matrices (more columns than rows, as MovieLens): shapes are not confused
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.2}])
def test_wide_matrix_shapes_and_literal_equations(kwargs):
    X = random_matrix(41, 7, 23, density=0.5, scale=3.0)
    if kwargs:
        X[X == 0] = np.nan
    Z, H, losses = non_negative(X, 3, n_iter=40, **kwargs)
    assert Z.shape == (7, 3) and H.shape == (3, 23) and losses.shape == (41,)
    observed = ~np.isnan(X)
    np.testing.assert_allclose(losses[-1], objective(X, Z, H, observed, kwargs.get("l2", 0.0)),
                               rtol=1e-9)
    if not kwargs:
        start = non_negative(X, 3, n_iter=0)
        Z_lit, H_lit = literal_updates(X, start.Z, start.H, 40, lab.nmf.EPS * X.mean() ** 1.5)
        np.testing.assert_allclose(Z @ H, Z_lit @ H_lit, rtol=1e-9)


def test_wide_fold_in_returns_one_row_per_new_user():
    X = random_matrix(42, 6, 40, scale=4.0)
    fit = non_negative(X, 2, n_iter=100)
    new = non_negative(X[[1, 4, 5]], 2, n_iter=100, fold_into=fit)
    assert new.Z.shape == (3, 2) and new.H.shape == (2, 40)
    np.testing.assert_allclose(new.Z @ new.H, fit.Z[[1, 4, 5]] @ fit.H, rtol=0.2, atol=0.5)


# --------------------------------------------------------------------------
# scikit-learn's NMF tests (sklearn/decomposition/tests/test_nmf.py), ported
# --------------------------------------------------------------------------

# (fit_nn_output, fit_close, true_reconstruction and sparse input without a penalty run on
# both NMFs in tests/test_nmf_core.py; here, with the lab's options; the parameters' errors
# are test_parameters.py's.)


def test_sklearn_fit_nn_output_with_a_penalty():
    Z, H, _ = non_negative(np.c_[5.0 - np.arange(1, 6), 5.0 + np.arange(1, 6)], 2, l2=1.0)
    assert not ((Z < 0).any() or (H < 0).any())


def test_sklearn_sparse_input_gives_the_dense_result_with_a_penalty():
    A = np.abs(np.random.RandomState(42).randn(10, 10))
    A[:, 2 * np.arange(5)] = 0
    dense = non_negative(A, 5, n_iter=100, l2=1.0)
    sparse = non_negative(sp.csc_matrix(A), 5, n_iter=100, l2=1.0)
    np.testing.assert_allclose(sparse.Z, dense.Z, rtol=1e-7)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-7)


def test_sklearn_n_components_greater_than_n_features():
    A = np.abs(np.random.RandomState(42).randn(30, 10))
    Z, H, losses = non_negative(A, 15, tol=1e-2)
    assert Z.shape == (30, 15) and H.shape == (15, 10) and losses[-1] < losses[0]


def test_sklearn_transform_of_the_training_data_matches_the_fit():
    """Like ``NMF.transform(A)`` after ``fit(A)``: Z refitted with H fixed is close to Z."""
    A = np.abs(np.random.RandomState(42).randn(6, 5))
    fit = non_negative(A, 3, n_iter=2000)
    again = non_negative(A, 3, n_iter=2000, fold_into=fit)
    np.testing.assert_allclose(again.Z @ again.H, fit.Z @ fit.H, atol=0.1)


# --------------------------------------------------------------------------
# follow: new rows fitted the way training fits a row
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.1}])
def test_follow_fits_new_rows_the_way_training_fits_its_rows(kwargs):
    """Training rows given as new rows end next to their trained rows (they followed the
    same H, from the average start), closer than a fold-in against the final H alone."""
    X = random_matrix(44, 40, 25, density=0.6, scale=4.0)
    if kwargs:
        X[X == 0] = np.nan
    fit = non_negative(X, 4, n_iter=60, **kwargs)
    rows = X[:6]
    followed = lab.nmf.follow(X, rows, 4, n_iter=60, **kwargs)
    folded = non_negative(rows, 4, n_iter=60, fold_into=fit, **kwargs)
    trained = fit.Z[:6] @ fit.H
    follow_gap = np.abs(followed @ fit.H - trained).max()
    fold_gap = np.abs(folded.Z @ fit.H - trained).max()
    assert follow_gap < 0.02 * np.ptp(trained) and follow_gap < fold_gap / 3
    assert followed.shape == (6, 4) and (followed >= 0).all()
    with pytest.raises(ValueError, match=r"rows must have the 25 columns of data; got shape "
                                         r"\(2, 24\)"):
        lab.nmf.follow(X, X[:2, :24], 4, n_iter=5, **kwargs)


# --------------------------------------------------------------------------
# sparsity: the n x m product is never formed
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{}, {"mask": "observed", "l2": 0.01}])
def test_huge_sparse_input_never_forms_the_dense_product(kwargs):
    """A 200000 x 100000 dense float64 matrix would need 160 GB."""
    n, m, nnz = 200_000, 100_000, 3_000
    rng = np.random.default_rng(15)
    rows, cols = rng.integers(0, n, nnz), rng.integers(0, m, nnz)
    X = sp.coo_array((rng.random(nnz) * 4 + 1, (rows, cols)), shape=(n, m))
    Z, H, losses = non_negative(X, 3, n_iter=5, **kwargs)
    assert Z.shape == (n, 3) and H.shape == (3, m)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_follow_names_the_new_rows_when_they_are_bad():
    X = random_matrix(0, 6, 5)
    with pytest.raises(ValueError, match=r"^rows has 10 negative entries"):
        lab.nmf.follow(X, -np.ones((2, 5)), 2, n_iter=2)
