"""A corpus of bad, odd and good structure inputs, generated from the bundled example model.

:func:`make_corpus` writes each case into a folder and returns :class:`Case` records with the
outcome that ``fourier6d score`` must give: ``'scored'`` (a row in scores.csv, never in
failures.csv), ``'failed'`` (exactly one row in failures.csv, naming the input, at ``stage``)
or ``'either'`` (the input must be in exactly one of the two files).  ``warn=True``: the input
must have at least one row in warnings.csv.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "T1006_ACOMPMOD_TS1.pdb"


@dataclass
class Case:
    kind: str
    path: str
    expect: str              # 'scored', 'failed' or 'either'
    stage: str = None        # failure stage when expect == 'failed'
    warn: bool = False


def atom_lines():
    return [l for l in EXAMPLE.read_text().splitlines() if l.startswith("ATOM")]


def residues(lines):
    """Atom lines grouped by residue (columns 22-27), in order."""
    out, key = [], None
    for l in lines:
        k = l[21:27]
        if k != key:
            out.append([])
            key = k
        out[-1].append(l)
    return out


def set_field(line, start, end, text):
    """``line`` with columns [start, end) (0-based) replaced by ``text`` right-justified."""
    line = line.ljust(80)
    return line[:start] + text.rjust(end - start)[:end - start] + line[end:]


def set_chain(line, chain):
    return set_field(line, 21, 22, chain)


def set_resnum(line, num, icode=" "):
    return set_field(set_field(line, 22, 26, str(num)), 26, 27, icode)


def to_mmcif(lines, name="model"):
    """A minimal mmCIF ``_atom_site`` loop of PDB ATOM lines."""
    cols = ["group_PDB", "id", "type_symbol", "label_atom_id", "label_comp_id", "label_asym_id",
            "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
            "B_iso_or_equiv", "auth_seq_id", "auth_asym_id", "pdbx_PDB_model_num"]
    out = [f"data_{name}", "loop_"] + [f"_atom_site.{c}" for c in cols]
    for i, l in enumerate(lines, 1):
        chain = l[21].strip() or "A"
        icode = l[26].strip() or "?"
        out.append(f"ATOM {i} {l[76:78].strip() or l[13]} {l[12:16].strip()} {l[17:20].strip()} "
                   f"{chain} {int(l[22:26])} {icode} {l[30:38].strip()} {l[38:46].strip()} "
                   f"{l[46:54].strip()} 1.00 0.00 {int(l[22:26])} {chain} 1")
    return "\n".join(out + ["#"]) + "\n"


def make_corpus(root):
    """Write the corpus into folder ``root``; returns the list of :class:`Case`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = atom_lines()
    res = residues(lines)
    text = "\n".join(lines) + "\nEND\n"
    cases = []

    def add(kind, name, content, expect, stage=None, warn=False, mode="w"):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            with open(p, "wb" if isinstance(content, bytes) else "w") as fh:
                fh.write(content)
        cases.append(Case(kind, str(p), expect, stage, warn))
        return p

    # --- files that cannot be scored -------------------------------------------------------
    add("empty file", "empty.pdb", "", "failed", "read")
    add("whitespace only", "blank.pdb", "   \n\n  \n", "failed", "read")
    add("binary garbage", "garbage.pdb", bytes(range(256)) * 20, "failed", "read")
    add("random text", "text.pdb", "hello world\nthis is not a structure\n", "failed", "read")
    add("ATOM lines too short", "short.pdb", "\n".join(l[:40] for l in lines) + "\n",
        "failed", "read")
    add("corrupt coordinates", "badxyz.pdb",
        "\n".join([set_field(lines[0], 38, 46, "1.2x.3")] + lines[1:]) + "\n", "failed", "read")
    add("NaN coordinate", "nan.pdb",
        "\n".join([set_field(lines[0], 38, 46, "nan")] + lines[1:]) + "\n", "failed", "read")
    k = next(i for i, l in enumerate(lines) if l[12:16] == " CA ")
    add("inf coordinate", "inf.pdb",
        "\n".join(lines[:k] + [set_field(lines[k], 30, 38, "inf")] + lines[k + 1:]) + "\n",
        "failed", "read")
    add("corrupt residue number", "badnum.pdb",
        "\n".join([set_field(lines[0], 22, 26, "x1")] + lines[1:]) + "\n", "failed", "read")
    het = "HETATM    1  C1  LIG A 901      10.000  10.000  10.000  1.00  0.00           C\n"
    add("ligand only", "ligand.pdb", het * 1, "failed", "read")
    water = "".join(f"HETATM{i:5d}  O   HOH A{i:4d}      {i:6.3f}   1.000   1.000  1.00  0.00"
                    f"           O\n" for i in range(1, 20))
    add("water only", "water.pdb", water, "failed", "read")
    dna = "".join(f"ATOM  {i:5d}  P    DA B{i:4d}      {i * 6.0:6.3f}   1.000   1.000  1.00  0.00"
                  f"           P\n" for i in range(1, 12))
    add("nucleic acid only", "dna.pdb", dna, "failed", "read")
    hyd = "".join(f"ATOM  {i:5d}  H   GLY A{i:4d}      {i * 3.0:6.3f}   1.000   1.000  1.00  0.00"
                  f"           H\n" for i in range(1, 12))
    add("hydrogens only", "hydrogens.pdb", hyd, "failed", "read")
    ca_only = [l for l in lines if l[12:16] == " CA "]
    add("CA-only model", "ca_only.pdb", "\n".join(ca_only) + "\n", "failed", "featurize")
    degenerate = [set_field(set_field(set_field(l, 30, 38, "1.000"), 38, 46, "2.000"), 46, 54,
                            "3.000") for l in lines]
    add("all atoms at one point (degenerate backbone)", "degenerate.pdb",
        "\n".join(degenerate) + "\n", "failed", "featurize")
    collinear = [set_field(set_field(set_field(l, 30, 38, f"{1.5 * k:.3f}"), 38, 46, "0.000"),
                           46, 54, "0.000") for k, l in enumerate(lines)]
    add("all atoms on a line (collinear backbone)", "collinear.pdb",
        "\n".join(collinear) + "\n", "failed", "featurize")
    add("missing file", "does_not_exist.pdb", None, "failed", "read")
    add("corrupt gzip", "corrupt.pdb.gz", b"\x1f\x8b\x08\x00garbage-after-the-magic",
        "failed", "read")
    add("truncated gzip", "truncated.pdb.gz", gzip.compress(text.encode())[:200], "failed", "read")
    (root / "empty_dir").mkdir(exist_ok=True)
    cases.append(Case("empty folder", str(root / "empty_dir"), "failed", "input"))
    cases.append(Case("pattern matching nothing", str(root / "nothing_*.pdb"), "failed", "input"))
    dangling = root / "dangling.pdb"
    if not dangling.is_symlink():
        os.symlink(root / "no_such_target.pdb", dangling)
    cases.append(Case("dangling symlink", str(dangling), "failed", "read"))

    # --- files that are scored, with a warning ---------------------------------------------
    add("DNA beside protein", "protein_dna.pdb", text.replace("END\n", "") + dna + "END\n",
        "scored", warn=True)
    add("repeated atoms within a residue", "dup_atoms.pdb",
        "\n".join(res[0] + res[0][:3] + sum(res[1:], [])) + "\n", "scored", warn=True)
    unk = [l.replace(l[17:20], "XYZ") for l in res[3]]
    add("unknown residue in a protein", "unknown_res.pdb",
        "\n".join(sum(res[:3], []) + unk + sum(res[4:], [])) + "\n", "scored", warn=True)
    bare = [l for r in res[:6] for l in r if l[12:16].strip() in ("N", "CA", "C", "O")]
    add("residues without side chains", "no_side_chains.pdb",
        "\n".join(bare + sum(res[6:], [])) + "\n", "scored", warn=True)
    no_n = [l for l in res[5] if l[12:16] != " N  "]
    add("a residue without N", "missing_n.pdb",
        "\n".join(sum(res[:5], []) + no_n + sum(res[6:], [])) + "\n", "scored", warn=True)

    # --- odd but valid files: scored -------------------------------------------------------
    add("gzipped PDB", "gz/model.pdb.gz", gzip.compress(text.encode()), "scored")
    add("gzip content under a .pdb name", "gz_named_pdb.pdb", gzip.compress(text.encode()),
        "scored")
    add("extensionless PDB (CASP style)", "T1006TS001_1", text, "scored")
    add("mmCIF", "cif/model.cif", to_mmcif(lines), "scored")
    add("gzipped mmCIF", "cif/model2.cif.gz", gzip.compress(to_mmcif(lines).encode()), "scored")
    add("extensionless mmCIF", "cif_noext", to_mmcif(lines), "scored")
    add("CRLF line ends", "crlf.pdb", text.replace("\n", "\r\n"), "scored")
    add("latin-1 bytes in a REMARK", "latin1.pdb",
        b"REMARK   1 caf\xe9 \xff\xfe\n" + text.encode(), "scored")
    models = "MODEL        1\n" + "\n".join(lines) + "\nENDMDL\nMODEL        2\n" + \
        "\n".join(lines) + "\nENDMDL\nEND\n"
    add("two MODELs", "multimodel.pdb", models, "scored")
    alt = []
    for l in res[2]:
        alt += [set_field(l, 16, 17, "A"), set_field(set_field(l, 16, 17, "B"), 30, 38,
                                                     f"{float(l[30:38]) + 0.3:.3f}")]
    add("alternate locations", "altloc.pdb",
        "\n".join(sum(res[:2], []) + alt + sum(res[3:], [])) + "\n", "scored")
    ins = [set_resnum(l, int(res[9][0][22:26]) - 1, "A") for l in res[9]]
    add("insertion code", "icode.pdb", "\n".join(sum(res[:9], []) + ins + sum(res[10:], []))
        + "\n", "scored")
    two_chains = [set_chain(l, "A") for l in sum(res[:40], [])] + \
        [set_chain(l, "B") for l in sum(res[40:], [])]
    add("two chains", "two_chains.pdb", "\n".join(two_chains) + "\n", "scored")
    seg2 = [set_resnum(l, int(l[22:26]) - 40) for l in sum(res[40:], [])]
    add("two TER segments without chain id, overlapping numbers", "segments.pdb",
        "\n".join([set_chain(l, " ") for l in sum(res[:40], [])] + ["TER"]
                  + [set_chain(l, " ") for l in seg2]) + "\nEND\n", "scored")
    zero = [set_resnum(l, int(l[22:26]) - 5) for l in lines]
    add("residue numbers <= 0", "nonpositive.pdb", "\n".join(zero) + "\n", "scored")
    mse = [l.replace("MET", "MSE").replace("ATOM  ", "HETATM") for l in res[0]] \
        if res[0][0][17:20] == "MET" else None
    if mse is not None:
        add("MSE as HETATM", "mse.pdb", "\n".join(mse + sum(res[1:], [])) + "\n", "scored")
    one = res[10]
    add("single residue", "single.pdb", "\n".join(one) + "\n", "scored")
    add("coordinates beyond the PDB columns of the output", "far.pdb",
        "\n".join(l[:30] + f"{float(l[30:38]) + 12000:8.1f}" + l[38:] for l in lines) + "\n",
        "scored")
    add("same file name in two folders (a)", "a/model.pdb", text, "scored")
    add("same file name in two folders (b)", "b/model.pdb", text, "scored")
    add("native as .pdb.gz", "natives/native.pdb.gz", gzip.compress(text.encode()), "scored")
    add("native as .cif", "natives/native.cif", to_mmcif(lines, "native"), "scored")
    add("native as .cif.gz", "natives/native.cif.gz",
        gzip.compress(to_mmcif(lines, "native").encode()), "scored")
    add("x.pdb beside x.pdb.gz (a)", "x.pdb", text, "scored")
    add("x.pdb beside x.pdb.gz (b)", "x.pdb.gz", b"\x1f\x8b\x08\x00not really gzip", "failed",
        "read")
    add("odd characters in the name", "odd name;$(x)'.pdb", text, "scored")

    # --- reading rules of estimators.structures ---------------------------------------------
    add("mmCIF content in a .pdb file", "cif_content.pdb", to_mmcif(lines), "scored")
    dup_num = sum(res[:5], []) + [set_resnum(l, int(res[4][0][22:26])) for l in res[5]] + \
        sum(res[6:], [])
    add("two consecutive residues with the same number", "dup_resnum.pdb",
        "\n".join(dup_num) + "\n", "scored", warn=True)
    back = sum(res[:10], []) + [set_resnum(l, int(res[2][0][22:26])) for l in res[10]] + \
        sum(res[11:], [])
    add("a residue number that comes back later in its chain", "resnum_back.pdb",
        "\n".join(back) + "\n", "failed", "read")
    return cases
