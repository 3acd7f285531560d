"""Gaunt coefficients: integrals of products of three spherical harmonics.

Used by the 6D convolution (paper Eq. 4, the ``c^{l2}`` products of three
spherical harmonics) and by the z-translation operator (Eq. 5).

* :func:`real_gaunt` -- the table of the REAL harmonics of
  :mod:`fourier6d.harmonics`, ``C[q1, q2, q3] = int Y^R_q1 Y^R_q2 Y^R_q3 dOmega``,
  computed by a product quadrature on the sphere (Gauss-Legendre in cos(theta)
  times the trapezoid rule in phi) that integrates every spherical polynomial
  of the needed degree exactly, so the table is exact to rounding.
* :func:`wigner_3j` and :func:`complex_gaunt` -- an independent reference
  (Racah's closed formula in exact integer arithmetic) for the complex
  harmonics with the Condon-Shortley phase (``scipy.special.sph_harm_y``),
  used by the tests and by slow reference implementations.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ._backend import cached_table
from .harmonics import n_coef, real_sph_harm

__all__ = ["sphere_quadrature", "real_gaunt_table", "real_gaunt", "wigner_3j",
           "complex_gaunt"]


def sphere_quadrature(degree):
    """Nodes and weights integrating spherical polynomials of ``degree`` exactly.

    Parameters
    ----------
    degree : int
        Maximum total degree of the integrand (e.g. ``l1 + l2 + l3``).

    Returns
    -------
    xyz : ndarray, shape (n_nodes, 3)
        Unit vectors (host float64).
    weights : ndarray, shape (n_nodes,)
        Weights summing to 4 pi.

    Notes
    -----
    ``n_theta = degree // 2 + 1`` Gauss-Legendre nodes in cos(theta) (exact to
    polynomial degree ``2 n_theta - 1 >= degree``) times ``n_phi = degree + 1``
    equispaced azimuths (exact for trigonometric degree ``<= degree``).
    """
    degree = int(degree)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    n_theta = degree // 2 + 1
    n_phi = degree + 1
    z, w_z = np.polynomial.legendre.leggauss(n_theta)
    phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
    s = np.sqrt(1.0 - z * z)
    xyz = np.stack([s[:, None] * np.cos(phi)[None, :],
                    s[:, None] * np.sin(phi)[None, :],
                    np.broadcast_to(z[:, None], (n_theta, n_phi))], axis=-1)
    weights = np.broadcast_to(w_z[:, None] * (2.0 * np.pi / n_phi), (n_theta, n_phi))
    return xyz.reshape(-1, 3), weights.reshape(-1).copy()


def real_gaunt_table(lmax1, lmax2, lmax3):
    """Real Gaunt table ``int Y^R_q1 Y^R_q2 Y^R_q3 dOmega`` (host float64).

    Parameters
    ----------
    lmax1, lmax2, lmax3 : int
        Maximum degrees of the three factors.

    Returns
    -------
    ndarray, shape ((lmax1+1)**2, (lmax2+1)**2, (lmax3+1)**2)
        Entries below 1e-14 in magnitude (zero by the selection rules, up to
        rounding of the quadrature) are set to exactly 0.
    """
    for name, v in (("lmax1", lmax1), ("lmax2", lmax2), ("lmax3", lmax3)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v}")
    xyz, w = sphere_quadrature(lmax1 + lmax2 + lmax3)
    lmax = max(lmax1, lmax2, lmax3)
    Y = real_sph_harm(lmax, xyz)
    Y1 = Y[:, :n_coef(lmax1)] * w[:, None]
    Y2 = Y[:, :n_coef(lmax2)]
    Y3 = Y[:, :n_coef(lmax3)]
    table = np.einsum("na,nb,nc->abc", Y1, Y2, Y3, optimize=True)
    table[np.abs(table) < 1e-14] = 0.0
    return table


def real_gaunt(lmax, xp=np, dtype=np.float64):
    """Cached real Gaunt table ``C[q1, q2, q3]`` for degrees ``<= lmax``.

    Parameters
    ----------
    lmax : int
    xp : module
        numpy or cupy (where the table is wanted).
    dtype : dtype

    Returns
    -------
    array, shape (Q, Q, Q), Q = (lmax+1)**2
        Symmetric in its three indices.
    """
    lmax = int(lmax)
    return cached_table("real_gaunt", lmax, lambda: real_gaunt_table(lmax, lmax, lmax),
                        xp, dtype)


def _fact(n):
    return math.factorial(n)


def wigner_3j(j1, j2, j3, m1, m2, m3):
    """Wigner 3j symbol for integer arguments, by Racah's formula.

    Exact rational arithmetic up to one final square root; returns a float.
    Zero when the selection rules (m1 + m2 + m3 = 0, triangle, |m| <= j)
    fail.
    """
    if m1 + m2 + m3 != 0:
        return 0.0
    if abs(m1) > j1 or abs(m2) > j2 or abs(m3) > j3:
        return 0.0
    if j3 < abs(j1 - j2) or j3 > j1 + j2:
        return 0.0
    triangle = Fraction(_fact(j1 + j2 - j3) * _fact(j1 - j2 + j3) * _fact(-j1 + j2 + j3),
                        _fact(j1 + j2 + j3 + 1))
    prefactor = (triangle * _fact(j1 + m1) * _fact(j1 - m1) * _fact(j2 + m2) * _fact(j2 - m2)
                 * _fact(j3 + m3) * _fact(j3 - m3))
    k_min = max(0, j2 - j3 - m1, j1 - j3 + m2)
    k_max = min(j1 + j2 - j3, j1 - m1, j2 + m2)
    total = Fraction(0)
    for k in range(k_min, k_max + 1):
        den = (_fact(k) * _fact(j3 - j2 + k + m1) * _fact(j3 - j1 + k - m2)
               * _fact(j1 + j2 - j3 - k) * _fact(j1 - k - m1) * _fact(j2 - k + m2))
        total += Fraction((-1) ** k, den)
    sign = -1 if (j1 - j2 - m3) % 2 else 1
    # sqrt(prefactor) * total, keeping the sign of total
    value = math.sqrt(prefactor) * float(total) if total != 0 else 0.0
    return sign * value


def complex_gaunt(l1, m1, l2, m2, l3, m3):
    """``int Y_l1^m1 Y_l2^m2 Y_l3^m3 dOmega`` for the complex harmonics (CS phase).

    Uses ``sqrt((2l1+1)(2l2+1)(2l3+1) / (4 pi)) (l1 l2 l3; 0 0 0)(l1 l2 l3; m1 m2 m3)``.
    """
    if m1 + m2 + m3 != 0 or (l1 + l2 + l3) % 2:
        return 0.0
    return (math.sqrt((2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1) / (4.0 * math.pi))
            * wigner_3j(l1, l2, l3, 0, 0, 0) * wigner_3j(l1, l2, l3, m1, m2, m3))
