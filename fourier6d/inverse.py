"""Inverse transform: real coefficients G -> real-space values f(r).

With F(k) = int f(r) exp(-i k.r) dr and F(k) = sum_lm (-i)^l G_lm(rho)
Y^R_lm(k_hat) (real basis of :mod:`fourier6d.expansion`, Eq. 2), the plane
wave expansion exp(i k.r) = 4 pi sum_lm i^l j_l(k r) Y^R_lm(k_hat) Y^R_lm(r_hat)
and the orthonormality of Y^R over k_hat give

    f(r) = (2 pi)^-3 int F(k) exp(i k.r) dk
         = 1/(2 pi^2) int_0^inf rho^2 drho sum_lm G_lm(rho) j_l(rho r) Y^R_lm(r_hat),

which is evaluated with the quadrature of :class:`fourier6d.radial.RadialGrid`
(w_p = rho_p^2 drho, rectangle rule from rho_0 = 0)::

    f(r) ~= 1/(2 pi^2) sum_p w_p sum_lm G_lm(rho_p) j_l(rho_p r) Y^R_lm(r_hat).

(The prefactor is 4 pi / (2 pi)^3 = 1/(2 pi^2).)  This is a quadrature of the
inverse Fourier transform, not an exact inverse of the stored samples: the
reconstruction is faithful only when the radial grid is fine (drho well
below pi / r for the radii of interest), rho_max covers the spectrum (for
Gaussian features of width sigma, exp(-sigma^2 rho_max^2 / 2) negligible),
and L is large enough for the angular detail at radius r (roughly
L > rho_max r).  With the coarse grids of the network (n_radial = L + 1) it
gives a band-limited, blurred picture of f.
"""
from __future__ import annotations

import math

import numpy as np
from autograd.extend import primitive, defvjp

from ._backend import get_array_module
from .expansion import bessel_harmonic_basis
from .harmonics import lmax_of
from .radial import RadialGrid

__all__ = ["inverse_basis", "inverse_transform", "inverse_on_grid", "grid_points"]

#: 4 pi / (2 pi)^3, the prefactor of the inverse transform in the real basis.
INVERSE_FACTOR = 1.0 / (2.0 * math.pi ** 2)


def inverse_basis(xyz, grid, lmax):
    """Quadrature kernel ``w_p j_l(rho_p r) Y^R_lm(r_hat) / (2 pi^2)``.

    Parameters
    ----------
    xyz : array, shape (..., 3)
    grid : RadialGrid
    lmax : int

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2)
        ``f(r) = sum_pq inverse_basis[..., p, q] G[p, q]``.
    """
    basis = bessel_harmonic_basis(xyz, grid, lmax)
    xp = get_array_module(basis)
    w = grid.weights(xp, basis.dtype) * INVERSE_FACTOR
    return basis * w[:, None]


def _forward(coeffs, basis):
    # basis (..., M, P, Q) ; coeffs (..., P, Q, C) -> (..., M, C)
    xp = get_array_module(coeffs, basis)
    p, q, c = coeffs.shape[-3:]
    bf = basis.reshape(basis.shape[:-2] + (p * q,))                   # (..., M, PQ)
    cf = coeffs.reshape(coeffs.shape[:-3] + (p * q, c))               # (..., PQ, C)
    return xp.matmul(bf, cf.astype(bf.dtype, copy=False))


@primitive
def _inverse(coeffs, basis):
    return _forward(coeffs, basis)


def _inverse_vjp_coeffs(ans, coeffs, basis):
    shape, dtype = coeffs.shape, coeffs.dtype

    def vjp(g):
        xp = get_array_module(g, basis)
        p, q, c = shape[-3:]
        bf = basis.reshape(basis.shape[:-2] + (p * q,))
        out = xp.matmul(xp.swapaxes(bf, -1, -2), g)                  # (..., PQ, C)
        out = out.reshape(out.shape[:-2] + (p, q, c))
        while out.ndim > len(shape):
            out = out.sum(axis=0)
        for i, n in enumerate(shape):
            if n == 1 and out.shape[i] != 1:
                out = out.sum(axis=i, keepdims=True)
        return out.astype(dtype, copy=False)
    return vjp


