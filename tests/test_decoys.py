"""Tests of estimators.decoys (perturbation kinds, relaxation, geometry, corpus).

Two small natives (2j5y, 53 residues; 1a32, 65 residues) and a few decoys each: realistic geometry
(compared with CASP13 server models), lDDT range and labels, exactness of the rigid moves,
reproducibility, relaxation of overlapping atoms, the corpus files and the command line.
"""
import json
import math
import warnings

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("pdbfixer")

from estimators.decoys.corpus import build_corpus, main, native_seed, read_corpus_file  # noqa: E402
from estimators.decoys import (  # noqa: E402
    DecoyGenerator, ProxyLDDT, count_clashes, decoy_structure, generate_decoys,
    geometry_statistics, ramachandran_allowed,
)
from estimators.lddt import lddt  # noqa: E402
from estimators.structures import read_structure  # noqa: E402

NATIVES = ("2j5y", "1a32")
GEOMETRY_KEYS = ("bond_std_n_ca", "bond_std_ca_c", "bond_std_c_n", "clashes_per_100",
                 "rama_outlier_fraction")


@pytest.fixture(scope="module")
def native_files():
    from conftest import SHARED
    folder = SHARED / "data" / "natives"
    if not folder.exists():
        pytest.skip(f"natives not found under {folder}")
    return [folder / f"{name}.pdb" for name in NATIVES]


@pytest.fixture(scope="module")
def natives(native_files):
    return [read_structure(path) for path in native_files]


#: The kinds of the relaxed-decoy fixture: one series per native, one decoy per kind, targets
#: stratified over [0.3, 0.95] (``shifted`` is tested on its own: adding it would change every
#: series, and a topology walk kept compact cannot reach 0.35 on these small natives).
SERIES_KINDS = ("backbone", "hinge", "register", "sidechain", "misfold", "topology")


@pytest.fixture(scope="module")
def relaxed_decoys(natives):
    """Relaxed decoys of each native, one per kind (targets stratified over [0.3, 0.95])."""
    return [(native, generate_decoys(native, len(SERIES_KINDS), seed=11, kinds=SERIES_KINDS))
            for native in natives]


@pytest.fixture(scope="module")
def casp13_geometry():
    """Geometry statistics of every 10th CASP13 server model (39 models of the 4 targets)."""
    from conftest import SHARED
    files = sorted((SHARED / "data" / "casp13").glob("*/models/*"))
    if not files:
        pytest.skip("CASP13 models not found")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files[::10]:
            stats = geometry_statistics(read_structure(path))
            rows.append([stats[k] for k in GEOMETRY_KEYS])
    return np.array(rows)


# ------------------------------------------------------------------------------------ geometry tools
def test_ramachandran_regions_by_hand():
    phi = np.array([-60.0, -120.0, 60.0, 80.0, 80.0, -60.0])
    psi = np.array([-45.0, 130.0, 40.0, -170.0, -170.0, -170.0])
    gly = np.array([False, False, False, False, True, False])
    # helix, beta, left-handed helix allowed; (80, -170) only for glycine (mirror of beta);
    # (-60, -170) is in the beta/PPII band (psi <= -150)
    np.testing.assert_array_equal(ramachandran_allowed(phi, psi, gly),
                                  [True, True, True, False, True, True])
    assert ramachandran_allowed(-60.0, -120.0, False)                  # edge of the helix region
    assert not ramachandran_allowed(-60.0, -140.0, False)              # between helix and beta
    assert not ramachandran_allowed(0.0, 180.0, False)


def test_count_clashes_by_hand():
    coords = np.array([[0, 0, 0], [2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.4], [9, 9, 9]], float)
    atom_res = np.array([0, 1, 2, 5, 9])
    # pairs < 2.5 A: (0,1) adjacent residues -> no; (0,2) |d res| = 2 -> yes; (0,3) yes;
    # (1,2) d = 2.83 -> no; (2,3) d = 3.1 -> no; (1,3) d = 3.1 -> no
    assert count_clashes(coords, atom_res) == 2
    names = np.array(["SG", "CA", "SG", "CA", "CA"])
    assert count_clashes(coords, atom_res, names) == 1                # SG-SG pair (0,2) excluded
    chains = np.array(["A"] * 10)
    chains[1] = "B"                                                    # residue 1 in another chain
    assert count_clashes(coords, atom_res, None, chains) == 3


def test_geometry_statistics_of_a_native(natives):
    stats = geometry_statistics(natives[1])
    assert stats["n_residues"] == natives[1].n_residues and stats["chain_breaks"] == 0
    assert 1.44 < stats["bond_mean_n_ca"] < 1.48 and stats["bond_std_n_ca"] < 0.02
    assert 1.50 < stats["bond_mean_ca_c"] < 1.55 and 1.30 < stats["bond_mean_c_n"] < 1.36
    assert stats["rama_outlier_fraction"] < 0.05 and stats["clashes_per_100"] < 5


