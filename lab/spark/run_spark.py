"""Spark MLlib's ALS(nonnegative=True) beside our nnls_als on MovieLens-100k's five folds.

    .venv-spark/bin/python -m lab.spark.run_spark [--folds 1 2 3 4 5] [--check-java]

``make spark`` runs it in its own environment, ``.venv-spark`` (``lab/spark/requirements.txt``).
For each official fold u1..u5: nnls_als's hyperparameters are chosen on a validation
split of ``u{k}.base`` exactly as ``make evaluate`` does (:func:`lab.evaluation.select_params`);
nnls_als and Spark's ALS are then fitted with the same settings on the whole base set
and scored on ``u{k}.test`` under the package protocol (predictions clipped to [1, 5];
a test pair whose user or movie has no training rating is predicted by
:func:`lab.evaluation.fallback_baseline`, for Spark the pairs its ``coldStartStrategy="nan"``
leaves as NaN).  Two lines per fold as it finishes, then the five-fold means; writes
``build/spark.csv`` (one row per fold and system) atomically.

Both minimize ``sum_obs (x_ij - z_i . h_j)^2 + l2 (sum_i n_i ||z_i||^2 + sum_j m_j ||h_j||^2)``
over ``Z, H >= 0`` (``n_i``, ``m_j``: the ratings of user i and movie j): Spark's ALS adds
``regParam`` times the number of ratings to each row's normal equations, the weighting
of ALS-WR, as :func:`lab.factorizations.nnls_als` does with ``l2``.  So ``regParam = l2``,
``rank = num_components``, ``maxIter = n_iter`` (one iteration solves every user and
every movie once).  The random starts differ and cannot be matched.  Each fold checks
the mapping: Spark's last step solves every user given its movie factors, so its user
factors must be nnls_als's exact user step from those movie factors with the same ``l2``.

Exit status: 0 when the five-fold mean RMSEs agree within 0.01, 1 when they do not,
2 when no usable Java (17 or newer) is found (or the command line is wrong).  Only the
standard library is imported at module level, so ``--check-java`` (run by ``make spark``
before it builds ``.venv-spark``) works under any Python 3.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

#: Spark 4 runs on Java 17 or newer.
MIN_JAVA = 17
#: The largest difference of the five-fold mean RMSEs still called agreement.
TOLERANCE = 0.01
#: Spark's random start (it cannot reproduce ours, whatever nnls_als's ``random_state``).
SPARK_SEED = 0
#: Spark's own log: errors only, through this log4j2 configuration instead of Spark's
#: default.  The gateway's logger gets a level of its own, else Spark announces on start
#: that it set a default level.
_LOG4J2 = """\
rootLogger.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = spark %p %c{1}: %m%n
"""
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


def spark_als_params(params: Mapping) -> dict:
    """Spark's ``ALS`` keyword arguments for nnls_als's settings ``params``.

    ``num_components`` -> ``rank``, ``l2`` -> ``regParam`` unchanged (both weight each
    user's and movie's penalty by its number of ratings), ``n_iter`` -> ``maxIter``;
    ``random_state`` has no counterpart (the random starts differ), so ``seed`` is
    :data:`SPARK_SEED`.  Users and movies are the integer columns ``user`` and ``item``
    (rows and columns of :class:`lab.ratings.RatingIndex`); test pairs of unseen users
    or movies are predicted as NaN, to be replaced by the fallback baseline.

    Raises
    ------
    ValueError
        If ``params`` holds a setting without a Spark counterpart (e.g. ``fill``).
    """
    unknown = set(params) - {"num_components", "l2", "n_iter", "random_state"}
    if unknown:
        raise ValueError(f"no Spark ALS counterpart for {', '.join(sorted(unknown))}; "
                         "expected nnls_als's num_components, l2, n_iter, random_state.")
    return {"rank": int(params["num_components"]), "regParam": float(params["l2"]),
            "maxIter": int(params["n_iter"]), "nonnegative": True, "seed": SPARK_SEED,
            "userCol": "user", "itemCol": "item", "ratingCol": "rating",
            "coldStartStrategy": "nan"}


def rmse_with_fallback(predicted, fallback, actual) -> float:
    """RMSE of ``predicted`` with its NaNs (Spark's cold-start pairs) replaced by ``fallback``.

    Parameters
    ----------
    predicted, fallback, actual : array-like of shape (n_pairs,)
        The model's predictions (NaN where it has none), the fallback baseline's,
        and the true ratings.

    Returns
    -------
    float
        :func:`lab.evaluation.rating_errors`'s RMSE: predictions clipped to [1, 5].
    """
    import numpy as np

    from lab import evaluation

    predicted = np.asarray(predicted, dtype=float)
    rmse, _ = evaluation.rating_errors(np.where(np.isnan(predicted), fallback, predicted), actual)
    return rmse


@contextmanager
def local_spark() -> Iterator:
    """A quiet local Spark session on two cores: errors only, no progress bars, no web UI."""
    # PySpark checks the pandas version when it starts; no pandas object reaches Spark here
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    from pyspark.sql import SparkSession

    with tempfile.TemporaryDirectory(prefix="spark-") as scratch:
        log_config = Path(scratch) / "log4j2.properties"
        log_config.write_text(_LOG4J2, encoding="utf-8")
        spark = (SparkSession.builder.master("local[2]").appName("nnls_als beside Spark ALS")
                 .config("spark.driver.memory", "3g")
                 .config("spark.driver.extraJavaOptions",
                         f"-Dlog4j2.configurationFile={log_config.as_uri()}")
                 .config("spark.sql.shuffle.partitions", "4")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.local.dir", scratch)
                 .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        # ALS cuts its lineage every 10 iterations there; without it 20 overflow the stack
        spark.sparkContext.setCheckpointDir(str(Path(scratch) / "checkpoints"))
        try:
            yield spark
        finally:
            spark.stop()


class SparkFit(NamedTuple):
    """Spark's ALS fitted on a training set.

    Attributes
    ----------
    predicted : ndarray of shape (n_test,)
        The test pairs' predictions, NaN for users or movies without training ratings.
    Z : ndarray of shape (n_users, M)
        ``model.userFactors`` by row of the rating matrix (zero without training ratings).
    H : ndarray of shape (M, n_movies)
        ``model.itemFactors`` by column.
    fit_seconds : float
        Wall time of ``ALS.fit``.
    """

    predicted: object
    Z: object
    H: object
    fit_seconds: float


def fit_spark_als(spark, als_params: Mapping, train_cells, train_ratings, test_cells,
                  shape: tuple[int, int]) -> SparkFit:
    """Fit Spark's ALS on the training cells and predict the test cells.

    The cells reach Spark as CSV files, read by Spark's JVM (no Python workers).

    Parameters
    ----------
    spark : SparkSession
    als_params : mapping
        :func:`spark_als_params`.
    train_cells, test_cells : tuple of two int arrays
        Rows and columns in the rating matrix (:meth:`lab.ratings.RatingIndex.cells`).
    train_ratings : array-like of shape (n_train,)
    shape : (n_users, n_movies)
    """
    import numpy as np
    from pyspark.ml.recommendation import ALS

    with tempfile.TemporaryDirectory(prefix="spark-cells-") as folder:
        def table(name, columns, schema):
            path = Path(folder) / f"{name}.csv"
            np.savetxt(path, np.column_stack(columns), fmt="%.17g", delimiter=",")
            return spark.read.csv(str(path), schema=schema)

        train = table("train", [*train_cells, train_ratings], "user INT, item INT, rating DOUBLE")
        n_test = len(test_cells[0])
        pairs = table("test", [np.arange(n_test), *test_cells], "pair INT, user INT, item INT")
        start = time.perf_counter()
        model = ALS(**als_params).fit(train)
        fit_seconds = time.perf_counter() - start
        predicted = np.full(n_test, np.nan)
        for pair, value in model.transform(pairs).select("pair", "prediction").collect():
            predicted[pair] = value
    Z = np.zeros((shape[0], model.rank))
    H = np.zeros((model.rank, shape[1]))
    for row, factor in model.userFactors.collect():
        Z[row] = factor
    for col, factor in model.itemFactors.collect():
        H[:, col] = factor
    return SparkFit(predicted, Z, H, fit_seconds)


def compare_fold(fold: int, spark, data: Path | None = None) -> list[dict]:
    """nnls_als and Spark's ALS on one fold, with nnls_als's settings chosen on validation.

    Also checks that the two minimize the same objective: Spark's last step solves
    every user's factors given its movie factors, so its user factors must equal
    nnls_als's exact user step (``fold_into``) from Spark's movie factors.  Prints
    two lines when the fold is done.

    Returns
    -------
    list of two dicts
        One row of ``build/spark.csv`` per system: ``fold``, ``system``, ``library``,
        ``params`` (JSON: nnls_als's settings, Spark's keyword arguments), ``rmse``,
        ``objective`` (nnls_als's penalized objective at the fitted factors),
        ``user_step_gap`` (Spark only: the largest difference between its user
        factors and that exact step), ``fit_seconds`` (wall time of the fit on the
        whole base set).
    """
    from importlib.metadata import version

    import numpy as np

    from lab import evaluation, factorizations
    from lab.base import NMFResult
    from lab.ratings import RatingIndex, load_movielens

    _, movies, users = load_movielens(data)
    index = RatingIndex.from_tables(users, movies)
    base, test = evaluation.load_split(fold, data)
    baseline = evaluation.fallback_baseline(base, index)
    params, _ = evaluation.select_params("nnls_als", base, index, random_state=fold)

    start = time.perf_counter()
    ours = evaluation.fit_factor_model("nnls_als", base, index, params)
    ours_seconds = time.perf_counter() - start
    ours_rmse = evaluation.score_split(ours.scores(), base, test, index, baseline=baseline)["rmse"]

    als_params = spark_als_params(params)
    test_cells = index.cells(test)
    spark_fit = fit_spark_als(spark, als_params, index.cells(base), base["rating"], test_cells,
                              index.shape)
    spark_rmse = rmse_with_fallback(spark_fit.predicted, baseline.predict(*test_cells),
                                    test["rating"])
    step = factorizations.nnls_als(index.sparse(base), params["num_components"], l2=params["l2"],
                                   n_iter=1, fold_into=NMFResult(spark_fit.Z, spark_fit.H,
                                                                 np.empty(0)))
    gap = float(np.abs(step.Z - spark_fit.Z).max())
    ours_objective, spark_objective = float(ours.result.losses[-1]), float(step.losses[-1])

    print(f"u{fold}  M={params['num_components']} l2={params['l2']} n_iter={params['n_iter']}"
          f"  RMSE nnls_als {ours_rmse:.4f}  Spark {spark_rmse:.4f}  difference "
          f"{spark_rmse - ours_rmse:+.4f}  fit {ours_seconds:.1f} s / {spark_fit.fit_seconds:.1f} s"
          f"\n    objective nnls_als {ours_objective:,.1f}  Spark {spark_objective:,.1f}; Spark's "
          f"user factors = our exact user step from its movie factors to {gap:.1e}; "
          f"{int(np.isnan(spark_fit.predicted).sum())} test pairs of unseen users or movies",
          flush=True)
    return [{"fold": fold, "system": "nnls_als", "library": "ours",
             "params": json.dumps(params, sort_keys=True), "rmse": ours_rmse,
             "objective": ours_objective, "user_step_gap": float("nan"),
             "fit_seconds": ours_seconds},
            {"fold": fold, "system": "spark_als", "library": f"pyspark {version('pyspark')}",
             "params": json.dumps(als_params, sort_keys=True), "rmse": spark_rmse,
             "objective": spark_objective, "user_step_gap": gap,
             "fit_seconds": spark_fit.fit_seconds}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", help="1..5; all five by default")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ml-100k")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "spark.csv")
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

    folds = args.folds or evaluation.FOLDS
    if not set(folds) <= set(evaluation.FOLDS):
        parser.error(f"--folds: choose from {', '.join(map(str, evaluation.FOLDS))}")
    start = time.perf_counter()
    print(f"Spark MLlib's ALS(nonnegative=True) beside nnls_als on folds "
          f"{', '.join(f'u{f}' for f in folds)}: pyspark {version('pyspark')} in local[2] "
          f"mode, {java}.\nnnls_als's settings are chosen on a validation split of each base "
          "set, as `make evaluate` does; Spark's ALS gets the same (rank = num_components, "
          "regParam = l2, maxIter = n_iter).\nOne fold at a time; fit times nnls_als / Spark.",
          flush=True)
    with local_spark() as spark:
        rows = [row for fold in folds for row in compare_fold(fold, spark, args.data)]
    results = pd.DataFrame(rows)
    means = results.groupby("system")["rmse"].mean()
    gap = means["spark_als"] - means["nnls_als"]
    agree = abs(gap) <= TOLERANCE
    print(f"mean of {len(folds)} fold(s)  RMSE nnls_als {means['nnls_als']:.4f}  Spark "
          f"{means['spark_als']:.4f}  difference {gap:+.4f}: "
          f"{'within' if agree else 'NOT within'} {TOLERANCE}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_name(f".{args.output.name}.tmp")
    results.to_csv(temporary, index=False, float_format="%.6g")
    os.replace(temporary, args.output)
    print(f"wrote {args.output} ({len(results)} rows) in {time.perf_counter() - start:.0f} s")
    if not agree:
        print(f"The mean RMSEs differ by {abs(gap):.4f}, more than {TOLERANCE}: with the same "
              "objective and settings, the two fits end in optima of different quality.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
