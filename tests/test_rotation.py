"""Tests of fourier6d.rotation (real Wigner D matrices, paper Eq. 6).

Independent references: the defining identity Y^R(R x) = D(R) Y^R(x) on
random points, the point-set expansion of rotated points (Eq. 2), and the
complex Wigner matrix built from the explicit small-d sum formula, checked
itself against scipy's complex harmonics.
"""
import math

import numpy as np
import pytest
import scipy.special as sp
from autograd.test_util import check_grads
from scipy.spatial.transform import Rotation

from fourier6d.expansion import expand_points
from fourier6d.harmonics import complex_to_real_matrix, real_sph_harm
from fourier6d.radial import RadialGrid
from fourier6d.rotation import (euler_to_matrix, matrix_to_euler, random_rotations, rotate,
                                wigner_d_from_euler, wigner_d_real)


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _random_rotations(n, seed):
    return Rotation.random(n, random_state=seed).as_matrix()


def _singular_rotations():
    """Rotations at and near the Euler singularities beta = 0 and beta = pi."""
    rng = np.random.default_rng(3)
    betas = [0.0, 1e-15, 1e-12, 1e-8, 1e-6, 1e-4, math.pi - 1e-4, math.pi - 1e-8,
             math.pi - 1e-12, math.pi]
    mats = [euler_to_matrix(*rng.uniform(-math.pi, math.pi, 2)[[0]], b,
                            rng.uniform(-math.pi, math.pi, 1))[0] for b in betas]
    mats += [np.eye(3), np.diag([-1.0, -1.0, 1.0]), np.diag([1.0, -1.0, -1.0]),
             np.diag([-1.0, 1.0, -1.0])]
    # axis-angle rotations about axes within 1e-9 of +-z
    for sgn in (1.0, -1.0):
        axis = np.array([1e-9, -2e-9, sgn])
        mats.append(Rotation.from_rotvec(axis / np.linalg.norm(axis) * 2.0).as_matrix())
    return np.stack(mats)


def _max_transform_error(lmax, R, x):
    D = wigner_d_real(lmax, R)
    lhs = real_sph_harm(lmax, np.einsum("rij,nj->rni", R, x))
    rhs = np.einsum("rqk,nk->rnq", D, real_sph_harm(lmax, x))
    return np.abs(lhs - rhs).max()


@pytest.mark.parametrize("lmax", [0, 1, 2, 4, 8, 12])
def test_harmonics_transform(lmax, rng):
    R = _random_rotations(100, lmax)
    x = rng.normal(size=(40, 3))
    err = _max_transform_error(lmax, R, x)
    # measured: 1.4e-15 (L=4), 4e-15 (L=8), 1e-14 (L=12)
    assert err < 1e-12, err


def test_harmonics_transform_near_singular_euler(rng):
    R = _singular_rotations()
    x = rng.normal(size=(40, 3))
    assert _max_transform_error(8, R, x) < 1e-12
    a, b, g = matrix_to_euler(R)
    assert np.abs(euler_to_matrix(a, b, g) - R).max() < 1e-14
    assert (b >= 0).all() and (b <= math.pi).all()


def test_perturbed_identity_is_accurate():
    # Rotations by tiny angles about tilted axes: the result must be I + O(angle).
    rng = np.random.default_rng(5)
    for eps in (1e-14, 1e-10, 1e-7):
        R = Rotation.from_rotvec(rng.normal(size=(20, 3)) * eps).as_matrix()
        D = wigner_d_real(6, R)
        assert np.abs(D - np.eye(49)).max() < 50 * eps + 1e-14


def test_expansion_of_rotated_points(xp):
    # expand(R x) == D(R) expand(x), 100 random R, L=4, float64.
    rng = np.random.default_rng(11)
    grid = RadialGrid.from_sigma(1.0, 5)
    x = rng.normal(size=(12, 3)) * 3.0
    t = rng.normal(size=(12, 4))
    R = _random_rotations(100, 7)
    G = expand_points(xp.asarray(x), xp.asarray(t), grid, 4, 1.0)            # (P, Q, C)
    G_rot = expand_points(xp.asarray(np.einsum("rij,nj->rni", R, x)),
                          xp.asarray(np.broadcast_to(t, (100,) + t.shape)), grid, 4, 1.0)
    D = wigner_d_real(4, xp.asarray(R))
    err = np.abs(_host(rotate(G, D)) - _host(G_rot)).max() / np.abs(_host(G)).max()
    assert err < 1e-10, err        # measured ~2e-16