def test_proxy_lddt_agrees_with_lddt(natives, relaxed_decoys):
    native, decoys = relaxed_decoys[0]
    proxy = ProxyLDDT(native.coords, native.atom_res, np.asarray(native.chain_ids)[native.atom_res])
    assert proxy(native.coords) == 1.0
    for d in decoys:
        # differs only by the symmetric-atom renaming of lddt(), which can only raise the score
        plain = lddt(decoy_structure(native, d.coords), native).global_score
        assert plain - 0.03 <= proxy(d.coords) <= plain + 1e-12
    sub = proxy.subsample(2000, np.random.default_rng(1))
    assert sub.i.size == 2000 and abs(sub(decoys[0].coords) - proxy(decoys[0].coords)) < 0.05


# ---------------------------------------------------------------------------------- generated decoys
def test_labels_are_lddt_of_the_stored_coordinates(relaxed_decoys):
    for native, decoys in relaxed_decoys:
        for d in decoys:
            # labels: the clash-aware rule of every decoy label
            result = lddt(decoy_structure(native, d.coords), native, clash_filter=True)
            assert d.lddt == pytest.approx(result.global_score, abs=1e-12)
            np.testing.assert_allclose(d.lddt_local, result.per_residue, atol=1e-12)
            assert d.lddt_local.shape == (native.n_residues,)
            assert d.coords.shape == native.coords.shape and np.all(np.isfinite(d.coords))
            assert d.info["relaxed"]


def test_lddt_range_is_covered_and_targets_are_met(relaxed_decoys):
    scores = np.array([d.lddt for _, ds in relaxed_decoys for d in ds])
    targets = np.array([d.target_lddt for _, ds in relaxed_decoys for d in ds])
    print("\nlDDT of decoys:", np.round(np.sort(scores), 3))
    print("target - lDDT:", np.round(targets - scores, 3))
    assert scores.min() < 0.5 and scores.max() > 0.8
    assert np.all((scores > 0.2) & (scores < 1.0))
    assert np.median(np.abs(scores - targets)) < 0.05
    assert np.max(np.abs(scores - targets)) < 0.15
    assert {d.kind.split("+")[0] for _, ds in relaxed_decoys for d in ds} == set(SERIES_KINDS)


def test_decoy_geometry_is_in_the_range_of_casp13_models(relaxed_decoys, casp13_geometry):
    decoy_rows = np.array([[geometry_statistics(native, d.coords)[k] for k in GEOMETRY_KEYS]
                           for native, ds in relaxed_decoys for d in ds])
    casp_q = np.percentile(casp13_geometry, [0, 50, 90, 100], axis=0)
    print("\n", " ".join(f"{k:>22s}" for k in GEOMETRY_KEYS))
    for label, row in (("CASP13 min", casp_q[0]), ("CASP13 median", casp_q[1]),
                       ("CASP13 90%", casp_q[2]), ("CASP13 max", casp_q[3]),
                       ("decoys min", decoy_rows.min(0)), ("decoys median", np.median(decoy_rows, 0)),
                       ("decoys max", decoy_rows.max(0))):
        print(f"{label:14s}", " ".join(f"{v:22.4f}" for v in row))
    # every decoy lies within the range spanned by the real models, and the typical decoy is not
    # worse than the 90th percentile of the real models
    assert np.all(decoy_rows <= casp_q[3] + 1e-12), decoy_rows.max(0)
    assert np.all(np.median(decoy_rows, 0) <= casp_q[2] + 1e-12)
    # relaxed decoys are not native-perfect: bond lengths spread like those of modelled structures
    assert np.median(decoy_rows[:, 0]) > 0.002


def test_rigid_moves_keep_every_covalent_bond(natives):
    """Unrelaxed decoys of torsion kinds keep all bond lengths of the all-atom model exactly."""
    generator = DecoyGenerator(natives[0], relax=False)
    model = generator.model
    bonds = np.array([[b[0].index, b[1].index] for b in model.topology.bonds()])
    length = lambda xyz: np.linalg.norm(xyz[bonds[:, 0]] - xyz[bonds[:, 1]], axis=1)  # noqa: E731
    reference = length(model.coords)
    backbone = np.isin(natives[0].atom_names, ["N", "CA", "C", "O"])
    for kind, target in (("backbone", 0.6), ("hinge", 0.6), ("sidechain", 0.92), ("misfold", 0.5)):
        xyz, label, info = generator.perturb(target, np.random.default_rng(3), kind)
        np.testing.assert_allclose(length(xyz), reference, atol=1e-9, err_msg=kind)
        moved = np.linalg.norm(xyz - model.coords, axis=1).max()
        assert moved > 1.0, kind
        if kind == "sidechain":
            assert label == "sidechain"
            coords = model.to_native_coords(xyz)
            np.testing.assert_allclose(coords[backbone], natives[0].coords[backbone], atol=1e-9)


