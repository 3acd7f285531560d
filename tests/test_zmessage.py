"""Tests of fourier6d.zmessage: message passing through edge frames (rotate, z-translate, rotate).

References: the dense per-edge operators of fourier6d.message_passing (themselves tested against
direct re-expansion of point sets in tests/test_message_passing.py), the explicit sum over
edges, numerical gradients (check_grads), and the array path for the Numba kernels.
"""
import importlib

import numpy as np
import pytest
from autograd import grad
from autograd.test_util import check_grads

from fourier6d import random_rotations
from fourier6d.radial import RadialGrid
from fourier6d.message_passing import edge_operators, pass_messages, message_passing
from fourier6d.rotation import wigner_d_from_euler
from fourier6d.translation import translation_matrices
from fourier6d.zmessage import edge_frames, pass_messages_z, EdgeFrames, block_offsets

from conftest import padded_neighbours

zm = importlib.import_module("fourier6d.zmessage")
GRID = RadialGrid.from_sigma(2.0, 5)


def _graph(rng, n, k, spread, n_src=None):
    """Random frames and a padded neighbour graph, with the geometric corner cases: a node
    without neighbours, a zero translation, translations along +z and -z, identity and
    half-turn rotations."""
    n_src = n if n_src is None else n_src
    origins = rng.normal(size=(n_src, 3)) * spread
    frames = random_rotations(n_src, rng)
    nbr_idx = np.array([[(i + 1 + s) % n_src for s in range(k)] for i in range(n)])
    nbr_mask = rng.random((n, k)) < 0.7
    nbr_mask[0] = False
    nbr_mask[1:3, :3] = True
    Fi, Fj = frames[:n, None], frames[nbr_idx]
    R_ij = np.swapaxes(Fi, -1, -2) @ Fj
    t_ij = np.einsum("nkba,nkb->nka", Fi, origins[nbr_idx] - origins[:n, None])
    t_ij[1, 0] = 0.0
    t_ij[1, 1] = [0.0, 0.0, 2.5]
    t_ij[1, 2] = [0.0, 0.0, -1.5]
    R_ij[2, 0] = np.eye(3)
    R_ij[2, 1] = np.diag([-1.0, 1.0, -1.0])
    nbr_idx[~nbr_mask] = -1                               # padding value is ignored
    return nbr_idx, nbr_mask, R_ij, t_ij


def _dense_sum(G, nbr_idx, nbr_mask, R_ij, t_ij, w, lmax):
    dense = translation_matrices(lmax, GRID, t_ij, rotation=R_ij)
    out = np.zeros((nbr_idx.shape[0],) + G.shape[1:])
    for i in range(nbr_idx.shape[0]):
        for s in range(nbr_idx.shape[1]):
            if nbr_mask[i, s]:
                out[i] += w[i, s] * (dense[i, s] @ G[nbr_idx[i, s]])
    return out


@pytest.mark.parametrize("lmax", [0, 1, 2, 4, 6])
def test_matches_dense_operators(rng, lmax):
    # float64: the explicit weighted sum over the dense operators T(t) D(R), and the dense
    # path's messages and VJP, to 1e-12 (relative); sources not the receivers (n_src != N)
    n, k, n_src = 9, 5, 12
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 3.0, n_src)
    G = rng.normal(size=(n_src, GRID.n_radial, (lmax + 1) ** 2, 3))
    w = rng.random((n, k))
    fr = edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask, w, n_src=n_src)
    out = pass_messages_z(G, fr)
    ref = _dense_sum(G, nbr_idx, nbr_mask, R_ij, t_ij, w, lmax)
    assert np.abs(out - ref).max() < 1e-12 * np.abs(ref).max()
    assert not out[0].any()                                     # no neighbours
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    g = rng.normal(size=out.shape)
    gz = grad(lambda a: (pass_messages_z(a, fr) * g).sum())(G)
    gd = grad(lambda a: (pass_messages(a, ops, nbr_idx, nbr_mask, w) * g).sum())(G)
    assert np.abs(gz - gd).max() < 1e-12 * np.abs(gd).max()
    check_grads(lambda a: pass_messages_z(a, fr), modes=["rev"], order=1)(G)


