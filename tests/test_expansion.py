"""Tests of fourier6d.expansion (paper Eqs. 1-2).

References independent of the library's formula:
* a direct numerical Fourier transform of the Gaussian density (Eq. 1)
  sampled on a real-space grid, projected on complex harmonics by quadrature;
* the paper's complex Eq. 2 evaluated literally with scipy.
"""
import math

import numpy as np
import pytest
import scipy.special as sp
from autograd.test_util import check_grads

from fourier6d.expansion import contract_basis, expand_points, point_basis
from fourier6d.harmonics import complex_to_real_matrix
from fourier6d.radial import RadialGrid

SIGMA = 1.0
LMAX = 4
GRID = RadialGrid.from_sigma(SIGMA, 5)     # rho = 0 .. pi / sigma


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.fixture(scope="module")
def gaussians():
    rng = np.random.default_rng(21)
    pts = rng.normal(size=(4, 3))
    pts *= 1.2 / np.linalg.norm(pts, axis=1).max()                # within 1.2 A
    feats = np.array([[1.0, 0.3], [-0.6, 1.0], [0.5, -0.2], [0.8, 0.9]])
    return pts, feats


def _sphere_quadrature(n_theta):
    """Gauss-Legendre in cos(theta) x uniform phi (exact for degree < 2 n_theta)."""
    z, wz = np.polynomial.legendre.leggauss(n_theta)
    n_phi = 2 * n_theta
    phi = np.arange(n_phi) * 2 * np.pi / n_phi
    Z, PHI = np.meshgrid(z, phi, indexing="ij")
    theta = np.arccos(Z)
    w = wz[:, None] * np.full(n_phi, 2 * np.pi / n_phi)[None, :]
    return theta.ravel(), PHI.ravel(), w.ravel()


def _complex_to_stored(F_lm, lmax):
    """G_lm = i^l (conj(U_l) F_l)_m for complex coefficients F (..., Q)."""
    out = []
    for l in range(lmax + 1):
        U = complex_to_real_matrix(l)
        out.append((1j ** l) * (F_lm[..., l * l:(l + 1) ** 2] @ U.conj().T))
    return np.concatenate(out, axis=-1)


def test_matches_direct_numerical_fourier_transform(gaussians):
    pts, feats = gaussians
    # f(r) of Eq. 1 on a real-space grid: h = 0.5 (aliasing ~ exp(-(2 pi/h - rho_max)^2 sigma^2 / 2)
    # ~ 1e-20), box [-9, 9] (Gaussian tails at the border < 1e-13).
    h = 0.5
    ax = np.arange(-9.0, 9.0 + 1e-9, h)
    X, Y, Z = np.meshgrid(ax, ax, ax, indexing="ij")
    f = sum(feats[n][:, None, None, None]
            * np.exp(-((X - pts[n, 0]) ** 2 + (Y - pts[n, 1]) ** 2 + (Z - pts[n, 2]) ** 2)
                     / (2 * SIGMA ** 2))
            for n in range(len(pts)))                                  # (C, nx, ny, nz)
    # k on each shell: quadrature exact for degree < 40; |F_l| for l > 35 is ~ j_35(3.8) ~ 1e-30.
    theta, phi, w = _sphere_quadrature(20)
    khat = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    Yc = np.stack([sp.sph_harm_y(l, m, theta, phi)
                   for l in range(LMAX + 1) for m in range(-l, l + 1)], -1)   # (K, Q)
    G_num = np.zeros((GRID.n_radial, (LMAX + 1) ** 2, feats.shape[1]))
    for p, rho in enumerate(GRID.points()):
        k = rho * khat                                                   # (K, 3)
        ex, ey, ez = (np.exp(-1j * np.outer(k[:, a], ax)) for a in range(3))   # (K, n)
        # F(k) = sum_r f(r) exp(-i k.r) h^3, contracted axis by axis
        t = np.einsum("cxyz,kz->ckxy", f.astype(complex), ez, optimize=True)
        t = np.einsum("ckxy,ky->ckx", t, ey)
        F = np.einsum("ckx,kx->ck", t, ex) * h ** 3                      # (C, K)
        F_lm = (F * w) @ Yc.conj()                                       # (C, Q)
        G = _complex_to_stored(F_lm, LMAX)                               # (C, Q)
        assert np.abs(G.imag).max() < 1e-10 * np.abs(G).max()
        G_num[p] = G.real.T
    G_ours = expand_points(pts, feats, GRID, LMAX, SIGMA)
    err = np.abs(G_ours - G_num).max() / np.abs(G_num).max()
    assert err < 1e-8, err            # measured 4.7e-15


