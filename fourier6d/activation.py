"""The normalization-activation block (paper Eqs. 8-9).

With a trainable bias function b (coefficients B) and the normalization N of
Eq. 7 (:func:`fourier6d.normalization.normalize`)::

    f_a = a N(f + b),   a = 1/4 int (N(f + b) - N(b))^2 dr          (Eq. 8)

per channel.  In coefficients (Eq. 9) the integral is Parseval's sum; we use
the *same* measure that N normalises with::

    a = 1/4 (2 pi)^-3 sum_p w_p sum_lm (N(F + B) - N(B))_lm(rho_p)^2,  w_p = rho_p^2 drho.

Eq. 9 as printed omits the (2 pi)^-3 of Parseval's identity (for
F(k) = int f exp(-i k.r) dr, int f^2 dr = (2 pi)^-3 int |F|^2 dk).  It is needed
for a to lie in [0, 1]: N makes ||N(.)||^2 = 1 in this measure, so
||N(F+B) - N(B)||^2 = 2 - 2 <N(F+B), N(B)> lies in [0, 4] by Cauchy-Schwarz
(up to the eps of N, which makes the norms S/(S+eps) <= 1 and keeps a <= 1).

Consequences (per channel, ignoring the DC coefficient that N zeroes):

* a = 0 when F + B = c B with c > 0, i.e. F = K B with K > -1 (the paper's
  "coherent" case K > 0 included): the signal does not pass.
* a = 1 when F + B = -c B with c > 0, i.e. F = -K B with K > 1 (anti-coherent
  and stronger than the bias); for 0 < K < 1, F = -K B gives a = 0 again, and
  K = 1 gives F + B = 0, which N maps to 0 (a = 1/4 ||N(B)||^2 = 1/4).
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp_argnums

from . import _numba_activation
from ._backend import get_array_module
from .normalization import (_check_coeffs, _dtype_of, parseval_weights,
                            normalize_forward, normalize_backward)

__all__ = ["activation", "activation_gain"]


def _forward(x, bias, pw, eps):
    """Raw-array forward pass.  Returns everything the VJP needs."""
    y, s_y = normalize_forward(x + bias, pw, eps)        # (..., P, Q, C)
    z, s_z = normalize_forward(bias, pw, eps)            # (P, Q, C)
    d = y - z
    gain = 0.25 * ((d * d).sum(axis=-2, keepdims=True) * pw[:, None, None]).sum(
        axis=-3, keepdims=True)                          # (..., 1, 1, C)
    return gain * y, (y, s_y, z, s_z, d, gain)


def _backward(g, cache, pw, n_lead):
    """Cotangents of (x, bias) for cotangent g of the output."""
    y, s_y, z, s_z, d, gain = cache
    gy_dot = (g * y).sum(axis=(-3, -2), keepdims=True)   # <g, y> per (batch, channel)
    da = 0.5 * pw[:, None, None] * d                     # d gain / d y  (= -d gain / d z)
    grad_y = gain * g + da * gy_dot
    grad_z = -(da * gy_dot)
    grad_xb = normalize_backward(grad_y, y, s_y, pw)     # w.r.t. x + bias
    axes = tuple(range(n_lead))
    grad_z = grad_z.sum(axis=axes) if axes else grad_z
    grad_b = (grad_xb.sum(axis=axes) if axes else grad_xb) + normalize_backward(grad_z, z, s_z, pw)
    return grad_xb, grad_b


@primitive
def _activation(x, bias, pw, eps):
    if _numba_activation.applicable(x, bias):
        z, _ = normalize_forward(bias, pw, eps)
        return _numba_activation.forward(x, bias, z, pw, eps)
    return _forward(x, bias, pw, eps)[0]


def _vjp_argnums(argnums, ans, args, kwargs):
    # one forward cache and one backward pass for the cotangents of x and bias together
    # (separate VJP makers per argument would run both twice)
    x, bias, pw, eps = args
    if _numba_activation.applicable(x, bias):
        z, s_z = normalize_forward(bias, pw, eps)

        def fused(g):
            grad_x, rows_b, grad_z = _numba_activation.backward(g, x, bias, z, pw, eps)
            grad_b = rows_b.astype(bias.dtype) + normalize_backward(grad_z.astype(bias.dtype), z,
                                                                    s_z, pw)
            grads = (grad_x, grad_b)
            return tuple(grads[a] for a in argnums)
        return fused
    _, cache = _forward(x, bias, pw, eps)
    n_lead = x.ndim - 3

    def vjp(g):
        grads = _backward(g, cache, pw, n_lead)
        return tuple(grads[a] for a in argnums)
    return vjp


defvjp_argnums(_activation, _vjp_argnums)


def _check_bias(coeffs, bias, grid):
    _check_coeffs(bias, grid, name="bias")
    if len(bias.shape) != 3:
        raise ValueError(f"bias must have shape (n_radial, n_coef, C), got {bias.shape}")
    if tuple(bias.shape) != tuple(coeffs.shape[-3:]):
        raise ValueError(f"bias shape {bias.shape} does not match coeffs {coeffs.shape[-3:]}")
    if np.dtype(_dtype_of(bias)) != np.dtype(_dtype_of(coeffs)):
        raise TypeError(f"bias dtype {_dtype_of(bias)} differs from coeffs {_dtype_of(coeffs)}")


def activation(coeffs, bias, grid, eps=1e-12):
    """Normalization-activation block, ``a * N(F + B)`` (paper Eqs. 8-9).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, C)
        Input coefficients F (real basis).
    bias : array, shape (n_radial, n_coef, C)
        Trainable bias coefficients B, shared by all leading (batch) entries.
    grid : RadialGrid
        Radial grid of the coefficients.
    eps : float
        Zero-norm guard of :func:`fourier6d.normalization.normalize`.

    Returns
    -------
    array, shape of ``coeffs``
        ``a[..., c] * N(F + B)[..., c]`` with the per-channel gain a in [0, 1]
        (see :func:`activation_gain` and the module docstring).

    Notes
    -----
    An autograd primitive with explicit VJPs w.r.t. ``coeffs`` and ``bias``,
    written with the array module of the inputs.
    """
    _check_coeffs(coeffs, grid)
    _check_bias(coeffs, bias, grid)
    if not (eps >= 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a finite non-negative number, got {eps}")
    xp = get_array_module(coeffs, bias)
    pw = parseval_weights(grid, xp, _dtype_of(coeffs))
    return _activation(coeffs, bias, pw, float(eps))


def activation_gain(coeffs, bias, grid, eps=1e-12):
    """The gain ``a = 1/4 ||N(F+B) - N(B)||^2`` of Eq. 9, shape ``(..., C)``.

    Not differentiable (diagnostics and tests); raw arrays only.
    """
    _check_coeffs(coeffs, grid)
    _check_bias(coeffs, bias, grid)
    xp = get_array_module(coeffs, bias)
    pw = parseval_weights(grid, xp, _dtype_of(coeffs))
    gain = _forward(getattr(coeffs, "_value", coeffs), getattr(bias, "_value", bias),
                    pw, float(eps))[1][5]
    return gain[..., 0, 0, :]