defvjp(_inverse, _inverse_vjp_coeffs, None)


def _check(coeffs, grid):
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    shape = getattr(coeffs, "shape", None)
    if shape is None or len(shape) < 3:
        raise ValueError(f"coeffs must have shape (..., n_radial, n_coef, n_channels), got {shape}")
    if shape[-3] != grid.n_radial:
        raise ValueError(f"coeffs have {shape[-3]} radial points, grid has {grid.n_radial}")
    dt = np.dtype(getattr(coeffs, "_value", coeffs).dtype)
    if dt.kind != "f":
        raise TypeError(f"coeffs must be a real floating array, got dtype {dt}")
    return lmax_of(shape[-2])


def inverse_transform(coeffs, xyz, grid, chunk=65536):
    """Real-space values f(r) at arbitrary points from coefficients G.

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, n_channels)
        Real coefficients (may be an autograd box: differentiable w.r.t. them).
    xyz : array, shape (..., n_points, 3)
        Points relative to the expansion centre, in the frame of the
        coefficients.  Batch dims broadcast with those of ``coeffs``.
    grid : RadialGrid
    chunk : int
        Points evaluated per block (bounds the kernel's memory to
        chunk * n_radial * n_coef values per batch element).

    Returns
    -------
    array, shape (broadcast batch) + (n_points, n_channels)
        ``1/(2 pi^2) sum_p w_p sum_lm G_lm(rho_p) j_l(rho_p r) Y^R_lm(r_hat)``
        (see the module docstring for when this reproduces f).
    """
    lmax = _check(coeffs, grid)
    raw = getattr(coeffs, "_value", coeffs)
    xp = get_array_module(raw, xyz)
    xyz = xp.asarray(xyz, dtype=raw.dtype)
    if xyz.ndim < 2 or xyz.shape[-1] != 3:
        raise ValueError(f"xyz must have shape (..., n_points, 3), got {xyz.shape}")
    n = xyz.shape[-2]
    if n <= chunk:
        return _inverse(coeffs, inverse_basis(xyz, grid, lmax))
    parts = [_inverse(coeffs, inverse_basis(xyz[..., s:s + chunk, :], grid, lmax))
             for s in range(0, n, chunk)]
    if any(hasattr(p, "_value") for p in parts):
        import autograd.numpy as anp
        return anp.concatenate(parts, axis=-2)
    return xp.concatenate(parts, axis=-2)


def grid_points(origin, voxel_size, shape, xp=np, dtype=np.float64):
    """Coordinates of the voxel centres of a regular grid, shape ``shape + (3,)``.

    Voxel (i, j, k) is at ``origin + (i, j, k) * voxel_size`` (x index first).
    """
    origin = np.broadcast_to(np.asarray(origin, dtype=np.float64), (3,))
    voxel = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
    if not (voxel > 0).all():
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive integers, got {shape}")
    axes = [xp.asarray(origin[a] + np.arange(shape[a]) * voxel[a], dtype=dtype) for a in range(3)]
    mesh = xp.meshgrid(*axes, indexing="ij")
    return xp.stack(mesh, axis=-1)


def inverse_on_grid(coeffs, grid, origin, voxel_size, shape, chunk=65536):
    """f(r) on a regular 3D grid (voxel (i, j, k) at origin + (i, j, k) * voxel_size).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, n_channels)
    grid : RadialGrid
    origin : sequence of 3 floats
        Position of voxel (0, 0, 0) relative to the expansion centre, in the
        frame of the coefficients.
    voxel_size : float or 3 floats
    shape : (nx, ny, nz)
    chunk : int
        See :func:`inverse_transform`.

    Returns
    -------
    array, shape coeffs.shape[:-3] + (nx, ny, nz, n_channels)
    """
    raw = getattr(coeffs, "_value", coeffs)
    xp = get_array_module(raw)
    _check(coeffs, grid)
    pts = grid_points(origin, voxel_size, tuple(shape), xp, raw.dtype).reshape(-1, 3)
    vals = inverse_transform(coeffs, pts, grid, chunk=chunk)
    return vals.reshape(raw.shape[:-3] + tuple(shape) + (raw.shape[-1],))
