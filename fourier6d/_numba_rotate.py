"""Numba CPU kernels of :func:`fourier6d.rotation.rotate` (Eq. 6) and its two VJPs.

One job: apply the diagonal blocks of per-edge Wigner matrices to
coefficients stored ``(E, P, Q, C)``, without the per-(edge, shell, degree)
``matmul`` calls of the array-agnostic path (hundreds of thousands of 1x1 to
9x9 products at 7,500 edges) and without transposing the coefficients so
that shells and channels could share a GEMM's columns (each transpose of the
60 MB array costs about as much as the whole product).  Per edge the kernel
reads its coefficients and blocks once, in cache, and writes the result once;
the forward works on a (Q, P C) copy of the edge's coefficients so that its
inner loop runs over P C contiguous values and vectorises (7,500 edges, P = 5,
C = 16, float32, 2 threads: 20.9 -> 9.3 ms against the channel-loop version).  Edges are split into
ranges run by the nogil thread pool of :mod:`fourier6d._numba_kernels`
(one threading model in the library, rebuilt after a fork; no OpenMP).

Used only for NumPy inputs of the simple form (4-D coefficients, 3-D
Wigner matrices with the same leading size, float32 or float64, C-order);
everything else, and CuPy, goes through the array-agnostic path, which stays
the reference (tests/test_rotation.py checks both agree to 1e-12 in float64
and the kernels' VJPs with ``check_grads``).  Accumulation is in the input
dtype, as in the BLAS path.

Numba is optional: :data:`AVAILABLE` is False when it cannot be imported,
or when the environment variable ``FOURIER6D_DISABLE_NUMBA=1`` is set.
"""
from __future__ import annotations

import numpy as np

from ._numba_kernels import AVAILABLE, numba, run_over
from .harmonics import lmax_of

__all__ = ["AVAILABLE", "applicable", "rotate_forward", "rotate_vjp_D"]

def applicable(coeffs, D):
    """True when the kernels handle ``rotate(coeffs, D)`` (NumPy, simple shapes)."""
    return (AVAILABLE and type(coeffs) is np.ndarray and type(D) is np.ndarray
            and coeffs.ndim == 4 and D.ndim == 3 and coeffs.shape[0] == D.shape[0]
            and coeffs.dtype == D.dtype and coeffs.dtype in (np.float32, np.float64))


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _apply_blocks(e0, e1, G, D, lmax, transpose, out):
        """out[e, p, s+a, :] = sum_b D_l[a, b] G[e, p, s+b, :] (D_l^T when ``transpose``), e0 <= e < e1.

        Per edge the coefficients are first copied into a (Q, P C) scratch, so that one
        Wigner entry multiplies a contiguous row of P C values (80 at P = 5, C = 16; a
        loop over the C channels alone costs about twice as much per value, measured, in
        loop overhead); the result is copied back into the (P, Q, C) layout.  The rows are
        padded with zeros to a multiple of 8 values, so that the products run as whole
        vectors without a scalar remainder (P C = 75: 2,525 nodes at L = 4, float32, one
        thread, 8.1 -> 5.9 ms); every value is the same sum as without the padding.
        """
        E, P, Q, C = G.shape
        PC = P * C
        W = ((PC + 7) // 8) * 8
        Gt = np.zeros((Q, W), dtype=G.dtype)           # private to this range; the padding
        Ot = np.zeros((Q, W), dtype=G.dtype)           # columns stay zero
        for e in range(e0, e1):
            for p in range(P):
                for q in range(Q):
                    src = G[e, p, q]
                    dst = Gt[q]
                    for c in range(C):
                        dst[p * C + c] = src[c]
            for l in range(lmax + 1):
                s = l * l
                n = 2 * l + 1
                for a in range(n):
                    orow = Ot[s + a]
                    for m in range(W):
                        orow[m] = 0.0
                    for b in range(n):
                        d = D[e, s + b, s + a] if transpose else D[e, s + a, s + b]
                        grow = Gt[s + b]
                        for m in range(W):
                            orow[m] += d * grow[m]
            for p in range(P):
                for q in range(Q):
                    src = Ot[q]
                    dst = out[e, p, q]
                    for c in range(C):
                        dst[c] = src[p * C + c]

    @_jit
    def _block_outer(e0, e1, g, G, lmax, out):
        """out[e, s+a, s+b] = sum_(p, c) g[e, p, s+a, c] G[e, p, s+b, c]; zero between degrees;
        e0 <= e < e1."""
        E, P, Q, C = G.shape
        acc = np.empty((2 * lmax + 1, C), dtype=G.dtype)           # private to this range
        for e in range(e0, e1):
            for i in range(Q):
                for j in range(Q):
                    out[e, i, j] = 0.0
            for l in range(lmax + 1):
                s = l * l
                n = 2 * l + 1
                for a in range(n):
                    # products summed over shells with the channels in the vector lanes,
                    # then over the channels
                    acc[:n, :] = 0.0
                    for p in range(P):
                        for b in range(n):
                            x = g[e, p, s + a]
                            y = G[e, p, s + b]
                            for c in range(C):
                                acc[b, c] += x[c] * y[c]
                    for b in range(n):
                        t = acc[b, 0]
                        for c in range(1, C):
                            t += acc[b, c]
                        out[e, s + a, s + b] = t


#: Edges per thread below which the kernels run in the calling thread only.
EDGES_PER_THREAD = 256


def rotate_forward(coeffs, D, transpose=False):
    """``D G`` per edge, shell and channel (``D^T G`` when ``transpose``), same dtype."""
    G = np.ascontiguousarray(coeffs)
    Dc = np.ascontiguousarray(D)
    out = np.empty_like(G)
    run_over(_apply_blocks, G.shape[0], EDGES_PER_THREAD, G, Dc, lmax_of(G.shape[-2]), transpose,
             out)
    return out


def rotate_vjp_D(g, coeffs):
    """Gradient w.r.t. D: per edge ``sum_(p, c) g G^T`` on the diagonal blocks, zero elsewhere."""
    g = np.ascontiguousarray(g, dtype=coeffs.dtype)
    G = np.ascontiguousarray(coeffs)
    out = np.empty(G.shape[:1] + (G.shape[-2], G.shape[-2]), dtype=G.dtype)
    run_over(_block_outer, G.shape[0], EDGES_PER_THREAD, g, G, lmax_of(G.shape[-2]), out)
    return out
