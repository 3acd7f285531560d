"""The embedding layer: typed neighbour atoms -> coefficient functions (paper Eq. 2).

Each residue's neighbourhood is stored per (residue, neighbour atom slot):
``basis[n, k]`` is :func:`fourier6d.expansion.point_basis` of neighbour k in
residue n's frame (all zeros for padding slots) and ``types[n, k]`` its atom
type.  A trainable embedding ``E`` (n_types, C) gives each type a feature
vector t = E[type], and Eq. 2 (linear in t_n) becomes::

    out[n, p, q, c] = sum_k basis[n, k, p, q] E[types[n, k], c].

This equals :func:`fourier6d.expansion.expand_points` with one-hot type
features followed by a linear map E, but never forms the one-hot matrix.

Cost: a gather of E rows (N, K, C) and one batched GEMM (N: PQ x K by K x C); the VJP w.r.t. E
is a batched GEMM back to (N, K, C) and a sum of those rows by type into (n_types, C): one 0/1
sparse-matrix product (:func:`fourier6d.gather.sum_rows_by_index`).  That is the array path
(CuPy, and the reference); on NumPy inputs the fused Numba kernels of
:mod:`fourier6d._numba_embed` compute the forward without the gather or per-residue BLAS calls,
and (where its lane kernels apply, e.g. 5 shells) the VJP w.r.t. E without the (N, K, C) temporary.
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp

from . import _numba_embed
from .gather import sum_rows_by_index

__all__ = ["embed_atoms"]


def _gather_matmul(basis, types, emb):
    if _numba_embed.applicable(basis, types, emb):
        return _numba_embed.embed_forward(basis, types, emb)
    lead = basis.shape[:-3]
    k, p, q = basis.shape[-3:]
    t = emb[types]                                                  # (..., K, C)
    b = basis.reshape(lead + (k, p * q))
    out = b.swapaxes(-1, -2) @ t                                    # (..., PQ, C)
    return out.reshape(lead + (p, q, emb.shape[-1]))


@primitive
def _embed(basis, types, emb):
    return _gather_matmul(basis, types, emb)


def _vjp_basis(ans, basis, types, emb):
    lead = basis.shape[:-3]

    def vjp(g):
        t = emb[types]                                              # (..., K, C)
        pq = basis.shape[-2] * basis.shape[-1]
        gf = g.reshape(lead + (pq, g.shape[-1]))                    # (..., PQ, C)
        return (t @ gf.swapaxes(-1, -2)).reshape(basis.shape)
    return vjp


def _vjp_emb(ans, basis, types, emb):
    lead = basis.shape[:-3]
    k = basis.shape[-3]

    def vjp(g):
        pq = basis.shape[-2] * basis.shape[-1]
        b = basis.reshape(lead + (k, pq))                           # (..., K, PQ)
        gf = g.reshape(lead + (pq, g.shape[-1]))                    # (..., PQ, C)
        if isinstance(b, np.ndarray) and b.ndim == 3 and _numba_embed.AVAILABLE:
            return _numba_embed.grad_embedding(b, gf, types.reshape(b.shape[:2]), emb.shape[0])
        g_slots = b @ gf                                            # (..., K, C)
        return sum_rows_by_index(g_slots.reshape(types.size, g_slots.shape[-1]), types,
                                 emb.shape[0])
    return vjp


defvjp(_embed, _vjp_basis, None, _vjp_emb)


def embed_atoms(basis, types, embedding):
    """Coefficients of the embedded neighbour-atom densities (Eq. 2, t_n = E[type_n]).

    Parameters
    ----------
    basis : array, shape (..., K, n_radial, n_coef)
        Per-slot point basis (:func:`fourier6d.expansion.point_basis` of each
        neighbour atom in its residue's frame); zero for padding slots.
    types : int array, shape (..., K)
        Atom type of each slot, in ``[0, n_types)``; padding slots may hold
        any valid type (their basis is zero).
    embedding : array, shape (n_types, C)
        Trainable type embedding E (same float dtype as ``basis``).

    Returns
    -------
    array, shape (..., n_radial, n_coef, C)
        ``sum_k basis[..., k, :, :, None] * E[types[..., k]][:, None, None, :]``.

    Notes
    -----
    An autograd primitive with explicit VJPs w.r.t. ``basis`` and
    ``embedding`` (not ``types``).  The type range is checked with one
    min/max reduction (a device synchronisation on GPU).
    """
    bshape = getattr(basis, "shape", None)
    tshape = getattr(types, "shape", None)
    eshape = getattr(embedding, "shape", None)
    if bshape is None or len(bshape) < 3:
        raise ValueError(f"basis must have shape (..., K, n_radial, n_coef), got {bshape}")
    if tshape is None or tuple(tshape) != tuple(bshape[:-2]):
        raise ValueError(f"types must have shape {tuple(bshape[:-2])} (basis without its "
                         f"last two axes), got {tshape}")
    if eshape is None or len(eshape) != 2:
        raise ValueError(f"embedding must have shape (n_types, C), got {eshape}")
    tval = getattr(types, "_value", types)
    if np.dtype(tval.dtype).kind not in "iu":
        raise TypeError(f"types must be an integer array, got dtype {tval.dtype}")
    bdtype = np.dtype(getattr(basis, "_value", basis).dtype)
    edtype = np.dtype(getattr(embedding, "_value", embedding).dtype)
    if bdtype.kind != "f" or bdtype != edtype:
        raise TypeError(f"basis and embedding must share a float dtype, got {bdtype} and {edtype}")
    if tval.size:
        lo, hi = int(tval.min()), int(tval.max())
        if lo < 0 or hi >= eshape[0]:
            raise ValueError(f"types must lie in [0, {eshape[0]}), got range [{lo}, {hi}]")
    return _embed(basis, tval, embedding)
