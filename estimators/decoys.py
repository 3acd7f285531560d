"""Training decoys generated from native structures, with exact lDDT labels.

A decoy is the native with realistic kinds of modelling error, optionally relaxed with a force field,
labelled with per-residue and global lDDT against the native (:func:`estimators.lddt.lddt`).
The paper trains on CASP server models; generated decoys give extra training data whose labels are
exact and whose quality spans a chosen range (here global lDDT roughly uniform in [0.3, 0.95]).

Kinds of error (each a rigid-body move of parts of an all-atom model with hydrogens, so that bond
lengths and angles of the native are kept; only the relaxation changes them):

``backbone``
    Locally wrong backbone: phi/psi of the residues of 1-4 segments (3-8 residues) get Gaussian
    changes; every change rotates the downstream chain rigidly about the bond axis (N-CA for phi,
    CA-C for psi).
``hinge``
    Domain/hinge motion: large phi/psi changes at 1-2 loop residues.
``register``
    Misaligned segment: the residues of a secondary-structure element are threaded one or two
    positions along the native backbone (each residue, with its own side chain, is moved rigidly
    onto the frame of the residue ``s`` positions away), with linear ramps over three flanking
    residues on either side.
``sidechain``
    Wrong side-chain conformations: chi angles of a fraction of the residues rotated by about
    +-120 degrees (another rotamer).
``misfold``
    Compact misfold: a walk of large phi/psi moves (half at loop residues, half anywhere, which
    also unwinds secondary structure), each accepted only when the model stays compact (CA radius
    of gyration <= 1.35 x native) and gains no backbone clash or atomic overlap.

Every decoy except ``sidechain`` ones also receives a random side-chain perturbation (up to 25% of
residues), since real models rarely get every rotamer right. Rotamer changes are picked among a
few random candidates as the one clashing least with the native environment.

Targeting the lDDT: the random structure of a perturbation (segments, directions, order) is drawn
once, and its magnitude is found by bisection so that a fast proxy lDDT (all-atom lDDT against the
native without the symmetric-atom swaps, on a fixed subset of 30,000 pairs; :class:`ProxyLDDT`)
hits the target. When that magnitude costs more than 5 new heavy-atom clashes per 100 residues,
it is backed off to the largest magnitude within that limit; when the result is still above the
target, a ``misfold`` walk continues to it (kind reported as e.g. ``"backbone+misfold"``).

Relaxation (optional, :class:`Relaxer`): OpenMM, Amber14 in vacuum with a 1 nm cutoff, harmonic
positional restraints on heavy atoms (10 kJ/mol/A^2), L-BFGS (300 iterations, tolerance
10 kJ/mol/nm), with a soft-core first stage only when the direct minimisation fails (overlapping
atoms), and the terms of disulfides that a perturbation pulled apart switched off. Hydrogens and
missing heavy atoms are added once per native with PDBFixer; they are moved with their heavy atoms
by every perturbation.

Measured (2-core machine shared with other jobs, 10 natives of 57-182 residues, 6 decoys each,
relaxed): 1.2 s CPU per decoy on average (0.6 s at 60 residues, 1.0 s at 100, 2.4 s at 180; of
which relaxation 0.8 s, perturbation 0.6 s, labels 0.05 s); 0.96 s wall per decoy with 2 workers;
global lDDT within 0.034 of the target (median 0.005), spread evenly over [0.3, 0.92].

Reproducible: decoy ``i`` of a native depends only on ``(seed, i)`` and the native.
"""
from __future__ import annotations

import dataclasses
import io
import math
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from .atom_types import RESIDUE_ATOMS
from .structures import Structure

__all__ = ["KINDS", "Decoy", "DecoyGenerator", "ProxyLDDT", "Relaxer", "generate_decoys",
           "decoy_structure", "geometry_statistics", "count_clashes", "ramachandran_allowed",
           "backbone_dihedrals", "CLASH_DISTANCE"]

#: Kinds of error, in the order used for drawing.
KINDS = ("backbone", "hinge", "register", "sidechain", "misfold")

#: Heavy atoms of residues at least 2 apart (or in different chains) closer than this (Angstrom)
#: count as a clash (SG-SG pairs, i.e. disulfides, excluded).
CLASH_DISTANCE = 2.5

#: Side-chain bonds that are not rotamer degrees of freedom (conjugated, planar groups).
_PLANAR_BONDS = {("ARG", "NE", "CZ")}

_CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# ====================================================================================================
# geometry statistics (also used to compare decoys with real models)
def _dihedral(a, b, c, d):
    """Dihedral angles (degrees) of points a-b-c-d, arrays of shape (..., 3)."""
    b0 = a - b
    b1 = c - b
    b2 = d - c
    with np.errstate(invalid="ignore", divide="ignore"):
        b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
        v = b0 - (b0 * b1).sum(-1, keepdims=True) * b1
        w = b2 - (b2 * b1).sum(-1, keepdims=True) * b1
        x = (v * w).sum(-1)
        y = (np.cross(b1, v) * w).sum(-1)
    return np.degrees(np.arctan2(y, x))


def _sequence_bonded(structure) -> np.ndarray:
    """(R-1,) bool: residues r and r+1 are sequence neighbours (same chain, consecutive numbers)."""
    chains = np.asarray(structure.chain_ids).astype(str)
    nums = np.asarray(structure.resnums, dtype=np.int64)
    icodes = np.asarray(structure.icodes).astype(str)
    same_chain = chains[1:] == chains[:-1]
    step = nums[1:] - nums[:-1]
    return same_chain & ((step == 1) | ((step == 0) & (icodes[1:] != icodes[:-1])))


def backbone_dihedrals(structure, coords=None):
    """phi and psi (degrees) of every residue, NaN where a sequence neighbour is missing.

    Residues r and r+1 are taken as bonded when they are consecutive in number within a chain
    (whatever their distance), so that broken decoys are measured, not skipped.
    """
    s = _with_coords(structure, coords)
    n, ca, c, _ = s.backbone()
    R = s.n_residues
    phi = np.full(R, np.nan)
    psi = np.full(R, np.nan)
    if R > 1:
        b = np.flatnonzero(_sequence_bonded(s))
        phi[b + 1] = _dihedral(c[b], n[b + 1], ca[b + 1], c[b + 1])
        psi[b] = _dihedral(n[b], ca[b], c[b], n[b + 1])
    return phi, psi


def ramachandran_allowed(phi, psi, glycine):
    """Simple Ramachandran regions (degrees): True where (phi, psi) is in an allowed region.

    Regions (generous, hand-drawn from the usual plot): beta/PPII ``phi <= -45`` and
    (``psi >= 90`` or ``psi <= -150``); right-handed helix and bridge ``-160 <= phi <= -20``,
    ``-120 <= psi <= 50``; left-handed helix ``30 <= phi <= 100``, ``-30 <= psi <= 100``. Glycine
    also gets the mirror image (phi, psi) -> (-phi, -psi) of all three.
    """
    phi = np.asarray(phi, dtype=float)
    psi = np.asarray(psi, dtype=float)

    def regions(p, s):
        beta = (p <= -45) & ((s >= 90) | (s <= -150))
        alpha = (p >= -160) & (p <= -20) & (s >= -120) & (s <= 50)
        left = (p >= 30) & (p <= 100) & (s >= -30) & (s <= 100)
        return beta | alpha | left

    allowed = regions(phi, psi)
    return np.where(np.asarray(glycine, dtype=bool), allowed | regions(-phi, -psi), allowed)


