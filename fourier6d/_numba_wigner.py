"""Numba CPU kernel of the real Wigner matrices :func:`fourier6d.rotation.wigner_d_real` (Eq. 6).

One job: the block-diagonal ``D(R)`` of many rotations for NumPy inputs, by the
same factorisation as :func:`fourier6d.rotation.wigner_blocks`,
``D_l = Z_l(alpha) J_l Z_l(beta) J_l^T Z_l(gamma)`` (ZYZ Euler angles, ``J_l``
the fixed swap matrix, ``Z_l`` the sparse z-rotation), evaluated per rotation
in compiled loops and written straight into the ``(E, Q, Q)`` output, instead
of a few dozen batched array operations per degree (each a pass over all
rotations).  Only ``J_l @ B`` is a dense product (sum_l (2l+1)^3 = 1,225
multiply-adds per rotation at L = 4), and cos/sin of m x angle are taken once per
rotation for m = 0..L.  Computed in float64, written in the output dtype; rotations
are split over the nogil thread pool of :mod:`fourier6d._numba_kernels`.  At 7,500
rotations (L = 4, float32): 8.2-8.5 ms against 22-24 ms for the array path
(benchmarks/bench_operators.py on the 2-core machine).

The array path stays the reference (and the CuPy path); tests check both agree
to 1e-12 in float64.  Numba is optional (:data:`AVAILABLE`).
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import cached_table
from ._numba_kernels import AVAILABLE, numba, run_over

__all__ = ["AVAILABLE", "applicable", "wigner_d"]

#: Rotations per thread below which the kernel runs in the calling thread only.
ROTATIONS_PER_THREAD = 512


def applicable(R):
    """True when the kernel handles ``wigner_d_real(lmax, R)`` (NumPy float32/float64)."""
    return AVAILABLE and type(R) is np.ndarray and R.dtype in (np.float32, np.float64)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _wigner_rows(e0, e1, alpha, beta, gamma, J, lmax, out):
        n_max = 2 * lmax + 1
        ca = np.empty(n_max)
        sa = np.empty(n_max)
        cb = np.empty(n_max)
        sb = np.empty(n_max)
        cg = np.empty(n_max)
        sg = np.empty(n_max)
        A = np.empty((n_max, n_max))
        B = np.empty((n_max, n_max))
        C = np.empty((n_max, n_max))
        Q = (lmax + 1) * (lmax + 1)
        trig = np.empty((6, lmax + 1))         # cos(m a), sin(m a) for m = 0..lmax, 3 angles
        for e in range(e0, e1):
            for i in range(Q):
                for k in range(Q):
                    out[e, i, k] = 0.0
            out[e, 0, 0] = 1.0
            # cos(m x), sin(m x) by angle addition from cos x, sin x (6 calls, not 6 (L+1))
            for r, x in ((0, alpha[e]), (2, beta[e]), (4, gamma[e])):
                c1 = math.cos(x)
                s1 = math.sin(x)
                trig[r, 0] = 1.0
                trig[r + 1, 0] = 0.0
                for m in range(1, lmax + 1):
                    trig[r, m] = trig[r, m - 1] * c1 - trig[r + 1, m - 1] * s1
                    trig[r + 1, m] = trig[r + 1, m - 1] * c1 + trig[r, m - 1] * s1
            for l in range(1, lmax + 1):
                n = 2 * l + 1
                s = l * l
                for k in range(n):
                    m = k - l                          # cos(m a), -sin(m a) for m = -l..l
                    am = abs(m)
                    sign = -1.0 if m > 0 else 1.0
                    ca[k] = trig[0, am]
                    sa[k] = sign * trig[1, am]
                    cb[k] = trig[2, am]
                    sb[k] = sign * trig[3, am]
                    cg[k] = trig[4, am]
                    sg[k] = sign * trig[5, am]
                # A = J^T Z(gamma): A[i, k] = J[k, i] cg[k] + J[n-1-k, i] sg[n-1-k]
                for i in range(n):
                    for k in range(n):
                        A[i, k] = J[l, k, i] * cg[k] + J[l, n - 1 - k, i] * sg[n - 1 - k]
                # B = Z(beta) A
                for i in range(n):
                    for k in range(n):
                        B[i, k] = cb[i] * A[i, k] + sb[i] * A[n - 1 - i, k]
                # C = J B
                for i in range(n):
                    for k in range(n):
                        C[i, k] = 0.0
                    for j in range(n):
                        v = J[l, i, j]
                        for k in range(n):
                            C[i, k] += v * B[j, k]
                # D = Z(alpha) C, into the diagonal block of degree l
                for i in range(n):
                    for k in range(n):
                        out[e, s + i, s + k] = ca[i] * C[i, k] + sa[i] * C[n - 1 - i, k]


def _swap_tables(lmax):
    """J_l for l = 0..lmax packed into (lmax+1, 2 lmax+1, 2 lmax+1) float64 (host; cached by
    :func:`fourier6d._backend.cached_table` from the per-degree tables of the array path)."""
    def pack():
        from .rotation import _swap_matrix
        J = np.zeros((lmax + 1, 2 * lmax + 1, 2 * lmax + 1))
        for l in range(1, lmax + 1):
            J[l, :2 * l + 1, :2 * l + 1] = cached_table("wigner_swap", l,
                                                        lambda l=l: _swap_matrix(l))
        return J
    return cached_table("wigner_swap_packed", lmax, pack)


def wigner_d(lmax, alpha, beta, gamma, dtype):
    """``D(Rz(alpha) Ry(beta) Rz(gamma))``, shape ``alpha.shape + (Q, Q)``, block-diagonal."""
    shape = np.shape(alpha)
    a, b, g = (np.ascontiguousarray(x, dtype=np.float64).reshape(-1) for x in (alpha, beta, gamma))
    q = (lmax + 1) ** 2
    out = np.empty((a.shape[0], q, q), dtype=dtype)
    run_over(_wigner_rows, a.shape[0], ROTATIONS_PER_THREAD, a, b, g, _swap_tables(lmax),
             int(lmax), out)
    return out.reshape(shape + (q, q))
