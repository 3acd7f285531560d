"""Reading protein structures (PDB, mmCIF, gzipped, ProDy atom groups).

One job: turn a messy structure file into a clean residue/heavy-atom table
(:class:`Structure`).  Files are parsed by `gemmi <https://gemmi.readthedocs.io>`_
(PDB with hybrid-36 numbers, mmCIF); this module checks what gemmi accepts
silently and applies the reading rules (each tested in tests/test_structures.py):

* the format is recognised from the content, not the file name: mmCIF when the
  first data line starts with ``data_``, PDB otherwise (also for CASP models
  without extension); gzip is recognised from its magic bytes;
* hydrogens (and deuterium) are ignored: element H/D, or an atom name whose
  first letter after leading digits is H or D (no heavy atom of an amino acid
  is so named);
* alternate locations: per residue, atoms without altloc and those of the
  first altloc label met in that residue are kept, the others dropped; a
  residue of another name under the same number whose atoms all belong to
  other altloc labels (microheterogeneity) is dropped;
* insertion codes make distinct residues (12, 12A, 12B ...);
* a residue is a run of consecutive atom records with the same chain, number,
  insertion code and name: two consecutive residues of different names under
  one number stay two residues (with a warning); a residue number that comes
  back after other residues of the same chain segment is an error (it would
  otherwise merge two residues into one);
* modified residues are mapped to their parent amino acid (MSE->MET, SEP->SER,
  HID->HIS ... :data:`estimators.atom_types.RESIDUE_ALIASES`), other HETATM
  residues (ligands, ions) and waters are ignored;
* ATOM records of unknown residue names (nucleotides, caps) are skipped with a
  warning; several chains are kept; TER records separate segments, so residues
  without a chain id on both sides of a TER are kept apart even when their
  numbers overlap;
* only the first model of a multi-model file is read (PDB: up to the first
  ``ENDMDL``/``END``);
* heavy-atom names are normalised to PDB v3 (OT1->O, OT2->OXT, ...); a repeated
  atom name within a residue keeps the first occurrence (with a warning);
* residues left without heavy atoms are dropped.

Bad input raises :class:`StructureError` naming the file (and the line or
residue): unreadable path, empty file, corrupt ATOM lines (too short, corrupt
coordinates or residue number), NaN/inf coordinates, a repeated residue, no
protein residue.
"""
from __future__ import annotations

import gzip
import zlib
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
            has_frame = (lu > 0.1) & (lv > 0.1) & (sine_between(u, v) > 1e-2)
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


def sine_between(u, v):
    """Sine of the angle between the vectors ``u`` and ``v`` along the last axis of (..., 3)
    arrays: ``|u x v| / (|u| |v|)`` (NaN where an input is NaN, 0 for a zero vector)."""
    w = cross(u, v)
    return np.sqrt(np.einsum("...k,...k->...", w, w)) / np.maximum(
        np.sqrt(np.einsum("...k,...k->...", u, u) * np.einsum("...k,...k->...", v, v)), 1e-300)


# ----------------------------------------------------------------------------- reading

_HYDROGEN_ELEMENTS = frozenset({"H", "D"})


def _is_hydrogen(name, element):
    """Hydrogen by element, or by name when the element is not H/D."""
    if element in _HYDROGEN_ELEMENTS:
        return True
    stripped = name.lstrip("0123456789")
    return stripped[:1] in ("H", "D")


