"""Tests of the generated translation kernels (fourier6d._numba_translate).

References: the generator's output (the committed module must be it), and the row kernel
of fourier6d._numba_zmessage (itself tested against the array path and the dense operators
in tests/test_node_messages.py) on the same frames, forward and transposed, with reverse
edges (T_z^T), channel counts below, at and above one block of 16 lanes.
"""
import numpy as np
import pytest

from fourier6d import _numba_zmessage, _translate_codegen
from fourier6d.radial import RadialGrid
from fourier6d.zmessage import translation_frames

from conftest import padded_neighbours

GRID = RadialGrid.from_sigma(2.0, 5)


def test_committed_module_is_the_generators_output():
    with open(_translate_codegen.generated_path(), encoding="utf-8") as fh:
        assert fh.read() == _translate_codegen.module_source(), (
            "fourier6d/_numba_translate.py is stale: run python -m fourier6d._translate_codegen")


def test_kernel_source_counts_the_multiply_adds_of_the_formulation():
    # one product per multiply-add of the formulation (345 per column at L = 4, as
    # fourier6d.zmessage.translation_frames states)
    from fourier6d.zmessage import translation_multiply_adds
    for L in _translate_codegen.LMAXES:
        body = "\n".join(_translate_codegen._lane_body(L, ""))
        assert body.count("*") == translation_multiply_adds(L, 1, 1)
    assert translation_multiply_adds(4, 1, 1) == 345


@pytest.mark.skipif(not _numba_zmessage.AVAILABLE, reason="numba not available")
@pytest.mark.parametrize("lmax", _translate_codegen.LMAXES)
def test_unrolled_kernels_match_the_row_kernel(rng, lmax):
    from fourier6d._numba_translate import KERNELS
    n = 30
    origins = rng.normal(size=(n, 3)) * 4.0
    d = np.linalg.norm(origins[:, None] - origins[None], axis=-1)
    nbr_idx, nbr_mask = padded_neighbours((d < 6.0) & ~np.eye(n, dtype=bool), rng)
    w = np.where(nbr_mask, rng.uniform(0.2, 1.0, nbr_mask.shape), 0.0)
    Q = (lmax + 1) ** 2
    for dtype, tol in ((np.float64, 1e-13), (np.float32, 3e-6)):
        fr = translation_frames(origins, GRID, lmax, nbr_idx, nbr_mask, w, dtype=dtype)
        assert fr.flip.any() and not fr.flip.all()
        offsets = _numba_zmessage._offsets(fr)
        for C in (1, 16, 21):
            H = rng.normal(size=(n, GRID.n_radial, Q, C)).astype(dtype)
            for ptr, order, ordered, other, transpose in (
                    (fr.row_ptr, fr.src, True, fr.src, False),
                    (fr.src_ptr, fr.src_order, False, fr.recv, True)):
                ref = np.empty_like(H)
                _numba_zmessage._translate_range(
                    0, n, _numba_zmessage._rows(H), ptr, order, ordered, other, fr.pair,
                    fr.flip, fr.weight, fr.roty, fr.ucos, fr.usin, fr.tz, offsets, lmax,
                    transpose, ref)
                out = np.full_like(H, np.nan)
                blocks, n_chunk = _numba_zmessage._blocks(H)
                KERNELS[lmax](0, n, blocks, n_chunk, ptr, order, ordered, other, fr.pair,
                              fr.flip, fr.weight, fr.roty, fr.ucos, fr.usin, fr.tz, transpose,
                              out)
                assert out.dtype == dtype
                assert np.abs(out - ref).max() <= tol * np.abs(ref).max()


def test_blocks_layout(rng):
    H = rng.normal(size=(3, 2, 4, 21)).astype(np.float32)
    flat, n_chunk = _numba_zmessage._blocks(H)
    assert n_chunk == 2
    B = flat.reshape(3, 2, 2, 4, 16)
    np.testing.assert_array_equal(B[:, :, 0], H[..., :16])
    np.testing.assert_array_equal(B[:, :, 1, :, :5], H[..., 16:])
    assert not B[:, :, 1, :, 5:].any()
