"""The lab's compiled observed-cell kernels and the rules they all follow.

With a mask, the updates of :func:`lab.nmf.non_negative` need ``Z H`` only at the observed
cells.  :func:`_half_step_loops` runs one half-step (H from the cells grouped by column, or
Z from those grouped by row) as one pass over the cells, compiled by numba where it is
installed; :func:`_half_step_numpy` is the same pass in NumPy/SciPy, used without numba
and inside :func:`numpy_form`.  :func:`masked_half_step` hands out whichever applies.
Tests hold both forms to the masked equations written out densely and to each other.
:func:`squared_error` is the objective's squared error at the observed cells, compiled.
The row solves of ALS, NNLS-ALS and the biased model are in :mod:`lab.factorizations.rows`.

The rules: numba is optional (:data:`COMPILED`; without it every kernel has a NumPy form
giving the same numbers up to rounding in the last bits, tested); compiled code is cached
on disk (:func:`compile_kernel`); the parallel kernels (:func:`kernel`: the masked
half-step, the row squares, the row solves) share their rows (or columns) out
among all cores, each summed by one thread in a fixed order, so the numbers do not depend
on the number of threads, while the others (:func:`jit`: the Gibbs sweep's loops, the
small solves the row kernels call) run on one; and BLAS is held to one thread while they
run (:func:`single_threaded_blas`).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lab.base import cell_rows, predict_cells, row_counts


try:  # optional: compiles the masked kernel (see _half_step_loops)
    import numba
    from numba import prange
except ImportError:  # the NumPy form of the kernel is used instead
    numba, prange = None, range

#: Do the kernels run compiled here (numba installed and not switched off)?
COMPILED = numba is not None and not numba.config.DISABLE_JIT

#: Cells the NumPy form of the masked update handles at once (memory O(_CHUNK * M)).
_CHUNK = 8192

#: How many cells ahead the compiled passes ask for the factor row they will read.
PREFETCH_AHEAD = 16


def prefetch_row(array, row):
    """Ask the processor to start loading ``array[row]`` (a 2-D C-ordered float64 array; its
    first 192 bytes, a row of up to 24 factors) into cache.  A hint only: nothing is
    computed, so the results are those without it.  In plain Python (numba missing or
    switched off) it does nothing; compiled, it is LLVM's ``prefetch``
    (:func:`_overload_prefetch`)."""


def _overload_prefetch():
    """Give :func:`prefetch_row` its compiled form: three ``llvm.prefetch`` (read, keep in
    every cache level) of the row's first three 64-byte cache lines.  The rows the masked
    update and the row solves gather are scattered over megabytes (a movie's raters' rows of
    Z), so without the hint each pass waits on memory more than it computes."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic, overload

    @intrinsic
    def prefetch(typingctx, array, row):
        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            data = context.make_array(array_type)(context, builder, args[0])
            first = cgutils.get_item_pointer(context, builder, array_type, data,
                                             [context.cast(builder, args[1], signature.args[1],
                                                           types.intp),
                                              context.get_constant(types.intp, 0)],
                                             wraparound=False)
            byte_pointer = ir.IntType(8).as_pointer()
            int32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
                "llvm.prefetch.p0")
            start = builder.bitcast(first, byte_pointer)
            for offset in (0, 64, 128):
                line = builder.gep(start, [ir.Constant(ir.IntType(64), offset)])
                builder.call(function, [line, ir.Constant(int32, 0), ir.Constant(int32, 3),
                                        ir.Constant(int32, 1)])
            return context.get_dummy_value()
        return types.void(array, row), codegen

    @overload(prefetch_row)
    def _compiled(array, row):
        return lambda array, row: prefetch(array, row)


def _update_in(denominator: np.ndarray, factor: np.ndarray, numerator: np.ndarray,
               floor: float) -> np.ndarray:
    """``factor * numerator / clip(denominator, floor)`` in the denominator's (fresh) array."""
    np.maximum(denominator, floor, out=denominator)
    np.divide(numerator, denominator, out=denominator)
    denominator *= factor
    return denominator


class _Cells(NamedTuple):
    """Observed cells by group (a column j when H is updated, a row i when Z is): a CSR
    matrix's arrays.  Cells ``indptr[g]:indptr[g + 1]`` form group g; cell k has the other
    factor's index ``other_index[k]`` and value ``values[k]``; ``counts`` are group sizes."""

    indptr: np.ndarray
    other_index: np.ndarray
    values: np.ndarray
    counts: np.ndarray


