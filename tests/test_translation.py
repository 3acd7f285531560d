"""Tests of fourier6d.translation (paper Eq. 5).

Independent reference: exact re-expansion (Eq. 2, fourier6d.expansion) of
shifted Gaussian point sets, with the paper's Fig. 2F parameters
(sigma = 0.4 A, rho_max = 0.6 pi, drho = 0.2 pi -> 4 radial points).
"""
import numpy as np
import pytest
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.expansion import expand_points
from fourier6d.translation import (z_translation_matrices, translate_z, apply_operators,
                                   z_translation_table)

SIGMA = 0.4
GRID = RadialGrid(4, 0.2 * np.pi)          # rho = 0, 0.2 pi, 0.4 pi, 0.6 pi
# six Gaussians within 0.84 A of their centre of mass (the Fig. 2 pattern is not published)
PATTERN = np.array([[0.8, 0, 0], [0, 0.8, 0], [0, 0, 0.8], [-0.5, -0.5, 0],
                    [0.4, -0.3, -0.6], [-0.3, 0.5, -0.4]])
PATTERN = PATTERN - PATTERN.mean(0)
L_REF = 30


def _pnorm2(g, grid=GRID):
    return float((grid.weights()[:, None, None] * g ** 2).sum())


def _errors(lmax, d, pts=PATTERN):
    """(operator error, pattern-recovery error), both relative, Parseval norm.

    operator: |T G - G_shift[l <= L]| / |G_shift[l <= L]| -- the error of Eq. 5 itself;
    recovery: |f_L translated - f_shift| / |f_shift| with f_shift expanded to L_REF = 30
    (adds the truncation of the translated pattern at L, as in Fig. 2F).
    """
    ones = np.ones((len(pts), 1))
    G = expand_points(pts, ones, GRID, lmax, SIGMA)
    full = expand_points(pts + [0, 0, d], ones, GRID, L_REF, SIGMA)
    q = (lmax + 1) ** 2
    moved = translate_z(G, d, GRID)
    op = _pnorm2(moved - full[:, :q]) / _pnorm2(full[:, :q])
    rec = (_pnorm2(moved - full[:, :q]) + _pnorm2(full[:, q:])) / _pnorm2(full)
    return np.sqrt(op), np.sqrt(rec)


def test_point_at_origin_is_translated_exactly():
    # a Gaussian at the origin has only l = 0: no truncation is involved at all
    ones = np.ones((1, 1))
    for lmax in (2, 6):
        G = expand_points(np.zeros((1, 3)), ones, GRID, lmax, SIGMA)
        for d in (0.7, -2.5, 6.0):
            ref = expand_points(np.array([[0, 0, d]]), ones, GRID, lmax, SIGMA)
            assert np.abs(translate_z(G, d, GRID) - ref).max() < 1e-13 * np.abs(ref).max()


def test_fig2f_recovery_error_negligible_within_sigma_L_over_2():
    # Measured recovery errors (rows L, columns d in A):
    #  L \ d   0.4     0.8     1.2     1.6     2.4     3.2     4.8
    #  4      3.2e-3  8.7e-3  2.1e-2  4.9e-2  2.0e-1   -       -
    #  8      1.9e-6  2.2e-5  1.4e-4  5.4e-4  4.7e-3   -      ~2e-1
    #  12     2.2e-10 7.5e-9  1.2e-7  1.1e-6  3.1e-5  ~4e-4   ~1e-2
    for lmax in (4, 8, 12):
        d_ok = SIGMA * lmax / 2
        for d in (0.5 * d_ok, d_ok, -d_ok):
            op, rec = _errors(lmax, d)
            assert rec < 1e-2, (lmax, d, rec)
        # and the error is no longer negligible at 3 sigma L / 2 (for L = 4, 8)
        if lmax <= 8:
            assert _errors(lmax, 3 * d_ok)[1] > 0.1
    # at fixed d the error falls fast with L
    errs = [_errors(lmax, 1.6)[1] for lmax in (4, 8, 12)]
    assert all(b < 0.1 * a for a, b in zip(errs, errs[1:]))


