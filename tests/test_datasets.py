"""Tests of estimators.datasets on the real CASP13 data and on a synthetic copy."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from estimators.datasets import load_casp13, labels_for_residues, resolve_casp13_root

COUNTS = {"T0953s1": 139, "T0967": 74, "T0974s1": 113, "T1006": 66}  # data README


@pytest.fixture
def casp13(shared_dir):
    root = shared_dir / "data" / "casp13"
    if not root.is_dir():
        pytest.skip(f"CASP13 data not found at {root}")
    return load_casp13(root)


def test_counts_and_shapes(casp13):
    assert len(casp13) == 392
    assert casp13.target_ids == sorted(COUNTS)
    targets, counts = np.unique(casp13.targets, return_counts=True)
    assert dict(zip(targets.tolist(), counts.tolist())) == COUNTS
    for arr in (casp13.lddt, casp13.gdt_ts, casp13.resnetqa_lddt, casp13.model_names):
        assert arr.shape == (392,)
    for i in range(len(casp13)):
        length = len(casp13.sequences[casp13.targets[i]])
        assert casp13.lddt_local[i].shape == (length,)
        assert casp13.resnetqa_lddt_local[i].shape == (length,)
        assert casp13.model_paths[i].is_file()
        assert casp13.model_paths[i].parent.parent.name == casp13.targets[i]
    assert np.all((casp13.lddt > 0) & (casp13.lddt <= 1))
    assert np.all((casp13.gdt_ts >= 0) & (casp13.gdt_ts <= 1))
    allv = np.concatenate(casp13.lddt_local)
    assert np.isnan(allv).any() and np.nanmin(allv) >= 0 and np.nanmax(allv) <= 1
    assert set(casp13.sequences[t][0] for t in COUNTS) <= set("ACDEFGHIKLMNPQRSTVWY")


def test_values_match_json_and_global_tracks_local(casp13):
    raw = json.loads((casp13.root / "T0967" / "labels.json").read_text())
    i = int(np.nonzero((casp13.targets == "T0967") & (casp13.model_names == "ACOMPMOD_TS1"))[0][0])
    entry = raw["ACOMPMOD_TS1"]
    assert casp13.lddt[i] == entry["lddt"] and casp13.gdt_ts[i] == entry["gdt_ts"]
    expected = np.array([np.nan if v is None else v for v in entry["lddt_local"]], dtype=float)
    np.testing.assert_array_equal(casp13.lddt_local[i], expected)
    # the global lDDT is close to the mean of the local ones (CASP: pooled counts, not a mean)
    means = np.array([np.nanmean(v) for v in casp13.lddt_local])
    assert np.corrcoef(means, casp13.lddt)[0, 1] > 0.95


def test_subset_and_errors(casp13, tmp_path, monkeypatch):
    sub = load_casp13(casp13.root, targets=["T1006"])
    assert len(sub) == 66 and set(sub.targets) == {"T1006"}
    # root may be the shared folder; default from the environment variable
    assert len(load_casp13(casp13.root.parent.parent, targets="T0967")) == 74
    monkeypatch.setenv("FOURIER6D_SHARED", str(casp13.root.parent.parent))
    assert resolve_casp13_root() == casp13.root
    with pytest.raises(ValueError, match="unknown CASP13 targets"):
        load_casp13(casp13.root, targets=["T9999"])
    monkeypatch.setenv("FOURIER6D_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="CASP13 data not found"):
        load_casp13()


def test_labels_follow_residue_numbers(casp13):
    from estimators.structures import read_structure
    for i in np.nonzero(casp13.targets == "T0974s1")[0][:10]:
        structure = read_structure(casp13.model_paths[i])
        seq = casp13.sequences[casp13.targets[i]]
        y = labels_for_residues(structure, casp13.lddt_local[i], seq)
        assert y.shape == (structure.n_residues,)
        np.testing.assert_array_equal(y, casp13.lddt_local[i][structure.resnums - 1])
        # every labelled sequence position is a residue of the model
        labelled = np.nonzero(~np.isnan(casp13.lddt_local[i]))[0] + 1
        assert np.isin(labelled, structure.resnums).all()


def test_labels_for_residues_synthetic():
    s = SimpleNamespace(name="toy", chain_ids=np.array(["", "", "", ""]),
                        resnums=np.array([0, 1, 3, 3]), icodes=np.array(["", "", "", "A"]),
                        resnames=np.array(["GLY", "ALA", "CYS", "CYS"]))
    np.testing.assert_array_equal(labels_for_residues(s, [0.1, 0.2, 0.3]), [np.nan, 0.1, 0.3, np.nan])
    labels_for_residues(s, [0.1, 0.2, 0.3], sequence="AXC")
    with pytest.raises(ValueError, match="does not match"):
        labels_for_residues(s, [0.1, 0.2, 0.3], sequence="GXC")
    with pytest.raises(ValueError, match="one chain"):
        labels_for_residues(SimpleNamespace(**{**vars(s), "chain_ids": np.array(["A", "B", "B", "B"])}),
                            [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="1-D"):
        labels_for_residues(s, np.zeros((3, 2)))
