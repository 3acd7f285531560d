"""Tests of estimators.structures (reading rules and error handling)."""
import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest

from estimators.structures import (Structure, StructureError, StructureWarning, read_structure,
                                   read_structures, PEPTIDE_BOND_MAX)

DATA = Path(__file__).parent / "data"
RULES = DATA / "rules.pdb"


def _read_rules(path=RULES):
    with pytest.warns(StructureWarning, match="ACE"):
        return read_structure(path)


def _atom(s, label, name):
    r = [s.residue_label(i) for i in range(s.n_residues)].index(label)
    sel = np.flatnonzero((s.atom_res == r) & (s.atom_names == name))
    assert len(sel) == 1
    return s.coords[sel[0]]


def _raw_lines(path=RULES):
    return path.read_text().splitlines()


def test_rules_residue_table():
    s = _read_rules()
    labels = [s.residue_label(i) for i in range(s.n_residues)]
    assert labels == ["A:GLY1", "A:SER2", "A:PRO3", "A:GLU4", "A:VAL4A", "A:MET6", "A:ILE7",
                      "A:ALA8", "B:LEU1", "B:THR2", "B:GLU3"]
    assert list(s.icodes) == ["", "", "", "", "A", "", "", "", "", "", ""]
    assert list(s.aa_index) == [7, 15, 14, 6, 19, 12, 9, 0, 10, 16, 6]


def test_hydrogens_ignored():
    s = _read_rules()
    assert not any(n.lstrip("0123456789").startswith("H") for n in s.atom_names)
    # count heavy atoms independently from the file: all lines whose atom is not H, minus
    # the second altloc, ligand, water and ACE
    heavy = [l for l in _raw_lines() if l.startswith(("ATOM", "HETATM"))
             and not l[12:16].strip().lstrip("0123456789").startswith("H")]
    assert s.n_atoms == len(heavy) - 1 - 2 - 2
    assert list(s.atom_names[s.atom_res == 0]) == ["N", "CA", "C", "O"]


def test_first_altloc_kept():
    s = _read_rules()
    line = next(l for l in _raw_lines() if l[12:16] == " CB " and l[16] == "A")
    expected = [float(line[30:38]), float(line[38:46]), float(line[46:54])]
    np.testing.assert_allclose(_atom(s, "A:PRO3", "CB"), expected)


def test_altloc_first_met_even_if_not_A(tmp_path):
    lines = [l[:16] + {"A": "B", "B": "A"}.get(l[16], l[16]) + l[17:] if l[12:16] == " CB "
             and l[17:20] == "PRO" else l for l in _raw_lines()]
    p = tmp_path / "swapped.pdb"
    p.write_text("\n".join(lines) + "\n")
    s = _read_rules(p)
    first = next(l for l in lines if l[12:16] == " CB " and l[17:20] == "PRO")
    np.testing.assert_allclose(_atom(s, "A:PRO3", "CB"), [float(first[30:38]), float(first[38:46]),
                                                           float(first[46:54])])


def test_modified_residue_and_atom_names():
    s = _read_rules()
    r = 5
    assert s.resnames[r] == "MET"
    assert sorted(s.atom_names[s.atom_res == r]) == sorted(["N", "CA", "C", "O", "CB", "CG",
                                                            "SD", "CE"])
    se = next(l for l in _raw_lines() if l[12:16].strip() == "SE")
    np.testing.assert_allclose(_atom(s, "A:MET6", "SD"), [float(se[30:38]), float(se[38:46]),
                                                          float(se[46:54])])
    assert "OT1" not in set(s.atom_names)
    assert "O" in set(s.atom_names[s.atom_res == 7])


def test_hetatm_and_water_ignored():
    s = _read_rules()
    assert not np.any(np.all(np.isclose(s.coords, [20.0, 20.0, 20.0]), axis=1))
    assert not np.any(np.all(np.isclose(s.coords, [25.0, 20.0, 20.0]), axis=1))
    assert "ZN" not in set(s.resnames) and "HOH" not in set(s.resnames)


