"""Tests of fourier6d.message_passing (and the general translation of fourier6d.translation).

Independent reference: points known in frame j are expanded directly in
frame i (Eq. 2 applied to x_i = R_ij x_j + t_ij) and summed over neighbours.
"""
import numpy as np

from fourier6d import random_rotations
import pytest
from autograd.test_util import check_grads

from fourier6d.radial import RadialGrid
from fourier6d.expansion import expand_points
from fourier6d.rotation import wigner_d_real
from fourier6d.translation import translate, translate_z, translation_matrices, rotation_to_z
from fourier6d.message_passing import edge_operators, pass_messages, message_passing

SIGMA = 0.4
GRID = RadialGrid(4, 0.2 * np.pi)


def test_rotation_to_z(rng):
    t = np.concatenate([rng.normal(size=(6, 3)), [[0, 0, 0], [0, 0, -2.0], [0, 0, 3.0]]])
    S = rotation_to_z(t)
    norm = np.linalg.norm(t, axis=1)
    assert np.abs(np.einsum("nab,nb->na", S, t) - norm[:, None] * [0, 0, 1]).max() < 1e-14
    assert np.abs(S @ np.swapaxes(S, -1, -2) - np.eye(3)).max() < 1e-14
    assert np.allclose(np.linalg.det(S), 1.0)
    with pytest.raises(ValueError):
        rotation_to_z(np.zeros((3, 2)))


def test_general_translation_matches_re_expansion():
    # measured max relative error (4 points within 0.6 A, |t| 0.6-2.7 A):
    # L=6: 4.6e-8, L=10: 1.7e-13  (points within 0.96 A: L=6 3.3e-5, L=10 2.4e-9)
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 3)) * 0.3
    feats = rng.normal(size=(4, 2))
    ts = rng.normal(size=(5, 3))
    for lmax, tol in ((6, 2e-7), (10, 1e-12)):
        G = expand_points(pts, feats, GRID, lmax, SIGMA)
        for t in ts:
            ref = expand_points(pts + t, feats, GRID, lmax, SIGMA)
            assert np.abs(translate(G, t, GRID) - ref).max() < tol * np.abs(ref).max()
    # along +z it is the z-translation; batched t works
    G = expand_points(pts, feats, GRID, 5, SIGMA)
    assert np.abs(translate(G, np.array([0, 0, 1.3]), GRID) - translate_z(G, 1.3, GRID)).max() < 1e-13
    batch = translate(np.stack([G, G, G]), ts[:3], GRID)
    for k in range(3):
        assert np.abs(batch[k] - translate(G, ts[k], GRID)).max() < 1e-13


def test_translation_matrices_covariance(rng):
    # T(R t) = D(R) T(t) D(R)^T exactly (same truncation on both sides)
    lmax = 5
    t = rng.normal(size=3)
    R = random_rotations(1, rng)[0]
    D = wigner_d_real(lmax, R)
    lhs = translation_matrices(lmax, GRID, R @ t)
    rhs = D @ translation_matrices(lmax, GRID, t) @ D.T
    assert np.abs(lhs - rhs).max() < 1e-12


def _graph(rng, n, k, spread):
    origins = rng.normal(size=(n, 3)) * spread
    frames = random_rotations(n, rng)
    nbr_idx = np.array([[(i + 1 + s) % n for s in range(k)] for i in range(n)])
    nbr_mask = rng.random((n, k)) < 0.7
    nbr_mask[0] = False                                  # a node without neighbours
    nbr_idx[~nbr_mask] = -1                              # padding value is ignored
    Fi, Fj = frames[:, None], frames[nbr_idx]
    R_ij = np.swapaxes(Fi, -1, -2) @ Fj
    t_ij = np.einsum("nkba,nkb->nka", Fi, origins[nbr_idx] - origins[:, None])
    return origins, frames, nbr_idx, nbr_mask, R_ij, t_ij


def test_messages_match_direct_expansion_in_receiver_frame(rng):
    # each residue j owns 3 points (within 0.58 A of its origin) with 2 features; edges up to
    # |t_ij| = 1.71 A.  Measured max relative error: L=8: 1.3e-9, L=12: 6.1e-15.
    n, k, n_pts = 5, 3, 3
    origins, frames, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.5)
    local = rng.normal(size=(n, n_pts, 3)) * 0.3
    feats = rng.normal(size=(n, n_pts, 2))
    for lmax, tol in ((8, 1e-8), (12, 1e-13)):
        G = expand_points(local, feats, GRID, lmax, SIGMA)           # (n, P, Q, 2)
        out = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID)
        ref = np.zeros_like(out)
        for i in range(n):
            for s in range(k):
                if nbr_mask[i, s]:
                    j = nbr_idx[i, s]
                    x_i = local[j] @ R_ij[i, s].T + t_ij[i, s]
                    ref[i] += expand_points(x_i, feats[j], GRID, lmax, SIGMA)
        assert np.all(out[0] == 0)
        err = np.abs(out - ref).max() / np.abs(ref).max()
        assert err < tol, (lmax, err)


