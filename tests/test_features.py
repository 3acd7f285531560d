"""Tests of estimators.features (frames, neighbourhoods, residue graph)."""
import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from fourier6d import RadialGrid, point_basis, expand_points
from estimators.atom_types import (ATOM_TYPES, N_ATOM_TYPES, OTHER_TYPE, RESIDUE_ATOMS,
                                   AMINO_ACIDS, atom_types_of, markdown_table)
from estimators.features import ProteinFeatures, featurize, residue_frames, trace_frames
from estimators.structures import Structure, StructureError, StructureWarning, read_structure

DATA = Path(__file__).parent / "data"
RULES = DATA / "rules.pdb"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "atom_types.md"


@pytest.fixture(scope="module")
def rules():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        return read_structure(RULES)


@pytest.fixture(scope="module")
def native(shared_dir_module):
    return read_structure(shared_dir_module / "data" / "natives" / "1a32.pdb")


@pytest.fixture(scope="module")
def shared_dir_module():
    shared = Path(os.environ.get("FOURIER6D_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    if not shared.exists():
        pytest.skip("shared data folder not found")
    return shared


def _moved(s, rot, shift):
    return dataclasses.replace(s, coords=s.coords @ rot.T + shift, _cache={})


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_atom_type_table():
    assert len(ATOM_TYPES) == 167 and N_ATOM_TYPES == 168 and OTHER_TYPE == 167
    assert len(set(ATOM_TYPES)) == 167
    assert sum(len(RESIDUE_ATOMS[a]) for a in AMINO_ACIDS) == 167
    assert ATOM_TYPES[0] == ("ALA", "N") and ATOM_TYPES[-1] == ("VAL", "CG2")
    # docs/atom_types.md is the rendered table
    assert DOCS.read_text() == markdown_table()


def test_atom_types_of_structure(rules):
    t = atom_types_of(rules)
    for k in range(rules.n_atoms):
        key = (rules.resnames[rules.atom_res[k]], rules.atom_names[k])
        assert t[k] == (ATOM_TYPES.index(key) if key in ATOM_TYPES else 167)


def test_frames_gram_schmidt(rng):
    n, ca, c = rng.normal(size=(3, 50, 3))
    F = residue_frames(n, ca, c)
    np.testing.assert_allclose(np.einsum("rki,rkj->rij", F, F), np.broadcast_to(np.eye(3), F.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(F), 1.0, atol=1e-12)
    # x along CA->N, C in the local xy plane with positive y
    loc_n = np.linalg.solve(F, (n - ca)[..., None])[..., 0]
    loc_c = np.linalg.solve(F, (c - ca)[..., None])[..., 0]
    np.testing.assert_allclose(loc_n[:, 1:], 0, atol=1e-12)
    assert (loc_n[:, 0] > 0).all()
    np.testing.assert_allclose(loc_c[:, 2], 0, atol=1e-12)
    assert (loc_c[:, 1] > 0).all()


def _local(F, o, x):
    return np.linalg.solve(F, (x - o)[..., None])[..., 0]


def test_featurized_frames_follow_the_ca_trace(native):
    """Default frames: x towards CA(i-1), CA(i+1) in the xy plane with positive y, N and C
    standing in at the chain ends; frame="backbone" gives the paper's frames."""
    n, ca, c, _ = native.backbone()
    feats = featurize(native, dtype=np.float64)
    assert feats.params["frame"] == "ca_trace"
    idx = feats.residue_index
    F, o = feats.frames, feats.origins
    bonded_prev = ~native.chain_break_before()[idx]
    bonded_next = np.append(~native.chain_break_before()[1:], False)[idx]
    assert bonded_prev.sum() > 10 and (~bonded_prev).any() and (~bonded_next).any()
    prev_x = np.where(bonded_prev[:, None], ca[np.maximum(idx - 1, 0)], n[idx])
    next_x = np.where(bonded_next[:, None], ca[np.minimum(idx + 1, len(ca) - 1)], c[idx])
    loc_prev, loc_next = _local(F, o, prev_x), _local(F, o, next_x)
    np.testing.assert_allclose(loc_prev[:, 1:], 0, atol=1e-10)
    assert (loc_prev[:, 0] > 0).all()
    np.testing.assert_allclose(loc_next[:, 2], 0, atol=1e-10)
    assert (loc_next[:, 1] > 0).all()
    np.testing.assert_allclose(np.linalg.det(F), 1.0, atol=1e-12)
    paper = featurize(native, dtype=np.float64, frame="backbone")
    assert paper.params["frame"] == "backbone"
    np.testing.assert_allclose(paper.frames, residue_frames(n[idx], ca[idx], c[idx]), atol=1e-14)


def test_trace_frames_fall_back_to_the_backbone_where_collinear(rng):
    n, ca, c = rng.normal(size=(3, 6, 3))
    prev_ca = ca + rng.normal(size=(6, 3)) * 3.8
    next_ca = 2 * ca - prev_ca                          # collinear with CA(i-1), CA(i)
    next_ca[3:] += rng.normal(size=(3, 3)) * 2.0        # the last three are not
    next_ca[0] = np.nan                                 # chain end: C stands in
    F = trace_frames(n, ca, c, prev_ca, next_ca)
    np.testing.assert_allclose(F[0], residue_frames(prev_ca[:1], ca[:1], c[:1])[0], atol=1e-14)
    np.testing.assert_allclose(F[1:3], residue_frames(n[1:3], ca[1:3], c[1:3]), atol=1e-14)
    np.testing.assert_allclose(F[3:], residue_frames(prev_ca[3:], ca[3:], next_ca[3:]), atol=1e-14)


def test_trace_frames_are_steadier_than_backbone_frames(native, rng):
    """The reason for the default: noise on the atoms turns CA-trace frames less."""
    n, ca, c, ok = native.backbone()
    i = np.flatnonzero(ok)[5:-5]
    clean_b = residue_frames(n[i], ca[i], c[i])
    clean_t = trace_frames(n[i], ca[i], c[i], ca[i - 1], ca[i + 1])
    turn_b, turn_t = [], []
    for _ in range(20):
        e = [rng.uniform(-1e-3, 1e-3, x.shape) for x in (n, ca, c)]
        nn, aa, cc = n + e[0], ca + e[1], c + e[2]
        for clean, noisy, out in ((clean_b, residue_frames(nn[i], aa[i], cc[i]), turn_b),
                                  (clean_t, trace_frames(nn[i], aa[i], cc[i], aa[i - 1], aa[i + 1]),
                                   turn_t)):
            cos = (np.einsum("rki,rki->r", clean, noisy) - 1) / 2
            out.append(np.arccos(np.clip(cos, -1, 1)))
    assert np.mean(turn_t) < np.mean(turn_b) / 2


def _smootherstep_weight(d, r_cut, width):
    """Closed form of the smooth cut-off (independent of estimators.features.cutoff_envelope)."""
    x = np.clip((r_cut - d) / width, 0.0, 1.0)
    return 6 * x ** 5 - 15 * x ** 4 + 10 * x ** 3


def _brute_neighbourhood(s, feats, i):
    """Atoms within r_max of node i's CA, local coordinates by solving F x = r - o, and their
    smooth cut-off weights."""
    r_max = feats.params["r_max"]
    o, F = feats.origins[i], feats.frames[i]
    d = np.linalg.norm(s.coords - o, axis=1)
    idx = np.flatnonzero(d < r_max)
    local = np.linalg.solve(F, (s.coords[idx] - o).T).T
    return idx, local, _smootherstep_weight(d[idx], r_max, feats.params["atom_fade"])


def test_neighbourhood_against_brute_force(native):
    feats = featurize(native, dtype=np.float64)
    grid = RadialGrid.from_sigma(2.0, 5)
    types = atom_types_of(native)
    assert feats.atom_basis.shape[2:] == (5, 25)
    for i in range(0, feats.n_nodes, 7):
        idx, local, weight = _brute_neighbourhood(native, feats, i)
        m = feats.atom_mask[i]
        assert m.sum() == len(idx)
        np.testing.assert_array_equal(np.sort(feats.atom_type[i, m]), np.sort(types[idx]))
        expected = point_basis(local, grid, 4, 2.0) * weight[:, None, None]
        got = feats.atom_basis[i, m]
        # match atoms by their basis (order inside a node is not part of the contract)
        order_e = np.lexsort(expected.reshape(len(idx), -1).T[::-1])
        order_g = np.lexsort(got.reshape(len(idx), -1).T[::-1])
        np.testing.assert_allclose(got[order_g], expected[order_e], rtol=1e-10, atol=1e-9)
        assert np.all(feats.atom_basis[i, ~m] == 0) and np.all(feats.atom_type[i, ~m] == 0)


def test_embedding_via_basis_equals_one_hot_expansion(native, rng):
    """sum_k basis[i,k] W[type] == expand_points with 168 one-hot channels times W (Eq. 2)."""
    feats = featurize(native, dtype=np.float64)
    grid = RadialGrid.from_sigma(2.0, 5)
    W = rng.normal(size=(N_ATOM_TYPES, 3))
    i = feats.n_nodes // 2
    idx, local, weight = _brute_neighbourhood(native, feats, i)
    onehot = np.eye(N_ATOM_TYPES)[atom_types_of(native)[idx]] * weight[:, None]
    ref = expand_points(local, onehot, grid, 4, 2.0) @ W                    # (P, Q, 3)
    got = np.einsum("kpq,kc->pqc", feats.atom_basis[i], W[feats.atom_type[i]]
                    * feats.atom_mask[i][:, None])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-8)


def test_invariance_under_rigid_motion(native, rng):
    rot, shift = _random_rotation(rng), rng.normal(size=3) * 30
    a = featurize(native, dtype=np.float64)
    b = featurize(_moved(native, rot, shift), dtype=np.float64)
    for name in ("atom_type", "atom_mask", "nbr_idx", "nbr_mask", "edge_aa_pair", "edge_topo"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("atom_basis", "edge_rot", "edge_trans"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-8)
    np.testing.assert_allclose(b.frames, np.einsum("ij,njk->nik", rot, a.frames), atol=1e-12)


def test_graph_against_brute_force(rules):
    with pytest.warns(StructureWarning):
        feats = featurize(rules, dtype=np.float64, r_n=12.0, d_t=3)
    nodes = feats.residue_index
    ca = feats.origins
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    brk = rules.chain_break_before()
    for i in range(feats.n_nodes):
        expected = sorted(j for j in range(feats.n_nodes) if j != i and d[i, j] < 12.0)
        m = feats.nbr_mask[i]
        assert sorted(feats.nbr_idx[i, m]) == expected
        assert np.all(feats.nbr_idx[i, ~m] == i)
        for k in np.flatnonzero(m):
            j = feats.nbr_idx[i, k]
            ri, rj = nodes[i], nodes[j]
            lo, hi = min(ri, rj), max(ri, rj)
            same_segment = not brk[lo + 1:hi + 1].any()
            topo = min(hi - lo, 3) - 1 if same_segment else 2
            assert feats.edge_topo[i, k] == topo
            assert feats.edge_aa_pair[i, k] == 20 * rules.aa_index[ri] + rules.aa_index[rj]
            # x_i = R_ij x_j + t_ij for a global point (the CA of a third residue)
            p = ca[(i + 3) % feats.n_nodes]
            x_j = feats.frames[j].T @ (p - ca[j])
            x_i = feats.frames[i].T @ (p - ca[i])
            np.testing.assert_allclose(feats.edge_rot[i, k] @ x_j + feats.edge_trans[i, k], x_i,
                                       atol=1e-10)
    # chains A and B are bonded nowhere: an A-B edge has class d_t - 1
    assert feats.edge_topo.max() <= 2 and feats.edge_topo.min() >= 0


def test_missing_frame_residue_not_a_node_but_its_atoms_count(rules):
    with pytest.warns(StructureWarning, match=r"rules.pdb.*A:ILE7"):
        feats = featurize(rules)
    assert feats.n_residues_total == rules.n_residues == 11
    assert list(feats.residue_index) == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]
    # the CB of ILE7 (no frame) is in the neighbourhood of ALA8
    cb = np.flatnonzero((rules.atom_res == 6) & (rules.atom_names == "CB"))[0]
    i = list(feats.residue_index).index(7)
    assert np.linalg.norm(rules.coords[cb] - feats.origins[i]) < 8.0
    assert ATOM_TYPES.index(("ILE", "CB")) in set(feats.atom_type[i, feats.atom_mask[i]].tolist())


def test_residues_lacking_heavy_atoms_are_named(native):
    # a complete model passes silently; residues without (part of) their side chain are named
    # with the atoms they lack, and are still scored
    from estimators.features import incomplete_residues
    assert incomplete_residues(native).size == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", StructureWarning)
        featurize(native)
    # side chains of residues 0-2 removed (a glycine among them lacks nothing), the last
    # side-chain atom of residue 5 removed
    last5 = RESIDUE_ATOMS[native.resnames[5]][-1]
    drop = ((native.atom_res < 3) & ~np.isin(native.atom_names, ("N", "CA", "C", "O"))) | \
        ((native.atom_res == 5) & (native.atom_names == last5))
    cut = dataclasses.replace(native, coords=native.coords[~drop],
                              atom_names=native.atom_names[~drop],
                              atom_res=native.atom_res[~drop], _cache={})
    expected = [r for r in range(3) if native.resnames[r] != "GLY"] + [5]
    assert incomplete_residues(cut).tolist() == expected
    r0 = expected[0]
    lack = " ".join(RESIDUE_ATOMS[native.resnames[r0]][4:])
    with pytest.warns(StructureWarning) as record:
        feats = featurize(cut)
    (message,) = [str(w.message) for w in record if "lack side-chain atoms" in str(w.message)]
    assert f"{len(expected)} of {native.n_residues} residue(s) lack side-chain atoms" in message
    assert f"{native.residue_label(r0)} ({lack})" in message
    assert f"{native.residue_label(5)} ({last5})" in message
    assert feats.n_nodes == native.n_residues


def test_no_frame_at_all_is_an_error(rules):
    ca_free = dataclasses.replace(rules, atom_names=np.where(rules.atom_names == "CA", "CX",
                                                             rules.atom_names), _cache={})
    with pytest.raises(StructureError, match="rules.pdb.*no residue has N, CA and C"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        featurize(ca_free)


def test_degenerate_backbone_is_named_as_such(rules):
    """N, CA and C present but collapsed onto one point: the error says degenerate, not missing."""
    coords = rules.coords.copy()
    for name in ("N", "C"):
        idx = rules.atom_index(name)
        ca = rules.atom_index("CA")
        ok = (idx >= 0) & (ca >= 0)
        coords[idx[ok]] = coords[ca[ok]]
    flat = dataclasses.replace(rules, coords=coords, _cache={})
    with pytest.raises(StructureError, match="rules.pdb.*present in .* but degenerate"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        featurize(flat)


@pytest.mark.parametrize("kw, exc", [(dict(lmax=-1), ValueError), (dict(lmax=2.0), TypeError),
                                     (dict(sigma=0.0), ValueError), (dict(r_max=np.nan), ValueError),
                                     (dict(d_t=0), ValueError), (dict(dtype=np.int32), ValueError)])
def test_bad_parameters(rules, kw, exc):
    with pytest.raises(exc):
        featurize(rules, **kw)


def test_float32_matches_float64_and_params(native):
    a = featurize(native, dtype=np.float64)
    b = featurize(native)
    assert b.atom_basis.dtype == np.float32 and a.atom_basis.dtype == np.float64
    assert np.isfinite(b.atom_basis).all()
    scale = np.abs(a.atom_basis).max()
    np.testing.assert_allclose(b.atom_basis, a.atom_basis, atol=1e-6 * scale)
    assert b.params["lmax"] == 4 and b.params["n_radial"] == 5 and b.params["r_max"] == 8.0
    np.testing.assert_allclose(b.params["rho_max"], np.pi / 2.0)


def test_other_parameters_change_shapes(native):
    f = featurize(native, lmax=2, n_radial=3, r_max=6.0, r_n=10.0)
    assert f.atom_basis.shape[2:] == (3, 9)
    d = featurize(native)
    assert f.atom_mask.sum() < d.atom_mask.sum() and f.nbr_mask.sum() < d.nbr_mask.sum()


def test_roundtrip_arrays(native):
    f = featurize(native)
    g = ProteinFeatures.from_arrays(f.to_arrays(), f.name)
    for name in ("atom_basis", "atom_type", "edge_rot", "residue_index"):
        np.testing.assert_array_equal(getattr(f, name), getattr(g, name))
    assert g.params == f.params and g.n_residues_total == f.n_residues_total


def test_memory_per_300_residues(shared_dir_module):
    """float32 features of the largest native, scaled to 300 residues, stay well under 100 MB."""
    natives = sorted((shared_dir_module / "data" / "natives").glob("*.pdb"))
    biggest = max(natives, key=lambda p: p.stat().st_size)
    f = featurize(biggest)
    per_residue = f.nbytes / f.n_nodes
    assert per_residue * 300 < 50e6, per_residue * 300


def test_featurize_sample_of_shared_files(shared_dir_module):
    data = shared_dir_module / "data"
    models = sorted((data / "casp13").glob("*/models/*"))[::40]
    natives = sorted((data / "natives").glob("*.pdb"))[::30]
    for p in models + natives:
        f = featurize(p)
        assert f.n_nodes == f.n_residues_total
        assert np.isfinite(f.atom_basis).all() and f.atom_mask.any(axis=1).all()
        assert (f.atom_type[f.atom_mask] < N_ATOM_TYPES).all()


# ---------------------------------------------------------------------------
# Numba path (fused neighbour search + local frame + basis + padding) vs reference
# ---------------------------------------------------------------------------
from fourier6d import _numba_kernels                      # noqa: E402
from estimators import features as _features             # noqa: E402

needs_numba = pytest.mark.skipif(not _numba_kernels.AVAILABLE, reason="numba not importable")


def _reference_featurize(s, **kw):
    saved = _numba_kernels.AVAILABLE
    _numba_kernels.AVAILABLE = False
    try:
        return featurize(s, **kw)
    finally:
        _numba_kernels.AVAILABLE = saved


def _assert_same_features(a, b, tol):
    for name in _features._ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        if name == "atom_basis":
            assert np.abs(x.astype(np.float64) - y).max() <= tol * np.abs(y).max(), name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.params == b.params and a.name == b.name and a.n_residues_total == b.n_residues_total


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_numba_path_equals_reference(native, rules, dtype):
    """Same pairs, same order and padding; the basis equal to rounding (float64: < 1e-12)."""
    tol = 1e-12 if dtype == np.float64 else 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        for s, kw in ((native, {}), (rules, dict(r_n=8.0, d_t=3)),
                      (native, dict(lmax=2, n_radial=3, r_max=6.0))):
            fused = featurize(s, dtype=dtype, **kw)
            ref = _reference_featurize(s, dtype=dtype, **kw)
            _assert_same_features(fused, ref, tol)
            # the number of threads does not change a bit
            one = featurize(s, dtype=dtype, n_threads=1, **kw)
            for name in _features._ARRAYS:
                np.testing.assert_array_equal(getattr(one, name), getattr(fused, name))


@needs_numba
def test_fused_path_spread_out_and_separate_chains(native):
    """Two copies far apart (coarser cells) and a copy overlapping (many neighbours)."""
    far = dataclasses.replace(native, coords=native.coords + [1e4, -3e3, 50.0], _cache={})
    from estimators.structures import Structure
    parts = (native, far)
    big = Structure(name="two", chain_ids=np.concatenate([np.full(p.n_residues, c) for p, c in
                                                          zip(parts, "AB")]),
                    resnums=np.concatenate([p.resnums for p in parts]),
                    icodes=np.concatenate([p.icodes for p in parts]),
                    resnames=np.concatenate([p.resnames for p in parts]),
                    aa_index=np.concatenate([p.aa_index for p in parts]),
                    coords=np.concatenate([p.coords for p in parts]),
                    atom_names=np.concatenate([p.atom_names for p in parts]),
                    atom_res=np.concatenate([native.atom_res, far.atom_res + native.n_residues]))
    _assert_same_features(featurize(big, dtype=np.float64),
                          _reference_featurize(big, dtype=np.float64), 1e-12)
    f = featurize(big, dtype=np.float64)
    n = native.n_residues
    np.testing.assert_allclose(f.atom_basis[:n], f.atom_basis[n:], atol=1e-9)


def test_atom_types_per_distinct_pair_equal_atom_types_of(native, rules):
    for s in (native, rules):
        np.testing.assert_array_equal(_features._atom_types(s), atom_types_of(s))
    # names longer than 3 characters take the np.unique path
    long = dataclasses.replace(rules, atom_names=np.where(rules.atom_names == "CB", "CBXY",
                                                          rules.atom_names), _cache={})
    np.testing.assert_array_equal(_features._atom_types(long), atom_types_of(long))


@needs_numba
def test_recycled_output_buffers(native, monkeypatch):
    """atom_basis memory is reused only once no array uses it; stale data never leaks."""
    monkeypatch.setattr(_numba_kernels, "RECYCLE_BYTES", 1)      # recycle every output
    _numba_kernels.release_buffers()
    try:
        ref = _reference_featurize(native, dtype=np.float64)
        a = featurize(native, dtype=np.float64)
        kept = a.atom_basis.copy()
        b = featurize(native, dtype=np.float64, lmax=2)          # a is alive: not reused
        assert not np.shares_memory(a.atom_basis, b.atom_basis)
        np.testing.assert_array_equal(a.atom_basis, kept)
        ptr = a.atom_basis.ctypes.data
        a.atom_basis[...] = np.nan                               # stale data, padding included
        del a
        c = featurize(native, dtype=np.float64)                  # reuses a's memory
        assert c.atom_basis.ctypes.data == ptr
        _assert_same_features(c, ref, 1e-12)
        np.testing.assert_array_equal(c.atom_basis, kept)
        assert c.atom_basis.flags.c_contiguous and c.atom_basis.flags.writeable
    finally:
        _numba_kernels.release_buffers()
