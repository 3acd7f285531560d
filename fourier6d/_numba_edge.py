"""Numba CPU kernel of :func:`fourier6d.message_passing.edge_operators` (Eqs. 5-6).

One job: the per-edge operators ``T(t') D(R')`` of message passing, written
straight into their ``(N, P, K, Q, Q)`` buffer, for NumPy inputs.  The
array-agnostic path (kept for CuPy and as the reference) builds them from
whole-chunk temporaries: the plane-wave factors ``W = j_lam(rho |t'|)
Y_lam mu(t'_hat)`` (E, P, (2L+1)^2), one dense GEMM of W with the plane-wave
table (:func:`fourier6d.translation.plane_wave_table`, 4.4 % nonzero at L = 4),
the Wigner matrices (E, Q, Q), one dense (PQ x Q) @ (Q x Q) product per edge
with a block-diagonal D, and a scatter into the buffer; each temporary is a
fresh allocation whose first touch is slow on the project's VM.

Here, per block of ``BLOCK`` edges, the factors W (:func:`_basis_block` of
:mod:`fourier6d._numba_kernels`, computed in float64) and the diagonal Wigner
blocks (:func:`_wigner_lanes` of :mod:`fourier6d._numba_wigner`, float64,
edges in the lanes) go into per-thread scratch; then, with the block's edges
in the vector lanes, per shell p,

* ``T[a, b] = sum_(lam mu) W[p, lam mu] B[lam mu, a, b]`` over the nonzeros of
  the table only (2,229 of 50,625 entries at L = 4, stored CSR by output
  entry), and
* ``out[a, b] = sum_(b' in degree(b)) T[a, b'] D[b', b]`` over the diagonal
  blocks of D only (4,125 of 15,625 products at L = 4),

so each edge costs about 32,000 multiply-adds at L = 4 instead of the dense
path's 331,000, all in vector lanes, and its result is written once (7,500
edges, float32, 2 threads: 28-42 ms against 93-96 ms for the array path on
NumPy; writing the 94 MB result is about a third of it).  Edges
(unmasked only) are split over the nogil thread pool of
:mod:`fourier6d._numba_kernels`.  Accumulation is in the output dtype, as in
the GEMM path; tests/test_message_passing.py checks both paths agree (float64
to 1e-12, float32 to single precision).

Numba is optional: :data:`AVAILABLE` is False when it cannot be imported or
``FOURIER6D_DISABLE_NUMBA=1`` is set.
"""
from __future__ import annotations

import numpy as np

from ._backend import cached_table
from ._numba_kernels import AVAILABLE, BLOCK, numba, run_over

__all__ = ["AVAILABLE", "applicable", "edge_operators_into", "zero_masked_slots"]

#: Edges per thread below which the kernel runs in the calling thread only.
EDGES_PER_THREAD = 128


def applicable(R, t):
    """True when the kernel handles these edges (NumPy float32/float64, shape (N, K, ...))."""
    return (AVAILABLE and type(R) is np.ndarray and type(t) is np.ndarray and t.ndim == 3
            and t.dtype in (np.float32, np.float64) and R.dtype == t.dtype)


def _csr(lmax):
    from .translation import plane_wave_table
    # the host float64 table of the array path's cache (built once, shared with it)
    table = cached_table("plane_wave_translation", lmax, lambda: plane_wave_table(lmax), np,
                         np.float64)                         # (n_lm, Q, Q)
    flat = table.reshape(table.shape[0], -1).T               # (Q*Q, n_lm)
    rows, cols = np.nonzero(flat)
    ptr = np.zeros(flat.shape[0] + 1, dtype=np.int64)
    np.add.at(ptr, rows + 1, 1)
    return np.cumsum(ptr), cols.astype(np.int64), flat[rows, cols]


def _sparse_table(lmax):
    """The plane-wave table as CSR over output entries ``o = a Q + b``: (ptr, idx, val) with
    ``T[o] = sum_(j = ptr[o]..ptr[o+1]-1) val[j] W[idx[j]]``; host, cached per lmax by
    :func:`fourier6d._backend.cached_table`."""
    return tuple(cached_table(f"plane_wave_csr_{part}", lmax, lambda part=part: _csr(lmax)[part],
                              np, dtype)
                 for part, dtype in ((0, np.int64), (1, np.int64), (2, np.float64)))


