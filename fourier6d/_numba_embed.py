"""Numba CPU kernels of the embedding layer (Eq. 2, :func:`fourier6d.embedding.embed_atoms`).

One job: the embedding's forward ``out[n] = basis[n]^T E[types[n]]`` per residue n and its
gradient with respect to E, for NumPy inputs.  The array path (kept for CuPy, other layouts,
and as the reference) gathers ``E[types]`` into an (N, K, C) temporary and calls one small BLAS
GEMM per residue (PQ x K by K x C, the basis operand transposed).

**Lane kernels** (:data:`BLOCK` divides P Q, as for the networks' L = 4, 5 shells: P Q = 125):
the channels are the vector lanes.  Channels are taken in chunks of :data:`LANES` (16, one
AVX-512 register of float32; 15 channels are padded to 16 in a copy of E and in per-thread
buffers, never in the caller's arrays), and each residue's (P Q, 16) block of the output is
accumulated in L1:

* forward: two atoms per pass (an odd last atom paired with a zero row), five coefficients per
  step, ``acc[q] += b0[q] E[t0] + b1[q] E[t1]`` written as straight-line code inside a loop over
  the 16 lanes;
* gradient: ``gE[t_k] += sum_q b_k[q] g[n, q]`` per atom, two atoms per pass (each load of the
  cotangent serves both; the sums, and the order in which they are added to E's rows, are those
  of one atom at a time), five coefficients per step, the cotangent's (P Q, 16) block of the
  residue in L1.

LLVM vectorises the lane loop (its trip count is an argument: with a literal 16 it unrolls the
loop first and does not vectorise it) when every load and store has a literal offset from one
base pointer per step (the same two conditions as the generated translation kernels of
:mod:`fourier6d._translate_codegen`).  Measured for 2,525 residues x 130 slots, C = 15,
float32, one thread: forward 30.1 -> 22.6 ms, gradient 35.6 (BLAS, then sum by type) -> 25.7 ms
on an AMD EPYC host; on an Intel Xeon host with AVX-512, where the one-atom gradient took 90 ms
(one thread; 45 ms on two), two atoms per pass take 45 ms (22.7 ms on two).
Otherwise (P Q not a multiple of 5, e.g. 64 at L = 3 with 4 shells, where a variant adding the
leftover coefficients one at a time measured 2.4 against 2.2 ms) the **row kernel**: each residue's
basis rows, four atoms at a time, as rank-4 updates of the transposed output (C, P Q) with the
P Q coefficients as the lanes; and the gradient as the BLAS GEMMs ``b[n] @ g[n]`` in groups of
residues, each group summing its slot rows by type (:func:`fourier6d.gather.sum_rows_by_index`).

Residues are split over the nogil thread pool of :mod:`fourier6d._numba_kernels`; gradients of
the ranges are added in range order (:func:`fourier6d._numba_kernels.sum_partials`), so results
do not depend on the threads' timing.  Accumulation is in the input dtype, as in the BLAS path;
tests check every kernel against the array path to 1e-12 in float64.

Numba is optional (:data:`AVAILABLE`; ``FOURIER6D_DISABLE_NUMBA=1`` disables it).
"""
from __future__ import annotations

import numpy as np

from ._numba_kernels import (AVAILABLE, numba, run_over, default_threads, sum_partials,
                             _run_ranges, _split)

__all__ = ["AVAILABLE", "applicable", "embed_forward", "grad_embedding", "uses_lanes"]

#: Residues per thread below which the kernels run in the calling thread only.
RESIDUES_PER_THREAD = 64
#: Channels per chunk of the lane kernels (vector lanes).
LANES = 16
#: Coefficients per step of the lane kernels; they run when it divides P Q.
BLOCK = 5


def uses_lanes(n_coef_total):
    """True when the lane kernels handle a basis of ``n_coef_total`` = P Q coefficients."""
    return n_coef_total % BLOCK == 0


