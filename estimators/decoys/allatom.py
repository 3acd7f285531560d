"""All-atom model of a native (hydrogens and missing heavy atoms added by PDBFixer), its atom
maps and rotatable bonds (phi, psi, side-chain chi), and the rigid moves about them."""
from __future__ import annotations

import hashlib
import io
import math
import random
import warnings
from pathlib import Path

import numpy as np

from ..atom_types import RESIDUE_ATOMS
from ..structures import Structure
from ._files import atomic_write_npz
from .rigid import _frame, _rotation_matrix

__all__ = ["AllAtomModel"]

#: Side-chain bonds that are not rotamer degrees of freedom (conjugated, planar groups).
_PLANAR_BONDS = {("ARG", "NE", "CZ")}

#: Version of the cache files of :func:`_fixed_model` (part of the key).
_CACHE_FORMAT = 1

_CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

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


def _cache_key(pdb_text: str) -> str:
    """Key of a native's PDBFixer result: the text PDBFixer reads and the versions that place
    the atoms (a change of either gives another key)."""
    from importlib.metadata import PackageNotFoundError, version

    import openmm
    import pdbfixer

    try:
        fixer_version = version("pdbfixer")
    except PackageNotFoundError:            # a source checkout without package metadata
        fixer_version = f"{getattr(pdbfixer, '__version__', 'unknown')} {pdbfixer.__file__}"
    head = f"allatom {_CACHE_FORMAT}\nopenmm {openmm.__version__}\npdbfixer {fixer_version}\n"
    return hashlib.sha256((head + pdb_text).encode()).hexdigest()


def _run_pdbfixer(pdb_text: str):
    """PDBFixer on ``pdb_text``: missing heavy atoms and hydrogens (pH 7) added, no missing
    residue; returns (topology, coordinates in A, float64)."""
    import openmm
    from openmm import unit
    from pdbfixer import PDBFixer

    # PDBFixer/OpenMM place new atoms at positions drawn from Python's global ``random``
    # and then minimise them on the default (multi-threaded) platform: seed ``random`` and use
    # one CPU thread, restoring both afterwards, so that the model is reproducible
    state = random.getstate()
    random.seed(0)
    cpu = openmm.Platform.getPlatformByName("CPU")
    threads = cpu.getPropertyDefaultValue("Threads")
    cpu.setPropertyDefaultValue("Threads", "1")
    try:
        fixer = PDBFixer(pdbfile=io.StringIO(pdb_text), platform=cpu)
        fixer.findMissingResidues()
        fixer.missingResidues = {}
        fixer.findMissingAtoms()
        fixer.addMissingAtoms()
        fixer.addMissingHydrogens(7.0)
    finally:
        random.setstate(state)
        cpu.setPropertyDefaultValue("Threads", threads)
    return fixer.topology, np.array(fixer.positions.value_in_unit(unit.angstrom), dtype=np.float64)


def _topology_arrays(topology) -> dict:
    """The chains, residues, atoms and bonds of an OpenMM topology, in order, as arrays."""
    chains = list(topology.chains())
    chain_index = {c: k for k, c in enumerate(chains)}
    residues = list(topology.residues())
    atoms = list(topology.atoms())
    bonds = list(topology.bonds())
    return {
        "chain_id": np.array([str(c.id) for c in chains]),
        "res_name": np.array([r.name for r in residues]),
        "res_id": np.array([str(r.id) for r in residues]),
        "res_icode": np.array([str(r.insertionCode) for r in residues]),
        "res_chain": np.array([chain_index[r.chain] for r in residues], dtype=np.int64),
        "atom_name": np.array([a.name for a in atoms]),
        "atom_element": np.array([a.element.symbol if a.element is not None else ""
                                  for a in atoms]),
        "atom_res": np.array([a.residue.index for a in atoms], dtype=np.int64),
        "atom_id": np.array([str(a.id) for a in atoms]),
        "bond_atoms": np.array([[b[0].index, b[1].index] for b in bonds],
                               dtype=np.int64).reshape(-1, 2),
        "bond_type": np.array([repr(b.type) if b.type is not None else "" for b in bonds]),
        "bond_order": np.array([-1 if b.order is None else int(b.order) for b in bonds],
                               dtype=np.int64),
    }


