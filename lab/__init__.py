"""The lab: everything beyond the exercise, built on the ground floor (nmf_core, recommender).

* :mod:`lab.interface` - the one model interface (:class:`lab.interface.Model`);
* :mod:`lab.models` - the models, one module per family, listed once in
  :data:`lab.models.MODELS` (``OURS``, then the peers', then Spark's) and looked up by key in
  :data:`lab.models.REGISTRY` (those that run in this environment): ours (fitting the
  factorizations of :mod:`lab.factorizations` and the compiled masked update of
  :mod:`lab.kernels`), the peers' adapters (:mod:`lab.models.peers`,
  registered in .venv-peers) and Spark MLlib's ALS (:mod:`lab.models.spark`, in .venv-spark);
* :mod:`lab.rules` - the parameters' rules and their one check, the rank rule;
* :mod:`lab.base` - what the models and factorizations share: input validation, the
  results that answer ``scores`` and ``predict``, the start (the exercise's
  :func:`nmf_core.start`, or H held for a fold-in), the penalty, the stopping rule (the loss
  over every cell is
  :func:`nmf_core.squared_error`); the loop that applies the rule is
  :func:`lab.factorizations.cells.iterate`;
* :mod:`lab.nmf` - the general NMF: the exercise's updates with a mask, a penalty, a
  tolerance, progress lines, ``fold_into`` and :func:`lab.nmf.follow`;
* :mod:`lab.ratings` - the users x movies index and the one ranker;
* :mod:`lab.clock` - the one clock (the evaluation's fit times, the benchmarks);
* :mod:`lab.evaluation` - the held-out protocol on MovieLens-100k's five folds;
  :mod:`lab.report` - the tables, figures and Markdown of its results;
* :mod:`lab.commands` - the command lines of the make targets: ``evaluate`` (``make
  evaluate``, ``make peers``), ``bench`` and ``bench_scale`` (``make bench``), ``spark``
  (``make spark``), ``spark_scale`` (``make spark-scale``), and ``shell``, what they share
  (``synthetic``, the scale benchmarks' data).

The layers import downwards only: the commands use the report, the report the evaluation,
the evaluation the models, never the other way (tests/lab/test_structure.py).  The lab
imports the ground floor; the ground floor never imports the lab.  This file imports
nothing, so ``python -m lab.commands.spark --check-java`` runs under any Python 3.7 or newer.
"""
