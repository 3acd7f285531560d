"""fourier6d.gather: take_rows against plain indexing; VJP against finite differences and add.at."""
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from fourier6d import take_rows
from fourier6d.gather import scatter_add_rows, sum_rows_by_index


def test_take_rows_forward_equals_indexing(rng):
    a = rng.normal(size=(7, 3, 2))
    idx = rng.integers(0, 7, size=(5, 4))
    np.testing.assert_array_equal(take_rows(a, idx), a[idx])


def test_take_rows_vjp_equals_add_at_and_finite_differences(rng):
    a = rng.normal(size=(9, 4))
    idx = rng.integers(0, 9, size=(6, 5))           # repeated rows, some rows never taken
    w = rng.normal(size=(6, 5, 4))
    g = grad(lambda x: np.sum(take_rows(x, idx) * w))(a)
    want = np.zeros_like(a)
    np.add.at(want, idx, w)
    np.testing.assert_allclose(g, want, rtol=0, atol=1e-13)
    check_grads(lambda x: take_rows(x, idx) ** 2, modes=["rev"], order=2)(a)


def test_take_rows_vjp_keeps_float32(rng):
    a = rng.normal(size=(5, 3)).astype(np.float32)
    idx = rng.integers(0, 5, size=8)
    g = grad(lambda x: (take_rows(x, idx) * np.float32(2)).sum())(a)
    assert g.dtype == np.float32


def test_take_rows_rejects_float_index():
    with pytest.raises(TypeError, match="integer"):
        take_rows(np.ones((3, 2)), np.array([0.0, 1.0]))


def test_scatter_add_rows_accumulates_in_place(rng):
    target = rng.normal(size=(6, 3))
    rows = np.array([5, 0, 5, 2, 5])
    values = rng.normal(size=(5, 3))
    want = target.copy()
    np.add.at(want, rows, values)
    scatter_add_rows(target, rows, values)
    np.testing.assert_allclose(target, want, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_rows_by_index_equals_add_at(rng, dtype):
    # the embedding's VJP: 60,000 atom slots x 15 channels summed into 168 atom types
    idx = rng.integers(0, 168, 60000)
    vals = rng.normal(size=(60000, 15)).astype(dtype)
    want = np.zeros((168, 15))
    np.add.at(want, idx, vals.astype(np.float64))
    out = sum_rows_by_index(vals, idx, 168)
    assert out.dtype == dtype and out.shape == (168, 15)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-10 if dtype == np.float64 else 2e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_scatter_matches_sparse_path(rng, dtype, monkeypatch):
    # the Numba scatter-add (NumPy inputs; target rows split over threads) against the sparse
    # array path: repeated rows, untouched rows, several thread ranges, both public functions
    from fourier6d import _numba_gather
    if not _numba_gather.AVAILABLE:
        pytest.skip("numba not available")
    n = 3 * _numba_gather.ROWS_PER_THREAD + 5
    rows = rng.integers(0, n - 7, size=4000)
    values = rng.normal(size=(4000, 37)).astype(dtype)
    base = rng.normal(size=(n, 37)).astype(dtype)
    fast, summed = base.copy(), sum_rows_by_index(values, rows, n)
    scatter_add_rows(fast, rows, values)
    with monkeypatch.context() as m:
        m.setattr(_numba_gather, "applicable", lambda *a: False)
        ref, ref_sum = base.copy(), sum_rows_by_index(values, rows, n)
        scatter_add_rows(ref, rows, values)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert fast.dtype == dtype and summed.dtype == dtype
    np.testing.assert_allclose(fast, ref, rtol=0, atol=tol * np.abs(ref).max())
    np.testing.assert_allclose(summed, ref_sum, rtol=0, atol=tol * np.abs(ref_sum).max())
    np.testing.assert_array_equal(fast[n - 7:], base[n - 7:])          # rows never indexed
    with pytest.raises(ValueError, match="rows must lie"):
        _numba_gather.scatter_add(fast, np.array([0, n]), values[:2])
