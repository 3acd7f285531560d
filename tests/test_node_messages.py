"""Tests of message passing from node frames: translation-only edge geometry
(fourier6d.zmessage.translation_frames) between two per-node rotations
(fourier6d.message_passing.node_message_passing, translate_messages).

References: the dense per-edge operators T(t_ij) D(R_ij) of fourier6d.message_passing (tested
against direct re-expansion of point sets in tests/test_message_passing.py) for
R_ij = F_i^T F_j, t_ij = F_i^T (o_j - o_i); numerical gradients (check_grads); the array path
for the Numba kernels; invariance under a rigid motion of all frames and origins.
"""
import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from fourier6d import random_rotations
from fourier6d.message_passing import (message_passing, node_message_passing,
                                       translate_messages, clear_frames_cache)
from fourier6d.radial import RadialGrid
from fourier6d.zmessage import EdgeFrames, translation_frames, pass_messages_z
import fourier6d.zmessage as zm

from conftest import padded_neighbours

GRID = RadialGrid.from_sigma(2.0, 5)


def _nodes(rng, n, r_n=6.0, spread=4.0, symmetric=True):
    """Node frames and origins and a padded neighbour list: with ``symmetric`` every pair
    closer than r_n in both directions (weights from the distance, as the featurizer builds
    them), otherwise each node's next k nodes (no reverse edges); plus the relative transforms
    of the edge formulation."""
    origins = rng.normal(size=(n, 3)) * spread
    frames = random_rotations(n, rng)
    if symmetric:
        d = np.linalg.norm(origins[:, None] - origins[None], axis=-1)
        nbr_idx, nbr_mask = padded_neighbours((d < r_n) & ~np.eye(n, dtype=bool), rng)
        nbr_mask[0] = False                                       # a node without edges
        for i in range(n):                                        # ... in both directions
            nbr_mask[i] &= nbr_idx[i] != 0
    else:
        k = 5
        nbr_idx = np.array([[(i + 1 + s) % n for s in range(k)] for i in range(n)])
        nbr_mask = rng.random((n, k)) < 0.8
    dist = np.linalg.norm(origins[nbr_idx] - origins[:, None], axis=-1)
    w = np.where(nbr_mask, np.cos(0.5 * np.pi * dist / (r_n + 3.0)), 0.0)
    Fi, Fj = frames[:, None], frames[nbr_idx]
    R_ij = np.swapaxes(Fi, -1, -2) @ Fj
    t_ij = np.einsum("nkba,nkb->nka", Fi, origins[nbr_idx] - origins[:, None])
    return frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("lmax", [0, 1, 4])
@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "one-way"])
def test_matches_dense_operators(rng, lmax, symmetric):
    # float64: messages and VJP equal those of the dense per-edge operators T(t_ij) D(R_ij)
    # to 1e-12 (relative), whether or not the graph holds every edge's reverse
    n = 30
    frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij = _nodes(rng, n, symmetric=symmetric)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    g = rng.normal(size=G.shape)
    ref = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w, method="dense")
    out = node_message_passing(G, nbr_idx, nbr_mask, frames, origins, GRID, w)
    assert _rel(out, ref) < 1e-12
    if symmetric:
        assert not out[0].any()                                   # no edges
    loss = lambda method: (lambda a: (message_passing(a, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w,
                                                      method=method) * g).sum())
    node_loss = lambda a: (node_message_passing(a, nbr_idx, nbr_mask, frames, origins, GRID,
                                                w) * g).sum()
    assert _rel(grad(node_loss)(G), grad(loss("dense"))(G)) < 1e-12
    check_grads(lambda a: node_message_passing(a, nbr_idx, nbr_mask, frames, origins, GRID, w),
                modes=["rev"], order=1)(G)
    clear_frames_cache()


def test_float32_matches_to_single_precision(rng):
    frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij = _nodes(rng, 25)
    G = rng.normal(size=(25, GRID.n_radial, 25, 4))
    g = rng.normal(size=G.shape).astype(np.float32)
    ref = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w, method="dense")
    out = node_message_passing(G.astype(np.float32), nbr_idx, nbr_mask, frames, origins, GRID,
                               w.astype(np.float32))
    assert out.dtype == np.float32 and _rel(out, ref) < 2e-5
    gr = grad(lambda a: (node_message_passing(a, nbr_idx, nbr_mask, frames, origins, GRID,
                                              w) * g).sum())(G.astype(np.float32))
    gd = grad(lambda a: (message_passing(a, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w,
                                         method="dense") * g).sum())(G)
    assert gr.dtype == np.float32 and _rel(gr, gd) < 2e-5