def test_missing_ca_kept_without_frame():
    s = _read_rules()
    n, ca, c, has_frame = s.backbone()
    assert list(np.flatnonzero(~has_frame)) == [6]
    assert np.isnan(ca[6]).all() and np.isfinite(n[6]).all() and np.isfinite(c[6]).all()
    assert np.isfinite(ca[has_frame]).all()


def test_chain_breaks():
    s = _read_rules()
    brk = s.chain_break_before()
    # independent check: C(r-1)-N(r) distance within the same chain
    expected = [True]
    for r in range(1, s.n_residues):
        same = s.chain_ids[r] == s.chain_ids[r - 1]
        try:
            d = np.linalg.norm(_atom(s, s.residue_label(r), "N") - _atom(s, s.residue_label(r - 1), "C"))
        except AssertionError:
            d = np.inf
        expected.append(not (same and d <= PEPTIDE_BOND_MAX))
    assert list(brk) == expected
    assert list(np.flatnonzero(brk)) == [0, 8]


def test_geometric_chain_break(tmp_path):
    # drop residue 4A (VAL): C(GLU4) - N(MET6) is far apart -> break before MET6
    lines = [l for l in _raw_lines() if not (l.startswith("ATOM") and l[22:27] == "   4A")]
    p = tmp_path / "gap.pdb"
    p.write_text("\n".join(lines) + "\n")
    s = _read_rules(p)
    brk = s.chain_break_before()
    assert brk[[s.residue_label(i) for i in range(s.n_residues)].index("A:MET6")]


def test_no_chain_id_ter_separates_segments(tmp_path):
    # two copies of the same residues without chain id, separated by TER
    atoms = [l for l in _raw_lines() if l.startswith("ATOM") and l[17:20] in ("GLY", "SER")]
    blank = [l[:21] + " " + l[22:] for l in atoms]
    p = tmp_path / "twocopies.pdb"
    p.write_text("\n".join(blank + ["TER"] + blank) + "\n")
    s = read_structure(p)
    assert s.n_residues == 4
    assert list(s.chain_break_before()) == [True, False, True, False]


def test_first_model_only(tmp_path):
    atoms = [l for l in _raw_lines() if l.startswith("ATOM") and l[17:20] == "GLY"]
    p = tmp_path / "models.pdb"
    p.write_text("\n".join(["MODEL        1"] + atoms + ["ENDMDL", "MODEL        2"] + atoms
                           + ["ENDMDL"]) + "\n")
    assert read_structure(p).n_residues == 1


def test_gzip_and_mmcif_agree(tmp_path):
    s = _read_rules()
    gz = tmp_path / "rules.pdb.gz"
    gz.write_bytes(gzip.compress(RULES.read_bytes()))
    s_gz = _read_rules(gz)
    np.testing.assert_array_equal(s.coords, s_gz.coords)
    biotite_pdb = pytest.importorskip("biotite.structure.io.pdb")
    pdbx = pytest.importorskip("biotite.structure.io.pdbx")
    # an independent writer: biotite converts the PDB to mmCIF (all atoms, altlocs dropped
    # by biotite except the first, so compare with our reading)
    arr = biotite_pdb.PDBFile.read(str(RULES)).get_structure(model=1, altloc="first")
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, arr)
    path = tmp_path / "rules.cif"
    cif.write(str(path))
    s_cif = _read_rules(path)
    assert [s_cif.residue_label(i) for i in range(s_cif.n_residues)] == \
        [s.residue_label(i) for i in range(s.n_residues)]
    np.testing.assert_allclose(s_cif.coords, s.coords, atol=1e-3)
    np.testing.assert_array_equal(s_cif.atom_names, s.atom_names)


def test_prody_atomgroup_and_structure_passthrough():
    prody = pytest.importorskip("prody")
    prody.confProDy(verbosity="none")
    ag = prody.parsePDB(str(RULES))
    s = _read_rules()
    with pytest.warns(StructureWarning):
        s_ag = read_structure(ag, name="rules-ag")
    assert s_ag.name == "rules-ag"
    assert [s_ag.residue_label(i) for i in range(s_ag.n_residues)] == \
        [s.residue_label(i) for i in range(s.n_residues)]
    np.testing.assert_allclose(s_ag.coords, s.coords, atol=1e-3)
    assert read_structure(s) is s