def test_topology_decoys_keep_secondary_structure_and_stay_compact(natives):
    """The topology kind moves loop residues only: every helix and strand residue keeps its
    native phi/psi, the fold changes (lDDT near the target) and the model stays compact."""
    from estimators.decoys.geometry import backbone_dihedrals
    for native in natives:
        generator = DecoyGenerator(native, relax=False)
        model = generator.model
        phi0, psi0 = backbone_dihedrals(native)
        elements = generator.ss != "L"
        assert elements.sum() >= 10
        for target in (0.5, 0.7):
            xyz, label, info = generator.perturb(target, np.random.default_rng(5), "topology")
            assert label == "topology" and info["misfold_moves"] > 0
            moved = decoy_structure(native, model.to_native_coords(xyz))
            phi, psi = backbone_dihedrals(moved)
            for new, old in ((phi, phi0), (psi, psi0)):
                ok = elements & np.isfinite(old) & np.isfinite(new)
                change = np.abs((new[ok] - old[ok] + 180.0) % 360.0 - 180.0)
                assert change.max() < 1e-6, (native.name, target, change.max())
            assert generator._rg(xyz) <= 1.15 * generator.rg0 + 1e-9
            assert abs(info["proxy_lddt"] - target) < 0.08, (native.name, target, info)


def test_register_threading_moves_residues_onto_shifted_frames(natives):
    generator = DecoyGenerator(natives[1], relax=False)
    model = generator.model
    xyz = model.coords.copy()
    generator._thread(xyz, model.coords, 20, 30, 1, ramp=3)
    ca = model.bb["CA"]
    for r in range(20, 30):           # inside the segment: exactly on the next residue's place
        np.testing.assert_allclose(xyz[ca[r]], model.coords[ca[r + 1]], atol=1e-9)
        # N and C: up to the residue-to-residue variation of bond lengths and angles
        for name in ("N", "C"):
            np.testing.assert_allclose(xyz[model.bb[name][r]],
                                       model.coords[model.bb[name][r + 1]], atol=0.02)
    for r in (10, 16, 33, 40):        # outside segment and ramps: untouched
        atoms = slice(model.res_start[r], model.res_start[r + 1])
        np.testing.assert_array_equal(xyz[atoms], model.coords[atoms])
    # ramp residue 18: shifted by 2/4 of a residue, CA on the midpoint of CA 18 and CA 19
    np.testing.assert_allclose(xyz[ca[18]], 0.5 * (model.coords[ca[18]] + model.coords[ca[19]]),
                               atol=1e-9)


def test_reproducible_from_seed(natives):
    a = generate_decoys(natives[0], 4, seed=5, indices=[1, 3])
    b = generate_decoys(natives[0], 4, seed=5, indices=[3])
    np.testing.assert_array_equal(a[1].coords, b[0].coords)             # relaxed, same seed
    assert a[1].lddt == b[0].lddt and a[1].kind == b[0].kind
    c = generate_decoys(natives[0], 4, seed=6, indices=[3], relax=False)
    assert not np.allclose(c[0].coords, b[0].coords)
    d = generate_decoys(natives[0], 4, seed=6, indices=[3], relax=False)
    np.testing.assert_array_equal(c[0].coords, d[0].coords)


@pytest.mark.parametrize("relax_options", [{}, {"cutoff_nm": 0.8, "tolerance": 30.0}],
                         ids=["default", "corpus-fast"])
def test_relaxation_resolves_overlapping_atoms(natives, relax_options):
    generator = DecoyGenerator(natives[0], relax=True, relax_options=relax_options)
    model = generator.model
    xyz = model.coords.copy()
    # put residue 30 almost on top of residue 10: atoms overlap, energy ~ 1e12+ kJ/mol
    r10 = slice(model.res_start[10], model.res_start[11])
    r30 = slice(model.res_start[30], model.res_start[31])
    shift = xyz[model.bb["CA"][10]] - xyz[model.bb["CA"][30]] + 0.3
    xyz[r30] += shift
    assert generator._overlaps(xyz) > 0
    relaxed, info = generator.relaxer(xyz)
    assert info["energy_after"] < 1e6 and generator.relaxer.bond_deviation(relaxed) < 0.5
    assert generator._overlaps(relaxed) == 0
    del r10


def test_bad_input():
    with pytest.raises(TypeError, match="Structure"):
        DecoyGenerator("not a structure")
    with pytest.raises(ValueError, match="lddt_range"):
        generate_decoys(None, 3, lddt_range=(0.9, 0.3))


