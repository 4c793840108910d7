"""Spark MLlib's ALS(nonnegative=True) beside our nnls_als on MovieLens-100k's five folds.

    .venv-spark/bin/python -m lab.commands.spark [--folds 1 2 3 4 5] [--check-java]

``make spark`` runs it in its own environment, ``.venv-spark`` (``requirements-spark.txt``).
For each official fold u1..u5: nnls_als's hyperparameters are chosen on a validation
split of ``u{k}.base`` exactly as ``make evaluate`` does
(:func:`lab.evaluation.select_params`); ``REGISTRY["nnls_als"]`` and Spark's ALS
(:class:`lab.models.spark.SparkALS`, local mode on every core) are then fitted with the
same settings on the whole base set and scored on ``u{k}.test`` by the same function,
:func:`lab.evaluation.score_split` (predictions clipped to [1, 5]; a test pair whose user
or movie has no training rating is predicted by the model's bias baseline).
Two lines per fold as it finishes, then the five-fold means; writes ``build/spark.csv``
(one row per fold and system) atomically.  Ctrl-C stops Spark quietly and ends it with one
line (:mod:`lab.commands.shell`).

Both minimize ``sum_obs (x_ij - z_i . h_j)^2 + l2 (sum_i n_i ||z_i||^2 + sum_j m_j ||h_j||^2)``
over ``Z, H >= 0`` (``n_i``, ``m_j``: the ratings of user i and movie j): Spark's ALS adds
``regParam`` times the number of ratings to each row's normal equations, the weighting
of ALS-WR, as :func:`lab.factorizations.als` does with ``l2``.  So ``regParam = l2``,
``rank = num_components``, ``maxIter = n_iter`` (one iteration solves every user and
every movie once), ``seed = random_state``; the random starts differ all the same and
cannot be matched.  Each fold measures the mapping (``user_step_gap``, printed and written):
Spark's last step solves every user given its movie factors, so its user factors should be
nnls_als's exact user step (``als(..., nonnegative=True, fold_into=...)``) from those movie
factors with the same ``l2``.

Exit status: 0 when the five-fold mean RMSEs agree within 0.01, 1 when they do not,
2 when no usable Java (17 or newer) is found (or the command line is wrong), 130 on
Ctrl-C.  Only the standard library is imported at module level (:mod:`lab.commands.shell`
imports no more), so ``--check-java`` (run by ``make spark`` before it builds
``.venv-spark``) works under any Python 3.7 or newer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from lab import clock
from lab.commands import shell

#: Spark 4 runs on Java 17 or newer.
MIN_JAVA = 17
#: The largest difference of the five-fold mean RMSEs still called agreement.
TOLERANCE = 0.01
_REMEDY = (f"install Java {MIN_JAVA} (e.g. `apt-get install openjdk-17-jre-headless`) or set "
           f"JAVA_HOME to a Java {MIN_JAVA}+ installation")


class JavaMissing(RuntimeError):
    """No Java that Spark can start: the message says what was found and what to do."""


def check_java(environ: Mapping[str, str] | None = None) -> str:
    """Find the Java that PySpark will start and check that it is version 17 or newer.

    Like PySpark, use ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java``
    on PATH, and run ``java -version``.

    Parameters
    ----------
    environ : mapping, optional
        The environment to look in; ``os.environ`` by default.

    Returns
    -------
    str
        What was found, e.g. ``"Java 17.0.15 (/usr/bin/java)"``.

    Raises
    ------
    JavaMissing
        With one sentence naming the problem and the remedy.
    """
    environ = os.environ if environ is None else environ
    home = environ.get("JAVA_HOME")
    if home:
        java = str(Path(home) / "bin" / "java")
        if not os.access(java, os.X_OK):
            raise JavaMissing(f"JAVA_HOME is {home}, but {java} is not an executable file; "
                              f"{_REMEDY}.")
    else:
        java = shutil.which("java", path=environ.get("PATH", os.defpath))
        if java is None:
            raise JavaMissing(f"Spark needs Java, but there is no `java` on PATH and JAVA_HOME "
                              f"is not set; {_REMEDY}.")
    try:
        answer = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise JavaMissing(f"`{java} -version` failed ({error}); {_REMEDY}.") from None
    found = re.search(r'version "(\d+)(?:\.(\d+))?[^"]*"', answer.stderr + answer.stdout)
    if answer.returncode != 0 or found is None:
        raise JavaMissing(f"`{java} -version` did not report a version (exit status "
                          f"{answer.returncode}); {_REMEDY}.")
    # "1.8.0_292" is Java 8; from 9 on the first number is the version
    major = int(found[2] or 0) if found[1] == "1" else int(found[1])
    if major < MIN_JAVA:
        raise JavaMissing(f"{java} is Java {major}, but Spark 4 needs Java {MIN_JAVA} or newer; "
                          f"{_REMEDY}.")
    version = found[0].split('"')[1]
    return f"Java {version} ({java})"


def compare_fold(fold: int, data: Path | None = None) -> list[dict]:
    """nnls_als and Spark's ALS on one fold, with nnls_als's settings chosen on validation.

    Also measures whether the two minimize the same objective: Spark's last step solves
    every user's factors given its movie factors, so its user factors should equal
    nnls_als's exact user step from Spark's movie factors
    (:meth:`lab.models.factorization.FactorizationModel.fold_in_rows`).  Prints two lines
    when the fold is done.

    Returns
    -------
    list of two dicts
        One row of ``build/spark.csv`` per system: ``fold``, ``system``, ``library``,
        ``params`` (JSON: nnls_als's settings, Spark's keyword arguments), ``rmse``,
        ``objective`` (the penalized objective of nnls_als: at its fitted factors; for
        Spark at its movie factors and the exact user step from them),
        ``user_step_gap`` (Spark only: the largest difference between its user
        factors and that exact step), ``fit_seconds`` (wall time of the model's ``fit`` on
        the whole base set and its scores of every cell, as ``make evaluate`` times them:
        :func:`lab.evaluation.fitted_and_scored`).
    """
    import numpy as np

    from lab import evaluation
    from lab.models import REGISTRY

    base, test, index = evaluation.fold_data(fold, data)
    params, _ = evaluation.select_params("nnls_als", base, index, random_state=fold)

    def fitted(model):
        (_, scores), seconds = clock.timed(lambda: evaluation.fitted_and_scored(model, base,
                                                                                index))
        return model, evaluation.score_split(model, test, scores)["rmse"], seconds

    ours, ours_rmse, ours_seconds = fitted(REGISTRY["nnls_als"](**params))
    spark, spark_rmse, spark_seconds = fitted(REGISTRY["spark_als"](**params))

    # Spark's users re-solved against its movie factors: the model's own fold-in step
    step = spark.fold_in_rows()
    gap = float(np.abs(step.Z - spark.result_.Z).max())
    ours_objective, spark_objective = float(ours.losses_[-1]), float(step.losses[-1])
    unseen = ~ours.trained_on(test["user id"], test["movie id"])

    print(f"u{fold}  M={params['num_components']} l2={params['l2']} n_iter={params['n_iter']}"
          f"  RMSE nnls_als {ours_rmse:.4f}  Spark {spark_rmse:.4f}  difference "
          f"{spark_rmse - ours_rmse:+.4f}  fit {ours_seconds:.1f} s / {spark_seconds:.1f} s"
          f"\n    objective nnls_als {ours_objective:,.1f}  Spark {spark_objective:,.1f}; Spark's "
          f"user factors = our exact user step from its movie factors to {gap:.1e}; "
          f"{int(unseen.sum())} test pairs of unseen users or movies",
          flush=True)
    return [{"fold": fold, "system": "nnls_als", "library": ours.library,
             "params": json.dumps(params, sort_keys=True), "rmse": ours_rmse,
             "objective": ours_objective, "user_step_gap": float("nan"),
             "fit_seconds": ours_seconds},
            {"fold": fold, "system": "spark_als", "library": spark.library,
             "params": json.dumps(spark.spark_params(), sort_keys=True), "rmse": spark_rmse,
             "objective": spark_objective, "user_step_gap": gap,
             "fit_seconds": spark_seconds}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", help="1..5; all five by default")
    parser.add_argument("--data", type=Path, default=shell.DATA)
    parser.add_argument("--output", type=Path, default=shell.ROOT / "build" / "spark.csv")
    parser.add_argument("--check-java", action="store_true",
                        help="only check that Java 17 or newer is usable (exit 0), else exit 2")
    args = parser.parse_args(argv)
    try:
        java = check_java()
    except JavaMissing as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.check_java:
        return 0

    from importlib.metadata import version

    import pandas as pd

    from lab import evaluation
    from lab.models.spark import spark_session

    folds = args.folds or evaluation.FOLDS
    # checked before Spark starts (a bad fold would stop load_split only after it has);
    # argparse cannot: the folds are lab.evaluation's, which --check-java must not import
    if not set(folds) <= set(evaluation.FOLDS):
        parser.error(f"--folds: choose from {', '.join(map(str, evaluation.FOLDS))}")
    shell.one_blas_thread()
    start = clock.now()
    with shell.spark_block(f"{args.output} was not written"):
        cores = spark_session().sparkContext.defaultParallelism   # before the first fit
        print(f"Spark MLlib's ALS(nonnegative=True) beside nnls_als on folds "
              f"{', '.join(f'u{f}' for f in folds)}: pyspark {version('pyspark')} in local "
              f"mode on {cores} cores, {java}.\nnnls_als's settings are chosen on a "
              "validation split of each base set, as `make evaluate` does; Spark's ALS gets "
              "the same (rank = num_components, regParam = l2, maxIter = n_iter).\nOne fold "
              "at a time; fit times nnls_als / Spark.", flush=True)
        rows = [row for fold in folds for row in compare_fold(fold, args.data)]
    results = pd.DataFrame(rows)
    means = results.groupby("system")["rmse"].mean()
    gap = means["spark_als"] - means["nnls_als"]
    agree = abs(gap) <= TOLERANCE
    print(f"mean of {len(folds)} fold(s)  RMSE nnls_als {means['nnls_als']:.4f}  Spark "
          f"{means['spark_als']:.4f}  difference {gap:+.4f}: "
          f"{'within' if agree else 'NOT within'} {TOLERANCE}", flush=True)
    shell.write_table(results, args.output)
    print(f"wrote {args.output} ({len(results)} rows) in {clock.now() - start:.0f} s")
    if not agree:
        print(f"The mean RMSEs differ by {abs(gap):.4f}, more than {TOLERANCE}: with the same "
              "objective and settings, the two fits end in optima of different quality.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(shell.run(main))