@pytest.mark.parametrize("content, match", [
    ("", "empty file"),
    ("   \n\n", "empty file"),
    ("REMARK nothing here\nEND\n", "no atoms"),
    ("HETATM    1  O   HOH A   1       1.000   2.000   3.000  1.00  0.00           O\n",
     "no protein residues"),
    ("ATOM      1  N   GLY A   1      10.514   0.016\n", "line 1.*too short"),
    ("ATOM      1  N   GLY A   1      10.514   0.0x6  37.300  1.00  0.00           N\n",
     "line 1.*corrupt coordinates"),
    ("ATOM      1  N   GLY A   x      10.514   0.016  37.300  1.00  0.00           N\n",
     "line 1.*residue number"),
    ("ATOM      1  N   GLY A   1      10.514     nan  37.300  1.00  0.00           N\n",
     "non-finite.*GLY1"),
    ("ATOM      1  N   GLY A   1      10.514     inf  37.300  1.00  0.00           N\n",
     "non-finite.*A:GLY1"),
])
def test_bad_input_names_file(tmp_path, content, match):
    p = tmp_path / "bad_input.pdb"
    p.write_text(content)
    with pytest.raises(StructureError, match=match) as info:
        read_structure(p)
    assert "bad_input.pdb" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unreadable_path_and_wrong_type(tmp_path):
    with pytest.raises(StructureError, match="does_not_exist.pdb.*cannot read"):
        read_structure(tmp_path / "does_not_exist.pdb")
    with pytest.raises(StructureError, match="cannot read"):
        read_structure(tmp_path)                      # a directory
    bad_gz = tmp_path / "broken.pdb.gz"
    bad_gz.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(StructureError, match="broken.pdb.gz"):
        read_structure(bad_gz)
    with pytest.raises(TypeError, match="path"):
        read_structure(42)


