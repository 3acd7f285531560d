"""Tests of the heavy-atom relaxation (estimators.decoys.relax_heavy) and the choice of relaxation.

On a small native (2j5y, 53 residues): overlapping residues are pulled apart with covalent
geometry kept, a native is left nearly where it is, inactive atoms neither move nor act, atoms at
the same place are separated, results are reproducible, switched-off disulfides are switched on
again, and the corpus command records the method.
"""
import json

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("pdbfixer")

from estimators.decoys import (DecoyGenerator, HeavyAtomRelaxer, Relaxer,  # noqa: E402
                               generate_decoys, make_relaxer)
from estimators.decoys.corpus import main  # noqa: E402
from estimators.decoys.geometry import count_clashes  # noqa: E402
from estimators.structures import read_structure  # noqa: E402


@pytest.fixture(scope="module")
def native_file():
    from conftest import SHARED
    path = SHARED / "data" / "natives" / "2j5y.pdb"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def generator(native_file):
    return DecoyGenerator(read_structure(native_file), relax_options={"method": "heavy"})


def _heavy_pairs_below(model, xyz, distance, atoms=None):
    atoms = model.heavy if atoms is None else atoms
    return count_clashes(xyz[atoms], model.atom_res[atoms], model.atom_names[atoms],
                         distance=distance)


def _overlapping(model):
    """The native with residue 30 moved onto residue 10 (dozens of atoms closer than 1 A)."""
    xyz = model.coords.copy()
    r30 = slice(model.res_start[30], model.res_start[31])
    xyz[r30] += xyz[model.bb["CA"][10]] - xyz[model.bb["CA"][30]] + 0.3
    return xyz


def test_method_is_chosen_by_name(generator):
    assert isinstance(generator.relaxer, HeavyAtomRelaxer)
    assert isinstance(make_relaxer(generator.model), Relaxer)
    with pytest.raises(ValueError, match="relaxation method"):
        make_relaxer(generator.model, method="rosetta")


def test_overlaps_are_removed_and_bonds_kept(generator):
    model = generator.model
    xyz = _overlapping(model)
    assert _heavy_pairs_below(model, xyz, 2.5) > 20
    relaxed, info = generator.relaxer(xyz)
    assert np.all(np.isfinite(relaxed)) and not info["soft_stage"]
    assert _heavy_pairs_below(model, relaxed, 2.2) == 0
    assert generator.relaxer.bond_deviation(relaxed[model.heavy]) < 0.15
    # hydrogens travel with their heavy atom: every X-H bond keeps its length
    bonds = np.array([(b[0].index, b[1].index) for b in model.topology.bonds()])
    with_h = ~(model.is_heavy[bonds[:, 0]] & model.is_heavy[bonds[:, 1]])
    length = lambda x: np.linalg.norm(x[bonds[with_h, 0]] - x[bonds[with_h, 1]], axis=1)
    np.testing.assert_allclose(length(relaxed), length(model.coords), atol=0.2)


def _moved(model, xyz):
    return np.sqrt(((xyz[model.heavy] - model.coords[model.heavy]) ** 2).sum(1).mean())


def test_native_barely_moves(generator):
    """Relaxing the native moves its heavy atoms by less than the Amber relaxation does
    (0.16 against 0.25-0.32 A RMSD)."""
    model = generator.model
    relaxed, _ = generator.relaxer(model.coords)
    amber, _ = Relaxer(model, cutoff_nm=0.8, tolerance=30.0)(model.coords)
    assert _moved(model, relaxed) < min(0.2, _moved(model, amber))


def test_reproducible(generator):
    xyz = _overlapping(generator.model)
    a, _ = generator.relaxer(xyz)
    b, _ = HeavyAtomRelaxer(generator.model)(xyz)
    np.testing.assert_array_equal(a, b)


def test_inactive_atoms_stay_and_do_not_act(generator):
    """Atoms marked inactive keep their positions and exert no force: the active atoms relax the
    same whether the inactive ones overlap them or sit far away."""
    model = generator.model
    relaxer = HeavyAtomRelaxer(model)
    inactive = np.isin(model.atom_res, np.arange(25, 35))
    xyz = model.coords.copy()
    xyz[inactive] = xyz[model.bb["CA"][5]] + np.random.default_rng(1).normal(
        scale=0.5, size=(int(inactive.sum()), 3))                # on top of residue 5
    far = xyz.copy()
    far[inactive] += 500.0
    near_out, _ = relaxer(xyz, inactive=inactive)
    np.testing.assert_array_equal(near_out[inactive], xyz[inactive])
    far_out, _ = relaxer(far, inactive=inactive)
    np.testing.assert_allclose(near_out[~inactive], far_out[~inactive], atol=1e-4)
    # and switched on again for the next decoy
    whole, _ = relaxer(model.coords)
    np.testing.assert_array_equal(whole, generator.relaxer(model.coords)[0])