def test_expansion_of_rotated_points_float32():
    rng = np.random.default_rng(12)
    grid = RadialGrid.from_sigma(1.0, 5)
    x = (rng.normal(size=(12, 3)) * 3.0).astype(np.float32)
    t = rng.normal(size=(12, 4)).astype(np.float32)
    R = _random_rotations(100, 8).astype(np.float32)
    G = expand_points(x, t, grid, 4, 1.0)
    G_rot = expand_points(np.einsum("rij,nj->rni", R, x), np.broadcast_to(t, (100,) + t.shape),
                          grid, 4, 1.0)
    D = wigner_d_real(4, R)
    assert D.dtype == np.float32 and G.dtype == np.float32
    err = np.abs(rotate(G, D) - G_rot).max() / np.abs(G).max()
    assert err < 1e-4, err          # measured ~1e-6


def test_representation_and_orthogonality():
    lmax = 6
    R1, R2 = _random_rotations(50, 1), _random_rotations(50, 2)
    D1, D2, D12 = wigner_d_real(lmax, R1), wigner_d_real(lmax, R2), wigner_d_real(lmax, R1 @ R2)
    assert np.abs(D1 @ D2 - D12).max() < 1e-12
    eye = np.eye((lmax + 1) ** 2)
    assert np.abs(np.swapaxes(D1, -1, -2) @ D1 - eye).max() < 1e-12
    # inverse rotation gives the transpose
    assert np.abs(wigner_d_real(lmax, np.swapaxes(R1, -1, -2)) - np.swapaxes(D1, -1, -2)).max() < 1e-12
    # block-diagonal: nothing between different degrees
    deg = np.concatenate([np.full(2 * l + 1, l) for l in range(lmax + 1)])
    off = deg[:, None] != deg[None, :]
    assert np.abs(D1[:, off]).max() == 0.0
    # l = 1 block in the (y, z, x) order of the real harmonics is R itself
    perm = [1, 2, 0]
    assert np.abs(D1[:, 1:4, 1:4] - R1[:, perm][:, :, perm]).max() < 1e-14


def test_euler_and_matrix_paths_agree(rng):
    a, b, g = (rng.uniform(-math.pi, math.pi, 30), rng.uniform(0, math.pi, 30),
               rng.uniform(-math.pi, math.pi, 30))
    R = euler_to_matrix(a, b, g)
    assert np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max() < 1e-15
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-14)
    # ZYZ composition of elementary rotations
    for i in range(3):
        ref = (Rotation.from_euler("z", a[i]) * Rotation.from_euler("y", b[i])
               * Rotation.from_euler("z", g[i])).as_matrix()
        assert np.abs(R[i] - ref).max() < 1e-15
    assert np.abs(wigner_d_from_euler(5, a, b, g) - wigner_d_real(5, R)).max() < 1e-13
    a2, b2, g2 = matrix_to_euler(R)
    np.testing.assert_allclose(b2, b, atol=1e-12)
    assert np.abs(euler_to_matrix(a2, b2, g2) - R).max() < 1e-15


def _small_d(l, beta):
    """Wigner small-d d^l_{m'm}(beta) by the explicit factorial sum."""
    f = math.factorial
    d = np.zeros((2 * l + 1, 2 * l + 1))
    for mp in range(-l, l + 1):
        for m in range(-l, l + 1):
            tot = 0.0
            for s in range(0, 2 * l + 1):
                if l + m - s < 0 or l - mp - s < 0 or mp - m + s < 0:
                    continue
                tot += ((-1) ** (mp - m + s)
                        * math.sqrt(f(l + mp) * f(l - mp) * f(l + m) * f(l - m))
                        / (f(l + m - s) * f(s) * f(mp - m + s) * f(l - mp - s))
                        * math.cos(beta / 2) ** (2 * l + m - mp - 2 * s)
                        * math.sin(beta / 2) ** (mp - m + 2 * s))
            d[mp + l, m + l] = tot
    return d