def test_read_structures_keeps_good_results(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.warns(StructureWarning):
        out = read_structures([RULES, empty, RULES], errors="warn")
    assert out[1] is None and isinstance(out[0], Structure) and isinstance(out[2], Structure)
    with pytest.raises(StructureError, match="empty.pdb"), warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        read_structures([RULES, empty], errors="raise")
    with pytest.raises(ValueError, match="errors"):
        read_structures([RULES], errors="ignore")


def test_read_structures_parallel_matches_serial(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.warns(StructureWarning) as rec:
        out = read_structures([RULES, empty, RULES], errors="warn", n_jobs=2)
    assert out[1] is None
    np.testing.assert_array_equal(out[0].coords, out[2].coords)
    # worker warnings reach the caller: the ACE warning (twice) and the skip
    msgs = [str(w.message) for w in rec]
    assert sum("ACE" in m for m in msgs) == 2 and any("empty.pdb" in m for m in msgs)


def _all_shared_files(shared):
    data = shared / "data"
    return sorted((data / "casp13").glob("*/models/*")), sorted((data / "natives").glob("*.pdb"))


def test_all_shared_models_and_natives_load(shared_dir):
    models, natives = _all_shared_files(shared_dir)
    assert len(models) == 392 and len(natives) == 150
    with warnings.catch_warnings():
        warnings.simplefilter("error", StructureWarning)    # none of them should need a warning
        structures = [read_structure(p) for p in models + natives]
    n_res = sum(s.n_residues for s in structures[len(models):])
    assert n_res == 16609                                    # data/README.md
    for s in structures:
        assert s.n_atoms > 0 and np.isfinite(s.coords).all()
        assert not any(n.lstrip("0123456789").startswith("H") for n in s.atom_names)
        assert s.backbone()[3].mean() > 0.95


# --------------------------------------------------------------------------------------------------
# cases a structure reader must not get wrong silently (gemmi reads the files; these rules on top)

def _atom_line(name, resname, chain, resnum, x=1.0, altloc=" ", element=""):
    """One PDB ATOM record, columns as in the PDB format (resnum: the 4-character field)."""
    return (f"ATOM      1 {name:<4}{altloc}{resname:>3} {chain}{resnum:>4}    "
            f"{x:8.3f}{2.0:8.3f}{3.0:8.3f}  1.00  0.00          {element:>2}")


def _backbone(resname, chain, resnum, x0, altloc=" "):
    return [_atom_line(n, resname, chain, resnum, x0 + dx, altloc) for n, dx in
            ((" N", 0.0), (" CA", 1.46), (" C", 2.0))]


def test_hybrid36_residue_numbers(tmp_path):
    # hybrid-36: 'A000' is 10000, 'A001' 10001 (numbers past 9999 in the 4-character field)
    lines = _backbone("GLY", "A", "9999", 0.0) + _backbone("ALA", "A", "A000", 3.3) \
        + _backbone("SER", "A", "A001", 6.6)
    p = tmp_path / "big.pdb"
    p.write_text("\n".join(lines) + "\n")
    s = read_structure(p)
    assert list(s.resnums) == [9999, 10000, 10001]
    assert list(s.chain_break_before()) == [True, False, False]


def test_format_from_content_not_name(tmp_path):
    s = _read_rules()
    # PDB content without extension (CASP models as distributed) and with a .cif name
    for fname in ("T0000TS001_1", "misnamed.cif"):
        p = tmp_path / fname
        p.write_bytes(RULES.read_bytes())
        s2 = _read_rules(p)
        np.testing.assert_array_equal(s2.coords, s.coords)
    # mmCIF content in a .pdb file
    biotite_pdb = pytest.importorskip("biotite.structure.io.pdb")
    pdbx = pytest.importorskip("biotite.structure.io.pdbx")
    arr = biotite_pdb.PDBFile.read(str(RULES)).get_structure(model=1, altloc="first")
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, arr)
    p = tmp_path / "really_mmcif.pdb"
    cif.write(str(p))
    s_cif = _read_rules(p)
    assert [s_cif.residue_label(i) for i in range(s_cif.n_residues)] == \
        [s.residue_label(i) for i in range(s.n_residues)]
    np.testing.assert_allclose(s_cif.coords, s.coords, atol=1e-3)


def test_repeated_residue_number_is_an_error_not_a_chimera(tmp_path):
    # GLY 5, ALA 6, then GLY 5 again in the same chain: never merged into one residue
    lines = _backbone("GLY", "A", "5", 0.0) + _backbone("ALA", "A", "6", 3.3) \
        + _backbone("GLY", "A", "5", 6.6)
    p = tmp_path / "repeat.pdb"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(StructureError, match=r"repeat.pdb: line 7: residue A:GLY5 comes back.*"
                                             r"first seen at line 1"):
        read_structure(p)
    # the same through a ProDy atom group (no line numbers: atom indices)
    prody = pytest.importorskip("prody")
    prody.confProDy(verbosity="none")
    with pytest.raises(StructureError, match=r"ag: residue A:GLY5 comes back.*atom 7"):
        read_structure(prody.parsePDB(str(p)), name="ag")


def test_consecutive_residues_sharing_a_number_stay_distinct(tmp_path):
    lines = _backbone("GLY", "A", "5", 0.0) + _backbone("ALA", "A", "5", 3.3) \
        + _backbone("SER", "A", "6", 6.6)
    p = tmp_path / "shared_number.pdb"
    p.write_text("\n".join(lines) + "\n")
    with pytest.warns(StructureWarning, match="shared_number.pdb: 1 residue number.*A:GLY5 / A:ALA5"):
        s = read_structure(p)
    assert list(s.resnames) == ["GLY", "ALA", "SER"]
    assert [int((s.atom_res == r).sum()) for r in range(3)] == [3, 3, 3]


def test_microheterogeneity_keeps_the_first_altloc_residue(tmp_path):
    lines = (_backbone("GLY", "A", "4", 0.0) + _backbone("SER", "A", "5", 3.3, altloc="A")
             + _backbone("THR", "A", "5", 3.4, altloc="B") + _backbone("ALA", "A", "6", 6.6))
    p = tmp_path / "microhet.pdb"
    p.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StructureWarning)
        s = read_structure(p)
    assert list(s.resnames) == ["GLY", "SER", "ALA"]
    np.testing.assert_allclose(_atom(s, "A:SER5", "N")[0], 3.3)


