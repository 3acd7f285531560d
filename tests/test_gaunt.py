"""Tests of fourier6d.gaunt.

Independent references: Racah's formula (exact arithmetic) for the Wigner 3j
symbols, tabulated 3j values, scipy's complex harmonics integrated on a fine
grid, and the complex -> real change of basis U of fourier6d.harmonics.
"""
import math

import numpy as np
import pytest
from scipy.special import sph_harm_y

from fourier6d.gaunt import (sphere_quadrature, real_gaunt_table, real_gaunt, wigner_3j,
                             complex_gaunt)
from fourier6d.harmonics import complex_to_real_matrix, real_sph_harm, degrees, orders


def test_wigner_3j_known_values():
    # tabulated values (e.g. Edmonds, Table 2)
    assert wigner_3j(1, 1, 0, 0, 0, 0) == pytest.approx(-1 / math.sqrt(3), abs=1e-15)
    assert wigner_3j(1, 1, 2, 0, 0, 0) == pytest.approx(math.sqrt(2 / 15), abs=1e-15)
    assert wigner_3j(1, 1, 1, 1, -1, 0) == pytest.approx(1 / math.sqrt(6), abs=1e-15)
    assert wigner_3j(2, 2, 2, 0, 0, 0) == pytest.approx(-math.sqrt(2 / 35), abs=1e-15)
    assert wigner_3j(1, 1, 1, 0, 0, 0) == 0.0          # odd sum, m = 0
    assert wigner_3j(1, 1, 3, 0, 0, 0) == 0.0          # triangle fails
    assert wigner_3j(2, 1, 1, 1, 1, 0) == 0.0          # m sum != 0


@pytest.mark.parametrize("j1,j2", [(2, 3), (4, 4), (5, 2)])
def test_wigner_3j_orthogonality(j1, j2):
    # sum_{m1,m2} (j1 j2 j3; m1 m2 m3)(j1 j2 j3'; m1 m2 m3') = delta/(2 j3 + 1)
    for j3 in range(abs(j1 - j2), j1 + j2 + 1):
        for m3 in range(-j3, j3 + 1):
            s = sum(wigner_3j(j1, j2, j3, m1, m2, m3) ** 2
                    for m1 in range(-j1, j1 + 1) for m2 in range(-j2, j2 + 1))
            assert s == pytest.approx(1.0 / (2 * j3 + 1), abs=1e-13)


def test_complex_gaunt_matches_fine_quadrature_of_scipy_harmonics():
    # brute force on a fine theta/phi grid (Gauss-Legendre 40 x 81 equispaced)
    z, wz = np.polynomial.legendre.leggauss(40)
    phi = 2 * np.pi * np.arange(81) / 81
    theta = np.arccos(z)[:, None]
    wts = wz[:, None] * (2 * np.pi / 81) * np.ones_like(phi)[None, :]
    cases = [(1, 0, 1, 0, 2, 0), (2, 1, 3, -2, 3, 1), (3, -3, 2, 2, 1, 1), (4, 2, 4, -1, 4, -1),
             (2, 2, 2, -2, 4, 0)]
    for l1, m1, l2, m2, l3, m3 in cases:
        y = (sph_harm_y(l1, m1, theta, phi) * sph_harm_y(l2, m2, theta, phi)
             * sph_harm_y(l3, m3, theta, phi))
        ref = np.sum(y * wts)
        assert abs(ref.imag) < 1e-13
        assert complex_gaunt(l1, m1, l2, m2, l3, m3) == pytest.approx(ref.real, abs=1e-13)


def test_sphere_quadrature_is_exact_for_products_of_harmonics():
    lmax = 5
    xyz, w = sphere_quadrature(2 * lmax)
    assert w.sum() == pytest.approx(4 * np.pi, rel=1e-14)
    Y = real_sph_harm(lmax, xyz)
    gram = (Y * w[:, None]).T @ Y
    assert np.abs(gram - np.eye(len(gram))).max() < 1e-13
    # one degree too few is not exact
    xyz, w = sphere_quadrature(2 * lmax - 2)
    Y = real_sph_harm(lmax, xyz)
    assert np.abs((Y * w[:, None]).T @ Y - np.eye(len(gram))).max() > 1e-3


@pytest.mark.parametrize("lmax", [2, 4])
def test_real_gaunt_equals_complex_gaunt_in_real_basis(lmax):
    # Y^R = U Y^C  =>  C^R[a,b,c] = sum U[a,a'] U[b,b'] U[c,c'] C^C[a',b',c']
    Q = (lmax + 1) ** 2
    Ubig = np.zeros((Q, Q), complex)
    for l in range(lmax + 1):
        Ubig[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2] = complex_to_real_matrix(l)
    L, M = degrees(lmax), orders(lmax)
    Cc = np.zeros((Q, Q, Q))
    for a in range(Q):
        for b in range(Q):
            for c in range(Q):
                Cc[a, b, c] = complex_gaunt(L[a], M[a], L[b], M[b], L[c], M[c])
    ref = np.einsum("ai,bj,ck,ijk->abc", Ubig, Ubig, Ubig, Cc)
    assert np.abs(ref.imag).max() < 1e-14
    table = real_gaunt_table(lmax, lmax, lmax)
    assert np.abs(table - ref.real).max() < 1e-14
    assert np.count_nonzero(table) > 0


def test_real_gaunt_properties():
    lmax = 4
    C = real_gaunt(lmax)
    Q = (lmax + 1) ** 2
    assert C.shape == (Q, Q, Q)
    assert np.allclose(C, C.transpose(1, 0, 2)) and np.allclose(C, C.transpose(0, 2, 1))
    # Y_00 = 1/sqrt(4 pi): C[0, a, b] = delta_ab / sqrt(4 pi)
    assert np.abs(C[0] - np.eye(Q) / math.sqrt(4 * math.pi)).max() < 1e-15
    # parity: zero unless l1 + l2 + l3 is even
    L = degrees(lmax)
    odd = (L[:, None, None] + L[None, :, None] + L[None, None, :]) % 2 == 1
    assert np.all(C[odd] == 0)
    # float32 copy and rectangular tables
    C32 = real_gaunt(lmax, np, np.float32)
    assert C32.dtype == np.float32 and np.abs(C32 - C).max() < 1e-6
    rect = real_gaunt_table(2, 4, 3)
    assert rect.shape == (9, 25, 16)
    assert np.abs(rect - C[:9, :, :16]).max() < 1e-15


def test_bad_input():
    with pytest.raises(ValueError):
        sphere_quadrature(-1)
    with pytest.raises(ValueError):
        real_gaunt_table(-1, 2, 2)