def test_bad_input_with_native(natives):
    with pytest.raises(ValueError, match="kinds"):
        generate_decoys(natives[0], 2, kinds=["gaussian"])
    with pytest.raises(ValueError, match="indices"):
        generate_decoys(natives[0], 2, indices=[2])
    with pytest.raises(ValueError, match="target"):
        DecoyGenerator(natives[0], relax=False).generate(1.2, 0)
    tiny = read_structure_subset(natives[0], 8)
    with pytest.raises(ValueError, match=">= 10"):
        DecoyGenerator(tiny)


def read_structure_subset(native, n_residues):
    import dataclasses
    keep = native.atom_res < n_residues
    return dataclasses.replace(
        native, chain_ids=native.chain_ids[:n_residues], resnums=native.resnums[:n_residues],
        icodes=native.icodes[:n_residues], resnames=native.resnames[:n_residues],
        aa_index=native.aa_index[:n_residues], coords=native.coords[keep],
        atom_names=native.atom_names[keep], atom_res=native.atom_res[keep], _cache={})


# ------------------------------------------------------------------------------------------- corpus
def test_build_corpus_files_manifest_and_independence_of_n_jobs(natives, tmp_path):
    one = build_corpus(natives, tmp_path / "a", n_per_native=2, seed=3, n_jobs=1, relax=False,
                       kinds="auto=1")
    two = build_corpus([natives[0]], tmp_path / "b", n_per_native=2, seed=3, n_jobs=2, relax=False,
                       kinds="auto=1")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["n_decoys"] == 4 and manifest["n_natives"] == 2 and not manifest["failed"]
    assert {k: v for k, v in manifest.items() if k != "created"} == \
        {k: v for k, v in json.loads(json.dumps(one)).items()
         if k not in ("created", "built", "skipped", "wall_seconds", "seconds_per_decoy")}
    assert sorted(one["built"]) == ["1a32", "2j5y"] and not one["skipped"]
    entry = read_corpus_file(tmp_path / "a" / f"{natives[0].name.split('/')[-1][:-4]}.npz")
    assert len(entry) == 2 and entry.coords.dtype == np.float32
    assert entry.coords.shape == (2, natives[0].n_atoms, 3)
    assert entry.lddt_local.shape == (2, natives[0].n_residues)
    assert entry.seed == native_seed(3, "2j5y")
    np.testing.assert_array_equal(entry.native.atom_names, natives[0].atom_names)
    # the stored labels are those of the stored (float32) coordinates, to float32 rounding
    decoy = entry.structure(1)
    assert lddt(decoy, natives[0], clash_filter=True).global_score == \
        pytest.approx(float(entry.lddt[1]), abs=2e-3)
    # a native's series does not depend on n_jobs (the series was split in two workers here)
    other = read_corpus_file(tmp_path / "b" / "2j5y.npz")
    np.testing.assert_array_equal(other.coords, entry.coords)
    np.testing.assert_array_equal(other.lddt, entry.lddt)
    assert two["natives"][0]["n_decoys"] == 2


def test_build_corpus_reports_failures(natives, tmp_path):
    bad = tmp_path / "broken.pdb"
    bad.write_text("ATOM      1  N   GLY A   1     nan nan nan\n")
    with pytest.warns(RuntimeWarning, match="broken"):
        manifest = build_corpus([bad, natives[0]], tmp_path / "c", n_per_native=1, relax=False)
    assert manifest["n_natives"] == 1 and manifest["failed"][0]["source"].endswith("broken.pdb")
    with pytest.raises(ValueError, match="broken"):
        build_corpus([bad], tmp_path / "d", n_per_native=1, relax=False, errors="raise")
    with pytest.raises(ValueError, match="same name"):
        build_corpus([natives[0], natives[0]], tmp_path / "e", n_per_native=1, relax=False)


def test_command_line(native_files, tmp_path, capsys):
    native = native_files[0]
    assert main([str(native), "--out", str(tmp_path / "cli"), "--n-per-native", "1",
                 "--no-relax", "--seed", "2", "--kinds", "auto=1"]) == 0
    assert "1 decoys of 1 natives" in capsys.readouterr().out
    entry = read_corpus_file(tmp_path / "cli" / "2j5y.npz")
    assert len(entry) == 1 and 0.3 <= entry.target_lddt[0] <= 0.95
    assert math.isfinite(float(entry.lddt[0]))
    for flag in ("--relax-cutoff-nm", "--relax-tolerance"):
        for bad in ("0", "-1", "nan"):
            with pytest.raises(SystemExit):
                main([str(native), "--out", str(tmp_path / "bad"), flag, bad])
            assert "must be a positive number" in capsys.readouterr().err


