"""One rule per parameter, one way to say it: every model of lab.models.MODELS and every
factorization function refuses the same bad value of a shared parameter with
lab.rules.InvalidParameterError and the same words, "<owner>: <name> must be <rule>; got
<value> of type <type>.", the owner being the model's key or the function; the grids
hold only values their rules accept; unknown parameters are refused by name; and the
data and mask checks (lab.base.validate) are worded alike everywhere."""

from __future__ import annotations

import inspect
import re
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.model_selection import ParameterGrid

from lab.rules import InvalidParameterError
from lab import factorizations
from lab.models import MODELS, REGISTRY

from fits import FUNCTIONS

#: Every model of every environment (each loads anywhere; only its fit needs its library).
MODELS_BY_KEY = {cls.key: cls for cls in MODELS}
DATA = np.arange(1.0, 21.0).reshape(5, 4)

SEED = "an integer >= 0, a numpy Generator or RandomState, or None"
#: parameter, bad value, the rule as every message words it
BAD = [
    ("num_components", 0, "an integer >= 1"),
    ("num_components", -3, "an integer >= 1"),
    ("num_components", 2.0, "an integer >= 1"),
    ("num_components", 2.5, "an integer >= 1"),
    ("num_components", True, "an integer >= 1"),
    ("num_components", "3", "an integer >= 1"),
    ("num_components", None, "an integer >= 1"),
    ("n_iter", -1, "an integer >= 0"),
    ("n_iter", 1.5, "an integer >= 0"),
    ("n_iter", 10.0, "an integer >= 0"),
    ("n_iter", True, "an integer >= 0"),
    ("n_iter", "5", "an integer >= 0"),
    ("l2", -1, "a finite number >= 0"),
    ("l2", -0.1, "a finite number >= 0"),
    ("l2", np.nan, "a finite number >= 0"),
    ("l2", np.inf, "a finite number >= 0"),
    ("l2", "x", "a finite number >= 0"),
    ("l2", True, "a finite number >= 0"),
    ("bias_l2", -1, "a finite number >= 0"),
    ("bias_l2", "5", "a finite number >= 0"),
    ("alpha", -1, "a finite number >= 0"),
    ("alpha", "3", "a finite number >= 0"),
    ("eps", 0.0, "a finite number > 0"),
    ("eps", -1e-9, "a finite number > 0"),
    ("eps", "tiny", "a finite number > 0"),
    ("tol", -1, "a finite number >= 0 or None"),
    ("tol", np.nan, "a finite number >= 0 or None"),
    ("tol", "x", "a finite number >= 0 or None"),
    ("random_state", -1, SEED),
    ("random_state", "abc", SEED),
    ("random_state", 1.5, SEED),
    ("random_state", True, SEED),
    ("verbose", "yes", "True or False"),
    ("verbose", 1, "True or False"),
    ("nonnegative", "yes", "True or False"),
    ("n_samples", 0, "an integer >= 1"),
    ("burn_in", -1, "an integer >= 0"),
    ("thin", 1.0, "an integer >= 1"),
    ("max_iter", 0, "an integer >= 1"),
    ("n_seeds", 0, "an integer >= 1"),
    # the peers' own names (their libraries' words), each with one rule too
    ("n_factors", 0, "an integer >= 1"),
    ("n_epochs", 0, "an integer >= 1"),
    ("reg_all", -1, "a finite number >= 0"),
    ("reg", -1, "a finite number >= 0"),
    ("k", 0, "an integer >= 1"),
    ("shrinkage", -1, "an integer >= 0"),
    ("factors", 0, "an integer >= 1"),
    ("regularization", -1, "a finite number >= 0"),
    ("iterations", 0, "an integer >= 1"),
    ("learning_rate", 0.0, "a finite number > 0"),
    ("lambda_reg", -1, "a finite number >= 0"),
    ("rank", 0, "an integer >= 1"),
    ("n_sweeps", 0, "an integer >= 1"),
    ("l2_per_rating", -1, "a finite number >= 0"),
    ("weight", -0.5, "a finite number from 0 to 1"),
    ("weight", 1.5, "a finite number from 0 to 1"),
    ("weight", "half", "a finite number from 0 to 1"),
]
COVERED = {name for name, *_ in BAD}


def takes(function, parameter) -> bool:
    """Does ``function`` take ``parameter`` as a keyword its caller may set?"""
    fixed = function.keywords if isinstance(function, partial) else {}
    return parameter in inspect.signature(function).parameters and parameter not in fixed


def call(function, **overrides):
    arguments = {"num_components": 2, **overrides}
    if not takes(function, "num_components"):
        arguments.pop("num_components")
    return function(DATA, **arguments)


def short(value):
    if isinstance(value, np.ndarray) or sp.issparse(value):
        return f"{type(value).__name__}{value.shape}{value.dtype}"
    return repr(value)


def words(owner, name, value, rule):
    """The one message of a bad value, as a regular expression."""
    return re.escape(f"{owner}: {name} must be {rule}; got {value!r} of type "
                     f"{type(value).__name__}.")


