"""Spark MLlib's ALS as a model of the lab: :class:`SparkALS`, ``REGISTRY["spark_als"]``.

    model = SparkALS(num_components=20, l2=0.12, n_iter=20).fit(ratings)   # Spark, local mode
    model.predict(user_ids, movie_ids); model.recommend(1); model.fold_in({50: 5})

pyspark is imported only when a model is fitted (and a Java 17+ is needed then), so this
module also loads where pyspark is missing; :data:`lab.models.REGISTRY` lists the class
only where pyspark is installed (its ``environment``, ``.venv-spark``: ``make spark``, from
``requirements-spark.txt``), and elsewhere says where it is.  One local SparkSession
(all cores, errors-only log, no web UI) is started by the first fit, reused by every
later one, and stopped when Python exits (:func:`stop_spark` stops it earlier).  Ctrl-C
during a fit raises KeyboardInterrupt and cancels the fit's Spark jobs.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import signal
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from lab import factorizations
from lab.base import FitResult
from lab.rules import FLAG
from lab.interface import integer_seed, library_version
from lab.models.als import NNLSALS
from lab.models.factorization import FactorizationModel

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

_session = None     # the SparkSession of spark_session(), once started
_scratch = None     # its folder: log configuration, checkpoints, Spark's local files


def spark_session():
    """The lab's local SparkSession, started on first use and reused: every core
    (``local[*]``), 3 GB for the driver, errors only in the log, no progress bars and no
    web UI, a checkpoint folder (ALS cuts its lineage every 10 iterations there; without
    it 20 iterations overflow the stack).  Stopped by :func:`stop_spark`, at the latest
    when Python exits.

    Ctrl-C keeps the handler it had before: pyspark's SparkContext replaces it with one
    that cancels Spark's jobs from inside the signal handler, a second call over the bridge
    to the JVM in the middle of the interrupted one, which with pyspark's pinned threads
    fails and prints py4j's traceback; :meth:`SparkALS._fit` cancels its jobs instead."""
    global _session, _scratch
    if _session is not None:
        return _session
    # PySpark checks the pandas version when it starts; no pandas object reaches Spark here
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    from pyspark.sql import SparkSession

    _scratch = Path(tempfile.mkdtemp(prefix="spark-"))
    atexit.register(stop_spark)
    log_config = _scratch / "log4j2.properties"
    log_config.write_text(_LOG4J2, encoding="utf-8")
    in_main_thread = threading.current_thread() is threading.main_thread()
    ctrl_c = signal.getsignal(signal.SIGINT) if in_main_thread else None
    _session = (SparkSession.builder.master("local[*]").appName("lab: Spark MLlib's ALS")
                .config("spark.driver.memory", "3g")
                .config("spark.driver.extraJavaOptions",
                        f"-Dlog4j2.configurationFile={log_config.as_uri()}")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.local.dir", str(_scratch))
                .getOrCreate())
    if in_main_thread:
        signal.signal(signal.SIGINT, signal.default_int_handler if ctrl_c is None else ctrl_c)
    _session.sparkContext.setLogLevel("ERROR")
    _session.sparkContext.setCheckpointDir(str(_scratch / "checkpoints"))
    return _session


def stop_spark(quiet: bool = False) -> None:
    """Stop the session of :func:`spark_session` and delete its folder (nothing if none
    is running); the next fit starts a new one.  The session is forgotten even if stopping
    it fails, so a second call (at exit) does not try again.  ``quiet`` (after Ctrl-C)
    switches Spark's log off first (stopped while its tasks still report, Spark logs their
    late reports as errors), and py4j's: its bridge to the JVM may have been cut in the
    middle of a call, and it would log that with a traceback."""
    global _session, _scratch
    if quiet:
        logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)
    session, scratch, _session, _scratch = _session, _scratch, None, None
    try:
        if session is not None:
            if quiet:
                session.sparkContext.setLogLevel("OFF")
            session.stop()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class _NonNegative:
    """``non_negative`` of :class:`SparkALS`: read on a model, its ``nonnegative``
    parameter; on the class, that parameter's default."""

    def __get__(self, model, cls) -> bool:
        return cls.defaults["nonnegative"] if model is None else model.params["nonnegative"]


