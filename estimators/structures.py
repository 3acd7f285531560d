"""Reading protein structures (PDB, mmCIF, gzipped, ProDy atom groups).

One job: turn a messy structure file into a clean residue/heavy-atom table
(:class:`Structure`).  Reading rules (each tested in tests/test_structures.py):

* hydrogens (and deuterium) are ignored: element column H/D, or, where the
  element column is empty or odd, an atom name whose first letter after
  leading digits is H or D (no heavy atom of an amino acid is so named);
* alternate locations: per residue, atoms without altloc and those of the
  first altloc label met in that residue are kept, the others dropped;
* insertion codes make distinct residues (12, 12A, 12B ...);
* modified residues are mapped to their parent amino acid (MSE->MET, SEP->SER,
  HID->HIS ... :data:`estimators.atom_types.RESIDUE_ALIASES`), other HETATM
  residues (ligands, ions) and waters are ignored;
* ATOM records of unknown residue names (nucleotides, caps) are skipped with a
  warning; several chains are kept; residues without a chain id that are
  separated by TER records are kept apart;
* only the first model of a multi-model file is read;
* heavy-atom names are normalised to PDB v3 (OT1->O, OT2->OXT, ...); a repeated
  atom name within a residue keeps the first occurrence (with a warning);
* residues left without heavy atoms are dropped.

Bad input raises :class:`StructureError` naming the file (and the line or
residue): unreadable path, empty file, corrupt ATOM lines, NaN/inf
coordinates, no protein residue.
"""
from __future__ import annotations

import gzip
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .atom_types import (AA_INDEX, RESIDUE_ALIASES, WATER_NAMES, canonical_atom_name)

__all__ = ["Structure", "StructureError", "StructureWarning", "read_structure",
           "read_structures", "PEPTIDE_BOND_MAX"]

#: C(i-1)-N(i) distance (Angstrom) above which two residues are not bonded.
PEPTIDE_BOND_MAX = 2.0


class StructureError(ValueError):
    """A structure that cannot be read; the message names the file (and residue/line)."""


class StructureWarning(UserWarning):
    """Something was skipped while reading or featurizing a structure."""


@dataclass
class Structure:
    """Residues and heavy atoms of one protein structure, in file order.

    Attributes
    ----------
    name : str
        File name or given name, used in every message.
    chain_ids, resnums, icodes, resnames, aa_index : numpy.ndarray, shape (R,)
        Per residue: chain id (str, '' when none), residue number (int),
        insertion code (str, '' when none), canonical 3-letter name after
        mapping, amino-acid index 0..19 (alphabetical 3-letter order).
    coords : numpy.ndarray, shape (A, 3), float64
        Heavy-atom coordinates (Angstrom).
    atom_names : numpy.ndarray, shape (A,)
        PDB v3 atom names.
    atom_res : numpy.ndarray, shape (A,), int
        Residue index of each atom.
    """

    name: str
    chain_ids: np.ndarray
    resnums: np.ndarray
    icodes: np.ndarray
    resnames: np.ndarray
    aa_index: np.ndarray
    coords: np.ndarray
    atom_names: np.ndarray
    atom_res: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_residues(self):
        return len(self.resnums)

    @property
    def n_atoms(self):
        return len(self.atom_names)

    def residue_label(self, r):
        """Human-readable label of residue ``r``, e.g. ``'A:GLY12B'`` (``':GLY12'`` without chain)."""
        return f"{self.chain_ids[r]}:{self.resnames[r]}{self.resnums[r]}{self.icodes[r]}"

    def atom_index(self, atom_name):
        """Index of atom ``atom_name`` in each residue, -1 where absent. Shape (R,)."""
        key = ("atom_index", atom_name)
        if key not in self._cache:
            idx = np.full(self.n_residues, -1, dtype=np.int64)
            sel = np.flatnonzero(self.atom_names == atom_name)
            # first occurrence per residue wins (names are unique per residue anyway)
            idx[self.atom_res[sel[::-1]]] = sel[::-1]
            self._cache[key] = idx
        return self._cache[key]

    def backbone(self):
        """Backbone coordinates and the residues that can get a local frame.

        Returns
        -------
        n, ca, c : numpy.ndarray, shape (R, 3)
            Coordinates of N, CA, C; NaN where the atom is missing.
        has_frame : numpy.ndarray of bool, shape (R,)
            True where N, CA and C are all present and not degenerate
            (|CA-N|, |CA-C| > 0.1 A and the angle N-CA-C not within ~0.6 degree
            of 0 or 180), i.e. where Gram-Schmidt gives a frame.
        """
        out = []
        for atom in ("N", "CA", "C"):
            idx = self.atom_index(atom)
            xyz = np.full((self.n_residues, 3), np.nan)
            ok = idx >= 0
            xyz[ok] = self.coords[idx[ok]]
            out.append(xyz)
        n, ca, c = out
        with np.errstate(invalid="ignore"):
            u = n - ca
            v = c - ca
            lu = np.sqrt(np.einsum("ij,ij->i", u, u))
            lv = np.sqrt(np.einsum("ij,ij->i", v, v))
            w = cross(u, v)
            sin = np.sqrt(np.einsum("ij,ij->i", w, w)) / np.maximum(lu * lv, 1e-300)
            has_frame = (lu > 0.1) & (lv > 0.1) & (sin > 1e-2)
        return n, ca, c, has_frame

    def chain_break_before(self):
        """True where residue r is not peptide-bonded to residue r-1.

        Residue 0, a change of chain id (or TER-separated segment), a missing
        C of r-1 or N of r, or a C(r-1)-N(r) distance above
        :data:`PEPTIDE_BOND_MAX` all count as breaks.  Shape (R,), bool.
        """
        if "break" not in self._cache:
            n, _, c, _ = self.backbone()
            brk = np.ones(self.n_residues, dtype=bool)
            if self.n_residues > 1:
                with np.errstate(invalid="ignore"):
                    d = np.linalg.norm(n[1:] - c[:-1], axis=1)
                bonded = d <= PEPTIDE_BOND_MAX            # NaN (missing) -> False
                same = self.chain_ids[1:] == self.chain_ids[:-1]
                seg = self._cache.get("segments")
                if seg is not None:
                    same &= seg[1:] == seg[:-1]
                brk[1:] = ~(bonded & same)
            self._cache["break"] = brk
        return self._cache["break"]

    def sequence(self):
        """One-letter sequence of the residues (str)."""
        from .atom_types import ONE_LETTER
        return "".join(ONE_LETTER[r] for r in self.resnames)