def test_command_line_relaxation_settings_are_recorded(native_files, tmp_path):
    """The relaxation options of the command line reach the Relaxer and the file's parameters (a
    rerun with other settings rebuilds the native instead of mixing settings)."""
    native = native_files[0]
    args = [str(native), "--out", str(tmp_path / "cli"), "--n-per-native", "1", "--seed", "2",
            "--kinds", "auto=1", "--relax-iterations", "40", "--relaxation", "amber"]
    assert main(args + ["--relax-cutoff-nm", "0.8", "--relax-tolerance", "30"]) == 0
    params = json.loads(str(np.load(tmp_path / "cli" / "2j5y.npz")["params"]))
    assert params["relax_options"] == {"max_iterations": 40, "cutoff_nm": 0.8, "tolerance": 30.0}
    manifest = build_corpus([native], tmp_path / "cli", n_per_native=1, seed=2, kinds="auto=1",
                            relax_options={"max_iterations": 40})
    assert manifest["built"] == ["2j5y"]


def test_non_standard_atoms_and_chain_gaps(natives):
    """Atoms outside the residue templates follow their residue rigidly; a gap splits the chain."""
    import dataclasses
    native = natives[0]
    keep = ~np.isin(native.atom_res, [30, 31, 32])               # delete residues 30-32: a gap
    residues = np.setdiff1d(np.arange(native.n_residues), [30, 31, 32])
    remap = -np.ones(native.n_residues, dtype=np.int64)
    remap[residues] = np.arange(residues.size)
    r20 = int(remap[20])
    ca20 = native.coords[(native.atom_res == 20) & (native.atom_names == "CA")][0]
    gapped = dataclasses.replace(
        native, chain_ids=native.chain_ids[residues], resnums=native.resnums[residues],
        icodes=native.icodes[residues], resnames=native.resnames[residues],
        aa_index=native.aa_index[residues],
        coords=np.vstack([native.coords[keep], ca20 + [1.0, 1.0, 1.0]]),
        atom_names=np.append(native.atom_names[keep], "XX1"),
        atom_res=np.append(remap[native.atom_res[keep]], r20), _cache={})
    assert gapped.chain_break_before().sum() == 2
    generator = DecoyGenerator(gapped, relax=True)
    decoy = generator.generate(0.7, seed=4, kind="backbone")
    assert decoy.info["relaxed"] and 0.4 < decoy.lddt < 0.95
    extra = gapped.n_atoms - 1
    frame = lambda xyz: [xyz[(gapped.atom_res == r20) & (gapped.atom_names == n)][0]  # noqa: E731
                         for n in ("N", "CA", "C")]
    before = [np.linalg.norm(gapped.coords[extra] - p) for p in frame(gapped.coords)]
    after = [np.linalg.norm(decoy.coords[extra] - p) for p in frame(decoy.coords)]
    # the residue frame is rebuilt from the relaxed N, CA, C: distances agree to ~0.05 A
    np.testing.assert_allclose(after, before, atol=0.1)
    # no bond across the gap in the all-atom model: the relaxation does not close it
    c29 = decoy.coords[(gapped.atom_res == remap[29]) & (gapped.atom_names == "C")][0]
    n33 = decoy.coords[(gapped.atom_res == remap[33]) & (gapped.atom_names == "N")][0]
    assert np.linalg.norm(c29 - n33) > 3.0
    stats = geometry_statistics(gapped, decoy.coords)
    assert stats["chain_breaks"] == 0 and stats["bond_std_c_n"] < 0.05


def test_relaxation_switches_off_broken_disulfides():
    """A decoy that pulls a disulfide apart is relaxed without being dragged back together."""
    from conftest import SHARED
    path = SHARED / "data" / "natives" / "2qsk.pdb"              # 95 residues, one disulfide
    if not path.exists():
        pytest.skip("natives not found")
    generator = DecoyGenerator(read_structure(path), relax=True)
    model, relaxer = generator.model, generator.relaxer
    assert len(relaxer._ss_pairs) >= 1
    sg1, sg2 = sorted(relaxer._ss_pairs[0])
    distance = lambda xyz: float(np.linalg.norm(xyz[sg1] - xyz[sg2]))  # noqa: E731
    assert distance(model.coords) < relaxer.disulfide_cutoff
    relaxed, info = relaxer(model.coords)
    assert info["disulfides_off"] == 0 and distance(relaxed) < 2.3
    # translate everything after the first cysteine's residue by 6 A: the disulfide is broken
    xyz = model.coords.copy()
    xyz[model.res_start[model.atom_res[sg1] + 1]:] += [6.0, 0.0, 0.0]
    relaxed, info = relaxer(xyz)
    assert info["disulfides_off"] >= 1 and distance(relaxed) > 4.0
    assert relaxer.bond_deviation(relaxed) < 0.5
    # and switched on again for the next decoy
    relaxed, info = relaxer(model.coords)
    assert info["disulfides_off"] == 0 and distance(relaxed) < 2.3


