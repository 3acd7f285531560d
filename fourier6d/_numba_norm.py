"""Numba CPU kernels of the normalization of Eq. 7 and its VJP (fused, one pass per row).

One job: :func:`fourier6d.normalization.normalize_forward` and
:func:`~fourier6d.normalization.normalize_backward` for NumPy arrays, without
the five to seven full-size temporaries of the array expressions (each one a
fresh allocation, and first touches of fresh memory are slow on the project's
VM).  Per leading row (a residue: ``(P, Q, C)``, a few KB, in cache) the
kernel reads the inputs once, reduces per channel, and writes the output once;
rows are split over the nogil thread pool of :mod:`fourier6d._numba_kernels`.

Same formulas as the array path (which stays the reference, and the CuPy
path): forward ``y = M x / s``, ``s = sqrt(sum_p pw_p sum_q (M x)^2 + eps)``;
backward ``dx = (M g - pw_p y <g, y>) / s``, M the mask of the (rho = 0,
l = 0) coefficient.  Sums are accumulated in float64 (the array path sums in
the input dtype), so float32 results agree to rounding; tests check float64
to 1e-12.

Numba is optional (:data:`AVAILABLE`; ``FOURIER6D_DISABLE_NUMBA=1`` disables it).
"""
from __future__ import annotations

import math

import numpy as np

from ._numba_kernels import AVAILABLE, numba, run_over
from ._numba_vector_width import prefer_256_bit_vectors

__all__ = ["AVAILABLE", "applicable", "forward", "backward"]

#: Rows per thread below which the kernels run in the calling thread only.
ROWS_PER_THREAD = 256


def applicable(*arrays):
    """True when the kernels handle these arrays (NumPy, one float dtype, >= 3 dims)."""
    if not AVAILABLE:
        return False
    dt = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
    return (dt in (np.float32, np.float64)
            and all(type(a) is np.ndarray and a.dtype == dt and a.ndim >= 3 for a in arrays))


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _forward_rows(r0, r1, x, pw, eps, y, scale):
        prefer_256_bit_vectors()
        M, P, Q, C = x.shape
        s2 = np.empty(C)
        for m in range(r0, r1):
            s2[:] = 0.0
            for p in range(P):
                w = pw[p]
                for q in range(1 if p == 0 else 0, Q):
                    for c in range(C):
                        v = np.float64(x[m, p, q, c])
                        s2[c] += w * v * v
            for c in range(C):
                scale[m, c] = math.sqrt(s2[c] + eps)
            for p in range(P):
                for q in range(Q):
                    if p == 0 and q == 0:
                        for c in range(C):
                            y[m, p, q, c] = 0.0
                    else:
                        for c in range(C):
                            y[m, p, q, c] = x[m, p, q, c] / scale[m, c]

    @_jit
    def _backward_rows(r0, r1, g, y, scale, pw, out):
        prefer_256_bit_vectors()
        M, P, Q, C = g.shape
        gy = np.empty(C)
        for m in range(r0, r1):
            gy[:] = 0.0
            for p in range(P):
                for q in range(Q):
                    for c in range(C):
                        gy[c] += np.float64(g[m, p, q, c]) * y[m, p, q, c]
            for p in range(P):
                w = pw[p]
                for q in range(Q):
                    keep = 0.0 if (p == 0 and q == 0) else 1.0
                    for c in range(C):
                        out[m, p, q, c] = (keep * g[m, p, q, c] - w * y[m, p, q, c] * gy[c]) \
                            / scale[m, c]


def forward(x, pw, eps):
    """``(y, scale)`` as :func:`fourier6d.normalization.normalize_forward`."""
    lead, (P, Q, C) = x.shape[:-3], x.shape[-3:]
    x4 = np.ascontiguousarray(x).reshape(-1, P, Q, C)
    y = np.empty_like(x4)
    scale = np.empty((x4.shape[0], C), dtype=x.dtype)
    run_over(_forward_rows, x4.shape[0], ROWS_PER_THREAD, x4,
             np.ascontiguousarray(pw, dtype=np.float64), float(eps), y, scale)
    return y.reshape(x.shape), scale.reshape(lead + (1, 1, C))


def backward(g, y, scale, pw):
    """As :func:`fourier6d.normalization.normalize_backward` (``scale`` of :func:`forward`)."""
    P, Q, C = y.shape[-3:]
    y4 = np.ascontiguousarray(y).reshape(-1, P, Q, C)
    g4 = np.ascontiguousarray(np.broadcast_to(g, y.shape), dtype=y.dtype).reshape(y4.shape)
    s2 = np.ascontiguousarray(np.broadcast_to(scale, y.shape[:-3] + (1, 1, C)),
                              dtype=y.dtype).reshape(-1, C)
    out = np.empty_like(y4)
    run_over(_backward_rows, y4.shape[0], ROWS_PER_THREAD, g4, y4, s2,
             np.ascontiguousarray(pw, dtype=np.float64), out)
    return out.reshape(y.shape)