#: (kind, owner, its parameters): every model, then every function ("als" is both)
OWNERS = [*(("model", key, list(cls.rules)) for key, cls in MODELS_BY_KEY.items()),
          *(("function", owner, [p for p in inspect.signature(f).parameters if takes(f, p)])
            for owner, f in FUNCTIONS.items())]
CASES = [pytest.param(kind, owner, name, value, rule,
                      id=f"{kind}-{owner}-{name}={short(value)}")
         for kind, owner, parameters in OWNERS for name, value, rule in BAD if name in parameters]


@pytest.mark.parametrize("kind, owner, name, value, rule", CASES)
def test_the_same_bad_value_gets_the_same_error_from_every_owner(kind, owner, name, value, rule):
    with pytest.raises(InvalidParameterError, match=words(owner, name, value, rule)):
        if kind == "model":
            MODELS_BY_KEY[owner](**{name: value})
        else:
            call(FUNCTIONS[owner], **{name: value})


def test_the_error_is_both_a_value_error_and_a_type_error():
    """So callers that catch either (as scikit-learn's InvalidParameterError allows) do."""
    for error in (ValueError, TypeError):
        with pytest.raises(error):
            REGISTRY["nnls_als"](l2=-1)


def test_the_table_covers_every_parameter_of_every_owner():
    """Each model's rules and each function's keywords are in the table (or are data
    arguments: mask, fold_into, clip), so no owner has a parameter the table never tries."""
    for kind, owner, parameters in OWNERS:
        missing = set(parameters) - COVERED - {"data", "mask", "fold_into", "clip"}
        assert not missing, (kind, owner, missing)
    assert len(OWNERS) == len(MODELS) + len(FUNCTIONS)


RANKED = [owner for owner, function in FUNCTIONS.items() if takes(function, "num_components")]


@pytest.mark.parametrize("owner", [owner for owner in RANKED if owner != "truncated_svd"])
def test_more_components_than_min_n_m_are_taken_as_the_ground_floor_takes_them(owner):
    """The rank rule of nmf_core.non_negative and scikit-learn's NMF: 7 components for data
    of shape (5, 4) give factors of 7 columns and rows, finite."""
    fit = call(FUNCTIONS[owner], num_components=7, **({"n_samples": 5, "burn_in": 2}
                                                      if owner == "bayesian_non_negative" else {}))
    result = fit.last if owner == "bayesian_non_negative" else fit
    assert result.Z.shape == (5, 7) and result.H.shape == (7, 4)
    assert np.isfinite(fit.scores(np.arange(5))).all()


@pytest.mark.parametrize("rank, data", [(5, DATA), (4, sp.csr_array(DATA))])
def test_a_truncated_svd_has_at_most_min_n_m_components(rank, data):
    limit = rank - 1
    with pytest.raises(InvalidParameterError, match=re.escape(
            f"truncated_svd: num_components must be at most {limit} for "
            f"{'sparse' if sp.issparse(data) else 'dense'} data of shape (5, 4)")):
        factorizations.truncated_svd(data, rank)
    assert factorizations.truncated_svd(data, limit).Z.shape == (5, limit)


# --- the models: defaults, grids, unknown names ------------------------------------------

@pytest.mark.parametrize("key", MODELS_BY_KEY)
def test_defaults_and_every_grid_value_satisfy_the_models_rules(key):
    cls = MODELS_BY_KEY[key]
    assert set(cls.defaults) == set(cls.rules), "every parameter has a default"
    assert cls().params == cls.defaults
    assert set(cls.grid) <= set(cls.rules)
    for name, values in cls.grid.items():
        assert values, (key, name)
        for value in values:
            assert cls.rules[name].accepts(value), (key, name, value)
    for candidate in ParameterGrid(cls.grid):       # what select_params constructs
        assert cls(**candidate).params == {**cls.defaults, **candidate}


@pytest.mark.parametrize("key", [k for k, cls in MODELS_BY_KEY.items() if cls.rules])
def test_an_unknown_parameter_is_refused_by_name(key):
    cls = MODELS_BY_KEY[key]
    with pytest.raises(InvalidParameterError, match=re.escape(
            f"{key} has no parameter 'n_components'; its parameters are")) as caught:
        cls(n_components=3)
    for name in cls.rules:
        assert name in str(caught.value)


@pytest.mark.parametrize("key", [k for k, cls in REGISTRY.items() if not cls.rules])
def test_a_model_without_parameters_says_it_takes_none(key):
    with pytest.raises(InvalidParameterError) as caught:
        REGISTRY[key](n_components=3)
    assert str(caught.value) == f"{key} has no parameter 'n_components'; it takes no parameters."


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_a_function_refuses_an_unknown_keyword_by_name(owner):
    with pytest.raises(TypeError, match="n_components"):
        call(FUNCTIONS[owner], n_components=3)


