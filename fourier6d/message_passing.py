"""Nonparametric message passing of continuous data between residue frames (paper Eqs. 5-6).

Each residue i carries the coefficients G_i of a function given in its own
frame (origin o_i, axes F_i; see "Relative frames" in the project notes).
A point with j-local coordinates x_j has i-local coordinates
``x_i = R_ij x_j + t_ij`` (``R_ij = F_i^T F_j``, ``t_ij = F_i^T (o_j - o_i)``),
so j's function seen from i is ``f_j(R_ij^T (r - t_ij))``: rotate by R_ij,
then translate by t_ij.  The translation is decomposed as in the paper:
rotate t_ij onto +z, translate along z (Eq. 5), rotate back (Eq. 6).  All of
it is composed into ONE dense (n_radial, Q, Q) matrix per edge
(:func:`edge_operators`, pure geometry, computed once per structure and
reused by every layer), and the messages

    m_i = sum_k mask[i, k] T_ik G_{nbr_idx[i, k]}

are one batched GEMM over all edges followed by a sum over the neighbour
slots (:func:`pass_messages`, an autograd primitive differentiable w.r.t.
the coefficients; no gradient flows to the geometry).

Accuracy: the translation is exact except for the truncation at degree L
(Eq. 5's error term); it is accurate for |t_ij| up to about sigma L / 2
with the paper's grid (see tests/test_translation.py).
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp

from ._backend import get_array_module
from .radial import RadialGrid
from .translation import translation_matrices, _lmax_of

__all__ = ["edge_operators", "pass_messages", "message_passing"]


def _check_graph(nbr_idx, nbr_mask, n_source):
    for name, a in (("nbr_idx", nbr_idx), ("nbr_mask", nbr_mask)):
        if getattr(a, "ndim", None) != 2:
            raise ValueError(f"{name} must have shape (N, K), got {getattr(a, 'shape', None)}")
    if nbr_idx.shape != nbr_mask.shape:
        raise ValueError(f"nbr_idx {nbr_idx.shape} and nbr_mask {nbr_mask.shape} differ")
    if nbr_idx.dtype.kind not in "iu":
        raise TypeError(f"nbr_idx must be an integer array, got {nbr_idx.dtype}")
    if nbr_mask.dtype != np.bool_:
        raise TypeError(f"nbr_mask must be a boolean array, got {nbr_mask.dtype}")
    xp = get_array_module(nbr_idx)
    valid = xp.where(nbr_mask, nbr_idx, 0)
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= n_source):
        raise ValueError(f"nbr_idx of unmasked edges must lie in [0, {n_source})")
    return valid


def edge_operators(R_ij, t_ij, grid, lmax, nbr_mask=None):
    """Per-edge operators T(j -> i) = D(S)^T T_z(|t|) D(S) D(R_ij).

    Parameters
    ----------
    R_ij : array, shape (N, K, 3, 3)
        Rotations from j's frame to i's frame.
    t_ij : array, shape (N, K, 3)
        Position of j's origin in i's frame.
    grid : RadialGrid
    lmax : int
    nbr_mask : array of bool, shape (N, K), optional
        Operators of masked (padding) edges are set to zero.

    Returns
    -------
    array, shape (N, K, n_radial, Q, Q)
        Maps coefficients in j's frame to those of the same function in i's
        frame; dtype and array module of ``t_ij``.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if getattr(t_ij, "ndim", 0) < 1 or t_ij.shape[-1] != 3:
        raise ValueError(f"t_ij must have shape (..., 3), got {getattr(t_ij, 'shape', None)}")
    if getattr(R_ij, "shape", None) != tuple(t_ij.shape[:-1]) + (3, 3):
        raise ValueError(f"R_ij must have shape {tuple(t_ij.shape[:-1]) + (3, 3)}, "
                         f"got {getattr(R_ij, 'shape', None)}")
    xp = get_array_module(R_ij, t_ij)
    t_ij = xp.asarray(t_ij)
    if t_ij.dtype.kind != "f":
        t_ij = t_ij.astype(np.float64)
    ops = translation_matrices(lmax, grid, t_ij, rotation=xp.asarray(R_ij, dtype=t_ij.dtype))
    if nbr_mask is not None:
        ops = ops * xp.asarray(nbr_mask, dtype=ops.dtype)[..., None, None, None]
    return ops