def _topology_from_arrays(data):
    """Inverse of :func:`_topology_arrays`: the same chains, residues, atoms and bonds in the same
    order (the order of the force-field terms, and so the relaxation's arithmetic, follows it)."""
    from openmm.app import Topology, element
    from openmm.app import topology as bond_types

    types = {name: getattr(bond_types, name)
             for name in ("Single", "Double", "Triple", "Aromatic", "Amide")}
    topology = Topology()
    chains = [topology.addChain(str(c)) for c in data["chain_id"]]
    residues = [topology.addResidue(str(n), chains[int(c)], str(i), str(ic))
                for n, i, ic, c in zip(data["res_name"], data["res_id"], data["res_icode"],
                                       data["res_chain"])]
    atoms = [topology.addAtom(str(n), element.Element.getBySymbol(str(e)) if e else None,
                              residues[int(r)], str(i))
             for n, e, r, i in zip(data["atom_name"], data["atom_element"], data["atom_res"],
                                   data["atom_id"])]
    for (i, j), t, o in zip(data["bond_atoms"], data["bond_type"], data["bond_order"]):
        topology.addBond(atoms[int(i)], atoms[int(j)], types[str(t)] if t else None,
                         None if o < 0 else int(o))
    return topology


def _fixed_model(pdb_text: str, name: str, cache_dir=None):
    """(topology, coordinates in A) of the native's all-atom model, from ``cache_dir`` when it
    holds this native's model for the same PDBFixer input and versions, else computed (and
    stored there).

    A cache file holds the topology as arrays (chains, residues, atoms and bonds in their order)
    and the coordinates as float64, so that a model read from the cache equals the computed one
    exactly, down to the order of its force-field terms. An unreadable or mismatched file is
    recomputed and replaced; files are written atomically, so shards running side by side can
    share one folder."""
    if cache_dir is None:
        return _run_pdbfixer(pdb_text)
    key = _cache_key(pdb_text)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name).split("/")[-1])
    path = Path(cache_dir) / f"{stem[:80]}-{key[:24]}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == key:
                xyz = np.array(data["coords"], dtype=np.float64)
                topology = _topology_from_arrays(data)
                if xyz.shape == (topology.getNumAtoms(), 3):
                    return topology, xyz
    except Exception:                       # absent, truncated or foreign: compute it again
        pass
    topology, xyz = _run_pdbfixer(pdb_text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_npz(path, {"key": np.array(key), "coords": xyz, **_topology_arrays(topology)})
    except OSError as error:                # read-only or full disk: go on without the cache
        warnings.warn(f"{name}: all-atom model not cached in {cache_dir} ({error})",
                      RuntimeWarning, stacklevel=2)
    return topology, xyz


class _AllAtomModel:
    """The native with hydrogens and missing heavy atoms (PDBFixer), atom maps and torsion sets.

    Parameters
    ----------
    native : Structure
    cache_dir : path, optional
        Folder of PDBFixer results (one file per native, see :func:`_fixed_model`): a native
        seen before, by this process or another, skips PDBFixer (about 4 s per native of 150
        residues, most of it spent minimising the added hydrogens). The model is the same with
        or without it.
    """

    def __init__(self, native: Structure, cache_dir=None):
        self.native = native
        written = _standard_atom_mask(native)
        n_written = np.bincount(native.atom_res[written], minlength=native.n_residues)
        if np.any(n_written == 0):
            r = int(np.flatnonzero(n_written == 0)[0])
            raise ValueError(f"{native.name}: residue {native.residue_label(r)} has no standard "
                             f"heavy atom; cannot build decoys")
        self.topology, xyz = _fixed_model(_native_pdb_text(native, written), native.name,
                                          cache_dir)
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
        # first atom of the chain of each residue
        chain_start_res = np.zeros(native.n_residues, dtype=np.int64)
        for r in range(1, native.n_residues):
            chain_start_res[r] = r if chains[r] != chains[r - 1] else chain_start_res[r - 1]
        self.chain_start_atom = self.res_start[chain_start_res]
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
    def rotate_torsion(self, xyz, r, which, angle_deg, n_side=False):
        """Change phi or psi of residue r by angle_deg, moving the C-terminal side of the chain
        (or, with ``n_side``, the N-terminal side: the same change of the dihedral)."""
        torsion = self.phi[r] if which == "phi" else self.psi[r]
        if torsion is None or angle_deg == 0.0:
            return
        u, v, moving = torsion
        origin = xyz[v]
        axis = xyz[v] - xyz[u]
        # the N-terminal side turned the other way about the same axis: the same dihedral change
        sign = -1.0 if n_side else 1.0
        rot = _rotation_matrix(axis / np.linalg.norm(axis), sign * math.radians(angle_deg))
        if n_side:
            upstream = np.arange(self.chain_start_atom[r], self.res_start[r + 1])
            upstream = upstream[~np.isin(upstream, moving)]
            xyz[upstream] = (xyz[upstream] - origin) @ rot.T + origin
            return
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


#: Public name of the all-atom model.
AllAtomModel = _AllAtomModel
