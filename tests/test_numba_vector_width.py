"""Tests of fourier6d._numba_vector_width: the per-kernel hint for 256-bit vectors.

References: the LLVM IR and the machine code Numba compiles for a function that calls the
hint (the attribute is on the function; with it the vectoriser emits no 512-bit registers,
which on hosts without AVX-512 holds anyway), and the kernels measured faster with it, each of
which must call it.  The kernels' results are tested against the array paths in their own
test modules.
"""
import inspect
import re

import numpy as np
import pytest

from fourier6d import _numba_vector_width

pytestmark = pytest.mark.skipif(not _numba_vector_width.AVAILABLE, reason="numba not available")


def _axpy(hint):
    import numba
    from fourier6d._numba_vector_width import prefer_256_bit_vectors

    if hint:
        def axpy(a, x, y):
            prefer_256_bit_vectors()
            for i in range(x.shape[0]):
                y[i] += a * x[i]
    else:
        def axpy(a, x, y):
            for i in range(x.shape[0]):
                y[i] += a * x[i]
    # no cache: the IR and assembly of cached code cannot be inspected
    return numba.njit(fastmath={"contract"})(axpy)


def test_hint_sets_the_function_attribute_and_emits_no_code():
    x = np.arange(64, dtype=np.float32)
    ys = []
    for hint in (False, True):
        k = _axpy(hint)
        y = np.ones(64, dtype=np.float32)
        k(np.float32(2.0), x, y)
        ys.append(y)
        ir = k.inspect_llvm(k.signatures[0])
        assert (_numba_vector_width.ATTRIBUTE in ir) == hint
        if hint:
            asm = k.inspect_asm(k.signatures[0])
            assert re.search(r"\bzmm\d", asm) is None
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[1], 1 + 2 * x)


def test_hint_steps_aside_when_the_process_sets_the_cpu_features(monkeypatch):
    import numba
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "")
    k = _axpy(True)
    x = np.arange(8, dtype=np.float32)
    k(np.float32(1.0), x, x.copy())
    assert _numba_vector_width.ATTRIBUTE not in k.inspect_llvm(k.signatures[0])


#: The kernels that ask for 256-bit vectors: those measured faster with them on a host whose
#: default is 512 bits (the others measured the same or slower; benchmarks/RESULTS.md).
KERNELS = {
    "_numba_translate": ["_translate_l1", "_translate_l2", "_translate_l3", "_translate_l4"],
    "_numba_norm": ["_forward_rows", "_backward_rows"],
}


@pytest.mark.parametrize("module", sorted(KERNELS))
def test_kernels_ask_for_256_bit_vectors(module):
    import importlib
    mod = importlib.import_module(f"fourier6d.{module}")
    for name in KERNELS[module]:
        body = inspect.getsource(getattr(mod, name).py_func)
        assert "prefer_256_bit_vectors()" in body, f"{module}.{name}"
