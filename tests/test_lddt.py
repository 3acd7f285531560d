"""Tests of estimators.lddt: against OpenStructure's ``lddt`` executable (the
reference used by CASP), hand-computed cases and properties."""
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from estimators.lddt import lddt, lddt_from_arrays, needleman_wunsch, SYMMETRIC_ATOMS

OST_LDDT = shutil.which("lddt")
COMPLIB = Path("/var/cache/openstructure/compounds.chemlib")


# ---------------------------------------------------------------- PDB text helpers
# (independent of estimators.structures: plain fixed-column PDB handling)
def _is_hydrogen(line):
    name = line[12:16].strip()
    element = line[76:78].strip() if len(line) > 76 else ""
    if element:
        return element == "H"
    return name.startswith("H") or (name[:1].isdigit() and name[1:2] == "H")


def _read_atoms(path):
    atoms = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("ATOM"):
            atoms.append({"line": line.ljust(80), "name": line[12:16].strip(),
                          "resname": line[17:20], "resnum": int(line[22:26]),
                          "xyz": np.array([float(line[30 + 8 * k:38 + 8 * k]) for k in range(3)]),
                          "h": _is_hydrogen(line)})
    return atoms


def _write_atoms(path, atoms):
    lines = []
    for a in atoms:
        line = a["line"]
        name = a["name"]
        field = f" {name:<3s}" if len(name) < 4 else name
        x, y, z = a["xyz"]
        lines.append(line[:12] + field + line[16:30] + f"{x:8.3f}{y:8.3f}{z:8.3f}" + line[54:])
    Path(path).write_text("\n".join(lines) + "\nEND\n")


def _drop_hydrogens(atoms, keep_allowed=False):
    """Drop hydrogens; with keep_allowed, keep those OpenStructure's compound
    library accepts in these files (its library rejects the Rosetta/PDBv2
    names of GLY, ASP and GLU hydrogens and of N-terminal ones, and then
    ignores the whole residue, which is a naming issue, not lDDT)."""
    first = min(a["resnum"] for a in atoms)
    return [a for a in atoms if not a["h"] or
            (keep_allowed and a["resname"] not in ("GLY", "ASP", "GLU") and a["resnum"] != first)]


def _perturb(atoms, rng, kind):
    atoms = [dict(a, xyz=a["xyz"].copy()) for a in atoms]
    resnums = sorted({a["resnum"] for a in atoms})
    if kind in ("noise_small", "noise_large", "noise_huge"):
        sigma = {"noise_small": 0.4, "noise_large": 1.2, "noise_huge": 3.0}[kind]
        for a in atoms:
            a["xyz"] += rng.normal(0.0, sigma, 3)
    elif kind == "segment":
        start = int(rng.integers(0, len(resnums) - 15))
        seg = set(resnums[start:start + int(rng.integers(6, 15))])
        pivot = next(a["xyz"] for a in atoms if a["resnum"] in seg and a["name"] == "CA").copy()
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = np.deg2rad(rng.uniform(15, 40))
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
        for a in atoms:
            if a["resnum"] in seg:
                a["xyz"] = pivot + rot @ (a["xyz"] - pivot)
            a["xyz"] += rng.normal(0.0, 0.15, 3)
    elif kind == "swap":
        swap_of = {}
        for resname, pairs in SYMMETRIC_ATOMS.items():
            for p, q in pairs:
                swap_of[(resname, p)], swap_of[(resname, q)] = q, p
        chosen = {r for r in resnums if rng.random() < 0.6}
        for a in atoms:
            a["xyz"] += rng.normal(0.0, 0.3, 3)
            if a["resnum"] in chosen and (a["resname"], a["name"]) in swap_of:
                a["name"] = swap_of[(a["resname"], a["name"])]
    elif kind == "missing":
        gone = set(rng.choice(resnums[1:-1], size=3, replace=False).tolist())
        backbone = {"N", "CA", "C", "O"}
        kept = []
        for a in atoms:
            if a["resnum"] in gone or (a["name"] not in backbone and rng.random() < 0.08):
                continue
            a["xyz"] += rng.normal(0.0, 0.7, 3)
            kept.append(a)
        atoms = kept
    else:
        raise AssertionError(kind)
    return atoms


