"""Tests of the decoy realism check (estimators.decoys.realism): features, bin matching, AUC, and
that threaded decoys are harder to tell from real CASP13 models than torsion-walk misfolds."""
import warnings

import numpy as np
import pytest

from estimators.decoys.realism import FEATURES, matched_sample, realism_auc, realism_features
from estimators.structures import read_structure


@pytest.fixture(scope="module")
def shared():
    from conftest import SHARED
    if not (SHARED / "data" / "natives").exists():
        pytest.skip("shared data not found")
    return SHARED / "data"


def test_features_of_a_native(shared):
    native = read_structure(shared / "natives" / "1a32.pdb")
    f = dict(zip(FEATURES, realism_features(native)))
    assert 0.8 < f["rg_ratio"] < 1.3
    assert f["rama_outlier_fraction"] < 0.05 and f["clashes_per_100"] < 5
    assert 0.0 <= f["helix_fraction"] + f["strand_fraction"] <= 1.0 and f["helix_fraction"] > 0.3
    assert 2.0 < f["contacts_per_residue"] < 8.0 and 0.0 < f["relative_contact_order"] < 0.5
    assert f["hydrophobic_burial"] > 0                        # hydrophobics are more buried
    # a loose (expanded) copy has fewer contacts and a larger radius of gyration
    from estimators.decoys.impossible import expand
    loose = dict(zip(FEATURES, realism_features(
        __import__("dataclasses").replace(native, coords=expand(native, native.coords, 0.5),
                                          _cache={}))))
    assert loose["rg_ratio"] > 1.4 * f["rg_ratio"]
    assert loose["contacts_per_residue"] < f["contacts_per_residue"]


def test_matched_sample_equalises_bins():
    rng = np.random.default_rng(0)
    decoys = rng.uniform(0.2, 0.9, 300)
    real = rng.beta(5, 3, 100)
    d, r = matched_sample(decoys, real, rng)
    bins = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(np.histogram(decoys[d], bins)[0], np.histogram(real[r], bins)[0])
    assert len(set(d)) == d.size and len(set(r)) == r.size


def test_auc_is_half_for_the_same_distribution_and_one_for_separated():
    rng = np.random.default_rng(1)
    n = 200
    real_x = rng.normal(size=(n, 3))
    real_y = rng.uniform(0.2, 0.9, n)
    real_g = np.repeat(np.arange(4), n // 4)
    same_x = rng.normal(size=(n, 3))
    auc_same, matched = realism_auc(same_x, rng.uniform(0.2, 0.9, n), np.arange(n) % 8,
                                    real_x, real_y, real_g)
    assert matched > 100 and abs(auc_same - 0.5) < 0.12
    far_x = rng.normal(size=(n, 3)) + [3.0, 0.0, 0.0]
    auc_far, _ = realism_auc(far_x, rng.uniform(0.2, 0.9, n), np.arange(n) % 8,
                             real_x, real_y, real_g)
    assert auc_far > 0.95
    # lDDT alone must not separate: decoys with other features but all lDDT out of the real range
    # have no matched model
    auc, matched = realism_auc(far_x, np.full(n, 0.99), np.arange(n) % 8, real_x,
                               np.full(n, 0.5), real_g)
    assert np.isnan(auc) and matched == 0


def test_threaded_decoys_are_harder_to_tell_from_casp13_models_than_misfolds(shared):
    """Small version of benchmarks/decoy_realism.py: 10 small natives, 3 decoys of each kind."""
    pytest.importorskip("openmm")
    pytest.importorskip("pdbfixer")
    from estimators.datasets import load_casp13
    from estimators.decoys import generate_series
    from estimators.decoys.alignment import tm_align_available
    from estimators.decoys.corpus import expand_inputs
    if not tm_align_available():
        pytest.skip("TMalign not installed")
    if not (shared / "casp13").exists():
        pytest.skip("CASP13 models not found")
    data = load_casp13(shared / "casp13")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real_x = np.array([realism_features(read_structure(p)) for p in data.model_paths])
        files = expand_inputs([shared / "natives"])
        sizes = np.array([p.stat().st_size for p in files])
        natives = [files[k] for k in np.argsort(sizes)[20:30]]     # small (~60-70 residues)
        rows = {"threaded": [], "misfold": []}
        for k, path in enumerate(natives):
            native = read_structure(path)
            for kind in rows:
                for d in generate_series(native, 3, seed=k, kinds=f"{kind}=1", templates=files,
                                         relax_options={"max_iterations": 150}):
                    rows[kind].append((realism_features(d.structure(native)), d.lddt, path.stem))
    aucs = {}
    for kind, r in rows.items():
        x = np.array([a for a, _, _ in r])
        aucs[kind], n = realism_auc(x, [b for _, b, _ in r], [c for _, _, c in r], real_x,
                                    data.lddt, data.targets)
        print(f"\n{kind}: AUC {aucs[kind]:.3f} on {n} matched pairs")
    assert aucs["threaded"] < aucs["misfold"] - 0.05
