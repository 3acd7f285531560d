"""Spherical Fourier expansion of Gaussian-smeared point sets (paper Eqs. 1-2).

The function  f(r) = sum_n t_n exp(-|r - r_n|^2 / (2 sigma^2))  (Eq. 1) has the
Fourier transform  F(k) = int f(r) exp(-i k.r) dr  whose spherical-harmonic
coefficients on the shell |k| = rho are (Eq. 2)::

    F_l^k(rho) = 4 pi (-i)^l sum_n j_l(rho r_n) conj(Y_l^k(r_n)) (sqrt(2 pi) sigma)^3
                 exp(-sigma^2 rho^2 / 2) t_n

We store the real coefficients ``G_lm(rho) = i^l (conj(U_l) F_l)_m`` (see
:mod:`fourier6d.harmonics` for U), which for real t_n are real::

    G_lm(rho) = 4 pi sum_n j_l(rho r_n) Y^R_lm(r_n) (sqrt(2 pi) sigma)^3
                exp(-sigma^2 rho^2 / 2) t_n

Layout of every coefficient array in :mod:`fourier6d`:
``(..., n_radial, n_coef, n_channels)`` with ``n_coef = (lmax + 1)**2``.
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import get_array_module
from .harmonics import real_sph_harm, spherical_jn, degrees

__all__ = ["point_basis", "expand_points"]


def point_basis(xyz, grid, lmax, sigma):
    """Per-point expansion basis of Eq. 2 (the part that does not depend on t_n).

    Parameters
    ----------
    xyz : array, shape (..., 3)
        Point positions relative to the expansion centre, in the frame of
        the expansion (Angstrom).
    grid : RadialGrid
        Radial points rho_p.
    lmax : int
        Maximum degree L.
    sigma : float
        Gaussian width of each point (Angstrom).

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2)
        ``4 pi j_l(rho_p r) Y^R_lm(r_hat) (sqrt(2 pi) sigma)^3 exp(-sigma^2 rho_p^2 / 2)``.
        Contracting it with per-point features gives :func:`expand_points`.
    """
    xp = get_array_module(xyz)
    xyz = xp.asarray(xyz)
    if xyz.dtype.kind != "f":
        xyz = xyz.astype(np.float64)
    dtype = xyz.dtype
    rho = grid.points(xp, dtype)                                   # (P,)
    r = xp.sqrt(xp.sum(xyz * xyz, axis=-1))                        # (...)
    Y = real_sph_harm(lmax, xyz)                                   # (..., Q)
    jl = spherical_jn(lmax, r[..., None] * rho)                    # (..., P, L+1)
    l_of_q = xp.asarray(degrees(lmax))
    radial = jl[..., l_of_q]                                       # (..., P, Q)
    gauss = (4.0 * math.pi * (math.sqrt(2.0 * math.pi) * sigma) ** 3
             * xp.exp(-0.5 * (sigma * rho) ** 2)).astype(dtype)      # (P,)
    return radial * Y[..., None, :] * gauss[:, None]


def expand_points(xyz, features, grid, lmax, sigma, mask=None):
    """Expansion coefficients of Gaussian-smeared points with features (Eqs. 1-2).

    Parameters
    ----------
    xyz : array, shape (..., n_points, 3)
        Point positions relative to the expansion centre.
    features : array, shape (..., n_points, n_channels)
        Feature vectors t_n.
    grid : RadialGrid
    lmax : int
    sigma : float
    mask : array of bool, shape (..., n_points), optional
        Points to include (padding entries are False).

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2, n_channels)
        Real coefficients G (see module docstring).
    """
    xp = get_array_module(xyz, features)
    basis = point_basis(xyz, grid, lmax, sigma)                    # (..., N, P, Q)
    features = xp.asarray(features, dtype=basis.dtype)
    if mask is not None:
        features = features * xp.asarray(mask)[..., None]
    lead = basis.shape[:-3]
    n, p, q = basis.shape[-3:]
    out = xp.matmul(xp.swapaxes(basis.reshape(lead + (n, p * q)), -1, -2), features)
    return out.reshape(lead + (p, q, features.shape[-1]))