def test_equals_literal_complex_eq2(gaussians):
    pts, feats = gaussians
    r = np.linalg.norm(pts, axis=1)
    theta, phi = np.arccos(pts[:, 2] / r), np.arctan2(pts[:, 1], pts[:, 0])
    G_ref = np.zeros((GRID.n_radial, (LMAX + 1) ** 2, feats.shape[1]))
    for p, rho in enumerate(GRID.points()):
        F = np.zeros(((LMAX + 1) ** 2, feats.shape[1]), dtype=complex)
        for l in range(LMAX + 1):
            for k in range(-l, l + 1):
                # Eq. 2 as printed
                F[l * l + l + k] = (4 * np.pi * (-1j) ** l
                                    * (sp.spherical_jn(l, rho * r)
                                       * np.conj(sp.sph_harm_y(l, k, theta, phi))
                                       * (np.sqrt(2 * np.pi) * SIGMA) ** 3
                                       * np.exp(-SIGMA ** 2 * rho ** 2 / 2)) @ feats)
        G = _complex_to_stored(F.T, LMAX).T
        assert np.abs(G.imag).max() < 1e-12
        G_ref[p] = G.real
    G_ours = expand_points(pts, feats, GRID, LMAX, SIGMA)
    assert np.abs(G_ours - G_ref).max() < 1e-12 * np.abs(G_ref).max()


def test_contraction_equals_einsum_and_mask(xp, rng):
    xyz = rng.normal(size=(3, 7, 3)) * 2
    t = rng.normal(size=(3, 7, 5))
    mask = rng.random((3, 7)) > 0.3
    basis = point_basis(xyz, GRID, LMAX, SIGMA)
    ref = np.einsum("bnpq,bnc->bpqc", basis, t * mask[..., None])
    out = _host(expand_points(xp.asarray(xyz), xp.asarray(t), GRID, LMAX, SIGMA,
                              mask=xp.asarray(mask)))
    assert np.abs(out - ref).max() < 1e-13 * np.abs(ref).max()
    # padding points anywhere (even at the centre) do not contribute
    xyz_pad = np.where(mask[..., None], xyz, 0.0)
    out_pad = _host(expand_points(xp.asarray(xyz_pad), xp.asarray(t), GRID, LMAX, SIGMA,
                                  mask=xp.asarray(mask)))
    assert np.abs(out_pad - ref).max() < 1e-13 * np.abs(ref).max()
    # features shared by all centres broadcast
    out_b = _host(contract_basis(xp.asarray(basis), xp.asarray(t[0])))
    assert np.abs(out_b - np.einsum("bnpq,nc->bpqc", basis, t[0])).max() < 1e-12


def test_float32_agrees_with_float64(rng):
    xyz = rng.normal(size=(10, 20, 3)) * 3
    t = rng.normal(size=(10, 20, 4))
    g64 = expand_points(xyz, t, GRID, LMAX, SIGMA)
    g32 = expand_points(xyz.astype(np.float32), t.astype(np.float32), GRID, LMAX, SIGMA)
    assert g32.dtype == np.float32
    assert np.abs(g32 - g64).max() < 1e-5 * np.abs(g64).max()