def test_messages_float32_and_vjp(xp, rng):
    n, k, lmax = 4, 3, 3
    _, _, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.7)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 2))
    ops = edge_operators(R_ij, t_ij, GRID, lmax)
    ref = pass_messages(G, ops, nbr_idx, nbr_mask)
    ops_x = edge_operators(xp.asarray(R_ij, dtype=np.float32), xp.asarray(t_ij, dtype=np.float32),
                           GRID, lmax)
    out = pass_messages(xp.asarray(G, dtype=np.float32), ops_x, xp.asarray(nbr_idx),
                        xp.asarray(nbr_mask))
    assert out.dtype == np.float32
    out = out.get() if hasattr(out, "get") else out
    assert np.abs(out - ref).max() < 1e-5 * np.abs(ref).max()
    if xp is np:
        check_grads(lambda g: pass_messages(g, ops, nbr_idx, nbr_mask), modes=["rev"], order=1)(G)


def test_bad_input(rng):
    n, k, lmax = 3, 2, 2
    _, _, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.5)
    G = rng.normal(size=(n, GRID.n_radial, 9, 1))
    ops = edge_operators(R_ij, t_ij, GRID, lmax)
    with pytest.raises(ValueError):
        pass_messages(G, ops, np.where(nbr_mask, 7, 0), nbr_mask)      # index out of range
    with pytest.raises(TypeError):
        pass_messages(G, ops, nbr_idx, nbr_mask.astype(int))
    with pytest.raises(ValueError):
        pass_messages(G[..., :8, :], ops, nbr_idx, nbr_mask)
    with pytest.raises(ValueError):
        edge_operators(R_ij[:, :1], t_ij, GRID, lmax)
    with pytest.raises(TypeError):
        message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, 0.5)


def test_edge_operators_layout_mask_and_chunks(rng, monkeypatch):
    import importlib
    mp = importlib.import_module("fourier6d.message_passing")
    n, k, lmax = 6, 4, 2
    _, _, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.6)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    # logical shape and values as translation_matrices, masked edges zero
    dense = translation_matrices(lmax, GRID, t_ij, rotation=R_ij) * nbr_mask[..., None, None, None]
    assert ops.shape == dense.shape and np.abs(ops - dense).max() < 1e-13
    # stored as (N, P, K, Q, Q) transposed blocks, which pass_messages uses without a copy
    assert ops.transpose(0, 2, 1, 4, 3).flags.c_contiguous
    ref = pass_messages(G, ops, nbr_idx, nbr_mask)
    # a plain C-ordered copy (other layout) and masked operators holding garbage give the same
    junk = np.ascontiguousarray(ops)
    junk[~nbr_mask] = 123.0
    assert np.abs(pass_messages(G, junk, nbr_idx, nbr_mask) - ref).max() < 1e-13
    assert np.abs(pass_messages(G, dense, nbr_idx, nbr_mask) - ref).max() < 1e-13
    # explicit sum over edges
    direct = np.zeros_like(ref)
    for i in range(n):
        for s in range(k):
            if nbr_mask[i, s]:
                direct[i] += dense[i, s] @ G[nbr_idx[i, s]]
    assert np.abs(ref - direct).max() < 1e-12
    # tiny chunks (one receiver / one edge at a time): same operators, messages and VJP
    from autograd import grad
    g = rng.normal(size=ref.shape)
    vjp = grad(lambda a: (pass_messages(a, ops, nbr_idx, nbr_mask) * g).sum())(G)
    monkeypatch.setattr(mp, "CHUNK_ELEMENTS", 1)
    ops1 = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    assert np.abs(ops1 - ops).max() < 1e-13
    assert np.abs(pass_messages(G, ops1, nbr_idx, nbr_mask) - ref).max() < 1e-13
    vjp1 = grad(lambda a: (pass_messages(a, ops1, nbr_idx, nbr_mask) * g).sum())(G)
    assert np.abs(vjp1 - vjp).max() < 1e-13
    check_grads(lambda a: pass_messages(a, ops1, nbr_idx, nbr_mask), modes=["rev"], order=1)(G)
    # float32 coefficients with float64 operators, and a float64 cotangent: dtypes follow coeffs
    out32 = pass_messages(G.astype(np.float32), ops.astype(np.float32), nbr_idx, nbr_mask)
    assert out32.dtype == np.float32
    v32 = grad(lambda a: (pass_messages(a, ops.astype(np.float32), nbr_idx, nbr_mask) * g).sum())(
        G.astype(np.float32))
    assert v32.dtype == np.float32 and np.abs(v32 - vjp).max() < 1e-4 * np.abs(vjp).max()