def count_clashes(coords, atom_res, atom_names=None, chain_ids=None, distance=CLASH_DISTANCE):
    """Number of heavy-atom pairs closer than ``distance`` between residues >= 2 apart.

    Parameters
    ----------
    coords : array (A, 3)
    atom_res : array (A,) int
        Residue index of each atom.
    atom_names : array (A,) str, optional
        Used to exclude SG-SG pairs (disulfides).
    chain_ids : array (R,) str, optional
        Residues of different chains always count, whatever their indices.
    """
    coords = np.asarray(coords, dtype=np.float64)
    atom_res = np.asarray(atom_res, dtype=np.int64)
    pairs = cKDTree(coords).query_pairs(distance, output_type="ndarray")
    if pairs.size == 0:
        return 0
    i, j = pairs[:, 0], pairs[:, 1]
    far = np.abs(atom_res[i] - atom_res[j]) >= 2
    if chain_ids is not None:
        chains = np.asarray(chain_ids).astype(str)
        far |= chains[atom_res[i]] != chains[atom_res[j]]
    if atom_names is not None:
        names = np.asarray(atom_names).astype(str)
        far &= ~((names[i] == "SG") & (names[j] == "SG"))
    return int(far.sum())


def geometry_statistics(structure, coords=None) -> dict:
    """Geometry of a model: bond-length spread, clashes, Ramachandran outliers.

    Parameters
    ----------
    structure : Structure
    coords : array (A, 3), optional
        Coordinates replacing ``structure.coords`` (same atom table).

    Returns
    -------
    dict
        ``n_residues``; ``bond_std_n_ca``, ``bond_std_ca_c``, ``bond_std_c_n`` (standard deviation
        of the bond lengths, Angstrom; C-N over sequence neighbours closer than 2.5 A),
        ``bond_mean_*`` likewise; ``chain_breaks`` (sequence neighbours with C-N >= 2.5 A);
        ``clashes_per_100`` (:func:`count_clashes` x 100 / residues) and
        ``rama_outlier_fraction`` (outside :func:`ramachandran_allowed`).
    """
    s = _with_coords(structure, coords)
    n, ca, c, _ = s.backbone()
    out = {"n_residues": int(s.n_residues)}
    with np.errstate(invalid="ignore"):
        n_ca = np.linalg.norm(n - ca, axis=1)
        ca_c = np.linalg.norm(ca - c, axis=1)
        c_n = np.linalg.norm(c[:-1] - n[1:], axis=1)[_sequence_bonded(s)] if s.n_residues > 1 \
            else np.zeros(0)
    c_n = c_n[~np.isnan(c_n)]
    out["chain_breaks"] = int((c_n >= 2.5).sum())
    c_n = c_n[c_n < 2.5]
    for key, values in (("n_ca", n_ca), ("ca_c", ca_c), ("c_n", c_n)):
        values = values[~np.isnan(values)]
        out[f"bond_std_{key}"] = float(values.std()) if values.size else math.nan
        out[f"bond_mean_{key}"] = float(values.mean()) if values.size else math.nan
    out["clashes_per_100"] = 100.0 * count_clashes(s.coords, s.atom_res, s.atom_names,
                                                   s.chain_ids) / max(1, s.n_residues)
    phi, psi = backbone_dihedrals(s)
    known = ~(np.isnan(phi) | np.isnan(psi))
    glycine = np.asarray(s.resnames).astype(str) == "GLY"
    allowed = ramachandran_allowed(phi[known], psi[known], glycine[known])
    out["rama_outlier_fraction"] = float(1.0 - allowed.mean()) if allowed.size else math.nan
    return out


def _with_coords(structure, coords):
    if coords is None:
        return structure
    return decoy_structure(structure, coords)


def decoy_structure(native: Structure, coords, name: str | None = None) -> Structure:
    """A Structure with the native's residue/atom tables and new coordinates ``coords`` (A, 3)."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (native.n_atoms, 3):
        raise ValueError(f"coords of a decoy of {native.name} must have shape "
                         f"({native.n_atoms}, 3), got {coords.shape}")
    return dataclasses.replace(native, coords=coords.copy(), name=name or native.name, _cache={})


# ====================================================================================================
# rigid-body helpers
def _rotation_matrix(axis, angle):
    """Rotation by ``angle`` (radians) about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


