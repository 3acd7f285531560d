"""Tests of fourier6d.normalization (paper Eq. 7).

Independent check: Gaussian point sets are expanded on a fine radial grid,
normalised, and the real-space function is rebuilt on a 3D grid by the
inverse transform written here (f(r) = 1/(2 pi^2) sum_p w_p sum_lm G_lm(rho_p)
j_l(rho_p r) Y_lm(r_hat)); integrals are then taken by real-space quadrature.
"""
import math

import numpy as np
import pytest
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.expansion import expand_points
from fourier6d.harmonics import real_sph_harm, spherical_jn, degrees
from fourier6d.normalization import normalize, parseval_norm2, parseval_weights, PARSEVAL_FACTOR

SIGMA = 1.0
LMAX = 6
# rho_0 = 0, rho_max = 6 A^-1 (exp(-sigma^2 rho^2 / 2) = 1.5e-8 there), 25 points.
FINE = RadialGrid(25, 0.25)


def _reconstruct(coeffs, grid, lmax, xyz, chunk=4096):
    """Real-space f(r) from real coefficients (P, Q, C) at points xyz (M, 3)."""
    rho = grid.points()
    w = grid.weights()
    deg = degrees(lmax)
    n_radial, n_coef, n_channels = coeffs.shape
    gw = (coeffs * w[:, None, None]).reshape(n_radial * n_coef, n_channels) / (2 * math.pi ** 2)
    out = []
    for s in range(0, len(xyz), chunk):
        x = xyz[s:s + chunk]
        r = np.linalg.norm(x, axis=1)
        basis = spherical_jn(lmax, r[:, None] * rho)[..., deg] * real_sph_harm(lmax, x)[:, None, :]
        out.append(basis.reshape(len(x), -1) @ gw)
    return np.concatenate(out)


@pytest.fixture(scope="module")
def gaussian_case():
    rng = np.random.default_rng(7)
    pts = rng.normal(size=(3, 3))
    pts *= 1.0 / np.linalg.norm(pts, axis=1).max()          # all within 1 A of the centre
    feats = np.array([[1.0, 0.5], [-0.7, 1.0], [0.4, 0.3]])  # 2 channels, mixed signs
    coeffs = expand_points(pts, feats, FINE, LMAX, SIGMA)
    h = 0.5
    ax = np.arange(-7.0, 7.0 + 1e-9, h)                      # Gaussians < 1e-10 at the border
    xyz = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    f_true = sum(feats[i] * np.exp(-((xyz - pts[i]) ** 2).sum(1) / (2 * SIGMA ** 2))[:, None]
                 for i in range(len(pts)))
    return coeffs, xyz, h ** 3, f_true


def test_reconstruction_is_faithful(gaussian_case):
    # Sanity of the test's own inverse transform: pointwise error of the
    # l <= 6 reconstruction; measured 7.2e-5 of a peak of 1.6.
    coeffs, xyz, dv, f_true = gaussian_case
    f = _reconstruct(coeffs, FINE, LMAX, xyz)
    assert np.abs(f - f_true).max() < 2e-4


def test_unit_norm_by_real_space_quadrature(gaussian_case):
    coeffs, xyz, dv, f_true = gaussian_case
    fn = _reconstruct(normalize(coeffs, FINE), FINE, LMAX, xyz)
    # int f_n^2 dr by the rectangle rule on the 3D grid; measured |err| < 4e-13.
    np.testing.assert_allclose((fn ** 2).sum(0) * dv, 1.0, atol=1e-9)
    # and the Parseval measure agrees (it is S_2 / (S_2 + eps))
    np.testing.assert_allclose(parseval_norm2(normalize(coeffs, FINE), FINE), 1.0, atol=1e-12)


