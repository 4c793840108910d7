"""Tests of the exact row solves of ALS, NNLS-ALS and the biased model
(lab.factorizations.rows, and their compiled form in the same module): the objective of every
fit built on them never increases; the NumPy form goes block by block and never densifies a
sparse input; the batched non-negative solver is scipy's NNLS, singular systems included;
the compiled pass gives the NumPy form's factors, on one thread or two; and the active-set
solver, compiled and as plain Python (numba on or off), and the NumPy form are scipy's NNLS
and meet the KKT conditions."""

from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from lab import factorizations, kernels
from lab.factorizations import rows as row_solves
from needs import needs_numba


# ---------------------------------------------------------------- monotonicity
@pytest.mark.parametrize("function", ["als", "nnls_als", "biased_non_negative"],
                         indirect=True)
def test_objective_never_increases(function):
    rng = np.random.default_rng(11)
    X = rng.integers(1, 6, size=(40, 30)).astype(float)
    mask = rng.random(X.shape) < 0.3
    losses = function(X, 4, mask=mask, l2=0.02, n_iter=25, random_state=2).losses
    assert losses.shape == (26,)                 # the start, then one per sweep
    assert np.all(np.diff(losses) <= 1e-10 * losses[0])
    assert losses[-1] < 0.9 * losses[0]          # and it does make progress