class SparkALS(FactorizationModel):
    """Spark MLlib's ``pyspark.ml.recommendation.ALS`` in local mode, non-negative by default.

    The parameters are those of :class:`lab.models.als.NNLSALS`, with the same meaning:
    Spark minimizes the same objective as :func:`lab.factorizations.als`,
    ``sum_obs (x_ij - z_i . h_j)^2 + l2 (sum_i n_i ||z_i||^2 + sum_j m_j ||h_j||^2)``
    (``n_i``, ``m_j``: the ratings of user i and movie j; Spark adds ``regParam`` times a
    row's number of ratings to its normal equations, the weighting of ALS-WR), so they
    map one to one:

    ================== ===================================================================
    ours               Spark's ``ALS``
    ================== ===================================================================
    ``num_components`` ``rank``
    ``l2``             ``regParam`` (unchanged)
    ``n_iter``         ``maxIter`` (an iteration solves every movie, then every user)
    ``nonnegative``    ``nonnegative`` (default True; False: Spark's unconstrained ALS)
    ``random_state``   ``seed`` when an integer; None, a Generator or a RandomState: a
                       seed drawn from it (:func:`lab.interface.integer_seed`).  Spark's
                       random start is its own: no seed reproduces ours.
    ================== ===================================================================

    and ``userCol="user"``, ``itemCol="item"``, ``ratingCol="rating"`` (rows and columns of
    the index), ``coldStartStrategy="nan"`` (:meth:`spark_params` gives the keywords).
    ``non_negative`` is the instance's ``nonnegative`` (on the class, its default).

    The scores are ``Z @ H`` from Spark's ``model.userFactors`` and ``model.itemFactors``
    (single precision) by row and column of ``index_``; users or movies without training
    ratings get zero factors, so score 0.  ``result_`` holds them as a
    :class:`lab.base.FitResult` (``losses`` empty: Spark reports no objective) and
    ``model_`` Spark's fitted ``ALSModel``.  A new user is folded in by Spark's own last
    half-step: the (non-negative) least-squares row against Spark's movie factors with
    ``l2`` times the user's number of ratings, solved exactly by
    :func:`lab.factorizations.als` with ``fold_into=``.
    """

    key, label = "spark_als", "Spark MLlib ALS(nonnegative=True), local mode"
    library, environment, needs = library_version("pyspark"), ".venv-spark", ("pyspark",)
    non_negative = _NonNegative()
    # nnls_als's parameters, defaults and grid, and the switch
    defaults = {**NNLSALS.defaults, "nonnegative": True}
    rules = {**NNLSALS.rules, "nonnegative": FLAG}
    grid = NNLSALS.grid

    def __init__(self, **params):
        super().__init__(**params)
        self.seed = integer_seed(self.params["random_state"])

    def spark_params(self) -> dict:
        """The keyword arguments of Spark's ``ALS`` for this model's parameters."""
        p = self.params
        return {"rank": p["num_components"], "regParam": p["l2"], "maxIter": p["n_iter"],
                "nonnegative": p["nonnegative"], "seed": self.seed, "userCol": "user",
                "itemCol": "item", "ratingCol": "rating", "coldStartStrategy": "nan"}

    def _fit(self):
        from pyspark.ml.recommendation import ALS

        spark = spark_session()
        triples = self.index_.triples(self.ratings_, checked=True)       # fit checked them
        with tempfile.TemporaryDirectory(prefix="spark-ratings-") as folder:
            # a CSV file read by Spark's JVM: no Python worker is started
            path = Path(folder) / "ratings.csv"
            np.savetxt(path, np.column_stack(triples), fmt="%.17g", delimiter=",")
            table = spark.read.csv(str(path), schema="user INT, item INT, rating DOUBLE")
            try:
                self.model_ = ALS(**self.spark_params()).fit(table)
            except KeyboardInterrupt:           # Ctrl-C: the fit's jobs stop too, if they can
                with contextlib.suppress(Exception):
                    spark.sparkContext.cancelAllJobs()
                raise
        n_users, n_movies = self.index_.shape
        Z = np.zeros((n_users, self.model_.rank))
        H = np.zeros((self.model_.rank, n_movies))
        for row, factor in self.model_.userFactors.collect():
            Z[row] = factor
        for col, factor in self.model_.itemFactors.collect():
            H[:, col] = factor
        self.result_ = FitResult(Z, H, np.empty(0))
        # a new user: Spark's last half-step, one exact row solve against H (fold_into)
        self.options_ = {"num_components": self.params["num_components"], "l2": self.params["l2"],
                         "nonnegative": self.params["nonnegative"], "n_iter": 1, "random_state": 0}

    def factorize(self, data, **options):
        """The fold-in's solve (a fit is Spark's): :func:`lab.factorizations.als`."""
        return factorizations.als(data, **options)


__all__ = ["SparkALS", "spark_session", "stop_spark"]
