"""Tests of fourier6d.switch (paper Eqs. 10-11).

Independent reference: for Gaussians of equal width s,
int exp(-|r-a|^2/2s^2) exp(-|r-b|^2/2s^2) dr = (pi s^2)^(3/2) exp(-|a-b|^2/(4 s^2)).
"""
import math

import numpy as np
import pytest
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.expansion import expand_points
from fourier6d.switch import switch_to_vector

SIGMA = 1.0


def _overlap(a, b, s):
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
    return (math.pi * s * s) ** 1.5 * np.exp(-d2 / (4 * s * s))


@pytest.fixture(scope="module")
def gaussian_sets():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3))
    a *= 1.0 / np.linalg.norm(a, axis=1).max()      # f: 4 Gaussians within 1 A
    b = rng.normal(size=(3, 3))
    b *= 1.2 / np.linalg.norm(b, axis=1).max()      # w: 3 Gaussians within 1.2 A
    t = rng.normal(size=(4, 2))                     # C_in = 2
    u = rng.normal(size=(3, 2, 3))                  # (C_in, C_out) = (2, 3)
    exact = np.einsum("ic,ij,jco->o", t, _overlap(a, b, SIGMA), u)
    return a, b, t, u, exact


def _switch_error(case, grid, lmax):
    a, b, t, u, exact = case
    coeffs = expand_points(a, t, grid, lmax, SIGMA)
    filters = expand_points(b, u.reshape(len(b), -1), grid, lmax, SIGMA)
    filters = filters.reshape(grid.n_radial, (lmax + 1) ** 2, 2, 3)
    h = switch_to_vector(coeffs, filters, grid)
    return np.abs(h - exact).max() / np.abs(exact).max()


def test_matches_analytic_overlap(gaussian_sets):
    # rho_max = 6 A^-1, drho = 0.25; measured relative errors:
    # lmax 4: 1.2e-5, 6: 3.6e-9, 8: 2.8e-11, 10: 2.9e-14.
    grid = RadialGrid(25, 0.25)
    errors = [_switch_error(gaussian_sets, grid, lmax) for lmax in (4, 6, 8, 10)]
    assert errors[-1] < 1e-11
    assert errors[0] > 1e-7                                 # truncation is visible at lmax 4
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))  # and converges spectrally
    # a coarse grid (rho_max = 4 A^-1) loses the Gaussian tail: measured 5.0e-8
    assert _switch_error(gaussian_sets, RadialGrid(17, 0.25), 10) < 1e-6


def test_diagonal_filter_is_elementwise_eq10(rng):
    grid = RadialGrid(4, 0.5)
    x = rng.normal(size=(5, 4, 9, 3))
    wdiag = rng.normal(size=(4, 9, 3))
    filters = np.zeros((4, 9, 3, 3))
    for c in range(3):
        filters[:, :, c, c] = wdiag[:, :, c]
    pw = grid.weights() / (2 * math.pi) ** 3
    direct = (x * wdiag * pw[:, None, None]).sum(axis=(-3, -2))
    np.testing.assert_allclose(switch_to_vector(x, filters, grid), direct, rtol=1e-12)


def test_batch_shapes_and_linearity(xp, rng):
    grid = RadialGrid(3, 0.5)
    x = xp.asarray(rng.normal(size=(2, 3, 3, 4, 2)))
    w = xp.asarray(rng.normal(size=(3, 4, 2, 5)))
    h = switch_to_vector(x, w, grid)
    assert h.shape == (2, 3, 5)
    h1 = switch_to_vector(x[1, 2], w, grid)
    assert float(xp.abs(h1 - h[1, 2]).max()) < 1e-13
    h2 = switch_to_vector(2.0 * x, w, grid) - 2.0 * h
    assert float(xp.abs(h2).max()) < 1e-12


def test_float32_matches_float64(xp, rng):
    grid = RadialGrid(5, 0.3)
    x = rng.normal(size=(6, 5, 16, 4))
    w = rng.normal(size=(5, 16, 4, 3))
    h64 = switch_to_vector(xp.asarray(x), xp.asarray(w), grid)
    h32 = switch_to_vector(xp.asarray(x, dtype=xp.float32), xp.asarray(w, dtype=xp.float32), grid)
    assert h32.dtype == xp.float32
    assert float(xp.abs(h32.astype(xp.float64) - h64).max()) < 1e-5 * float(xp.abs(h64).max())


def test_gradients(rng):
    grid = RadialGrid(3, 0.8)
    x = rng.normal(size=(2, 3, 4, 2))
    w = rng.normal(size=(3, 4, 2, 3))
    check_grads(lambda v: switch_to_vector(v, w, grid), modes=["rev"], order=1)(x)
    check_grads(lambda v: switch_to_vector(x, v, grid), modes=["rev"], order=1)(w)
    check_grads(lambda v: switch_to_vector(x[0], v, grid), modes=["rev"], order=1)(w)


def test_bad_input(rng):
    grid = RadialGrid(3, 0.5)
    x = rng.normal(size=(2, 3, 4, 2))
    with pytest.raises(ValueError, match="filters"):
        switch_to_vector(x, np.zeros((3, 4, 3, 5)), grid)
    with pytest.raises(ValueError, match="filters"):
        switch_to_vector(x, np.zeros((3, 4, 2)), grid)
    with pytest.raises(TypeError, match="dtype"):
        switch_to_vector(x, np.zeros((3, 4, 2, 5), np.float32), grid)
