"""Numba CPU kernels of the normalization-activation block (Eqs. 8-9) and its VJP, fused per row.

One job: :func:`fourier6d.activation.activation` for NumPy inputs without the
dozen full-size temporaries of the array expressions.  Per leading row (a
residue: ``(P, Q, C)``, in cache) the forward kernel forms ``u = M (x + b)``,
its norm, ``y = u / s``, the gain ``a = 1/4 sum_p pw_p sum_q (y - z)^2`` and
writes ``a y`` once; the backward kernel recomputes that row's forward values
(cheaper than storing them) and writes the cotangent of x, accumulating the
bias cotangent per thread.  ``z = N(b)`` and its scale (one row) come from
:func:`fourier6d.normalization.normalize_forward`.  Rows are split over the
nogil thread pool of :mod:`fourier6d._numba_kernels`.

The array path of :mod:`fourier6d.activation` stays the reference (and the
CuPy path); sums here are accumulated in float64; tests check float64 to 1e-12.
Numba is optional (:data:`AVAILABLE`; ``FOURIER6D_DISABLE_NUMBA=1`` disables it).
"""
from __future__ import annotations

import numpy as np

from . import _numba_norm
from ._numba_kernels import AVAILABLE, numba, run_over, sum_partials

__all__ = ["AVAILABLE", "applicable", "forward", "backward"]

#: Rows per thread below which the kernels run in the calling thread only.
ROWS_PER_THREAD = 256


def applicable(x, bias):
    """True when the kernels handle ``activation(x, bias)`` (NumPy, one float dtype)."""
    return AVAILABLE and _numba_norm.applicable(x, bias) and x.shape[-3:] == bias.shape

if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _row_forward(x, b, z, pw, eps, m, y):
        """y[p, q, c] = N(x[m] + b) (float64, DC zeroed); returns (scale, gain) per channel."""
        P, Q, C = b.shape
        s2 = np.zeros(C)
        for p in range(P):
            for q in range(Q):
                for c in range(C):
                    u = 0.0 if (p == 0 and q == 0) else np.float64(x[m, p, q, c]) + b[p, q, c]
                    y[p, q, c] = u
                    s2[c] += pw[p] * u * u
        scale = np.sqrt(s2 + eps)
        gain = np.zeros(C)
        for p in range(P):
            for q in range(Q):
                for c in range(C):
                    v = y[p, q, c] / scale[c]
                    y[p, q, c] = v
                    d = v - z[p, q, c]
                    gain[c] += pw[p] * d * d
        return scale, 0.25 * gain

    @_jit
    def _forward_rows(r0, r1, x, b, z, pw, eps, out):
        P, Q, C = b.shape
        y = np.empty((P, Q, C))
        for m in range(r0, r1):
            scale, gain = _row_forward(x, b, z, pw, eps, m, y)
            for p in range(P):
                for q in range(Q):
                    for c in range(C):
                        out[m, p, q, c] = gain[c] * y[p, q, c]

    @_jit
    def _backward_rows(r0, r1, g, x, b, z, pw, eps, grad_x, acc_b, acc_z):
        """grad_x rows; acc_b += sum of grad_x rows, acc_z += sum of the z cotangents (float64)."""
        P, Q, C = b.shape
        y = np.empty((P, Q, C))
        gy = np.empty((P, Q, C))
        for m in range(r0, r1):
            scale, gain = _row_forward(x, b, z, pw, eps, m, y)
            gdot = np.zeros(C)                                   # <g, y>
            for p in range(P):
                for q in range(Q):
                    for c in range(C):
                        gdot[c] += np.float64(g[m, p, q, c]) * y[p, q, c]
            ydot = np.zeros(C)                                   # <grad_y, y>
            for p in range(P):
                for q in range(Q):
                    for c in range(C):
                        da = 0.5 * pw[p] * (y[p, q, c] - z[p, q, c]) * gdot[c]
                        v = gain[c] * g[m, p, q, c] + da          # cotangent of y
                        gy[p, q, c] = v
                        acc_z[p, q, c] -= da
                        ydot[c] += v * y[p, q, c]
            for p in range(P):
                for q in range(Q):
                    keep = 0.0 if (p == 0 and q == 0) else 1.0
                    for c in range(C):
                        v = (keep * gy[p, q, c] - pw[p] * y[p, q, c] * ydot[c]) / scale[c]
                        grad_x[m, p, q, c] = v
                        acc_b[p, q, c] += v


def forward(x, bias, z, pw, eps):
    """``a N(x + b)`` (Eq. 9) for x of shape (..., P, Q, C), given ``z = N(b)``."""
    P, Q, C = bias.shape
    x4 = np.ascontiguousarray(x).reshape(-1, P, Q, C)
    out = np.empty_like(x4)
    args = (x4, np.ascontiguousarray(bias, dtype=np.float64), np.ascontiguousarray(z, dtype=np.float64),
            np.ascontiguousarray(pw, dtype=np.float64), float(eps), out)
    run_over(_forward_rows, x4.shape[0], ROWS_PER_THREAD, *args)
    return out.reshape(x.shape)


def backward(g, x, bias, z, pw, eps):
    """``(grad_x, grad_b_rows, grad_z)``: the cotangent of x, the sum of its rows, and the
    cotangent of ``z = N(b)`` (summed over rows), float64 sums cast to x's dtype for grad_x."""
    P, Q, C = bias.shape
    x4 = np.ascontiguousarray(x).reshape(-1, P, Q, C)
    g4 = np.ascontiguousarray(np.broadcast_to(g, x.shape), dtype=x.dtype).reshape(x4.shape)
    grad_x = np.empty_like(x4)
    args = (g4, x4, np.ascontiguousarray(bias, dtype=np.float64),
            np.ascontiguousarray(z, dtype=np.float64), np.ascontiguousarray(pw, dtype=np.float64),
            float(eps), grad_x)
    sums = {}                                         # per range: bias rows, z cotangent

    def rows(a, b):
        acc = sums.setdefault(a, np.zeros((2, P, Q, C)))
        _backward_rows(a, b, *args, acc[0], acc[1])
    run_over(rows, x4.shape[0], ROWS_PER_THREAD)
    total = sum_partials(sums)
    return grad_x.reshape(x.shape), total[0], total[1]