def cross(u, v):
    """``u X v`` along the last axis of (..., 3) arrays (``np.cross`` without its per-call
    overhead, which dominated for the few hundred residues of one protein)."""
    out = np.empty(np.broadcast_shapes(u.shape, v.shape), dtype=np.result_type(u, v))
    out[..., 0] = u[..., 1] * v[..., 2] - u[..., 2] * v[..., 1]
    out[..., 1] = u[..., 2] * v[..., 0] - u[..., 0] * v[..., 2]
    out[..., 2] = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    return out


# ----------------------------------------------------------------------------- reading

_HYDROGEN_ELEMENTS = frozenset({"H", "D"})
_LEADING_DIGITS = re.compile(r"^\d+")


def _is_hydrogen(name, element):
    """Hydrogen by element column, or by name when the element is not H/D."""
    if element in _HYDROGEN_ELEMENTS:
        return True
    stripped = name.lstrip("0123456789")
    return stripped[:1] in ("H", "D")


def _open_text(path, name):
    """Bytes of ``path`` (gunzipped when gzip magic) as text; StructureError when unreadable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, TypeError) as exc:
        raise StructureError(f"{name}: cannot read file ({exc.__class__.__name__}: {exc})") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise StructureError(f"{name}: corrupt gzip file ({exc})") from exc
    return data.decode("utf-8", errors="replace")


class _AtomRecords:
    """Atom-level columns collected by a parser (all atoms incl. hydrogens)."""

    __slots__ = ("hetatm", "names", "altlocs", "resnames", "chains", "resnums", "icodes",
                 "coords", "elements", "segments", "where")

    def __init__(self):
        for s in self.__slots__:
            setattr(self, s, [])


def _parse_pdb(text, name):
    """Parse ATOM/HETATM records of the first model of PDB text."""
    rec = _AtomRecords()
    segment = 0
    seen_model = False
    coord_str = []
    for lineno, line in enumerate(text.splitlines(), 1):
        head = line[:6]
        if head == "ATOM  " or head == "HETATM" or head.rstrip() == "ATOM":
            if len(line) < 54:
                raise StructureError(f"{name}: line {lineno}: corrupt {head.strip()} record "
                                     f"(too short for coordinates): {line.rstrip()!r}")
            try:
                resnum = int(line[22:26])
            except ValueError:
                raise StructureError(f"{name}: line {lineno}: corrupt residue number "
                                     f"{line[22:26]!r}: {line.rstrip()!r}") from None
            rec.hetatm.append(head == "HETATM")
            rec.names.append(line[12:16].strip())
            rec.altlocs.append(line[16].strip())
            rec.resnames.append(line[17:21].strip())
            rec.chains.append(line[21].strip())
            rec.resnums.append(resnum)
            rec.icodes.append(line[26:27].strip())
            coord_str.append((line[30:38], line[38:46], line[46:54]))
            rec.elements.append(line[76:78].strip().upper())
            rec.segments.append(segment)
            rec.where.append(lineno)
        elif head == "TER   " or head.rstrip() == "TER":
            segment += 1
        elif head == "MODEL ":
            if seen_model:
                break
            seen_model = True
        elif head == "ENDMDL":
            break
    if coord_str:
        try:
            rec.coords = np.array(coord_str, dtype=np.float64)
        except ValueError:
            for (x, y, z), lineno in zip(coord_str, rec.where):
                try:
                    float(x), float(y), float(z)
                except ValueError:
                    raise StructureError(f"{name}: line {lineno}: corrupt coordinates "
                                         f"{x!r} {y!r} {z!r}") from None
            raise
    else:
        rec.coords = np.zeros((0, 3))
    return rec


_CIF_TOKEN = re.compile(r"""'(?:[^']|'(?!\s|$))*'(?=\s|$)|"(?:[^"]|"(?!\s|$))*"(?=\s|$)|\S+""")


def _parse_mmcif(text, name):
    """Parse the ``_atom_site`` loop (first model) of mmCIF text."""
    lines = text.splitlines()
    keys, start = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("_atom_site."):
            keys.append(s.split()[0][len("_atom_site."):])
            start = i + 1
        elif keys:
            break
    rec = _AtomRecords()
    if not keys:
        rec.coords = np.zeros((0, 3))
        return rec
    body = []
    for line in lines[start:]:
        s = line.strip()
        if s.startswith(("loop_", "_", "#", "data_")):
            break
        if s:
            body.append(s)
    tokens = _CIF_TOKEN.findall("\n".join(body))
    ncol = len(keys)
    if len(tokens) % ncol:
        raise StructureError(f"{name}: corrupt mmCIF _atom_site loop ({len(tokens)} values "
                             f"for {ncol} columns)")
    table = np.array(tokens, dtype=object).reshape(-1, ncol)
    col = {k: i for i, k in enumerate(keys)}

    def get(*candidates, default=""):
        for k in candidates:
            if k in col:
                vals = [v.strip("'\"") for v in table[:, col[k]]]
                return ["" if v in ("?", ".") else v for v in vals]
        return [default] * len(table)

    for need in ("Cartn_x", "Cartn_y", "Cartn_z"):
        if need not in col:
            raise StructureError(f"{name}: mmCIF _atom_site has no {need} column")
    models = get("pdbx_PDB_model_num", default="1")
    first = models[0] if models else "1"
    keep = np.array([m == first for m in models], dtype=bool)
    group = get("group_PDB", default="ATOM")
    names = get("auth_atom_id", "label_atom_id")
    alts = get("label_alt_id")
    resn = get("auth_comp_id", "label_comp_id")
    chains = get("auth_asym_id", "label_asym_id")
    seqs = get("auth_seq_id", "label_seq_id")
    icodes = get("pdbx_PDB_ins_code")
    elems = get("type_symbol")
    xyz = [get("Cartn_x"), get("Cartn_y"), get("Cartn_z")]
    for r in np.flatnonzero(keep):
        try:
            resnum = int(seqs[r])
        except ValueError:
            raise StructureError(f"{name}: _atom_site row {r + 1}: corrupt residue number "
                                 f"{seqs[r]!r}") from None
        rec.hetatm.append(group[r] == "HETATM")
        rec.names.append(names[r])
        rec.altlocs.append(alts[r])
        rec.resnames.append(resn[r])
        rec.chains.append(chains[r])
        rec.resnums.append(resnum)
        rec.icodes.append(icodes[r])
        rec.elements.append(elems[r].upper())
        rec.segments.append(0)
        rec.where.append(r + 1)
    try:
        rec.coords = np.array([[float(xyz[k][r]) for k in range(3)] for r in np.flatnonzero(keep)],
                              dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise StructureError(f"{name}: corrupt coordinates in mmCIF _atom_site") from None
    return rec


def _from_atomgroup(ag, name):
    """Atom-level columns of a ProDy AtomGroup / Selection (current coordinate set)."""
    rec = _AtomRecords()
    n = ag.numAtoms()

    def col(getter, default=""):
        fn = getattr(ag, getter, None)
        vals = fn() if fn is not None else None
        if vals is None:
            return [default] * n
        return [v.strip() if isinstance(v, str) else v for v in vals.tolist()]

    rec.names = col("getNames")
    rec.resnames = col("getResnames")
    rec.chains = col("getChids")
    rec.altlocs = col("getAltlocs")
    rec.icodes = col("getIcodes")
    rec.elements = [e.upper() for e in col("getElements")]
    rec.resnums = [int(v) for v in col("getResnums", 0)]
    try:
        het = ag.getFlags("hetatm")
    except Exception:
        het = None
    rec.hetatm = [False] * n if het is None else [bool(h) for h in het]
    segs = col("getSegnames")
    rec.segments = [0] * n
    coords = ag.getCoords()
    rec.coords = np.zeros((0, 3)) if coords is None else np.asarray(coords, dtype=np.float64)
    rec.where = list(range(1, n + 1))
    del segs
    return rec


def _is_atomgroup(obj):
    return all(hasattr(obj, a) for a in ("getCoords", "getNames", "getResnames", "numAtoms"))


def _source_name(source, name):
    if name is not None:
        return str(name)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if _is_atomgroup(source):
        title = getattr(source, "getTitle", lambda: None)()
        return str(title) if title else "<AtomGroup>"
    return f"<{type(source).__name__}>"


def _looks_like_mmcif(path, text):
    low = os.fspath(path).lower()
    if low.endswith(".gz"):
        low = low[:-3]
    if low.endswith((".cif", ".mmcif")):
        return True
    if low.endswith((".pdb", ".ent")):
        return False
    head = text.lstrip()[:200]
    return head.startswith("data_") and "_atom_site." in text


def _build(rec, name):
    """Apply the reading rules to atom-level columns; return a Structure."""
    n_all = len(rec.names)
    res_keys = {}          # (segment, chain, resnum, icode) -> residue slot
    res_info = []          # [chain, resnum, icode, resname, segment]
    res_alt = []           # first altloc label met in the residue ('' until one is met)
    res_atoms = []         # dict atom name -> atom row
    unknown = {}
    duplicates = []
    for k in range(n_all):
        resname = rec.resnames[k]
        if resname in WATER_NAMES:
            continue
        parent = resname if resname in AA_INDEX else RESIDUE_ALIASES.get(resname)
        if parent is None:
            if not rec.hetatm[k]:
                unknown.setdefault((rec.chains[k], rec.resnums[k], rec.icodes[k], resname), k)
            continue
        atom = rec.names[k]
        if _is_hydrogen(atom, rec.elements[k]):
            continue
        key = (rec.segments[k], rec.chains[k], rec.resnums[k], rec.icodes[k])
        slot = res_keys.get(key)
        alt = rec.altlocs[k]
        if slot is None:
            slot = len(res_info)
            res_keys[key] = slot
            res_info.append([rec.chains[k], rec.resnums[k], rec.icodes[k], parent])
            res_alt.append(alt)
            res_atoms.append({})
        elif alt:
            if not res_alt[slot]:
                res_alt[slot] = alt
            elif alt != res_alt[slot]:
                continue
        atom = canonical_atom_name(parent, atom)
        atoms = res_atoms[slot]
        if atom in atoms:
            duplicates.append((slot, atom))
            continue
        atoms[atom] = k
    if unknown:
        labels = ", ".join(f"{c}:{rn}{num}{ic}" for (c, num, ic, rn) in list(unknown)[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        warnings.warn(f"{name}: skipped {len(unknown)} residue(s) with unknown names: "
                      f"{labels}{more}", StructureWarning, stacklevel=3)
    keep_res = [r for r in range(len(res_info)) if res_atoms[r]]
    if not keep_res:
        if n_all == 0:
            raise StructureError(f"{name}: no atoms found (empty file or no ATOM/HETATM records)")
        raise StructureError(f"{name}: no protein residues found ({n_all} atom records, none "
                             f"a heavy atom of a standard or known modified amino acid)")
    atom_rows, atom_res, atom_names = [], [], []
    for new, r in enumerate(keep_res):
        for atom, row in res_atoms[r].items():
            atom_rows.append(row)
            atom_res.append(new)
            atom_names.append(atom)
    info = [res_info[r] for r in keep_res]
    segments = np.array([key[0] for key, r in sorted(res_keys.items(), key=lambda kv: kv[1])],
                        dtype=np.int64)[keep_res]
    coords = np.ascontiguousarray(rec.coords[np.asarray(atom_rows, dtype=np.int64)])
    structure = Structure(
        name=name,
        chain_ids=np.array([i[0] for i in info], dtype=object).astype(str),
        resnums=np.array([i[1] for i in info], dtype=np.int64),
        icodes=np.array([i[2] for i in info], dtype=object).astype(str),
        resnames=np.array([i[3] for i in info], dtype=object).astype(str),
        aa_index=np.array([AA_INDEX[i[3]] for i in info], dtype=np.int64),
        coords=coords,
        atom_names=np.array(atom_names, dtype=object).astype(str),
        atom_res=np.array(atom_res, dtype=np.int64),
    )
    structure._cache["segments"] = segments
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        a = int(np.flatnonzero(bad)[0])
        raise StructureError(f"{name}: non-finite coordinates (NaN/inf) for atom "
                             f"{atom_names[a]} of residue {structure.residue_label(atom_res[a])} "
                             f"({int(bad.sum())} atom(s) in all)")
    if duplicates:
        labels = ", ".join(f"{structure.residue_label(keep_res.index(s))}.{a}"
                           for s, a in duplicates[:10] if s in keep_res)
        warnings.warn(f"{name}: {len(duplicates)} repeated atom name(s) within a residue, "
                      f"first kept: {labels}", StructureWarning, stacklevel=3)
    return structure


def read_structure(source, name=None):
    """Read one protein structure.

    Parameters
    ----------
    source : str, os.PathLike or prody.AtomGroup
        A PDB or mmCIF file, optionally gzipped (detected from the content),
        or a ProDy atom group / selection (its current coordinate set).
    name : str, optional
        Name used in messages (default: the path, or the atom group's title).

    Returns
    -------
    Structure

    Raises
    ------
    StructureError
        Unreadable path, empty file, corrupt records, NaN/inf coordinates or no
        protein residue; the message names the file (and line or residue).
    TypeError
        ``source`` is neither a path nor an atom group.
    """
    if isinstance(source, Structure):
        return source
    label = _source_name(source, name)
    if isinstance(source, (str, os.PathLike)):
        text = _open_text(source, label)
        if not text.strip():
            raise StructureError(f"{label}: empty file")
        if _looks_like_mmcif(source, text):
            rec = _parse_mmcif(text, label)
        else:
            rec = _parse_pdb(text, label)
    elif _is_atomgroup(source):
        rec = _from_atomgroup(source, label)
    else:
        raise TypeError(f"cannot read a structure from {type(source).__name__!r}: give a path "
                        f"(PDB/mmCIF, optionally .gz) or a ProDy AtomGroup")
    return _build(rec, label)


def _read_captured(source):
    """read_structure in a worker: (structure or None, exception or None, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return read_structure(source), None, caught
        except (StructureError, TypeError) as exc:
            return None, exc, caught


def read_structures(sources, errors="raise", n_jobs=1):
    """Read several structures; one bad input never loses the others.

    Parameters
    ----------
    sources : iterable of (path or AtomGroup)
    errors : {'raise', 'warn'}
        'raise': raise the first error (after every input was tried);
        'warn': warn (StructureWarning) and put None in place of the failed input.
    n_jobs : int
        joblib workers across structures.

    Returns
    -------
    list of (Structure or None)
    """
    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', got {errors!r}")
    if isinstance(sources, (str, os.PathLike)) or _is_atomgroup(sources):
        sources = [sources]
    sources = list(sources)
    if n_jobs == 1 or len(sources) < 2:
        results = [_read_captured(s) for s in sources]
    else:
        from joblib import Parallel, delayed
        results = Parallel(n_jobs=n_jobs)(delayed(_read_captured)(s) for s in sources)
    return collect_results(results, errors)


def collect_results(results, errors):
    """Re-emit worker warnings and apply the ``errors`` policy to (value, exc, warnings) triples."""
    out, first_error = [], None
    for value, exc, caught in results:
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=3)
        if exc is not None:
            if errors == "warn":
                warnings.warn(f"skipped: {exc}", StructureWarning, stacklevel=3)
            elif first_error is None:
                first_error = exc
        out.append(value)
    if first_error is not None:
        raise first_error
    return out
