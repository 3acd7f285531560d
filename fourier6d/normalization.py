"""Normalization of spherical Fourier coefficients (paper Eq. 7).

Eq. 7 sets the l = k = rho = 0 coefficient (the integral of f, its "mean"
part) to zero and divides the rest element-wise (per channel) by S_2, the
integral of the squared, mean-free signal.  The text says the result has
"unit variance"; dividing by S_2 itself would give int f_n^2 = 1 / S_2, so we
divide by **sqrt(S_2)**, which is what makes int f_n^2 dr = 1 (and makes the
operator scale invariant, N(a F) = N(F) for a > 0, as Eq. 9 needs).

S_2 is computed in Fourier space by Parseval's identity on the quadrature of
:class:`fourier6d.radial.RadialGrid`::

    int f^2 dr = (2 pi)^-3 int rho^2 sum_lm G_lm(rho)^2 drho
              ~= (2 pi)^-3 sum_p w_p sum_lm G_lm(rho_p)^2,   w_p = rho_p^2 drho.

Notes on the "mean" part.  With the first radial point rho_0 = 0, G_00(0) =
sqrt(4 pi) int f dr (only l = 0 survives at rho = 0) and zeroing it is Eq. 7's
first case.  Its quadrature weight is w_0 = 0, so it never enters the norm
above (the norm *is* the variance of the mean-free signal) nor any other
Parseval sum of the library; zeroing it keeps the stored coefficients
consistent with a zero-integral function.  The paper's S_1 is an integral,
not a mean over a finite domain; in the continuous (unbounded) representation
used here, "mean-free" means exactly "F(k = 0) = 0".
"""
from __future__ import annotations

import math

import numpy as np
from autograd.extend import primitive, defvjp

from . import _numba_norm
from ._backend import get_array_module
from .radial import RadialGrid

__all__ = ["normalize", "parseval_weights", "parseval_norm2", "PARSEVAL_FACTOR"]

#: (2 pi)^-3, the factor of Parseval's identity for F(k) = int f exp(-i k.r) dr.
PARSEVAL_FACTOR = (2.0 * math.pi) ** -3


def _dtype_of(x):
    return getattr(x, "_value", x).dtype


def parseval_weights(grid, xp=np, dtype=np.float64):
    """Per-shell measure ``(2 pi)^-3 w_p`` of Parseval sums, shape ``(n_radial,)``.

    ``sum_p parseval_weights[p] sum_lm G_lm(rho_p) H_lm(rho_p)`` approximates
    ``int f(r) h(r) dr`` for real functions f, h with real coefficients G, H.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    return grid.weights(xp, dtype) * PARSEVAL_FACTOR


def _check_coeffs(coeffs, grid, name="coeffs"):
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    shape = getattr(coeffs, "shape", None)
    if shape is None or len(shape) < 3:
        raise ValueError(f"{name} must have shape (..., n_radial, n_coef, n_channels), "
                         f"got {shape}")
    if shape[-3] != grid.n_radial:
        raise ValueError(f"{name} has {shape[-3]} radial points, grid has {grid.n_radial}")
    q = shape[-2]
    if int(round(math.sqrt(q))) ** 2 != q:
        raise ValueError(f"{name}: n_coef = {q} is not (lmax + 1)**2")
    if np.dtype(_dtype_of(coeffs)).kind != "f":
        raise TypeError(f"{name} must be a real floating array, got dtype {_dtype_of(coeffs)}")


def parseval_norm2(coeffs, grid):
    """Per-channel int f^2 dr by Parseval, shape ``coeffs.shape[:-3] + (C,)``.

    Differentiable with autograd (plain array operations).
    """
    _check_coeffs(coeffs, grid)
    xp = get_array_module(coeffs)
    w = parseval_weights(grid, xp, _dtype_of(coeffs))
    return (((coeffs * coeffs).sum(axis=-2)) * w[:, None]).sum(axis=-2)


# ---------------------------------------------------------------- kernels
# The forward and backward kernels work on raw arrays (no autograd boxes) and
# use the array module of their inputs; activation.py reuses them.

def _dc_mask(xp, n_radial, n_coef, dtype):
    """1 everywhere except the (rho = 0, l = 0) coefficient."""
    mask = xp.ones((n_radial, n_coef, 1), dtype=dtype)
    mask[0, 0, 0] = 0
    return mask


def normalize_forward(x, pw, eps):
    """Eq. 7 on raw arrays.  Returns ``(y, scale)``, scale = sqrt(S_2 + eps).

    ``pw`` is :func:`parseval_weights` (shape (P,)); ``scale`` has shape
    ``x.shape[:-3] + (1, 1, C)``.
    """
    if _numba_norm.applicable(x):
        return _numba_norm.forward(x, pw, eps)
    xp = get_array_module(x)
    xm = x * _dc_mask(xp, x.shape[-3], x.shape[-2], x.dtype)
    s2 = ((xm * xm).sum(axis=-2, keepdims=True) * pw[:, None, None]).sum(axis=-3, keepdims=True)
    scale = xp.sqrt(s2 + eps)
    return xm / scale, scale


def normalize_backward(g, y, scale, pw):
    """VJP of :func:`normalize_forward` w.r.t. x, given cotangent ``g`` of y.

    With y = M x / s, s^2 = sum_pq pw_p (M x)^2 + eps (M the DC mask)::

        dL/dx = (M g - pw_p y <g, y>) / s,   <g, y> = sum_pq g y  (per channel).
    """
    if _numba_norm.applicable(g, y, scale) and g.shape == y.shape:
        return _numba_norm.backward(g, y, scale, pw)
    xp = get_array_module(g, y)
    mask = _dc_mask(xp, y.shape[-3], y.shape[-2], y.dtype)
    gy = (g * y).sum(axis=(-3, -2), keepdims=True)
    return (g * mask - pw[:, None, None] * y * gy) / scale


@primitive
def _normalize(x, pw, eps):
    return normalize_forward(x, pw, eps)[0]


def _normalize_vjp(ans, x, pw, eps):
    scale = normalize_forward(x, pw, eps)[1]
    return lambda g: normalize_backward(g, ans, scale, pw)


defvjp(_normalize, _normalize_vjp)


def normalize(coeffs, grid, eps=1e-12):
    """Zero-mean, unit-norm normalization of each channel (paper Eq. 7).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, C)
        Real coefficients G (float32 or float64, NumPy or CuPy; may be an
        autograd box).
    grid : RadialGrid
        Radial grid of ``coeffs`` (its first point must be rho_0 = 0, as
        :class:`RadialGrid` guarantees).
    eps : float
        Guard against a zero norm: the divisor is ``sqrt(S_2 + eps)``, so an
        all-zero channel maps to zero (and has finite gradients).  In units
        of int f^2 dr; keep it far below the norms of real signals.

    Returns
    -------
    array, same shape and dtype
        ``G_n`` with ``G_n[..., 0, 0, :] = 0`` and, per channel,
        ``(2 pi)^-3 sum_p w_p sum_lm G_n^2 = S_2 / (S_2 + eps) ~ 1``.

    Notes
    -----
    An autograd primitive; its VJP (w.r.t. ``coeffs``) is written with the
    array module of the input.  See the module docstring for why sqrt(S_2).
    """
    _check_coeffs(coeffs, grid)
    if not (eps >= 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a finite non-negative number, got {eps}")
    xp = get_array_module(coeffs)
    pw = parseval_weights(grid, xp, _dtype_of(coeffs))
    return _normalize(coeffs, pw, float(eps))
