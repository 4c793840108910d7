"""Whether Spark can run here (pyspark imported, Java 17 or newer found), for the tests that
start it (test_spark.py, test_shell.py)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest


def spark_problem() -> str | None:
    """Why Spark cannot run here, or None."""
    if find_spec("pyspark") is None:
        return "needs pyspark (.venv-spark, make spark)"
    from lab.commands import spark

    try:
        spark.check_java()
    except spark.JavaMissing as problem:
        return str(problem)
    return None


#: Skips a test where Spark cannot run, saying why.
needs_spark = pytest.mark.skipif(spark_problem() is not None, reason=str(spark_problem()))
