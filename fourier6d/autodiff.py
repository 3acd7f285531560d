"""Autograd over CuPy arrays.

autograd knows only NumPy arrays: it wraps traced values in an ``ArrayBox``
chosen by the value's exact type, and builds zero/one cotangents from the
value's "vector space" (``VSpace``), also looked up by type.  The operators of
:mod:`fourier6d` are autograd primitives whose forward and VJP use the array
module of their inputs, so the only missing piece for the GPU is that
registration: :func:`enable_cupy_autograd` registers ``cupy.ndarray`` with
``ArrayBox`` and with a vector space whose ``zeros``/``ones``/``randn``/
``standard_basis`` are created *on the array's device* (real and complex
dtypes; for complex arrays the inner product and covector follow autograd's
NumPy convention, Re(conj(x) . y) and conj).

Status: the mechanism is tested on CPU (with a stand-in array type, see
tests/test_autodiff.py).  The GPU path itself must be verified on a GPU:
autograd's *own* NumPy primitives (``anp.sum``, arithmetic on boxes, ...) reach
CuPy through NumPy's ``__array_function__``/``__array_ufunc__`` dispatch; some
of their VJPs may create host arrays.  The fourier6d operators do not depend
on them.  Expressions with a plain CuPy array on the *left* of a box
(``cupy_array * box``) rely on CuPy forwarding to the box's
``__array_ufunc__`` (CuPy >= 8 does, per NEP 13); prefer ``box * cupy_array``.

Checked on CPU with cupy-cuda12x 14.2.0 installed and no GPU: enabling works
and leaves the NumPy path unchanged.  (CuPy 14 without its ``cuda-pathfinder``
dependency fails on import; enabling then returns False.)
"""
from __future__ import annotations

import threading

from autograd import grad, value_and_grad  # re-exported for convenience
from autograd.extend import VSpace
from autograd.numpy.numpy_boxes import ArrayBox

__all__ = ["enable_cupy_autograd", "is_cupy_autograd_enabled", "value_and_grad", "grad"]

_LOCK = threading.Lock()
_REGISTERED: set = set()


def _make_vspaces(xp):
    """Real and complex VSpace classes whose arrays live in module ``xp``."""

    class DeviceArrayVSpace(VSpace):
        iscomplex = False

        def __init__(self, value):
            self.shape = tuple(value.shape)
            self.dtype = value.dtype
            self.device = _device_id(value)

        @property
        def size(self):
            n = 1
            for s in self.shape:
                n *= s
            return n * (2 if self.iscomplex else 1)

        @property
        def ndim(self):
            return len(self.shape)

        def _on_device(self):
            return _device_context(xp, self.device)

        def zeros(self):
            with self._on_device():
                return xp.zeros(self.shape, dtype=self.dtype)

        def ones(self):
            with self._on_device():
                return xp.ones(self.shape, dtype=self.dtype)

        def standard_basis(self):
            import itertools
            for idx in itertools.product(*(range(s) for s in self.shape)):
                vect = self.zeros()
                vect[idx] = 1
                yield vect

        def randn(self):
            with self._on_device():
                return xp.asarray(xp.random.randn(*self.shape)).astype(self.dtype)

        def _inner_prod(self, x, y):
            return xp.dot(xp.ravel(x), xp.ravel(y))

    class DeviceComplexArrayVSpace(DeviceArrayVSpace):
        iscomplex = True

        def ones(self):
            with self._on_device():
                return (xp.ones(self.shape, dtype=self.dtype)
                        + 1.0j * xp.ones(self.shape, dtype=self.dtype))

        def standard_basis(self):
            import itertools
            for idx in itertools.product(*(range(s) for s in self.shape)):
                for v in (1.0, 1.0j):
                    vect = self.zeros()
                    vect[idx] = v
                    yield vect

        def randn(self):
            with self._on_device():
                re = xp.asarray(xp.random.randn(*self.shape))
                im = xp.asarray(xp.random.randn(*self.shape))
                return (re + 1.0j * im).astype(self.dtype)

        def _inner_prod(self, x, y):
            return xp.real(xp.dot(xp.conj(xp.ravel(x)), xp.ravel(y)))

        def _covector(self, x):
            return xp.conj(x)

    return DeviceArrayVSpace, DeviceComplexArrayVSpace


def _device_id(value):
    dev = getattr(value, "device", None)
    return getattr(dev, "id", None)


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _device_context(xp, device_id):
    cuda = getattr(xp, "cuda", None)
    if device_id is None or cuda is None or not hasattr(cuda, "Device"):
        return _NullContext()
    return cuda.Device(device_id)


def _register(xp, array_type=None):
    """Register ``array_type`` (default ``xp.ndarray``) with autograd.  Idempotent."""
    array_type = xp.ndarray if array_type is None else array_type
    with _LOCK:
        if array_type in _REGISTERED:
            return
        real_vs, complex_vs = _make_vspaces(xp)
        ArrayBox.register(array_type)
        VSpace.register(array_type,
                        lambda x: complex_vs(x) if x.dtype.kind == "c" else real_vs(x))
        _REGISTERED.add(array_type)


def enable_cupy_autograd():
    """Let autograd trace and differentiate functions of CuPy arrays.

    Registers ``cupy.ndarray`` with autograd's box and vector-space machinery
    (zeros/ones created on the array's device).  Idempotent; a no-op when
    CuPy cannot be imported.  Does not touch the GPU, so it is safe to call
    on machines where CuPy is installed but no GPU is present.

    Returns
    -------
    bool
        True when CuPy is registered (now or by an earlier call).
    """
    try:
        import cupy
    except Exception:       # not installed, or a broken CUDA installation
        return False
    _register(cupy)
    return True


def is_cupy_autograd_enabled():
    """True when ``cupy.ndarray`` is registered with autograd."""
    try:
        import cupy
    except Exception:
        return False
    return cupy.ndarray in _REGISTERED