def cells(matrix: sp.csr_array) -> _Cells:
    """``_Cells`` of a canonical CSR matrix (pass ``X.T.tocsr()`` to group by column)."""
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    return _Cells(indptr, np.asarray(matrix.indices, dtype=np.int64),
                  np.asarray(matrix.data, dtype=np.float64), row_counts(indptr).astype(np.float64))


def _half_step_numpy(indptr, other_index, values, counts, own, other, l2, floor, out):
    """One masked multiplicative update of ``own`` (``Z``, or ``H.T``), in NumPy/SciPy.

    With ``p_k = own[g] . other[o_k]`` the model's value at cell k of group g::

        out[g] = own[g] * (sum_k x_k other[o_k])
                 / clip(sum_k p_k other[o_k] + l2 * counts[g] * own[g], floor)

    Returns ``sum_k (x_k - p_k)^2`` at the incoming factors; ``out`` may be ``own``.
    The model's values at the cells (:func:`lab.base.predict_cells`), then one sparse product
    with ``[X; P]``.
    """
    n_groups, nnz = own.shape[0], values.size
    pred = predict_cells(own, other.T, cell_rows(indptr), other_index, chunk=_CHUNK)
    residual = values - pred
    stacked = sp.csr_array(                               # [X; P], shape (2 g, other rows)
        (np.concatenate([values, pred]), np.concatenate([other_index, other_index]),
         np.concatenate([indptr, indptr[1:] + nnz])), shape=(2 * n_groups, other.shape[0]))
    both = stacked @ other
    denominator = both[n_groups:]
    if l2:
        denominator += (l2 * counts)[:, None] * own
    out[...] = _update_in(denominator, own, both[:n_groups], floor)
    return float(residual @ residual)


def _half_step_loops(indptr, other_index, values, counts, own, other, l2, floor, out):
    """:func:`_half_step_numpy` as one pass over the cells, compiled by numba when available.

    Group by group (the groups shared out among all cores: ``prange``), four cells at a
    time: their model values (four dot products sharing each load of ``own[g, c]``), then
    both sums (asking for the other factor's rows ``PREFETCH_AHEAD`` cells ahead,
    :func:`prefetch_row`); leftover cells one by one; then the group's row.  Each group is
    summed by one thread in the order of its cells, and the groups' squared errors are added
    in group order afterwards, so the result does not depend on the number of threads.  No
    fast-math, so the loop order fixes the rounding (it differs from the NumPy form's in the
    last bits only).
    """
    n_groups, M = own.shape
    squares_of = np.empty(n_groups)
    for g in prange(n_groups):
        numerator = np.zeros(M)
        denominator = np.zeros(M)
        squares = 0.0
        k, end = indptr[g], indptr[g + 1]
        while k + 4 <= end:
            o0, o1, o2, o3 = (other_index[k], other_index[k + 1], other_index[k + 2],
                              other_index[k + 3])
            x0, x1, x2, x3 = values[k], values[k + 1], values[k + 2], values[k + 3]
            if k + PREFETCH_AHEAD + 4 <= end:
                for ahead in range(k + PREFETCH_AHEAD, k + PREFETCH_AHEAD + 4):
                    prefetch_row(other, other_index[ahead])
            p0 = p1 = p2 = p3 = 0.0
            for c in range(M):
                a = own[g, c]
                p0 += a * other[o0, c]
                p1 += a * other[o1, c]
                p2 += a * other[o2, c]
                p3 += a * other[o3, c]
            squares += (((x0 - p0) * (x0 - p0) + (x1 - p1) * (x1 - p1))
                        + ((x2 - p2) * (x2 - p2) + (x3 - p3) * (x3 - p3)))
            for c in range(M):
                b0, b1, b2, b3 = other[o0, c], other[o1, c], other[o2, c], other[o3, c]
                numerator[c] += (x0 * b0 + x1 * b1) + (x2 * b2 + x3 * b3)
                denominator[c] += (p0 * b0 + p1 * b1) + (p2 * b2 + p3 * b3)
            k += 4
        while k < end:
            o, x = other_index[k], values[k]
            p = 0.0
            for c in range(M):
                p += own[g, c] * other[o, c]
            squares += (x - p) * (x - p)
            for c in range(M):
                numerator[c] += x * other[o, c]
                denominator[c] += p * other[o, c]
            k += 1
        squares_of[g] = squares
        penalty = l2 * counts[g]
        for c in range(M):
            out[g, c] = own[g, c] * (numerator[c]
                                     / max(denominator[c] + penalty * own[g, c], floor))
    total = 0.0
    for g in range(n_groups):                    # in group order: the same sum on any threads
        total += squares_of[g]
    return total


