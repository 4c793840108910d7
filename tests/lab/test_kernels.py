"""Tests of the kernel passes of lab.kernels themselves: the masked half-step compiled, as
Python loops and in its NumPy form; compiling and its cache; the prefetch hint; with and
without numba.  The fits of the masked updates (lab.nmf.non_negative with a mask) are
tested in test_nmf.py, the compiled row solves of ALS and the biased model in
test_row_solves.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab import kernels
from lab.nmf import EPS
from needs import needs_numba
from scripts import ROOT

WITHOUT_NUMBA_RUN = os.environ.get("NMF_WITHOUT_NUMBA") == "1"


# --------------------------------------------------------------------------
# the masked kernel: compiled loops against the NumPy form
# --------------------------------------------------------------------------

def cells_with_group_sizes(sizes, n_other, seed):
    """``kernels._Cells`` whose groups hold ``sizes`` cells (distinct others each)."""
    rng = np.random.default_rng(seed)
    others = [np.sort(rng.choice(n_other, size, replace=False)) for size in sizes]
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.random(int(indptr[-1])) * 5
    values[::7] = 0.0                                    # observed zeros count too
    return kernels._Cells(indptr, np.concatenate(others).astype(np.int64), values,
                          np.diff(indptr).astype(np.float64))


def test_the_pinned_environment_uses_the_compiled_kernel():
    pytest.importorskip("numba", reason="numba cannot be imported here (or NMF_WITHOUT_NUMBA=1)")
    assert kernels.numba is not None, "numba is pinned in requirements-dev.txt; `make venv`"
    assert kernels._half_step_compiled is not None


@needs_numba
def test_compile_falls_back_to_no_disk_cache_when_there_is_no_cache_location():
    """numba refuses cache=True for code without a source file (here: exec'd)."""
    namespace = {}
    exec("def twice(x):\n    return 2.0 * x\n", namespace)
    with pytest.raises(RuntimeError, match="cannot cache"):
        kernels.numba.njit(cache=True)(namespace["twice"])
    compiled = kernels.compile_kernel(namespace["twice"])
    assert compiled(21.0) == 42.0
    assert compiled.stats.cache_path is None                       # no disk cache
    # the module's own kernel has a source file: it is cached on disk where it can be
    if os.access(Path(kernels.__file__).parent, os.W_OK):
        assert kernels._half_step_compiled.stats.cache_path is not None


def test_without_numba_jit_is_the_identity_and_a_kernel_is_none(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILED", False)        # as when numba cannot be imported

    def twice(x):
        return 2.0 * x

    assert kernels.jit(twice) is twice
    assert kernels.kernel(twice) is None   # its caller runs the NumPy form


# Group sizes cover empty groups, the one-by-one tail (1-3 cells) and the
# blocks of four (4, 5, 8, 11 cells); M covers 1, odd and larger ranks.
@needs_numba
@pytest.mark.parametrize("M", [1, 3, 4, 7, 20])
@pytest.mark.parametrize("l2", [0.0, 0.4])
def test_compiled_half_step_matches_the_numpy_form(M, l2):
    sizes = [0, 1, 2, 3, 4, 5, 8, 11, 0, 30]
    cells = cells_with_group_sizes(sizes, n_other=40, seed=M)
    rng = np.random.default_rng(100 + M)
    own, other = rng.random((len(sizes), M)), rng.random((40, M))
    expected = np.empty_like(own)
    sse = kernels._half_step_numpy(*cells, own, other, l2, EPS, expected)
    got = np.empty_like(own)
    sse_compiled = kernels._half_step_compiled(*cells, own, other, l2, EPS, got)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(sse_compiled, sse, rtol=1e-13)
    # the squared error is that of the incoming factors, computed directly
    groups = np.repeat(np.arange(len(sizes)), sizes)
    direct = np.sum((cells.values - np.sum(own[groups] * other[cells.other_index], axis=1)) ** 2)
    np.testing.assert_allclose(sse_compiled, direct, rtol=1e-12)
    # an empty group without penalty has a zero numerator: its row becomes 0
    assert not got[0].any() and not got[8].any()
    # in place (out is own) gives the same numbers
    in_place = own.copy()
    kernels._half_step_compiled(*cells, in_place, other, l2, EPS, in_place)
    assert np.array_equal(in_place, got)


def test_python_loops_match_the_numpy_form():
    """The loops the compiler gets, run as plain Python, give the NumPy form's numbers."""
    cells = cells_with_group_sizes([0, 1, 3, 4, 9], n_other=12, seed=2)
    rng = np.random.default_rng(3)
    own, other = rng.random((5, 3)), rng.random((12, 3))
    expected, got = np.empty_like(own), np.empty_like(own)
    sse = kernels._half_step_numpy(*cells, own, other, 0.3, EPS, expected)
    assert kernels._half_step_loops(*cells, own, other, 0.3, EPS, got) == \
        pytest.approx(sse, rel=1e-13)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------
# this file, test_base.py, test_nmf.py and test_nmf_options.py without numba
# --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(WITHOUT_NUMBA_RUN, reason="this is that run")
def test_the_kernel_tests_pass_without_numba():
    """This file, test_base.py, test_nmf.py and test_nmf_options.py (the fits of the masked
    updates) again, in a child process where numba cannot be imported: none fails, and every
    test skipped there is skipped for want of numba (the compiled kernels' comparisons, the
    pinned-environment check, the fits on one and two threads); the NumPy forms run.  The
    slow tests (this one among them) are deselected.  About 25 s."""
    child = subprocess.run(
        [sys.executable, "-m", "pytest", __file__,
         *(str(Path(__file__).with_name(name)) for name in ("test_base.py", "test_nmf.py",
                                                                 "test_nmf_options.py")),
         "-q", "-rA", "-m", "not slow", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "NMF_WITHOUT_NUMBA": "1"})
    summary = child.stdout.strip().splitlines()[-1]
    assert child.returncode == 0, child.stdout[-3000:]
    skipped = int(re.search(r"(\d+) skipped", summary)[1])
    reasons = re.findall(r"^SKIPPED \[(\d+)\] [^:]+:\d+: (.*)$", child.stdout, re.M)
    assert sum(int(count) for count, _ in reasons) == skipped > 0
    assert all("numba" in reason for _, reason in reasons), reasons
    ran = set(re.findall(r"^PASSED \S+::(\w+)", child.stdout, re.M))
    assert {"test_python_loops_match_the_numpy_form",          # the NumPy forms ran
            "test_the_masked_fit_follows_the_masked_equations_written_densely"} <= ran, summary
    assert len(ran) > 0 and "failed" not in summary


def test_prefetch_is_a_hint_only():
    """In Python it does nothing; compiled, it takes int32 and int64 rows, even the last
    row of an array (the hint may reach past its end: a prefetch never faults), and the
    compiled passes that use it give the NumPy form's numbers (tests above)."""
    F = np.arange(12.0).reshape(4, 3)
    assert kernels.prefetch_row(F, 3) is None
    if kernels._half_step_compiled is None:
        return

    @kernels.numba.njit
    def touch(array, rows):
        total = 0.0
        for r in rows:
            kernels.prefetch_row(array, r)
            total += array[r, 0]
        return total
    for dtype in (np.int32, np.int64):
        assert touch(F, np.array([0, 3, 1], dtype=dtype)) == 0.0 + 9.0 + 3.0
    assert np.array_equal(F, np.arange(12.0).reshape(4, 3))