if AVAILABLE:
    from ._numba_kernels import _basis_block, _basis_workspace
    from ._numba_wigner import _lane_scratch, _wigner_lanes

    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _edge_range(e0, e1, t, alpha, beta, gamma, J, lmax, rho, ones, norms, pmm, uniform,
                    ptr, idx, val, row_i, slot_k, out):
        """out[row_i[e], p, slot_k[e], a Q + b] = (T_p(t[e]) D(alpha, beta, gamma)[e])[a, b]
        for e0 <= e < e1 (out: (N, P, K, Q*Q)); the BLOCK edges of a block in the lanes."""
        P = out.shape[1]
        Q = (lmax + 1) * (lmax + 1)
        QQ = Q * Q
        n_lm = (2 * lmax + 1) * (2 * lmax + 1)
        dt = out.dtype
        ws = _basis_workspace(2 * lmax + 1, P)
        px = np.empty(BLOCK)
        py = np.empty(BLOCK)
        pz = np.empty(BLOCK)
        rows = np.arange(BLOCK)
        W = np.empty((BLOCK, P, n_lm), dtype=dt)
        Wt = np.empty((n_lm, BLOCK), dtype=dt)
        trig, A, B, C, Dt = _lane_scratch(lmax, out)
        T = np.empty((QQ, BLOCK), dtype=dt)
        O = np.empty((QQ, BLOCK), dtype=dt)
        vals = val.astype(dt)
        for b0 in range(e0, e1, BLOCK):
            nb = min(BLOCK, e1 - b0)
            for i in range(nb):
                px[i] = t[b0 + i, 0]
                py[i] = t[b0 + i, 1]
                pz[i] = t[b0 + i, 2]
            _basis_block(nb, px, py, pz, rho, ones, 2 * lmax, norms, pmm, uniform, ws, W, rows)
            # the diagonal blocks of D, the block's edges in the lanes
            _wigner_lanes(b0, nb, alpha, beta, gamma, J, lmax, trig, A, B, C, Dt)
            for p in range(P):
                for k in range(n_lm):
                    row = Wt[k]
                    for v in range(nb):
                        row[v] = W[v, p, k]
                # T = sum over the table's nonzeros
                for o in range(QQ):
                    To = T[o]
                    for v in range(nb):
                        To[v] = 0.0
                    for j in range(ptr[o], ptr[o + 1]):
                        c = vals[j]
                        w = Wt[idx[j]]
                        for v in range(nb):
                            To[v] += c * w[v]
                # O = T D over the diagonal blocks of D
                for l in range(lmax + 1):
                    s = l * l
                    n = 2 * l + 1
                    for a in range(Q):
                        for b in range(s, s + n):
                            Ob = O[a * Q + b]
                            for v in range(nb):
                                Ob[v] = 0.0
                        for i in range(s, s + n):
                            ti = T[a * Q + i]
                            for b in range(s, s + n):
                                Ob = O[a * Q + b]
                                d = Dt[i * Q + b]
                                for v in range(nb):
                                    Ob[v] += ti[v] * d[v]
                # written out edge by edge: contiguous stores (tiling the transpose measured
                # slower: 64 interleaved store streams)
                for v in range(nb):
                    e = b0 + v
                    dst = out[row_i[e], p, slot_k[e]]
                    for o in range(QQ):
                        dst[o] = O[o, v]


    @_jit
    def _zero_masked(i0, i1, mask, out):
        """out[i, :, k] = 0 where not mask[i, k], i0 <= i < i1 (out: (N, P, K, Q*Q))."""
        P = out.shape[1]
        K = mask.shape[1]
        QQ = out.shape[3]
        for i in range(i0, i1):
            for p in range(P):
                for k in range(K):
                    if not mask[i, k]:
                        dst = out[i, p, k]
                        for o in range(QQ):
                            dst[o] = 0.0


def zero_masked_slots(buf, mask):
    """``buf[i, :, k] = 0`` for the masked slots (``mask[i, k]`` False), in the thread pool."""
    N, P, K, Q = buf.shape[:4]
    run_over(_zero_masked, N, EDGES_PER_THREAD, np.ascontiguousarray(mask, dtype=np.bool_),
             buf.reshape(N, P, K, Q * Q))
    return buf


def edge_operators_into(buf, t, R, edges, n_slots, grid, lmax):
    """Write ``T(t') D(R')`` (t' = -R^T t, R' = R^T) of ``edges`` into ``buf``.

    Parameters
    ----------
    buf : numpy.ndarray, shape (N, P, K, Q, Q)
        C-contiguous; slot (i, k) of edge e = i K + k receives its P matrices
        (the transposed operator of :func:`fourier6d.message_passing.edge_operators`).
    t, R : numpy.ndarray, shapes (N K, 3) and (N K, 3, 3)
        Translation and rotation of every slot.
    edges : numpy.ndarray of int
        Flat slot indices to compute (the others are left untouched).
    n_slots : int
        K.
    grid : RadialGrid
    lmax : int
    """
    from ._numba_kernels import _norm_table, _pmm_table, _uniform
    from ._numba_wigner import _swap_tables
    from .rotation import matrix_to_euler
    N, P, K, Q = buf.shape[:4]
    Rt = np.swapaxes(R[edges].astype(np.float64), -1, -2)          # R' = R^T
    tp = -np.einsum("eij,ej->ei", Rt, t[edges].astype(np.float64))  # t' = -R^T t
    alpha, beta, gamma = (np.ascontiguousarray(x) for x in matrix_to_euler(Rt))
    rho = grid.points(np, np.float64)
    ptr, idx, val = _sparse_table(lmax)
    lmax2 = 2 * lmax
    run_over(_edge_range, int(edges.shape[0]), EDGES_PER_THREAD, np.ascontiguousarray(tp),
             alpha, beta, gamma, _swap_tables(lmax), int(lmax), rho, np.ones(P),
             _norm_table(lmax2), _pmm_table(lmax2), _uniform(rho), ptr, idx, val,
             (edges // n_slots).astype(np.int64), (edges % n_slots).astype(np.int64),
             buf.reshape(N, P, K, Q * Q))
    return buf
