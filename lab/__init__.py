"""The lab: everything beyond the exercise, built on the ground floor (nmf_core, recommender).

* :mod:`lab.interface` - the one model interface (:class:`lab.interface.Model`);
* :mod:`lab.models` - :data:`lab.models.REGISTRY`, the one list of models: ours (:mod:`lab.models.ours`, fitting the factorizations of
  :mod:`lab.factorizations` and the compiled masked update of
  :mod:`lab.kernels`), the peers' adapters (:mod:`lab.peers.models`, where their
  libraries are installed) and Spark MLlib's ALS (:mod:`lab.spark.model`, where pyspark is);
* :mod:`lab.base` - what the models and factorizations share: parameter rules and their
  check, input validation, the start, the penalty, the stopping rule;
* :mod:`lab.ratings` - the users x movies index and the one ranker;
* :mod:`lab.evaluation` - the held-out protocol on MovieLens-100k's five folds;
  ``python -m lab.evaluate`` (``make evaluate``, ``make peers``) runs it;
* :mod:`lab.benchmarks` - timings against scikit-learn and at MovieLens-1M/10M scale
  (``make bench``); :mod:`lab.spark.run_spark` - Spark beside nnls_als (``make spark``).

The lab imports the ground floor; the ground floor never imports the lab.  This file
imports nothing, so ``python -m lab.spark.run_spark --check-java`` runs under any Python 3.
"""