def test_edge_operator_buffer_is_recycled_only_when_free(rng, monkeypatch):
    # recycled_zeros: the second call reuses the first buffer's memory once the first result is
    # gone (zeroed again: padding slots stay zero), never while it is alive
    from fourier6d import _backend
    monkeypatch.setattr(_backend, "RECYCLE_ZEROS_BYTES", 1)
    _backend.release_buffers()
    grid = RadialGrid.from_sigma(2.0, 3)
    R = random_rotations(12, rng).reshape(3, 4, 3, 3)
    t = rng.normal(size=(3, 4, 3)) * 4
    mask = rng.random((3, 4)) < 0.6
    first = edge_operators(R, t, grid, 2, mask)
    expected = first.copy()
    addr = first.base.__array_interface__["data"][0]
    alive = edge_operators(R, -t, grid, 2, ~mask)            # first still alive: fresh memory
    alive_addr = alive.base.__array_interface__["data"][0]
    assert alive_addr != addr
    del first, alive                                        # the slot now holds alive's buffer
    again = edge_operators(R, t, grid, 2, mask)
    assert again.base.__array_interface__["data"][0] == alive_addr
    np.testing.assert_array_equal(again, expected)           # alive's values fully overwritten
    assert not again[~mask].any()
    _backend.release_buffers()


@pytest.mark.parametrize("chunk_elements", [1, 1 << 22])
def test_pass_messages_skips_only_masked_tail_slots(rng, monkeypatch, chunk_elements):
    # receivers with no neighbour, with only the last slot, and with slots in the middle: the
    # slots skipped per chunk (beyond the last unmasked one) change nothing, forward or VJP
    import importlib
    mp = importlib.import_module("fourier6d.message_passing")
    monkeypatch.setattr(mp, "CHUNK_ELEMENTS", chunk_elements)
    n, k, lmax = 5, 4, 2
    _, _, _, _, R_ij, t_ij = _graph(rng, n, k, 1.0)        # any geometry
    nbr_idx = np.array([[(i + 1 + s) % n for s in range(k)] for i in range(n)])
    nbr_mask = np.array([[False] * 4, [False, False, False, True], [True, False, True, False],
                         [True] * 4, [False] * 4])
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 2))
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    out = pass_messages(G, ops, nbr_idx, nbr_mask)
    dense = translation_matrices(lmax, GRID, t_ij, rotation=R_ij)
    direct = np.zeros_like(out)
    for i in range(n):
        for s in range(k):
            if nbr_mask[i, s]:
                direct[i] += dense[i, s] @ G[nbr_idx[i, s]]
    assert np.abs(out - direct).max() < 1e-12 and not out[[0, 4]].any()
    check_grads(lambda a: pass_messages(a, ops, nbr_idx, nbr_mask), modes=["rev"], order=1)(G)


@pytest.mark.parametrize("lmax", [1, 4])
def test_numba_edge_kernel_matches_array_path(rng, monkeypatch, lmax):
    # the fused Numba kernel (NumPy inputs) against the array-agnostic GEMM path: more edges
    # than one kernel block (64) and one thread range, masked slots, a zero translation and a
    # translation along -z (Euler angles at beta = 0 / pi), float64 and float32
    from fourier6d import _numba_edge
    if not _numba_edge.AVAILABLE:
        pytest.skip("numba not available")
    n, k = 23, 13
    grid = RadialGrid.from_sigma(2.0, 5)
    R = random_rotations(n * k, rng).reshape(n, k, 3, 3)
    R[0, 1] = np.eye(3)
    R[0, 2] = np.diag([-1.0, 1.0, -1.0])
    t = rng.normal(size=(n, k, 3)) * 5
    t[0, 0] = 0.0
    t[0, 2] = [0.0, 0.0, -3.0]
    mask = rng.random((n, k)) < 0.7
    mask[0, :3] = True
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        Rd, td = R.astype(dtype), t.astype(dtype)
        fused = edge_operators(Rd, td, grid, lmax, mask)
        assert fused.transpose(0, 2, 1, 4, 3).flags.c_contiguous
        fused = fused.copy()
        with monkeypatch.context() as m:
            m.setattr(_numba_edge, "applicable", lambda R, t: False)
            ref = edge_operators(Rd, td, grid, lmax, mask).copy()
        assert fused.dtype == dtype and fused.shape == ref.shape
        assert np.abs(fused - ref).max() < tol * np.abs(ref).max(), dtype
        assert not fused[~mask].any()


