"""Tests of fourier6d.activation (paper Eqs. 8-9)."""
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.activation import activation, activation_gain
from fourier6d.normalization import normalize

GRID = RadialGrid(4, 0.6)


def _reference(x, b, grid, eps=1e-12):
    """Eq. 9 written directly with autograd.numpy (no custom VJP except N)."""
    pw = grid.weights() / (2 * math.pi) ** 3
    y = normalize(x + b, grid, eps)
    z = normalize(b, grid, eps)
    gain = 0.25 * anp.sum((y - z) ** 2 * pw[:, None, None], axis=(-3, -2), keepdims=True)
    return gain * y


def test_matches_reference(rng):
    x = rng.normal(size=(3, 4, 9, 5))
    b = rng.normal(size=(4, 9, 5))
    np.testing.assert_allclose(activation(x, b, GRID), _reference(x, b, GRID), rtol=1e-12, atol=1e-14)


def test_gain_in_unit_interval(rng):
    x = rng.normal(size=(200, 4, 9, 3))
    b = rng.normal(size=(4, 9, 3))
    # mix in near-coherent and near-anti-coherent inputs to reach both ends
    x[:50] = rng.uniform(0.1, 5, size=(50, 1, 1, 3)) * b + 0.05 * x[:50]
    x[50:100] = -rng.uniform(1.5, 5, size=(50, 1, 1, 3)) * b + 0.05 * x[50:100]
    a = activation_gain(x, b, GRID)
    assert a.shape == (200, 3)
    assert np.all(a >= 0.0) and np.all(a <= 1.0)
    assert a.min() < 0.01 and a.max() > 0.99
    # the output is a times a unit-norm function
    out = activation(x, b, GRID)
    pw = GRID.weights() / (2 * math.pi) ** 3
    norm2 = (out ** 2 * pw[:, None, None]).sum(axis=(-3, -2))
    np.testing.assert_allclose(norm2, a ** 2, rtol=1e-10)


@pytest.mark.parametrize("k", [0.3, 1.0, 4.0])
def test_coherent_input_is_blocked(rng, k):
    b = rng.normal(size=(4, 9, 2))
    x = k * b
    np.testing.assert_allclose(activation_gain(x, b, GRID), 0.0, atol=1e-12)
    np.testing.assert_allclose(activation(x, b, GRID), 0.0, atol=1e-12)


@pytest.mark.parametrize("k", [1.5, 2.0, 10.0])
def test_anti_coherent_input_passes_fully(rng, k):
    # F = -K B with K > 1: F + B = -(K - 1) B, N(F + B) = -N(B), a = 1.
    b = rng.normal(size=(4, 9, 2))
    x = -k * b
    np.testing.assert_allclose(activation_gain(x, b, GRID), 1.0, atol=1e-10)
    np.testing.assert_allclose(activation(x, b, GRID), -normalize(b, GRID), atol=1e-10)


def test_weak_anti_coherent_and_cancelling_inputs(rng):
    b = rng.normal(size=(4, 9, 2))
    # 0 < K < 1: F + B = (1 - K) B is coherent with B, a = 0
    np.testing.assert_allclose(activation_gain(-0.5 * b, b, GRID), 0.0, atol=1e-12)
    # K = 1: F + B = 0, N(0) = 0 (eps guard), a = ||N(B)||^2 / 4 = 1/4
    np.testing.assert_allclose(activation_gain(-b, b, GRID), 0.25, atol=1e-10)
    assert np.all(activation(-b, b, GRID) == 0.0)


def test_dc_coefficient_of_input_is_ignored(rng):
    x = rng.normal(size=(2, 4, 9, 2))
    b = rng.normal(size=(4, 9, 2))
    y = x.copy()
    y[..., 0, 0, :] += 5.0
    np.testing.assert_allclose(activation(x, b, GRID), activation(y, b, GRID), rtol=1e-12, atol=1e-15)


def test_float32_matches_float64(xp, rng):
    x = rng.normal(size=(5, 4, 9, 3))
    b = rng.normal(size=(4, 9, 3))
    out64 = activation(xp.asarray(x), xp.asarray(b), GRID)
    out32 = activation(xp.asarray(x, dtype=xp.float32), xp.asarray(b, dtype=xp.float32), GRID)
    assert out32.dtype == xp.float32
    assert float(xp.abs(out32.astype(xp.float64) - out64).max()) < 1e-5 * float(xp.abs(out64).max())


def test_gradients(rng):
    x = rng.normal(size=(2, 3, 4, 2))
    b = rng.normal(size=(3, 4, 2))
    grid = RadialGrid(3, 0.8)
    check_grads(lambda v: activation(v, b, grid), modes=["rev"], order=1)(x)
    check_grads(lambda v: activation(x, v, grid), modes=["rev"], order=1)(b)
    # unbatched input (no leading dims)
    check_grads(lambda v: activation(x[0], v, grid), modes=["rev"], order=1)(b)
    # agrees with autograd's own gradient of the reference composition
    proj = rng.normal(size=x.shape)
    for argnum in (0, 1):
        g1 = grad(lambda u, v: anp.sum(activation(u, v, grid) * proj), argnum)(x, b)
        g2 = grad(lambda u, v: anp.sum(_reference(u, v, grid) * proj), argnum)(x, b)
        np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


def test_bad_input(rng):
    x = rng.normal(size=(2, 4, 9, 2))
    with pytest.raises(ValueError, match="bias"):
        activation(x, np.zeros((4, 9, 3)), GRID)
    with pytest.raises(ValueError, match="bias"):
        activation(x, np.zeros((1, 4, 9, 2)), GRID)
    with pytest.raises(TypeError, match="dtype"):
        activation(x, np.zeros((4, 9, 2), np.float32), GRID)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 3e-6)])
def test_numba_kernels_equal_array_path(dtype, tol, monkeypatch):
    # fourier6d._numba_activation (NumPy inputs) against the array expressions (CuPy's path):
    # forward and both cotangents
    from autograd import grad
    from fourier6d import _numba_activation
    if not _numba_activation.AVAILABLE:
        pytest.skip("numba not importable")
    rng = np.random.default_rng(5)
    grid = RadialGrid.from_sigma(2.0, 5)
    x = rng.normal(size=(4, 6, 5, 16, 3)).astype(dtype)
    b = rng.normal(size=(5, 16, 3)).astype(dtype)
    w = rng.normal(size=x.shape).astype(dtype)

    def run():
        out = activation(x, b, grid)
        gx, gb = grad(lambda xx, bb: (activation(xx, bb, grid) * w).sum(), argnum=(0, 1))(x, b)
        return out, gx, gb
    fused = run()
    monkeypatch.setattr(_numba_activation, "AVAILABLE", False)
    reference = run()
    for a, r in zip(fused, reference):
        assert a.dtype == r.dtype == dtype
        assert np.abs(a - r).max() <= tol * max(1.0, np.abs(r).max())
