"""Geometry of a model: backbone dihedrals, Ramachandran regions, clashes, bond statistics.

Used to check that generated decoys look like real models (:mod:`estimators.decoys.realism`) and
by the generator itself (clash limits, secondary structure from phi/psi).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.spatial import cKDTree

from ..structures import Structure

__all__ = ["CLASH_DISTANCE", "backbone_dihedrals", "ramachandran_allowed", "count_clashes",
           "geometry_statistics", "decoy_structure", "secondary_structure"]

#: Heavy atoms of residues at least 2 apart (or in different chains) closer than this (Angstrom)
#: count as a clash (SG-SG pairs, i.e. disulfides, excluded).
CLASH_DISTANCE = 2.5

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
    pairs = cKDTree(coords, balanced_tree=False, compact_nodes=False).query_pairs(
        distance, output_type="ndarray")
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

def secondary_structure(phi, psi):
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