def _frame(n, ca, c):
    """Orthonormal frame (columns) of a residue from N, CA, C (Gram-Schmidt of CA->C, CA->N)."""
    e1 = c - ca
    e1 = e1 / np.linalg.norm(e1)
    u = n - ca
    e2 = u - (u @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def _slerp_frames(f0, f1, t):
    """Frame between rotations f0 and f1 (fraction t), along the geodesic."""
    rel = f0.T @ f1
    angle = math.acos(max(-1.0, min(1.0, (np.trace(rel) - 1.0) / 2.0)))
    if angle < 1e-9:
        return f0.copy()
    axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:                                   # angle ~ pi: take the nearest frame
        return f0.copy() if t < 0.5 else f1.copy()
    return f0 @ _rotation_matrix(axis / norm, t * angle)


# ====================================================================================================
# proxy lDDT used to aim at a target (labels come from estimators.lddt)
class ProxyLDDT:
    """Fast global all-atom lDDT against a fixed reference, for searching perturbation magnitudes.

    Same pairs (heavy atoms of different residues in the same chain within 15 A in the reference)
    and thresholds (0.5, 1, 2, 4 A) as :func:`estimators.lddt.lddt`, without the symmetric-atom
    renaming, evaluated on precomputed pair lists.

    Parameters
    ----------
    ref_coords : array (A, 3)
    atom_res : array (A,) int
    atom_chain : array (A,)
        Chain label of each atom.
    atom_index : array (A,) int, optional
        Position of each of these atoms in the coordinate arrays given to ``__call__`` (default:
        the same order), so that models with extra atoms (hydrogens) can be scored directly.
    """

    thresholds = np.array([0.5, 1.0, 2.0, 4.0])

    def __init__(self, ref_coords, atom_res, atom_chain, atom_index=None, inclusion_radius=15.0):
        ref_coords = np.asarray(ref_coords, dtype=np.float64)
        pairs = cKDTree(ref_coords).query_pairs(inclusion_radius, output_type="ndarray")
        atom_res = np.asarray(atom_res)
        atom_chain = np.asarray(atom_chain)
        keep = (atom_res[pairs[:, 0]] != atom_res[pairs[:, 1]]) & \
               (atom_chain[pairs[:, 0]] == atom_chain[pairs[:, 1]])
        i, j = pairs[keep, 0], pairs[keep, 1]
        self.d_ref = np.linalg.norm(ref_coords[i] - ref_coords[j], axis=1)
        if atom_index is not None:
            atom_index = np.asarray(atom_index, dtype=np.int64)
            if atom_index.shape != (ref_coords.shape[0],):
                raise ValueError("atom_index must give one position per reference atom")
            i, j = atom_index[i], atom_index[j]
        self.i, self.j = i, j

    def __call__(self, coords) -> float:
        if self.i.size == 0:
            return math.nan
        d = np.linalg.norm(coords[self.i] - coords[self.j], axis=1)
        diff = np.abs(d - self.d_ref)
        return float((diff[:, None] <= self.thresholds[None, :]).mean())

    def subsample(self, max_pairs, rng) -> "ProxyLDDT":
        """A copy scoring a uniform random subset of at most ``max_pairs`` pairs (faster; standard
        error about sqrt(p (1 - p) / max_pairs) / 2 of the global value)."""
        out = object.__new__(ProxyLDDT)
        keep = np.sort(rng.choice(self.i.size, size=min(int(max_pairs), self.i.size),
                                  replace=False)) if self.i.size else np.zeros(0, dtype=np.int64)
        out.i, out.j, out.d_ref = self.i[keep], self.j[keep], self.d_ref[keep]
        return out


# ====================================================================================================
# all-atom model of a native (PDBFixer), with the rotatable bonds
def _standard_atom_mask(native: Structure) -> np.ndarray:
    """Atoms of the native that belong to the standard residue template (OXT at segment ends)."""
    names = np.asarray(native.atom_names).astype(str)
    resnames = np.asarray(native.resnames).astype(str)
    breaks = native.chain_break_before()
    last_of_segment = np.append(breaks[1:], True)
    mask = np.zeros(native.n_atoms, dtype=bool)
    for a in range(native.n_atoms):
        r = native.atom_res[a]
        mask[a] = names[a] in RESIDUE_ATOMS.get(resnames[r], ()) or \
            (names[a] == "OXT" and last_of_segment[r])
    return mask


def _native_pdb_text(native: Structure, written: np.ndarray) -> str:
    """PDB text of the native's standard atoms, one chain per bonded segment (TER-separated)."""
    breaks = native.chain_break_before()
    lines = []
    segment = -1
    serial = 1
    atoms_of = [[] for _ in range(native.n_residues)]
    for a in np.flatnonzero(written):
        atoms_of[native.atom_res[a]].append(a)
    for r in range(native.n_residues):
        if breaks[r]:
            if segment >= 0:
                lines.append("TER")
            segment += 1
        chain = _CHAIN_LETTERS[segment % len(_CHAIN_LETTERS)]
        for a in atoms_of[r]:
            name = str(native.atom_names[a])
            x, y, z = native.coords[a]
            padded = f" {name:<3s}" if len(name) < 4 else name
            lines.append(f"ATOM  {serial % 100000:5d} {padded:4s} {native.resnames[r]:3s} {chain}"
                         f"{(r + 1) % 10000:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00"
                         f"          {name[0]:>2s}")
            serial += 1
    lines += ["TER", "END"]
    return "\n".join(lines) + "\n"


class _AllAtomModel:
    """The native with hydrogens and missing heavy atoms (PDBFixer), atom maps and torsion sets."""

    def __init__(self, native: Structure):
        from openmm import unit
        from pdbfixer import PDBFixer

        self.native = native
        written = _standard_atom_mask(native)
        n_written = np.bincount(native.atom_res[written], minlength=native.n_residues)
        if np.any(n_written == 0):
            r = int(np.flatnonzero(n_written == 0)[0])
            raise ValueError(f"{native.name}: residue {native.residue_label(r)} has no standard "
                             f"heavy atom; cannot build decoys")
        # PDBFixer/OpenMM place new atoms at positions drawn from Python's global ``random``
        # and then minimise them on the default (multi-threaded) platform: seed ``random`` and use
        # one CPU thread, restoring both afterwards, so that the model is reproducible
        import openmm

        state = random.getstate()
        random.seed(0)
        cpu = openmm.Platform.getPlatformByName("CPU")
        threads = cpu.getPropertyDefaultValue("Threads")
        cpu.setPropertyDefaultValue("Threads", "1")
        try:
            fixer = PDBFixer(pdbfile=io.StringIO(_native_pdb_text(native, written)), platform=cpu)
            fixer.findMissingResidues()
            fixer.missingResidues = {}
            fixer.findMissingAtoms()
            fixer.addMissingAtoms()
            fixer.addMissingHydrogens(7.0)
        finally:
            random.setstate(state)
            cpu.setPropertyDefaultValue("Threads", threads)
        self.topology = fixer.topology
        xyz = np.array(fixer.positions.value_in_unit(unit.angstrom), dtype=np.float64)
        residues = list(self.topology.residues())
        if len(residues) != native.n_residues:
            raise ValueError(f"{native.name}: PDBFixer returned {len(residues)} residues for "
                             f"{native.n_residues}")
        atoms = list(self.topology.atoms())
        self.n_atoms = len(atoms)
        self.atom_res = np.array([a.residue.index for a in atoms], dtype=np.int64)
        if np.any(np.diff(self.atom_res) < 0):
            raise ValueError(f"{native.name}: atoms of the all-atom model are not grouped by residue")
        self.atom_names = np.array([a.name for a in atoms])
        self.is_heavy = np.array([a.element is not None and a.element.symbol != "H" for a in atoms])
        self.res_start = np.searchsorted(self.atom_res, np.arange(native.n_residues + 1))
        # native atoms -> model atoms (standard atoms), keep native coordinates exactly
        lookup = {(int(a.residue.index), a.name): k for k, a in enumerate(atoms)}
        self.native_to_model = np.array(
            [lookup.get((int(native.atom_res[a]), str(native.atom_names[a])), -1) if written[a]
             else -1 for a in range(native.n_atoms)], dtype=np.int64)
        mapped = self.native_to_model >= 0
        xyz[self.native_to_model[mapped]] = native.coords[mapped]
        self.coords = xyz
        # chains (original chain ids) -> last atom (exclusive) of the chain of each residue
        chains = np.asarray(native.chain_ids).astype(str)
        chain_end_res = np.empty(native.n_residues, dtype=np.int64)
        end = native.n_residues
        for r in range(native.n_residues - 1, -1, -1):
            if r < native.n_residues - 1 and chains[r] != chains[r + 1]:
                end = r + 1
            chain_end_res[r] = end
        self.chain_end_atom = self.res_start[chain_end_res]
        self.atom_chain = chains[self.atom_res]
        # bonds within residues; disulfides and peptide bonds excluded
        intra = [[] for _ in range(self.n_atoms)]
        for bond in self.topology.bonds():
            i, j = bond[0].index, bond[1].index
            if self.atom_res[i] == self.atom_res[j]:
                intra[i].append(j)
                intra[j].append(i)
        self._intra = intra
        disulfide = np.zeros(native.n_residues, dtype=bool)
        for bond in self.topology.bonds():
            if bond[0].name == "SG" and bond[1].name == "SG":
                disulfide[bond[0].residue.index] = disulfide[bond[1].residue.index] = True
        self._build_torsions(disulfide)
        # backbone atom indices (model) per residue
        self.bb = {name: np.array([lookup.get((r, name), -1) for r in range(native.n_residues)])
                   for name in ("N", "CA", "C", "O", "CB")}
        self.heavy = np.flatnonzero(self.is_heavy)

    # -- rotatable bonds ------------------------------------------------------------------------
    def _component(self, start, across):
        """Atoms reachable from ``start`` in the residue's bond graph without using the bond
        ``start``-``across``; ``across`` is among them exactly when that bond lies in a ring."""
        seen = {start}
        stack = [start]
        while stack:
            k = stack.pop()
            for m in self._intra[k]:
                if k == start and m == across:
                    continue
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def _build_torsions(self, disulfide):
        R = self.native.n_residues
        self.phi = [None] * R        # (axis atom u, axis atom v, moving intra atoms)
        self.psi = [None] * R
        self.chis = [[] for _ in range(R)]
        backbone_names = {"N", "CA", "C", "O", "OXT"}
        for r in range(R):
            idx = {self.atom_names[k]: k for k in range(self.res_start[r], self.res_start[r + 1])}
            if "N" in idx and "CA" in idx:
                comp = self._component(idx["CA"], idx["N"])
                if idx["N"] not in comp:                           # proline ring -> no phi move
                    self.phi[r] = (idx["N"], idx["CA"], np.array(sorted(comp)))
            if "CA" in idx and "C" in idx:
                comp = self._component(idx["C"], idx["CA"])
                if idx["CA"] not in comp:
                    self.psi[r] = (idx["CA"], idx["C"], np.array(sorted(comp)))
            if disulfide[r] or "CA" not in idx:
                continue
            # side-chain rotatable bonds: heavy-heavy, outside rings, moving >= 1 heavy atom,
            # oriented away from CA (breadth-first depth)
            depth = {idx["CA"]: 0}
            queue = [idx["CA"]]
            while queue:
                k = queue.pop(0)
                for m in self._intra[k]:
                    if m not in depth:
                        depth[m] = depth[k] + 1
                        queue.append(m)
            resname = str(self.native.resnames[r])
            for k in range(self.res_start[r], self.res_start[r + 1]):
                if not self.is_heavy[k] or self.atom_names[k] in ("N", "C", "O", "OXT"):
                    continue
                for m in self._intra[k]:
                    if not self.is_heavy[m] or depth.get(m, -1) != depth.get(k, -1) + 1:
                        continue
                    if self.atom_names[m] in backbone_names:
                        continue
                    if (resname, self.atom_names[k], self.atom_names[m]) in _PLANAR_BONDS:
                        continue
                    comp = self._component(m, k)
                    if k in comp:                                 # ring bond
                        continue
                    moving = np.array(sorted(comp))
                    if (self.is_heavy[moving].sum() - 1) < 1:   # only hydrogens move
                        continue
                    self.chis[r].append((k, m, moving))
            self.chis[r].sort(key=lambda t: depth[t[0]])

    # -- moves ------------------------------------------------------------------------------------
    def rotate_torsion(self, xyz, r, which, angle_deg):
        """Change phi or psi of residue r by angle_deg, moving the C-terminal side of the chain."""
        torsion = self.phi[r] if which == "phi" else self.psi[r]
        if torsion is None or angle_deg == 0.0:
            return
        u, v, moving = torsion
        origin = xyz[v]
        axis = xyz[v] - xyz[u]
        rot = _rotation_matrix(axis / np.linalg.norm(axis), math.radians(angle_deg))
        xyz[moving] = (xyz[moving] - origin) @ rot.T + origin
        start, stop = self.res_start[r + 1], self.chain_end_atom[r]
        if stop > start:
            xyz[start:stop] = (xyz[start:stop] - origin) @ rot.T + origin

    def rotate_chi(self, xyz, r, k, angle_deg):
        """Rotate side-chain bond k of residue r by angle_deg."""
        u, v, moving = self.chis[r][k]
        origin = xyz[v]
        axis = xyz[v] - xyz[u]
        rot = _rotation_matrix(axis / np.linalg.norm(axis), math.radians(angle_deg))
        xyz[moving] = (xyz[moving] - origin) @ rot.T + origin

    def residue_frame(self, xyz, r):
        return _frame(xyz[self.bb["N"][r]], xyz[self.bb["CA"][r]], xyz[self.bb["C"][r]])

    def to_native_coords(self, xyz):
        """Heavy-atom coordinates in the native's atom order; atoms outside the all-atom model
        (non-standard names) follow their residue's backbone frame."""
        native = self.native
        out = native.coords.copy()
        mapped = self.native_to_model >= 0
        out[mapped] = xyz[self.native_to_model[mapped]]
        for a in np.flatnonzero(~mapped):
            r = native.atom_res[a]
            if min(self.bb["N"][r], self.bb["CA"][r], self.bb["C"][r]) < 0:
                continue
            f0 = self.residue_frame(self.coords, r)
            f1 = self.residue_frame(xyz, r)
            ca0, ca1 = self.coords[self.bb["CA"][r]], xyz[self.bb["CA"][r]]
            out[a] = f1 @ (f0.T @ (native.coords[a] - ca0)) + ca1
        return out


# ====================================================================================================
# relaxation
class Relaxer:
    """Restrained energy minimisation of an all-atom model with OpenMM.

    Amber14 (``amber14-all.xml``) in vacuum, cut-off non-periodic non-bonded interactions at
    ``cutoff_nm``, no constraints; harmonic restraints ``0.5 k |x - x0|^2`` (``restraint_k`` in
    kJ/mol/nm^2) on heavy atoms to the unrelaxed decoy; L-BFGS with ``max_iterations`` and
    ``tolerance`` (kJ/mol/nm).

    Generated decoys can have overlapping atoms (energies of 1e17 kJ/mol and more), on which L-BFGS
    with the full Lennard-Jones potential may stall or explode. When the result of the direct
    minimisation is not acceptable (energy above ``max_energy`` kJ/mol, non-finite, or a covalent
    bond deviating from the native's by more than ``max_bond_deviation`` A), the minimisation is
    redone from the start in two stages: ``soft_iterations`` with the non-bonded force replaced by
    a soft finite repulsion ``c (1 - r/s)^2`` for r < s (s = sum of the atoms' Lennard-Jones
    radii 2^(1/6) sigma / 2, c = ``soft_energy`` kJ/mol, same exclusions), then the full force field.
    A result still not acceptable raises :class:`FloatingPointError`.

    Disulfides: a perturbation can pull the two cysteines of a native disulfide apart. The bond,
    angle and torsion terms across every disulfide whose SG-SG distance exceeds
    ``disulfide_cutoff`` (A) in the unrelaxed decoy are switched off for that decoy (the two
    cysteines then only interact through non-bonded terms), so that the force field does not drag
    the decoy back together. One CPU thread per relaxer,
    so that joblib workers do not oversubscribe cores and results are reproducible.
    """

    def __init__(self, model: _AllAtomModel, restraint_k=1000.0, max_iterations=300,
                 tolerance=10.0, cutoff_nm=1.0, threads=1, soft_iterations=30,
                 soft_energy=1000.0, max_energy=1e6, max_bond_deviation=0.5,
                 disulfide_cutoff=3.0):
        import openmm
        from openmm import app, unit

        self.model = model
        self.max_iterations = int(max_iterations)
        self.soft_iterations = int(soft_iterations)
        self.tolerance = float(tolerance)
        self.max_energy = float(max_energy)
        self.max_bond_deviation = float(max_bond_deviation)
        self.restraint_k = float(restraint_k)
        self.cutoff_nm = float(cutoff_nm)
        self.soft_energy = float(soft_energy)
        self._unit = unit
        forcefield = app.ForceField("amber14-all.xml")
        self._system = forcefield.createSystem(model.topology,
                                               nonbondedMethod=app.CutoffNonPeriodic,
                                               nonbondedCutoff=cutoff_nm * unit.nanometer,
                                               constraints=None)
        self._restrained = model.heavy
        self._platform = openmm.Platform.getPlatformByName("CPU")
        self._properties = {"Threads": str(int(threads))}
        self.context, self._restraint = self._context(self._system)
        self._soft = None                                   # (context, restraint), built on demand
        bonds = np.array([[b[0].index, b[1].index] for b in model.topology.bonds()])
        self._bonds = bonds.reshape(-1, 2)
        self._bond_ref = np.linalg.norm(model.coords[self._bonds[:, 0]] -
                                        model.coords[self._bonds[:, 1]], axis=1)
        self.disulfide_cutoff = float(disulfide_cutoff)
        names = model.atom_names
        is_ss = (names[self._bonds[:, 0]] == "SG") & (names[self._bonds[:, 1]] == "SG")
        self._ss_bond_rows = np.flatnonzero(is_ss)
        self._ss_pairs = self._bonds[is_ss]
        self._ss_state = np.ones(len(self._ss_pairs), dtype=bool)      # all terms on
        self._bond_checked = np.ones(len(self._bonds), dtype=bool)

    def _context(self, system):
        import openmm

        system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
        restraint = openmm.CustomExternalForce("0.5*k_restraint*((x-x0)^2+(y-y0)^2+(z-z0)^2)")
        restraint.addGlobalParameter("k_restraint", self.restraint_k)
        for name in ("x0", "y0", "z0"):
            restraint.addPerParticleParameter(name)
        for k in self._restrained:
            restraint.addParticle(int(k), (0.0, 0.0, 0.0))
        system.addForce(restraint)
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), self._platform,
                                 self._properties)
        return context, restraint

    def _soft_system(self):
        """Copy of the system with NonbondedForce replaced by a soft, finite repulsion."""
        import openmm

        soft = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(self._system))
        index = next(k for k, f in enumerate(soft.getForces())
                     if isinstance(f, openmm.NonbondedForce))
        nonbonded = soft.getForce(index)
        repulsion = openmm.CustomNonbondedForce("c_soft*step(s-r)*(1-r/s)^2; s=radius1+radius2")
        repulsion.addGlobalParameter("c_soft", self.soft_energy)
        repulsion.addPerParticleParameter("radius")
        for k in range(nonbonded.getNumParticles()):
            _, sigma, _ = nonbonded.getParticleParameters(k)
            repulsion.addParticle([0.5 * 2 ** (1 / 6) * sigma.value_in_unit(openmm.unit.nanometer)])
        for k in range(nonbonded.getNumExceptions()):
            i, j, _, _, _ = nonbonded.getExceptionParameters(k)
            repulsion.addExclusion(i, j)
        repulsion.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
        repulsion.setCutoffDistance(self.cutoff_nm)
        soft.removeForce(index)
        soft.addForce(repulsion)
        return soft

    def _minimize(self, context, restraint, nm, reference_nm, iterations):
        import openmm

        for slot, k in enumerate(self._restrained):
            restraint.setParticleParameters(slot, int(k), tuple(reference_nm[k]))
        restraint.updateParametersInContext(context)
        context.setPositions(nm)
        try:
            openmm.LocalEnergyMinimizer.minimize(context, self.tolerance, iterations)
        except openmm.OpenMMException as error:         # e.g. "Particle coordinate is NaN"
            raise FloatingPointError(f"minimisation failed: {error}") from error
        state = context.getState(getPositions=True, getEnergy=True)
        return (np.array(state.getPositions(asNumpy=True).value_in_unit(self._unit.nanometer)),
                state.getPotentialEnergy().value_in_unit(self._unit.kilojoule_per_mole))

    def energy(self, xyz):
        """Potential energy (kJ/mol) of ``xyz`` (Angstrom) with the full force field, restrained to
        the positions last set (the restraint term is zero right after setting them)."""
        self.context.setPositions(np.asarray(xyz) / 10.0)
        return self.context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(
            self._unit.kilojoule_per_mole)

    def bond_deviation(self, xyz):
        """Largest deviation (A) of a covalent bond length from the native all-atom model
        (disulfides switched off for the current decoy excluded)."""
        rows = self._bond_checked
        lengths = np.linalg.norm(xyz[self._bonds[rows, 0]] - xyz[self._bonds[rows, 1]], axis=1)
        return float(np.max(np.abs(lengths - self._bond_ref[rows]))) if lengths.size else 0.0

    def _set_disulfides(self, xyz):
        """Switch the terms across each disulfide on (SG-SG <= cutoff in ``xyz``) or off."""
        if not len(self._ss_pairs):
            return
        d = np.linalg.norm(xyz[self._ss_pairs[:, 0]] - xyz[self._ss_pairs[:, 1]], axis=1)
        state = d <= self.disulfide_cutoff
        self._bond_checked[self._ss_bond_rows] = state
        if np.array_equal(state, self._ss_state):
            return
        off = {frozenset(map(int, pair)) for pair in self._ss_pairs[~state]}
        contexts = [self.context] + ([self._soft[0]] if self._soft is not None else [])
        for context in contexts:
            self._apply_disulfide_switch(context, off)
        self._ss_state = state

    def _apply_disulfide_switch(self, context, off):
        """Zero the force constants of bond/angle/torsion terms that contain both SG atoms of a
        switched-off disulfide; restore the others from the unmodified system."""
        import openmm

        system = context.getSystem()
        for force, original in zip(system.getForces(), self._original_forces(system)):
            if isinstance(force, openmm.HarmonicBondForce):
                getter, setter, n_atoms = "getBondParameters", "setBondParameters", 2
                count = force.getNumBonds()
            elif isinstance(force, openmm.HarmonicAngleForce):
                getter, setter, n_atoms = "getAngleParameters", "setAngleParameters", 3
                count = force.getNumAngles()
            elif isinstance(force, openmm.PeriodicTorsionForce):
                getter, setter, n_atoms = "getTorsionParameters", "setTorsionParameters", 4
                count = force.getNumTorsions()
            else:
                continue
            changed = False
            for k in self._ss_term_indices(force, getter, n_atoms, count):
                params = list(getattr(original, getter)(k))
                atoms = frozenset(params[:n_atoms])
                if any(pair <= atoms for pair in off):
                    params[-1] = 0.0                            # force constant last
                getattr(force, setter)(k, *params)
                changed = True
            if changed:
                force.updateParametersInContext(context)

    def _original_forces(self, system):
        """Forces of the unmodified system matching ``system``'s forces by position and type."""
        import openmm

        originals = list(self._system.getForces())
        by_type = {}
        for f in originals:
            by_type.setdefault(type(f), []).append(f)
        out = []
        for f in system.getForces():
            out.append(by_type.get(type(f), [None])[0] if isinstance(
                f, (openmm.HarmonicBondForce, openmm.HarmonicAngleForce,
                    openmm.PeriodicTorsionForce)) else None)
        return out

    def _ss_term_indices(self, force, getter, n_atoms, count):
        """Indices of the terms of ``force`` that contain both SG atoms of a disulfide (cached)."""
        key = (type(force).__name__, count)
        cache = self.__dict__.setdefault("_ss_term_cache", {})
        if key not in cache:
            sg_pairs = [frozenset(map(int, pair)) for pair in self._ss_pairs]
            cache[key] = [k for k in range(count)
                          if any(p <= frozenset(getattr(force, getter)(k)[:n_atoms])
                                 for p in sg_pairs)]
        return cache[key]

    def _acceptable(self, xyz, energy):
        return (np.all(np.isfinite(xyz)) and math.isfinite(energy) and energy <= self.max_energy
                and self.bond_deviation(xyz) <= self.max_bond_deviation)

    def __call__(self, xyz):
        """Minimise ``xyz`` (Angstrom, all atoms of the model).

        Returns
        -------
        relaxed : array (n_atoms, 3)
        info : dict
            ``energy_after`` (kJ/mol, full force field with restraints) and ``soft_stage`` (whether the two-stage fallback was needed).
        """
        reference = np.asarray(xyz, dtype=np.float64) / 10.0
        if reference.shape != (self.model.n_atoms, 3) or not np.all(np.isfinite(reference)):
            raise ValueError(f"relaxation needs finite coordinates of shape "
                             f"({self.model.n_atoms}, 3)")
        info = {"soft_stage": False}
        self._set_disulfides(np.asarray(xyz))
        info["disulfides_off"] = int((~self._ss_state).sum())
        try:
            out, energy = self._minimize(self.context, self._restraint, reference, reference,
                                         self.max_iterations)
        except FloatingPointError:
            out, energy = reference, math.inf
        if not self._acceptable(out * 10.0, energy):
            if self._soft is None:
                self._soft = self._context(self._soft_system())
                off = {frozenset(map(int, pair)) for pair in self._ss_pairs[~self._ss_state]}
                if off:
                    self._apply_disulfide_switch(self._soft[0], off)
            soft_context, soft_restraint = self._soft
            # atoms at the same place have no force direction (NaN): separate them slightly
            start = reference.copy()
            pairs = cKDTree(start).query_pairs(1e-3, output_type="ndarray")
            if pairs.size:
                jitter = np.random.default_rng(0).normal(scale=0.005, size=(len(pairs), 3))
                start[pairs[:, 1]] += jitter
            start, _ = self._minimize(soft_context, soft_restraint, start, reference,
                                      self.soft_iterations)
            out, energy = self._minimize(self.context, self._restraint, start, reference,
                                         self.max_iterations)
            info["soft_stage"] = True
            if not self._acceptable(out * 10.0, energy):
                raise FloatingPointError(
                    f"relaxation failed: energy {energy:.3g} kJ/mol, largest bond deviation "
                    f"{self.bond_deviation(out * 10.0):.2f} A")
        info["energy_after"] = energy
        return out * 10.0, info


