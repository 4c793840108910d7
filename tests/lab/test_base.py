"""Tests of the shared pieces of lab.base: results, validation, and the refusal of data
too small or too large for float64 by every factorization.  The kernel passes of lab.kernels
are tested in test_kernels.py, the fits of the masked updates (lab.nmf.non_negative with a
mask) in test_nmf.py."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp

import nmf_core
from lab import base
from lab import factorizations
from lab.nmf import non_negative
from nmf_cases import random_matrix

# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------


def test_the_labs_results_are_the_exercises_results():
    """lab.base.FitResult is nmf_core.NMFResult that answers scores(rows) and
    predict(rows, cols) itself: lab.nmf.non_negative takes a lab fit (fold_into) as an
    earlier fit of its own and returns one."""
    X = random_matrix(43, 12, 9, scale=3.0)
    fit = factorizations.als(X, 3, nonnegative=True, n_iter=5)
    assert isinstance(fit, base.FitResult) and isinstance(fit, nmf_core.NMFResult)
    np.testing.assert_array_equal(fit.scores([4, 0]), (fit.Z @ fit.H)[[4, 0]])
    np.testing.assert_allclose(fit.predict([4, 0, 11], [8, 0, 3]),
                               (fit.Z @ fit.H)[[4, 0, 11], [8, 0, 3]], rtol=1e-14)
    new = non_negative(X[:2], 3, n_iter=20, fold_into=fit)
    assert type(new) is base.FitResult and isinstance(new, nmf_core.NMFResult)
    np.testing.assert_array_equal(new.H, fit.H)


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


#: lab.nmf.non_negative over the observed cells (non_negative itself: over every cell)
MASKED = partial(non_negative, mask="observed")


def test_data_too_small_for_float64_is_refused_not_turned_into_nan(nnls_als):
    X = random_matrix(36, 30, 20) * 1e-250
    for function in (non_negative, MASKED, nnls_als):
        with pytest.raises(ValueError, match=r"data is too small for float64 arithmetic: its "
                                             r"largest entry .*e-25\d, cubed, underflows; "
                                             r"multiply"):
            function(X, 3)


def test_data_whose_squares_overflow_is_refused_by_every_function(nnls_als):
    X = random_matrix(33, 6, 5) * 1e200
    for function in (non_negative, MASKED, factorizations.als, nnls_als,
                     factorizations.biased_non_negative, factorizations.truncated_svd):
        with pytest.raises(ValueError, match=r"data is too large for float64 arithmetic: its "
                                             r"largest entry 9\.4e\+199, squared and summed "
                                             r"over 30 cells, overflows; divide the data"):
            function(X, 2)
    for function in (non_negative, MASKED):
        assert np.isfinite(function(X * 1e-200 * 1e150, 2, n_iter=5).losses).all()