def test_operator_error_is_set_by_the_truncation_of_the_input():
    # The error of Eq. 5 alone comes from the l > L coefficients of the input
    # that the truncated expansion lacks; measured max over d in [0.4, 6] A:
    # L=4: 7.6e-4, L=8: 6.2e-8, L=12: 1.3e-12.
    for lmax, bound in ((4, 2e-3), (8, 2e-7), (12, 5e-12)):
        worst = max(_errors(lmax, d)[0] for d in (0.4, 1.6, 3.0, 6.0))
        assert worst < bound
    assert _errors(4, 1.6)[0] > 1e-5          # but it is there


def test_back_and_forth_and_algebraic_properties():
    lmax = 6
    d = np.array([0.0, 0.8, 1.2, -3.0])
    T = z_translation_matrices(lmax, GRID, d)
    Q = (lmax + 1) ** 2
    assert T.shape == (4, GRID.n_radial, Q, Q)
    assert np.abs(T[0] - np.eye(Q)).max() < 1e-14                    # T(0) = I
    Tm = z_translation_matrices(lmax, GRID, -d)
    assert np.abs(Tm - np.swapaxes(T, -1, -2)).max() < 1e-13         # T(-d) = T(d)^T, exact
    # T(d) T(-d) = T T^T ~ I only for degrees well below L (truncation): measured for
    # d = 0.8 A, L = 6 and the l <= 3 block: 1.2e-3; the full matrix is far from orthogonal.
    prod = T[1] @ Tm[1]
    assert np.abs(prod[:, :4, :4] - np.eye(4)).max() < 1e-6
    assert np.abs(prod[:, :16, :16] - np.eye(16)).max() < 1e-2
    assert np.abs(T[3] @ Tm[3] - np.eye(Q)).max() > 0.1
    # only m = m' couples
    from fourier6d.harmonics import orders
    M = orders(lmax)
    assert np.all(T[..., M[:, None] != M[None, :]] == 0)
    # back and forth on a pattern: recovered within the regime
    ones = np.ones((6, 1))
    G = expand_points(PATTERN, ones, GRID, 8, SIGMA)
    back = translate_z(translate_z(G, 1.0, GRID), -1.0, GRID)
    assert np.sqrt(_pnorm2(back - G) / _pnorm2(G)) < 1e-3


def test_batched_displacements_and_dtypes(xp, rng):
    lmax = 4
    d = rng.uniform(-2, 2, size=(3, 2))
    G = rng.normal(size=(3, 2, GRID.n_radial, 25, 5))
    out = translate_z(xp.asarray(G), xp.asarray(d), GRID)
    ref = np.stack([np.stack([translate_z(G[i, j], d[i, j], GRID) for j in range(2)])
                    for i in range(3)])
    out64 = np.asarray(out.get() if hasattr(out, "get") else out)
    assert np.abs(out64 - ref).max() < 1e-12
    out32 = translate_z(xp.asarray(G, dtype=np.float32), xp.asarray(d, dtype=np.float32), GRID)
    assert out32.dtype == np.float32
    out32 = np.asarray(out32.get() if hasattr(out32, "get") else out32)
    assert np.abs(out32 - ref).max() < 1e-5 * np.abs(ref).max()


def test_vjp():
    rng = np.random.default_rng(3)
    G = rng.normal(size=(2, GRID.n_radial, 9, 3))
    check_grads(lambda g: translate_z(g, np.array([0.7, -1.3]), GRID), modes=["rev"], order=1)(G)
    ops = z_translation_matrices(2, GRID, 0.9)                # broadcast over the batch
    check_grads(lambda g: apply_operators(ops, g), modes=["rev"], order=1)(G)


def test_table_and_bad_input():
    A = z_translation_table(3)
    assert A.shape == (7, 16, 16)
    assert np.abs(A[0] - np.eye(16)).max() < 1e-14           # j_0 term: sqrt(4 pi) C[q, 00, q]
    with pytest.raises(TypeError):
        z_translation_matrices(2, 0.5, 1.0)
    with pytest.raises(ValueError):
        z_translation_matrices(-1, GRID, 1.0)
    with pytest.raises(ValueError):
        translate_z(np.zeros((GRID.n_radial, 10, 1)), 1.0, GRID)
    with pytest.raises(ValueError):
        translate_z(np.zeros((3, 9, 1)), 1.0, GRID)
    with pytest.raises(TypeError):
        translate_z(np.zeros((GRID.n_radial, 9, 1), dtype=int), 1.0, GRID)


