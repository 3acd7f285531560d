"""Numba CPU kernels of the normalization-activation block (Eqs. 8-9) and its VJP, fused per row.

One job: :func:`fourier6d.activation.activation` for NumPy inputs without the
dozen full-size temporaries of the array expressions.  Per leading row (a
residue: ``(P, Q, C)``, in cache) the forward kernel forms ``u = M (x + b)``,
its norm, ``y = u / s``, the gain ``a = 1/4 sum_p pw_p sum_q (y - z)^2`` and
writes ``a y`` once; the backward kernel recomputes that row's forward values
(cheaper than storing them) and writes the cotangent of x, accumulating the
bias cotangent per thread.  Rows are flat (P, Q C), so that every loop runs over Q C
contiguous values (per-channel sums are folded and repeated over the row, :func:`_fold`),
with one division per coefficient column instead of one per value.  ``z = N(b)`` and its scale (one row) come from
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
    def _fold(t, C, out):
        """out[k] = sum_q t[q C + k % C] (a per-channel sum over the Q coefficients, repeated
        over the flat (Q C) row, so that the loops over a row stay flat and vectorise)."""
        QC = t.shape[0]
        for c in range(C):
            v = 0.0
            for k in range(c, QC, C):
                v += t[k]
            for k in range(c, QC, C):
                out[k] = v

    @_jit
    def _row_forward(xm, b, z, pw, eps, C, y, t, inv, gain):
        """y = N(xm + b) on flat rows (P, Q C) in float64, the DC coefficients zeroed; ``inv``
        = 1 / scale and ``gain`` per channel, repeated over the row (Q C)."""
        P, QC = b.shape
        t[:] = 0.0
        for p in range(P):
            w = pw[p]
            k0 = C if p == 0 else 0
            y[p, :k0] = 0.0
            # views from the first coefficient kept: indices from 0 (no negative-index fix-up,
            # which stops LLVM from vectorising)
            ys, xs, bs, ts = y[p, k0:], xm[p, k0:], b[p, k0:], t[k0:]
            for k in range(QC - k0):
                u = np.float64(xs[k]) + bs[k]
                ys[k] = u
                ts[k] += w * u * u
        _fold(t, C, inv)
        for c in range(C):                             # one division per channel
            inv[c] = 1.0 / np.sqrt(inv[c] + eps)
        for k in range(C, QC):
            inv[k] = inv[k - C]
        t[:] = 0.0
        for p in range(P):
            w = pw[p]
            for k in range(QC):
                v = y[p, k] * inv[k]
                y[p, k] = v
                d = v - z[p, k]
                t[k] += w * d * d
        _fold(t, C, gain)
        for k in range(QC):
            gain[k] *= 0.25

    @_jit
    def _forward_rows(r0, r1, x, b, z, pw, eps, C, out):
        P, QC = b.shape
        y = np.empty((P, QC))
        t, inv, gain = np.empty(QC), np.empty(QC), np.empty(QC)
        for m in range(r0, r1):
            _row_forward(x[m], b, z, pw, eps, C, y, t, inv, gain)
            o = out[m]
            for p in range(P):
                for k in range(QC):
                    o[p, k] = gain[k] * y[p, k]

    @_jit
    def _backward_rows(r0, r1, g, x, b, z, pw, eps, C, grad_x, acc_b, acc_z):
        """grad_x rows; acc_b += sum of grad_x rows, acc_z += sum of the z cotangents (float64);
        rows flat (P, Q C)."""
        P, QC = b.shape
        y = np.empty((P, QC))
        gy = np.empty((P, QC))
        t, inv, gain, dot = np.empty(QC), np.empty(QC), np.empty(QC), np.empty(QC)
        for m in range(r0, r1):
            _row_forward(x[m], b, z, pw, eps, C, y, t, inv, gain)
            gm = g[m]
            t[:] = 0.0                                          # <g, y>
            for p in range(P):
                for k in range(QC):
                    t[k] += np.float64(gm[p, k]) * y[p, k]
            _fold(t, C, dot)
            t[:] = 0.0                                          # <grad_y, y>
            for p in range(P):
                h = 0.5 * pw[p]
                for k in range(QC):
                    da = h * (y[p, k] - z[p, k]) * dot[k]
                    v = gain[k] * gm[p, k] + da                 # cotangent of y
                    gy[p, k] = v
                    acc_z[p, k] -= da
                    t[k] += v * y[p, k]
            _fold(t, C, dot)
            gx = grad_x[m]
            for p in range(P):
                w = pw[p]
                k0 = C if p == 0 else 0
                for k in range(k0):                             # the DC coefficient
                    v = -w * y[p, k] * dot[k] * inv[k]
                    gx[p, k] = v
                    acc_b[p, k] += v
                gs, ys, gys, ds, ivs, ab = (gx[p, k0:], y[p, k0:], gy[p, k0:], dot[k0:],
                                            inv[k0:], acc_b[p, k0:])
                for k in range(QC - k0):
                    v = (gys[k] - w * ys[k] * ds[k]) * ivs[k]
                    gs[k] = v
                    ab[k] += v


def forward(x, bias, z, pw, eps):
    """``a N(x + b)`` (Eq. 9) for x of shape (..., P, Q, C), given ``z = N(b)``."""
    P, Q, C = bias.shape
    x3 = np.ascontiguousarray(x).reshape(-1, P, Q * C)
    out = np.empty_like(x3)
    args = (x3, _flat64(bias), _flat64(z), np.ascontiguousarray(pw, dtype=np.float64),
            float(eps), C, out)
    run_over(_forward_rows, x3.shape[0], ROWS_PER_THREAD, *args)
    return out.reshape(x.shape)


def _flat64(a):
    """(P, Q, C) -> contiguous float64 (P, Q C)."""
    return np.ascontiguousarray(a, dtype=np.float64).reshape(a.shape[0], -1)


def backward(g, x, bias, z, pw, eps):
    """``(grad_x, grad_b_rows, grad_z)``: the cotangent of x, the sum of its rows, and the
    cotangent of ``z = N(b)`` (summed over rows), float64 sums cast to x's dtype for grad_x."""
    P, Q, C = bias.shape
    x3 = np.ascontiguousarray(x).reshape(-1, P, Q * C)
    g3 = np.ascontiguousarray(np.broadcast_to(g, x.shape), dtype=x.dtype).reshape(x3.shape)
    grad_x = np.empty_like(x3)
    args = (g3, x3, _flat64(bias), _flat64(z), np.ascontiguousarray(pw, dtype=np.float64),
            float(eps), C, grad_x)
    sums = {}                                         # per range: bias rows, z cotangent

    def rows(a, b):
        acc = sums.setdefault(a, np.zeros((2, P, Q * C)))
        _backward_rows(a, b, *args, acc[0], acc[1])
    run_over(rows, x3.shape[0], ROWS_PER_THREAD)
    total = sum_partials(sums).reshape(2, P, Q, C)
    return grad_x.reshape(x.shape), total[0], total[1]
