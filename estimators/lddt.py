"""All-atom lDDT (local Distance Difference Test), as OpenStructure's ``lddt``.

lDDT (Mariani et al., Bioinformatics 2013) is the per-residue quality label
that 6DCNN is trained on and evaluated with (paper, "Datasets" and
"Results": the network predicts per-residue lDDT, the global score is their
mean).  This module computes it exactly as the ``lddt`` executable of
OpenStructure 2.x (the classic implementation used by CASP), so that labels
of generated decoys agree with the CASP ground truth:

* Reference distances: every pair of heavy atoms of the REFERENCE within the
  inclusion radius (15 A, inclusive), in the same chain, belonging to
  residues with different residue numbers.  OpenStructure stores pairs per
  residue but only evaluates a pair from its higher-numbered residue, so
  intra-residue pairs (and pairs between residues that share a number and
  differ only by insertion code) are never scored; every remaining
  unordered pair is scored once.
* A pair is conserved at threshold t when
  ``d_ref - t <= d_model <= d_ref + t``; thresholds 0.5, 1, 2 and 4 A.
  An atom missing in the model (or a residue without counterpart) makes the
  pair non-conserved at every threshold.
* Per-residue lDDT of residue i = conserved / checked over the pairs that
  involve i (counted for both residues of a pair) and all thresholds; global
  lDDT = conserved / checked over all pairs (each pair once).
* Symmetric side chains (ASP OD1/OD2, GLU OE1/OE2, PHE and TYR CD1/CD2 with
  CE1/CE2, ARG NH1/NH2, VAL CG1/CG2, LEU CD1/CD2): before scoring, for each
  model residue of these types, OpenStructure compares the number of
  conserved distances (all thresholds) from the residue's atoms to
  non-symmetric atoms of other residues, with the model's naming and with
  the swapped naming, and renames the model's atoms when swapping is
  strictly better.  We do the same.

Optional stereochemical clash filter (``clash_filter=True``), as OpenStructure's ``lddt -f``
does with the non-bonded table of its ``stereo_chemical_props.txt``: heavy atoms of different
residues (any chains of the model) that are not covalently bonded (inter-residue bonds: C(i)-N(i+1)
of neighbours in a chain and SG-SG, where their length lies in OpenStructure's bond-feasibility
window, 0.81-1.99 A for C-N) clash when closer than the element
pair's minimum distance minus its tolerance (:data:`CLASH_DISTANCES`, e.g. C-C 3.4 - 1.5 = 1.9 A,
N-O 3.07 - 1.5 = 1.57 A). A clashing backbone atom (N, CA, C, O) removes its whole residue from the
model, a clashing side-chain atom removes the residue's side chain (every atom but N, CA, C, O);
removed atoms count as missing, so their distances are non-conserved. Overlaid copies of a chain
and crushed models thereby score low. (``lddt -f`` also removes residues with bond-length or angle
outliers; that check is not done here.)

Differences from the executable, by design: we score every chain (the
executable scores the first chain only; ``inter_chain=False`` keeps pairs
within chains as it does), and non-standard residues mapped by
:func:`estimators.structures.read_structure` (e.g. MSE -> MET) are scored
like their parent.  Hydrogens are never scored (the reader drops them).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["LDDTResult", "lddt", "lddt_from_arrays", "needleman_wunsch", "clashing_atoms",
           "THRESHOLDS", "INCLUSION_RADIUS", "SYMMETRIC_ATOMS", "CLASH_DISTANCES"]

#: Distance-difference thresholds in Angstrom.
THRESHOLDS = (0.5, 1.0, 2.0, 4.0)
#: Inclusion radius in Angstrom, measured in the reference.
INCLUSION_RADIUS = 15.0

#: Residue -> pairs of atom names whose labels are chemically equivalent.
SYMMETRIC_ATOMS = {
    "ASP": (("OD1", "OD2"),),
    "GLU": (("OE1", "OE2"),),
    "PHE": (("CD1", "CD2"), ("CE1", "CE2")),
    "TYR": (("CD1", "CD2"), ("CE1", "CE2")),
    "ARG": (("NH1", "NH2"),),
    "VAL": (("CG1", "CG2"),),
    "LEU": (("CD1", "CD2"),),
}

#: Non-bonded clash distances (Angstrom): element pair -> (minimum distance, tolerance), the
#: "Non-bonded distance" table of OpenStructure's ``stereo_chemical_props.txt``; atoms clash when
#: closer than minimum - tolerance.
CLASH_DISTANCES = {
    ("C", "C"): (3.4, 1.5), ("C", "N"): (3.25, 1.5), ("C", "S"): (3.5, 1.5),
    ("C", "O"): (3.22, 1.5), ("N", "N"): (3.1, 1.5), ("N", "S"): (3.35, 1.5),
    ("N", "O"): (3.07, 1.5), ("O", "S"): (3.32, 1.5), ("O", "O"): (3.04, 1.5),
    ("S", "S"): (2.03, 1.0),
}
_BACKBONE = ("N", "CA", "C", "O")
# bond-feasibility window of OpenStructure's connectivity: d in [1/4, sqrt(6)/4] x (r1 + r2), with
# van der Waals radii C 1.7, N 1.55, S 1.8 A
_BOND_LOW, _BOND_HIGH = 0.25, 6 ** 0.5 / 4
_VDW_CN, _VDW_SS = 1.7 + 1.55, 1.8 + 1.8

_ONE_LETTER = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q",
    "GLU": "E", "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K",
    "MET": "M", "PHE": "F", "PRO": "P", "SER": "S", "THR": "T", "TRP": "W",
    "TYR": "Y", "VAL": "V",
}


def _swap_table():
    table = {}
    for resname, pairs in SYMMETRIC_ATOMS.items():
        for a, b in pairs:
            table[(resname, a)] = b
            table[(resname, b)] = a
    return table


_SWAPPED_NAME = _swap_table()


@dataclass
class LDDTResult:
    """Result of :func:`lddt`.

    Attributes
    ----------
    global_score : float
        Conserved / checked distances over all reference pairs and
        thresholds (NaN when the reference has no pair).
    per_residue : ndarray, shape (R_model,)
        lDDT of each MODEL residue (NaN where the residue has no reference
        counterpart or its reference residue has no pair).
    n_conserved, n_checked : int
        Global counts, summed over the thresholds.
    per_residue_conserved, per_residue_checked : ndarray of int, (R_model,)
        Per-residue counts summed over thresholds (0 where NaN).
    reference_index : ndarray of int, (R_model,)
        Reference residue matched to each model residue, -1 when none.
    swapped : ndarray of bool, (R_model,)
        Model residues whose symmetric atoms were renamed.
    coverage : float
        Fraction of reference residues that have a model counterpart.
    thresholds, inclusion_radius
        The parameters used.
    clash_removed : ndarray of bool, (R_model,)
        Model residues whose whole residue or side chain the clash filter removed (all False
        without ``clash_filter``).
    """

    global_score: float
    per_residue: np.ndarray
    n_conserved: int
    n_checked: int
    per_residue_conserved: np.ndarray
    per_residue_checked: np.ndarray
    reference_index: np.ndarray
    swapped: np.ndarray
    coverage: float
    thresholds: tuple = field(default=THRESHOLDS)
    inclusion_radius: float = INCLUSION_RADIUS
    clash_removed: np.ndarray | None = None


# --------------------------------------------------------------------------
# core on arrays
# --------------------------------------------------------------------------
def _n_passed(d_model, d_ref, thresholds):
    """Number of thresholds t with d_ref - t <= d_model <= d_ref + t (NaN -> 0)."""
    diff = np.abs(d_model - d_ref)
    passed = np.zeros(diff.shape, dtype=np.int64)
    for t in thresholds:                   # NaN <= t is False: a missing atom passes none
        passed += diff <= t
    return passed


def _row_norms(d):
    """Euclidean norm of each row of ``d`` (P, 3), summed in the order of
    ``np.linalg.norm(d, axis=1)`` (the same numbers, without its temporaries)."""
    return np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])


#: Reference pairs of the last few references: the labels of many models of one native share them.
_PAIR_CACHE = {}
_PAIR_CACHE_SIZE = 4
_PAIR_CACHE_LOCK = threading.Lock()


def _reference_pairs(ref_coords, ref_atom_res, ref_res_num, ref_res_chain, inclusion_radius,
                     inter_chain):
    """(a, b, ra, rb, d_ref): the scored atom pairs of a reference, their residues and distances."""
    import hashlib
    digest = hashlib.blake2b(digest_size=16)
    for array in (ref_coords, ref_atom_res, ref_res_num, ref_res_chain):
        digest.update(np.ascontiguousarray(array).data)
        digest.update(repr(array.shape).encode())
    key = (digest.hexdigest(), float(inclusion_radius), bool(inter_chain))
    with _PAIR_CACHE_LOCK:
        hit = _PAIR_CACHE.get(key)
    if hit is None:
        pairs = cKDTree(ref_coords).query_pairs(inclusion_radius, output_type="ndarray")
        if pairs.size == 0:
            pairs = np.zeros((0, 2), dtype=np.int64)
        a, b = pairs[:, 0], pairs[:, 1]
        ra, rb = ref_atom_res[a], ref_atom_res[b]
        same_chain = ref_res_chain[ra] == ref_res_chain[rb]
        keep = (same_chain & (ref_res_num[ra] != ref_res_num[rb])) | (~same_chain & inter_chain)
        a, b, ra, rb = a[keep], b[keep], ra[keep], rb[keep]
        hit = (a, b, ra, rb, _row_norms(ref_coords[a] - ref_coords[b]))
        for array in hit:
            array.flags.writeable = False
    with _PAIR_CACHE_LOCK:                  # most recently used last; the oldest goes first
        _PAIR_CACHE.pop(key, None)
        _PAIR_CACHE[key] = hit
        while len(_PAIR_CACHE) > _PAIR_CACHE_SIZE:
            _PAIR_CACHE.pop(next(iter(_PAIR_CACHE)))
    return hit


def lddt_from_arrays(ref_coords, ref_atom_res, ref_res_num, ref_res_chain,
                     model_coords, model_coords_swapped, ref_atom_symmetric,
                     swap_candidate, *, thresholds=THRESHOLDS,
                     inclusion_radius=INCLUSION_RADIUS, inter_chain=False):
    """lDDT counts on reference-indexed arrays (the numeric core of :func:`lddt`).

    Parameters
    ----------
    ref_coords : (A, 3) float
        Reference heavy-atom coordinates.
    ref_atom_res : (A,) int
        Reference residue of each atom (0..R-1).
    ref_res_num : (R,) int
        Residue number (without insertion code) of each reference residue;
        pairs within a chain between equal numbers are not scored.
    ref_res_chain : (R,) int
        Chain index of each reference residue.
    model_coords : (A, 3) float
        Model coordinates of the atom with the same residue and name as each
        reference atom, NaN where the model lacks it.
    model_coords_swapped : (A, 3) float
        Model coordinates of the symmetry partner's name (equal to
        ``model_coords`` for non-symmetric atoms).
    ref_atom_symmetric : (A,) bool
        Atom is one of a symmetric pair in its reference residue.
    swap_candidate : (R,) bool
        Residue whose model naming may be swapped (model residue exists and
        is of a symmetric type).
    thresholds : sequence of float
    inclusion_radius : float
    inter_chain : bool
        Also score pairs between chains (OpenStructure's ``lddt`` does not).

    Returns
    -------
    conserved : (R,) int
        Conserved distances per reference residue (summed over thresholds).
    checked : (R,) int
        Checked distances per reference residue.
    n_conserved, n_checked : int
        Global counts (each pair once).
    swapped : (R,) bool
        Residues whose naming was swapped.
    """
    ref_coords = np.asarray(ref_coords, dtype=np.float64)
    ref_atom_res = np.asarray(ref_atom_res, dtype=np.int64)
    ref_res_num = np.asarray(ref_res_num, dtype=np.int64)
    ref_res_chain = np.asarray(ref_res_chain, dtype=np.int64)
    model_coords = np.array(model_coords, dtype=np.float64)
    model_coords_swapped = np.asarray(model_coords_swapped, dtype=np.float64)
    ref_atom_symmetric = np.asarray(ref_atom_symmetric, dtype=bool)
    swap_candidate = np.asarray(swap_candidate, dtype=bool)
    n_res = ref_res_num.shape[0]
    n_thr = len(thresholds)
    if ref_coords.ndim != 2 or ref_coords.shape[1] != 3:
        raise ValueError(f"ref_coords must be (A, 3), got {ref_coords.shape}")
    if model_coords.shape != ref_coords.shape or model_coords_swapped.shape != ref_coords.shape:
        raise ValueError("model_coords and model_coords_swapped must have the shape of ref_coords")
    if not np.all(np.isfinite(ref_coords)):
        raise ValueError("reference coordinates must be finite")

    a, b, ra, rb, d_ref = _reference_pairs(ref_coords, ref_atom_res, ref_res_num, ref_res_chain,
                                           inclusion_radius, inter_chain)

    # symmetric naming: per candidate residue, count conserved distances from its
    # atoms to non-symmetric atoms of other residues, with both namings
    swapped = np.zeros(n_res, dtype=bool)
    if np.any(swap_candidate):
        plain = np.zeros(n_res, dtype=np.int64)
        swap = np.zeros(n_res, dtype=np.int64)
        for first, second, rfirst in ((a, b, ra), (b, a, rb)):
            sel = swap_candidate[rfirst] & ~ref_atom_symmetric[second]
            f, s, rf = first[sel], second[sel], rfirst[sel]
            dr = d_ref[sel]
            d_plain = _row_norms(model_coords[f] - model_coords[s])
            d_swap = _row_norms(model_coords_swapped[f] - model_coords[s])
            plain += np.bincount(rf, weights=_n_passed(d_plain, dr, thresholds),
                                 minlength=n_res).astype(np.int64)
            swap += np.bincount(rf, weights=_n_passed(d_swap, dr, thresholds),
                                minlength=n_res).astype(np.int64)
        swapped = swap_candidate & (swap > plain)
        rename = swapped[ref_atom_res] & ref_atom_symmetric
        model_coords[rename] = model_coords_swapped[rename]

    d_model = _row_norms(model_coords[a] - model_coords[b])
    passed = _n_passed(d_model, d_ref, thresholds)
    conserved = (np.bincount(ra, weights=passed, minlength=n_res)
                 + np.bincount(rb, weights=passed, minlength=n_res)).astype(np.int64)
    checked = n_thr * (np.bincount(ra, minlength=n_res) + np.bincount(rb, minlength=n_res))
    return conserved, checked.astype(np.int64), int(passed.sum()), int(n_thr * a.shape[0]), swapped


# --------------------------------------------------------------------------
# stereochemical clash filter
# --------------------------------------------------------------------------
def _element(name):
    """Element of a heavy-atom name of a standard residue (first letter: C, N, O or S)."""
    return name[:1]


def clashing_atoms(structure, clash_distances=None):
    """Atoms of ``structure`` removed by the clash filter (see the module docstring).

    Parameters
    ----------
    structure : Structure
        The model (all its chains).
    clash_distances : dict, optional
        Element pair -> (minimum distance, tolerance); default :data:`CLASH_DISTANCES`.

    Returns
    -------
    removed : ndarray of bool, (A,)
        Atoms removed (whole residues with a backbone clash, side chains with a side-chain clash).
    backbone_clash, sidechain_clash : ndarray of bool, (R,)
        Residues with a clashing backbone / side-chain atom.
    """
    table = {}
    for (e1, e2), (minimum, tolerance) in (clash_distances or CLASH_DISTANCES).items():
        table[(e1, e2)] = table[(e2, e1)] = float(minimum) - float(tolerance)
    coords = np.asarray(structure.coords, dtype=np.float64)
    names = np.asarray(structure.atom_names).astype(str)
    atom_res = np.asarray(structure.atom_res, dtype=np.int64)
    n_res = len(structure.resnums)
    backbone_clash = np.zeros(n_res, dtype=bool)
    sidechain_clash = np.zeros(n_res, dtype=bool)
    removed = np.zeros(len(names), dtype=bool)
    if not len(names) or not table:
        return removed, backbone_clash, sidechain_clash
    elements = np.array([_element(n) for n in names])
    pairs = cKDTree(coords).query_pairs(max(table.values()), output_type="ndarray")
    if pairs.size:
        a, b = pairs[:, 0], pairs[:, 1]
        ra, rb = atom_res[a], atom_res[b]
        keep = ra != rb
        a, b, ra, rb = a[keep], b[keep], ra[keep], rb[keep]
        # covalent bonds between residues are not clashes: C(i)-N(i+1) of neighbours in a chain
        # and SG-SG, each when its length is feasible for a bond, as OpenStructure's connectivity
        # heuristic has it ((r1 + r2) / 4 <= d <= (r1 + r2) sqrt(6) / 4, van der Waals radii)
        chains = np.asarray(structure.chain_ids).astype(str)
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        a_lo = np.where(ra <= rb, a, b)
        a_hi = np.where(ra <= rb, b, a)
        d = np.linalg.norm(coords[a] - coords[b], axis=1)
        neighbours = (hi == lo + 1) & (chains[lo] == chains[hi])
        peptide = neighbours & (names[a_lo] == "C") & (names[a_hi] == "N") & \
            (d >= _BOND_LOW * _VDW_CN) & (d <= _BOND_HIGH * _VDW_CN)
        disulfide = (names[a] == "SG") & (names[b] == "SG") & \
            (d >= _BOND_LOW * _VDW_SS) & (d <= _BOND_HIGH * _VDW_SS)
        bonded = peptide | disulfide
        a, b, d = a[~bonded], b[~bonded], d[~bonded]
        limit = np.array([table.get((x, y), -np.inf) for x, y in zip(elements[a], elements[b])])
        hit = d < limit
        for atoms in (a[hit], b[hit]):
            on_backbone = np.isin(names[atoms], _BACKBONE)
            backbone_clash[atom_res[atoms[on_backbone]]] = True
            sidechain_clash[atom_res[atoms[~on_backbone]]] = True
    removed = backbone_clash[atom_res] | (sidechain_clash[atom_res] & ~np.isin(names, _BACKBONE))
    return removed, backbone_clash, sidechain_clash


# --------------------------------------------------------------------------
# residue correspondence
# --------------------------------------------------------------------------
def needleman_wunsch(seq_a, seq_b, match=1.0, mismatch=-1.0, gap=-1.0):
    """Global alignment with linear gap penalty (Needleman-Wunsch).

    Each row of the dynamic-programming matrix is computed at once: with a
    linear gap g, H[i, j] = max_k<=j (D[i, k] + g (j - k)) where
    D[i, k] = max(H[i-1, k-1] + s, H[i-1, k] + g), i.e. a running maximum.

    Parameters
    ----------
    seq_a, seq_b : str or sequence
        Sequences (items compared with ==).
    match, mismatch, gap : float
        Scores (gap < 0).

    Returns
    -------
    mapping : ndarray of int, (len(seq_a),)
        Index in ``seq_b`` aligned to each item of ``seq_a``, -1 for gaps.
    """
    if gap >= 0:
        raise ValueError(f"gap must be negative, got {gap}")
    a = np.asarray(list(seq_a))
    b = np.asarray(list(seq_b))
    n, m = len(a), len(b)
    mapping = np.full(n, -1, dtype=np.int64)
    if n == 0 or m == 0:
        return mapping
    score = np.where(a[:, None] == b[None, :], match, mismatch)
    h = np.empty((n + 1, m + 1))
    h[0] = gap * np.arange(m + 1)
    cols = np.arange(m + 1)
    for i in range(1, n + 1):
        d = np.empty(m + 1)
        d[0] = h[i - 1, 0] + gap
        d[1:] = np.maximum(h[i - 1, :-1] + score[i - 1], h[i - 1, 1:] + gap)
        h[i] = np.maximum.accumulate(d - gap * cols) + gap * cols
    i, j = n, m
    while i > 0 and j > 0:
        if np.isclose(h[i, j], h[i - 1, j - 1] + score[i - 1, j - 1]):
            mapping[i - 1] = j - 1
            i -= 1
            j -= 1
        elif np.isclose(h[i, j], h[i - 1, j] + gap):
            i -= 1
        else:
            j -= 1
    return mapping


def _one_letter(resnames):
    return "".join(_ONE_LETTER.get(str(r), "X") for r in resnames)


def _residue_keys(struct):
    return [(str(c), int(n), str(i)) for c, n, i in
            zip(struct.chain_ids, struct.resnums, struct.icodes)]


def _match_residues(model, reference, align):
    """Reference residue index for each model residue (-1 if none)."""
    n_model = len(model.resnums)
    if align == "number":
        ref_index = {k: r for r, k in enumerate(_residue_keys(reference))}
        return np.array([ref_index.get(k, -1) for k in _residue_keys(model)],
                        dtype=np.int64).reshape(n_model)
    if align == "sequence":
        return needleman_wunsch(_one_letter(model.resnames), _one_letter(reference.resnames))
    raise ValueError(f"align must be 'number' or 'sequence', got {align!r}")


def _as_structure(obj, role):
    needed = ("chain_ids", "resnums", "icodes", "resnames", "coords", "atom_names", "atom_res")
    if all(hasattr(obj, k) for k in needed):
        return obj
    from .structures import read_structure
    try:
        return read_structure(obj)
    except TypeError as err:
        raise TypeError(f"{role} must be a Structure or a path, got {type(obj).__name__}") from err


# --------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------
def lddt(model, reference, align="number", *, thresholds=THRESHOLDS,
         inclusion_radius=INCLUSION_RADIUS, inter_chain=False, check_resnames=True,
         clash_filter=False, clash_distances=None):
    """All-atom lDDT of a model against a reference structure.

    Parameters
    ----------
    model, reference : Structure or path
        Structures (:class:`estimators.structures.Structure`) or anything
        :func:`estimators.structures.read_structure` reads.
    align : {'number', 'sequence'}
        Residue correspondence: identical (chain, residue number, insertion
        code), or a global sequence alignment of the model's residues to the
        reference's (Needleman-Wunsch, identity scores, all chains in file
        order).
    thresholds : sequence of float
        Distance-difference thresholds (Angstrom).
    inclusion_radius : float
        Radius (Angstrom) in the reference within which pairs are scored.
    inter_chain : bool
        Also score pairs between chains (off, as OpenStructure's ``lddt``).
    check_resnames : bool
        Raise ValueError when matched residues have different names.
    clash_filter : bool
        Remove clashing residues / side chains of the model first (as ``lddt -f``; see the module
        docstring); the result's ``clash_removed`` gives the residues affected.
    clash_distances : dict, optional
        Element pair -> (minimum distance, tolerance) of the clash filter (default
        :data:`CLASH_DISTANCES`).

    Returns
    -------
    LDDTResult
    """
    model = _as_structure(model, "model")
    reference = _as_structure(reference, "reference")
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or min(thresholds) < 0:
        raise ValueError(f"thresholds must be non-negative and non-empty, got {thresholds}")
    if not inclusion_radius > 0:
        raise ValueError(f"inclusion_radius must be > 0, got {inclusion_radius}")
    name_m = getattr(model, "name", "model")
    name_r = getattr(reference, "name", "reference")

    n_model = len(model.resnums)
    n_ref = len(reference.resnums)
    model_to_ref = _match_residues(model, reference, align)
    ref_to_model = np.full(n_ref, -1, dtype=np.int64)
    has = model_to_ref >= 0
    ref_to_model[model_to_ref[has]] = np.nonzero(has)[0]

    if check_resnames:
        m_idx = np.nonzero(has)[0]
        bad = np.asarray(model.resnames)[m_idx] != np.asarray(reference.resnames)[model_to_ref[m_idx]]
        if np.any(bad):
            i = m_idx[np.argmax(bad)]
            raise ValueError(
                f"residue names differ between model {name_m} and reference {name_r}: model "
                f"{model.resnames[i]} {model.chain_ids[i]}{model.resnums[i]}{model.icodes[i]} vs "
                f"reference {reference.resnames[model_to_ref[i]]} (pass check_resnames=False "
                f"to score anyway)")

    # model atom lookup by (model residue, atom name); atoms removed by the clash filter are missing
    removed = np.zeros(len(model.atom_names), dtype=bool)
    clash_removed = np.zeros(n_model, dtype=bool)
    if clash_filter:
        if not np.all(np.isfinite(np.asarray(model.coords, dtype=np.float64))):
            raise ValueError(f"model {name_m} has non-finite coordinates")
        removed, backbone_clash, sidechain_clash = clashing_atoms(model, clash_distances)
        clash_removed = backbone_clash | sidechain_clash
    model_atom = {(int(r), str(nm)): k for k, (r, nm) in
                  enumerate(zip(model.atom_res, model.atom_names)) if not removed[k]}
    ref_res_names = np.asarray(reference.resnames).astype(str)
    model_res_names = np.asarray(model.resnames).astype(str)
    ref_atom_res = np.asarray(reference.atom_res, dtype=np.int64)
    ref_names = np.asarray(reference.atom_names).astype(str)
    model_xyz = np.asarray(model.coords, dtype=np.float64)
    n_atoms = len(ref_names)
    idx_plain = np.full(n_atoms, -1, dtype=np.int64)
    idx_swap = np.full(n_atoms, -1, dtype=np.int64)
    symmetric = np.zeros(n_atoms, dtype=bool)
    for k in range(n_atoms):
        r = ref_atom_res[k]
        name = ref_names[k]
        symmetric[k] = (ref_res_names[r], name) in _SWAPPED_NAME
        m = ref_to_model[r]
        if m < 0:
            continue
        idx_plain[k] = model_atom.get((int(m), name), -1)
        partner = _SWAPPED_NAME.get((model_res_names[m], name), name)
        idx_swap[k] = model_atom.get((int(m), partner), -1)
    nan3 = np.full(3, np.nan)
    m_plain = np.where((idx_plain >= 0)[:, None], model_xyz[np.maximum(idx_plain, 0)], nan3)
    m_swap = np.where((idx_swap >= 0)[:, None], model_xyz[np.maximum(idx_swap, 0)], nan3)
    if n_atoms and not np.all(np.isfinite(model_xyz)):
        raise ValueError(f"model {name_m} has non-finite coordinates")

    swap_candidate = np.zeros(n_ref, dtype=bool)
    ok = ref_to_model >= 0
    swap_candidate[ok] = np.isin(model_res_names[ref_to_model[ok]], list(SYMMETRIC_ATOMS))
    chains, chain_idx = np.unique(np.asarray(reference.chain_ids).astype(str), return_inverse=True)

    conserved, checked, n_cons, n_chk, swapped_ref = lddt_from_arrays(
        np.asarray(reference.coords, dtype=np.float64), ref_atom_res,
        np.asarray(reference.resnums, dtype=np.int64), chain_idx,
        m_plain, m_swap, symmetric, swap_candidate, thresholds=thresholds,
        inclusion_radius=inclusion_radius, inter_chain=inter_chain)

    per_res = np.full(n_model, np.nan)
    pr_cons = np.zeros(n_model, dtype=np.int64)
    pr_chk = np.zeros(n_model, dtype=np.int64)
    swapped = np.zeros(n_model, dtype=bool)
    m_idx = np.nonzero(has)[0]
    r_idx = model_to_ref[m_idx]
    pr_cons[m_idx] = conserved[r_idx]
    pr_chk[m_idx] = checked[r_idx]
    swapped[m_idx] = swapped_ref[r_idx]
    valid = pr_chk > 0
    per_res[valid] = pr_cons[valid] / pr_chk[valid]
    return LDDTResult(
        global_score=(n_cons / n_chk) if n_chk else float("nan"),
        per_residue=per_res, n_conserved=n_cons, n_checked=n_chk,
        per_residue_conserved=pr_cons, per_residue_checked=pr_chk,
        reference_index=model_to_ref, swapped=swapped,
        coverage=float(np.count_nonzero(ref_to_model >= 0) / n_ref) if n_ref else float("nan"),
        thresholds=thresholds, inclusion_radius=float(inclusion_radius),
        clash_removed=clash_removed)
