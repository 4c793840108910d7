"""The lab's factorization functions by the name their messages give them: one table for the
tests of parameters (test_parameters.py) and the fixtures that take a fit by name
(conftest.py)."""

from functools import partial

import lab.nmf
from lab import factorizations

FUNCTIONS = {"non_negative": lab.nmf.non_negative, "als": factorizations.als,
             "als(nonnegative=True)": partial(factorizations.als, nonnegative=True),
             "biased_non_negative": factorizations.biased_non_negative,
             "biases": factorizations.biases, "truncated_svd": factorizations.truncated_svd,
             "implicit_nnls_als": factorizations.implicit_nnls_als,
             "bayesian_non_negative": factorizations.bayesian_non_negative}
