"""Fast global lDDT against a fixed reference, used to aim perturbations at a target lDDT
(labels come from :func:`estimators.lddt.lddt`)."""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["ProxyLDDT"]


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
        passed = sum(int(np.count_nonzero(diff <= t)) for t in self.thresholds)
        return passed / (diff.size * self.thresholds.size)

    def subsample(self, max_pairs, rng) -> "ProxyLDDT":
        """A copy scoring a uniform random subset of at most ``max_pairs`` pairs (faster; standard
        error about sqrt(p (1 - p) / max_pairs) / 2 of the global value)."""
        out = object.__new__(ProxyLDDT)
        keep = np.sort(rng.choice(self.i.size, size=min(int(max_pairs), self.i.size),
                                  replace=False)) if self.i.size else np.zeros(0, dtype=np.int64)
        out.i, out.j, out.d_ref = self.i[keep], self.j[keep], self.d_ref[keep]
        return out