# ====================================================================================================
# decoys
@dataclass
class Decoy:
    """One decoy of a native.

    Attributes
    ----------
    coords : array (A, 3)
        Heavy-atom coordinates in the native's atom order.
    kind : str
        Main kind of error (``KINDS``; ``"+misfold"`` appended when a misfold walk continued it).
    target_lddt, lddt : float
        Aimed-at and true global lDDT against the native.
    lddt_local : array (R,)
        Per-residue lDDT against the native.
    info : dict
        Magnitudes, proxy lDDT before/after relaxation, clash counts, energies and timings (s).
    """

    coords: np.ndarray
    kind: str
    target_lddt: float
    lddt: float
    lddt_local: np.ndarray
    info: dict = field(default_factory=dict)


def _secondary_structure(phi, psi):
    """'H', 'E' or 'L' per residue from (phi, psi) runs (>= 4 helical or >= 3 extended residues)."""
    helical = (phi > -110) & (phi < -30) & (psi > -80) & (psi < -5)
    extended = (phi < -70) & ((psi > 90) | (psi < -150))
    ss = np.full(phi.shape, "L")
    for mask, letter, min_run in ((helical, "H", 4), (extended, "E", 3)):
        r = 0
        while r < mask.size:
            if mask[r]:
                end = r
                while end < mask.size and mask[end]:
                    end += 1
                if end - r >= min_run:
                    ss[r:end] = letter
                r = end
            else:
                r += 1
    return ss


