"""Real spherical harmonics and spherical Bessel functions, array-agnostic.

Conventions (used by every operator of :mod:`fourier6d`)
--------------------------------------------------------
* Coefficients of degree ``l <= lmax`` are stored flat, index
  ``q = l*l + l + m`` (``m = -l..l``); ``n_coef(lmax) = (lmax + 1)**2``.
* Real, orthonormal spherical harmonics without the Condon-Shortley phase::

      Y_l0  = N_l0 P_l(cos t)
      Y_lm  = sqrt(2) N_lm P_l^m(cos t) cos(m phi)      (m > 0)
      Y_l-m = sqrt(2) N_lm P_l^m(cos t) sin(m phi)      (m > 0)

  with ``P_l^m`` without the (-1)^m phase and
  ``N_lm = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!)``.  In terms of the complex
  harmonics of the paper (with the Condon-Shortley phase, as in
  ``scipy.special.sph_harm_y``), ``Y^R_l = U_l Y^C_l`` with the unitary
  matrix returned by :func:`complex_to_real_matrix`.
"""
from __future__ import annotations

import math

import numpy as np

from ._backend import get_array_module

__all__ = ["n_coef", "lmax_of", "lm_index", "degrees", "orders", "real_sph_harm",
           "spherical_jn", "complex_to_real_matrix"]


def n_coef(lmax: int) -> int:
    """Number of coefficients ``(lmax + 1)**2`` up to degree ``lmax``."""
    return (int(lmax) + 1) ** 2


def lmax_of(n: int) -> int:
    """Degree L of a coefficient axis of length ``n = (L + 1)**2``; ValueError otherwise."""
    lmax = int(round(math.sqrt(n))) - 1
    if lmax < 0 or (lmax + 1) ** 2 != n:
        raise ValueError(f"n_coef = {n} is not a square (lmax + 1)**2")
    return lmax


def lm_index(l: int, m: int) -> int:
    """Flat index ``l*l + l + m`` of the coefficient (l, m)."""
    if abs(m) > l:
        raise ValueError(f"|m| must be <= l, got l={l}, m={m}")
    return l * l + l + m


def degrees(lmax: int) -> np.ndarray:
    """Degree l of each flat coefficient index (host int array)."""
    return np.concatenate([np.full(2 * l + 1, l) for l in range(lmax + 1)])


def orders(lmax: int) -> np.ndarray:
    """Order m of each flat coefficient index (host int array)."""
    return np.concatenate([np.arange(-l, l + 1) for l in range(lmax + 1)])


def real_sph_harm(lmax, xyz):
    """Real orthonormal spherical harmonics of the direction of ``xyz``.

    Parameters
    ----------
    lmax : int
        Maximum degree L.
    xyz : array, shape (..., 3)
        Vectors (need not be normalised).  The zero vector gets the direction
        +z (only l = 0 is meaningful there; radial factors vanish for l > 0).

    Returns
    -------
    array, shape (..., (lmax+1)**2)
        Same array module and (floating) dtype as ``xyz``.

    Notes
    -----
    Evaluated with Cartesian recurrences (no trigonometric calls): with
    ``A_m + i B_m = (x + i y)^m`` and ``P_l^m(z) = sin^m(t) Pi_l^m(z)``,
    ``Pi_l^m`` from the standard three-term recurrence in l.
    """
    xp = get_array_module(xyz)
    xyz = xp.asarray(xyz)
    if xyz.dtype.kind != "f":
        xyz = xyz.astype(np.float64)
    r = xp.sqrt(xp.sum(xyz * xyz, axis=-1))
    safe = r > 0
    inv = xp.where(safe, 1.0 / xp.where(safe, r, 1.0), 0.0).astype(xyz.dtype)
    x = xyz[..., 0] * inv
    y = xyz[..., 1] * inv
    z = xp.where(safe, xyz[..., 2] * inv, xp.ones_like(r))
    out = [None] * n_coef(lmax)
    # A_m, B_m for m = 0..lmax
    A = [xp.ones_like(x)]
    B = [xp.zeros_like(x)]
    for m in range(1, lmax + 1):
        A.append(x * A[m - 1] - y * B[m - 1])
        B.append(x * B[m - 1] + y * A[m - 1])
    for m in range(0, lmax + 1):
        # Pi_m^m = (2m-1)!!
        pmm = float(np.prod(np.arange(1, 2 * m, 2))) if m > 0 else 1.0
        pi_prev2 = None
        pi_prev = xp.full_like(z, pmm)
        for l in range(m, lmax + 1):
            if l == m:
                pi_l = pi_prev
            elif l == m + 1:
                pi_l = (2 * m + 1) * z * pi_prev
            else:
                pi_l = ((2 * l - 1) * z * pi_prev - (l + m - 1) * pi_prev2) / (l - m)
            norm = math.sqrt((2 * l + 1) / (4 * math.pi)
                             * math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1)))
            if m == 0:
                out[lm_index(l, 0)] = norm * pi_l
            else:
                c = math.sqrt(2.0) * norm
                out[lm_index(l, m)] = c * pi_l * A[m]
                out[lm_index(l, -m)] = c * pi_l * B[m]
            if l > m:
                pi_prev2, pi_prev = pi_prev, pi_l
            else:
                pi_prev2, pi_prev = None, pi_l
    return xp.stack(out, axis=-1)


