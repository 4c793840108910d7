"""The list of models (lab.models): every model of every environment loads here, each says
where it runs (``environment``, ``needs``), the registry holds those that run here, and a key
of another environment, or of none, is refused saying so; and the one integer seed that
models hand to code taking an int (lab.interface.integer_seed)."""

from __future__ import annotations

import re
from importlib.util import find_spec

import numpy as np
import pytest

from lab.interface import Model, integer_seed
from lab.models import MODELS, OURS, REGISTRY, Registry, UnknownModelError
from lab.models.als import NNLSALS, NNLSALSAverage
from lab.models.scikit_learn import ScikitLearnNMF
from lab.models.spark import SparkALS
from scripts import ROOT


def test_every_model_of_every_environment_is_known_once_and_says_where_it_runs():
    keys = [cls.key for cls in MODELS]
    assert len(set(keys)) == len(keys)
    makefile = (ROOT / "Makefile").read_text()
    for environment in {cls.environment for cls in MODELS}:  # each one the Makefile builds
        variable = re.search(rf"^(\w+)\s*:=\s*{re.escape(environment)}\s*$", makefile, re.M)
        built = variable and re.search(rf"make-venv,\$\({variable[1]}\),([\w.-]+),", makefile)
        assert built and (ROOT / built[1]).is_file(), environment


def test_the_registry_holds_what_runs_here_in_the_order_of_the_report():
    assert list(REGISTRY)[:len(OURS)] == [cls.key for cls in OURS]
    assert set(REGISTRY).isdisjoint(REGISTRY.elsewhere)
    assert set(REGISTRY) | set(REGISTRY.elsewhere) == {cls.key for cls in MODELS}


@pytest.mark.skipif(find_spec("surprise") is not None, reason="Surprise is installed here")
def test_a_peers_key_outside_their_environment_names_it():
    with pytest.raises(KeyError) as caught:
        REGISTRY["surprise_svdpp"]
    assert str(caught.value) == (
        "surprise_svdpp is a model of .venv-peers (surprise is not installed here); run "
        "`make peers`, or use .venv-peers/bin/python.")
    assert isinstance(caught.value, UnknownModelError)


@pytest.mark.skipif(find_spec("pyspark") is not None, reason="pyspark is installed here")
def test_sparks_key_outside_its_environment_names_it():
    with pytest.raises(UnknownModelError, match=r"^spark_als is a model of \.venv-spark "
                                                r"\(pyspark is not installed here\); run "
                                                r"`make spark`, or use \.venv-spark/bin/python\.$"):
        REGISTRY["spark_als"]


def test_an_unknown_key_lists_the_keys_here_and_elsewhere():
    with pytest.raises(KeyError) as caught:
        REGISTRY["nmf"]
    message = str(caught.value)
    assert message.startswith("unknown model 'nmf'; the registry holds "
                              + ", ".join(REGISTRY))
    for env in {cls.environment for cls in REGISTRY.elsewhere.values()}:
        keys = [k for k, c in REGISTRY.elsewhere.items() if c.environment == env]
        assert f"{env} also has {', '.join(keys)}" in message
    assert REGISTRY.get("nmf") is None and "nmf" not in REGISTRY


class _Here(Model):
    key, label = "here", "a model of .venv"


class _Peer(Model):
    key, label, environment, needs = "peer", "a peer", ".venv-peers", ("json",)


class _Missing(Model):
    key, label = "missing", "a peer whose library is missing"
    environment, needs = ".venv-peers", ("no_such_library_here",)


class _Other(Model):
    key, label = "other", "a peer of the same environment whose own library imports"
    environment, needs = ".venv-peers", ("json", "no_such_library_either")