def test_reverse_edges_share_one_geometry_row(rng):
    # on a symmetric graph an edge and its reverse (t and -t) share one row of the geometry,
    # the reverse applying the transposed T_z; unequal weights keep the sharing but not the
    # self-adjoint VJP; separate source origins share nothing
    frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij = _nodes(rng, 20)
    fr = translation_frames(origins, GRID, 4, nbr_idx, nbr_mask, w)
    E = fr.n_edges
    assert fr.symmetric and fr.rot is None and fr.zcos is None
    assert fr.roty.shape[0] == fr.tz.shape[0] == E // 2 and int(fr.flip.sum()) == E // 2
    counts = np.bincount(fr.pair, minlength=E // 2)
    assert (counts == 2).all()
    for p in range(E // 2):
        a, b = np.flatnonzero(fr.pair == p)
        assert fr.recv[a] == fr.src[b] and fr.src[a] == fr.recv[b] and fr.flip[a] != fr.flip[b]
    w2 = w.copy()
    i, k = np.argwhere(nbr_mask)[0]
    w2[i, k] *= 1.5
    fr2 = translation_frames(origins, GRID, 4, nbr_idx, nbr_mask, w2)
    assert not fr2.symmetric and fr2.roty.shape[0] == E // 2
    fr3 = translation_frames(origins, GRID, 4, nbr_idx, nbr_mask, w, src_origins=origins.copy())
    assert not fr3.symmetric and fr3.roty.shape[0] == E and not fr3.flip.any()
    G = rng.normal(size=(20, GRID.n_radial, 25, 2))
    for f in (fr2, fr3):
        ref = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w if f is fr3 else w2,
                              method="dense")
        Fg = np.einsum("nab,npbc->npac", np.asarray(_wigner(frames)), G)
        out = np.einsum("nba,npbc->npac", np.asarray(_wigner(frames)), pass_messages_z(Fg, f))
        assert _rel(out, ref) < 1e-12


def _wigner(frames):
    from fourier6d.rotation import wigner_d_real
    return wigner_d_real(4, frames)


@pytest.mark.parametrize("lmax", [1, 3, 4, 5])
def test_numba_kernels_match_array_path(rng, monkeypatch, lmax):
    # geometry, messages and VJP (self-adjoint and general) of the Numba kernels (the unrolled
    # ones up to L = 4, the row kernel at L = 5) against the array path (CuPy's), float64 to
    # 1e-12 and float32 to single precision; channels not a multiple of the kernels' padding,
    # and over two blocks of 16 lanes
    from fourier6d import _numba_zmessage
    if not _numba_zmessage.AVAILABLE:
        pytest.skip("numba not available")
    n = 24
    frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij = _nodes(rng, n)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        for C in (3, 13, 21):
            H = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, C)).astype(dtype)
            g = rng.normal(size=H.shape).astype(dtype)
            fr = translation_frames(origins, GRID, lmax, nbr_idx, nbr_mask, w, dtype=dtype)
            with monkeypatch.context() as m:
                m.setattr(_numba_zmessage, "applicable", lambda *a: False)
                m.setattr(_numba_zmessage, "applicable_frames", lambda *a: False)
                fa = translation_frames(origins, GRID, lmax, nbr_idx, nbr_mask, w, dtype=dtype)
                ref = pass_messages_z(H, fa)
                general_ref = zm._z_messages_vjp(ref, H, EdgeFrames(**{**fa.__dict__,
                                                                      "symmetric": False}))(g)
            for name in ("roty", "ucos", "usin", "tz", "weight"):
                a, b = getattr(fr, name), getattr(fa, name)
                assert a.dtype == dtype and np.abs(a - b).max() < tol * max(np.abs(b).max(), 1)
            np.testing.assert_array_equal(fr.pair, fa.pair)
            out = pass_messages_z(H, fr)
            assert out.dtype == dtype and _rel(out, ref) < tol
            vjp = grad(lambda a: (pass_messages_z(a, fr) * g).sum())(H)
            general = zm._z_messages_vjp(out, H, EdgeFrames(**{**fr.__dict__,
                                                              "symmetric": False}))(g)
            assert _rel(vjp, general_ref) < tol and _rel(general, general_ref) < tol


def test_invariant_under_a_rigid_motion_of_everything(rng):
    # the messages are expressed in each receiver's own frame: moving all frames and origins
    # by one rotation and translation changes nothing (measured error against float64
    # rounding, e3nn-style random group elements)
    frames, origins, nbr_idx, nbr_mask, w, _, _ = _nodes(rng, 30)
    G = rng.normal(size=(30, GRID.n_radial, 25, 3))
    out = node_message_passing(G, nbr_idx, nbr_mask, frames, origins, GRID, w)
    for Q in random_rotations(3, rng):
        shift = rng.uniform(-50, 50, 3)
        moved = node_message_passing(G, nbr_idx, nbr_mask, Q @ frames, origins @ Q.T + shift,
                                     GRID, w)
        assert _rel(moved, out) < 1e-11


