"""The lab: everything beyond the exercise, built on the ground floor (nmf_core, recommender).

* :mod:`lab.base` - the fast multiplicative updates the lab's models use (a numba-compiled
  masked kernel) and what every factorization shares: start, penalty, stopping rule,
  parameter rules, input validation, :func:`lab.base.match_components`;
* :mod:`lab.factorizations` - ALS, NNLS-ALS, the biased and Bayesian non-negative models,
  truncated SVD, implicit-feedback NNLS-ALS;
* :mod:`lab.ratings` - the rating index, the one ranker, factor models that fold new users in;
* :mod:`lab.evaluation` - the held-out protocol on MovieLens-100k's five folds and every
  model's grid; ``python -m lab.evaluate`` (``make evaluate``) runs it;
* :mod:`lab.benchmarks` - timings against scikit-learn and at MovieLens-1M/10M scale
  (``make bench``); :mod:`lab.peers` - other libraries on the same folds (``make peers``);
  :mod:`lab.spark` - Spark MLlib's ALS beside nnls_als (``make spark``).

The lab imports the ground floor; the ground floor never imports the lab.  This file
imports nothing, so ``python -m lab.spark.run_spark --check-java`` runs under any Python 3.
"""
