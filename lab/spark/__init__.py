"""Spark MLlib's ALS in the lab (`make spark`, in .venv-spark): :mod:`lab.spark.model` holds
:class:`~lab.spark.model.SparkALS` (``REGISTRY["spark_als"]`` where pyspark is installed),
:mod:`lab.spark.run_spark` compares it with nnls_als on the five folds.  Imports nothing:
the Java check runs under any Python 3 before .venv-spark exists."""