def test_message_passing_methods_agree(rng):
    # the wrapper's default (edge frames) against method="dense", float64 and float32 with
    # weights; float32 to single precision
    n, k, lmax = 11, 6, 4
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 3.0)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 4))
    w = rng.random((n, k))
    dense = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w, method="dense")
    z = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w)
    assert np.abs(z - dense).max() < 1e-12 * np.abs(dense).max()
    z32 = message_passing(G.astype(np.float32), nbr_idx, nbr_mask, R_ij.astype(np.float32),
                          t_ij.astype(np.float32), GRID, w.astype(np.float32))
    assert z32.dtype == np.float32
    assert np.abs(z32 - dense).max() < 2e-5 * np.abs(dense).max()
    g = rng.normal(size=dense.shape).astype(np.float32)
    loss = lambda a, m: (message_passing(a, nbr_idx, nbr_mask, R_ij.astype(np.float32),
                                         t_ij.astype(np.float32), GRID, w, method=m) * g).sum()
    gz, gd = grad(loss)(G.astype(np.float32), "z"), grad(loss)(G.astype(np.float32), "dense")
    assert gz.dtype == np.float32 and np.abs(gz - gd).max() < 2e-5 * np.abs(gd).max()
    with pytest.raises(ValueError, match="method"):
        message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, method="sparse")


def test_edge_weight_and_masked_slots(rng):
    # weight 1 equals no weight (bitwise); NaN weights on masked slots are ignored; zero
    # weights silence an edge; no gradient flows to the weights
    n, k, lmax = 8, 4, 3
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 2.0)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 2))
    plain = pass_messages_z(G, edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask))
    ones = pass_messages_z(G, edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask,
                                          np.ones((n, k))))
    np.testing.assert_array_equal(plain, ones)
    w = np.where(nbr_mask, 1.0, np.nan)
    w[1, :] = 0.0
    fr = edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask, w)
    assert fr.n_edges == nbr_mask.sum() - nbr_mask[1].sum()        # weight-0 edges left out
    out = pass_messages_z(G, fr)
    assert np.isfinite(out).all() and not out[1].any()
    np.testing.assert_array_equal(out[2:], plain[2:])


def test_bitwise_stable_and_thread_independent(rng, monkeypatch):
    # the same call twice, and with 1 or 3 threads: bitwise equal messages and VJP (each
    # receiver / source is summed by one thread in a fixed order)
    from fourier6d import _numba_kernels, _numba_zmessage
    n, k, lmax = 40, 9, 4
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 4.0)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 5)).astype(np.float32)
    g = rng.normal(size=G.shape).astype(np.float32)
    args = (R_ij.astype(np.float32), t_ij.astype(np.float32), GRID, lmax, nbr_idx, nbr_mask)
    monkeypatch.setattr(_numba_zmessage, "EDGES_PER_THREAD", 1)
    results = []
    for threads in (1, 3, 3):
        monkeypatch.setattr(_numba_zmessage, "default_threads", lambda t=threads: t)
        monkeypatch.setattr(_numba_kernels, "default_threads", lambda t=threads: t)
        fr = edge_frames(*args)
        results.append((pass_messages_z(G, fr),
                        grad(lambda a: (pass_messages_z(a, fr) * g).sum())(G), fr))
    for out, gr, fr in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(gr, results[0][1])
        for name in ("rot", "roty", "zcos", "zsin", "tz"):
            np.testing.assert_array_equal(getattr(fr, name), getattr(results[0][2], name))


