"""One generated decoy: its coordinates, labels and the Structure a network sees.

A decoy is stored in the native's atom order (``coords``, shape (A, 3)). Residues the decoy does not
have (unaligned regions of a threaded model) have NaN coordinates; a decoy with an overlaid second
copy of the chain (``copy_coords``) is a two-chain model. :func:`model_structure` turns this into the
:class:`~estimators.structures.Structure` of the model (absent residues dropped, the copy as chain
``"B"``), and :func:`decoy_labels` computes its labels against the native.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import numpy as np

from ..structures import Structure

__all__ = ["Decoy", "model_structure", "model_labels", "decoy_labels", "present_residues",
           "LABEL_OPTIONS"]


@dataclass
class Decoy:
    """One decoy of a native.

    Attributes
    ----------
    coords : array (A, 3)
        Heavy-atom coordinates in the native's atom order (NaN for residues the model lacks).
    kind : str
        Kind of error (see :data:`estimators.decoys.ALL_KINDS`; ``"+misfold"`` appended when a
        misfold walk continued a perturbation).
    target_lddt : float
        Aimed-at global lDDT (NaN for kinds that do not aim, e.g. threaded models).
    lddt : float
        Global lDDT label against the native (see :func:`decoy_labels`).
    lddt_local : array (R,)
        Per-residue label of each native residue (NaN where the model lacks the residue).
    info : dict
        Magnitudes, templates, clash counts, energies and timings (s).
    copy_coords : array (A, 3) or None
        A second copy of the chain overlaid on the first (impossible ``overlay`` models).
    copy_lddt_local : array (R,) or None
        Per-residue labels of the copy's residues.
    """

    coords: np.ndarray
    kind: str
    target_lddt: float
    lddt: float
    lddt_local: np.ndarray
    info: dict = field(default_factory=dict)
    copy_coords: np.ndarray | None = None
    copy_lddt_local: np.ndarray | None = None

    def structure(self, native: Structure, name: str | None = None) -> Structure:
        """The model as a Structure (see :func:`model_structure`)."""
        return model_structure(native, self.coords, self.copy_coords, name=name)

    def local_labels(self, native: Structure) -> np.ndarray:
        """Per-residue labels of the residues of :meth:`structure`, in its order."""
        return model_labels(native, self.coords, self.lddt_local, self.copy_coords,
                            self.copy_lddt_local)


def cpu_time() -> float:
    """CPU seconds of this process and its finished child processes (TM-align runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def present_residues(native: Structure, coords) -> np.ndarray:
    """(R,) bool: residues of ``native`` whose atoms all have finite coordinates in ``coords``."""
    coords = np.asarray(coords)
    finite = np.all(np.isfinite(coords), axis=1)
    bad = np.bincount(native.atom_res, weights=~finite, minlength=native.n_residues)
    return bad == 0


def model_labels(native: Structure, coords, lddt_local, copy_coords=None, copy_lddt_local=None):
    """Per-residue labels (R,) of the native's residues restricted to the residues of
    :func:`model_structure` (same arguments), in its order."""
    keep = present_residues(native, coords)
    out = np.asarray(lddt_local, dtype=np.float64)[keep]
    if copy_coords is not None:
        out = np.concatenate([out, np.asarray(copy_lddt_local, dtype=np.float64)[keep]])
    return out


def model_structure(native: Structure, coords, copy_coords=None, name: str | None = None) -> Structure:
    """Structure of a decoy: the native's residues with finite ``coords`` (others dropped), plus,
    when ``copy_coords`` is given, the same residues again as a second chain.

    Parameters
    ----------
    native : Structure
    coords : array (A, 3)
        Coordinates in the native's atom order; a residue with any non-finite atom is absent.
    copy_coords : array (A, 3), optional
        Coordinates of an overlaid copy (same residues present); its chain id is the first of
        ``B``, ``C``, ... not used by the native (one new letter per native chain).
    name : str, optional
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (native.n_atoms, 3):
        raise ValueError(f"coords of a decoy of {native.name} must have shape "
                         f"({native.n_atoms}, 3), got {coords.shape}")
    keep_res = present_residues(native, coords)
    if not keep_res.any():
        raise ValueError(f"decoy of {native.name} has no residue with finite coordinates")
    keep_atom = keep_res[native.atom_res]
    remap = np.cumsum(keep_res) - 1
    chain_ids = np.asarray(native.chain_ids)[keep_res]
    resnums = np.asarray(native.resnums)[keep_res]
    icodes = np.asarray(native.icodes)[keep_res]
    resnames = np.asarray(native.resnames)[keep_res]
    aa_index = np.asarray(native.aa_index)[keep_res]
    xyz = coords[keep_atom]
    atom_names = np.asarray(native.atom_names)[keep_atom]
    atom_res = remap[native.atom_res[keep_atom]]
    if copy_coords is not None:
        copy_coords = np.asarray(copy_coords, dtype=np.float64)
        if copy_coords.shape != coords.shape or not np.all(np.isfinite(copy_coords[keep_atom])):
            raise ValueError(f"copy_coords of a decoy of {native.name} must be finite where coords "
                             f"are, with shape {coords.shape}")
        own = np.asarray(native.chain_ids).astype(str)
        free = iter(c for c in "BCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    if c not in set(own))
        letters = {c: next(free) for c in dict.fromkeys(own)}
        n = int(keep_res.sum())
        chain_ids = chain_ids.astype(str)
        chain_ids = np.concatenate([chain_ids, np.array([letters[c] for c in chain_ids])])
        resnums = np.concatenate([resnums, resnums])
        icodes = np.concatenate([icodes, icodes])
        resnames = np.concatenate([resnames, resnames])
        aa_index = np.concatenate([aa_index, aa_index])
        xyz = np.vstack([xyz, copy_coords[keep_atom]])
        atom_names = np.concatenate([atom_names, atom_names])
        atom_res = np.concatenate([atom_res, atom_res + n])
    return dataclasses.replace(native, name=name or native.name, chain_ids=chain_ids,
                               resnums=resnums, icodes=icodes, resnames=resnames,
                               aa_index=aa_index, coords=xyz.copy(), atom_names=atom_names,
                               atom_res=np.asarray(atom_res, dtype=np.int64), _cache={})


#: Options of :func:`estimators.lddt.lddt` for every decoy label: the clash-aware rule (clashing
#: residues or side chains of the model are removed first, as OpenStructure's ``lddt -f``).
LABEL_OPTIONS = {"clash_filter": True}


def decoy_labels(native: Structure, coords, copy_coords=None, **lddt_options):
    """Labels of a decoy against its native: (global lDDT, per-residue lDDT (R,), copy's (R,) or None).

    Every decoy kind is labelled with the same rule, :data:`LABEL_OPTIONS` (the clash-aware lDDT),
    unless ``lddt_options`` override it.

    Per-residue values are given for every native residue, NaN where the model lacks it. The global
    value is over all of the native's reference pairs (an absent residue makes its pairs
    non-conserved, as OpenStructure's ``lddt`` does). For a model with an overlaid copy, each copy
    is scored against the native with the other present (``lddt_options`` such as the clash rule
    see both), and the global value is the mean of the two copies' global values.
    ``lddt_options`` are passed to :func:`estimators.lddt.lddt`.
    """
    from ..lddt import lddt

    lddt_options = {**LABEL_OPTIONS, **lddt_options}
    model = model_structure(native, coords, copy_coords)
    keep = present_residues(native, coords)
    R = native.n_residues
    if copy_coords is None:
        result = lddt(model, native, **lddt_options)
        local = np.full(R, np.nan)
        local[keep] = result.per_residue
        return float(result.global_score), local, None
    # two chains: score each copy as "chain of the native" in turn
    n = int(keep.sum())
    chains = np.asarray(model.chain_ids).astype(str)
    out = []
    for first in (True, False):
        swapped = chains.copy()
        if not first:
            swapped[:n], swapped[n:] = chains[n:], chains[:n]
        result = lddt(dataclasses.replace(model, chain_ids=swapped, _cache={}), native,
                      **lddt_options)
        local = np.full(R, np.nan)
        local[keep] = result.per_residue[:n] if first else result.per_residue[n:]
        out.append((float(result.global_score), local))
    return 0.5 * (out[0][0] + out[1][0]), out[0][1], out[1][1]
