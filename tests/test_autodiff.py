"""Tests of fourier6d.autodiff (autograd over CuPy arrays).

No GPU here: the registration mechanism is exercised with a stand-in "device"
array module (a NumPy subclass whose type lives in a module named ``cupy``,
installed in ``sys.modules`` for the test only).  Its arrays are what
``get_array_module`` treats as CuPy, so the fourier6d kernels run through the
stand-in module, and autograd must box them and build cotangents of the
stand-in type.  The real CuPy path must be verified on a GPU.
"""
import importlib.util
import sys
import types

import numpy as np
import pytest
from autograd import grad
from autograd.core import vspace
from autograd.test_util import check_grads

from fourier6d import autodiff
from fourier6d.autodiff import enable_cupy_autograd, is_cupy_autograd_enabled, value_and_grad
from fourier6d.radial import RadialGrid
from fourier6d.normalization import normalize
from fourier6d.activation import activation
from fourier6d.switch import switch_to_vector
from fourier6d.embedding import embed_atoms


class FakeDeviceArray(np.ndarray):
    """Stand-in for cupy.ndarray (plain NumPy storage, distinct type)."""


FakeDeviceArray.__module__ = "cupy"


def _to_fake(out):
    if isinstance(out, np.ndarray) and not isinstance(out, FakeDeviceArray):
        return out.view(FakeDeviceArray)
    return out


class _FakeCupy(types.ModuleType):
    """Every NumPy function, returning FakeDeviceArray instead of ndarray."""

    ndarray = FakeDeviceArray

    def __getattr__(self, name):
        obj = getattr(np, name)
        if callable(obj) and not isinstance(obj, type):
            return lambda *a, **k: _to_fake(obj(*a, **k))
        return obj


fake_cupy = _FakeCupy("cupy")
fake_cupy.random = types.SimpleNamespace(randn=lambda *s: _to_fake(np.random.randn(*s)))


# cupyx.scipy.sparse of the fake device: scipy.sparse (whose products return host arrays;
# the library wraps them with xp.asarray / adds them into device arrays)
fake_cupyx = types.ModuleType("cupyx")
fake_cupyx.scipy = types.ModuleType("cupyx.scipy")


@pytest.fixture
def fake_device(monkeypatch):
    import scipy.sparse
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(fake_cupyx.scipy, "sparse", scipy.sparse, raising=False)
    monkeypatch.setitem(sys.modules, "cupyx", fake_cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.scipy", fake_cupyx.scipy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.sparse", scipy.sparse)
    return fake_cupy


def _dev(x):
    return np.asarray(x).view(FakeDeviceArray)


def test_numpy_path_unaffected(rng):
    enable_cupy_autograd()
    enable_cupy_autograd()                      # idempotent
    grid = RadialGrid(3, 0.7)
    x = rng.normal(size=(2, 3, 4, 2))
    check_grads(lambda v: normalize(v, grid), modes=["rev"], order=1)(x)
    g = grad(lambda v: (normalize(v, grid) ** 2).sum())(x)
    assert type(g) is np.ndarray
    assert type(vspace(x).zeros()) is np.ndarray
    val, g2 = value_and_grad(lambda v: (v ** 2).sum())(x)
    np.testing.assert_allclose(g2, 2 * x)


def test_enable_without_or_with_cupy_does_not_crash():
    importable = importlib.util.find_spec("cupy") is not None
    if importable:
        try:
            import cupy  # noqa: F401
        except Exception:       # e.g. cupy 14 without its cuda-pathfinder dependency
            importable = False
    if not importable:
        assert enable_cupy_autograd() is False
        assert is_cupy_autograd_enabled() is False
        pytest.skip("cupy not importable: only the no-op path is checked")
    # cupy importable (maybe without a GPU): registration must not touch the device
    # (checked with cupy-cuda12x 14.2.0 and no GPU: passes)
    assert enable_cupy_autograd() is True
    assert enable_cupy_autograd() is True
    assert is_cupy_autograd_enabled()


def test_unregistered_device_type_fails_then_registered_works(fake_device, rng):
    class OtherDeviceArray(np.ndarray):
        pass
    x = rng.normal(size=(3,)).view(OtherDeviceArray)
    with pytest.raises((TypeError, KeyError)):
        grad(lambda v: (v * v).sum())(x)
    autodiff._register(fake_device, OtherDeviceArray)
    autodiff._register(fake_device, OtherDeviceArray)   # idempotent
    np.testing.assert_allclose(grad(lambda v: (v * v).sum())(x), 2 * np.asarray(x))


def test_vspace_creates_device_arrays(fake_device):
    autodiff._register(fake_device)
    real = vspace(_dev(np.zeros((2, 3))))
    assert type(real.zeros()) is FakeDeviceArray and real.zeros().shape == (2, 3)
    assert type(real.ones()) is FakeDeviceArray and float(real.ones().sum()) == 6.0
    assert type(real.randn()) is FakeDeviceArray and real.randn().dtype == np.float64
    basis = list(real.standard_basis())
    assert len(basis) == 6 and all(type(b) is FakeDeviceArray for b in basis)
    assert real.size == 6 and not real.iscomplex
    cplx = vspace(_dev(np.zeros((2,), np.complex128)))
    assert cplx.iscomplex and cplx.size == 4
    assert np.all(np.asarray(cplx.ones()) == 1 + 1j)
    a, b = _dev(np.array([1 + 2j, 3j])), _dev(np.array([2 - 1j, 1 + 1j]))
    assert float(cplx.inner_prod(a, b)) == pytest.approx(np.real(np.vdot(np.asarray(a), np.asarray(b))))
    f32 = vspace(_dev(np.zeros((4,), np.float32)))
    assert f32.zeros().dtype == np.float32 and f32.randn().dtype == np.float32


def test_operators_differentiate_on_device_arrays(fake_device, rng):
    autodiff._register(fake_device)
    grid = RadialGrid(3, 0.8)
    x = rng.normal(size=(2, 3, 4, 2))
    b = rng.normal(size=(3, 4, 2))
    w = rng.normal(size=(3, 4, 2, 3))
    proj = rng.normal(size=(2, 3))

    def loss(x_, b_, w_):
        return (switch_to_vector(activation(x_, b_, grid), w_, grid) * proj).sum()

    grads_host = [grad(loss, i)(x, b, w) for i in range(3)]
    xd, bd, wd, proj = _dev(x), _dev(b), _dev(w), _dev(proj)
    for i, g_host in enumerate(grads_host):
        g_dev = grad(loss, i)(xd, bd, wd)
        assert type(g_dev) is FakeDeviceArray           # stayed "on the device"
        np.testing.assert_allclose(np.asarray(g_dev), g_host, rtol=1e-12, atol=1e-14)
    check_grads(lambda v: normalize(v, grid), modes=["rev"], order=1)(xd)
    check_grads(lambda v: activation(xd, v, grid), modes=["rev"], order=1)(bd)

    # embedding: gradient w.r.t. E through the bincount scatter
    basis = _dev(rng.normal(size=(2, 3, 3, 4)))
    types_ = _dev(rng.integers(0, 4, size=(2, 3)))
    emb = _dev(rng.normal(size=(4, 2)))
    g_emb = grad(lambda e: (embed_atoms(basis, types_, e) ** 2).sum())(emb)
    assert type(g_emb) is FakeDeviceArray
    g_ref = grad(lambda e: (embed_atoms(np.asarray(basis), np.asarray(types_), e) ** 2).sum())(
        np.asarray(emb))
    np.testing.assert_allclose(np.asarray(g_emb), g_ref, rtol=1e-12)
