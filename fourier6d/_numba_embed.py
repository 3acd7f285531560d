"""Numba CPU kernel and threaded backward of the embedding layer (Eq. 2, :func:`fourier6d.embedding.embed_atoms`).

One job: the embedding's forward ``out[n] = basis[n]^T E[types[n]]`` per residue n for
NumPy inputs.  The array path (kept for CuPy, other layouts, and as the
reference) gathers ``E[types]`` into an (N, K, C) temporary and calls one
small BLAS GEMM per residue (PQ x K by K x C, the basis operand transposed).
Here each residue's basis rows (contiguous, K x PQ) are read once, four atoms
at a time, as rank-4 updates of the transposed output (C, PQ) held in L1: the
loop over the PQ = 125 coefficients vectorises (a loop over the C channels
measured slower).  Residues are split
over the nogil thread pool of :mod:`fourier6d._numba_kernels`.  16-model
batch (2,849 residues x 130 slots, float32, 2 threads): 27-30 ms against
54-72 ms for the BLAS path, about 3x the time to read the basis once.
Accumulation is in the input dtype, as in the BLAS path; tests check both paths
agree to 1e-12 in float64.  The backward is not a Numba kernel (one measured
80-89 ms against 28 ms for BLAS GEMMs): :func:`grad_embedding` runs the BLAS
GEMMs in groups of residues on the thread pool (30-32 -> 16-23 ms on that batch).

Numba is optional (:data:`AVAILABLE`; ``FOURIER6D_DISABLE_NUMBA=1`` disables it).
"""
from __future__ import annotations

import numpy as np

from ._numba_kernels import (AVAILABLE, numba, run_over, default_threads, sum_partials,
                             _run_ranges, _split)

__all__ = ["AVAILABLE", "applicable", "embed_forward", "grad_embedding"]

#: Residues per thread below which the kernels run in the calling thread only.
RESIDUES_PER_THREAD = 64


def applicable(basis, types, emb):
    """True when the kernels handle these arrays (NumPy, float32/float64, C-contiguous)."""
    return (AVAILABLE and type(basis) is np.ndarray and type(types) is np.ndarray
            and type(emb) is np.ndarray and basis.ndim >= 3 and basis.dtype == emb.dtype
            and basis.dtype in (np.float32, np.float64) and types.dtype.kind in "iu"
            and basis.flags.c_contiguous)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

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


def _flat(basis, types):
    K = basis.shape[-3]
    PQ = basis.shape[-2] * basis.shape[-1]
    return (basis.reshape(-1, K, PQ),
            np.ascontiguousarray(types.reshape(-1, K), dtype=np.int64))


def embed_forward(basis, types, emb):
    """``out[..., p, q, c] = sum_k basis[..., k, p, q] emb[types[..., k], c]`` (NumPy)."""
    b, t = _flat(basis, types)
    e = np.ascontiguousarray(emb)
    out = np.empty((b.shape[0], b.shape[2], e.shape[1]), dtype=basis.dtype)
    run_over(_forward_rows, b.shape[0], RESIDUES_PER_THREAD, b, t, e, out)
    return out.reshape(basis.shape[:-3] + basis.shape[-2:] + (e.shape[1],))


def grad_embedding(b, gf, types, n_types):
    """Gradient of the embedding (n_types, C) for NumPy ``b`` (N, K, PQ), cotangent ``gf``
    (N, PQ, C) and ``types`` (N, K): the backward's GEMMs ``b[n] @ gf[n]`` (BLAS, one small
    product per residue, single-threaded) run in groups of residues on the thread pool, each
    group summing its slot rows by type (:func:`fourier6d.gather.sum_rows_by_index`) into its
    own gradient; the gradients are added at the end."""
    from .gather import sum_rows_by_index
    N = b.shape[0]
    n_threads = max(1, min(default_threads(), N // RESIDUES_PER_THREAD))
    bounds = _split(N, n_threads)
    parts = {}

    def work(n0, n1):
        g_slots = b[n0:n1] @ gf[n0:n1]                              # (n, K, C)
        parts[n0] = sum_rows_by_index(g_slots.reshape(-1, g_slots.shape[-1]),
                                      types[n0:n1].reshape(-1), n_types, threads=n_threads == 1)

    _run_ranges(work, bounds, n_threads)
    return sum_partials(parts)