def test_vjp_features_and_basis(rng):
    xyz = rng.normal(size=(2, 4, 3)) * 2
    t = rng.normal(size=(2, 4, 3))
    mask = np.array([[True, True, False, True], [True, False, True, True]])
    check_grads(lambda f: expand_points(xyz, f, GRID, 2, SIGMA, mask=mask),
                modes=["rev"], order=1)(t)
    basis = point_basis(xyz, GRID, 2, SIGMA)
    check_grads(contract_basis, modes=["rev"], order=1)(basis, t)
    check_grads(contract_basis, modes=["rev"], order=1)(basis, t[0])        # broadcast features
    check_grads(contract_basis, modes=["rev"], order=1)(basis[:1], t)       # broadcast basis


def test_bad_input(rng):
    basis = point_basis(rng.normal(size=(4, 3)), GRID, 2, SIGMA)
    with pytest.raises(ValueError):
        contract_basis(basis, np.ones((5, 2)))
    with pytest.raises(ValueError):
        contract_basis(basis, np.ones(4))
    with pytest.raises(TypeError):
        contract_basis(basis, np.ones((4, 2), dtype=complex))
    with pytest.raises(TypeError):
        expand_points(np.zeros((4, 3)), np.ones((4, 2)), 5, 2, SIGMA)


# ------------------------------------------------------------ inverse transform
# (fourier6d.inverse: quadrature of the inverse Fourier transform)

from fourier6d.inverse import inverse_on_grid, inverse_transform  # noqa: E402

FINE = RadialGrid(25, 0.25)    # rho_max = 6: exp(-sigma^2 rho_max^2 / 2) = 1.5e-8


@pytest.fixture(scope="module")
def ball_points():
    rng = np.random.default_rng(8)
    q = rng.normal(size=(1500, 3))
    return q * (2.5 * rng.random(1500) ** (1 / 3) / np.linalg.norm(q, axis=1))[:, None]