def test_an_environment_counts_as_present_only_when_all_its_modules_import():
    everything = Registry([_Here, _Peer])
    assert list(everything) == ["here", "peer"] and everything.elsewhere == {}
    partial = Registry([_Here, _Peer, _Missing, _Other])
    assert list(partial) == ["here"]
    assert list(partial.elsewhere) == ["peer", "missing", "other"]
    # the model's own missing library is named; failing that, what its environment lacks
    with pytest.raises(UnknownModelError, match=r"^missing is a model of \.venv-peers "
                                                r"\(no_such_library_here is not installed"):
        partial["missing"]
    with pytest.raises(UnknownModelError, match=r"^peer is a model of \.venv-peers "
                                                r"\(no_such_library_here and "
                                                r"no_such_library_either are not installed"):
        partial["peer"]
    with pytest.raises(UnknownModelError, match=r"^unknown model 'x'; the registry holds here "
                                                r"\(\.venv-peers also has peer, missing, "
                                                r"other\)\.$"):
        partial["x"]


# --- the integer seed -----------------------------------------------------------------------

def test_integer_seed_keeps_an_integer_and_draws_from_a_generator():
    assert integer_seed(0) == 0 and integer_seed(np.int64(7)) == 7
    assert type(integer_seed(np.int64(7))) is int
    assert integer_seed(np.random.RandomState(3)) == integer_seed(np.random.RandomState(3))
    assert integer_seed(np.random.default_rng(3)) == integer_seed(np.random.default_rng(3))
    rng = np.random.default_rng(3)
    assert integer_seed(rng) != integer_seed(rng)                  # the next draw each time
    assert 0 <= integer_seed(None) < 2**31 - 1


def test_the_models_that_need_an_integer_seed_take_it_from_integer_seed(regular_ratings):
    """SparkALS's seed and the NNLS-ALS average's first seed are integer_seed's: the same
    for the same RandomState, and equal to passing that integer."""
    seed = integer_seed(np.random.RandomState(5))
    assert SparkALS(random_state=np.random.RandomState(5)).seed == seed
    assert SparkALS(random_state=np.int64(9)).seed == 9
    assert SparkALS(random_state=np.random.default_rng(5)).seed == \
        SparkALS(random_state=np.random.default_rng(5)).seed
    assert isinstance(SparkALS(random_state=None).seed, int)
    ratings = regular_ratings(8, 6, every=3, seed=0)
    quick = {"num_components": 2, "n_iter": 3, "n_seeds": 2}
    drawn = NNLSALSAverage(random_state=np.random.RandomState(5), **quick).fit(ratings)
    given = NNLSALSAverage(random_state=seed, **quick).fit(ratings)
    np.testing.assert_array_equal(drawn.scores(), given.scores())
    members = NNLSALSAverage(random_state=4, **quick).fit(ratings).members_
    assert [m.params["random_state"] for m in members] == [4, 5]
    assert isinstance(members[0], NNLSALS)
    # scikit-learn's NMF takes no Generator: it gets integer_seed's draw, as the rule promises
    quick = {"num_components": 2, "max_iter": 5}
    drawn = ScikitLearnNMF(random_state=np.random.default_rng(5), **quick).fit(ratings)
    given = ScikitLearnNMF(random_state=integer_seed(np.random.default_rng(5)), **quick)
    np.testing.assert_array_equal(drawn.scores(), given.fit(ratings).scores())


@pytest.mark.parametrize("key", ["nmf_zero", "nmf_masked", "sklearn_nmf"])
def test_a_fit_checks_its_ratings_once_and_a_fold_in_not_again(monkeypatch, key,
                                                                regular_ratings):
    import lab.interface
    import lab.ratings
    calls = []
    for module in (lab.interface, lab.ratings):
        checker = module.check_ratings
        monkeypatch.setattr(module, "check_ratings",
                            lambda ratings, checker=checker: calls.append(1) or checker(ratings))
    ratings = regular_ratings(8, 6, every=3, seed=1)
    params = {"num_components": 2, "n_iter": 3} if key != "sklearn_nmf" else {"num_components": 2}
    model = REGISTRY[key](**params).fit(ratings)
    assert len(calls) == 1
    assert model.fold_in({1: 5, 2: 3}).shape == (6,)
    assert len(calls) == 1
