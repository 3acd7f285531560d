"""Switching from the continuous to the discrete representation (paper Eqs. 10-11).

Eq. 10 projects each channel of f on a filter function, h = int f(r) w(r) dr.
We implement the general linear form with channel mixing::

    h_o = sum_c int f_c(r) w_{c,o}(r) dr
        = (2 pi)^-3 sum_c sum_p w_p sum_lm F_lm,c(rho_p) W_lm,c,o(rho_p),   w_p = rho_p^2 drho,

by Parseval's identity (Eq. 11).  Eq. 11 as printed omits the (2 pi)^-3 of
Parseval's identity for F(k) = int f exp(-i k.r) dr; we keep it so that h is
the real-space integral of Eq. 10 (it could be absorbed into W, but then the
filter coefficients would not be those of w(r)).  In the real basis of
:mod:`fourier6d.expansion`, sum_m F_lm conj(W_lm) (complex) equals
sum_m G^F_lm G^W_lm (real), because the change of basis is unitary.

Eq. 10's element-wise product (one filter per channel, C_out = C_in) is the
special case of a W that is diagonal in (c, o).
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp

from ._backend import get_array_module
from .normalization import _check_coeffs, _dtype_of, parseval_weights

__all__ = ["switch_to_vector"]


def _flatten(x, filt, pw):
    """Coefficients as (..., P*Q*C) and the measure-weighted filter as (P*Q*C, O)."""
    n_radial, n_coef, c_in, c_out = filt.shape
    wf = (filt * pw[:, None, None, None]).reshape(n_radial * n_coef * c_in, c_out)
    xf = x.reshape(x.shape[:-3] + (n_radial * n_coef * c_in,))
    return xf, wf


@primitive
def _switch(x, filt, pw):
    xf, wf = _flatten(x, filt, pw)
    return xf @ wf


def _vjp_x(ans, x, filt, pw):
    _, wf = _flatten(x, filt, pw)
    return lambda g: (g @ wf.T).reshape(x.shape)


def _vjp_filt(ans, x, filt, pw):
    xf, _ = _flatten(x, filt, pw)

    def vjp(g):
        xm = xf.reshape(-1, xf.shape[-1])
        gm = g.reshape(-1, g.shape[-1])
        return (xm.T @ gm).reshape(filt.shape) * pw[:, None, None, None]
    return vjp


defvjp(_switch, _vjp_x, _vjp_filt)


def switch_to_vector(coeffs, filters, grid):
    """Project coefficient functions on filter functions: Eqs. 10-11.

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, C_in)
        Real coefficients F of the input functions.
    filters : array, shape (n_radial, n_coef, C_in, C_out)
        Real coefficients W of the (trainable) filter functions w_{c,o}.
    grid : RadialGrid

    Returns
    -------
    array, shape (..., C_out)
        ``h_o = (2 pi)^-3 sum_c sum_p w_p sum_lm F_lm,c(rho_p) W_lm,c,o(rho_p)``
        = ``sum_c int f_c w_{c,o} dr``.

    Notes
    -----
    One GEMM of (batch, P*Q*C_in) by (P*Q*C_in, C_out).  An autograd
    primitive with explicit VJPs w.r.t. ``coeffs`` and ``filters``.
    """
    _check_coeffs(coeffs, grid)
    fshape = getattr(filters, "shape", None)
    if fshape is None or len(fshape) != 4:
        raise ValueError(f"filters must have shape (n_radial, n_coef, C_in, C_out), got {fshape}")
    if tuple(fshape[:3]) != tuple(coeffs.shape[-3:]):
        raise ValueError(f"filters shape {fshape} does not match coeffs {coeffs.shape[-3:]} "
                         "in (n_radial, n_coef, C_in)")
    if np.dtype(_dtype_of(filters)) != np.dtype(_dtype_of(coeffs)):
        raise TypeError(f"filters dtype {_dtype_of(filters)} differs from coeffs {_dtype_of(coeffs)}")
    xp = get_array_module(coeffs, filters)
    pw = parseval_weights(grid, xp, _dtype_of(coeffs))
    return _switch(coeffs, filters, pw)