# ------------------------------------------------------------------ mixtures of kinds, shards, resume
def test_parse_and_assign_kinds():
    from estimators.decoys import assign_kinds, parse_kinds
    mixture = parse_kinds("backbone=2, misfold=1,auto=1")
    assert mixture == {"backbone": 0.5, "misfold": 0.25, "auto": 0.25}
    for bad, message in (("backbone", "kind=weight"), ("gaussian=1", "unknown kind"),
                         ("backbone=x", "not a number"), ("backbone=-1", ">= 0"),
                         ("backbone=0", "no positive")):
        with pytest.raises(ValueError, match=message):
            parse_kinds(bad)
    for n in (1, 7, 20):
        kinds = assign_kinds(n, mixture, seed=n)
        counts = {k: kinds.count(k) for k in mixture}
        assert sum(counts.values()) == n
        for k, w in mixture.items():                       # systematic sampling: off by < 1
            assert abs(counts[k] - n * w) < 1.0 + 1e-9, (n, counts)
    assert assign_kinds(20, mixture, 3) == assign_kinds(20, mixture, 3)
    assert assign_kinds(20, mixture, 3) != assign_kinds(20, mixture, 4)


def test_generate_series_is_reproducible_by_index(natives):
    from estimators.decoys import generate_series
    kinds = "backbone=1,sidechain=1"
    a = generate_series(natives[0], 4, seed=2, kinds=kinds, relax=False)
    b = generate_series(natives[0], 4, seed=2, kinds=kinds, relax=False, indices=[2])
    assert sorted(d.kind.split("+")[0] for d in a) == ["backbone", "backbone", "sidechain", "sidechain"]
    np.testing.assert_array_equal(a[2].coords, b[0].coords)
    assert a[2].kind == b[0].kind and a[2].info["index"] == 2