def test_atoms_at_the_same_place_are_separated(generator):
    model = generator.model
    xyz = model.coords.copy()
    a, b = model.bb["CA"][10], model.bb["CA"][40]
    xyz[model.res_start[40]:model.res_start[41]] += xyz[a] - xyz[b]      # exactly on residue 10
    relaxed, _ = generator.relaxer(xyz)
    assert np.linalg.norm(relaxed[a] - relaxed[b]) > 2.0


def test_broken_disulfide_is_switched_off(native_file):
    """A disulfide pulled apart loses its bonded terms for that decoy (the relaxation does not
    drag the two cysteines back together), and has them again for the next."""
    from conftest import SHARED
    path = SHARED / "data" / "natives" / "2qsk.pdb"           # 95 residues, 5 disulfides
    if not path.exists():
        pytest.skip(f"{path} not found")
    gen = DecoyGenerator(read_structure(path), relax_options={"method": "heavy"})
    assert len(gen.relaxer._ss_pairs) == 5
    relaxer, model = gen.relaxer, gen.model
    i, j = model.heavy[relaxer._ss_pairs[0]]
    xyz = model.coords.copy()
    res_j = model.atom_res[j]
    xyz[model.res_start[res_j]:model.res_start[res_j + 1]] += (xyz[j] - xyz[i]) / np.linalg.norm(
        xyz[j] - xyz[i]) * 4.0                                   # SG-SG 2.0 -> ~6 A
    relaxed, info = relaxer(xyz)
    assert info["disulfides_off"] >= 1
    assert np.linalg.norm(relaxed[i] - relaxed[j]) > 3.5            # bonded: 2.0 A
    _, info = relaxer(model.coords)
    assert info["disulfides_off"] == 0


def test_bad_input(generator):
    n = generator.model.n_atoms
    with pytest.raises(ValueError, match="finite coordinates"):
        generator.relaxer(np.zeros((n - 1, 3)))
    bad = generator.model.coords.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite coordinates"):
        generator.relaxer(bad)
    with pytest.raises(ValueError, match="inactive"):
        generator.relaxer(generator.model.coords, inactive=np.zeros(n - 1, dtype=bool))


def test_decoys_with_heavy_relaxation(native_file):
    """Decoys of every kind relaxed on heavy atoms: labels close to the targets, no overlaps."""
    native = read_structure(native_file)
    decoys = generate_decoys(native, 3, seed=11, kinds=("backbone", "hinge", "misfold"),
                             relax_options={"method": "heavy"})
    for decoy in decoys:
        assert decoy.info["relaxed"] and 0.2 < decoy.lddt < 1.0
        assert abs(decoy.lddt - decoy.target_lddt) < 0.1
        assert decoy.info["clashes_relaxed"] <= 2


def test_command_line_records_the_method(native_file, tmp_path, capsys):
    """The command relaxes on heavy atoms unless told --relaxation amber; the file records the
    method (Amber files without one, as before it existed); building a folder again with the
    other method rebuilds its natives and says so."""
    args = [str(native_file), "--out", str(tmp_path / "cli"), "--n-per-native", "1", "--seed", "2",
            "--kinds", "auto=1", "--relax-iterations", "40"]
    assert main(args) == 0
    params = lambda: json.loads(str(np.load(tmp_path / "cli" / "2j5y.npz")["params"]))
    assert params()["relax_options"] == {"max_iterations": 40, "method": "heavy"}
    with pytest.warns(RuntimeWarning, match="built with the heavy relaxation"):
        assert main(args + ["--relaxation", "amber"]) == 0
    assert params()["relax_options"] == {"max_iterations": 40}
    capsys.readouterr()
    assert main(args + ["--relaxation", "amber"]) == 0              # resumes: nothing to build
    assert "1 natives already done" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(args + ["--relax-cutoff-nm", "0.8"])
    assert "--relax-cutoff-nm is a setting of --relaxation amber" in capsys.readouterr().err
