"""Tests of fourier6d.embedding (Eq. 2 with t_n = E[type_n])."""

import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.expansion import point_basis, expand_points
from fourier6d.embedding import embed_atoms

GRID = RadialGrid(4, 0.5)
LMAX = 3
SIGMA = 1.5


def _neighbourhoods(rng, n_res=5, n_slots=7, n_types=6):
    xyz = rng.uniform(-6, 6, size=(n_res, n_slots, 3))
    types = rng.integers(0, n_types, size=(n_res, n_slots))
    valid = rng.random((n_res, n_slots)) < 0.75
    valid[:, 0] = True
    basis = point_basis(xyz, GRID, LMAX, SIGMA) * valid[..., None, None]
    return xyz, types, valid, basis


def test_equals_expand_points_with_one_hot_features(rng):
    n_types, n_channels = 6, 4
    xyz, types, valid, basis = _neighbourhoods(rng, n_types=n_types)
    emb = rng.normal(size=(n_types, n_channels))
    one_hot = (types[..., None] == np.arange(n_types)).astype(float)   # (N, K, T)
    ref = expand_points(xyz, one_hot, GRID, LMAX, SIGMA, mask=valid) @ emb
    out = embed_atoms(basis, types, emb)
    assert out.shape == (5, GRID.n_radial, (LMAX + 1) ** 2, n_channels)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_padding_types_do_not_matter(rng):
    xyz, types, valid, basis = _neighbourhoods(rng)
    emb = rng.normal(size=(6, 3))
    other = np.where(valid, types, (types + 3) % 6)
    np.testing.assert_array_equal(embed_atoms(basis, types, emb), embed_atoms(basis, other, emb))
    # nor do they receive gradient
    proj = rng.normal(size=(5, GRID.n_radial, (LMAX + 1) ** 2, 3))
    g1 = grad(lambda e: (embed_atoms(basis, types, e) * proj).sum())(emb)
    g2 = grad(lambda e: (embed_atoms(basis, other, e) * proj).sum())(emb)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-12)


def test_float32_matches_float64(xp, rng):
    _, types, _, basis = _neighbourhoods(rng)
    emb = rng.normal(size=(6, 3))
    out64 = embed_atoms(xp.asarray(basis), xp.asarray(types), xp.asarray(emb))
    out32 = embed_atoms(xp.asarray(basis, dtype=xp.float32), xp.asarray(types),
                        xp.asarray(emb, dtype=xp.float32))
    assert out32.dtype == xp.float32
    assert float(xp.abs(out32.astype(xp.float64) - out64).max()) < 1e-5 * float(xp.abs(out64).max())


def test_gradients(rng):
    _, types, _, basis = _neighbourhoods(rng, n_res=3, n_slots=4, n_types=5)
    basis = basis / np.abs(basis).max()
    emb = rng.normal(size=(5, 2))
    check_grads(lambda e: embed_atoms(basis, types, e), modes=["rev"], order=1)(emb)
    check_grads(lambda b: embed_atoms(b, types, emb), modes=["rev"], order=1)(basis)
    # unbatched (K, P, Q) input
    check_grads(lambda e: embed_atoms(basis[0], types[0], e), modes=["rev"], order=1)(emb)


def test_bad_input(rng):
    _, types, _, basis = _neighbourhoods(rng)
    emb = rng.normal(size=(6, 3))
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        embed_atoms(basis, np.where(types == 0, 6, types), emb)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        embed_atoms(basis, types - 1, emb)
    with pytest.raises(TypeError, match="integer"):
        embed_atoms(basis, types.astype(float), emb)
    with pytest.raises(ValueError, match="types must have shape"):
        embed_atoms(basis, types[:, :-1], emb)
    with pytest.raises(ValueError, match="embedding"):
        embed_atoms(basis, types, emb[0])
    with pytest.raises(TypeError, match="dtype"):
        embed_atoms(basis, types, emb.astype(np.float32))


def _many_residues(rng, numba_embed, ranges, extra, n_slots, n_types, n_channels):
    """Types, basis and embedding of ``ranges`` thread ranges (+ ``extra``) of residues."""
    if not numba_embed.AVAILABLE:
        pytest.skip("numba not available")
    n_res = ranges * numba_embed.RESIDUES_PER_THREAD + extra
    xyz = rng.uniform(-6, 6, size=(n_res, n_slots, 3))
    types = rng.integers(0, n_types, size=(n_res, n_slots))
    return types, point_basis(xyz, GRID, LMAX, SIGMA), rng.normal(size=(n_types, n_channels))


def test_numba_kernel_matches_array_path(rng, monkeypatch):
    # the fused Numba forward (NumPy inputs) against the BLAS path: several thread ranges
    # (N > 2 x RESIDUES_PER_THREAD), K not a multiple of the rank-4 step, float64 and float32
    from fourier6d import _numba_embed
    types, basis, emb = _many_residues(rng, _numba_embed, 2, 9, 11, 7, 5)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        b, e = basis.astype(dtype), emb.astype(dtype)
        out = embed_atoms(b, types, e)
        with monkeypatch.context() as m:
            m.setattr(_numba_embed, "applicable", lambda *a: False)
            ref = embed_atoms(b, types, e)
        assert out.dtype == dtype and out.shape == ref.shape
        assert np.abs(out - ref).max() < tol * np.abs(ref).max()
    # unbatched (K, P, Q) input
    np.testing.assert_allclose(embed_atoms(basis[3], types[3], emb), out[3].astype(float),
                               rtol=1e-4, atol=1e-4 * np.abs(out[3]).max())


