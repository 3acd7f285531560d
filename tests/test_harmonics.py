"""Reference tests of the real spherical harmonics, Bessel functions and radial grid."""
import numpy as np
import pytest
import scipy.special as sp

from fourier6d.harmonics import (real_sph_harm, spherical_jn, complex_to_real_matrix,
                                 n_coef, lm_index, degrees, orders)
from fourier6d.radial import RadialGrid


@pytest.mark.parametrize("lmax", [0, 1, 4, 8, 12])
def test_spherical_jn_matches_scipy(lmax, xp):
    x = np.concatenate([np.linspace(0, 40, 4001), [1e-9, 0.999999, 1.0, lmax + 1.0, lmax + 1.000001]])
    ours = spherical_jn(lmax, xp.asarray(x))
    ours = ours.get() if hasattr(ours, "get") else ours
    ref = np.stack([sp.spherical_jn(l, x) for l in range(lmax + 1)], -1)
    assert np.abs(ours - ref).max() < 1e-13


@pytest.mark.parametrize("lmax", [0, 3, 6, 10])
def test_real_sph_harm_matches_scipy_complex(lmax, rng):
    v = rng.normal(size=(500, 3))
    Y = real_sph_harm(lmax, v)
    r = np.linalg.norm(v, axis=1)
    th, ph = np.arccos(v[:, 2] / r), np.arctan2(v[:, 1], v[:, 0])
    for l in range(lmax + 1):
        Yc = np.stack([sp.sph_harm_y(l, m, th, ph) for m in range(-l, l + 1)], -1)
        Yr = Yc @ complex_to_real_matrix(l).T
        np.testing.assert_allclose(Yr.imag, 0, atol=1e-12)
        np.testing.assert_allclose(Yr.real, Y[:, l * l:(l + 1) ** 2], atol=1e-12)


def test_real_sph_harm_orthonormal_by_quadrature():
    lmax = 6
    # Gauss-Legendre in cos(theta) x uniform phi: exact for degree <= 2*lmax
    n = lmax + 2
    z, wz = np.polynomial.legendre.leggauss(n)
    phi = np.arange(2 * n) * np.pi / n
    Z, PHI = np.meshgrid(z, phi, indexing="ij")
    s = np.sqrt(1 - Z ** 2)
    pts = np.stack([s * np.cos(PHI), s * np.sin(PHI), Z], -1).reshape(-1, 3)
    w = (wz[:, None] * np.full(phi.shape, np.pi / n)[None, :]).reshape(-1)
    Y = real_sph_harm(lmax, pts)
    gram = (Y * w[:, None]).T @ Y
    np.testing.assert_allclose(gram, np.eye(n_coef(lmax)), atol=1e-12)


def test_zero_vector_and_unitary_U():
    Y = real_sph_harm(3, np.zeros((1, 3)))
    assert np.isfinite(Y).all()
    np.testing.assert_allclose(Y[0, 0], 1 / np.sqrt(4 * np.pi))
    for l in range(5):
        U = complex_to_real_matrix(l)
        np.testing.assert_allclose(U @ U.conj().T, np.eye(2 * l + 1), atol=1e-14)


def test_indexing():
    assert n_coef(4) == 25 and lm_index(2, -1) == 5
    assert list(degrees(1)) == [0, 1, 1, 1] and list(orders(1)) == [0, -1, 0, 1]
    with pytest.raises(ValueError):
        lm_index(1, 2)


def test_radial_grid():
    g = RadialGrid.from_sigma(2.0, 5)
    np.testing.assert_allclose(g.rho_max, np.pi / 2)
    np.testing.assert_allclose(g.points(), np.arange(5) * np.pi / 8)
    np.testing.assert_allclose(g.weights(), (np.arange(5) * np.pi / 8) ** 2 * np.pi / 8)
    with pytest.raises(ValueError):
        RadialGrid(0, 1.0)
    with pytest.raises(ValueError):
        RadialGrid(3, -1.0)


def test_spherical_jn_float32_has_no_overflow(xp):
    x = np.linspace(0, 20, 2001)
    ours = spherical_jn(8, xp.asarray(x, dtype=np.float32))
    ours = ours.get() if hasattr(ours, "get") else ours
    assert ours.dtype == np.float32 and np.isfinite(ours).all()
    ref = np.stack([sp.spherical_jn(l, x) for l in range(9)], -1)
    assert np.abs(ours - ref).max() < 1e-6