def _run_ost(model_path, ref_path):
    out = subprocess.run([OST_LDDT, "-l", str(COMPLIB), str(model_path), str(ref_path)],
                         capture_output=True, text=True, check=True)
    assert "unknown atom" not in out.stderr, out.stderr[:500]
    table = {}
    conserved = checked = None
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 6 and parts[3] == "Yes":
            cons, tot = (int(v) for v in parts[5].strip("()").split("/"))
            table[int(parts[2])] = (float(parts[4]), cons, tot)
        if "conserved distances out of" in line:
            words = line.strip("()").split()
            conserved, checked = int(words[0]), int(words[5])
    return table, conserved, checked


def _clean_natives(shared_dir):
    """Single-chain natives whose heavy atoms all carry standard names."""
    natives = []
    for path in sorted((shared_dir / "data" / "natives").glob("*.pdb")):
        text = path.read_text()
        if " S   MET" in text or "HETATM" in text:
            continue
        natives.append(path)
    return natives


VARIANTS = [  # (perturbation, hydrogens in model, hydrogens in reference)
    ("noise_small", False, False),
    ("noise_large", True, False),
    ("segment", False, True),
    ("swap", False, False),
    ("missing", True, True),
    ("noise_huge", False, False),
]


@pytest.mark.skipif(OST_LDDT is None or not COMPLIB.exists(),
                    reason="OpenStructure `lddt` binary or its compound library is absent")
def test_matches_openstructure(shared_dir, tmp_path):
    rng = np.random.default_rng(2024)
    natives = _clean_natives(shared_dir)
    chosen = [natives[i] for i in rng.choice(len(natives), size=4, replace=False)]
    max_diff = 0.0
    n_pairs = n_residues = 0
    t_ours = t_ost = 0.0
    n_swapped = 0
    for native in chosen:
        atoms = _read_atoms(native)
        for kind, h_model, h_ref in VARIANTS:
            tag = f"{native.stem}_{kind}"
            ref_path, model_path = tmp_path / f"{tag}_ref.pdb", tmp_path / f"{tag}_model.pdb"
            _write_atoms(ref_path, _drop_hydrogens(atoms, keep_allowed=h_ref))
            _write_atoms(model_path, _drop_hydrogens(_perturb(atoms, rng, kind), keep_allowed=h_model))
            t0 = time.perf_counter()
            table, conserved, checked = _run_ost(model_path, ref_path)
            t1 = time.perf_counter()
            ours = lddt(model_path, ref_path)
            t2 = time.perf_counter()
            t_ost += t1 - t0
            t_ours += t2 - t1
            from estimators.structures import read_structure
            model = read_structure(model_path)
            assert set(table) == set(model.resnums[ours.per_residue_checked > 0].tolist()), tag
            # counts differ only through pairs within 1e-4 A of a threshold
            # (OpenStructure works in single precision)
            low = lddt(model, ref_path, thresholds=np.array([0.5, 1, 2, 4]) - 1e-4)
            high = lddt(model, ref_path, thresholds=np.array([0.5, 1, 2, 4]) + 1e-4)
            for i, num in enumerate(model.resnums):
                if num in table:
                    score, cons, tot = table[num]
                    diff = abs(ours.per_residue[i] - score)
                    max_diff = max(max_diff, diff)
                    assert diff < 1e-3, (tag, num, ours.per_residue[i], score)
                    assert ours.per_residue_checked[i] == tot, (tag, num)
                    assert low.per_residue_conserved[i] <= cons <= high.per_residue_conserved[i]
            assert ours.n_checked == checked, tag
            assert abs(ours.global_score - conserved / checked) < 1e-4, tag
            n_swapped += int(ours.swapped.sum())
            n_pairs += 1
            n_residues += len(table)
    assert n_pairs >= 20
    assert n_swapped > 0  # the swap variants exercised the renaming
    print(f"\n{n_pairs} pairs, {n_residues} residues: max |ours - OpenStructure| = {max_diff:.2e}; "
          f"time per pair ours {1e3 * t_ours / n_pairs:.1f} ms, OpenStructure {1e3 * t_ost / n_pairs:.1f} ms")


# ---------------------------------------------------------------- small cases
def _toy(resnames, resnums, coords, atom_names, atom_res, chains=None):
    n = len(resnames)
    return SimpleNamespace(name="toy", chain_ids=np.array(chains or ["A"] * n),
                           resnums=np.array(resnums), icodes=np.array([""] * n),
                           resnames=np.array(resnames), coords=np.array(coords, dtype=float),
                           atom_names=np.array(atom_names), atom_res=np.array(atom_res))


