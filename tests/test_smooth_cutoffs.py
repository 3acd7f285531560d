"""Smooth cut-offs: network scores are a continuous function of the coordinates.

Atoms entering the R_max neighbourhood of a residue and graph edges entering R_n fade in with the
C2 envelope of :func:`estimators.features.cutoff_envelope`; with both fades the per-residue scores
must not jump under sub-milliangstrom noise, nor under a rigid motion written through a PDB file.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from estimators.architectures import get_architecture
from estimators.batching import collate
from estimators.features import cutoff_envelope, featurize
from estimators.networks import batch_to_device, forward, init_params, radial_grid
from estimators.structures import read_structure
from estimators.training import init_switch_scale

from conftest import SHARED, write_pdb

CASP_MODEL = SHARED / "data" / "casp13" / "T1006" / "models"


def _closed_form(d, r_cut, width):
    x = np.clip((r_cut - np.asarray(d, float)) / width, 0.0, 1.0)
    return 6 * x ** 5 - 15 * x ** 4 + 10 * x ** 3


# --------------------------------------------------------------------------------- the envelope
def test_envelope_closed_form_and_limits():
    d = np.linspace(0.0, 14.0, 2801)
    np.testing.assert_allclose(cutoff_envelope(d, 12.0, 2.0), _closed_form(d, 12.0, 2.0),
                               rtol=0, atol=1e-14)
    w = cutoff_envelope(d, 12.0, 2.0)
    assert np.all(w[d <= 10.0] == 1.0) and np.all(w[d >= 12.0] == 0.0)
    assert np.all(np.diff(w) <= 0)                              # monotone
    # width 0: the paper's hard cut-off (distance < r_cut)
    np.testing.assert_array_equal(cutoff_envelope(d, 8.0, 0.0), (d < 8.0).astype(float))


def test_envelope_is_c2_at_both_ends():
    """First and second finite differences vanish at r_cut - width and r_cut (C2 joins)."""
    h = 1e-4
    for r in (10.0, 12.0):
        for side in (-1.0, 1.0):
            x = r + side * h
            w = lambda t: float(cutoff_envelope(t, 12.0, 2.0))
            d1 = (w(x + h) - w(x - h)) / (2 * h)
            d2 = (w(x + h) - 2 * w(x) + w(x - h)) / h ** 2
            assert abs(d1) < 1e-6 and abs(d2) < 1e-2, (r, side, d1, d2)
    # and the slope is bounded by its closed-form maximum 15 / (8 width)
    d = np.linspace(9.9, 12.1, 4001)
    slope = np.abs(np.diff(cutoff_envelope(d, 12.0, 2.0)) / np.diff(d))
    assert slope.max() <= 15 / 16 + 1e-6


# --------------------------------------------------------------------------------- the features
@pytest.fixture(scope="module")
def model_structure():
    path = sorted(CASP_MODEL.iterdir())[0] if CASP_MODEL.is_dir() else None
    if path is None:
        pytest.skip("CASP13 data not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_structure(path)


def test_edge_weight_is_envelope_of_ca_distance(model_structure):
    f = featurize(model_structure, dtype=np.float64)
    ca = f.origins
    for i in range(0, f.n_nodes, 5):
        m = f.nbr_mask[i]
        d = np.linalg.norm(ca[f.nbr_idx[i, m]] - ca[i], axis=1)
        np.testing.assert_allclose(f.edge_weight[i, m], _closed_form(d, 12.0, 2.0), atol=1e-12)
        assert np.all(f.edge_weight[i, ~m] == 0)
    hard = featurize(model_structure, dtype=np.float64, atom_fade=0.0, edge_fade=0.0)
    np.testing.assert_array_equal(hard.edge_weight, hard.nbr_mask.astype(float))
    assert f.params["atom_fade"] == 1.0 and f.params["edge_fade"] == 2.0


def _move_atom_across(structure, node_ca, atom, r_cut, eps):
    """Copy of the structure with ``atom`` at distance r_cut + eps from ``node_ca`` (along its
    current direction)."""
    coords = structure.coords.copy()
    v = coords[atom] - node_ca
    coords[atom] = node_ca + v / np.linalg.norm(v) * (r_cut + eps)
    return _with_coords(structure, coords)


@pytest.mark.parametrize("fade, must_jump", [(1.0, False), (0.0, True)])
def test_atom_crossing_r_max(model_structure, fade, must_jump):
    """An atom crossing R_max by +-1e-4 A: no jump with the fade; a full jump without it
    (so the check can fail)."""
    s = model_structure
    base = featurize(s, dtype=np.float64, atom_fade=fade, edge_fade=2.0)
    i = base.n_nodes // 2
    ca = base.origins[i]
    d = np.linalg.norm(s.coords - ca, axis=1)
    atom = int(np.argmin(np.abs(d - 8.5)))                     # an atom just outside
    near = _move_atom_across(s, ca, atom, 8.0, -1e-4)
    far = _move_atom_across(s, ca, atom, 8.0, +1e-4)
    a = featurize(near, dtype=np.float64, atom_fade=fade, edge_fade=2.0).atom_basis[i].sum(0)
    b = featurize(far, dtype=np.float64, atom_fade=fade, edge_fade=2.0).atom_basis[i].sum(0)
    jump = np.abs(a - b).max() / np.abs(a).max()
    if must_jump:
        assert jump > 1e-3
    else:
        assert jump < 1e-6


# --------------------------------------------------------------------------------- the network
def _network(name, spec_overrides, seed=0):
    spec = get_architecture(dict(get_architecture(name), **spec_overrides))
    params = init_params(spec, random_state=seed, dtype=np.float64)
    return spec, params


def _predict(spec, params, structures, dtype=np.float64):
    feats = [featurize(s, dtype=dtype, **{k: spec[k] for k in
                                          ("lmax", "n_radial", "sigma", "r_max", "r_n", "d_t",
                                           "atom_fade", "edge_fade")}) for s in structures]
    batch = collate(feats, dtype=dtype)
    dev = batch_to_device(batch, np, dtype)
    o = forward(params, spec, dev, radial_grid(spec))
    return [np.asarray(o[sl]) for sl in batch.node_slices]


def _with_coords(structure, coords):
    from estimators.decoys import decoy_structure
    return decoy_structure(structure, coords)


@pytest.fixture(scope="module")
def trained_like_network(model_structure):
    """6DCNN-2 (message passing) with random weights scaled as after training (switch scale by
    data-dependent init), smooth cut-offs on."""
    spec, params = _network("6dcnn-2", {})
    f = featurize(model_structure, dtype=np.float64)
    params = init_switch_scale(params, spec, radial_grid(spec), [f], np, np.float64)
    return spec, params


def test_scores_continuous_under_noise(model_structure, trained_like_network):
    """Scores are Lipschitz in the coordinates: shrinking uniform noise on every atom 100-fold
    (1e-3 -> 1e-5 A) shrinks the largest per-residue change and the change of the global score
    about 100-fold.  With hard cut-offs an atom or CA crossing R_max / R_n keeps the global score
    jumping at any noise level."""
    spec, params = trained_like_network
    rng = np.random.default_rng(1)
    s = model_structure
    direction = [rng.uniform(-1.0, 1.0, s.coords.shape) for _ in range(3)]
    structures = [s] + [_with_coords(s, s.coords + amp * n) for amp in (1e-3, 1e-5)
                        for n in direction]
    base, *others = _predict(spec, params, structures)
    local = [np.abs(o - base).max() for o in others]
    glob = [abs(float(o.mean()) - float(base.mean())) for o in others]
    assert max(local[3:]) <= 0.03 * max(local[:3])
    assert max(glob[3:]) <= 0.03 * max(glob[:3]) + 1e-12
    assert max(local[3:]) <= 1e-4


def test_rigid_motion_through_pdb_file(model_structure, trained_like_network, tmp_path):
    """A rotated and translated copy written as PDB (3 decimals) and read back: global score
    changes by < 1e-4."""
    from scipy.spatial.transform import Rotation
    spec, params = trained_like_network
    s = model_structure
    R = Rotation.from_rotvec([0.7, -1.1, 0.4]).as_matrix()
    moved = _with_coords(s, s.coords @ R.T + np.array([13.2, -7.9, 21.4]))
    path = tmp_path / "moved.pdb"
    write_pdb(moved, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = read_structure(path)
    a, b = _predict(spec, params, [s, back])
    assert abs(float(a.mean()) - float(b.mean())) < 1e-4
    assert np.abs(a - b).max() < 1e-3


def test_hard_cutoffs_reproduce_old_features(model_structure):
    """atom_fade = edge_fade = 0 (model files without fade keys) gives the paper's features."""
    from estimators.architectures import legacy_spec
    old_spec = {k: v for k, v in get_architecture("6dcnn-1").items()
                if k not in ("atom_fade", "edge_fade")}
    spec = get_architecture(legacy_spec(old_spec))
    assert spec["atom_fade"] == 0.0 and spec["edge_fade"] == 0.0
    assert get_architecture(old_spec)["edge_fade"] == 2.0      # a new spec gets the defaults
    hard = featurize(model_structure, dtype=np.float64, atom_fade=0.0, edge_fade=0.0)
    smooth = featurize(model_structure, dtype=np.float64)
    # same atoms and edges; only the weights in the fade shells differ
    np.testing.assert_array_equal(hard.atom_mask, smooth.atom_mask)
    np.testing.assert_array_equal(hard.nbr_mask, smooth.nbr_mask)
    inner = smooth.edge_weight == 1.0
    assert inner.sum() > 0.4 * smooth.nbr_mask.sum()
