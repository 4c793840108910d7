"""Spark MLlib's ALS beside nnls_als (`make spark`, in .venv-spark). Imports nothing: the
Java check runs under any Python 3 before .venv-spark exists."""
