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

from . import _numba_kernels
from ._backend import get_array_module, unbroadcast
from .harmonics import real_sph_harm, spherical_jn, degrees, n_coef
from .radial import RadialGrid

__all__ = ["bessel_harmonic_basis", "point_basis", "expand_points", "contract_basis"]


def _check_basis_args(xyz, grid, lmax):
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if not isinstance(lmax, (int, np.integer)) or isinstance(lmax, bool) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative int, got {lmax!r}")
    xp = get_array_module(xyz)
    xyz = xp.asarray(xyz)
    if xyz.dtype.kind not in "fiu":
        raise TypeError(f"xyz must be a real array, got dtype {xyz.dtype}")
    if xyz.dtype.kind != "f":
        xyz = xyz.astype(np.float64)
    if xyz.ndim < 1 or xyz.shape[-1] != 3:
        raise ValueError(f"xyz must have shape (..., 3), got {xyz.shape}")
    return xp, xyz, int(lmax)


def _reference_basis(xyz, grid, lmax, radial_factor):
    """Array-agnostic (NumPy/CuPy) kernel: j_l(rho_p r) Y^R_lm(r_hat) times radial_factor[p].

    The reference for :mod:`fourier6d._numba_kernels` (single source of
    truth); ``radial_factor`` is an array of shape (n_radial,) in the dtype of
    ``xyz`` or None (no factor).
    """
    xp = get_array_module(xyz)
    rho = grid.points(xp, xyz.dtype)                               # (P,)
    r = xp.sqrt(xp.sum(xyz * xyz, axis=-1))                        # (...)
    Y = real_sph_harm(lmax, xyz)                                   # (..., Q)
    jl = spherical_jn(lmax, r[..., None] * rho)                    # (..., P, L+1)
    if radial_factor is not None:
        jl = jl * radial_factor[:, None]
    l_of_q = xp.asarray(degrees(lmax))
    return jl[..., l_of_q] * Y[..., None, :]                       # (..., P, Q)


def _use_numba(xyz):
    return _numba_kernels.AVAILABLE and isinstance(xyz, np.ndarray)


def _basis(xyz, grid, lmax, radial_factor, dtype, mask):
    """Shared body of :func:`bessel_harmonic_basis` and :func:`point_basis`.

    ``radial_factor`` is a host float64 array (n_radial,) or None; ``dtype``
    the output dtype (None: that of ``xyz``); ``mask`` (...,) bool or None.
    """
    xp, xyz, lmax = _check_basis_args(xyz, grid, lmax)
    out_dtype = xyz.dtype if dtype is None else np.dtype(dtype)
    if out_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {out_dtype}")
    if mask is not None:
        mask = xp.asarray(mask)
        if mask.shape != xyz.shape[:-1]:
            raise ValueError(f"mask must have shape {xyz.shape[:-1]}, got {mask.shape}")
        mask = mask.astype(bool, copy=False)
    lead = xyz.shape[:-1]
    shape = lead + (grid.n_radial, n_coef(lmax))
    if _use_numba(xyz):
        flat = xyz.reshape(-1, 3)
        factor = np.ones(grid.n_radial) if radial_factor is None else radial_factor
        if mask is None:
            out = np.empty((flat.shape[0],) + shape[-2:], dtype=out_dtype)
            _numba_kernels.basis_into(flat, grid.points(), factor, lmax, out)
        else:
            out = np.zeros((flat.shape[0],) + shape[-2:], dtype=out_dtype)
            _numba_kernels.basis_into(flat, grid.points(), factor, lmax, out,
                                      index=np.flatnonzero(mask.reshape(-1)))
        return out.reshape(shape)
    factor = None if radial_factor is None else xp.asarray(radial_factor).astype(xyz.dtype)
    out = _reference_basis(xyz, grid, lmax, factor)
    if mask is not None:
        out = xp.where(mask[..., None, None], out, xp.zeros((), dtype=out.dtype))
    return out.astype(out_dtype, copy=False)


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

    Notes
    -----
    NumPy inputs use the fused Numba kernel of :mod:`fourier6d._numba_kernels`
    when Numba is importable (computed in float64, written in the dtype of
    ``xyz``); otherwise, and for CuPy, the array-agnostic composition of
    :func:`~fourier6d.harmonics.real_sph_harm` and
    :func:`~fourier6d.harmonics.spherical_jn` (the reference; both agree to
    ~1e-13 in float64).
    """
    return _basis(xyz, grid, lmax, None, None, None)


def gaussian_radial_factor(grid, sigma):
    """``4 pi (sqrt(2 pi) sigma)^3 exp(-sigma^2 rho_p^2 / 2)`` of Eq. 2, host float64 (n_radial,)."""
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    rho = grid.points(np, np.float64)
    return 4.0 * math.pi * (math.sqrt(2.0 * math.pi) * sigma) ** 3 * np.exp(-0.5 * (sigma * rho) ** 2)


def point_basis(xyz, grid, lmax, sigma, *, dtype=None, mask=None):
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
    dtype : float32 or float64, optional
        dtype of the result (default: that of ``xyz``, float64 for integer
        input).  With the Numba kernel the basis is always computed in
        float64 and written directly in ``dtype`` (no float64 temporary).
    mask : array of bool, shape (...), optional
        Points to evaluate; the basis of the others (padding slots) is 0.

    Returns
    -------
    array, shape (..., n_radial, (lmax+1)**2)
        ``4 pi j_l(rho_p r) Y^R_lm(r_hat) (sqrt(2 pi) sigma)^3 exp(-sigma^2 rho_p^2 / 2)``.
        Contracting it with per-point features gives :func:`expand_points`.

    Notes
    -----
    Same dispatch as :func:`bessel_harmonic_basis` (Numba kernel for NumPy
    inputs, array-agnostic reference otherwise).
    """
    if (isinstance(sigma, (bool, str)) or not np.isscalar(sigma)
            or not np.isreal(sigma) or not np.isfinite(sigma) or sigma <= 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    return _basis(xyz, grid, lmax, gaussian_radial_factor(grid, float(sigma)), dtype, mask)


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
        return unbroadcast(out, shape)
    return vjp


def _contract_vjp_features(ans, basis, features):
    shape, dtype = features.shape, features.dtype

    def vjp(g):
        xp = get_array_module(g, basis)
        n = basis.shape[-3]
        flat = basis.reshape(basis.shape[:-3] + (n, -1))                   # (..., N, PQ)
        gf = g.reshape(g.shape[:-3] + (-1, g.shape[-1]))                   # (..., PQ, C)
        return unbroadcast(xp.matmul(flat, gf), shape).astype(dtype, copy=False)
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