@pytest.mark.parametrize("lmax", [1, 4])
def test_numba_kernels_match_array_path(rng, monkeypatch, lmax):
    # geometry, messages and VJP of the Numba kernels against the array path (the CuPy path),
    # float64 to 1e-12 and float32 to single precision; channels not a multiple of the padding
    from fourier6d import _numba_zmessage
    if not _numba_zmessage.AVAILABLE:
        pytest.skip("numba not available")
    n, k = 30, 11
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 4.0)
    w = rng.random((n, k))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        for C in (3, 8, 13):
            G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, C)).astype(dtype)
            g = rng.normal(size=G.shape).astype(dtype)
            args = (R_ij.astype(dtype), t_ij.astype(dtype), GRID, lmax, nbr_idx, nbr_mask, w)
            fr = edge_frames(*args)
            out = pass_messages_z(G, fr)
            gk = grad(lambda a: (pass_messages_z(a, fr) * g).sum())(G)
            with monkeypatch.context() as m:
                m.setattr(_numba_zmessage, "applicable", lambda *a: False)
                m.setattr(_numba_zmessage, "applicable_frames", lambda *a: False)
                fa = edge_frames(*args)
                ref = pass_messages_z(G, fa)
                ga = grad(lambda a: (pass_messages_z(a, fa) * g).sum())(G)
            for name in ("rot", "roty", "zcos", "zsin", "tz"):
                a, b = getattr(fr, name), getattr(fa, name)
                assert a.dtype == dtype and np.abs(a - b).max() < tol * max(np.abs(b).max(), 1)
            assert out.dtype == dtype and gk.dtype == dtype
            assert np.abs(out - ref).max() < tol * np.abs(ref).max(), (dtype, C)
            assert np.abs(gk - ga).max() < tol * np.abs(ga).max(), (dtype, C)


def test_frames_geometry(rng):
    # rot = D(S R) with S t = |t| e_z; roty = D(Ry(theta)) whose blocks do not mix the m >= 0
    # and m < 0 harmonics (the kernels skip those entries); T_z entries: T(0) = identity
    n, k, lmax = 6, 4, 4
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 3.0)
    fr = edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask)
    off = block_offsets(lmax)
    for l in range(1, lmax + 1):
        n_l = 2 * l + 1
        blk = fr.roty[:, off[l]:off[l + 1]].reshape(-1, n_l, n_l)
        assert np.abs(blk[:, l:, :l]).max() < 1e-14 and np.abs(blk[:, :l, l:]).max() < 1e-14
    # theta of each edge from the y-rotation's l = 1 block: Ry(theta) in the (y, z, x) basis
    t = t_ij[nbr_mask]
    theta = np.arctan2(np.hypot(t[:, 0], t[:, 1]), t[:, 2])
    D1 = wigner_d_from_euler(lmax, 0 * theta, theta, 0 * theta)
    for l in range(lmax + 1):
        n_l = 2 * l + 1
        blk = fr.roty[:, off[l]:off[l + 1]].reshape(-1, n_l, n_l)
        assert np.abs(blk - D1[:, l * l:(l + 1) ** 2, l * l:(l + 1) ** 2]).max() < 1e-13
    zero = np.nonzero(np.linalg.norm(t, axis=1) == 0)[0]
    assert zero.size == 1
    T0 = [zm.z_translation_blocks(fr.tz[zero[0]], lmax, m) for m in range(lmax + 1)]
    for m, T in enumerate(T0):
        assert np.abs(T - np.eye(lmax + 1 - m)).max() < 1e-13


def test_empty_graph_and_bad_input(rng):
    n, k, lmax = 4, 3, 2
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 1.0)
    G = rng.normal(size=(n, GRID.n_radial, 9, 2))
    none = np.zeros_like(nbr_mask)
    fr = edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, none)
    assert fr.n_edges == 0
    out = pass_messages_z(G, fr)
    assert out.shape == G.shape and not out.any()
    assert not grad(lambda a: (pass_messages_z(a, fr) * 1.0).sum())(G).any()
    fr = edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx, nbr_mask)
    with pytest.raises(ValueError, match="do not match"):
        pass_messages_z(G[..., :4, :], fr)                          # lmax 1 coefficients
    with pytest.raises(ValueError, match="do not match"):
        pass_messages_z(G[:3], fr)
    with pytest.raises(TypeError):
        pass_messages_z(G, "frames")
    with pytest.raises(ValueError):
        edge_frames(R_ij, t_ij, GRID, lmax, np.where(nbr_mask, 9, 0), nbr_mask)
    with pytest.raises(ValueError):
        edge_frames(R_ij[:, :1], t_ij, GRID, lmax, nbr_idx, nbr_mask)
    with pytest.raises(TypeError):
        edge_frames(R_ij, t_ij, 0.5, lmax, nbr_idx, nbr_mask)
    assert isinstance(fr.astype(np.float32), EdgeFrames) and fr.astype(np.float64) is fr