def _forward(coeffs, ops, idx):
    gathered = coeffs[idx]                                      # (N, K, P, Q, C)
    return (ops @ gathered).sum(axis=1)


@primitive
def _messages(coeffs, ops, idx):
    return _forward(coeffs, ops, idx)


def _vjp_coeffs(ans, coeffs, ops, idx):
    def vjp(g):
        xp = get_array_module(g, ops)
        contrib = xp.swapaxes(ops, -1, -2) @ g[:, None]         # (N, K, P, Q, C)
        n_src = coeffs.shape[0]
        width = int(np.prod(coeffs.shape[1:]))
        flat = (idx[..., None] * width + xp.arange(width)).reshape(-1)
        summed = xp.bincount(flat, weights=contrib.reshape(-1), minlength=n_src * width)
        return summed.astype(coeffs.dtype, copy=False).reshape(coeffs.shape)
    return vjp


defvjp(_messages, _vjp_coeffs)


def pass_messages(coeffs, edge_ops, nbr_idx, nbr_mask):
    """Messages ``m_i = sum_k mask[i,k] T_ik G_{nbr_idx[i,k]}`` from precomputed operators.

    Parameters
    ----------
    coeffs : array, shape (N_src, n_radial, Q, C)
        Coefficients of every residue in its own frame.
    edge_ops : array, shape (N, K, n_radial, Q, Q)
        From :func:`edge_operators`.
    nbr_idx : int array, shape (N, K)
        Source residue of each neighbour slot (any value where masked).
    nbr_mask : bool array, shape (N, K)

    Returns
    -------
    array, shape (N, n_radial, Q, C)
        Differentiable (autograd primitive) w.r.t. ``coeffs``; the VJP is the
        transposed GEMM followed by one ``bincount`` scatter-add.
    """
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    _lmax_of(cshape[2])
    eshape = getattr(edge_ops, "shape", None)
    if (eshape is None or len(eshape) != 5 or tuple(eshape[2:]) != (cshape[1], cshape[2], cshape[2])
            or tuple(eshape[:2]) != tuple(nbr_idx.shape)):
        raise ValueError(f"edge_ops must have shape {tuple(nbr_idx.shape) + (cshape[1], cshape[2], cshape[2])},"
                         f" got {eshape}")
    xp = get_array_module(coeffs, edge_ops, nbr_idx)
    idx = _check_graph(nbr_idx, nbr_mask, cshape[0])
    ops = edge_ops * xp.asarray(nbr_mask, dtype=edge_ops.dtype)[..., None, None, None]
    return _messages(coeffs, ops, idx)


def message_passing(coeffs, nbr_idx, nbr_mask, R_ij, t_ij, grid):
    """Sum over neighbours of their functions re-expressed in the receiver's frame.

    Convenience wrapper: :func:`edge_operators` then :func:`pass_messages`
    (precompute the operators once per structure when passing several times).

    Parameters
    ----------
    coeffs : array, shape (N, n_radial, Q, C)
    nbr_idx : int array, shape (N, K)
    nbr_mask : bool array, shape (N, K)
    R_ij : array, shape (N, K, 3, 3)
    t_ij : array, shape (N, K, 3)
    grid : RadialGrid

    Returns
    -------
    array, shape (N, n_radial, Q, C)
    """
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if cshape[1] != grid.n_radial:
        raise ValueError(f"coeffs have {cshape[1]} radial points, grid has {grid.n_radial}")
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    xp = get_array_module(coeffs, t_ij)
    ops = edge_operators(xp.asarray(R_ij, dtype=dtype), xp.asarray(t_ij, dtype=dtype), grid,
                         _lmax_of(cshape[2]))
    return pass_messages(coeffs, ops, nbr_idx, nbr_mask)