def test_zeroed_coefficient_is_the_integral(gaussian_case):
    # Eq. 7 zeroes the (l=0, rho=0) coefficient because it is the integral of f
    # (the mean part): G_00(0) = sqrt(4 pi) int f dr.  Check that identity
    # against the real-space quadrature, then that N sets it to zero and only
    # rescales everything else (so int f_n dr = F_n(0) = 0).
    coeffs, xyz, dv, f_true = gaussian_case
    integral = f_true.sum(0) * dv
    np.testing.assert_allclose(coeffs[0, 0] / math.sqrt(4 * math.pi), integral, rtol=1e-10)
    assert np.all(np.abs(integral) > 1.0)                   # a non-trivial mean to remove
    out = normalize(coeffs, FINE)
    assert np.all(out[0, 0] == 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = out / coeffs
    keep = np.ones(coeffs.shape[:2], bool)
    keep[0, 0] = False
    keep &= np.all(np.abs(coeffs) > 1e-8, axis=-1)
    scale = 1.0 / np.sqrt(parseval_norm2(coeffs, FINE))
    np.testing.assert_allclose(ratio[keep], np.broadcast_to(scale, ratio.shape)[keep], rtol=1e-10)


def test_norm_excludes_the_mean_part(rng):
    # Changing only the DC coefficient changes neither the norm nor the output.
    grid = RadialGrid(5, 0.4)
    x = rng.normal(size=(4, 5, 9, 3))
    y = x.copy()
    y[..., 0, 0, :] += 100.0
    np.testing.assert_allclose(normalize(x, grid), normalize(y, grid), rtol=1e-13, atol=1e-15)


def test_scale_invariance_and_batch_independence(xp, rng):
    grid = RadialGrid(4, 0.5)
    x = rng.normal(size=(3, 2, 4, 16, 5))
    xd = xp.asarray(x)
    base = normalize(xd, grid, eps=0.0)
    for a in (1e-3, 0.5, 7.0, 1e4):
        out = normalize(a * xd, grid, eps=0.0)
        assert float(xp.abs(out - base).max()) < 1e-12
    # with the default eps the invariance holds while S_2 >> eps
    assert float(xp.abs(normalize(xd, grid) - base).max()) < 1e-9
    # each (batch, channel) is normalised on its own
    one = normalize(xp.asarray(x[1:2, :, :, :, 2:3]), grid, eps=0.0)
    assert float(xp.abs(one - base[1:2, :, :, :, 2:3]).max()) < 1e-14
    # per-channel Parseval norm is 1
    assert float(xp.abs(parseval_norm2(base, grid) - 1).max()) < 1e-10


def test_float32_matches_float64(xp, rng):
    grid = RadialGrid(5, 0.3)
    x = rng.normal(size=(6, 5, 25, 4))
    out64 = normalize(xp.asarray(x), grid)
    out32 = normalize(xp.asarray(x, dtype=xp.float32), grid)
    assert out32.dtype == xp.float32
    assert float(xp.abs(out32.astype(xp.float64) - out64).max()) < 2e-5 * float(xp.abs(out64).max())


def test_zero_channel_is_guarded(rng):
    grid = RadialGrid(3, 0.5)
    x = rng.normal(size=(3, 4, 2))
    x[..., 1] = 0.0
    out = normalize(x, grid)
    assert np.all(np.isfinite(out))
    assert np.all(out[..., 1] == 0.0)
    # eps enters as sqrt(S_2 + eps)
    s2 = parseval_norm2(x, grid)[0]
    out_eps = normalize(x, grid, eps=0.5)
    np.testing.assert_allclose(parseval_norm2(out_eps, grid)[0], s2 / (s2 + 0.5), rtol=1e-12)


def test_parseval_weights():
    grid = RadialGrid(4, 0.5)
    np.testing.assert_allclose(parseval_weights(grid), grid.weights() / (8 * math.pi ** 3))
    assert PARSEVAL_FACTOR == pytest.approx((2 * math.pi) ** -3)


def test_gradient(rng):
    grid = RadialGrid(3, 0.7)
    x = rng.normal(size=(2, 3, 4, 3))
    proj = rng.normal(size=x.shape)
    check_grads(lambda v: normalize(v, grid), modes=["rev"], order=1)(x)
    # through a scalar loss as well (exercises the <g, y> term)
    check_grads(lambda v: (normalize(v, grid) * proj).sum() ** 2, modes=["rev"], order=1)(x)


def test_bad_input():
    grid = RadialGrid(3, 0.5)
    with pytest.raises(ValueError, match="radial"):
        normalize(np.zeros((4, 4, 2)), grid)
    with pytest.raises(ValueError, match="n_coef"):
        normalize(np.zeros((3, 5, 2)), grid)
    with pytest.raises(ValueError, match="shape"):
        normalize(np.zeros((3, 4)), grid)
    with pytest.raises(TypeError, match="floating"):
        normalize(np.zeros((3, 4, 2), dtype=int), grid)
    with pytest.raises(TypeError, match="RadialGrid"):
        normalize(np.zeros((3, 4, 2)), 0.5)
    with pytest.raises(ValueError, match="eps"):
        normalize(np.zeros((3, 4, 2)), grid, eps=-1.0)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_numba_kernels_equal_array_path(dtype, tol, monkeypatch):
    # fourier6d._numba_norm (used for NumPy inputs) against the array expressions (CuPy's path)
    from fourier6d import _numba_norm
    from fourier6d.normalization import normalize_forward, normalize_backward
    if not _numba_norm.AVAILABLE:
        pytest.skip("numba not importable")
    rng = np.random.default_rng(3)
    grid = RadialGrid.from_sigma(2.0, 5)
    pw = parseval_weights(grid, np, dtype)
    x = rng.normal(size=(3, 7, 5, 16, 6)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    y1, s1 = normalize_forward(x, pw, 1e-12)
    dx1 = normalize_backward(g, y1, s1, pw)
    monkeypatch.setattr(_numba_norm, "AVAILABLE", False)
    y0, s0 = normalize_forward(x, pw, 1e-12)
    dx0 = normalize_backward(g, y0, s0, pw)
    assert y1.dtype == y0.dtype == dx1.dtype == dtype and s1.shape == s0.shape
    for a, b in ((y1, y0), (s1, s0), (dx1, dx0)):
        assert np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())