def test_translate_messages_on_receiver_chunks(rng):
    # receivers in chunks with all sources (as forward_chunked runs it) give the rows of the
    # whole graph
    from fourier6d.rotation import rotate
    frames, origins, nbr_idx, nbr_mask, w, _, _ = _nodes(rng, 30)
    G = rng.normal(size=(30, GRID.n_radial, 25, 3))
    D = _wigner(frames)
    whole = node_message_passing(G, nbr_idx, nbr_mask, frames, origins, GRID, w)
    H = rotate(G, D)
    for c in (slice(0, 11), slice(11, 30)):
        m = translate_messages(H, nbr_idx[c], nbr_mask[c], origins[c], GRID, w[c],
                               src_origins=origins)
        part = rotate(m, np.swapaxes(D[c], -1, -2))
        assert _rel(part, whole[c]) < 1e-12


def test_bitwise_stable_and_thread_independent(rng, monkeypatch):
    from fourier6d import _numba_kernels, _numba_zmessage
    frames, origins, nbr_idx, nbr_mask, w, _, _ = _nodes(rng, 40)
    G = rng.normal(size=(40, GRID.n_radial, 25, 5)).astype(np.float32)
    g = rng.normal(size=G.shape).astype(np.float32)
    monkeypatch.setattr(_numba_zmessage, "EDGES_PER_THREAD", 1)
    results = []
    for threads in (1, 3, 3):
        monkeypatch.setattr(_numba_zmessage, "default_threads", lambda t=threads: t)
        monkeypatch.setattr(_numba_kernels, "default_threads", lambda t=threads: t)
        clear_frames_cache()
        f = lambda a: node_message_passing(a, nbr_idx, nbr_mask, frames, origins, GRID, w)
        results.append((f(G), grad(lambda a: (f(a) * g).sum())(G)))
    for out, gr in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(gr, results[0][1])


def test_bad_input(rng):
    frames, origins, nbr_idx, nbr_mask, w, _, _ = _nodes(rng, 10)
    G = rng.normal(size=(10, GRID.n_radial, 25, 2))
    with pytest.raises(ValueError, match="frames"):
        node_message_passing(G, nbr_idx, nbr_mask, frames[:9], origins, GRID, w)
    with pytest.raises(ValueError, match="origins"):
        node_message_passing(G, nbr_idx, nbr_mask, frames, origins[:, :2], GRID, w)
    bad = origins.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        translation_frames(bad, GRID, 4, nbr_idx, nbr_mask, w)
    with pytest.raises(TypeError, match="RadialGrid"):
        translation_frames(origins, 2.0, 4, nbr_idx, nbr_mask, w)
    with pytest.raises(TypeError, match="floating"):
        translation_frames(origins, GRID, 4, nbr_idx, nbr_mask, w, dtype=np.int32)


def test_array_path_on_each_backend(xp, rng, monkeypatch):
    # the array-agnostic path (CuPy's, and NumPy's without Numba) on the backend's arrays,
    # against the float64 NumPy result of the dense operators
    from fourier6d import _numba_zmessage
    monkeypatch.setattr(_numba_zmessage, "applicable", lambda *a: False)
    monkeypatch.setattr(_numba_zmessage, "applicable_frames", lambda *a: False)
    frames, origins, nbr_idx, nbr_mask, w, R_ij, t_ij = _nodes(rng, 16)
    G = rng.normal(size=(16, GRID.n_radial, 25, 3))
    g = rng.normal(size=G.shape)
    ref = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w, method="dense")
    gref = grad(lambda a: (message_passing(a, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w,
                                           method="dense") * g).sum())(G)
    get = lambda a: a.get() if hasattr(a, "get") else a
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        args = (xp.asarray(nbr_idx), xp.asarray(nbr_mask), xp.asarray(frames),
                xp.asarray(origins), GRID, xp.asarray(w, dtype=dtype))
        Gx = xp.asarray(G, dtype=dtype)
        out = node_message_passing(Gx, *args)
        assert out.dtype == dtype and _rel(get(out), ref) < tol
        gr = grad(lambda a: (node_message_passing(a, *args) * xp.asarray(g, dtype=dtype)).sum())(Gx)
        assert gr.dtype == dtype and _rel(get(gr), gref) < tol
        clear_frames_cache()
