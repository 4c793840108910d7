"""One rule per parameter: every public factorization refuses the same bad value with the
same error type and the same words (lab.base.check_parameters and lab.base._validate)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import scipy.sparse as sp

from lab import base, factorizations

FUNCTIONS = [base.non_negative, factorizations.als, factorizations.nnls_als,
             factorizations.biased_non_negative, factorizations.biases,
             factorizations.truncated_svd, factorizations.implicit_nnls_als,
             factorizations.bayesian_non_negative]
DATA = np.arange(1.0, 21.0).reshape(5, 4)

# parameter, bad value, error type, message (a regular expression)
BAD = [
    ("num_components", 0, ValueError, r"num_components must be an integer >= 1; got 0\."),
    ("num_components", -3, ValueError, r"num_components must be an integer >= 1; got -3\."),
    ("num_components", 2.0, TypeError, r"num_components must be an integer >= 1; got 2\.0 of type float"),
    ("num_components", 2.5, TypeError, r"num_components must be an integer >= 1; got 2\.5 of type float"),
    ("num_components", True, TypeError, r"num_components must be an integer >= 1; got True of type bool"),
    ("num_components", "3", TypeError, r"num_components must be an integer >= 1; got '3' of type str"),
    ("num_components", None, TypeError, r"num_components must be an integer >= 1; got None"),
    ("num_components", 5, ValueError, r"num_components must be an integer from 1 to min\(n, m\) = 4 "
                                      r"for data of shape \(5, 4\); got 5\."),
    ("num_components", 10**6, ValueError, r"from 1 to min\(n, m\) = 4 .*got 1000000\."),
    ("n_iter", -1, ValueError, r"n_iter must be an integer >= 0; got -1\."),
    ("n_iter", 10.0, TypeError, r"n_iter must be an integer >= 0; got 10\.0 of type float"),
    ("n_iter", True, TypeError, r"n_iter must be an integer >= 0; got True of type bool"),
    ("n_iter", "5", TypeError, r"n_iter must be an integer >= 0; got '5' of type str"),
    ("l2", -0.1, ValueError, r"l2 must be a finite number >= 0; got -0\.1\."),
    ("l2", np.nan, ValueError, r"l2 must be a finite number >= 0; got nan\."),
    ("l2", np.inf, ValueError, r"l2 must be a finite number >= 0; got inf\."),
    ("l2", "0.1", TypeError, r"l2 must be a finite number >= 0; got '0\.1' of type str"),
    ("l2", True, TypeError, r"l2 must be a finite number >= 0; got True of type bool"),
    ("bias_l2", -1, ValueError, r"bias_l2 must be a finite number >= 0; got -1\."),
    ("bias_l2", "5", TypeError, r"bias_l2 must be a finite number >= 0; got '5' of type str"),
    ("alpha", -1, ValueError, r"alpha must be a finite number >= 0; got -1\."),
    ("alpha", "3", TypeError, r"alpha must be a finite number >= 0; got '3' of type str"),
    ("eps", 0.0, ValueError, r"eps must be a finite number > 0; got 0\.0\."),
    ("eps", -1e-9, ValueError, r"eps must be a finite number > 0; got -1e-09\."),
    ("eps", "tiny", TypeError, r"eps must be a finite number > 0; got 'tiny' of type str"),
    ("tol", -1, ValueError, r"tol must be a finite number >= 0 or None; got -1\."),
    ("tol", np.nan, ValueError, r"tol must be a finite number >= 0 or None; got nan\."),
    ("tol", "x", TypeError, r"tol must be a finite number >= 0 or None; got 'x' of type str"),
    ("random_state", -1, ValueError, r"random_state must be an integer >= 0, a numpy Generator "
                                     r"or None; got -1\."),
    ("random_state", "abc", TypeError, r"random_state must be an integer >= 0, a numpy Generator "
                                       r"or None; got 'abc' of type str"),
    ("random_state", 1.5, TypeError, r"random_state must be an integer >= 0, a numpy Generator "
                                     r"or None; got 1\.5 of type float"),
    ("random_state", True, TypeError, r"random_state .* got True of type bool"),
    ("verbose", "yes", TypeError, r"verbose must be True or False; got 'yes' of type str"),
    ("verbose", 1, TypeError, r"verbose must be True or False; got 1 of type int"),
    ("mask", "all", ValueError, r"mask must be None, 'observed', a boolean \(or 0/1\) array or a "
                                r"sparse matrix; got the string 'all'\."),
    ("mask", np.ones((4, 5), bool), ValueError, r"mask must have the shape of data \(5, 4\); "
                                                r"got shape \(4, 5\)\."),
    ("mask", sp.eye(4, format="csr"), ValueError, r"mask must have the shape of data \(5, 4\); "
                                                  r"got shape \(4, 4\)\."),
    ("mask", np.full((5, 4), 0.5), ValueError, r"mask must be boolean \(True = observed\) or 0/1; "
                                               r"got dtype float64 with other values, e\.g\. 0\.5"),
    ("mask", np.full((5, 4), "x"), TypeError, r"mask must be boolean \(True = observed\) or 0/1; "
                                              r"got dtype <U1\."),
    ("mask", np.zeros((5, 4), bool), ValueError, r"data has no observed cell"),
    ("n_samples", 0, ValueError, r"n_samples must be an integer >= 1; got 0\."),
    ("burn_in", -1, ValueError, r"burn_in must be an integer >= 0; got -1\."),
    ("thin", 1.0, TypeError, r"thin must be an integer >= 1; got 1\.0 of type float"),
    ("clip", (4, 3), ValueError, r"clip must be a pair \(low, high\) with low < high; got \(4, 3\)"),
    ("clip", "1-5", TypeError, r"clip must be None or a pair \(low, high\) of numbers; got '1-5'"),
    ("clip", (1,), TypeError, r"clip must be None or a pair \(low, high\) of numbers; got \(1,\)"),
]


def accepts(function, parameter):
    return parameter in inspect.signature(function).parameters


def call(function, **overrides):
    arguments = {"num_components": 2, **overrides}
    if not accepts(function, "num_components"):
        arguments.pop("num_components")
    return function(DATA, **arguments)


def short(value):
    if isinstance(value, np.ndarray) or sp.issparse(value):
        return f"{type(value).__name__}{value.shape}{value.dtype}"
    return repr(value)


CASES = [pytest.param(function, name, value, error, message,
                      id=f"{function.__name__}-{name}={short(value)}")
         for function in FUNCTIONS for name, value, error, message in BAD
         if accepts(function, name)
         and not (function is factorizations.truncated_svd and name == "mask")]


@pytest.mark.parametrize("function, name, value, error, message", CASES)
def test_the_same_bad_value_gets_the_same_error_everywhere(function, name, value, error, message):
    with pytest.raises(error, match=message):
        call(function, **{name: value})


def test_every_function_follows_the_table():
    """The table covers each parameter of each function, and each function's keyword
    parameters are the shared ones (plus the fold-in), so no rule is written twice."""
    shared = set(base.PARAMETER_RULES) | {"mask", "fold_into", "clip"}
    covered = {name for name, *_ in BAD}
    for function in FUNCTIONS:
        keywords = {p.name for p in inspect.signature(function).parameters.values()
                    if p.kind is p.KEYWORD_ONLY}
        assert keywords <= shared, (function.__name__, keywords - shared)
        assert keywords - {"fold_into"} <= covered, function.__name__


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_good_values_of_every_kind_are_accepted(function):
    kinds = {"num_components": np.int64(2), "n_iter": np.int32(3), "l2": np.float32(0.1),
             "alpha": 2,
             "bias_l2": 2, "tol": 0, "random_state": np.random.default_rng(3),
             "verbose": np.bool_(False), "mask": (DATA > 3).astype(int)}
    if function is factorizations.truncated_svd:
        kinds["mask"] = None
    result = call(function, **{k: v for k, v in kinds.items() if accepts(function, k)})
    assert np.isfinite(result.losses).all() and result.losses.size >= 1


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if accepts(f, "num_components")],
                         ids=lambda f: f.__name__)
def test_absurd_rank_is_refused_before_anything_is_allocated(function):
    """A million-by-million sparse matrix and ten million components: factors of that
    size would need 160 TB; the refusal comes from the rank rule, at once."""
    huge = sp.csr_array(([1.0, 2.0], ([0, 5], [3, 7])), shape=(10**6, 10**6))
    with pytest.raises(ValueError, match=re.escape("min(n, m) = 1000000")):
        function(huge, 10**7)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_data_errors_are_worded_alike(function):
    rank = [1] if accepts(function, "num_components") else []
    with pytest.raises(ValueError, match=r"data must be 2-D of shape \(n, m\); got shape \(5,\)"):
        function(np.ones(5), *rank)
    with pytest.raises(ValueError, match=r"data is empty: shape \(0, 3\)"):
        function(np.ones((0, 3)), *rank)
    with pytest.raises(TypeError, match=r"data must be numeric; got dtype <U1"):
        function(np.array([["a", "b"], ["c", "d"]]), *rank)
    with_nan = DATA.copy()
    with_nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"data has 1 NaN or infinite entries \(first at row 1, "
                                         r"column 2: nan\)"):
        function(with_nan, *rank, mask=None)


def test_negative_data_is_refused_only_where_the_model_is_non_negative():
    negative = DATA - 10
    for function in (base.non_negative, factorizations.nnls_als):
        with pytest.raises(ValueError, match=r"data has 9 negative entries \(first at row 0, "
                                             r"column 0: -9\.0\); non-negative matrix"):
            function(negative, 2)
    for function in (factorizations.als, factorizations.biased_non_negative,
                     factorizations.truncated_svd):
        assert np.isfinite(function(negative, 2).Z).all()