def test_corpus_shards_resume_and_manifest_rebuild(natives, tmp_path):
    import os
    from estimators.decoys.corpus import parse_shard, rebuild_manifest
    out = tmp_path / "sharded"
    options = dict(n_per_native=2, seed=1, relax=False, kinds="backbone=1,sidechain=1")
    first = build_corpus(natives, out, shard="1/2", **options)
    assert first["built"] == ["1a32"] and first["n_natives"] == 1          # sorted by name
    second = build_corpus(natives, out, shard=(2, 2), **options)
    assert second["built"] == ["2j5y"] and second["n_natives"] == 2 and second["n_decoys"] == 4
    # the shards give the files of an unsharded build
    whole = build_corpus(natives, tmp_path / "whole", **options)
    for name in ("1a32", "2j5y"):
        a, b = read_corpus_file(out / f"{name}.npz"), read_corpus_file(tmp_path / "whole" /
                                                                         f"{name}.npz")
        np.testing.assert_array_equal(a.coords, b.coords)
        np.testing.assert_array_equal(a.kind, b.kind)
    assert whole["n_decoys"] == 4
    # rerun: complete files are skipped, a truncated one and one with other parameters rebuilt
    mtime = os.stat(out / "2j5y.npz").st_mtime_ns
    (out / "1a32.npz").write_bytes((out / "1a32.npz").read_bytes()[:100])
    again = build_corpus(natives, out, **options)
    assert again["skipped"] == ["2j5y"] and again["built"] == ["1a32"]
    assert os.stat(out / "2j5y.npz").st_mtime_ns == mtime
    other = build_corpus(natives, out, **dict(options, seed=2), shard="2/2")
    assert other["built"] == ["2j5y"]
    # the manifest is rebuilt from the files (also from the command line)
    (out / "manifest.json").unlink()
    assert main(["--manifest-only", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["n_decoys"] == 4
    manifest = rebuild_manifest(out)
    assert manifest["n_decoys"] == 4 and manifest["n_natives"] == 2
    assert json.loads((out / "manifest.json").read_text())["n_decoys"] == 4
    assert len(manifest["parameters"]) == 2                                 # seeds 1 and 2
    assert not list(out.glob(".*tmp*"))
    for bad in ("0/2", "3/2", "1-2", "x"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_corpus_entry_sample_gives_structure_and_labels(natives, tmp_path):
    build_corpus([natives[0]], tmp_path, n_per_native=1, relax=False, kinds="backbone=1")
    entry = read_corpus_file(tmp_path / "2j5y.npz")
    structure, labels, score, kind = entry.sample(0)
    assert structure.n_residues == labels.shape[0] == natives[0].n_residues
    assert kind.startswith("backbone") and score == pytest.approx(float(entry.lddt[0]))
    np.testing.assert_allclose(labels, entry.lddt_local[0])



def test_shifted_decoys_move_elements_rigidly_and_blend_the_loops(natives):
    """The shifted kind: every secondary-structure element moves as a rigid body, a loop
    residue between two elements goes to the blend of their moves, magnitude 0 moves nothing,
    and the magnitude found by bisection hits the target lDDT."""
    from scipy.spatial.distance import pdist
    native = natives[1]
    generator = DecoyGenerator(native, relax=False)
    model = generator.model
    plan = generator._plan("shifted", np.random.default_rng(3))
    moves, follow, weights = plan
    elements = generator._elements()
    assert len(moves) == len(elements) >= 2
    np.testing.assert_allclose(generator._apply("shifted", plan, 0.0, model.coords),
                               model.coords, atol=1e-12)
    xyz = generator._apply("shifted", plan, 1.5, model.coords)
    for start, stop in elements:
        atoms = slice(model.res_start[start], model.res_start[stop])
        np.testing.assert_allclose(pdist(xyz[atoms]), pdist(model.coords[atoms]), atol=1e-9)
        assert not np.allclose(xyz[atoms], model.coords[atoms], atol=0.1)
    (s0, e0), (s1, e1) = elements[0], elements[1]
    if s1 - e0 >= 1:                                # a loop residue between the first two
        r = e0 + (s1 - e0) // 2
        assert tuple(follow[r]) == (0, 1) and 0 < weights[r, 1] < 1
        atoms = slice(model.res_start[r], model.res_start[r + 1])
        moved = [generator._apply("shifted", (moves, np.array([[k, k]] * len(follow)),
                                              np.array([[1.0, 0.0]] * len(follow))),
                                  1.5, model.coords)[atoms] for k in (0, 1)]
        np.testing.assert_allclose(xyz[atoms], weights[r, 0] * moved[0] + weights[r, 1] * moved[1])
    for target in (0.6, 0.8):
        out, label, info = generator.perturb(target, np.random.default_rng(7), "shifted")
        assert label.startswith("shifted")
        assert abs(info["proxy_lddt"] - target) < 0.08, (target, info)
    # the relaxation resolves the clashes the element moves make
    relaxing = DecoyGenerator(native, relax_options=dict(cutoff_nm=0.8, tolerance=30.0))
    decoy = relaxing.generate(0.8, 11, "shifted")
    assert decoy.kind == "shifted" and decoy.info["relaxed"]
    assert decoy.info["clashes"] > 20 and decoy.info["clashes_relaxed"] <= 2, decoy.info
    assert 0.7 < decoy.lddt < 0.92


# ------------------------------------------------------------------------- all-atom model cache
def _model_signature(model):
    atoms = [(a.index, a.name, a.element.symbol if a.element else None, a.residue.index,
              a.residue.name, a.residue.id, a.residue.chain.id) for a in model.topology.atoms()]
    bonds = [(b[0].index, b[1].index, b.type, b.order) for b in model.topology.bonds()]
    return atoms, bonds                                                       # in order


def test_allatom_cache_gives_the_same_model_and_decoys(natives, tmp_path, monkeypatch):
    """A model read from the cache equals the one PDBFixer computes: atoms, bonds (disulfides
    included), coordinates bitwise, force-field energy, and so every decoy built on it."""
    from estimators.decoys import allatom
    from estimators.decoys.allatom import AllAtomModel

    from conftest import SHARED
    native = read_structure(SHARED / "data" / "natives" / "2qsk.pdb")     # one disulfide
    fresh = AllAtomModel(native)
    cold = AllAtomModel(native, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("2qsk")

    def no_pdbfixer(text):
        raise AssertionError("PDBFixer ran although the model is cached")
    monkeypatch.setattr(allatom, "_run_pdbfixer", no_pdbfixer)
    warm = AllAtomModel(native, cache_dir=tmp_path)
    for model in (cold, warm):
        assert _model_signature(model) == _model_signature(fresh)
        np.testing.assert_array_equal(model.coords, fresh.coords)
        np.testing.assert_array_equal(model.heavy, fresh.heavy)
    ss = [b for b in warm.topology.bonds() if b[0].name == "SG" and b[1].name == "SG"]
    assert len(ss) >= 1
    from estimators.decoys import Relaxer
    assert Relaxer(warm).energy(warm.coords) == pytest.approx(Relaxer(fresh).energy(fresh.coords),
                                                              rel=1e-12)
    # the decoys of a generator on the cached model are those without the cache
    monkeypatch.undo()
    a = DecoyGenerator(natives[0], relax=True).generate(0.7, 3, "backbone")
    DecoyGenerator(natives[0], relax=False, cache_dir=tmp_path)              # fills the cache
    monkeypatch.setattr(allatom, "_run_pdbfixer", no_pdbfixer)
    b = DecoyGenerator(natives[0], relax=True, cache_dir=tmp_path).generate(0.7, 3, "backbone")
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.lddt == b.lddt


def test_allatom_cache_recomputes_a_damaged_file_and_keys_on_the_input(natives, tmp_path):
    from estimators.decoys.allatom import AllAtomModel, _cache_key

    model = AllAtomModel(natives[0], cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not an npz file")
    again = AllAtomModel(natives[0], cache_dir=tmp_path)                     # no error: rebuilt
    np.testing.assert_array_equal(again.coords, model.coords)
    with np.load(path) as data:
        assert len(str(data["key"])) == 64 and data["coords"].shape == (model.n_atoms, 3)
    assert _cache_key("ATOM 1\n") != _cache_key("ATOM 2\n")
    # another native gets its own file
    AllAtomModel(natives[1], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    # a cache that cannot be written: a warning, and the model as without it
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    with pytest.warns(RuntimeWarning, match="not cached"):
        model2 = AllAtomModel(natives[0], cache_dir=blocked / "sub")
    np.testing.assert_array_equal(model2.coords, model.coords)


def test_command_line_uses_and_can_skip_the_cache(native_files, tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER6D_CACHE", str(tmp_path / "cache"))
    assert main([str(native_files[0]), "--out", str(tmp_path / "a"), "--n-per-native", "1",
                 "--no-relax", "--kinds", "backbone=1"]) == 0
    assert len(list((tmp_path / "cache" / "allatom").glob("*.npz"))) == 1
    assert main([str(native_files[1]), "--out", str(tmp_path / "b"), "--n-per-native", "1",
                 "--no-relax", "--kinds", "backbone=1", "--no-cache"]) == 0
    assert len(list((tmp_path / "cache" / "allatom").glob("*.npz"))) == 1


def test_loop_decoys_move_loops_and_termini_only(natives):
    """The loops kind: atoms outside the remodelled loops and termini (and the pivot atoms C, O
    and N, H next to a loop) stay exactly where they are in the native, bond lengths are kept,
    magnitude 0 moves nothing, an N-terminal torsion change leaves the rest of the chain in
    place, and the perturbation never falls back to a misfold walk."""
    from estimators.decoys.geometry import backbone_dihedrals
    native = natives[1]
    generator = DecoyGenerator(native, relax=False)
    model = generator.model
    bonds = np.array([[b[0].index, b[1].index] for b in model.topology.bonds()])
    length = lambda xyz: np.linalg.norm(xyz[bonds[:, 0]] - xyz[bonds[:, 1]], axis=1)  # noqa: E731
    for seed in range(4):
        plan = generator._plan("loops", np.random.default_rng(seed))
        assert plan and {move[0] for move in plan} <= {"crank", "n-term", "c-term"}
        np.testing.assert_allclose(generator._apply("loops", plan, 0.0, model.coords),
                                   model.coords, atol=1e-12)
        xyz = generator._apply("loops", plan, 45.0, model.coords)
        np.testing.assert_allclose(length(xyz), length(model.coords), atol=1e-9)
        allowed = np.zeros(model.n_atoms, dtype=bool)
        for kind, a, b, _, _ in plan:
            if kind == "crank":
                allowed[model.res_start[a + 1]:model.res_start[b]] = True
                for r, names in ((a, ("C", "O")), (b, ("N", "H"))):
                    atoms = np.arange(model.res_start[r], model.res_start[r + 1])
                    allowed[atoms[np.isin(model.atom_names[atoms], names)]] = True
                assert (generator.ss[a + 1:b] == "L").all()
            else:
                assert generator.ss[a] == "L"
                side = (np.arange(model.n_atoms) < model.res_start[a + 1] if kind == "n-term"
                        else np.arange(model.n_atoms) >= model.res_start[a])
                allowed |= side & (model.atom_chain == model.atom_chain[model.res_start[a]])
        moved = np.linalg.norm(xyz - model.coords, axis=1) > 1e-9
        assert moved.any() and not (moved & ~allowed).any(), seed
    # an N-terminal phi change: the dihedral changes by the angle, residues after it stay
    r = 1
    xyz = model.coords.copy()
    model.rotate_torsion(xyz, r, "phi", 30.0, n_side=True)
    phi0, _ = backbone_dihedrals(native)
    phi, _ = backbone_dihedrals(decoy_structure(native, model.to_native_coords(xyz)))
    assert abs((phi[r] - phi0[r] - 30.0 + 180.0) % 360.0 - 180.0) < 1e-6
    np.testing.assert_allclose(xyz[model.res_start[r + 1]:], model.coords[model.res_start[r + 1]:],
                               atol=1e-12)
    assert np.linalg.norm(xyz[:model.res_start[r]] - model.coords[:model.res_start[r]]) > 0.5
    out, label, info = generator.perturb(0.3, np.random.default_rng(7), "loops")
    assert label == "loops" and "misfold_moves" not in info and info["magnitude"] == 60.0