def test_inverse_reproduces_gaussians(gaussians, ball_points):
    pts, feats = gaussians
    f_true = sum(feats[n] * np.exp(-((ball_points - pts[n]) ** 2).sum(1)
                                   / (2 * SIGMA ** 2))[:, None] for n in range(len(pts)))
    errs = []
    for lmax in (2, 4, 6, 8, 10):
        G = expand_points(pts, feats, FINE, lmax, SIGMA)
        f = inverse_transform(G, ball_points, FINE, chunk=700)           # 3 chunks
        errs.append(np.abs(f - f_true).max() / np.abs(f_true).max())
    # measured: 4.5e-2, 2.3e-3, 9e-5, 1.8e-6, 2.5e-8 (points within 2.5 A, Gaussians within 1.2 A)
    assert all(b < a / 5 for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 2e-7, errs


def test_inverse_on_grid_and_batch(gaussians, xp):
    pts, feats = gaussians
    G = expand_points(pts, feats, GRID, LMAX, SIGMA)
    Gb = np.stack([G, 2 * G])
    vals = _host(inverse_on_grid(xp.asarray(Gb), GRID, (-1.0, -0.5, 0.0), (0.5, 0.25, 0.3), (3, 4, 2)))
    assert vals.shape == (2, 3, 4, 2, 2)
    ax = [np.arange(3) * 0.5 - 1.0, np.arange(4) * 0.25 - 0.5, np.arange(2) * 0.3]
    X = np.stack(np.meshgrid(*ax, indexing="ij"), -1)
    ref = inverse_transform(G, X.reshape(-1, 3), GRID).reshape(3, 4, 2, 2)
    assert np.abs(vals[0] - ref).max() < 1e-13 and np.abs(vals[1] - 2 * ref).max() < 1e-13
    # literal formula 1/(2 pi^2) sum_p w_p sum_lm G j_l Y at one point
    x = np.array([0.4, -0.3, 0.8])
    r = np.linalg.norm(x)
    th, ph = np.arccos(x[2] / r), np.arctan2(x[1], x[0])
    tot = 0.0
    for p, (rho, w) in enumerate(zip(GRID.points(), GRID.weights())):
        for l in range(LMAX + 1):
            U = complex_to_real_matrix(l)
            Yr = (U @ np.array([sp.sph_harm_y(l, m, th, ph) for m in range(-l, l + 1)])).real
            tot = tot + w * sp.spherical_jn(l, rho * r) * (Yr @ G[p, l * l:(l + 1) ** 2])
    got = inverse_transform(G, x[None], GRID)[0]
    assert np.abs(got - tot / (2 * np.pi ** 2)).max() < 1e-12 * np.abs(tot).max()


def test_inverse_vjp(gaussians, rng):
    G = rng.normal(size=(2, GRID.n_radial, 9, 2))
    x = rng.normal(size=(5, 3))
    check_grads(lambda c: inverse_transform(c, x, GRID), modes=["rev"], order=1)(G)
    check_grads(lambda c: inverse_transform(c, x, GRID, chunk=2), modes=["rev"], order=1)(G)
    check_grads(lambda c: inverse_transform(c, x[None], GRID), modes=["rev"], order=1)(G[0])
    with pytest.raises(ValueError):
        inverse_transform(G[..., :8, :], x, GRID)
    with pytest.raises(ValueError):
        inverse_transform(G, x[:, :2], GRID)


# ---------------------------------------------------------------------------
# Numba kernel (fourier6d._numba_kernels) vs the array-agnostic reference path
# ---------------------------------------------------------------------------
from fourier6d import _numba_kernels                      # noqa: E402
from fourier6d import expansion as _expansion             # noqa: E402
from fourier6d.expansion import bessel_harmonic_basis, gaussian_radial_factor  # noqa: E402

needs_numba = pytest.mark.skipif(not _numba_kernels.AVAILABLE, reason="numba not importable")


def _hard_points(rng, grid, lmax):
    """Random points plus radii putting rho_p r near 0, at/near l + 1 (both sides), large, and r = 0."""
    rho = grid.points()[1:]
    radii = [0.0, 1e-12, 1e-6, 0.3]
    for p in rho:
        for l in range(lmax + 2):
            for eps in (-1e-9, 0.0, 1e-9, -1e-3, 1e-3):
                radii.append((l + 1 + eps) / p)
        radii += [1.0 / p * (1 - 1e-12), 1.0 / p, 40.0 / p]
    dirs = rng.normal(size=(len(radii), 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    dirs[:4] = [0, 0, 1]                                       # incl. the zero vector
    hard = dirs * np.asarray(radii)[:, None]
    axes = np.array([[0, 0, 5.0], [0, 0, -5.0], [3.0, 0, 0], [0, -2.0, 0]])   # poles and axes
    random = rng.normal(size=(300, 3)) * 6.0
    return np.concatenate([hard, axes, random])


@needs_numba
@pytest.mark.parametrize("lmax", [0, 1, 4, 8])
def test_numba_kernel_equals_reference_float64(lmax, rng):
    grid = RadialGrid.from_sigma(2.0, 6)
    xyz = _hard_points(rng, grid, lmax)
    ones = np.ones(grid.n_radial)
    ref = _expansion._reference_basis(xyz, grid, lmax, None)
    out = np.empty((len(xyz), grid.n_radial, (lmax + 1) ** 2))
    _numba_kernels.basis_into(xyz, grid.points(), ones, lmax, out)
    assert np.abs(out - ref).max() < 1e-12
    # dispatch of the public functions, with the Gaussian factor of Eq. 2
    assert np.abs(bessel_harmonic_basis(xyz, grid, lmax) - ref).max() < 1e-12
    gauss = gaussian_radial_factor(grid, 2.0)
    ref_pb = _expansion._reference_basis(xyz, grid, lmax, gauss)
    pb = point_basis(xyz, grid, lmax, 2.0)
    assert np.abs(pb - ref_pb).max() < 1e-12 * np.abs(ref_pb).max()


@needs_numba
def test_numba_kernel_non_uniform_radial_points(rng):
    # rho not of the form p * drho: the kernel takes sin/cos per point (no angle addition)
    lmax = 5
    grid = RadialGrid.from_sigma(1.0, 4)
    rho = np.array([0.07, 0.5, 1.3, 2.9, 6.0])
    xyz = _hard_points(rng, grid, lmax)
    r = np.linalg.norm(xyz, axis=1)
    from fourier6d.harmonics import real_sph_harm, spherical_jn, degrees
    ref = spherical_jn(lmax, r[:, None] * rho)[..., degrees(lmax)] * real_sph_harm(lmax, xyz)[:, None]
    out = np.empty((len(xyz), len(rho), (lmax + 1) ** 2))
    _numba_kernels.basis_into(xyz, rho, np.ones(len(rho)), lmax, out)
    assert np.abs(out - ref).max() < 1e-12


@needs_numba
def test_numba_kernel_matches_scipy_directly(rng):
    # independent of the reference path: scipy's spherical_jn and sph_harm_y
    lmax = 4
    xyz = rng.normal(size=(200, 3)) * 4
    r = np.linalg.norm(xyz, axis=1)
    th, ph = np.arccos(xyz[:, 2] / r), np.arctan2(xyz[:, 1], xyz[:, 0])
    Yr = np.concatenate([(np.stack([sp.sph_harm_y(l, m, th, ph) for m in range(-l, l + 1)], -1)
                          @ complex_to_real_matrix(l).T).real for l in range(lmax + 1)], -1)
    rho = GRID.points()
    jl = np.stack([sp.spherical_jn(l, r[:, None] * rho) for l in range(lmax + 1)], -1)
    ref = jl[..., [l for l in range(lmax + 1) for _ in range(2 * l + 1)]] * Yr[:, None]
    out = np.empty((len(xyz), GRID.n_radial, (lmax + 1) ** 2))
    _numba_kernels.basis_into(xyz, rho, np.ones(GRID.n_radial), lmax, out)
    assert np.abs(out - ref).max() < 1e-13


@needs_numba
def test_numba_float32_output_and_input(rng):
    grid = RadialGrid.from_sigma(2.0, 5)
    xyz = rng.normal(size=(7, 11, 3)) * 5
    ref = _expansion._reference_basis(xyz, grid, 4, gaussian_radial_factor(grid, 2.0))
    scale = np.abs(ref).max()
    pb32 = point_basis(xyz, grid, 4, 2.0, dtype=np.float32)          # f64 in, f32 out
    assert pb32.dtype == np.float32 and pb32.shape == ref.shape
    assert np.abs(pb32 - ref).max() < 1e-6 * scale
    pb32in = point_basis(xyz.astype(np.float32), grid, 4, 2.0)       # f32 in -> f32 out
    assert pb32in.dtype == np.float32
    assert np.abs(pb32in - ref).max() < 1e-5 * scale
    with _reference_only():
        pb32_ref = point_basis(xyz.astype(np.float32), grid, 4, 2.0)
    assert pb32_ref.dtype == np.float32
    assert np.abs(pb32in - pb32_ref).max() < 1e-5 * scale


class _reference_only:
    """Context manager: force the array-agnostic path (as without numba)."""

    def __enter__(self):
        self.saved = _numba_kernels.AVAILABLE
        _numba_kernels.AVAILABLE = False

    def __exit__(self, *exc):
        _numba_kernels.AVAILABLE = self.saved


@pytest.mark.parametrize("dtype", [None, np.float32, np.float64])
def test_point_basis_mask_and_dtype_both_paths(dtype, rng):
    grid = RadialGrid.from_sigma(2.0, 5)
    xyz = rng.normal(size=(6, 9, 3)) * 4
    mask = rng.random((6, 9)) < 0.6
    mask[0] = False
    full = point_basis(xyz, grid, 4, 2.0)
    results = [point_basis(xyz, grid, 4, 2.0, dtype=dtype, mask=mask)]
    with _reference_only():
        results.append(point_basis(xyz, grid, 4, 2.0, dtype=dtype, mask=mask))
    want = np.dtype(np.float64 if dtype is None else dtype)
    tol = 1e-12 if want == np.float64 else 1e-6
    for res in results:
        assert res.dtype == want and res.shape == full.shape
        assert np.all(res[~mask] == 0)
        assert np.abs(res[mask] - full[mask]).max() < tol * np.abs(full).max()


def test_reference_path_without_numba_equals_default(rng):
    grid = RadialGrid.from_sigma(1.5, 4)
    xyz = rng.normal(size=(50, 3)) * 3
    default = bessel_harmonic_basis(xyz, grid, 3)
    with _reference_only():
        ref = bessel_harmonic_basis(xyz, grid, 3)
    assert np.abs(default - ref).max() < 1e-12


def test_point_basis_bad_arguments(rng):
    grid = RadialGrid.from_sigma(2.0, 5)
    xyz = rng.normal(size=(4, 3))
    for sigma in (0.0, -1.0, np.nan, np.inf, "2"):
        with pytest.raises(ValueError, match="sigma"):
            point_basis(xyz, grid, 4, sigma)
    with pytest.raises(ValueError, match="lmax"):
        point_basis(xyz, grid, -1, 2.0)
    with pytest.raises(ValueError, match="dtype"):
        point_basis(xyz, grid, 4, 2.0, dtype=np.int32)
    with pytest.raises(ValueError, match="mask"):
        point_basis(xyz, grid, 4, 2.0, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="shape"):
        point_basis(xyz[:, :2], grid, 4, 2.0)
    with pytest.raises(TypeError, match="RadialGrid"):
        point_basis(xyz, 5, 4, 2.0)
    with pytest.raises(TypeError, match="real"):
        point_basis(xyz.astype(complex), grid, 4, 2.0)


@needs_numba
@pytest.mark.parametrize("lmax", [1, 2, 4, 8, 12])
def test_numba_bessel_all_regimes_against_scipy(lmax):
    # points on +z: Y^R_lm = 0 for m != 0 and Y^R_l0 = sqrt((2l+1)/(4 pi)), so
    # out[:, p, l^2 + l] / Y_l0 is j_l(rho_p r) itself; x = rho_p r dense over
    # [0, 3 (lmax + 1)]: series (x < 1), series of j_lmax, j_(lmax-1) + downward
    # recurrence (1 <= x <= lmax + 1) and upward recurrence (x > lmax + 1)
    x = np.concatenate([np.linspace(0.0, 3.0 * (lmax + 1), 4001),
                        [1.0 - 1e-15, 1.0, lmax + 1.0, np.nextafter(lmax + 1.0, 9e9)]])
    rho = np.array([0.0, 1.0, 0.37])
    xyz = np.zeros((len(x), 3))
    xyz[:, 2] = x
    out = np.empty((len(x), 3, (lmax + 1) ** 2))
    _numba_kernels.basis_into(xyz, rho, np.ones(3), lmax, out)
    for l in range(lmax + 1):
        y_l0 = np.sqrt((2 * l + 1) / (4 * np.pi))
        q = l * l + l
        for p in (1, 2):
            want = sp.spherical_jn(l, rho[p] * x)
            assert np.abs(out[:, p, q] / y_l0 - want).max() < 1e-15 * max(1, lmax / 4), (l, p)
        assert np.all(out[:, 0, q] == (y_l0 if l == 0 else 0.0))
        others = [k for k in range(l * l, (l + 1) ** 2) if k != q]
        if others:
            assert np.abs(out[:, :, others]).max() < 1e-15


@needs_numba
def test_basis_into_checks_out_and_index(rng):
    xyz = rng.normal(size=(5, 3))
    rho, ones = GRID.points(), np.ones(GRID.n_radial)
    with pytest.raises(ValueError, match="out"):
        _numba_kernels.basis_into(xyz, rho, ones, 4, np.empty((5, 5, 16)))
    with pytest.raises(ValueError, match="index"):
        _numba_kernels.basis_into(xyz, rho, ones, 4, np.empty((5, 5, 25)), index=[0, 7])
    out = np.full((5, 5, 25), 7.0)
    _numba_kernels.basis_into(xyz, rho, ones, 4, out, index=[1, 3])
    full = bessel_harmonic_basis(xyz, GRID, 4)
    assert np.all(out[[0, 2, 4]] == 7.0)
    assert np.abs(out[[1, 3]] - full[[1, 3]]).max() < 1e-14


@needs_numba
@pytest.mark.parametrize("radius", [3.0, 8.0])
def test_neighbour_lists_equal_brute_force(radius, rng):
    pts = rng.uniform(-20, 20, size=(1500, 3))
    pts[7] = np.nan                                            # never a neighbour
    pts[8] = [5e5, 0, 0]                                       # far away: coarser cells
    centres = np.concatenate([pts[::17], [[100.0, 100.0, 100.0], [0.0, 0.0, 0.0]]])
    d = pts[None] - centres[:, None]
    with np.errstate(invalid="ignore"):
        within = np.einsum("cmk,cmk->cm", d, d) < radius * radius
    for n_threads in (1, 2):
        lists, counts = _numba_kernels.neighbour_lists(pts, centres, radius, n_threads=n_threads,
                                                       cap=4)
        for c in range(len(centres)):
            np.testing.assert_array_equal(lists[c, :counts[c]], np.flatnonzero(within[c]))
    # exclude_self: centres are the points
    lists, counts = _numba_kernels.neighbour_lists(pts[:300], pts[:300], radius, exclude_self=True)
    d = pts[:300, None] - pts[None, :300]
    within = np.einsum("cmk,cmk->cm", d, d) < radius * radius
    np.fill_diagonal(within, False)
    for c in range(300):
        np.testing.assert_array_equal(lists[c, :counts[c]], np.flatnonzero(within[c]))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("zeroed_bytes", [0, 1 << 60])
def test_neighbourhood_basis_equals_point_basis(dtype, zeroed_bytes, rng, monkeypatch):
    """The fused kernel = point_basis of the local coordinates, padded (to rounding)."""
    monkeypatch.setattr(_numba_kernels, "ZEROED_BYTES", zeroed_bytes)   # both padding paths
    pts = rng.uniform(-10, 10, size=(400, 3))
    centres = pts[:40].copy()
    frames = np.linalg.qr(rng.normal(size=(40, 3, 3)))[0]
    lists, counts = _numba_kernels.neighbour_lists(pts, centres, 6.0)
    gauss = gaussian_radial_factor(GRID, 2.0)
    basis, index, mask = _numba_kernels.neighbourhood_basis(
        pts, centres, frames, lists, counts, GRID.points(), gauss, 4, dtype, pad_index=-7,
        n_threads=2)
    assert basis.shape == (40, counts.max(), GRID.n_radial, 25) and basis.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for c in range(40):
        n = counts[c]
        np.testing.assert_array_equal(index[c, :n], lists[c, :n])
        assert mask[c, :n].all() and not mask[c, n:].any() and (index[c, n:] == -7).all()
        local = np.einsum("mk,kj->mj", pts[lists[c, :n]] - centres[c], frames[c])
        ref = _expansion._reference_basis(local, GRID, 4, gauss)
        assert np.abs(basis[c, :n] - ref).max() <= tol * np.abs(ref).max()
        assert (basis[c, n:] == 0).all()


@needs_numba
def test_basis_into_thread_ranges(rng, monkeypatch):
    # points split over the thread pool (ranges of 5 points, masked rows left untouched) give the
    # same basis as one range
    grid = RadialGrid.from_sigma(2.0, 5)
    xyz = rng.normal(size=(57, 3)) * 4
    index = np.flatnonzero(rng.random(57) < 0.7)
    ones = np.ones(grid.n_radial)
    one = np.full((57, grid.n_radial, 25), 7.0)
    _numba_kernels.basis_into(xyz, grid.points(), ones, 4, one, index=index)
    monkeypatch.setattr(_numba_kernels, "POINTS_PER_THREAD", 5)
    monkeypatch.setattr(_numba_kernels, "default_threads", lambda: 4)
    split = np.full_like(one, 7.0)
    _numba_kernels.basis_into(xyz, grid.points(), ones, 4, split, index=index)
    np.testing.assert_array_equal(split, one)
    untouched = np.setdiff1d(np.arange(57), index)
    assert np.all(split[untouched] == 7.0) and not np.any(split[index] == 7.0)
