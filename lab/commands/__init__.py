"""The lab's command lines, each run by a make target (``python -m lab.commands.<name>``):

* :mod:`lab.commands.evaluate` - ``make evaluate`` (ours) and ``make peers`` (``--peers``):
  every model on the five official folds, the CSV and the report;
* :mod:`lab.commands.bench` and :mod:`lab.commands.bench_scale` - ``make bench``: the NMF
  against scikit-learn, and the lab at MovieLens-1M/10M scale;
* :mod:`lab.commands.spark` - ``make spark``: Spark MLlib's ALS beside nnls_als;
* :mod:`lab.commands.spark_scale` - ``make spark-scale``: both per iteration at scale;
* :mod:`lab.commands.shell` - what they share: one BLAS thread (for all but the scale part
  of ``make bench``, which measures the thread settings a user may have), atomic files and
  CSV tables, the seed, one iteration timed on :mod:`lab.clock`, Spark's block, one line on
  Ctrl-C;
* :mod:`lab.commands.synthetic` - the ratings, shaped like MovieLens-1M and -10M, that both
  scale benchmarks time.

This file imports nothing, so ``python -m lab.commands.spark --check-java`` runs under any
Python 3.7 or newer.
"""