# ------------------------------------------------------------ the sparse path
class NoDense(sp.csr_matrix):
    """A sparse matrix that refuses to become dense."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("densified")

    todense = toarray


@pytest.mark.parametrize("function", ["als", "nnls_als", "biased_non_negative"],
                         indirect=True)
def test_sparse_path_never_densifies_and_blocks_do_not_matter(function, monkeypatch):
    """The NumPy form of the row solves (what runs without numba) goes block by block."""
    rng = np.random.default_rng(5)
    dense = np.where(rng.random((30, 20)) < 0.3, rng.integers(1, 6, (30, 20)), 0).astype(float)
    X = NoDense(dense)
    whole = function(X, 3, n_iter=3, random_state=1)
    monkeypatch.setattr(row_solves, "_ROW_BLOCK", 4)     # many row blocks
    with kernels.numpy_form():
        blocked = function(X, 3, n_iter=3, random_state=1)
    np.testing.assert_allclose(blocked.Z, whole.Z, atol=1e-10)
    np.testing.assert_allclose(blocked.losses, whole.losses, rtol=1e-10)


# ------------------------------------------------------ the compiled row solves


def uneven_wide_ratings(seed, shape=(40, 90)):
    """Ratings 1..5 on a wide matrix whose rows hold 0 to 60 cells (the blocks of four
    cells and the one-by-one tail of the compiled pass), columns as uneven."""
    rng = np.random.default_rng(seed)
    n, m = shape
    sizes = np.concatenate([[0, 1, 2, 3, 4, 5, 7, 11], rng.integers(0, 61, n - 8)])
    rows = np.repeat(np.arange(n), sizes)
    cols = np.concatenate([np.sort(rng.choice(m, k, replace=False)) for k in sizes])
    data = rng.integers(1, 6, rows.size).astype(float)
    return sp.csr_matrix((data, (rows, cols)), shape=shape)


FITS = {
    "als": partial(factorizations.als, n_iter=6),
    "nnls_als": partial(factorizations.als, nonnegative=True, n_iter=6),
    "biased": partial(factorizations.biased_non_negative, n_iter=6),
    "biases": lambda X, M, **kw: factorizations.biases(X, n_iter=4, **kw),
}


@needs_numba
@pytest.mark.parametrize("name", list(FITS))
@pytest.mark.parametrize("M", [1, 5, 20])
def test_compiled_row_solves_match_the_numpy_form(name, M):
    """Factors, biases and losses of the compiled pass equal the NumPy form's to rounding
    (with a penalty every row's minimizer is unique)."""
    X = uneven_wide_ratings(seed=M)
    options = {} if name == "biases" else {"l2": 0.3}
    compiled = FITS[name](X, M, **options)
    with kernels.numpy_form():
        reference = FITS[name](X, M, **options)
    scale = np.abs(reference.Z).max(initial=1.0)
    np.testing.assert_allclose(compiled.Z, reference.Z, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(compiled.H, reference.H, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(compiled.losses, reference.losses, rtol=1e-10)
    for bias in ("user_bias", "item_bias"):
        if hasattr(reference, bias):
            np.testing.assert_allclose(getattr(compiled, bias), getattr(reference, bias),
                                       rtol=0, atol=1e-9)
    assert compiled.losses[-1] < compiled.losses[0]


@needs_numba
@pytest.mark.parametrize("name", ["als", "nnls_als", "biased"])
def test_without_penalty_the_compiled_solves_descend_as_the_numpy_form(name):
    """l2 = 0: rows and columns with fewer cells than M have many minimizers (the compiled
    pass leaves them to the NumPy form), so the paths may part; both descend, to objectives
    within 2 %."""
    X = uneven_wide_ratings(seed=5)
    compiled = FITS[name](X, 5, l2=0.0)
    with kernels.numpy_form():
        reference = FITS[name](X, 5, l2=0.0)
    for losses in (compiled.losses, reference.losses):
        assert np.all(np.diff(losses) <= 1e-9 * losses[0])
    assert compiled.losses[-1] == pytest.approx(reference.losses[-1], rel=0.02)


@needs_numba
def test_compiled_solves_leave_singular_rows_to_the_numpy_form():
    """l2 = 0: a row with fewer cells than components is singular; it is reported unsettled
    (and untouched by the Cholesky step), the others are solved."""
    X = uneven_wide_ratings(seed=3)
    M = 6
    F = np.random.default_rng(4).random((X.shape[1], M))
    n = X.shape[0]
    out, squares, settled = np.full((n, M), -1.0), np.empty(n), np.empty(n, dtype=bool)
    row_solves._solve_rows_compiled(X.indptr, X.indices, X.data, F, np.zeros(n), 0.0, np.zeros(1),
                                 0.0, False, False, np.zeros((n, M)), out, np.empty(n), squares,
                                 settled)
    counts = np.diff(X.indptr)
    np.testing.assert_array_equal(settled, (counts == 0) | (counts >= M))
    for r in np.flatnonzero(counts >= M):
        J = X.indices[X.indptr[r]:X.indptr[r + 1]]
        v = X.data[X.indptr[r]:X.indptr[r + 1]]
        expected = np.linalg.lstsq(F[J], v, rcond=None)[0]
        np.testing.assert_allclose(out[r], expected, rtol=0, atol=1e-8)
        assert squares[r] == pytest.approx(np.sum((F[J] @ expected - v) ** 2), abs=1e-8)


@needs_numba
@pytest.mark.skipif(kernels.numba is not None and kernels.numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one core: numba cannot run two threads here")
@pytest.mark.parametrize("name", ["nnls_als", "biased"])
def test_compiled_row_solves_give_the_same_fit_on_one_and_two_threads(name, on_threads):
    X = uneven_wide_ratings(seed=9, shape=(120, 300))
    one, two = on_threads(lambda: FITS[name](X, 8))
    assert np.array_equal(one.Z, two.Z) and np.array_equal(one.H, two.H)
    assert np.array_equal(one.losses, two.losses)
    assert one.losses[-1] < 0.5 * one.losses[0]


# ------------------------------- the active-set solver, compiled and as plain Python
# The same checks on every form of lab.factorizations.rows._nonnegative_solve the environment
# has: the compiled one (where numba compiles it) and its Python source (``.py_func`` there; the
# function itself where numba is missing or switched off); and on the NumPy form,
# lab.factorizations.rows.solve_nonneg.  Small problems: the Python form is slow.

SIZES = [1, 3, 8, 20]
STARTS = ["zero", "random", "solution"]


@pytest.fixture(params=["compiled", "python"])
def nonnegative_solve(request, monkeypatch):
    """``row_solves._nonnegative_solve`` in the form named by the parameter.  The Python form
    where numba compiled it is its ``py_func``, with the Cholesky step it calls by name
    switched to its Python source too: all of it runs as on a machine without numba."""
    solve = row_solves._nonnegative_solve
    compiled = hasattr(solve, "py_func")
    if request.param == "compiled":
        if not compiled:
            pytest.skip("numba missing or switched off: there is no compiled form")
        return solve
    if compiled:
        monkeypatch.setattr(row_solves, "_cholesky_solve", row_solves._cholesky_solve.py_func)
        return solve.py_func
    return solve


def positive_definite_problems(M, count, seed):
    """``count`` problems ``min x'Ax - 2 rhs'x``: ``A = F'F + reg I`` (F of M + 5 cells,
    reg in [0.01, 2]) and ``rhs`` ~ 3 N(0, 1), so that some constraints bind, some not."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((count, M + 5, M))
    A = (np.einsum("nrk,nrl->nkl", F, F)
         + rng.uniform(0.01, 2, count)[:, None, None] * np.eye(M))
    return A, rng.standard_normal((count, M)) * 3


def scipy_nnls(A, rhs):
    """SciPy's NNLS of the least-squares form: ``A = R'R`` (Cholesky, R upper), ``R'y = rhs``,
    so ``x'Ax - 2 rhs'x = ||R x - y||^2 - y'y``."""
    R = np.linalg.cholesky(A).T
    return nnls(R, np.linalg.solve(R.T, rhs))[0]


def assert_kkt(A, rhs, x):
    """The optimality (KKT) conditions of ``min x'Ax - 2 rhs'x`` over ``x >= 0`` (sufficient:
    the problem is convex): ``x >= 0``, the gradient ``g = rhs - A x`` (half the descent
    direction) ``<= tol`` where ``x = 0`` and ``|g| <= tol`` where ``x > 0``."""
    tol = 1e-8 * (np.abs(rhs).max() + np.abs(A).max() * max(np.abs(x).max(), 1.0))
    g = rhs - A @ x
    assert x.min() >= 0
    assert np.all(g[x == 0] <= tol), (g[x == 0], tol)
    assert np.all(np.abs(g[x > 0]) <= tol), (g[x > 0], tol)


def assert_same_as_scipy(x, expected):
    """Equal to SciPy's answer to 1e-8 of its size (an exact 0 where SciPy's is 0)."""
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-8 * np.abs(expected).max(initial=0))


def feasible_start(start, expected, rng):
    M = expected.size
    return {"zero": np.zeros(M), "random": rng.random(M) * (rng.random(M) < 0.5),
            "solution": expected.copy()}[start]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("M", SIZES)
def test_active_set_solve_is_scipy_nnls_and_meets_kkt(nonnegative_solve, M, start):
    """Compiled and plain Python alike: from a zero, a random feasible or the exact start,
    the answer is SciPy's NNLS and satisfies the KKT conditions."""
    A, b = positive_definite_problems(M, count=8, seed=100 + M)
    rng = np.random.default_rng(200 + M)
    zeros = positives = 0
    for r in range(len(b)):
        expected = scipy_nnls(A[r], b[r])
        x = feasible_start(start, expected, rng)
        assert nonnegative_solve(A[r], b[r], x) is True
        assert_same_as_scipy(x, expected)
        assert_kkt(A[r], b[r], x)
        zeros, positives = zeros + (x == 0).sum(), positives + (x > 0).sum()
    assert zeros > 0 and positives > 0                   # both sides of the constraint


def test_active_set_solve_reports_a_singular_system(nonnegative_solve):
    """A singular system (no penalty, fewer cells than components) on the free set: False,
    ``x`` as given (the row is left to the NumPy form).  Started from 0, the solve may find
    the optimum without meeting the singular part: then the answer meets the KKT
    conditions."""
    rng = np.random.default_rng(16)
    F = rng.random((2, 4))                               # rank 2, 4 unknowns
    A, rhs = F.T @ F, F.T @ (rng.random(2) * 4)
    start = rng.random(4) + 0.5                          # every entry free
    x = start.copy()
    assert nonnegative_solve(A, rhs, x) is False
    np.testing.assert_array_equal(x, start)
    # a zero matrix: the gradient frees the entry, whose 1 x 1 system is singular
    x = np.zeros(1)
    assert nonnegative_solve(np.zeros((1, 1)), np.ones(1), x) is False
    x = np.zeros(4)
    if nonnegative_solve(A, rhs, x):
        assert_kkt(A, rhs, x)


@pytest.mark.parametrize("max_rounds", [0, 1, 12])
@pytest.mark.parametrize("start", [None, *STARTS])
@pytest.mark.parametrize("M", SIZES)
def test_numpy_nonnegative_solve_is_scipy_nnls_and_meets_kkt(M, start, max_rounds, monkeypatch):
    """The NumPy form (rows.solve_nonneg, what runs without numba and takes the rows the
    compiled pass leaves): the same answers and KKT conditions, whatever the start (None:
    every entry free first), also when its batched rounds stop early or never run (max_rounds
    1 or 0: the rows left go to its SciPy fallback); rows without cells get 0."""
    count = 8
    A, b = positive_definite_problems(M, count=count, seed=300 + M)
    reg = np.random.default_rng(301 + M).uniform(0.01, 2, count)
    G = A - reg[:, None, None] * np.eye(M)               # rows.solve_nonneg adds reg I back
    empty = np.zeros(count, bool)
    empty[0] = True                                      # a row without cells: x = 0
    expected = np.array([scipy_nnls(A[r], b[r]) for r in range(count)])
    rng = np.random.default_rng(302 + M)
    guess = (np.ones((count, M)) if start is None else
             np.array([feasible_start(start, e, rng) for e in expected]))
    monkeypatch.setattr(row_solves, "ACTIVE_SET_ROUNDS", max_rounds)
    x = row_solves.solve_nonneg(G, b, reg, empty, guess)
    assert np.all(x[0] == 0)
    for r in range(1, count):
        assert_same_as_scipy(x[r], expected[r])
        assert_kkt(A[r], b[r], x[r])
    assert (x[1:] == 0).any() and (x[1:] > 0).any()


def test_numpy_nonnegative_solve_meets_kkt_on_singular_systems():
    """No penalty and fewer cells than components: as documented, the rows go to SciPy's NNLS
    of the square-root form; the answer (one of many) meets the KKT conditions."""
    rng = np.random.default_rng(17)
    n, M = 6, 5
    F = rng.random((n, 2, M))                            # rank 2, 5 unknowns
    G = np.einsum("nrk,nrl->nkl", F, F)
    b = np.einsum("nrk,nr->nk", F, rng.random((n, 2)) * 4 - 1)
    x = row_solves.solve_nonneg(G, b, np.zeros(n), np.zeros(n, bool), np.ones((n, M)))
    for r in range(n):
        assert_kkt(G[r], b[r], x[r])