def test_hand_computed_three_atoms():
    # reference: atoms at x = 0, 3.8, 7.6 (+ one 30 A away: no pairs)
    ref = _toy(["ALA"] * 4, [1, 2, 3, 4], [[0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [40, 0, 0]],
               ["CA"] * 4, [0, 1, 2, 3])
    # model: middle atom moved by 0.6 A along x; residue 4 moved next to the others
    mdl = _toy(["ALA"] * 4, [1, 2, 3, 4], [[0, 0, 0], [4.4, 0, 0], [7.6, 0, 0], [9, 0, 0]],
               ["CA"] * 4, [0, 1, 2, 3])
    res = lddt(mdl, ref)
    # pairs: (1,2) |4.4-3.8| = 0.6 -> passes 1, 2, 4 A (3 of 4); (1,3) exact (4 of 4);
    # (2,3) |3.2-3.8| = 0.6 -> 3 of 4
    np.testing.assert_allclose(res.per_residue[:3], [7 / 8, 6 / 8, 7 / 8])
    assert np.isnan(res.per_residue[3])
    assert res.n_checked == 12 and res.n_conserved == 10
    assert res.global_score == pytest.approx(10 / 12)


def test_threshold_boundaries_inclusive_and_missing_atom():
    ref = _toy(["ALA", "ALA", "ALA"], [1, 2, 3], [[0, 0, 0], [2, 0, 0], [0, 3, 0]], ["CA", "CA", "CA"],
               [0, 1, 2])
    # pair (1,2) model distance 2.5: |diff| = 0.5 -> all 4 thresholds (inclusive); residue 3 absent
    mdl = _toy(["ALA", "ALA"], [1, 2], [[0, 0, 0], [2.5, 0, 0]], ["CA", "CA"], [0, 1])
    res = lddt(mdl, ref)
    # residue 1: pairs (1,2) 4/4, (1,3) 0/4 -> 0.5 ; residue 2: (1,2) 4/4, (2,3) 0/4 -> 0.5
    np.testing.assert_allclose(res.per_residue, [0.5, 0.5])
    assert res.n_checked == 12 and res.n_conserved == 4
    assert res.coverage == pytest.approx(2 / 3)


def test_intra_residue_and_same_number_pairs_not_scored():
    # two atoms in residue 1 and one in residue 1 with insertion code B: no scored pair
    ref = _toy(["ALA", "ALA"], [1, 1], [[0, 0, 0], [1.5, 0, 0], [3, 0, 0]], ["CA", "CB", "CA"], [0, 0, 1])
    ref.icodes = np.array(["", "B"])
    res = lddt(ref, ref)
    assert res.n_checked == 0 and np.all(np.isnan(res.per_residue))


def test_symmetric_swap_is_undone():
    # ASP 1 with OD1/OD2 at distinct places, a partner residue 2 nearby
    ref_xyz = [[0, 0, 0], [1.2, 0.8, 0], [1.2, -0.8, 0], [4, 3, 0], [4, -1, 1]]
    names = ["CG", "OD1", "OD2", "CA", "CB"]
    ref = _toy(["ASP", "ALA"], [1, 2], ref_xyz, names, [0, 0, 0, 1, 1])
    swapped_names = ["CG", "OD2", "OD1", "CA", "CB"]
    mdl = _toy(["ASP", "ALA"], [1, 2], ref_xyz, swapped_names, [0, 0, 0, 1, 1])
    res = lddt(mdl, ref)
    assert res.swapped.tolist() == [True, False]
    assert res.global_score == 1.0
    np.testing.assert_allclose(res.per_residue, [1.0, 1.0])
    # without the symmetry rule (residue renamed to ASN, same atom names) the swap costs
    mdl_asn = _toy(["ASN", "ALA"], [1, 2], ref_xyz, swapped_names, [0, 0, 0, 1, 1])
    ref_asn = _toy(["ASN", "ALA"], [1, 2], ref_xyz, names, [0, 0, 0, 1, 1])
    assert lddt(mdl_asn, ref_asn).global_score < 1.0


def test_identical_native_is_one_and_checked_depends_on_reference_only(shared_dir, rng):
    native = sorted((shared_dir / "data" / "natives").glob("*.pdb"))[3]
    from estimators.structures import read_structure
    ref = read_structure(native)
    res = lddt(ref, ref)
    assert res.global_score == 1.0
    assert np.all(res.per_residue[res.per_residue_checked > 0] == 1.0)
    noisy = SimpleNamespace(**{k: getattr(ref, k) for k in
                               ("name", "chain_ids", "resnums", "icodes", "resnames",
                                "atom_names", "atom_res")})
    noisy.coords = ref.coords + rng.normal(0, 5.0, ref.coords.shape)
    res_noisy = lddt(noisy, ref)
    assert res_noisy.n_checked == res.n_checked
    assert 0.0 <= res_noisy.global_score < 0.6
    # reference distances only: swapping model and reference changes the pair set
    assert lddt(ref, noisy).n_checked != res.n_checked


def test_reference_pairs_follow_the_reference(shared_dir, rng):
    """The reference's pairs are kept between calls, keyed by its contents: a reference changed in
    place, or another reference, is scored with its own pairs (as a freshly read copy is)."""
    from estimators.structures import read_structure
    path = sorted((shared_dir / "data" / "natives").glob("*.pdb"))[3]
    ref = read_structure(path)
    model = SimpleNamespace(**{k: getattr(ref, k) for k in
                               ("name", "chain_ids", "resnums", "icodes", "resnames",
                                "atom_names", "atom_res")})
    model.coords = ref.coords + rng.normal(0, 1.0, ref.coords.shape)
    first = lddt(model, ref)
    again = lddt(model, ref)
    assert again.global_score == first.global_score
    np.testing.assert_array_equal(again.per_residue, first.per_residue)
    ref.coords[:] = ref.coords * 1.1                   # in place: the same arrays, new contents
    changed = lddt(model, ref)
    fresh = read_structure(path)
    fresh.coords[:] = fresh.coords * 1.1
    expected = lddt(model, fresh)
    assert changed.n_checked == expected.n_checked != first.n_checked
    assert changed.global_score == expected.global_score != first.global_score


def test_sequence_alignment_matches_numbering(shared_dir, rng):
    from estimators.structures import read_structure
    native = sorted((shared_dir / "data" / "natives").glob("*.pdb"))[7]
    ref = read_structure(native)
    coords = ref.coords + rng.normal(0, 0.8, ref.coords.shape)
    # model: 10 residues deleted where the gap cannot slide (else its place is
    # ambiguous for any sequence alignment), renumbered from 101
    names = ref.resnames
    start = next(k for k in range(10, ref.n_residues - 12)
                 if names[k - 1] != names[k + 9] and names[k] != names[k + 10])
    keep_res = np.setdiff1d(np.arange(ref.n_residues), np.arange(start, start + 10))
    new_index = -np.ones(ref.n_residues, dtype=int)
    new_index[keep_res] = np.arange(len(keep_res))
    atom_keep = np.isin(ref.atom_res, keep_res)
    common = dict(chain_ids=ref.chain_ids[keep_res], icodes=ref.icodes[keep_res],
                  resnames=ref.resnames[keep_res], coords=coords[atom_keep],
                  atom_names=ref.atom_names[atom_keep], atom_res=new_index[ref.atom_res[atom_keep]])
    by_number = SimpleNamespace(name="m1", resnums=ref.resnums[keep_res], **common)
    renumbered = SimpleNamespace(name="m2", resnums=np.arange(101, 101 + len(keep_res)), **common)
    a = lddt(by_number, ref, align="number")
    b = lddt(renumbered, ref, align="sequence")
    np.testing.assert_array_equal(a.reference_index, b.reference_index)
    np.testing.assert_allclose(a.per_residue, b.per_residue)
    assert a.global_score == b.global_score
    assert a.coverage == pytest.approx(len(keep_res) / ref.n_residues)
    with pytest.raises(ValueError, match="residue names differ"):
        lddt(SimpleNamespace(**{**vars(by_number), "resnums": ref.resnums[keep_res] + 1}), ref)


def _nw_score_loops(a, b, match, mismatch, gap):
    h = np.zeros((len(a) + 1, len(b) + 1))
    h[:, 0] = gap * np.arange(len(a) + 1)
    h[0, :] = gap * np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            s = match if a[i - 1] == b[j - 1] else mismatch
            h[i, j] = max(h[i - 1, j - 1] + s, h[i - 1, j] + gap, h[i, j - 1] + gap)
    return h[-1, -1]


def _alignment_score(a, b, mapping, match, mismatch, gap):
    pairs = [(i, j) for i, j in enumerate(mapping) if j >= 0]
    js = [j for _, j in pairs]
    assert js == sorted(js) and len(set(js)) == len(js)
    score = sum(match if a[i] == b[j] else mismatch for i, j in pairs)
    return score + gap * ((len(a) - len(pairs)) + (len(b) - len(pairs)))


def test_needleman_wunsch_optimal(rng):
    letters = np.array(list("ACDEFG"))
    for _ in range(30):
        a = "".join(rng.choice(letters, size=rng.integers(1, 25)))
        b = "".join(rng.choice(letters, size=rng.integers(1, 25)))
        mapping = needleman_wunsch(a, b, 1.0, -1.0, -1.0)
        assert _alignment_score(a, b, mapping, 1.0, -1.0, -1.0) == pytest.approx(
            _nw_score_loops(a, b, 1.0, -1.0, -1.0))
    seq = "".join(rng.choice(letters, size=300))
    np.testing.assert_array_equal(needleman_wunsch(seq, seq), np.arange(300))
    with pytest.raises(ValueError):
        needleman_wunsch("AC", "AC", gap=0.0)


def test_bad_input():
    ref = _toy(["ALA", "ALA"], [1, 2], [[0, 0, 0], [3, 0, 0]], ["CA", "CA"], [0, 1])
    with pytest.raises(ValueError, match="align"):
        lddt(ref, ref, align="structure")
    with pytest.raises(ValueError, match="inclusion_radius"):
        lddt(ref, ref, inclusion_radius=0)
    with pytest.raises(TypeError):
        lddt(3.5, ref)
    with pytest.raises(ValueError, match="shape"):
        lddt_from_arrays(np.zeros((2, 3)), [0, 1], [1, 2], [0, 0], np.zeros((3, 3)), np.zeros((2, 3)),
                         [False, False], [False, False])


# ---------------------------------------------------------------- clash filter
STEREO_PARAMS = Path("/usr/share/openstructure/stereo_chemical_props.txt")


def _run_ost_filtered(model_path, ref_path):
    out = subprocess.run([OST_LDDT, "-f", "-p", str(STEREO_PARAMS), "-l", str(COMPLIB),
                          str(model_path), str(ref_path)], capture_output=True, text=True,
                         check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Global LDDT score"):
            return float(line.split()[-1])
    raise AssertionError(out.stdout[-500:] + out.stderr[-500:])


def _residue_rigid(atoms, moves):
    """Atoms with each residue translated by moves[resnum] (bonds and angles within residues kept,
    so that lddt -f's bond and angle checks pass and only its clash check acts)."""
    return [dict(a, xyz=a["xyz"] + moves.get(a["resnum"], 0.0)) for a in atoms]


@pytest.mark.skipif(OST_LDDT is None or not COMPLIB.exists() or not STEREO_PARAMS.exists(),
                    reason="OpenStructure `lddt` binary, compound library or stereo parameters absent")
def test_clash_filter_matches_openstructure_lddt_f(shared_dir, tmp_path):
    """Clash-filtered lDDT equals `lddt -f -p stereo_chemical_props.txt` on models whose residues
    are intact but collide: residue-rigid crushes (5-30%) and random residue displacements."""
    rng = np.random.default_rng(7)
    natives = _clean_natives(shared_dir)
    results = []
    for native in [natives[i] for i in rng.choice(len(natives), size=2, replace=False)]:
        atoms = [a for a in _drop_hydrogens(_read_atoms(native)) if a["name"] != "OXT"]
        ref = tmp_path / f"{native.stem}_ref.pdb"
        _write_atoms(ref, atoms)
        resnums = sorted({a["resnum"] for a in atoms})
        ca = {a["resnum"]: a["xyz"] for a in atoms if a["name"] == "CA"}
        centre = np.mean(list(ca.values()), axis=0)
        variants = {f"crush{int(100 * f)}": {r: -f * (ca[r] - centre) for r in ca}
                    for f in (0.05, 0.1, 0.3)}
        for k in range(3):
            chosen = rng.choice(resnums, size=len(resnums) // 4, replace=False)
            variants[f"jolt{k}"] = {int(r): rng.normal(0.0, 1.2, 3) for r in chosen}
        for tag, moves in variants.items():
            path = tmp_path / f"{native.stem}_{tag}.pdb"
            _write_atoms(path, _residue_rigid(atoms, moves))
            ours = lddt(path, ref, clash_filter=True)
            plain = lddt(path, ref).global_score
            ost = _run_ost_filtered(path, ref)
            results.append((native.stem, tag, ours.global_score, ost, plain,
                            int(ours.clash_removed.sum())))
            assert abs(ours.global_score - ost) < 1e-3, results[-1]
    print("\nnative, model, ours, lddt -f, without filter, residues filtered")
    for row in results:
        print(*row)
    assert any(r[5] > 0 for r in results) and any(r[5] == 0 for r in results)
    assert any(r[3] < r[4] - 0.1 for r in results)               # the filter acted


def test_clash_filter_by_hand():
    # residues 1 and 5 (far apart in sequence): CB of 5 1.7 A from CB of 1 (C-C limit 1.9):
    # side-chain clash -> both side chains removed, backbones kept
    coords = [[0, 0, 0], [1.5, 0, 0], [3, 0, 0], [1.5, 1.5, 0],                # res 1 N CA C CB
              [0, 10, 0], [1.5, 10, 0], [3, 10, 0], [1.5, 3.2, 0]]             # res 5 N CA C CB
    names = ["N", "CA", "C", "CB"] * 2
    model = _toy(["ALA", "ALA"], [1, 5], coords, names, [0] * 4 + [1] * 4)
    from estimators.lddt import clashing_atoms
    removed, bb, sc = clashing_atoms(model)
    np.testing.assert_array_equal(removed, [False, False, False, True] * 2)
    assert not bb.any() and sc.all()
    result = lddt(model, model, clash_filter=True)
    assert result.global_score < 1.0 and result.clash_removed.all()
    # a backbone atom in a clash removes its whole residue
    coords[5] = [1.5, 1.2, 1.0]                                   # CA of 5 near CA/CB of 1
    removed, bb, _ = clashing_atoms(_toy(["ALA", "ALA"], [1, 5], coords, names, [0] * 4 + [1] * 4))
    assert bb[1] and removed[4:].all()
    # sequence neighbours: the peptide bond C(i)-N(i+1) is not a clash when its length is
    # feasible for a bond (0.81-1.99 A), but is at 0.7 A
    pep = [[0, 0, 0], [1.46, 0, 0], [2.0, 1.4, 0], [3.2, 1.9, 0], [4.4, 1.5, 0], [5.5, 2.3, 0]]
    toy = _toy(["GLY", "GLY"], [1, 2], pep, ["N", "CA", "C"] * 2, [0, 0, 0, 1, 1, 1])
    assert not clashing_atoms(toy)[0].any()
    pep[3] = [2.6, 1.7, 0]                                        # C-N 0.67 A
    assert clashing_atoms(_toy(["GLY", "GLY"], [1, 2], pep, ["N", "CA", "C"] * 2,
                               [0, 0, 0, 1, 1, 1]))[1].all()
    # without the filter nothing changes
    assert lddt(model, model).global_score == 1.0


def test_overlaid_copy_and_crushed_native_score_low(shared_dir):
    """The label rule gives an overlaid second copy and a 30%-crushed native lDDT <= 0.3."""
    import dataclasses
    from estimators.structures import read_structure
    native = read_structure(shared_dir / "data" / "natives" / "1a32.pdb")
    rng = np.random.default_rng(0)
    shift = rng.normal(size=3)
    shift *= 0.5 / np.linalg.norm(shift)
    n = native.n_residues
    two = dataclasses.replace(
        native, chain_ids=np.r_[native.chain_ids.astype(str), np.full(n, "B")],
        resnums=np.r_[native.resnums, native.resnums], icodes=np.r_[native.icodes, native.icodes],
        resnames=np.r_[native.resnames, native.resnames],
        aa_index=np.r_[native.aa_index, native.aa_index],
        coords=np.vstack([native.coords, native.coords + shift]),
        atom_names=np.r_[native.atom_names, native.atom_names],
        atom_res=np.r_[native.atom_res, native.atom_res + n], _cache={})
    centre = native.coords.mean(0)
    crushed = dataclasses.replace(native, coords=centre + 0.7 * (native.coords - centre), _cache={})
    scores = {"overlay": (lddt(two, native, clash_filter=True).global_score,
                          lddt(two, native).global_score),
              "crushed": (lddt(crushed, native, clash_filter=True).global_score,
                          lddt(crushed, native).global_score)}
    print("\n(with clash filter, without):", scores)
    assert scores["overlay"][0] <= 0.3 and scores["overlay"][1] == 1.0
    assert scores["crushed"][0] <= 0.3
    assert lddt(native, native, clash_filter=True).global_score == 1.0
