"""Structure files with per-residue values (predicted lDDT) in the B-factor column.

One job: write the :class:`~estimators.structures.Structure` that was scored -- its residues and
heavy atoms, in the order they were read -- with one value per residue in the B-factor column, so
that the file matches ``residue_scores.csv`` row for row.  Nothing is read again from the input
file: hydrogens, waters and ligands (which the scorer never saw) are not written, modified residues
appear under their parent amino acid, segments are kept apart by ``TER`` records (and, where one
chain id spans several segments, by segment ids ``S1``, ``S2`` ... in columns 73-76), and insertion
codes are written as read.

The B-factor field (columns 61-66) holds the value with four decimals (``0.8734``), exactly the
string written to ``residue_scores.csv``; residues that were not scored get ``0.0000`` and
occupancy ``0.00`` (documented in the ``REMARK`` line).  A structure that the fixed-column PDB
format cannot hold (a chain id longer than one character, a residue number outside -999..9999
or a coordinate outside -999.999..9999.999) is written as mmCIF instead (``B_iso_or_equiv``).
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["BFACTOR_MARK", "format_value", "residue_segments", "write_bfactor_structure",
           "fits_pdb_format"]

#: First words of the first line of every file written here (used to recognise our own files).
BFACTOR_MARK = "FOURIER6D PREDICTED LDDT"


def format_value(v):
    """The text of one per-residue value: four decimals, '' when not finite."""
    v = float(v)
    return f"{v:.4f}" if np.isfinite(v) else ""


def residue_segments(structure):
    """Segment number of each residue (0, 1, ...), in file order.

    A new segment starts where the chain id changes, or where a (chain, residue number,
    insertion code) already met in the current segment comes again (two ``TER``-separated
    segments without chain ids and with overlapping numbers).
    """
    seg = np.zeros(structure.n_residues, dtype=np.int64)
    current, seen, prev_chain = 0, set(), None
    for r in range(structure.n_residues):
        chain = str(structure.chain_ids[r])
        key = (chain, int(structure.resnums[r]), str(structure.icodes[r]))
        if r > 0 and (chain != prev_chain or key in seen):
            current += 1
            seen = set()
        seen.add(key)
        seg[r] = current
        prev_chain = chain
    return seg


def fits_pdb_format(structure):
    """Whether the fixed-column PDB format can hold every chain id, residue number, residue name
    and coordinate (-999.999 .. 9999.999 Angstrom)."""
    chains_ok = all(len(str(c)) <= 1 for c in structure.chain_ids)
    names_ok = all(len(str(n)) <= 3 for n in structure.resnames)
    atoms_ok = all(len(str(n)) <= 4 for n in structure.atom_names)
    nums = np.asarray(structure.resnums)
    xyz = np.asarray(structure.coords)
    nums_ok = len(nums) == 0 or (nums.min() >= -999 and nums.max() <= 9999)
    xyz_ok = xyz.size == 0 or (xyz.min() > -999.9995 and xyz.max() < 9999.9995)
    return chains_ok and names_ok and atoms_ok and nums_ok and xyz_ok


def _element(atom_name):
    """Element of a heavy amino-acid atom from its PDB v3 name (first letter; SE for selenium)."""
    return "SE" if atom_name.upper().startswith("SE") else atom_name[:1].upper()


def _pdb_atom_name(name):
    """Columns 13-16: names of one-letter elements start in column 14."""
    return name if len(name) >= 4 else f" {name:<3s}"


def _pdb_lines(structure, texts, header):
    lines = [f"REMARK   1 {h}" for h in header]
    seg = residue_segments(structure)
    # segment ids (columns 73-76) where one chain id spans several segments, so that readers
    # that group residues by (segment, chain, number) keep the segments apart too
    chains = np.asarray(structure.chain_ids).astype(str)
    per_chain = {c: len(set(seg[chains == c].tolist())) for c in set(chains.tolist())}
    use_segid = any(n > 1 for n in per_chain.values())
    serial = 0
    atom_res = np.asarray(structure.atom_res)
    order = np.argsort(atom_res, kind="stable")
    starts = np.searchsorted(atom_res[order], np.arange(structure.n_residues + 1))
    for r in range(structure.n_residues):
        if r > 0 and seg[r] != seg[r - 1]:
            lines.append("TER")
        text = texts[r]
        beta, occ = (text, 1.0) if text else ("0.0000", 0.0)
        chain = str(structure.chain_ids[r])[:1] or " "
        icode = str(structure.icodes[r])[:1] or " "
        resname = str(structure.resnames[r])
        resnum = int(structure.resnums[r])
        segid = f"S{seg[r] + 1}"[:4] if use_segid else ""
        for a in order[starts[r]:starts[r + 1]]:
            serial += 1
            name = str(structure.atom_names[a])
            x, y, z = structure.coords[a]
            lines.append(f"ATOM  {serial % 100000:5d} {_pdb_atom_name(name)} {resname:>3s} {chain}"
                         f"{resnum:4d}{icode}   {x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{beta:>6s}"
                         f"      {segid:<4s}{_element(name):>2s}")
    lines += ["TER", "END"]
    return lines


def _cif_lines(structure, texts, header, block):
    seg = residue_segments(structure)
    cols = ["group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id",
            "label_asym_id", "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x",
            "Cartn_y", "Cartn_z", "occupancy", "B_iso_or_equiv", "auth_seq_id", "auth_comp_id",
            "auth_asym_id", "auth_atom_id", "pdbx_PDB_model_num"]
    lines = [f"data_{block}"] + [f"# {h}" for h in header] + ["loop_"]
    lines += [f"_atom_site.{c}" for c in cols]
    serial = 0
    atom_res = np.asarray(structure.atom_res)
    order = np.argsort(atom_res, kind="stable")
    starts = np.searchsorted(atom_res[order], np.arange(structure.n_residues + 1))
    for r in range(structure.n_residues):
        text = texts[r]
        beta, occ = (text, "1.00") if text else ("0.0000", "0.00")
        chain = str(structure.chain_ids[r]) or "."
        label_asym = f"S{seg[r] + 1}"
        icode = str(structure.icodes[r]) or "?"
        for a in order[starts[r]:starts[r + 1]]:
            serial += 1
            name = str(structure.atom_names[a])
            x, y, z = structure.coords[a]
            lines.append(f"ATOM {serial} {_element(name)} {name} . {structure.resnames[r]} "
                         f"{label_asym} {seg[r] + 1} {r + 1} {icode} {x:.3f} {y:.3f} {z:.3f} "
                         f"{occ} {beta} {int(structure.resnums[r])} {structure.resnames[r]} "
                         f"{chain} {name} 1")
    lines.append("#")
    return lines


def write_bfactor_structure(structure, values, path):
    """Write ``structure`` with one value per residue in the B-factor column.

    Parameters
    ----------
    structure : Structure
        The structure that was scored.
    values : array-like, shape (n_residues,)
        Per-residue values in [0, 1]; NaN = not scored.
    path : str or os.PathLike
        Output path; its suffix is replaced by ``.cif`` when the structure does not fit the
        PDB format (see :func:`fits_pdb_format`).  Written to a temporary name and renamed.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from pathlib import Path
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (structure.n_residues,):
        raise ValueError(f"{structure.name}: {values.shape} values for {structure.n_residues} "
                         "residues")
    texts = [format_value(v) for v in values]
    path = Path(path)
    header = [f"{BFACTOR_MARK} (0-1) IN THE B-FACTOR COLUMN",
              "ONE VALUE PER RESIDUE, THE SAME AS IN RESIDUE_SCORES.CSV",
              "0.0000 WITH OCCUPANCY 0.00 = RESIDUE NOT SCORED (NO N/CA/C FRAME)"]
    if fits_pdb_format(structure):
        lines = _pdb_lines(structure, texts, header)
    else:
        path = path.with_suffix(".cif")
        lines = _cif_lines(structure, texts, header, path.stem)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
