"""Spherical Fourier expansion of a function sampled on a regular 3D grid (density map).

For a function f given on a grid (voxel (i, j, k) at
``origin + (i, j, k) * voxel_size``, x index first), the real coefficients
(same convention as Eq. 2, :mod:`fourier6d.expansion`) around a centre c, in
a frame F (3x3, columns = local axes in global coordinates) are the voxel
quadrature of G_lm(rho) = 4 pi int f(r) j_l(rho |x|) Y^R_lm(x_hat) dr::

    G_lm(rho_p) = sum_{|r_v - c| <= r_cut} f(r_v) dV 4 pi j_l(rho_p |x_v|) Y^R_lm(x_v),
    x_v = F^T (r_v - c),   dV = voxel volume,

optionally multiplied by exp(-s^2 rho_p^2 / 2): the coefficients of f
convolved with a normalized 3D Gaussian of standard deviation s (smoothing).

Accuracy.  The integrand is smooth (j_l(rho r) Y_lm is an entire function of
x), so for a band-limited f the voxel sum is spectrally accurate: its error
is the aliasing of F(k) from k + 2 pi n / h, e.g. ~ exp(-sigma^2 (2 pi / h -
rho_max)^2 / 2) for Gaussian features of width sigma on a grid of spacing h,
plus the part of f beyond r_cut.  A map sampled too coarsely for its
features (h > sigma) gives percent-level errors at rho_max = pi / sigma.
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import get_array_module
from .expansion import bessel_harmonic_basis, contract_basis
from .radial import RadialGrid

__all__ = ["expand_density"]


def _ball_offsets(r_cut, voxel):
    """Integer voxel offsets covering any ball of radius r_cut (whatever its centre)."""
    n = np.ceil(r_cut / voxel).astype(int) + 1
    ax = [np.arange(-n[a], n[a] + 2) for a in range(3)]
    off = np.stack(np.meshgrid(*ax, indexing="ij"), -1).reshape(-1, 3)
    # keep offsets whose voxel can lie within r_cut of a centre inside voxel (0,0,0)..(1,1,1)
    d = np.maximum(np.maximum(-off, off - 1), 0) * voxel
    return off[(d ** 2).sum(1) <= r_cut ** 2 + 1e-12]


def expand_density(values, origin, voxel_size, centres, grid, lmax, r_cut, frames=None,
                   smoothing=None, chunk_elements=2 ** 22):
    """Expansion coefficients of a density map around many centres.

    Parameters
    ----------
    values : array, shape (nx, ny, nz) or (nx, ny, nz, n_channels)
        Function values at the voxel centres (NumPy or CuPy, real).
    origin : sequence of 3 floats
        Position of voxel (0, 0, 0) (Angstrom).
    voxel_size : float or 3 floats
        Grid spacing along x, y, z (Angstrom).
    centres : array, shape (..., 3)
        Expansion centres (global coordinates).
    grid : RadialGrid
    lmax : int
    r_cut : float
        Only voxels with |r_v - c| <= r_cut contribute.
    frames : array, shape (..., 3, 3), optional
        Rotation per centre, columns = local x, y, z axes in global
        coordinates (global = c + F @ local); the coefficients are those of
        f in the local frame.  Default: the global axes.
    smoothing : float, optional
        Standard deviation s of a Gaussian smoothing: coefficients are
        multiplied by exp(-s^2 rho^2 / 2).
    chunk_elements : int
        Bound on the number of kernel values held at once (centres are
        processed in blocks).

    Returns
    -------
    array, shape centres.shape[:-1] + (n_radial, (lmax+1)**2, n_channels)
        Real coefficients (n_channels = 1 for a scalar map); dtype of ``values``
        (float64 for integer maps).

    Notes
    -----
    Not differentiable (a map is input data).  Voxels outside the map count
    as zero.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    xp = get_array_module(values, centres, frames)
    values = xp.asarray(values)
    if values.dtype.kind in "iub":
        values = values.astype(np.float64)
    if values.dtype.kind != "f":
        raise TypeError(f"values must be a real array, got dtype {values.dtype}")
    if values.ndim == 3:
        values = values[..., None]
    if values.ndim != 4:
        raise ValueError(f"values must have shape (nx, ny, nz[, n_channels]), got {values.shape}")
    dtype = values.dtype
    origin = np.broadcast_to(np.asarray(origin, dtype=np.float64), (3,))
    voxel = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
    if not (voxel > 0).all() or not np.isfinite(voxel).all():
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    if not (r_cut > 0 and np.isfinite(r_cut)):
        raise ValueError(f"r_cut must be a positive number, got {r_cut}")
    if smoothing is not None and not (smoothing >= 0 and np.isfinite(smoothing)):
        raise ValueError(f"smoothing must be a non-negative number, got {smoothing}")
    centres = xp.asarray(centres, dtype=dtype)
    if centres.ndim < 1 or centres.shape[-1] != 3:
        raise ValueError(f"centres must have shape (..., 3), got {centres.shape}")
    batch = centres.shape[:-1]
    c_flat = centres.reshape(-1, 3)
    if frames is not None:
        frames = xp.asarray(frames, dtype=dtype)
        if frames.shape != batch + (3, 3):
            raise ValueError(f"frames must have shape {batch + (3, 3)}, got {frames.shape}")
        frames = frames.reshape(-1, 3, 3)

    offsets = xp.asarray(_ball_offsets(float(r_cut), voxel))          # (K, 3) int
    origin_x = xp.asarray(origin, dtype=dtype)
    voxel_x = xp.asarray(voxel, dtype=dtype)
    dims = xp.asarray(np.array(values.shape[:3]))
    n_coef = (lmax + 1) ** 2
    per_centre = offsets.shape[0] * grid.n_radial * n_coef
    step = max(1, int(chunk_elements) // max(per_centre, 1))
    rho = grid.points(xp, dtype)
    factor = 4.0 * math.pi * float(np.prod(voxel))
    radial_factor = xp.full(rho.shape, factor, dtype=dtype)
    if smoothing:
        radial_factor = radial_factor * xp.exp(-0.5 * (smoothing * rho) ** 2)

    out = []
    for s in range(0, c_flat.shape[0], step):
        c = c_flat[s:s + step]                                           # (B, 3)
        base = xp.floor((c - origin_x) / voxel_x).astype(offsets.dtype)  # (B, 3)
        idx = base[:, None, :] + offsets[None, :, :]                     # (B, K, 3)
        rel = origin_x + idx.astype(dtype) * voxel_x - c[:, None, :]     # (B, K, 3)
        inside = ((idx >= 0) & (idx < dims)).all(axis=-1)
        inside &= (rel * rel).sum(-1) <= r_cut * r_cut
        idc = xp.where(inside[..., None], idx, 0)
        vals = values[idc[..., 0], idc[..., 1], idc[..., 2]]             # (B, K, C)
        vals = vals * inside[..., None].astype(dtype)
        if frames is not None:
            rel = xp.matmul(rel, frames[s:s + step])                     # F^T (r - c)
        basis = bessel_harmonic_basis(rel, grid, lmax)                   # (B, K, P, Q)
        coeffs = contract_basis(basis, vals)                             # (B, P, Q, C)
        out.append(coeffs * radial_factor[:, None, None])
    coeffs = xp.concatenate(out, axis=0) if len(out) > 1 else out[0]
    return coeffs.reshape(batch + coeffs.shape[1:])