def compile_kernel(function, parallel=False):
    """``numba.njit`` of ``function``, cached on disk when a cache folder is writable;
    ``parallel``: its ``prange`` loops run on all cores."""
    try:
        return numba.njit(cache=True, parallel=parallel)(function)
    except RuntimeError:  # no writable cache location: compile once per process
        return numba.njit(parallel=parallel)(function)


def jit(function):
    """``function`` compiled by numba, or ``function`` itself where numba is missing or
    switched off (then it runs as plain Python: the same numbers, far slower)."""
    return compile_kernel(function) if COMPILED else function


def kernel(function):
    """``function`` compiled by numba, its ``prange`` loops on all cores, or None where numba
    is missing or switched off: its caller then runs the NumPy form."""
    return compile_kernel(function, parallel=True) if COMPILED else None


if COMPILED:
    _overload_prefetch()

#: The compiled kernel, or None where numba is missing or switched off.
_half_step_compiled = kernel(_half_step_loops)


def _row_squares_loops(indptr, other_index, values, offset, own, other, out):
    """``out[g] = sum_k (values[k] - offset[k] - own[g] . other[o_k])^2`` over the cells of
    each group g (a row: ``other`` is H.T); the groups shared out among the cores, each summed
    by one thread in the order of its cells."""
    for g in prange(own.shape[0]):
        squares = 0.0
        for k in range(indptr[g], indptr[g + 1]):
            o = other_index[k]
            p = 0.0
            for c in range(own.shape[1]):
                p += own[g, c] * other[o, c]
            r = values[k] - offset[k] - p
            squares += r * r
        out[g] = squares


#: The compiled squared error, or None where numba is missing or switched off.
_row_squares_compiled = kernel(_row_squares_loops)


def squared_error(indptr, other_index, values, own, other, offset=None) -> float | None:
    """The squared error of ``own @ other.T`` at the cells of a CSR matrix's arrays, less
    ``offset`` at each cell: compiled (a pass over the cells, each row summed by one thread,
    then the rows in order, so the total does not depend on the number of threads), or None
    where numba is missing or switched off."""
    kernel = compiled(_row_squares_compiled)
    if kernel is None:
        return None
    out = np.empty(own.shape[0])
    kernel(indptr, other_index, np.asarray(values, dtype=np.float64),
                          np.zeros(values.size) if offset is None else offset,
                          np.ascontiguousarray(own, dtype=np.float64),
                          np.ascontiguousarray(other, dtype=np.float64), out)
    return float(np.sum(out))


def masked_half_step():
    """The pass of one masked half-step: compiled where numba is, else (and inside
    :func:`numpy_form`) the NumPy form; both take and return the same."""
    kernel = compiled(_half_step_compiled)
    return _half_step_numpy if kernel is None else kernel


_numpy_forms_only = False


def compiled(kernel):
    """``kernel`` (a compiled function, or None where numba is missing), or None within
    :func:`numpy_form`: every caller of a compiled kernel asks here, and runs the NumPy form
    for None."""
    return None if _numpy_forms_only else kernel


@contextlib.contextmanager
def numpy_form():
    """Within the block, the masked updates of :func:`lab.nmf.non_negative`, the row solves of
    ALS and the biased model and their squared errors run their NumPy forms even where
    numba is installed (as on a machine without it): for comparing the two."""
    global _numpy_forms_only
    before, _numpy_forms_only = _numpy_forms_only, True
    try:
        yield
    finally:
        _numpy_forms_only = before


_blas = None


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS held to one thread within the block.  The compiled kernels run on every core;
    a multithreaded BLAS beside them (inside numba's parallel loop, or between two passes,
    its threads spinning for a while after each call) would compete with them for the cores.
    So the kernels own their threading, whatever the BLAS and OpenMP thread variables of the
    environment (``OMP_NUM_THREADS`` and the like) say; numba's own ``NUMBA_NUM_THREADS``
    still sets how many cores they use.  Without the compiled kernels (numba missing or
    switched off) BLAS keeps its threads: the NumPy forms are BLAS's work."""
    global _blas
    if not COMPILED:
        yield
        return
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController()           # the BLAS libraries loaded now (numba's too)
    with _blas.limit(limits=1, user_api="blas"):
        yield


def set_threads(count: int) -> None:
    """Run the compiled kernels on ``count`` threads (where they are compiled), as the
    evaluation's fold workers do (one each: the folds already run side by side)."""
    if COMPILED:
        numba.set_num_threads(count)