def _read_bytes(path, name):
    """Bytes of ``path`` (gunzipped when gzip magic); StructureError when unreadable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (OSError, TypeError) as exc:
        raise StructureError(f"{name}: cannot read file ({exc.__class__.__name__}: {exc})") from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise StructureError(f"{name}: corrupt gzip file ({exc})") from exc
    return data


def _is_mmcif(data):
    """mmCIF when the first line that is neither blank nor a comment starts with ``data_``."""
    for line in data[:4096].splitlines():
        s = line.strip()
        if s and not s.startswith(b"#"):
            return s.startswith(b"data_")
    return False


class _Residue:
    """One residue as read: identity and the range [start, stop) of its atoms in :class:`_Atoms`."""

    __slots__ = ("segment", "chain", "resnum", "icode", "resname", "hetatm", "where",
                 "start", "stop")

    def __init__(self, segment, chain, resnum, icode, resname, hetatm, where, start, stop=None):
        self.segment, self.chain, self.resnum, self.icode = segment, chain, resnum, icode
        self.resname, self.hetatm, self.where = resname, hetatm, where
        self.start, self.stop = start, stop

    def label(self):
        return f"{self.chain}:{self.resname}{self.resnum}{self.icode}"


class _Atoms:
    """Atoms of the amino-acid residues as read, flat, in file order.

    Hydrogens are included unless the reader dropped them already (gemmi does for PDB).

    ``altlocs``: the label, or '', ' ' or '\0' when none; ``hflags``: the element is H or D;
    ``coords``: x, y, z of each atom, one after the other (a flat list).
    """

    __slots__ = ("residues", "names", "altlocs", "hflags", "coords", "n_all", "plain")

    def __init__(self):
        self.residues, self.names, self.altlocs, self.hflags, self.coords = [], [], [], [], []
        self.n_all = 0          # every atom record of the first model (waters, ligands ...)
        self.plain = None       # True: no altloc label and no H/D flag (None: not known)


def _wanted(resname):
    """Parent amino acid of a residue name, None for anything else (waters included)."""
    if resname in AA_INDEX:
        return resname
    return RESIDUE_ALIASES.get(resname)


# --- PDB: gemmi reads; a check of the atom records first catches what gemmi accepts silently
# (gemmi reads a corrupt number as its valid prefix and merges a residue that comes back later
# in its chain into the first one)

_HYBRID36 = re.compile(r"^(?:[A-Z][A-Z0-9]{3}|[a-z][a-z0-9]{3})$")


def _first_model(data):
    """The bytes of the first model: up to the first END/ENDMDL or the second MODEL record."""
    end = data.find(b"\nEND")
    end = len(data) if end < 0 else end
    if data.startswith(b"END"):
        end = 0
    first = 0 if data.startswith(b"MODEL ") else data.find(b"\nMODEL ", 0, end)
    if first >= 0:
        second = data.find(b"\nMODEL ", first + 1, end)
        if second >= 0:
            end = second
    return data[:end]


def _valid_resnum(field):
    """A PDB residue number field: a decimal integer or a hybrid-36 number."""
    try:
        int(field)
        return True
    except ValueError:
        return bool(_HYBRID36.match(field))


def _numbers_valid(fields, dot):
    """True when every row of ``fields`` (uint8, shape (n, 8) or (n, 4)) reads as a number.

    Right-justified numbers (leading spaces, optional '-', digits, with exactly one '.' when
    ``dot``) are tested on all rows at once, each row's byte flags packed in one little-endian
    word; the other rows are converted one by one (``float`` / residue-number rules).
    """
    fields = np.ascontiguousarray(fields)
    word = "<u8" if fields.shape[1] == 8 else "<u4"
    space = (fields == 32).view(word).ravel()
    points = (fields == 46).view(word).ravel()
    minus = (fields == 45).view(word).ravel()
    digit = ((fields >= 48) & (fields <= 57)).view(word).ravel()
    one = space.dtype.type(1)
    after_spaces = ((space << space.dtype.type(8)) | one) - space
    ones = space * space.dtype.type(255)                   # 0xFF in each leading-space byte
    full = space | minus | digit | points if dot else space | minus | digit
    good = (full == _ALL_ONES[word]) & (digit != 0) & ((ones & (ones + one)) == 0)
    good &= (minus == 0) | (minus == after_spaces)
    if dot:
        good &= (points != 0) & ((points & (points - one)) == 0)
    if good.all():
        return True
    if dot:
        try:
            fields[~good].view("S8").astype(np.float64)
            return True
        except ValueError:
            return False
    return all(_valid_resnum(bytes(f).decode("latin-1")) for f in fields[~good])


_ALL_ONES = {"<u8": np.uint64(0x0101010101010101), "<u4": np.uint32(0x01010101)}
_ATOM_WORD = np.uint64(int.from_bytes(b"ATOM  ", "little"))
_HETATM_WORD = np.uint64(int.from_bytes(b"HETATM", "little"))
_TER_WORD = np.uint64(int.from_bytes(b"TER", "little"))
# residue key, columns 18-27 (name, chain, number, insertion code), within the 16 bytes from
# column 17: the altloc (first byte) and columns 28-32 are masked out
_KEY_MASKS = np.array([0xFFFFFFFFFFFFFF00, 0x0000000000FFFFFF], dtype=np.uint64)


def _check_pdb(region, name):
    """Check the ATOM/HETATM records of the first model (``region``, bytes).

    Vectorised over all lines: coordinates that are not numbers, residue numbers that are
    neither decimal nor hybrid-36, and an amino-acid residue that comes back after other
    residues of its chain segment (TER records start new segments) send the file to
    :func:`_diagnose_pdb`, which goes line by line and raises StructureError naming the line.
    """
    buf = np.frombuffer(region, dtype=np.uint8)
    if not len(buf):
        return False
    padded = np.concatenate((buf, np.full(64, 10, dtype=np.uint8)))
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    head = padded[starts[:, None] + np.arange(8)].view("<u8").ravel()
    head6 = head & np.uint64(0xFFFFFFFFFFFF)
    is_atom = (head6 == _ATOM_WORD) | (head6 == _HETATM_WORD)
    if not is_atom.any():
        return False
    atom_starts = starts[is_atom]
    if (ends[is_atom] - atom_starts < 54).any():
        _diagnose_pdb(region, name)
        return True
    segment = np.searchsorted(starts[(head & np.uint64(0xFFFFFF)) == _TER_WORD], atom_starts)
    keys = padded[atom_starts[:, None] + np.arange(16, 32)].view("<u8") & _KEY_MASKS
    new = np.ones(len(keys), dtype=bool)
    new[1:] = (keys[1:] != keys[:-1]).any(axis=1) | (segment[1:] != segment[:-1])
    run_starts = atom_starts[new]
    has_altlocs = bool((padded[atom_starts + 16] != 32).any())
    ok = (_numbers_valid(padded[atom_starts[:, None] + np.arange(30, 54)].reshape(-1, 8), True)
          and _numbers_valid(padded[run_starts[:, None] + np.arange(22, 26)], False))
    if ok:
        runs = list(zip(segment[new].tolist(), keys[new, 0].tolist(), keys[new, 1].tolist()))
        if len(set(runs)) != len(runs):
            seen = set()
            for run, start in zip(runs, run_starts.tolist()):
                resname = region[start + 17:start + 21].decode("latin-1").strip()
                if run in seen and _wanted(resname) is not None:
                    ok = False
                    break
                seen.add(run)
    if not ok:
        _diagnose_pdb(region, name)
    return has_altlocs


def _diagnose_pdb(region, name):
    """Line-by-line pass that names the first bad ATOM/HETATM record (run when the check fails)."""
    text = region.decode("utf-8", errors="replace")
    segment, prev, first_line = 0, None, {}
    for lineno, line in enumerate(text.splitlines(), 1):
        head = line[:6]
        if line.startswith("TER"):
            segment += 1
            prev = None
            continue
        if not (head in ("ATOM  ", "HETATM") or head.rstrip() == "ATOM"):
            continue
        if len(line) < 54:
            raise StructureError(f"{name}: line {lineno}: corrupt {head.strip()} record "
                                 f"(too short for coordinates): {line.rstrip()!r}")
        if not _valid_resnum(line[22:26]):
            raise StructureError(f"{name}: line {lineno}: corrupt residue number "
                                 f"{line[22:26]!r}: {line.rstrip()!r}")
        x, y, z = line[30:38], line[38:46], line[46:54]
        try:
            float(x), float(y), float(z)
        except ValueError:
            raise StructureError(f"{name}: line {lineno}: corrupt coordinates "
                                 f"{x!r} {y!r} {z!r}") from None
        key = (segment, line[17:27])
        if key != prev:
            resname = line[17:21].strip()
            if key in first_line and _wanted(resname) is not None:
                label = f"{line[21].strip()}:{resname}{line[22:26].strip()}{line[26].strip()}"
                raise StructureError(
                    f"{name}: line {lineno}: residue {label} comes back after other residues "
                    f"(first seen at line {first_line[key]}); residue numbers must not repeat "
                    f"within a chain")
            first_line.setdefault(key, lineno)
            prev = key


def _atoms_from_pdb(data, name):
    """Amino-acid atoms of the first model of PDB bytes, read by gemmi."""
    import gemmi
    region = _first_model(data)
    try:
        st = gemmi.read_pdb_string(region, split_chain_on_ter=True)
    except (RuntimeError, ValueError) as exc:
        _diagnose_pdb(region, name)                 # names the line where it can
        raise StructureError(f"{name}: {str(exc).strip()}") from None
    has_altlocs = _check_pdb(region, name)
    out = _Atoms()
    if len(st) == 0:
        return out
    names, altlocs, hflags, coords = out.names, out.altlocs, out.hflags, out.coords
    model = st[0]
    out.n_all = model.count_atom_sites()
    model.remove_hydrogens()                            # element H or D, in C++
    for segment, chain in enumerate(model):
        chain_id = chain.name
        for r in chain:
            resname = r.name
            het = r.het_flag == "H"
            if _wanted(resname) is None:
                if not het and resname not in WATER_NAMES:      # reported as unknown
                    out.residues.append(_Residue(segment, chain_id, r.seqid.num,
                                                 r.seqid.icode.strip(), resname, het, None,
                                                 len(names), len(names)))
                continue
            seqid = r.seqid
            start = len(names)
            if has_altlocs:
                for a in r:
                    names.append(a.name)
                    altlocs.append(a.altloc)
                    coords.extend(a.pos.tolist())
            else:
                for a in r:
                    names.append(a.name)
                    coords.extend(a.pos.tolist())
            out.residues.append(_Residue(segment, chain_id, seqid.num, seqid.icode.strip(),
                                         resname, het, None, start, len(names)))
    hflags.extend([False] * len(names))
    if not has_altlocs:
        altlocs.extend([""] * len(names))
    out.plain = not has_altlocs
    return out


# --- mmCIF: gemmi's CIF reader gives the _atom_site columns

def _atoms_from_mmcif(data, name):
    """Amino-acid atoms of the first model of the ``_atom_site`` loop of mmCIF bytes."""
    from gemmi import cif
    try:
        doc = cif.read_string(data.decode("utf-8", errors="replace"))
    except (RuntimeError, ValueError) as exc:
        raise StructureError(f"{name}: corrupt mmCIF ({str(exc).strip()})") from None
    site = doc[0].get_mmcif_category("_atom_site.") if len(doc) else {}
    out = _Atoms()
    if not site:
        return out
    for need in ("Cartn_x", "Cartn_y", "Cartn_z"):
        if need not in site:
            raise StructureError(f"{name}: mmCIF _atom_site has no {need} column")
    n = len(site["Cartn_x"])

    def get(*candidates, default=""):
        for k in candidates:
            if k in site:
                return ["" if v is None or v is False else str(v) for v in site[k]]
        return [default] * n

    models = get("pdbx_PDB_model_num", default="1")
    first = models[0] if n else "1"
    rows = [i for i in range(n) if models[i] == first]
    group, names = get("group_PDB", default="ATOM"), get("auth_atom_id", "label_atom_id")
    alts, resn = get("label_alt_id"), get("auth_comp_id", "label_comp_id")
    chains, seqs = get("auth_asym_id", "label_asym_id"), get("auth_seq_id", "label_seq_id")
    icodes, elems, entity = get("pdbx_PDB_ins_code"), get("type_symbol"), get("label_asym_id")
    try:
        xyz = np.array([[site["Cartn_x"][i], site["Cartn_y"][i], site["Cartn_z"][i]]
                        for i in rows], dtype=np.float64).reshape(-1, 3)
    except (ValueError, TypeError):
        raise StructureError(f"{name}: corrupt coordinates in mmCIF _atom_site") from None
    out.n_all = len(rows)
    segment_ids, prev = {}, None
    for j, i in enumerate(rows):
        try:
            resnum = int(seqs[i])
        except ValueError:
            raise StructureError(f"{name}: _atom_site row {i + 1}: corrupt residue number "
                                 f"{seqs[i]!r}") from None
        segment = segment_ids.setdefault(entity[i], len(segment_ids))
        _append_atom(out, (segment, chains[i], resnum, icodes[i], resn[i]), prev,
                     group[i] == "HETATM", f"_atom_site row {i + 1}",
                     names[i], alts[i], elems[i].upper() in _HYDROGEN_ELEMENTS, xyz[j])
        prev = (segment, chains[i], resnum, icodes[i], resn[i])
    return out


def _append_atom(out, key, prev, hetatm, where, name, altloc, hflag, xyz):
    """Add one atom record (of any residue) to ``out``; a change of ``key`` starts a residue."""
    if key != prev:
        if out.residues:
            out.residues[-1].stop = len(out.names)
        out.residues.append(_Residue(*key, hetatm, where, len(out.names), len(out.names)))
    res = out.residues[-1]
    if _wanted(res.resname) is not None:
        out.names.append(name)
        out.altlocs.append(altloc)
        out.hflags.append(hflag)
        out.coords.extend(xyz)
    res.stop = len(out.names)


# --- ProDy atom groups

def _atoms_from_atomgroup(ag, name):
    """Amino-acid atoms of a ProDy AtomGroup / Selection (current coordinate set)."""
    n = ag.numAtoms()

    def col(getter, default=""):
        fn = getattr(ag, getter, None)
        vals = fn() if fn is not None else None
        if vals is None:
            return [default] * n
        return [v.strip() if isinstance(v, str) else v for v in vals.tolist()]

    names, resnames, chains = col("getNames"), col("getResnames"), col("getChids")
    altlocs, icodes = col("getAltlocs"), col("getIcodes")
    elements = [e.upper() for e in col("getElements")]
    resnums = [int(v) for v in col("getResnums", 0)]
    try:
        het = ag.getFlags("hetatm")
    except Exception:
        het = None
    hetatm = [False] * n if het is None else [bool(h) for h in het]
    try:
        ter = ag.getFlags("pdbter")          # set on the last atom before each TER record
    except Exception:
        ter = None
    segments = ([0] * n if ter is None or n == 0
                else np.concatenate([[0], np.cumsum(ter[:-1])]).tolist())
    coords = ag.getCoords()
    coords = np.zeros((0, 3)) if coords is None else np.asarray(coords, dtype=np.float64)
    out = _Atoms()
    out.n_all = n
    prev = None
    for k in range(n):
        key = (segments[k], chains[k], resnums[k], icodes[k], resnames[k])
        _append_atom(out, key, prev, hetatm[k], f"atom {k + 1}", names[k], altlocs[k],
                     elements[k] in _HYDROGEN_ELEMENTS, coords[k])
        prev = key
    return out


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


# --- the reading rules, common to every source

_HEAVY = {}       # (parent, atom names as read) -> (PDB v3 names kept, their offsets, repeated names)
_HEAVY_MAX = 100_000


def _heavy_atoms(parent, raw_names):
    """Heavy atoms of a residue without altloc labels or element-marked hydrogens.

    Returns (PDB v3 names, offsets into ``raw_names``, names repeated and dropped): names
    that read as hydrogens go, the first of a repeated name stays.  Memoised: residues of one
    kind mostly list the same atoms.
    """
    key = (parent, raw_names)
    out = _HEAVY.get(key)
    if out is None:
        kept, offsets, repeated = [], [], []
        for offset, raw in enumerate(raw_names):
            if _is_hydrogen(raw, ""):
                continue
            atom = canonical_atom_name(parent, raw)
            if atom in kept:
                repeated.append(atom)
                continue
            kept.append(atom)
            offsets.append(offset)
        if len(_HEAVY) >= _HEAVY_MAX:
            _HEAVY.clear()
        out = _HEAVY[key] = (tuple(kept), tuple(offsets), tuple(repeated))
    return out


def _heavy_atoms_alt(parent, res, atoms):
    """Heavy atoms of a residue with altloc labels or element flags (the general rule).

    Returns (PDB v3 names, atom rows, repeated names, first altloc label, labels met ('' for
    atoms without one)).
    """
    alt_first, names, rows, repeated, alts_seen = "", [], [], [], set()
    for k in range(res.start, res.stop):
        raw = atoms.names[k]
        if _is_hydrogen(raw, "H" if atoms.hflags[k] else ""):
            continue
        alt = atoms.altlocs[k]
        if alt > " ":
            alts_seen.add(alt)
            if not alt_first:
                alt_first = alt
            elif alt != alt_first:
                continue
        else:
            alts_seen.add("")
        atom = canonical_atom_name(parent, raw)
        if atom in names:
            repeated.append(atom)
            continue
        names.append(atom)
        rows.append(k)
    return names, rows, repeated, alt_first, alts_seen


def _build(atoms, name):
    """Apply the reading rules to the atoms as read; return a Structure."""
    kept = []              # (residue, parent name, PDB v3 names, atom rows, first altloc)
    unknown, duplicates, shared_numbers = [], [], []
    seen = {}              # (segment, chain, resnum, icode) -> index in kept
    plain = atoms.plain
    if plain is None:
        plain = not any(atoms.hflags) and not any(a > " " for a in atoms.altlocs)
    for res in atoms.residues:
        resname = res.resname
        if resname in WATER_NAMES:
            continue
        parent = _wanted(resname)
        if parent is None:
            if not res.hetatm:
                unknown.append(res)
            continue
        if plain:
            names, offsets, repeated = _heavy_atoms(parent, tuple(atoms.names[res.start:res.stop]))
            rows = [res.start + o for o in offsets]
            alt_first, alts_seen = "", {""}
        else:
            names, rows, repeated, alt_first, alts_seen = _heavy_atoms_alt(parent, res, atoms)
        duplicates.extend((len(kept), atom) for atom in repeated)
        number = (res.segment, res.chain, res.resnum, res.icode)
        if number in seen:
            previous = kept[-1][0] if kept else None
            if previous is None or (previous.segment, previous.chain, previous.resnum,
                                    previous.icode) != number:
                first = kept[seen[number]][0]
                where = f" ({res.where}; first at {first.where})" if res.where else ""
                raise StructureError(
                    f"{name}: residue {res.label()} comes back after other residues{where}; "
                    f"residue numbers must not repeat within a chain")
            prev_alt = kept[-1][4]
            if prev_alt and alts_seen and "" not in alts_seen and prev_alt not in alts_seen:
                continue           # microheterogeneity: the residue of another altloc, dropped
            shared_numbers.append((previous, res))
        elif rows:
            seen[number] = len(kept)
        if rows:
            kept.append((res, parent, names, rows, alt_first))
    if unknown:
        labels = ", ".join(r.label() for r in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        warnings.warn(f"{name}: skipped {len(unknown)} residue(s) with unknown names: "
                      f"{labels}{more}", StructureWarning, stacklevel=3)
    if shared_numbers:
        labels = ", ".join(f"{a.label()} / {b.label()}" for a, b in shared_numbers[:10])
        warnings.warn(f"{name}: {len(shared_numbers)} residue number(s) shared by two "
                      f"consecutive residues, read as distinct residues: {labels}",
                      StructureWarning, stacklevel=3)
    if not kept:
        if atoms.n_all == 0:
            raise StructureError(f"{name}: no atoms found (empty file or no ATOM/HETATM records)")
        raise StructureError(f"{name}: no protein residues found ({atoms.n_all} atom records, "
                             f"none a heavy atom of a standard or known modified amino acid)")
    atom_res = np.repeat(np.arange(len(kept), dtype=np.int64), [len(k[2]) for k in kept])
    atom_names = [atom for k in kept for atom in k[2]]
    rows = np.array([row for k in kept for row in k[3]], dtype=np.int64)
    coords = np.array(atoms.coords, dtype=np.float64).reshape(-1, 3)[rows]
    structure = Structure(
        name=name,
        chain_ids=np.array([k[0].chain for k in kept], dtype=object).astype(str),
        resnums=np.array([k[0].resnum for k in kept], dtype=np.int64),
        icodes=np.array([k[0].icode for k in kept], dtype=object).astype(str),
        resnames=np.array([k[1] for k in kept], dtype=object).astype(str),
        aa_index=np.array([AA_INDEX[k[1]] for k in kept], dtype=np.int64),
        coords=coords,
        atom_names=np.array(atom_names, dtype=object).astype(str),
        atom_res=atom_res,
    )
    structure._cache["segments"] = np.array([k[0].segment for k in kept], dtype=np.int64)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        a = int(np.flatnonzero(bad)[0])
        raise StructureError(f"{name}: non-finite coordinates (NaN/inf) for atom "
                             f"{atom_names[a]} of residue {structure.residue_label(atom_res[a])} "
                             f"({int(bad.sum())} atom(s) in all)")
    if duplicates:
        labels = ", ".join(f"{structure.residue_label(s)}.{a}" for s, a in duplicates[:10])
        warnings.warn(f"{name}: {len(duplicates)} repeated atom name(s) within a residue, "
                      f"first kept: {labels}", StructureWarning, stacklevel=3)
    return structure


def read_structure(source, name=None):
    """Read one protein structure.

    Parameters
    ----------
    source : str, os.PathLike or prody.AtomGroup
        A PDB or mmCIF file, optionally gzipped (format and compression are
        recognised from the content, so files without extension read too),
        or a ProDy atom group / selection (its current coordinate set).
    name : str, optional
        Name used in messages (default: the path, or the atom group's title).

    Returns
    -------
    Structure

    Raises
    ------
    StructureError
        Unreadable path, empty file, corrupt records, NaN/inf coordinates, a
        repeated residue or no protein residue; the message names the file (and
        line or residue).
    TypeError
        ``source`` is neither a path nor an atom group.
    """
    if isinstance(source, Structure):
        return source
    label = _source_name(source, name)
    if isinstance(source, (str, os.PathLike)):
        data = _read_bytes(source, label)
        if not data.strip():
            raise StructureError(f"{label}: empty file")
        atoms = _atoms_from_mmcif(data, label) if _is_mmcif(data) else _atoms_from_pdb(data, label)
    elif _is_atomgroup(source):
        atoms = _atoms_from_atomgroup(source, label)
    else:
        raise TypeError(f"cannot read a structure from {type(source).__name__!r}: give a path "
                        f"(PDB/mmCIF, optionally .gz) or a ProDy AtomGroup")
    return _build(atoms, label)


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
