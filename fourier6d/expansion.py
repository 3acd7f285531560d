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
from autograd.extend import primitive, defvjp

from ._backend import get_array_module
from .harmonics import real_sph_harm, spherical_jn, degrees
from .radial import RadialGrid

__all__ = ["bessel_harmonic_basis", "point_basis", "expand_points", "contract_basis"]


def bessel_harmonic_basis(xyz, grid, lmax):
    """The plane-wave kernel j_l(rho_p r) Y^R_lm(r_hat) of every expansion operator.

    Parameters
    ----------
    xyz : array, shape (..., 3)
        Positions relative to the expansion centre (Angstrom).
    grid : RadialGrid
    lmax : int

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2)
        Same array module and floating dtype as ``xyz`` (float64 for
        integer input).  From exp(-i k.r) = 4 pi sum_lm (-i)^l j_l(k r)
        Y^R_lm(k_hat) Y^R_lm(r_hat): :func:`point_basis` (Eq. 2), the inverse
        transform (:mod:`fourier6d.inverse`) and the density-map expansion
        (:mod:`fourier6d.density`) are this kernel times constant factors.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    xp = get_array_module(xyz)
    xyz = xp.asarray(xyz)
    if xyz.dtype.kind != "f":
        xyz = xyz.astype(np.float64)
    if xyz.ndim < 1 or xyz.shape[-1] != 3:
        raise ValueError(f"xyz must have shape (..., 3), got {xyz.shape}")
    rho = grid.points(xp, xyz.dtype)                               # (P,)
    r = xp.sqrt(xp.sum(xyz * xyz, axis=-1))                        # (...)
    Y = real_sph_harm(lmax, xyz)                                   # (..., Q)
    jl = spherical_jn(lmax, r[..., None] * rho)                    # (..., P, L+1)
    l_of_q = xp.asarray(degrees(lmax))
    return jl[..., l_of_q] * Y[..., None, :]                       # (..., P, Q)


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
    basis = bessel_harmonic_basis(xyz, grid, lmax)
    xp = get_array_module(basis)
    rho = grid.points(xp, basis.dtype)
    gauss = (4.0 * math.pi * (math.sqrt(2.0 * math.pi) * sigma) ** 3
             * xp.exp(-0.5 * (sigma * rho) ** 2)).astype(basis.dtype)  # (P,)
    return basis * gauss[:, None]


def _unbroadcast(x, shape):
    """Sum ``x`` over the axes broadcast to reach its shape from ``shape``."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and x.shape[i] != 1:
            x = x.sum(axis=i, keepdims=True)
    return x


def _contract_forward(basis, features):
    xp = get_array_module(basis, features)
    lead = basis.shape[:-3]
    n, p, q = basis.shape[-3:]
    flat = xp.swapaxes(basis.reshape(lead + (n, p * q)), -1, -2)          # (..., PQ, N)
    out = xp.matmul(flat, features.astype(basis.dtype, copy=False))        # (..., PQ, C)
    return out.reshape(out.shape[:-2] + (p, q, features.shape[-1]))


@primitive
def _contract(basis, features):
    return _contract_forward(basis, features)


def _contract_vjp_basis(ans, basis, features):
    shape = basis.shape

    def vjp(g):
        xp = get_array_module(g, features)
        gf = g.reshape(g.shape[:-3] + (-1, g.shape[-1]))                   # (..., PQ, C)
        out = xp.matmul(features.astype(g.dtype, copy=False), xp.swapaxes(gf, -1, -2))
        out = out.reshape(out.shape[:-1] + shape[-2:])                     # (..., N, P, Q)
        return _unbroadcast(out, shape)
    return vjp


def _contract_vjp_features(ans, basis, features):
    shape, dtype = features.shape, features.dtype

    def vjp(g):
        xp = get_array_module(g, basis)
        n = basis.shape[-3]
        flat = basis.reshape(basis.shape[:-3] + (n, -1))                   # (..., N, PQ)
        gf = g.reshape(g.shape[:-3] + (-1, g.shape[-1]))                   # (..., PQ, C)
        return _unbroadcast(xp.matmul(flat, gf), shape).astype(dtype, copy=False)
    return vjp


defvjp(_contract, _contract_vjp_basis, _contract_vjp_features)


def contract_basis(basis, features):
    """Sum of per-point basis times features: the t_n sum of Eq. 2.

    Parameters
    ----------
    basis : array, shape (..., n_points, n_radial, n_coef)
        :func:`point_basis` of the points.
    features : array, shape (..., n_points, n_channels)
        Feature vectors t_n (batch dims broadcast with those of ``basis``).

    Returns
    -------
    array, shape (..., n_radial, n_coef, n_channels)
        ``sum_n basis[..., n, p, q] features[..., n, c]`` in the dtype of ``basis``.

    Notes
    -----
    An autograd primitive with VJPs w.r.t. both arguments (one batched GEMM
    each), written with the array module of the inputs.
    """
    bs = getattr(basis, "shape", None)
    fs = getattr(features, "shape", None)
    if bs is None or len(bs) < 3:
        raise ValueError(f"basis must have shape (..., n_points, n_radial, n_coef), got {bs}")
    if fs is None or len(fs) < 2:
        raise ValueError(f"features must have shape (..., n_points, n_channels), got {fs}")
    if fs[-2] != bs[-3]:
        raise ValueError(f"features have {fs[-2]} points, basis has {bs[-3]}")
    try:
        np.broadcast_shapes(bs[:-3], fs[:-2])
    except ValueError:
        raise ValueError(f"batch shapes of basis {bs[:-3]} and features {fs[:-2]} "
                         "do not broadcast") from None
    for name, a in (("basis", basis), ("features", features)):
        dt = np.dtype(getattr(a, "_value", a).dtype)
        if dt.kind not in "fiub":
            raise TypeError(f"{name} must be a real array, got dtype {dt}")
    return _contract(basis, features)


def expand_points(xyz, features, grid, lmax, sigma, mask=None):
    """Expansion coefficients of Gaussian-smeared points with features (Eqs. 1-2).

    Parameters
    ----------
    xyz : array, shape (..., n_points, 3)
        Point positions relative to the expansion centre.
    features : array, shape (..., n_points, n_channels)
        Feature vectors t_n (may be an autograd box: the result is
        differentiable w.r.t. the features).
    grid : RadialGrid
    lmax : int
    sigma : float
    mask : array of bool, shape (..., n_points), optional
        Points to include (padding entries are False).

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2, n_channels)
        Real coefficients G (see module docstring), dtype of ``xyz`` (float64
        for integer input).

    Notes
    -----
    ``contract_basis(point_basis(xyz, ...), features)``; differentiable
    w.r.t. ``features`` (not w.r.t. ``xyz``).
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    xp = get_array_module(xyz, features)
    basis = point_basis(getattr(xyz, "_value", xyz), grid, lmax, sigma)   # (..., N, P, Q)
    if not hasattr(getattr(features, "_value", features), "dtype"):
        features = xp.asarray(features, dtype=basis.dtype)
    if mask is not None:
        features = features * xp.asarray(mask)[..., None].astype(basis.dtype)
    return contract_basis(basis, features)