def test_z_translation_matrices_equal_bessel_sum_of_the_table():
    # T(rho_p, d) = sum_lam j_lam(rho_p d) A[lam] with scipy's Bessel functions (signed d: odd
    # lam change sign), d negative, zero and positive, float64 and float32
    from scipy.special import spherical_jn as jn
    lmax = 3
    A = z_translation_table(lmax)
    d = np.array([-2.1, 0.0, 1.3, 6.0])
    rho = GRID.points(np, np.float64)
    x = d[:, None] * rho                                                    # (4, P)
    lam = np.arange(2 * lmax + 1)
    j = jn(lam, np.abs(x)[..., None]) * np.where(x[..., None] < 0, (-1.0) ** lam, 1.0)
    ref = np.einsum("npk,kab->npab", j, A)
    T = z_translation_matrices(lmax, GRID, d)
    assert np.abs(T - ref).max() < 1e-13
    T32 = z_translation_matrices(lmax, GRID, d.astype(np.float32))
    assert T32.dtype == np.float32 and np.abs(T32 - ref).max() < 1e-5


def test_translation_matrices_broadcast_one_t_over_many_rotations():
    from fourier6d import random_rotations
    from fourier6d.translation import translation_matrices
    grid = RadialGrid(4, 0.5)
    R = random_rotations(6, 0)
    t = np.array([1.0, 2.0, -0.5])
    one = translation_matrices(3, grid, t, rotation=R)
    tiled = translation_matrices(3, grid, np.tile(t, (6, 1)), rotation=R)
    assert one.shape == (6, 4, 16, 16)
    np.testing.assert_allclose(one, tiled, rtol=0, atol=1e-14)


@pytest.mark.parametrize("lmax", [0, 1, 3, 4, 6])
def test_plane_wave_translation_equals_rotated_z_translation(lmax):
    # the two evaluations of T(t) (plane-wave table for lmax <= PLANE_WAVE_MAX_L, rotate-to-z
    # above) are the same truncated operator: equal to rounding, t = 0 and t along -+z included
    from fourier6d.translation import _plane_wave_translation, _rotated_z_translation
    rng = np.random.default_rng(lmax)
    t = np.concatenate([rng.normal(size=(6, 3)) * 3, [[0, 0, 0], [0, 0, 2.5], [0, 0, -1.5],
                                                      [1e-9, 0, 1.0]]])
    pw = _plane_wave_translation(lmax, GRID, t)
    rz = _rotated_z_translation(lmax, GRID, t)
    assert pw.shape == rz.shape == (10, GRID.n_radial, (lmax + 1) ** 2, (lmax + 1) ** 2)
    assert np.abs(pw - rz).max() < 1e-12
    pw32 = _plane_wave_translation(lmax, GRID, t.astype(np.float32))
    assert pw32.dtype == np.float32 and np.abs(pw32 - rz).max() < 1e-5


def test_translation_matrices_t_is_the_transpose():
    from fourier6d import random_rotations
    from fourier6d.translation import PLANE_WAVE_MAX_L, translation_matrices, translation_matrices_t
    rng = np.random.default_rng(5)
    R = random_rotations(8, rng).reshape(2, 4, 3, 3)
    t = rng.normal(size=(2, 4, 3)) * 2
    for lmax in (2, PLANE_WAVE_MAX_L + 1):                       # both evaluations of T(t)
        for rot in (None, R):
            T = translation_matrices(lmax, GRID, t, rotation=rot)
            Tt = translation_matrices_t(lmax, GRID, t, rotation=rot)
            assert Tt.flags.c_contiguous and T.shape == Tt.shape == (2, 4, GRID.n_radial) + ((lmax + 1) ** 2,) * 2
            assert np.abs(Tt - np.swapaxes(T, -1, -2)).max() < 1e-12