class DecoyGenerator:
    """Decoys of one native structure.

    Parameters
    ----------
    native : Structure
        The reference (as read by :func:`estimators.structures.read_structure`).
    relax : bool
        Relax each decoy with :class:`Relaxer` (default True).
    relax_options : dict, optional
        Keyword arguments of :class:`Relaxer` (``restraint_k`` in kJ/mol/nm^2, ``max_iterations``,
        ``tolerance``, ``cutoff_nm``, ``threads``).
    max_tries : int
        Random draws tried per decoy when the result has many clashes.
    """

    #: bisection search ranges of the magnitude of each kind
    _MAX_MAGNITUDE = {"backbone": 60.0, "hinge": 150.0, "register": 1.0, "sidechain": 1.0}
    #: pairs of the proxy lDDT used while searching magnitudes
    _SEARCH_PAIRS = 30000
    #: heavy atoms closer than this (A) overlap; the misfold walk adds none
    _OVERLAP = 1.5

    def __init__(self, native: Structure, relax: bool = True, relax_options: dict | None = None,
                 max_tries: int = 3):
        if not isinstance(native, Structure):
            raise TypeError(f"native must be an estimators.structures.Structure, "
                            f"got {type(native).__name__}")
        if native.n_residues < 10:
            raise ValueError(f"{native.name}: {native.n_residues} residues; need >= 10 for decoys")
        t0 = time.perf_counter()
        self.native = native
        self.model = _AllAtomModel(native)
        m = self.model
        self.proxy = ProxyLDDT(m.coords[m.heavy], m.atom_res[m.heavy], m.atom_chain[m.heavy],
                               atom_index=m.heavy)
        # the search uses a fixed subset of pairs (same for every decoy: reproducible)
        self.search_proxy = self.proxy.subsample(self._SEARCH_PAIRS, np.random.default_rng(0))
        self.relax = bool(relax)
        self.relax_options = dict(relax_options or {})
        self.max_tries = int(max_tries)
        self._relaxer = None
        phi, psi = backbone_dihedrals(native)
        self.ss = _secondary_structure(np.nan_to_num(phi, nan=180.0), np.nan_to_num(psi, nan=180.0))
        R = native.n_residues
        self.movable_phi = np.array([m.phi[r] is not None for r in range(R)])
        self.movable_psi = np.array([m.psi[r] is not None for r in range(R)])
        self.loops = np.flatnonzero((self.ss == "L") & (self.movable_phi | self.movable_psi))
        if self.loops.size < 2:
            self.loops = np.flatnonzero(self.movable_phi | self.movable_psi)
        ca = m.coords[m.bb["CA"][m.bb["CA"] >= 0]]
        self.rg0 = float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(1).mean()))
        self._bb_atoms = np.concatenate([m.bb[k][m.bb[k] >= 0] for k in ("N", "CA", "C", "O", "CB")])
        self._native_bb_clashes = self._backbone_clashes(m.coords)
        self._native_clashes = self._clashes(m.coords)
        self._has_frame = (m.bb["N"] >= 0) & (m.bb["CA"] >= 0) & (m.bb["C"] >= 0)
        self._heavy_tree = cKDTree(m.coords[m.heavy])
        self._heavy_res = m.atom_res[m.heavy]
        self.prepare_seconds = time.perf_counter() - t0

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def relaxer(self):
        if self._relaxer is None:
            self._relaxer = Relaxer(self.model, **self.relax_options)
        return self._relaxer

    def _clashes(self, xyz):
        m = self.model
        return count_clashes(xyz[m.heavy], m.atom_res[m.heavy], m.atom_names[m.heavy],
                             self.native.chain_ids)

    def _backbone_clashes(self, xyz):
        m = self.model
        return count_clashes(xyz[self._bb_atoms], m.atom_res[self._bb_atoms], None,
                             self.native.chain_ids, distance=3.0)

    def _overlaps(self, xyz):
        m = self.model
        return count_clashes(xyz[m.heavy], m.atom_res[m.heavy], m.atom_names[m.heavy],
                             self.native.chain_ids, distance=self._OVERLAP)

    def _rg(self, xyz):
        ca = xyz[self.model.bb["CA"][self.model.bb["CA"] >= 0]]
        return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(1).mean()))

    # -- plans: the random structure of a perturbation, drawn once, scaled by a magnitude ------------
    def _plan(self, kind, rng):
        R = self.native.n_residues
        if kind == "backbone":
            n_seg = int(rng.integers(1, 5))
            moves = []
            for _ in range(n_seg):
                length = int(rng.integers(3, 9))
                start = int(rng.integers(0, max(1, R - length)))
                for r in range(start, min(R, start + length)):
                    moves.append((r, "phi", rng.normal()))
                    moves.append((r, "psi", rng.normal()))
            return moves
        if kind == "hinge":
            n_hinge = int(rng.integers(1, 3))
            moves = []
            for r in rng.choice(self.loops, size=min(n_hinge, self.loops.size), replace=False):
                direction = rng.normal(size=2)
                direction /= np.linalg.norm(direction)
                moves += [(int(r), "phi", direction[0]), (int(r), "psi", direction[1])]
            return moves
        if kind == "register":
            return self._register_plan(rng)
        if kind == "sidechain":
            order = rng.permutation(R)
            return [(int(r), self._rotamer_change(int(r), rng)) for r in order]
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")

    _RAMP = 3

    def _register_plan(self, rng):
        """Segments (start, stop, shift) over secondary-structure elements, in random order.

        Only elements whose window (segment, ramps and 2 more residues on both sides) lies in one
        bonded stretch of chain qualify, so every residue of the window has a place to go; the
        window positions p(r) = r + s(r) then increase strictly (ramp slope |s|/(ramp+1) < 1)."""
        R = self.native.n_residues
        breaks = self.native.chain_break_before()
        has_frame = self._has_frame
        margin = self._RAMP + 2
        elements = []
        r = 0
        while r < R:
            if self.ss[r] in "HE":
                end = r
                while end < R and self.ss[end] == self.ss[r]:
                    end += 1
                elements.append((r, end))
                r = end
            else:
                r += 1
        if not elements:                                 # no SSE: windows of 6 residues
            elements = [(s, min(R, s + 6)) for s in range(0, R, 8)]
        valid = []
        for start, stop in elements:
            lo, hi = start - margin, stop + margin
            if lo < 0 or hi > R or np.any(breaks[lo + 1:hi]) or not np.all(has_frame[lo:hi]):
                continue
            valid.append((start, stop))
        order = rng.permutation(len(valid))
        return [(valid[k][0], valid[k][1], int(rng.choice([-2, -1, 1, 2]))) for k in order]

    def _rotamer_change(self, r, rng, n_candidates=4):
        """Chi changes of residue r to another rotamer (about +-120 degrees each, +- 15 degrees
        noise): of ``n_candidates`` random combinations, the one with the fewest heavy-atom
        clashes against the rest of the native."""
        m = self.model
        chis = m.chis[r]
        if not chis:
            return []
        atoms = np.arange(m.res_start[r], m.res_start[r + 1])
        heavy = atoms[m.is_heavy[atoms]]
        best = None
        for _ in range(n_candidates):
            deltas = [float(rng.choice([-1.0, 1.0]) * 120.0 + rng.normal(0.0, 15.0)) for _ in chis]
            xyz = m.coords.copy()
            for k, delta in enumerate(deltas):
                m.rotate_chi(xyz, r, k, delta)
            neighbours = self._heavy_tree.query_ball_point(xyz[heavy], CLASH_DISTANCE)
            n_clash = sum(int(np.sum(np.abs(self._heavy_res[np.asarray(nb, dtype=np.int64)] - r)
                                     >= 2)) for nb in neighbours)
            if best is None or n_clash < best[0]:
                best = (n_clash, deltas)
        return best[1]

    def _apply(self, kind, plan, magnitude, base):
        xyz = base.copy()
        m = self.model
        if kind in ("backbone", "hinge"):
            for r, which, unit_delta in plan:
                m.rotate_torsion(xyz, r, which, magnitude * unit_delta)
        elif kind == "sidechain":
            n_res = int(round(magnitude * len(plan)))
            for r, deltas in plan[:n_res]:
                for k, delta in enumerate(deltas):
                    m.rotate_chi(xyz, r, k, delta)
        elif kind == "register":
            n_seg = int(math.ceil(magnitude * len(plan) - 1e-9))
            used = np.zeros(self.native.n_residues, dtype=bool)
            margin = self._RAMP + 2
            for start, stop, shift in plan[:n_seg]:
                window = slice(start - margin, stop + margin)
                if used[window].any():                  # windows must not overlap
                    continue
                used[window] = True
                self._thread(xyz, base, start, stop, shift, self._RAMP)
        else:
            raise ValueError(f"unknown kind {kind!r}")
        return xyz

    def _thread(self, xyz, base, start, stop, shift, ramp=3):
        """Move residues start..stop-1 onto the backbone frames ``shift`` positions away, with
        linear ramps of the shift over ``ramp`` residues on both sides (same chain only)."""
        m = self.model
        R = self.native.n_residues
        chains = np.asarray(self.native.chain_ids).astype(str)
        has_frame = (m.bb["N"] >= 0) & (m.bb["CA"] >= 0) & (m.bb["C"] >= 0)
        for r in range(max(0, start - ramp), min(R, stop + ramp)):
            if r < start:
                s = shift * (r - (start - ramp - 1)) / (ramp + 1)
            elif r >= stop:
                s = shift * ((stop + ramp) - r) / (ramp + 1)
            else:
                s = float(shift)
            p = r + s
            lo, hi = int(math.floor(p)), int(math.ceil(p))
            if lo < 0 or hi >= R or not (has_frame[r] and has_frame[lo] and has_frame[hi]):
                continue
            if not (chains[lo] == chains[r] == chains[hi]):
                continue
            t = p - lo
            f_lo, f_hi = m.residue_frame(base, lo), m.residue_frame(base, hi)
            target_frame = _slerp_frames(f_lo, f_hi, t)
            target_ca = (1 - t) * base[m.bb["CA"][lo]] + t * base[m.bb["CA"][hi]]
            own_frame = m.residue_frame(base, r)
            own_ca = base[m.bb["CA"][r]]
            atoms = slice(m.res_start[r], m.res_start[r + 1])
            xyz[atoms] = (base[atoms] - own_ca) @ (target_frame @ own_frame.T).T + target_ca

    # -- aiming at a target lDDT ---------------------------------------------------------------------
    def _bisect(self, kind, plan, target, base, n_steps=12):
        """Magnitude of ``plan`` whose proxy lDDT is closest to ``target`` (lDDT decreases with it)."""
        hi = self._MAX_MAGNITUDE[kind]
        xyz_hi = self._apply(kind, plan, hi, base)
        score_hi = self.search_proxy(xyz_hi)
        best = (abs(score_hi - target), hi, xyz_hi, score_hi)
        if score_hi > target:
            return best[1:]
        lo = 0.0
        for _ in range(n_steps):
            mid = 0.5 * (lo + hi)
            xyz = self._apply(kind, plan, mid, base)
            score = self.search_proxy(xyz)
            if abs(score - target) < best[0]:
                best = (abs(score - target), mid, xyz, score)
            if score > target:
                lo = mid
            else:
                hi = mid
            if best[0] < 0.005:
                break
        return best[1:]

    def _misfold_walk(self, base, target, rng, max_attempts=None, step_deg=60.0, loop_bias=0.5,
                      max_rg_ratio=1.35):
        """Large phi/psi moves (mostly at loop residues, else anywhere, which also unwinds some
        secondary structure), each kept only when the model stays compact (CA radius of gyration
        <= ``max_rg_ratio`` x native, or not above the start) and gains no backbone clash; runs until
        the proxy lDDT reaches ``target`` and returns the visited state closest to it. A move that
        would overshoot (proxy below ``target - 0.02``) is refused and the step shrinks by 0.7
        (down to 5 degrees), so that targets close to the current score are reached too."""
        m = self.model
        if max_attempts is None:
            max_attempts = int(min(2000, 600 + 8 * self.native.n_residues))
        anywhere = np.flatnonzero(self.movable_phi | self.movable_psi)
        xyz = base.copy()
        score = self.search_proxy(xyz)
        best = (abs(score - target), xyz.copy(), score)
        allowed_clashes = max(self._backbone_clashes(base),
                              self._native_bb_clashes + max(1, self.native.n_residues // 50))
        max_rg = max(self._rg(base), max_rg_ratio * self.rg0)
        allowed_overlaps = self._overlaps(base)
        n_accepted = 0
        for _ in range(max_attempts):
            if score <= target:
                break
            pool = self.loops if rng.uniform() < loop_bias else anywhere
            r = int(rng.choice(pool))
            trial = xyz.copy()
            for which in ("phi", "psi"):
                m.rotate_torsion(trial, r, which, float(rng.normal(0.0, step_deg)))
            if self._rg(trial) > max_rg:
                continue
            if self._backbone_clashes(trial) > allowed_clashes:
                continue
            if self._overlaps(trial) > allowed_overlaps:
                continue
            trial_score = self.search_proxy(trial)
            if trial_score < target - 0.02:
                step_deg = max(5.0, 0.7 * step_deg)
                continue
            xyz = trial
            n_accepted += 1
            score = trial_score
            if abs(score - target) < best[0]:
                best = (abs(score - target), xyz.copy(), score)
        return best[1], best[2], n_accepted

    def _side_chain_noise(self, xyz, target, rng):
        """Random rotamer changes on up to 25% of residues, halved until the proxy stays > target."""
        plan = self._plan("sidechain", rng)
        fraction = float(rng.uniform(0.0, 0.25))
        for _ in range(6):
            trial = self._apply("sidechain", plan, fraction, xyz)
            if self.search_proxy(trial) > target + 0.02 or fraction == 0.0:
                return trial, fraction
            fraction *= 0.5
        return xyz, 0.0

    def _choose_kind(self, target, rng):
        if target >= 0.8:
            kinds, weights = ("backbone", "hinge", "register", "sidechain"), (0.3, 0.25, 0.2, 0.25)
        elif target >= 0.55:
            kinds, weights = ("backbone", "hinge", "register", "misfold"), (0.35, 0.25, 0.15, 0.25)
        else:
            kinds, weights = ("backbone", "misfold"), (0.4, 0.6)
        return str(rng.choice(kinds, p=np.asarray(weights)))

    def perturb(self, target, rng, kind=None):
        """Unrelaxed all-atom decoy aimed at proxy lDDT ``target``: (xyz, kind, info).

        The kind's magnitude is bisected to hit the target. When that costs more than
        ``max(2, R/20)`` new heavy-atom clashes (5 per 100 residues), the magnitude is backed off to
        the largest one within that limit and a misfold walk (which adds no clash) continues to
        the target; so does it when the kind cannot go as low as the target. Up to ``max_tries``
        draws; the first within the clash limit and 0.05 of the target is kept, else the best.
        """
        kind = kind or self._choose_kind(target, rng)
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        base = self.model.coords
        limit = max(2, self.native.n_residues // 20)
        candidates = []
        for attempt in range(self.max_tries):
            info = {"attempt": attempt}
            start = base
            if kind != "sidechain":
                start, info["sidechain_fraction"] = self._side_chain_noise(base, target, rng)
            start_clashes = self._clashes(start)
            label = kind
            if kind == "misfold":
                xyz, score, info["misfold_moves"] = self._misfold_walk(start, target, rng)
            else:
                plan = self._plan(kind, rng)
                magnitude, xyz, score = self._bisect(kind, plan, target, start)
                if kind != "sidechain" and self._clashes(xyz) - start_clashes > limit:
                    magnitude, xyz = self._back_off(kind, plan, magnitude, start,
                                                    start_clashes + limit)
                    score = self.search_proxy(xyz)
                if score > target + 0.03:          # kind cannot go that low without clashes
                    xyz, score, info["misfold_moves"] = self._misfold_walk(xyz, target, rng)
                    label = kind + "+misfold"
                info["magnitude"] = magnitude
            info["proxy_lddt"] = self.proxy(xyz)
            info["clashes"] = self._clashes(xyz)
            new_clashes = info["clashes"] - self._native_clashes
            candidates.append((new_clashes > limit, abs(info["proxy_lddt"] - target), new_clashes,
                               attempt, xyz, label, info))
            if new_clashes <= limit and abs(info["proxy_lddt"] - target) < 0.05:
                break
        candidates.sort(key=lambda c: c[:4])
        *_, xyz, label, info = candidates[0]
        return xyz, label, info

    def _back_off(self, kind, plan, magnitude, start, max_clashes, n_steps=8):
        """Largest magnitude in [0, ``magnitude``] whose result has <= ``max_clashes`` clashes
        (bisection; magnitude 0 is ``start``)."""
        lo, hi = 0.0, magnitude
        best = (0.0, start)
        for _ in range(n_steps):
            mid = 0.5 * (lo + hi)
            xyz = self._apply(kind, plan, mid, start)
            if self._clashes(xyz) <= max_clashes:
                best = (mid, xyz)
                lo = mid
            else:
                hi = mid
        return best

    def generate(self, target, seed, kind=None) -> Decoy:
        """One decoy aimed at global lDDT ``target``, reproducible from ``seed`` (int or sequence)."""
        from .lddt import lddt

        if not 0.0 < float(target) < 1.0:
            raise ValueError(f"target lDDT must be in (0, 1), got {target}")
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        xyz, label, info = self.perturb(float(target), rng, kind)
        info["perturb_seconds"] = time.perf_counter() - t0
        if self.relax:
            t1 = time.perf_counter()
            try:
                relaxed, relax_info = self.relaxer(xyz)
                info.update(relax_info)
                xyz = relaxed
                info["relaxed"] = True
            except FloatingPointError as error:                   # keep the unrelaxed decoy
                warnings.warn(f"{self.native.name}: relaxation failed ({error}); "
                              f"keeping the unrelaxed decoy", RuntimeWarning)
                info["relaxed"] = False
            info["relax_seconds"] = time.perf_counter() - t1
            info["proxy_lddt_relaxed"] = self.proxy(xyz)
            info["clashes_relaxed"] = self._clashes(xyz)
        coords = self.model.to_native_coords(xyz)
        t2 = time.perf_counter()
        result = lddt(decoy_structure(self.native, coords), self.native)
        info["label_seconds"] = time.perf_counter() - t2
        info["total_seconds"] = time.perf_counter() - t0
        info["cpu_seconds"] = time.process_time() - cpu0
        return Decoy(coords=coords, kind=label, target_lddt=float(target),
                     lddt=float(result.global_score), lddt_local=np.asarray(result.per_residue),
                     info=info)


def _decoy_seed(seed, index):
    return np.random.SeedSequence([int(seed), int(index)])


def generate_decoys(native: Structure, n_decoys: int, seed: int = 0, lddt_range=(0.3, 0.95),
                    kinds=None, relax: bool = True, relax_options: dict | None = None,
                    indices=None) -> list[Decoy]:
    """Decoys of one native with global lDDT spread over ``lddt_range``.

    Targets are stratified: decoy i aims at a uniform draw in one of ``n_decoys`` equal bins of
    ``lddt_range`` (bins assigned in random order), so that even a few decoys cover the range.

    Parameters
    ----------
    native : Structure
    n_decoys : int
        Size of the series (defines the targets).
    seed : int
        Decoy i depends only on (seed, i, n_decoys, lddt_range, kinds) and the native.
    lddt_range : (float, float)
        Range of target global lDDT, within (0, 1).
    kinds : sequence of str, optional
        Restrict the kinds (decoy i gets ``kinds[i % len(kinds)]``); default: chosen per target.
    relax : bool
        OpenMM relaxation (see :class:`Relaxer`).
    relax_options : dict, optional
        Keyword arguments of :class:`Relaxer`.
    indices : sequence of int, optional
        Generate only these decoys of the series (to split a series between workers).

    Returns
    -------
    list of Decoy
        In the order of ``indices`` (default ``range(n_decoys)``).
    """
    n_decoys = int(n_decoys)
    if n_decoys < 0:
        raise ValueError(f"n_decoys must be >= 0, got {n_decoys}")
    lo, hi = (float(v) for v in lddt_range)
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"lddt_range must satisfy 0 < low < high < 1, got {lddt_range}")
    if kinds is not None:
        kinds = list(kinds)
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ValueError(f"unknown kinds {bad}; expected a non-empty subset of {KINDS}")
    indices = range(n_decoys) if indices is None else [int(i) for i in indices]
    if any(not 0 <= i < n_decoys for i in indices):
        raise ValueError(f"indices must lie in [0, {n_decoys})")
    if not len(indices):
        return []
    generator = DecoyGenerator(native, relax=relax, relax_options=relax_options)
    targets = _stratified_targets(n_decoys, lo, hi, seed)
    decoys = []
    for i in indices:
        kind = kinds[i % len(kinds)] if kinds else None
        decoy = generator.generate(targets[i], _decoy_seed(seed, i), kind)
        decoy.info["index"] = i
        decoy.info["prepare_seconds"] = generator.prepare_seconds
        decoys.append(decoy)
    return decoys


def _stratified_targets(n, lo, hi, seed):
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A26E75]))
    edges = np.linspace(lo, hi, n + 1)
    targets = edges[:-1] + rng.uniform(size=n) * (edges[1:] - edges[:-1])
    return rng.permutation(targets)
