"""Numba CPU kernel of the row scatter-add behind :mod:`fourier6d.gather` (NumPy inputs).

One job: ``target[rows[e]] += values[e]`` for all e, rows repeating.  The
array path (kept for CuPy and as the reference) sorts the rows (``unique``),
builds a 0/1 sparse matrix and multiplies; in the VJP of a 16-model 6DCNN-2
batch's message passing (600k rows of 375 floats) that took about 150 ms per
backward pass.  Here the target rows are split into one range per thread:
each thread scans the row indices and adds the value rows that fall in its
range (the loop over a row's values vectorises), so no two threads write the
same row, every value row is read once, and nothing is sorted or copied.
Within a target row the values are added in the order of e (deterministic).
Accumulation is in the target's dtype, as in the array path.

Numba is optional (:data:`AVAILABLE`; ``FOURIER6D_DISABLE_NUMBA=1`` disables it).
"""
from __future__ import annotations

import numpy as np

from ._numba_kernels import AVAILABLE, numba, run_over

__all__ = ["AVAILABLE", "applicable", "scatter_add"]

#: Target rows per thread below which the kernel runs in the calling thread only.
ROWS_PER_THREAD = 64


def applicable(target, rows, values):
    """True when the kernel handles ``target[rows] += values`` (NumPy, 2-D, one float dtype)."""
    return (AVAILABLE and type(target) is np.ndarray and type(values) is np.ndarray
            and type(rows) is np.ndarray and target.ndim == 2 and values.ndim == 2
            and target.dtype == values.dtype and target.dtype in (np.float32, np.float64)
            and target.flags.c_contiguous and rows.dtype.kind in "iu")


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _scatter_range(r0, r1, target, rows, values):
        """target[rows[e]] += values[e] for the e with r0 <= rows[e] < r1."""
        M = values.shape[1]
        for e in range(rows.shape[0]):
            r = rows[e]
            if r0 <= r < r1:
                # 2-D indexing, no row views: their set-up and the vector loop's alias check
                # cost more than the few values of a graph-head row (M = 4-10)
                for m in range(M):
                    target[r, m] += values[e, m]


def scatter_add(target, rows, values, threads=True):
    """``target[rows[e]] += values[e]`` in place; rows must lie in ``[0, len(target))``
    (``threads=False``: in the calling thread only)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    values = np.ascontiguousarray(values)
    if rows.shape[0] != values.shape[0]:
        raise ValueError(f"{rows.shape[0]} rows for {values.shape[0]} value rows")
    if rows.size and (rows.min() < 0 or rows.max() >= target.shape[0]):
        raise ValueError(f"rows must lie in [0, {target.shape[0]}), got range "
                         f"[{rows.min()}, {rows.max()}]")
    if threads:
        run_over(_scatter_range, target.shape[0], ROWS_PER_THREAD, target, rows, values)
    else:
        _scatter_range(0, target.shape[0], target, rows, values)
    return target
