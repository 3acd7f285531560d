"""Numba CPU kernel of the real Wigner matrices :func:`fourier6d.rotation.wigner_d_real` (Eq. 6).

One job: the block-diagonal ``D(R)`` of many rotations for NumPy inputs, by the
same factorisation as :func:`fourier6d.rotation.wigner_blocks`,
``D_l = Z_l(alpha) J_l Z_l(beta) J_l^T Z_l(gamma)`` (ZYZ Euler angles, ``J_l``
the fixed swap matrix, ``Z_l`` the sparse z-rotation), evaluated in compiled
loops instead of a few dozen batched array operations per degree (each a pass
over all rotations).  :func:`_wigner_lanes` computes BLOCK rotations side by
side, one per vector lane, so every step (the products with ``J_l``, its zeros
skipped, and the sparse ``Z_l``) is a vectorised loop over the rotations; cos
and sin of m x angle come from one cos/sin per angle by angle addition.
Computed in float64, written in the output dtype; blocks of rotations are
split over the nogil thread pool of :mod:`fourier6d._numba_kernels`.  The
per-edge operators of message passing (:mod:`fourier6d._numba_edge`) call
:func:`_wigner_lanes` directly on their lane-major scratch.  At 7,500
rotations (L = 4, float32, 2 threads): 4.6 ms, against 9-12 ms for the
previous one-rotation-at-a-time kernel and 22-24 ms for the array path.

The array path stays the reference (and the CuPy path); tests check both agree
to 1e-12 in float64.  Numba is optional (:data:`AVAILABLE`).
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import cached_table
from ._numba_kernels import AVAILABLE, BLOCK, numba, run_over

__all__ = ["AVAILABLE", "applicable", "wigner_d"]

#: Rotations per thread below which the kernel runs in the calling thread only.
ROTATIONS_PER_THREAD = 512


def applicable(R):
    """True when the kernel handles ``wigner_d_real(lmax, R)`` (NumPy float32/float64)."""
    return AVAILABLE and type(R) is np.ndarray and R.dtype in (np.float32, np.float64)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _z_left(X, ct, st, l, nb, out, base, stride):
        """The sparse z-rotation ``Z_l(x) X`` over the lanes, written to ``out[base + i stride + k]``:
        ``cos(|m| x) X[i, k] - sign(m) sin(|m| x) X[n-1-i, k]`` with m = i - l; ``ct``, ``st``
        hold cos / sin of m x for m = 0..lmax."""
        n = 2 * l + 1
        for i in range(n):
            m = abs(i - l)
            sgn = -1.0 if i - l > 0 else 1.0
            c = ct[m]
            sn = st[m]
            for k in range(n):
                d = out[base + i * stride + k]
                x1 = X[i, k]
                x2 = X[n - 1 - i, k]
                for v in range(nb):
                    d[v] = c[v] * x1[v] + sgn * sn[v] * x2[v]

    @_jit
    def _trig_lanes(b0, nb, angle, lmax, ct, st):
        """ct[m, v] = cos(m x), st[m, v] = sin(m x) of x = angle[b0 + v], m = 0..lmax (angle
        addition from one cos / sin per lane)."""
        for v in range(nb):
            x = angle[b0 + v]
            ct[0, v] = 1.0
            st[0, v] = 0.0
            if lmax > 0:
                ct[1, v] = math.cos(x)
                st[1, v] = math.sin(x)
        for m in range(2, lmax + 1):
            for v in range(nb):
                ct[m, v] = ct[m - 1, v] * ct[1, v] - st[m - 1, v] * st[1, v]
                st[m, v] = st[m - 1, v] * ct[1, v] + ct[m - 1, v] * st[1, v]

    @_jit
    def _wigner_lanes(b0, nb, alpha, beta, gamma, J, lmax, trig, A, B, C, Dt):
        """Diagonal blocks of D for the rotations b0 <= e < b0 + nb, rotation e in lane e - b0:
        ``Dt[(s+i) Q + s+k, e - b0] = D_l[i, k]`` (entries between degrees not written).

        The factorisation of the module docstring with every step a loop over the lanes
        (vectorised); scratch ``trig`` (6, lmax+1, BLOCK) and ``A``, ``B``, ``C``
        (2 lmax+1, 2 lmax+1, BLOCK) float64, supplied by the caller.
        """
        Q = (lmax + 1) * (lmax + 1)
        n_max = 2 * lmax + 1
        for r in range(3):
            ang = alpha if r == 0 else (beta if r == 1 else gamma)
            _trig_lanes(b0, nb, ang, lmax, trig[2 * r], trig[2 * r + 1])
        for v in range(nb):
            Dt[0, v] = 1.0
        for l in range(1, lmax + 1):
            n = 2 * l + 1
            s = l * l
            # A = J^T Z(gamma): A[i, k] = J[k, i] cg[k] + J[n-1-k, i] sg[n-1-k]
            # (cos(m x), -sin(m x) for m = k - l; sg[n-1-k] = sign(m) sin(|m| gamma))
            for i in range(n):
                for k in range(n):
                    m = abs(k - l)
                    sgn = 1.0 if k - l > 0 else -1.0          # sign of sg[n-1-k]
                    j1 = J[l, k, i]
                    j2 = J[l, n - 1 - k, i] * sgn
                    a = A[i, k]
                    c = trig[4, m]
                    sn = trig[5, m]
                    for v in range(nb):
                        a[v] = j1 * c[v] + j2 * sn[v]
            # B = Z(beta) A
            _z_left(A, trig[2], trig[3], l, nb, B.reshape(n_max * n_max, B.shape[2]), 0, n_max)
            # C = J B (J's zeros skipped)
            for i in range(n):
                for k in range(n):
                    c = C[i, k]
                    for v in range(nb):
                        c[v] = 0.0
                    for j in range(n):
                        w = J[l, i, j]
                        if w != 0.0:
                            b = B[j, k]
                            for v in range(nb):
                                c[v] += w * b[v]
            # D = Z(alpha) C into the diagonal block of degree l
            _z_left(C, trig[0], trig[1], l, nb, Dt, s * Q + s, Q)

    @_jit
    def _lane_scratch(lmax, dtype_like):
        """Scratch of :func:`_wigner_lanes` for BLOCK lanes, and a lane-major output block."""
        n_max = 2 * lmax + 1
        Q = (lmax + 1) * (lmax + 1)
        return (np.empty((6, lmax + 1, BLOCK)), np.empty((n_max, n_max, BLOCK)),
                np.empty((n_max, n_max, BLOCK)), np.empty((n_max, n_max, BLOCK)),
                np.zeros((Q * Q, BLOCK), dtype=dtype_like.dtype))

    @_jit
    def _wigner_range(e0, e1, alpha, beta, gamma, J, lmax, out):
        """out[e] = D(alpha[e], beta[e], gamma[e]) (zero between degrees), e0 <= e < e1."""
        Q = (lmax + 1) * (lmax + 1)
        trig, A, B, C, Dt = _lane_scratch(lmax, out)
        for b0 in range(e0, e1, BLOCK):
            nb = min(BLOCK, e1 - b0)
            _wigner_lanes(b0, nb, alpha, beta, gamma, J, lmax, trig, A, B, C, Dt)
            for v in range(nb):
                o = out[b0 + v]
                for i in range(Q):
                    for k in range(Q):
                        o[i, k] = 0.0
                for l in range(lmax + 1):
                    s = l * l
                    for i in range(s, s + 2 * l + 1):
                        for k in range(s, s + 2 * l + 1):
                            o[i, k] = Dt[i * Q + k, v]


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
    run_over(_wigner_range, a.shape[0], ROTATIONS_PER_THREAD, a, b, g, _swap_tables(lmax),
             int(lmax), out)
    return out.reshape(shape + (q, q))
