"""Residue-specific heavy-atom types (paper, "Technical details": N_a = 168).

The volumetric input of 6DCNN has one channel per *residue-specific* heavy
atom type: every heavy atom of each of the 20 standard amino acids is its own
type (the N of ALA and the N of GLY are different types), 167 in all, plus
one extra type (index 167, :data:`OTHER_TYPE`).  The paper uses the extra
type for solvent; we have no solvent in the input, so it holds every heavy
atom that has no residue-specific type: the terminal OXT, atoms that only
exist in a modified residue (e.g. the phosphate of SEP mapped to SER) and
unknown atom names.

Type numbering: amino acids in alphabetical order of their 3-letter codes
(:data:`AMINO_ACIDS`), and within a residue the atoms in PDB order
(backbone N, CA, C, O, then the side chain as in the PDB chemical component
dictionary).  :func:`markdown_table` renders the table (docs/atom_types.md).

Also here: the residue-name mapping of modified / force-field residue names
to their parent amino acid (:data:`RESIDUE_ALIASES`), and the mapping of
non-PDB heavy-atom names (Rosetta, CHARMM, GROMACS, IUPAC variants) to PDB
v3 names (:data:`ATOM_NAME_ALIASES`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["AMINO_ACIDS", "AA_INDEX", "ONE_LETTER", "RESIDUE_ATOMS", "ATOM_TYPES",
           "ATOM_TYPE_INDEX", "N_RESIDUE_ATOM_TYPES", "OTHER_TYPE", "N_ATOM_TYPES",
           "RESIDUE_ALIASES", "ATOM_NAME_ALIASES", "WATER_NAMES", "atom_type",
           "atom_types_of", "canonical_atom_name", "markdown_table"]

#: The 20 standard amino acids, alphabetical order of the 3-letter codes (aa index 0..19).
AMINO_ACIDS = ("ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
               "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL")
AA_INDEX = {name: i for i, name in enumerate(AMINO_ACIDS)}
ONE_LETTER = dict(zip(AMINO_ACIDS, "ARNDCQEGHILKMFPSTWYV"))

_BACKBONE = ("N", "CA", "C", "O")
#: Heavy atoms of each amino acid (without the terminal OXT), PDB order.
RESIDUE_ATOMS = {
    "ALA": _BACKBONE + ("CB",),
    "ARG": _BACKBONE + ("CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "ASN": _BACKBONE + ("CB", "CG", "OD1", "ND2"),
    "ASP": _BACKBONE + ("CB", "CG", "OD1", "OD2"),
    "CYS": _BACKBONE + ("CB", "SG"),
    "GLN": _BACKBONE + ("CB", "CG", "CD", "OE1", "NE2"),
    "GLU": _BACKBONE + ("CB", "CG", "CD", "OE1", "OE2"),
    "GLY": _BACKBONE,
    "HIS": _BACKBONE + ("CB", "CG", "ND1", "CD2", "CE1", "NE2"),
    "ILE": _BACKBONE + ("CB", "CG1", "CG2", "CD1"),
    "LEU": _BACKBONE + ("CB", "CG", "CD1", "CD2"),
    "LYS": _BACKBONE + ("CB", "CG", "CD", "CE", "NZ"),
    "MET": _BACKBONE + ("CB", "CG", "SD", "CE"),
    "PHE": _BACKBONE + ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "PRO": _BACKBONE + ("CB", "CG", "CD"),
    "SER": _BACKBONE + ("CB", "OG"),
    "THR": _BACKBONE + ("CB", "OG1", "CG2"),
    "TRP": _BACKBONE + ("CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": _BACKBONE + ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"),
    "VAL": _BACKBONE + ("CB", "CG1", "CG2"),
}

#: ((residue, atom), ...) in type order: type t is ATOM_TYPES[t].
ATOM_TYPES = tuple((res, atom) for res in AMINO_ACIDS for atom in RESIDUE_ATOMS[res])
ATOM_TYPE_INDEX = {key: t for t, key in enumerate(ATOM_TYPES)}
N_RESIDUE_ATOM_TYPES = len(ATOM_TYPES)          # 167
OTHER_TYPE = N_RESIDUE_ATOM_TYPES               # 167: OXT, atoms of modified residues, unknown
N_ATOM_TYPES = N_RESIDUE_ATOM_TYPES + 1         # 168

#: Modified residues and force-field/protonation variants -> parent amino acid.
RESIDUE_ALIASES = {
    # selenomethionine and other common modified residues (PDB chemical component parents)
    "MSE": "MET", "FME": "MET", "MHO": "MET",
    "SEP": "SER", "TPO": "THR", "PTR": "TYR",
    "HYP": "PRO",
    "CSO": "CYS", "CSD": "CYS", "CME": "CYS", "CAS": "CYS", "OCS": "CYS", "CSS": "CYS",
    "CSX": "CYS", "SMC": "CYS", "SCH": "CYS", "SCY": "CYS",
    "KCX": "LYS", "MLY": "LYS", "M3L": "LYS", "LLP": "LYS", "ALY": "LYS", "MLZ": "LYS",
    "PCA": "GLU", "CGU": "GLU",
    "HIC": "HIS", "NEP": "HIS",
    "MLE": "LEU", "NLE": "LEU",
    "MVA": "VAL", "AIB": "ALA", "DAL": "ALA",
    "TYS": "TYR", "TRQ": "TRP", "SAC": "SER",
    # force-field / protonation-state names (AMBER, CHARMM, GROMACS, Rosetta output)
    "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
    "HISD": "HIS", "HISE": "HIS", "HISH": "HIS", "HIS1": "HIS", "HIS2": "HIS",
    "CYX": "CYS", "CYM": "CYS", "CYD": "CYS", "CYS2": "CYS",
    "ASH": "ASP", "ASPH": "ASP", "GLH": "GLU", "GLUH": "GLU", "LYN": "LYS", "LYSH": "LYS",
}

#: Residue names of water (always ignored).
WATER_NAMES = frozenset({"HOH", "WAT", "DOD", "H2O", "TIP", "TIP3", "SOL", "SPC"})

#: Heavy-atom name variants -> PDB v3 name.  Key (residue or None for any, name).
ATOM_NAME_ALIASES = {
    (None, "OT1"): "O", (None, "OT2"): "OXT", (None, "OC1"): "O", (None, "OC2"): "OXT",
    (None, "O1"): "O", (None, "O2"): "OXT", (None, "OT"): "OXT",
    ("ILE", "CD"): "CD1",          # CHARMM / GROMOS
    ("MET", "SE"): "SD",           # MSE -> MET
    ("MET", "S"): "SD",            # seen in CASP13 server models
    ("CYS", "S"): "SG",
}


def canonical_atom_name(resname, name):
    """PDB v3 heavy-atom name of ``name`` in residue ``resname`` (already mapped).

    Parameters
    ----------
    resname : str
        Canonical 3-letter residue name (after :data:`RESIDUE_ALIASES`).
    name : str
        Atom name as read (stripped).

    Returns
    -------
    str
    """
    alias = ATOM_NAME_ALIASES.get((resname, name))
    if alias is not None:
        return alias
    if name in RESIDUE_ATOMS.get(resname, ()):
        return name
    return ATOM_NAME_ALIASES.get((None, name), name)


def atom_type(resname, name):
    """Atom-type index in [0, 168) of a heavy atom (167 = other).

    Parameters
    ----------
    resname : str
        Canonical residue name.
    name : str
        Canonical (PDB v3) atom name.
    """
    return ATOM_TYPE_INDEX.get((resname, name), OTHER_TYPE)


def atom_types_of(structure):
    """Atom types of every atom of a :class:`~estimators.structures.Structure`.

    Returns
    -------
    numpy.ndarray of int, shape (n_atoms,)
    """
    # lookups on Python strings (.tolist()): NumPy str scalars hash slowly
    resnames = np.asarray(structure.resnames)[np.asarray(structure.atom_res)].tolist()
    get = ATOM_TYPE_INDEX.get
    return np.fromiter((get((r, a), OTHER_TYPE)
                        for r, a in zip(resnames, np.asarray(structure.atom_names).tolist())),
                       dtype=np.int64, count=structure.n_atoms)


def markdown_table():
    """The atom-type table as Markdown (written to docs/atom_types.md)."""
    lines = ["# Atom types (168 input channels)", "",
             "Generated by `estimators.atom_types.markdown_table()`; see the module docstring.",
             "Types 0..166: every heavy atom of each of the 20 amino acids (residue-specific);",
             "type 167: any other heavy atom (terminal OXT, extra atoms of modified residues, "
             "unknown names).", "",
             "| type | residue | atom |", "|---:|:---:|:---:|"]
    lines += [f"| {t} | {res} | {atom} |" for t, (res, atom) in enumerate(ATOM_TYPES)]
    lines.append(f"| {OTHER_TYPE} | any | other (OXT, modified-residue extras, unknown) |")
    lines += ["", "## Residue names mapped to a parent amino acid", "",
              "| read as | mapped to |", "|:---:|:---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(RESIDUE_ALIASES.items())]
    lines += ["", "## Heavy-atom names mapped to PDB v3", "",
              "| residue | read as | mapped to |", "|:---:|:---:|:---:|"]
    lines += [f"| {r or 'any'} | {k} | {v} |" for (r, k), v in ATOM_NAME_ALIASES.items()]
    return "\n".join(lines) + "\n"