@pytest.mark.parametrize("key", [k for k, cls in REGISTRY.items() if "num_components" in cls.rules])
def test_good_values_of_every_kind_are_stored_as_plain_python(key):
    kinds = {"num_components": np.int64(2), "n_iter": np.int32(3), "l2": np.float32(0.25),
             "random_state": np.int64(4)}
    params = REGISTRY[key](**{k: v for k, v in kinds.items() if k in REGISTRY[key].rules}).params
    assert type(params["num_components"]) is int and params["num_components"] == 2
    if "l2" in params:
        assert type(params["l2"]) is float and params["l2"] == 0.25


# --- random_state: a RandomState works wherever a seed does ---------------------------------

#: small settings, so that every model fits in well under a second
QUICK = {"num_components": 2, "n_iter": 5, "n_samples": 5, "burn_in": 2, "max_iter": 50}

SEEDED = [key for key, cls in REGISTRY.items() if "random_state" in cls.rules]


@pytest.mark.parametrize("key", SEEDED)
def test_every_model_with_a_seed_fits_with_a_random_state(key, regular_ratings):
    cls = REGISTRY[key]
    params = {k: v for k, v in QUICK.items() if k in cls.rules}
    ratings = regular_ratings(12, 10, every=4)
    model = cls(random_state=np.random.RandomState(0), **params).fit(ratings)
    assert np.isfinite(model.scores()).all()


@pytest.mark.parametrize("owner", [o for o, f in FUNCTIONS.items() if takes(f, "random_state")])
def test_every_function_with_a_seed_takes_a_random_state(owner):
    options = {"n_samples": 3, "burn_in": 1} if owner == "bayesian_non_negative" else {}
    first = call(FUNCTIONS[owner], random_state=np.random.RandomState(3), **options)
    again = call(FUNCTIONS[owner], random_state=np.random.RandomState(3), **options)
    assert np.isfinite(first.losses).all()
    np.testing.assert_array_equal(first.losses, again.losses)       # the same stream, the same fit


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_good_values_of_every_kind_are_accepted_by_every_function(owner):
    function = FUNCTIONS[owner]
    kinds = {"num_components": np.int64(2), "n_iter": np.int32(3), "l2": np.float32(0.1),
             "alpha": 2, "bias_l2": 2, "tol": 0, "random_state": np.random.default_rng(3),
             "verbose": np.bool_(False), "mask": (DATA > 3).astype(int), "n_samples": 3,
             "burn_in": np.int64(1), "eps": 1e-12}
    if owner == "truncated_svd":
        kinds["mask"] = None
    result = call(function, **{k: v for k, v in kinds.items() if takes(function, k)})
    assert np.isfinite(result.losses).all() and result.losses.size >= 1


# --- the data and the mask: lab.base.validate's words, the same everywhere --------------------

#: parameter, bad value, error type, message (a regular expression)
BAD_INPUT = [
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
    ("clip", (4, 3), ValueError,
     r"clip must be a pair \(low, high\) with low < high; got \(4, 3\)"),
    ("clip", "1-5", TypeError, r"clip must be None or a pair \(low, high\) of numbers; got '1-5'"),
    ("clip", (1,), TypeError, r"clip must be None or a pair \(low, high\) of numbers; got \(1,\)"),
]


@pytest.mark.parametrize("owner, name, value, error, message", [
    pytest.param(owner, name, value, error, message, id=f"{owner}-{name}={short(value)}")
    for owner, function in FUNCTIONS.items() for name, value, error, message in BAD_INPUT
    if takes(function, name) and owner != "truncated_svd"])
def test_a_bad_mask_or_clip_gets_the_same_error_everywhere(owner, name, value, error, message):
    with pytest.raises(error, match=message):
        call(FUNCTIONS[owner], **{name: value})


@pytest.mark.parametrize("owner", RANKED)
def test_absurd_rank_is_refused_before_anything_is_allocated(owner):
    """A million-by-million sparse matrix and ten million components: factors of that
    size would need 149,012 GiB; the rank rule refuses them by size, at once."""
    function = FUNCTIONS[owner]
    huge = sp.csr_array(([1.0, 2.0], ([0, 5], [3, 7])), shape=(10**6, 10**6))
    with pytest.raises(MemoryError, match=re.escape(
            f"{owner}: num_components=10000000 is too many for data of shape "
            "(1000000, 1000000): Z and H would need 1.49e+05 GiB, more than the")):
        function(huge, 10**7)


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_data_errors_are_worded_alike(owner):
    function = FUNCTIONS[owner]
    rank = [1] if takes(function, "num_components") else []
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
    for owner in ("non_negative", "als(nonnegative=True)"):
        with pytest.raises(ValueError, match=r"data has 9 negative entries \(first at row 0, "
                                             r"column 0: -9\.0\); non-negative matrix"):
            FUNCTIONS[owner](negative, 2)
    for owner in ("als", "biased_non_negative", "truncated_svd"):
        assert np.isfinite(FUNCTIONS[owner](negative, 2).Z).all()
