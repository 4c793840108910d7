"""What the lab's tests need and may not have here: numba (the compiled kernels) and Spark
(pyspark with Java 17 or newer); each a skip marker that says what is missing."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from lab import kernels

#: Skips a test of the compiled code where numba is missing or switched off.
needs_numba = pytest.mark.skipif(not kernels.COMPILED,
                                 reason="numba is not installed (or NMF_WITHOUT_NUMBA=1)")


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
