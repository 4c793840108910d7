"""Test setup shared by every test file.

``NMF_WITHOUT_NUMBA=1`` runs the suite as on a machine without numba (the README
says it is optional): numba cannot be imported, so lab.kernels uses the NumPy
form of its masked kernel (and the Bayesian sampler its loops as plain Python), and the
tests that need the compiled code are skipped.
"""

import os
import sys

if os.environ.get("NMF_WITHOUT_NUMBA") == "1":
    sys.modules["numba"] = None     # any `import numba` now raises ImportError

# No hypothesis example database (the property tests are derandomized anyway) and no
# pytest cache (pytest.ini); hypothesis still keeps a small cache in .hypothesis/ (ignored).
from hypothesis import settings  # noqa: E402

settings.register_profile("no-files", database=None)
settings.load_profile("no-files")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The scikit-learn digits, 1797 x 64: the real data of the NMF tests of both floors."""
    from sklearn.datasets import load_digits
    return load_digits().data


@pytest.fixture
def on_threads():
    """``on_threads(fit, counts)``: ``fit()`` run with numba on each number of threads in
    ``counts``, its results in that order; numba's thread count is restored afterwards."""
    from lab import kernels

    def run(fit, counts=(1, 2)):
        threads = kernels.numba.get_num_threads()
        try:
            results = []
            for count in counts:
                kernels.numba.set_num_threads(count)
                results.append(fit())
            return results
        finally:
            kernels.numba.set_num_threads(threads)
    return run


# --- a tiny MovieLens-format folder, for the tests of the ground floor and of the lab -------

from tiny_movielens import write_tiny_movielens  # noqa: E402


@pytest.fixture()
def movielens_folder(tmp_path):
    """A tiny MovieLens folder (4 users, 6 movies, 12 ratings; titles in latin-1)."""
    return write_tiny_movielens(tmp_path / "ml-tiny")


@pytest.fixture()
def movielens(movielens_folder):
    """``recommender.load_movielens`` of :func:`movielens_folder`: ratings, movies, users."""
    import recommender

    return recommender.load_movielens(movielens_folder)


@pytest.fixture()
def ratings(movielens):
    return movielens[0]


@pytest.fixture()
def movies(movielens):
    return movielens[1]