@pytest.mark.parametrize("n_threads", [1, 3])
def test_pass_messages_chunk_groups_in_threads(rng, monkeypatch, n_threads):
    # the chunks of receivers run in groups on the thread pool (NumPy): same messages and
    # coefficient VJP as one thread, with many small chunks (each group its own gradient)
    import importlib
    from autograd import grad
    mp = importlib.import_module("fourier6d.message_passing")
    from fourier6d import _numba_kernels
    n, k, lmax = 17, 5, 2
    _, _, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.6)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    g = rng.normal(size=G.shape)
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    loss = lambda a: (pass_messages(a, ops, nbr_idx, nbr_mask) * g).sum()
    with monkeypatch.context() as m:
        m.setattr(_numba_kernels, "default_threads", lambda: 1)
        ref, gref = pass_messages(G, ops, nbr_idx, nbr_mask), grad(loss)(G)
    monkeypatch.setattr(_numba_kernels, "default_threads", lambda: n_threads)
    monkeypatch.setattr(mp, "CHUNK_ELEMENTS", 1)                      # one receiver per chunk
    assert len(mp._span_groups(mp._spans(np.asarray(nbr_mask), GRID.n_radial, 9, 3), np)[0]) \
        == n_threads + 1
    out, gout = pass_messages(G, ops, nbr_idx, nbr_mask), grad(loss)(G)
    assert np.abs(out - ref).max() < 1e-12 * np.abs(ref).max()
    assert np.abs(gout - gref).max() < 1e-12 * np.abs(gref).max()


def test_edge_weight(rng, monkeypatch):
    # m_i = sum_k mask w T G: weight 1 is today's result; random weights equal the explicit
    # weighted sum over the dense operators; masked slots ignore their weight (NaN there too);
    # the VJP (w.r.t. the coefficients) is checked numerically, in chunks and in threads
    import importlib
    from autograd import grad
    mp = importlib.import_module("fourier6d.message_passing")
    from fourier6d import _numba_kernels
    n, k, lmax = 7, 4, 2
    _, _, nbr_idx, nbr_mask, R_ij, t_ij = _graph(rng, n, k, 0.6)
    G = rng.normal(size=(n, GRID.n_radial, (lmax + 1) ** 2, 3))
    ref = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID)
    ones = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, edge_weight=np.ones((n, k)))
    np.testing.assert_array_equal(ones, ref)
    w = rng.random((n, k))
    w[1, 0] = 0.0
    w[~nbr_mask] = np.nan
    out = message_passing(G, nbr_idx, nbr_mask, R_ij, t_ij, GRID, edge_weight=w)
    dense = translation_matrices(lmax, GRID, t_ij, rotation=R_ij)
    direct = np.zeros_like(out)
    for i in range(n):
        for s in range(k):
            if nbr_mask[i, s]:
                direct[i] += w[i, s] * (dense[i, s] @ G[nbr_idx[i, s]])
    assert np.isfinite(out).all()
    assert np.abs(out - direct).max() < 1e-12 * np.abs(direct).max()
    wf = np.where(nbr_mask, w, 0.0)
    ops = edge_operators(R_ij, t_ij, GRID, lmax, nbr_mask)
    f = lambda a: pass_messages(a, ops, nbr_idx, nbr_mask, wf)
    check_grads(f, modes=["rev"], order=1)(G)
    g = rng.normal(size=out.shape)
    gref = grad(lambda a: (f(a) * g).sum())(G)
    # the VJP is the transposed weighted sum
    gdirect = np.zeros_like(G)
    for i in range(n):
        for s in range(k):
            if nbr_mask[i, s]:
                gdirect[nbr_idx[i, s]] += wf[i, s] * (dense[i, s].swapaxes(-1, -2) @ g[i])
    assert np.abs(gref - gdirect).max() < 1e-12 * np.abs(gdirect).max()
    monkeypatch.setattr(_numba_kernels, "default_threads", lambda: 3)
    monkeypatch.setattr(mp, "CHUNK_ELEMENTS", 1)
    assert np.abs(f(G) - out).max() < 1e-12 * np.abs(out).max()
    assert np.abs(grad(lambda a: (f(a) * g).sum())(G) - gref).max() < 1e-12 * np.abs(gref).max()
    # float32, and no gradient to the weight even when it is traced (a geometry input)
    out32 = message_passing(G.astype(np.float32), nbr_idx, nbr_mask, R_ij.astype(np.float32),
                            t_ij.astype(np.float32), GRID, edge_weight=w.astype(np.float32))
    assert out32.dtype == np.float32 and np.abs(out32 - direct).max() < 1e-5 * np.abs(direct).max()
    with pytest.warns(UserWarning, match="independent"):
        gw = grad(lambda v: (pass_messages(G, ops, nbr_idx, nbr_mask, v) * g).sum())(wf)
    assert not np.any(gw)
    with pytest.raises(ValueError):
        pass_messages(G, ops, nbr_idx, nbr_mask, wf[:, :2])
    with pytest.raises(TypeError):
        pass_messages(G, ops, nbr_idx, nbr_mask, nbr_mask)