def _complex_harmonics(l, x):
    r = np.linalg.norm(x, axis=1)
    th, ph = np.arccos(x[:, 2] / r), np.arctan2(x[:, 1], x[:, 0])
    return np.stack([sp.sph_harm_y(l, m, th, ph) for m in range(-l, l + 1)], -1)


def test_equals_complex_wigner_d(rng):
    lmax = 5
    x = rng.normal(size=(30, 3))
    for alpha, beta, gamma in rng.uniform(-3, 3, size=(5, 3)):
        R = euler_to_matrix(alpha, beta, gamma)
        D = wigner_d_real(lmax, R)
        for l in range(lmax + 1):
            m = np.arange(-l, l + 1)
            # Y^C(R x) = Dc Y^C(x) with Dc = exp(i m alpha) d(beta) exp(i m' gamma)
            Dc = np.exp(1j * m * alpha)[:, None] * _small_d(l, beta) * np.exp(1j * m * gamma)[None, :]
            Yc = _complex_harmonics(l, x)
            assert np.abs(_complex_harmonics(l, x @ R.T) - Yc @ Dc.T).max() < 1e-12
            U = complex_to_real_matrix(l)
            Dr = U @ Dc @ U.conj().T
            assert np.abs(Dr.imag).max() < 1e-12
            assert np.abs(Dr.real - D[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2]).max() < 1e-12


def test_rotate_matches_dense_product_and_broadcasts(xp, rng):
    lmax, P, C = 3, 4, 2
    Q = (lmax + 1) ** 2
    G = rng.normal(size=(6, P, Q, C))
    D = wigner_d_real(lmax, _random_rotations(6, 4))
    out = _host(rotate(xp.asarray(G), xp.asarray(D)))
    assert np.abs(out - np.einsum("bqk,bpkc->bpqc", D, G)).max() < 1e-14
    # one D for a whole batch
    out1 = _host(rotate(xp.asarray(G), xp.asarray(D[0])))
    assert np.abs(out1 - np.einsum("qk,bpkc->bpqc", D[0], G)).max() < 1e-14
    # many D for one coefficient set
    out2 = _host(rotate(xp.asarray(G[0]), xp.asarray(D)))
    assert out2.shape == (6, P, Q, C)
    assert np.abs(out2 - np.einsum("bqk,pkc->bpqc", D, G[0])).max() < 1e-14


def test_rotate_vjp(rng):
    lmax, P, C = 2, 3, 2
    Q = (lmax + 1) ** 2
    G = rng.normal(size=(4, P, Q, C))
    D = rng.normal(size=(4, Q, Q))   # any matrix: the VJP must not assume orthogonality
    check_grads(rotate, modes=["rev"], order=1)(G, D)
    check_grads(rotate, modes=["rev"], order=1)(G, D[0])      # broadcast D
    check_grads(rotate, modes=["rev"], order=1)(G[0], D)      # broadcast coeffs
    check_grads(rotate, modes=["rev"], order=1)(G[:, None], D[None, :2])


def test_bad_input():
    with pytest.raises(ValueError):
        wigner_d_real(2, np.eye(4))
    with pytest.raises(ValueError):
        wigner_d_real(-1, np.eye(3))
    with pytest.raises(TypeError):
        wigner_d_real(2, np.eye(3).astype(complex))
    with pytest.raises(ValueError):
        rotate(np.zeros((2, 9, 1)), np.zeros((4, 4)))
    with pytest.raises(ValueError):
        rotate(np.zeros((2, 8, 1)), np.zeros((8, 8)))
    with pytest.raises(ValueError):
        rotate(np.zeros((3, 2, 9, 1)), np.zeros((4, 9, 9)))
    with pytest.raises(TypeError):
        rotate(np.zeros((2, 9, 1), dtype=int), np.eye(9))