def test_threaded_embedding_gradient_matches_array_path(rng, monkeypatch):
    # the embedding's VJP on NumPy: per-residue GEMMs in groups of residues on the thread pool,
    # one gradient per group; equal to the array path (one batched GEMM + one sparse sum) for
    # 1 and 3 threads, float64 and float32
    from fourier6d import _numba_embed, _numba_kernels
    types, basis, emb = _many_residues(rng, _numba_embed, 3, 5, 7, 9, 4)
    proj = rng.normal(size=(len(types), GRID.n_radial, (LMAX + 1) ** 2, emb.shape[1]))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
        b, e, w = basis.astype(dtype), emb.astype(dtype), proj.astype(dtype)
        loss = lambda x: (embed_atoms(b, types, x) * w).sum()
        with monkeypatch.context() as m:
            m.setattr(_numba_embed, "AVAILABLE", False)
            ref = grad(loss)(e)
        for n_threads in (1, 3):
            with monkeypatch.context() as m:
                m.setattr(_numba_kernels, "default_threads", lambda: n_threads)
                m.setattr(_numba_embed, "default_threads", lambda: n_threads)
                out = grad(loss)(e)
            assert out.dtype == dtype
            assert np.abs(out - ref).max() < tol * np.abs(ref).max(), (dtype, n_threads)


def test_lane_kernels_match_array_path(rng, monkeypatch):
    # the lane kernels (channels as vector lanes, five coefficients per step) at P Q = 125 (5
    # shells, L = 4, the networks' sizes); an odd slot count (the last atom paired with a zero
    # row), 15 channels (one padded chunk) and 33 (three chunks); forward and gradient against
    # the array path, float64 and float32, gradient for 1 and 3 threads
    from fourier6d import _numba_embed, _numba_kernels
    if not _numba_embed.AVAILABLE:
        pytest.skip("numba not available")
    grid, lmax = RadialGrid(5, 0.5), 4
    assert _numba_embed.uses_lanes(grid.n_radial * (lmax + 1) ** 2)
    assert not _numba_embed.uses_lanes(GRID.n_radial * (LMAX + 1) ** 2)   # the row kernel's case
    n_res = 2 * _numba_embed.RESIDUES_PER_THREAD + 5
    xyz = rng.uniform(-6, 6, size=(n_res, 9, 3))
    types = rng.integers(0, 7, size=(n_res, 9))
    basis = point_basis(xyz, grid, lmax, SIGMA)
    for n_channels in (15, 33):
        emb = rng.normal(size=(7, n_channels))
        proj = rng.normal(size=(n_res, grid.n_radial, (lmax + 1) ** 2, n_channels))
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            b, e, w = basis.astype(dtype), emb.astype(dtype), proj.astype(dtype)
            loss = lambda x: (embed_atoms(b, types, x) * w).sum()
            out = embed_atoms(b, types, e)
            with monkeypatch.context() as m:
                m.setattr(_numba_embed, "AVAILABLE", False)
                m.setattr(_numba_embed, "applicable", lambda *a: False)
                ref = embed_atoms(b, types, e)
                gref = grad(loss)(e)
            assert out.dtype == dtype and out.shape == ref.shape
            assert np.abs(out - ref).max() < tol * np.abs(ref).max(), (n_channels, dtype)
            for n_threads in (1, 3):
                with monkeypatch.context() as m:
                    m.setattr(_numba_kernels, "default_threads", lambda: n_threads)
                    m.setattr(_numba_embed, "default_threads", lambda: n_threads)
                    g = grad(loss)(e)
                assert g.dtype == dtype and g.shape == e.shape
                assert np.abs(g - gref).max() < 10 * tol * np.abs(gref).max(), (n_channels, dtype)


@pytest.mark.parametrize("numba_on", [True, False])
def test_empty_batches(monkeypatch, numba_on):
    # no residues, and residues without neighbour slots: zero outputs and a zero gradient, on
    # the Numba kernels and the array path
    from fourier6d import _numba_embed
    if not numba_on:
        monkeypatch.setattr(_numba_embed, "AVAILABLE", False)
        monkeypatch.setattr(_numba_embed, "applicable", lambda *a: False)
    emb = np.ones((3, 15))
    for n_res, n_slots in ((0, 5), (4, 0)):
        basis = np.zeros((n_res, n_slots, 5, 25))
        types = np.zeros((n_res, n_slots), dtype=int)
        out = embed_atoms(basis, types, emb)
        assert out.shape == (n_res, 5, 25, 15) and not out.any()
        g = grad(lambda e: (embed_atoms(basis, types, e) ** 2).sum())(emb)
        assert g.shape == emb.shape and not g.any()
