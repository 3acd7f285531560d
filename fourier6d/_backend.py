"""Array-module dispatch and per-(table, L, dtype, device) caches.

Every kernel of :mod:`fourier6d` takes the array module from its inputs
(:func:`get_array_module`) so that the same source runs on NumPy (CPU) and
CuPy (GPU).  Coefficient tables are built once, in float64 with NumPy, and
then cached per ``(name, key, dtype, device)`` by :func:`cached_table`.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

__all__ = ["get_array_module", "cached_table", "device_of", "is_cupy_array",
           "to_numpy", "clear_table_cache", "unbroadcast", "recycled_buffer", "recycled_zeros",
           "release_buffers"]


def is_cupy_array(x) -> bool:
    """True when ``x`` is a CuPy array (without importing CuPy if absent)."""
    return type(x).__module__.split(".")[0] == "cupy"


def get_array_module(*arrays):
    """Return :mod:`numpy` or :mod:`cupy`, whichever holds the given arrays.

    Autograd boxes are unwrapped.  Mixing CuPy and NumPy arrays returns CuPy;
    scalars and ``None`` are ignored.
    """
    for a in arrays:
        a = getattr(a, "_value", a)  # autograd ArrayBox
        if is_cupy_array(a):
            import cupy
            return cupy
    return np


def device_of(x):
    """A hashable device key: ``'cpu'`` or ``('cuda', id)``."""
    x = getattr(x, "_value", x)
    if is_cupy_array(x):
        return ("cuda", int(x.device.id))
    return "cpu"


def to_numpy(x):
    """Copy to host NumPy (for I/O and tests only, never inside kernels)."""
    x = getattr(x, "_value", x)
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


_CACHE: dict = {}
_LOCK = threading.RLock()  # re-entrant: builders may use other cached tables


def cached_table(name, key, builder, xp=np, dtype=np.float64):
    """Return a coefficient table from the cache, building it on first use.

    Parameters
    ----------
    name : str
        Table family (e.g. ``'gaunt'``).
    key : hashable
        Parameters that define the table (e.g. ``lmax``).
    builder : callable
        ``builder() -> numpy.ndarray`` (float64, host); called once per key.
    xp : module
        Target array module (numpy or cupy).
    dtype : dtype
        Target dtype.

    Notes
    -----
    Cache key is ``(name, key, dtype, device)``: the host float64 master copy
    is kept too so that other dtypes/devices are converted without rebuilding.
    """
    dtype = np.dtype(dtype)
    if xp is np:
        dev = "cpu"
    else:
        dev = ("cuda", int(xp.cuda.Device().id))
    full = (name, key, dtype.str, dev)
    tab = _CACHE.get(full)
    if tab is not None:
        return tab
    with _LOCK:
        master_key = (name, key, "master", "cpu")
        master = _CACHE.get(master_key)
        if master is None:
            master = np.asarray(builder())
            _CACHE[master_key] = master
        if np.iscomplexobj(master) and dtype.kind == "f":
            dtype = np.result_type(dtype, np.complex64)
        tab = xp.asarray(master.astype(dtype, copy=False))
        _CACHE[full] = tab
    return tab


def clear_table_cache():
    """Drop every cached table (tests use it to check rebuilds)."""
    with _LOCK:
        _CACHE.clear()


def unbroadcast(x, shape):
    """Sum a broadcast gradient ``x`` back to ``shape`` (used by the VJPs)."""
    extra = x.ndim - len(shape)
    if extra > 0:
        x = x.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x


#: Zero-filled NumPy arrays of at least this size come from :func:`recycled_zeros`' slots.
RECYCLE_ZEROS_BYTES = 64 << 20
_SLOTS: dict = {}
_SLOTS_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):         # a child starts with its own, unlocked lock
    os.register_at_fork(after_in_child=lambda: globals().update(_SLOTS_LOCK=threading.Lock()))


def _refs_when_free():
    probe = [np.empty(1)]
    return sys.getrefcount(probe[0])        # same expression as in recycled_buffer


#: ``sys.getrefcount`` of a tracked buffer that nothing else references.
_FREE_REFS = _refs_when_free()


def recycled_buffer(nbytes, slot, buffers=1, extra=0):
    """``(raw, fresh)``: a NumPy uint8 buffer of at least ``nbytes`` from ``slot``'s buffers.

    Large temporaries rebuilt at every call would otherwise land on fresh pages
    each time, whose first touch cost 0.1 to 5 s per GB on the project's
    2-core VM against about 0.05 s per GB to zero memory in place.  Up to
    ``buffers`` raw buffers are tracked per slot.  The smallest one that is
    large enough and that nothing views any more (every array carved from it
    has been freed by its user) is reused, ``fresh`` False: its contents are
    undefined.  Otherwise a new zeroed buffer of ``nbytes + extra`` bytes is
    made (``fresh`` True: the memory is zero), replacing a free one that is
    too small or, with ``buffers`` tracked, the oldest (no longer tracked;
    freed once its users are done).  :func:`release_buffers` forgets all
    slots.
    """
    with _SLOTS_LOCK:
        bufs = _SLOTS.setdefault(slot, [])
        free = [k for k in range(len(bufs)) if sys.getrefcount(bufs[k]) == _FREE_REFS]
        fits = [k for k in free if bufs[k].nbytes >= nbytes]
        if fits:
            raw = bufs.pop(min(fits, key=lambda k: bufs[k].nbytes))
            fresh = False
        else:
            if free and len(bufs) >= buffers:           # too small: replace a free one
                bufs.pop(free[0])
            elif len(bufs) >= buffers:                  # all in use: stop tracking the oldest
                bufs.pop(0)
            raw = np.zeros(nbytes + extra, dtype=np.uint8)
            fresh = True
        bufs.append(raw)                                # most recently used last
        return raw, fresh


def recycled_zeros(shape, dtype, xp=np, slot="default", zero=True):
    """``xp.zeros(shape, dtype)``, reusing on NumPy the memory of the last array of ``slot``.

    ``zero=False``: reused memory is not zeroed (its contents are undefined; for
    a caller that overwrites or zeroes every element itself).  Arrays of at
    least ``RECYCLE_ZEROS_BYTES`` come from one :func:`recycled_buffer` per
    slot (the per-edge operators of message passing: 2 GB for a 16-model
    6DCNN-2 batch), zeroed in place when reused.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if xp is not np or nbytes < RECYCLE_ZEROS_BYTES:
        return xp.zeros(shape, dtype=dtype)
    raw, fresh = recycled_buffer(nbytes, slot)
    out = raw[:nbytes].view(dtype).reshape(shape)
    if zero and not fresh:
        out.fill(0)
    return out


def release_buffers():
    """Forget the buffers of :func:`recycled_buffer` (freed once no array uses them)."""
    with _SLOTS_LOCK:
        _SLOTS.clear()