def test_ter_segments_without_chain_id_stay_distinct_in_atomgroups():
    prody = pytest.importorskip("prody")
    prody.confProDy(verbosity="none")
    atoms = [l for l in _raw_lines() if l.startswith("ATOM") and l[17:20] in ("GLY", "SER")]
    blank = [l[:21] + " " + l[22:] for l in atoms]
    import io
    ag = prody.parsePDBStream(io.StringIO("\n".join(blank + ["TER"] + blank) + "\n"))
    s = read_structure(ag, name="two copies")
    assert s.n_residues == 4
    assert list(s.chain_break_before()) == [True, False, True, False]


@pytest.mark.parametrize("field", ["   0.0x6", "  1.2.3 ", "  --1.00", "  1.0 -2", " 1 2.00 ",
                                   "        ", "   -.   ", "  12-3.4"])
def test_corrupt_coordinate_fields(tmp_path, field):
    line = _atom_line(" N", "GLY", "A", "1")
    line = line[:38] + field + line[46:]
    p = tmp_path / "corrupt.pdb"
    p.write_text(line + "\n")
    with pytest.raises(StructureError, match="corrupt.pdb: line 1: corrupt coordinates"):
        read_structure(p)


def test_number_check_agrees_with_float():
    # the vectorised test of coordinate fields against Python's float() on random fields
    from estimators.structures import _numbers_valid
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b" -.0123456789e+", dtype=np.uint8)
    fields = rng.choice(alphabet, size=(20000, 8), p=[0.3, 0.05, 0.05] + [0.058] * 10 + [0.01, 0.01])
    good = rng.uniform(-999, 9999, 2000)
    fields[:2000] = np.frombuffer("".join(f"{v:8.3f}" for v in good).encode(), np.uint8).reshape(-1, 8)

    def ok(row):
        try:
            float(bytes(row))
            return True
        except ValueError:
            return False
    expected = np.array([ok(r) for r in fields])
    assert expected[:2000].all() and 0.001 < expected.mean() < 0.9
    got = np.array([_numbers_valid(r[None], True) for r in fields])
    np.testing.assert_array_equal(got, expected)
    assert _numbers_valid(fields[expected], True)
    assert not _numbers_valid(np.concatenate([fields[:2000], fields[~expected][:1]]), True)


@pytest.mark.parametrize("field, ok", [("   1", True), ("  -1", True), ("9999", True),
                                       ("A000", True), ("a0z9", True), ("Ab00", False),
                                       (" 1 2", False), ("  x ", False), ("1-  ", False)])
def test_residue_number_fields(field, ok):
    from estimators.structures import _numbers_valid
    row = np.frombuffer(field.encode(), dtype=np.uint8).reshape(1, 4)
    assert _numbers_valid(row, False) is ok


def test_casp_ts_file_with_header(tmp_path):
    # a CASP TS submission: PFRMAT/TARGET/REMARK/MODEL/PARENT lines, no chain id, TER, END
    atoms = [l[:21] + " " + l[22:] for l in _raw_lines() if l.startswith("ATOM")
             and l[17:20] in ("GLY", "SER")]
    p = tmp_path / "T0000TS001_1"
    p.write_text("\n".join(["PFRMAT TS", "TARGET T0000", "REMARK MODEL 1 OF SERVER X",
                            "MODEL  1", "PARENT N/A"] + atoms + ["TER", "END"]) + "\n")
    s = read_structure(p)
    assert [s.residue_label(i) for i in range(s.n_residues)] == [":GLY1", ":SER2"]


def test_corrupt_gzip_body_is_a_structure_error(tmp_path):
    """A gzip file whose deflate stream is damaged (zlib.error inside gzip) names the file."""
    import gzip
    from estimators.structures import StructureError, read_structure
    example = Path(__file__).resolve().parents[1] / "examples" / "T1006_ACOMPMOD_TS1.pdb"
    data = bytearray(gzip.compress(example.read_bytes()))
    for i in range(30, 60):
        data[i] ^= 0xFF
    path = tmp_path / "damaged.pdb.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(StructureError, match="damaged.pdb.gz: corrupt gzip"):
        read_structure(path)
