"""The lab's models, one interface (:class:`lab.interface.Model`), one list: :data:`REGISTRY`.

``REGISTRY[key](**params)`` makes a model; ``.fit(ratings)``, ``.predict``, ``.recommend``,
``.fold_in`` and ``.losses_`` are the same for all.  One module per family:

* ours (``.venv``): :mod:`~lab.models.baselines`, :mod:`~lab.models.multiplicative` (the
  exercise's MU under its fills, and masked), :mod:`~lab.models.als` (ALS, NNLS-ALS, their
  average, NNLS-ALS on who rated what), :mod:`~lab.models.biased` (the biased non-negative
  model and its Bayesian posterior mean), :mod:`~lab.models.svd`, :mod:`~lab.models.ease`
  (EASE, its non-negative form, and that form summed with NNLS-ALS factors),
  :mod:`~lab.models.scikit_learn` (scikit-learn's NMF); :mod:`~lab.models.factorization`
  holds what the factorization models share;
* the peers' adapters, :mod:`~lab.models.peers` (``.venv-peers``, ``make peers``);
* Spark MLlib's ALS, :mod:`~lab.models.spark` (``.venv-spark``, ``make spark``).

Every class says which environment it runs in (``environment``) and which modules only that
environment installs (``needs``); each module loads everywhere (other libraries are
imported inside methods).  A model is registered where every module its environment's
models need imports; elsewhere its key raises a KeyError that names the environment.
Nothing here imports the evaluation, the report or the commands.
"""

from __future__ import annotations

from importlib.util import find_spec

from lab.interface import Model
from lab.models.als import ALS, NNLSALS, ImplicitNNLSALS, NNLSALSAverage
from lab.models.baselines import Biases, GlobalMean, Popularity
from lab.models.biased import BayesianNMF, BiasedNMF
from lab.models.ease import EASE, NonNegativeEASE, NonNegativeItemsAndFactors
from lab.models.multiplicative import MUGlobalMeanFill, MUMovieMeanFill, MUObserved, MUZeroFill
from lab.models.peers import ENVIRONMENT as PEERS_ENVIRONMENT
from lab.models.peers import PEERS
from lab.models.scikit_learn import ScikitLearnNMF
from lab.models.spark import SparkALS
from lab.models.svd import SVDMovieMeanFill, SVDZeroFill

#: Our models, in the order of the report.  Adding one: its class in its family's module
#: (or a new one), and its name here.
OURS = [GlobalMean, Biases, Popularity, MUZeroFill, MUGlobalMeanFill, MUMovieMeanFill,
        MUObserved, NNLSALS, NNLSALSAverage, BiasedNMF, BayesianNMF, ALS, SVDZeroFill,
        SVDMovieMeanFill, ScikitLearnNMF, EASE, ImplicitNNLSALS, NonNegativeEASE,
        NonNegativeItemsAndFactors]

#: Every model of every environment, in the order of the report: ours, the peers', Spark's.
MODELS = [*OURS, *PEERS, SparkALS]

#: The make target that builds each other environment (not .venv) and runs its models.
MAKE_TARGET = {".venv-peers": "make peers", ".venv-spark": "make spark"}


def missing_modules(environment: str, models) -> list[str]:
    """The modules that the models of ``environment`` among ``models`` need and that do not
    import here, in order."""
    needed = dict.fromkeys(name for cls in models
                           if cls.environment == environment for name in cls.needs)
    return [name for name in needed if find_spec(name) is None]


class UnknownModelError(KeyError):
    """A key that is not in :data:`REGISTRY`: the message says where the model runs, or
    which keys exist.  Printed as the message itself (a KeyError prints its repr)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(dict):
    """``{key: model class}`` of the models that run in this environment, in the order of
    ``models``; ``elsewhere`` holds those of other environments (their modules missing
    here).  A missing key raises :class:`UnknownModelError`, saying in which environment
    the model runs and how to get there, or, for a key no environment has, listing the
    keys."""

    def __init__(self, models):
        models = list(models)
        missing = {cls.environment: missing_modules(cls.environment, models) for cls in models}
        super().__init__((cls.key, cls) for cls in models if not missing[cls.environment])
        self.elsewhere = {cls.key: cls for cls in models if missing[cls.environment]}
        self._missing = missing

    def __missing__(self, key):
        if key in self.elsewhere:
            cls = self.elsewhere[key]
            env = cls.environment
            absent = [n for n in cls.needs if n in self._missing[env]] or self._missing[env]
            raise UnknownModelError(
                f"{key} is a model of {env} ({_listed(absent)} "
                f"{'is' if len(absent) == 1 else 'are'} not installed here); run "
                f"`{MAKE_TARGET[env]}`, or use {env}/bin/python.")
        by_environment = {}
        for other, cls in self.elsewhere.items():
            by_environment.setdefault(cls.environment, []).append(other)
        others = "; ".join(f"{env} also has {', '.join(keys)}"
                           for env, keys in by_environment.items())
        raise UnknownModelError(f"unknown model {key!r}; the registry holds "
                                f"{', '.join(self)}" + (f" ({others})." if others else "."))


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


#: {key: model class}: every model that runs here (ours in every environment; the peers'
#: in .venv-peers, Spark's in .venv-spark), ours first, in the order of the report.
REGISTRY: Registry = Registry(MODELS)

__all__ = ["REGISTRY", "MODELS", "OURS", "PEERS_ENVIRONMENT", "Model", "Registry",
           "UnknownModelError", "missing_modules"]