def test_random_rotations_are_uniform_rotations():
    from fourier6d import random_rotations
    R = random_rotations(20000, 3)
    assert R.shape == (20000, 3, 3)
    assert np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max() < 1e-12
    assert np.abs(np.linalg.det(R) - 1).max() < 1e-12
    # Haar measure: E[R] = 0 and E[trace R] = 0 (the trace is 1 + 2 cos(angle))
    assert np.abs(R.mean(axis=0)).max() < 0.02
    assert abs(np.trace(R, axis1=1, axis2=2).mean()) < 0.03
    np.testing.assert_array_equal(random_rotations(4, 7), random_rotations(4, 7))
    assert random_rotations(rng=1).shape == (3, 3)


# ---------------------------------------------------------------------------
# Numba kernels (fourier6d._numba_rotate) vs the array-agnostic reference path

from fourier6d import _numba_rotate                         # noqa: E402

needs_numba = pytest.mark.skipif(not _numba_rotate.AVAILABLE, reason="numba not importable")


def _rotate_grads(G, D, g):
    from autograd import grad
    return grad(lambda a, b: (rotate(a, b) * g).sum(), (0, 1))(G, D)


@needs_numba
@pytest.mark.parametrize("lmax", [0, 1, 4])
def test_numba_rotate_equals_reference_path(lmax, rng, monkeypatch):
    Q = (lmax + 1) ** 2
    G = rng.normal(size=(7, 3, Q, 5))
    D = rng.normal(size=(7, Q, Q))          # entries between degrees must be ignored
    g = rng.normal(size=G.shape)
    assert _numba_rotate.applicable(G, D)
    fast = rotate(G, D), *_rotate_grads(G, D, g)
    monkeypatch.setattr(_numba_rotate, "AVAILABLE", False)
    assert not _numba_rotate.applicable(G, D)
    ref = rotate(G, D), *_rotate_grads(G, D, g)
    for a, b in zip(fast, ref):
        assert a.dtype == b.dtype == np.float64
        assert np.abs(a - b).max() < 1e-12 * max(np.abs(b).max(), 1.0)
    # float32: same dtype out, agreement to float32 rounding
    G32, D32, g32 = G.astype(np.float32), D.astype(np.float32), g.astype(np.float32)
    ref32 = rotate(G32, D32), *_rotate_grads(G32, D32, g32)
    monkeypatch.setattr(_numba_rotate, "AVAILABLE", True)
    fast32 = rotate(G32, D32), *_rotate_grads(G32, D32, g32)
    for a, b in zip(fast32, ref32):
        assert a.dtype == b.dtype == np.float32
        assert np.abs(a - b).max() < 1e-5 * np.abs(b).max()


@needs_numba
def test_numba_rotate_vjp(rng):
    G = rng.normal(size=(3, 2, 9, 2))
    D = rng.normal(size=(3, 9, 9))
    assert _numba_rotate.applicable(G, D)
    check_grads(rotate, modes=["rev"], order=1)(G, D)


@pytest.mark.parametrize("lmax", [0, 1, 4, 8])
def test_numba_wigner_equals_array_path(lmax, monkeypatch):
    # fourier6d._numba_wigner (NumPy inputs) against the array path (CuPy's path), float64 and
    # float32, including the Euler-angle edge cases beta = 0 and beta = pi
    from fourier6d import _numba_wigner
    if not _numba_wigner.AVAILABLE:
        pytest.skip("numba not importable")
    rng = np.random.default_rng(11)
    R = random_rotations(200, rng)
    R[0] = np.eye(3)
    R[1] = np.diag([-1.0, 1.0, -1.0])                  # beta = pi
    R = R.reshape(4, 50, 3, 3)
    fused64, fused32 = wigner_d_real(lmax, R), wigner_d_real(lmax, R.astype(np.float32))
    monkeypatch.setattr(_numba_wigner, "AVAILABLE", False)
    ref64, ref32 = wigner_d_real(lmax, R), wigner_d_real(lmax, R.astype(np.float32))
    assert fused64.shape == ref64.shape == (4, 50, (lmax + 1) ** 2, (lmax + 1) ** 2)
    assert fused64.dtype == np.float64 and fused32.dtype == np.float32
    assert np.abs(fused64 - ref64).max() < 1e-12
    assert np.abs(fused32 - ref32).max() < 1e-5