def applicable(basis, types, emb):
    """True when the kernels handle these arrays (NumPy, float32/float64, C-contiguous)."""
    return (AVAILABLE and type(basis) is np.ndarray and type(types) is np.ndarray
            and type(emb) is np.ndarray and basis.ndim >= 3 and basis.dtype == emb.dtype
            and basis.dtype in (np.float32, np.float64) and types.dtype.kind in "iu"
            and basis.flags.c_contiguous)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
    # the lane kernels: a * b + c contracted to one FMA (as the generated translation kernels)
    _jit_fma = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")

    @_jit
    def _forward_rows(n0, n1, basis, types, emb, out):
        """out[n] = sum_k basis[n, k, :, None] * emb[types[n, k], None, :] for n0 <= n < n1."""
        N, K, PQ = basis.shape
        C = emb.shape[1]
        acc = np.empty((C, PQ), dtype=out.dtype)        # out[n] transposed: q in the lanes
        for n in range(n0, n1):
            acc[:, :] = 0.0
            k = 0
            while k + 4 <= K:                    # rank-4 updates: one pass over acc per 4 atoms
                b0 = basis[n, k]
                b1 = basis[n, k + 1]
                b2 = basis[n, k + 2]
                b3 = basis[n, k + 3]
                t0 = emb[types[n, k]]
                t1 = emb[types[n, k + 1]]
                t2 = emb[types[n, k + 2]]
                t3 = emb[types[n, k + 3]]
                for c in range(C):
                    y0 = t0[c]
                    y1 = t1[c]
                    y2 = t2[c]
                    y3 = t3[c]
                    row = acc[c]
                    for q in range(PQ):
                        row[q] += y0 * b0[q] + y1 * b1[q] + y2 * b2[q] + y3 * b3[q]
                k += 4
            while k < K:
                b0 = basis[n, k]
                t0 = emb[types[n, k]]
                for c in range(C):
                    y0 = t0[c]
                    row = acc[c]
                    for q in range(PQ):
                        row[q] += y0 * b0[q]
                k += 1
            o = out[n]
            for q in range(PQ):
                for c in range(C):
                    o[q, c] = acc[c, q]


    @numba.njit(inline="always")
    def _five(row, q):
        """row[q], ..., row[q + 4]: the five coefficients of one step of the lane kernels."""
        return row[q], row[q + 1], row[q + 2], row[q + 3], row[q + 4]

    @_jit_fma
    def _forward_lanes(n0, n1, basis, types, emb, lanes, out):
        """out[n] = sum_k basis[n, k, :, None] * emb[types[n, k], None, :C], n0 <= n < n1; emb
        padded with zero columns to chunks of ``lanes`` = 16 channels (an argument: a literal
        trip count is unrolled, not vectorised), five coefficients per step (module docstring;
        :data:`BLOCK` must divide P Q: :func:`uses_lanes`)."""
        N, K, PQ = basis.shape
        C = out.shape[2]
        nb = PQ // 5
        acc = np.empty(PQ * 16, dtype=out.dtype)
        zero = np.zeros(16, dtype=emb.dtype)
        for n in range(n0, n1):
            o = out[n]
            for h in range(emb.shape[1] // 16):
                acc[:] = 0.0
                for k in range(0, K, 2):
                    k1 = k + 1 if k + 1 < K else k      # an odd last atom: paired with zeros
                    B0 = basis[n, k]
                    B1 = basis[n, k1]
                    T0 = emb[types[n, k], 16 * h:16 * h + 16]
                    T1 = emb[types[n, k1], 16 * h:16 * h + 16] if k1 > k else zero
                    for blk in range(nb):
                        q = blk * 5
                        A = acc[q * 16:q * 16 + 80]
                        a0, a1, a2, a3, a4 = _five(B0, q)
                        b0, b1, b2, b3, b4 = _five(B1, q)
                        for u in range(lanes):
                            t0 = T0[u]
                            t1 = T1[u]
                            A[u] += a0 * t0 + b0 * t1
                            A[16 + u] += a1 * t0 + b1 * t1
                            A[32 + u] += a2 * t0 + b2 * t1
                            A[48 + u] += a3 * t0 + b3 * t1
                            A[64 + u] += a4 * t0 + b4 * t1
                width = min(16, C - 16 * h)
                for q in range(PQ):
                    for u in range(width):
                        o[q, 16 * h + u] = acc[q * 16 + u]

    @_jit_fma
    def _grad_lanes(n0, n1, basis, types, gf, lanes, gemb):
        """gemb[types[n, k], :C] += sum_q basis[n, k, q] gf[n, q] for n0 <= n < n1; gemb (zeroed by
        the caller) has chunks of ``lanes`` = 16 columns, C of them used; two atoms per pass over
        the cotangent block, five coefficients per step (:data:`BLOCK` must divide P Q:
        :func:`uses_lanes`)."""
        N, K, PQ = basis.shape
        C = gf.shape[2]
        nb = PQ // 5
        G = np.zeros(PQ * 16, dtype=gemb.dtype)      # padding lanes stay zero
        acc0 = np.empty(16, dtype=gemb.dtype)
        acc1 = np.empty(16, dtype=gemb.dtype)
        for n in range(n0, n1):
            g = gf[n]
            for h in range(gemb.shape[1] // 16):
                width = min(16, C - 16 * h)
                for q in range(PQ):                  # the residue's cotangent chunk, 16 per row
                    for u in range(width):
                        G[q * 16 + u] = g[q, 16 * h + u]
                for k in range(0, K, 2):
                    k1 = k + 1 if k + 1 < K else k   # an odd last atom: computed twice, added once
                    B0 = basis[n, k]
                    B1 = basis[n, k1]
                    acc0[:] = 0.0
                    acc1[:] = 0.0
                    for blk in range(nb):
                        q = blk * 5
                        Gq = G[q * 16:q * 16 + 80]
                        a0, a1, a2, a3, a4 = _five(B0, q)
                        b0, b1, b2, b3, b4 = _five(B1, q)
                        for u in range(lanes):
                            g0 = Gq[u]
                            g1 = Gq[16 + u]
                            g2 = Gq[32 + u]
                            g3 = Gq[48 + u]
                            g4 = Gq[64 + u]
                            acc0[u] += a0 * g0 + a1 * g1 + a2 * g2 + a3 * g3 + a4 * g4
                            acc1[u] += b0 * g0 + b1 * g1 + b2 * g2 + b3 * g3 + b4 * g4
                    R = gemb[types[n, k], 16 * h:16 * h + 16]
                    for u in range(lanes):
                        R[u] += acc0[u]
                    if k1 > k:
                        R = gemb[types[n, k1], 16 * h:16 * h + 16]
                        for u in range(lanes):
                            R[u] += acc1[u]


def _flat(basis, types):
    K = basis.shape[-3]
    PQ = basis.shape[-2] * basis.shape[-1]
    N = int(np.prod(basis.shape[:-3], dtype=np.int64))      # explicit: -1 fails on empty arrays
    return (basis.reshape(N, K, PQ),
            np.ascontiguousarray(types.reshape(N, K), dtype=np.int64))


def _padded_width(n_channels):
    return -(-n_channels // LANES) * LANES


def _padded(emb):
    """emb with zero columns added up to a multiple of :data:`LANES`."""
    out = np.zeros((emb.shape[0], _padded_width(emb.shape[1])), dtype=emb.dtype)
    out[:, :emb.shape[1]] = emb
    return out


def embed_forward(basis, types, emb):
    """``out[..., p, q, c] = sum_k basis[..., k, p, q] emb[types[..., k], c]`` (NumPy)."""
    b, t = _flat(basis, types)
    e = np.ascontiguousarray(emb)
    out = np.empty((b.shape[0], b.shape[2], e.shape[1]), dtype=basis.dtype)
    if uses_lanes(b.shape[2]):
        run_over(_forward_lanes, b.shape[0], RESIDUES_PER_THREAD, b, t, _padded(e), LANES, out)
    else:
        run_over(_forward_rows, b.shape[0], RESIDUES_PER_THREAD, b, t, e, out)
    return out.reshape(basis.shape[:-3] + basis.shape[-2:] + (e.shape[1],))


def grad_embedding(b, gf, types, n_types):
    """Gradient of the embedding (n_types, C) for NumPy ``b`` (N, K, PQ), cotangent ``gf``
    (N, PQ, C) and ``types`` (N, K), in groups of residues on the thread pool, each group into its
    own gradient, added in range order at the end.  Per group: the lane kernel where it applies
    (:func:`uses_lanes`, float32/float64), else the backward's GEMMs ``b[n] @ gf[n]`` (BLAS, one
    small product per residue, single-threaded) with the slot rows summed by type
    (:func:`fourier6d.gather.sum_rows_by_index`)."""
    from .gather import sum_rows_by_index
    N = b.shape[0]
    if N == 0:
        return np.zeros((n_types, gf.shape[2]), dtype=np.result_type(b.dtype, gf.dtype))
    n_threads = max(1, min(default_threads(), N // RESIDUES_PER_THREAD))
    bounds = _split(N, n_threads)
    parts = {}
    use_lanes = (uses_lanes(b.shape[2]) and b.dtype in (np.float32, np.float64)
                 and gf.dtype == b.dtype)
    if use_lanes:
        b = np.ascontiguousarray(b)
        gf = np.ascontiguousarray(gf)
        types = np.ascontiguousarray(types, dtype=np.int64)

    def work(n0, n1):
        if use_lanes:
            parts[n0] = np.zeros((n_types, _padded_width(gf.shape[2])), dtype=b.dtype)
            _grad_lanes(n0, n1, b, types, gf, LANES, parts[n0])
            return
        g_slots = b[n0:n1] @ gf[n0:n1]                              # (n, K, C)
        parts[n0] = sum_rows_by_index(g_slots.reshape((n1 - n0) * b.shape[1], g_slots.shape[-1]),
                                      types[n0:n1].reshape(-1), n_types, threads=n_threads == 1)

    _run_ranges(work, bounds, n_threads)
    total = sum_partials(parts)
    return np.ascontiguousarray(total[:, :gf.shape[2]]) if use_lanes else total
