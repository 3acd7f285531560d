"""Tests of the impossible decoy kinds (estimators.decoys.impossible) and their clash-aware labels."""
import numpy as np
import pytest

from estimators.decoys import generate_series, parse_kinds
from estimators.decoys.impossible import IMPOSSIBLE_KINDS, crush, expand, impossible_decoy
from estimators.lddt import lddt
from estimators.structures import read_structure


@pytest.fixture(scope="module")
def native():
    from conftest import SHARED
    path = SHARED / "data" / "natives" / "1a32.pdb"
    if not path.exists():
        pytest.skip("natives not found")
    return read_structure(path)


def test_impossible_kinds_get_low_labels(native):
    rows = {}
    for kind in IMPOSSIBLE_KINDS:
        scores = []
        for i in range(4):
            d = impossible_decoy(native, kind, np.random.SeedSequence([3, i]))
            assert d.kind == kind and np.isnan(d.target_lddt) and not d.info["relaxed"]
            structure = d.structure(native)
            labels = d.local_labels(native)
            assert labels.shape == (structure.n_residues,)
            # the label is the clash-aware lDDT of the model's structure
            if kind != "overlay":
                result = lddt(structure, native, clash_filter=True)
                assert d.lddt == pytest.approx(result.global_score, abs=1e-12)
                np.testing.assert_allclose(labels, result.per_residue, atol=1e-12)
            scores.append((d.lddt, lddt(structure if kind != "overlay" else native, native)
                           .global_score if kind != "overlay" else 1.0))
        rows[kind] = np.array(scores)
    print("\nkind: labels (clash-aware) | plain lDDT of the same models")
    for kind, s in rows.items():
        print(f"{kind:9s}", np.round(s[:, 0], 3), "|", np.round(s[:, 1], 3))
    assert np.all(rows["overlay"][:, 0] <= 0.1)
    assert np.all(rows["crushed"][:, 0] <= 0.3)
    assert np.all(rows["clash"][:, 0] < rows["clash"][:, 1])                # the clashes cost
    assert np.mean(rows["clash"][:, 1] - rows["clash"][:, 0]) > 0.1
    assert np.all(rows["expanded"][:, 0] < 0.9)


def test_overlay_is_a_two_chain_model_with_labels_for_both_copies(native):
    d = impossible_decoy(native, "overlay", 5)
    s = d.structure(native)
    assert s.n_residues == 2 * native.n_residues
    assert sorted(set(s.chain_ids.astype(str))) == ["A", "B"] or len(set(s.chain_ids)) == 2
    rmsd = np.sqrt(((d.copy_coords - d.coords) ** 2).sum(1).mean())
    assert 0.2 < rmsd < 2.0
    labels = d.local_labels(native)
    assert labels.shape == (2 * native.n_residues,) and np.nanmax(labels) <= 0.1


def test_crush_and_expand_geometry(native):
    coords = native.coords
    centre = coords.mean(0)
    np.testing.assert_allclose(crush(native, coords, 0.0), coords)
    ca = native.backbone()[1]
    squeezed = crush(native, coords, 0.3)
    # uniform crush: every distance to the CA centroid shrinks by 30%
    c0 = ca.mean(0)
    np.testing.assert_allclose(np.linalg.norm(squeezed - c0, axis=1),
                               0.7 * np.linalg.norm(coords - c0, axis=1), atol=1e-9)
    rigid = crush(native, coords, 0.3, rigid_residues=True)
    for r in (0, 10, 30):                       # residues intact
        sel = native.atom_res == r
        d0 = np.linalg.norm(coords[sel][:, None] - coords[sel][None], axis=-1)
        d1 = np.linalg.norm(rigid[sel][:, None] - rigid[sel][None], axis=-1)
        np.testing.assert_allclose(d1, d0, atol=1e-9)
    loose = expand(native, coords, 0.3)
    assert np.linalg.norm(loose - centre, axis=1).mean() > np.linalg.norm(coords - centre,
                                                                           axis=1).mean()


def test_series_with_impossible_kinds_and_bad_kind(native, tmp_path):
    assert set(parse_kinds("impossible=1")) == set(IMPOSSIBLE_KINDS)
    decoys = generate_series(native, 8, seed=1, kinds="impossible=1", relax=False)
    assert sorted(d.kind for d in decoys) == sorted(IMPOSSIBLE_KINDS * 2)
    again = generate_series(native, 8, seed=1, kinds="impossible=1", indices=[5])
    np.testing.assert_array_equal(again[0].coords, decoys[5].coords)
    with pytest.raises(ValueError, match="impossible kind"):
        impossible_decoy(native, "melted", 0)
    # corpus round trip: the overlay's copy is stored and comes back as a second chain
    from estimators.decoys.corpus import build_corpus, read_corpus_file
    build_corpus([native], tmp_path, n_per_native=8, seed=1, kinds="impossible=1", relax=False)
    entry = read_corpus_file(next(tmp_path.glob("*.npz")))
    assert len(entry.copy_index) == 2
    for i in range(len(entry)):
        structure, labels, score, kind = entry.sample(i)
        expected = 2 * native.n_residues if kind == "overlay" else native.n_residues
        assert structure.n_residues == labels.shape[0] == expected
        if kind == "overlay":
            assert score <= 0.1