def test_message_passing_reuses_equal_geometry_only(rng, monkeypatch):
    # the wrapper keeps the last edge frames: an equal geometry (other array objects) reuses
    # them, a geometry changed in place or another weight does not
    mp = importlib.import_module("fourier6d.message_passing")
    n, k, lmax = 7, 4, 2
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 2.0)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 2))
    calls = []
    real = zm.edge_frames
    monkeypatch.setattr(zm, "edge_frames", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    mp.clear_frames_cache()
    first = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID)
    again = message_passing(G, nbr_idx.copy(), nbr_mask.copy(), R_ij.copy(), t_ij.copy(), GRID)
    assert len(calls) == 1
    np.testing.assert_array_equal(again, first)
    t_ij[3, 1] += 0.5                                           # changed in place
    moved = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID)
    assert len(calls) == 2 and np.abs(moved - first).max() > 1e-3
    ref = _dense_sum(G, nbr_idx, nbr_mask, R_ij, t_ij, np.ones((n, k)), lmax)
    assert np.abs(moved - ref).max() < 1e-12 * np.abs(ref).max()
    w = rng.random((n, k))
    weighted = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, w)
    assert len(calls) == 3
    ref = _dense_sum(G, nbr_idx, nbr_mask, R_ij, t_ij, w, lmax)
    assert np.abs(weighted - ref).max() < 1e-12 * np.abs(ref).max()
    message_passing(G.astype(np.float32), nbr_idx, nbr_mask, R_ij, t_ij, GRID, w)
    assert len(calls) == 4                                      # another dtype
    mp.clear_frames_cache()


def test_array_path_on_each_backend(xp, rng, monkeypatch):
    # the array-agnostic path (CuPy's, and NumPy's without Numba) on the backend's arrays:
    # geometry, messages and VJP against the float64 NumPy result of the dense operators
    from fourier6d import _numba_zmessage
    monkeypatch.setattr(_numba_zmessage, "applicable", lambda *a: False)
    monkeypatch.setattr(_numba_zmessage, "applicable_frames", lambda *a: False)
    n, k, lmax = 9, 5, 4
    nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 3.0)
    w = rng.random((n, k))
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    g = rng.normal(size=G.shape)
    ref = _dense_sum(G, nbr_idx, nbr_mask, R_ij, t_ij, w, lmax)
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    gref = grad(lambda a: (pass_messages(a, ops, nbr_idx, nbr_mask, w) * g).sum())(G)
    get = lambda a: a.get() if hasattr(a, "get") else a
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        fr = edge_frames(xp.asarray(R_ij, dtype=dtype), xp.asarray(t_ij, dtype=dtype), GRID, lmax,
                         xp.asarray(nbr_idx), xp.asarray(nbr_mask), xp.asarray(w, dtype=dtype))
        Gx = xp.asarray(G, dtype=dtype)
        out = pass_messages_z(Gx, fr)
        assert out.dtype == dtype
        assert np.abs(get(out) - ref).max() < tol * np.abs(ref).max()
        vjp = zm._z_messages_vjp(out, Gx, fr.astype(dtype))(xp.asarray(g, dtype=dtype))
        assert vjp.dtype == dtype
        assert np.abs(get(vjp) - gref).max() < tol * np.abs(gref).max()


def _symmetric_graph(rng, n, r_n, spread):
    """A residue-like graph: every pair closer than r_n, both directions, weights from the
    distance (as the featurizer builds it), padded slots pointing anywhere."""
    origins = rng.normal(size=(n, 3)) * spread
    frames = random_rotations(n, rng)
    d = np.linalg.norm(origins[:, None] - origins[None], axis=-1)
    nbr_idx, nbr_mask = padded_neighbours((d < r_n) & ~np.eye(n, dtype=bool), rng)
    Fi, Fj = frames[:, None], frames[nbr_idx]
    R_ij = np.swapaxes(Fi, -1, -2) @ Fj
    t_ij = np.einsum("nkba,nkb->nka", Fi, origins[nbr_idx] - origins[:, None])
    w = np.where(nbr_mask, np.cos(0.5 * np.pi * np.linalg.norm(t_ij, axis=-1) / r_n), 0.0)
    return nbr_idx, nbr_mask, R_ij, t_ij, w


