"""The lab's models, one interface (:class:`lab.interface.Model`), one list: :data:`REGISTRY`.

``REGISTRY[key](**params)`` makes a model; ``.fit(ratings)``, ``.predict``, ``.recommend``,
``.fold_in`` and ``.losses_`` are the same for all.  Ours are always registered; the
peers' adapters (:mod:`lab.peers.models`) join where their libraries import (the
environment of ``make peers``), Spark's ALS (:mod:`lab.spark.model`) where pyspark does
(that of ``make spark``).
"""

from __future__ import annotations

from importlib.util import find_spec

from lab.interface import Model
from lab.models.ours import OURS

#: {key: model class}: every model the evaluation, the report, the benchmarks and Spark's
#: comparison can use, ours first, in the order of the report.
REGISTRY: dict[str, type[Model]] = {cls.key: cls for cls in OURS}

#: The libraries of the peers' adapters, installed only in .venv-peers.
PEER_LIBRARIES = ("surprise", "implicit", "myfm", "cornac")

if all(find_spec(name) for name in PEER_LIBRARIES):
    from lab.peers.models import PEERS          # an error here is a bug, not a missing library
    REGISTRY.update({cls.key: cls for cls in PEERS})

if find_spec("pyspark"):                        # installed only in .venv-spark
    from lab.spark.model import SparkALS
    REGISTRY[SparkALS.key] = SparkALS

__all__ = ["REGISTRY", "Model"]
