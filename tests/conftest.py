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