@pytest.mark.parametrize("lmax", [1, 4])
def test_symmetric_graph_is_self_adjoint(rng, monkeypatch, lmax):
    # a symmetric graph's VJP runs as the messages of the cotangent: against the transposed
    # steps over sources (the general VJP) and the dense operators' VJP, float64 to 1e-12,
    # float32 to single precision; Numba kernels and array path; numerical gradients
    from fourier6d import _numba_zmessage
    n = 14
    nbr_idx, nbr_mask, R_ij, t_ij, w = _symmetric_graph(rng, n, 5.0, 3.0)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    g = rng.normal(size=G.shape)
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    gref = grad(lambda a: (pass_messages(a, ops, nbr_idx, nbr_mask, w) * g).sum())(G)
    for kernels in (True, False):
        with monkeypatch.context() as m:
            if not kernels:
                m.setattr(_numba_zmessage, "applicable", lambda *a: False)
                m.setattr(_numba_zmessage, "applicable_frames", lambda *a: False)
            for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
                fr = edge_frames(R_ij.astype(dtype), t_ij.astype(dtype), GRID, lmax, nbr_idx,
                                 nbr_mask, w)
                assert fr.symmetric
                Gx, gx = G.astype(dtype), g.astype(dtype)
                out = pass_messages_z(Gx, fr)
                vjp = grad(lambda a: (pass_messages_z(a, fr) * gx).sum())(Gx)
                general = zm._z_messages_vjp(out, Gx, EdgeFrames(**{**fr.__dict__,
                                                                    "symmetric": False}))(gx)
                assert vjp.dtype == dtype
                assert np.abs(vjp - general).max() < tol * np.abs(general).max()
                assert np.abs(vjp - gref).max() < tol * np.abs(gref).max()
                np.testing.assert_array_equal(vjp, pass_messages_z(gx, fr))
    check_grads(lambda a: pass_messages_z(a, edge_frames(R_ij, t_ij, GRID, lmax, nbr_idx,
                                                         nbr_mask, w)),
                modes=["rev"], order=1)(G)


def test_reverse_edges(rng):
    # symmetric only with every reverse edge present once, of the same weight, and sources
    # being the receivers
    nbr_idx, nbr_mask, R_ij, t_ij, w = _symmetric_graph(rng, 10, 5.0, 2.5)
    fr = edge_frames(R_ij, t_ij, GRID, 2, nbr_idx, nbr_mask, w)
    rev = zm.reverse_edges(fr.recv, fr.src, fr.zcos[:, 0], 10, tol=1e-12)
    assert rev is not None and fr.symmetric
    np.testing.assert_array_equal(fr.recv[rev], fr.src)
    np.testing.assert_array_equal(fr.src[rev], fr.recv)
    np.testing.assert_array_equal(rev[rev], np.arange(fr.n_edges))
    i, k = np.argwhere(nbr_mask)[0]
    one_way = nbr_mask.copy()
    one_way[i, k] = False                                       # drop one direction
    assert not edge_frames(R_ij, t_ij, GRID, 2, nbr_idx, one_way, w).symmetric
    w2 = w.copy()
    w2[i, k] *= 1 + 1e-6                                        # unequal weights
    assert not edge_frames(R_ij, t_ij, GRID, 2, nbr_idx, nbr_mask, w2).symmetric
    assert edge_frames(R_ij.astype(np.float32), t_ij.astype(np.float32), GRID, 2, nbr_idx,
                       nbr_mask, w * (1 + 1e-7 * nbr_mask)).symmetric    # float32 rounding
    twice = nbr_idx.copy()
    j = int(np.argmax(nbr_mask[i] & (np.arange(nbr_mask.shape[1]) != k)))
    twice[i, j] = twice[i, k]                                   # an edge listed twice
    assert not edge_frames(R_ij, t_ij, GRID, 2, twice, nbr_mask, w).symmetric
    assert zm.reverse_edges(np.array([0, 0, 1]), np.array([1, 1, 0]), np.ones(3), 2) is None
    assert not edge_frames(R_ij, t_ij, GRID, 2, nbr_idx, nbr_mask, w, n_src=12).symmetric
    assert zm.reverse_edges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 3) \
        is not None