def _jn_series(l, x2, xp, n_terms=12):
    # j_l(x) = x^l/(2l+1)!! * sum_k (-x^2/2)^k / (k! (2l+3)(2l+5)...(2l+2k+1))
    term = xp.ones_like(x2)
    total = xp.ones_like(x2)
    for k in range(1, n_terms):
        term = term * (-0.5 * x2) / (k * (2 * l + 2 * k + 1))
        total = total + term
    return total


def spherical_jn(lmax, x):
    """Spherical Bessel functions j_l(x) for l = 0..lmax, array-agnostic.

    Parameters
    ----------
    lmax : int
    x : array, shape (...)
        Non-negative arguments.

    Returns
    -------
    array, shape (..., lmax + 1)

    Notes
    -----
    Three regimes, selected element-wise with ``where`` (no host sync):
    power series for x < 1, Miller's downward recurrence normalised by the
    sum rule  sum_l (2l+1) j_l(x)^2 = 1  for 1 <= x <= l + 1, and the
    (then stable) upward recurrence from j_0 and j_1 for x > l + 1.
    Computed in float64 whatever the input dtype (the downward recurrence
    overflows float32), then cast back.  Agrees with
    :func:`scipy.special.spherical_jn` to ~1e-14 (float64).
    """
    xp = get_array_module(x)
    x = xp.asarray(x)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # the recurrences need float64 range (Miller values grow like (2N)!!/x^N)
    x = x.astype(np.float64)
    small = x < 1.0
    x_big = xp.where(small, 1.0, x)
    x2 = x * x
    # --- series (x < 1) ---
    series = []
    pw = xp.ones_like(x)
    dfact = 1.0
    for l in range(lmax + 1):
        if l > 0:
            pw = pw * x
            dfact *= (2 * l + 1)
        series.append(pw / dfact * _jn_series(l, x2, xp))
    # --- upward recurrence (stable for x > l) ---
    s, c = xp.sin(x_big), xp.cos(x_big)
    up = [s / x_big]
    if lmax >= 1:
        up.append(s / (x_big * x_big) - c / x_big)
    for l in range(1, lmax):
        up.append((2 * l + 1) / x_big * up[l] - up[l - 1])
    # --- Miller downward recurrence for 1 <= x <= lmax + 1 ---
    if lmax >= 1:
        x_mid = xp.clip(x_big, 1.0, lmax + 1.0)
        n_start = 2 * lmax + 24
        j_next = xp.zeros_like(x_mid)
        j_cur = xp.full_like(x_mid, 1e-30)
        down = [None] * (lmax + 1)
        norm = xp.zeros_like(x_mid)
        for l in range(n_start, 0, -1):
            j_prev = (2 * l + 1) / x_mid * j_cur - j_next
            if l <= lmax:
                down[l] = j_cur
            norm = norm + (2 * l + 1) * j_cur * j_cur
            j_next, j_cur = j_cur, j_prev
        down[0] = j_cur
        norm = norm + j_cur * j_cur
        scale = 1.0 / xp.sqrt(norm)
        # fix the overall sign with j_0 (the sum rule fixes only |scale|)
        sign = xp.where(j_cur * up[0] < 0, -1.0, 1.0)
        down = [d * scale * sign for d in down]
    out = []
    for l in range(lmax + 1):
        if l == 0:
            v = xp.where(small, series[0], up[0])
        else:
            v = xp.where(small, series[l], xp.where(x_big > l + 1, up[l], down[l]))
        out.append(v.astype(out_dtype, copy=False))
    return xp.stack(out, axis=-1)


def complex_to_real_matrix(l: int) -> np.ndarray:
    """Unitary ``U`` (2l+1, 2l+1) with ``Y^R_l = U @ Y^C_l`` (host, complex128).

    Rows and columns are ordered m = -l..l.  Y^C carries the
    Condon-Shortley phase (as ``scipy.special.sph_harm_y``).
    """
    U = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    s2 = 1.0 / math.sqrt(2.0)
    U[l, l] = 1.0
    for m in range(1, l + 1):
        # Y_lm  = ((-1)^m Y^C_l^m + Y^C_l^-m) / sqrt2
        U[l + m, l + m] = (-1) ** m * s2
        U[l + m, l - m] = s2
        # Y_l-m = i (Y^C_l^-m - (-1)^m Y^C_l^m) / sqrt2
        U[l - m, l - m] = 1j * s2
        U[l - m, l + m] = -1j * (-1) ** m * s2
    return U
