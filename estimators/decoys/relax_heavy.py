"""Restrained clash relief of decoys on their heavy atoms with OpenMM (the fast relaxation)."""
from __future__ import annotations

import math

import numpy as np

from .allatom import _AllAtomModel
from .relax import (BONDED_FORCES, amber14, changed_rows, check_relaxation_input,
                    largest_bond_deviation, plain_value, restraint_force, separate_overlaps,
                    switch_terms, terms_off)

__all__ = ["HeavyAtomRelaxer", "REPULSION_RADII"]

#: Radius (A) of each element in the repulsion: a pair of atoms repels below the sum of their
#: radii (C-C 3.0, C-O 2.8, N-O 2.65, O-O 2.6 A), shorter than any contact of a well-packed
#: protein (hydrogen-bonded N-O pairs are 2.8-3.0 A apart), longer than every heavy-atom clash.
REPULSION_RADII = {"C": 1.5, "N": 1.35, "O": 1.3, "S": 1.7}
_DEFAULT_RADIUS = 1.5


class HeavyAtomRelaxer:
    """Restrained minimisation of a decoy's heavy atoms: bonded geometry plus clash relief.

    The system holds the heavy atoms only: Amber14's (``amber14-all.xml``) bond, angle and torsion
    terms among heavy atoms (proper and improper torsions, so peptide planes and chirality keep
    their shape), a repulsion ``k (s - r)^2`` for r < s between atoms more than three bonds apart
    (s = the sum of the two atoms' :data:`REPULSION_RADII`, k = ``repulsion_k`` kJ/mol/nm^2), and
    harmonic restraints ``0.5 k |x - x0|^2`` (``restraint_k`` in kJ/mol/nm^2) to the unrelaxed
    decoy; L-BFGS with ``max_iterations`` and ``tolerance`` (kJ/mol/nm). No charges, no
    attraction, no hydrogens: the minimisation removes overlaps and repairs covalent geometry
    without packing the model the way a force field in vacuum would. Each hydrogen of the all-atom
    model moves with the heavy atom it is bonded to.

    Against :class:`~estimators.decoys.relax.Relaxer` (Amber14 with hydrogens, the same
    restraints): no hydrogens, no electrostatics and a repulsion that ends at 3.4 A, so one
    minimisation costs less (4.2x less CPU on 48 decoys relaxed both ways, ``benchmarks/RESULTS.md``,
    "Decoy corpus at scale"); the repulsion is finite, so overlapping atoms need no soft first
    stage (atoms at the same place are separated by a small fixed jitter).

    Disulfides pulled apart by a perturbation (SG-SG beyond ``disulfide_cutoff`` A in the unrelaxed
    decoy) have their bonded terms switched off for that decoy, and atoms given as ``inactive``
    lose every interaction and keep their positions, as in
    :class:`~estimators.decoys.relax.Relaxer`. A result that is not finite or whose covalent bonds
    deviate from the native's by more than ``max_bond_deviation`` A raises
    :class:`FloatingPointError`. One CPU thread per relaxer (``threads``).
    """

    def __init__(self, model: _AllAtomModel, restraint_k=1000.0, max_iterations=300,
                 tolerance=30.0, repulsion_k=2.0e4, threads=1, max_bond_deviation=0.5,
                 disulfide_cutoff=3.0):
        import openmm
        from openmm import app, unit

        self.model = model
        self.restraint_k = float(restraint_k)
        self.max_iterations = int(max_iterations)
        self.tolerance = float(tolerance)
        self.repulsion_k = float(repulsion_k)
        self.max_bond_deviation = float(max_bond_deviation)
        self.disulfide_cutoff = float(disulfide_cutoff)
        self._unit = unit
        heavy = np.asarray(model.heavy, dtype=np.int64)
        self._heavy = heavy
        index = np.full(model.n_atoms, -1, dtype=np.int64)
        index[heavy] = np.arange(len(heavy))
        full = amber14().createSystem(model.topology, nonbondedMethod=app.NoCutoff,
                                      constraints=None)
        system = openmm.System()
        for k in heavy:
            system.addParticle(full.getParticleMass(int(k)))
        self._bonded = self._copy_bonded_terms(full, index, system)
        bond_atoms = next(a for _, a, _, name in self._bonded if name == "HarmonicBondForce")
        self._bonds = bond_atoms
        self._bond_ref = np.linalg.norm(model.coords[heavy[bond_atoms[:, 0]]] -
                                        model.coords[heavy[bond_atoms[:, 1]]], axis=1)
        elements = [a.element.symbol if a.element is not None else "C"
                    for a in model.topology.atoms()]
        self._radius_nm = np.array([REPULSION_RADII.get(elements[k], _DEFAULT_RADIUS) / 10.0
                                    for k in heavy])
        self._repulsion = self._repulsion_force(bond_atoms)
        system.addForce(self._repulsion)
        self._restraint = restraint_force(self.restraint_k, range(len(heavy)))
        system.addForce(self._restraint)
        self.context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                                      openmm.Platform.getPlatformByName("CPU"),
                                      {"Threads": str(int(threads))})
        names = model.atom_names[heavy]
        is_ss = (names[bond_atoms[:, 0]] == "SG") & (names[bond_atoms[:, 1]] == "SG")
        self._ss_pairs = bond_atoms[is_ss]
        self._ss_bond_rows = np.flatnonzero(is_ss)
        # state of the switches in the context: inactive heavy atoms, broken disulfides
        self._inactive = np.zeros(len(heavy), dtype=bool)
        self._ss_on = np.ones(len(self._ss_pairs), dtype=bool)
        self._term_off = [np.zeros(len(a), dtype=bool) for _, a, _, _ in self._bonded]
        self._bond_checked = np.ones(len(bond_atoms), dtype=bool)
        # hydrogens follow the heavy atom they are bonded to
        parent = np.arange(model.n_atoms)
        for bond in model.topology.bonds():
            i, j = bond[0].index, bond[1].index
            if model.is_heavy[j] and not model.is_heavy[i]:
                parent[i] = j
            elif model.is_heavy[i] and not model.is_heavy[j]:
                parent[j] = i
        self._parent = parent

    @staticmethod
    def _copy_bonded_terms(full, index, system):
        """Amber's bonded terms among heavy atoms, re-indexed by ``index`` (all-atom -> heavy, -1
        for hydrogens) into new forces of ``system``: [(force, atoms (T, k), parameters, name)]."""
        import openmm

        bonded = []
        for force in full.getForces():
            name = type(force).__name__
            if name not in BONDED_FORCES:
                continue
            getter, _, counter, adder, n_atoms = BONDED_FORCES[name]
            copy = getattr(openmm, name)()
            get, add = getattr(force, getter), getattr(copy, adder)
            terms = [get(t) for t in range(getattr(force, counter)())]
            ids = index[np.array([t[:n_atoms] for t in terms], dtype=np.int64).reshape(
                -1, n_atoms)]
            keep = np.flatnonzero(np.all(ids >= 0, axis=1))
            atoms, params = ids[keep], []
            for t, row in zip(keep, atoms.tolist()):
                p = tuple(row) + tuple(plain_value(v) for v in terms[t][n_atoms:])
                add(*p)
                params.append(p)
            system.addForce(copy)
            bonded.append((copy, atoms.reshape(-1, n_atoms), params, name))
        return bonded

    def _repulsion_force(self, bond_atoms):
        """``k (s - r)^2`` for r < s = sum of the radii, between atoms more than three bonds apart;
        per-particle switch ``on`` for inactive atoms."""
        import openmm

        repulsion = openmm.CustomNonbondedForce("on1*on2*k_repulsion*step(s-r)*(s-r)^2; "
                                                "s=radius1+radius2")
        repulsion.addGlobalParameter("k_repulsion", self.repulsion_k)
        repulsion.addPerParticleParameter("radius")
        repulsion.addPerParticleParameter("on")
        for radius in self._radius_nm:
            repulsion.addParticle([float(radius), 1.0])
        repulsion.createExclusionsFromBonds([(int(i), int(j)) for i, j in bond_atoms], 3)
        repulsion.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
        repulsion.setCutoffDistance(2.0 * float(self._radius_nm.max()))
        return repulsion

    # -- switches -----------------------------------------------------------------------------
    def _set_state(self, heavy_xyz, inactive):
        """Disulfides on (SG-SG <= cutoff in ``heavy_xyz``) or off, and the inactive heavy atoms
        (None: none), set in the context's terms that changed since the last decoy."""
        if len(self._ss_pairs):
            d = np.linalg.norm(heavy_xyz[self._ss_pairs[:, 0]] - heavy_xyz[self._ss_pairs[:, 1]],
                               axis=1)
            self._ss_on = d <= self.disulfide_cutoff
        inactive = np.zeros(len(self._heavy), dtype=bool) if inactive is None else inactive
        changed = changed_rows(inactive, self._inactive)
        self._inactive = inactive
        for k in changed:
            self._repulsion.setParticleParameters(int(k), [float(self._radius_nm[k]),
                                                           0.0 if inactive[k] else 1.0])
        if changed.size:
            self._repulsion.updateParametersInContext(self.context)
        broken = self._ss_pairs[~self._ss_on]
        for slot, (force, atoms, params, name) in enumerate(self._bonded):
            off = terms_off(atoms, inactive, broken)
            switch_terms(force, BONDED_FORCES[name][1], params, off, self._term_off[slot],
                         self.context)
            self._term_off[slot] = off
        checked = ~np.any(inactive[self._bonds], axis=1)
        checked[self._ss_bond_rows] &= self._ss_on
        self._bond_checked = checked

    def bond_deviation(self, heavy_xyz):
        """Largest deviation (A) of a covalent bond between heavy atoms from the native's, over
        the bonds switched on for the current decoy."""
        return largest_bond_deviation(heavy_xyz, self._bonds, self._bond_ref, self._bond_checked)

    # -- minimisation -------------------------------------------------------------------------
    def __call__(self, xyz, inactive=None):
        """Relax ``xyz`` (Angstrom, all atoms of the model): the parameters, result and errors of
        :meth:`Relaxer.__call__ <estimators.decoys.relax.Relaxer.__call__>`; ``info["soft_stage"]``
        is always False (the repulsion is finite, so there is no soft stage)."""
        import openmm

        xyz, inactive = check_relaxation_input(xyz, inactive, self.model.n_atoms)
        heavy_in = xyz[self._heavy]
        self._set_state(heavy_in, None if inactive is None else inactive[self._heavy])
        reference = heavy_in / 10.0
        for k in range(len(self._heavy)):
            self._restraint.setParticleParameters(k, k, tuple(reference[k]))
        self._restraint.updateParametersInContext(self.context)
        self.context.setPositions(separate_overlaps(reference))
        try:
            openmm.LocalEnergyMinimizer.minimize(self.context, self.tolerance, self.max_iterations)
        except openmm.OpenMMException as error:
            raise FloatingPointError(f"minimisation failed: {error}") from error
        state = self.context.getState(getPositions=True, getEnergy=True)
        heavy_out = np.array(state.getPositions(asNumpy=True).value_in_unit(self._unit.nanometer))
        heavy_out *= 10.0
        energy = state.getPotentialEnergy().value_in_unit(self._unit.kilojoule_per_mole)
        if not (np.all(np.isfinite(heavy_out)) and math.isfinite(energy)):
            raise FloatingPointError("relaxation failed: non-finite result")
        deviation = self.bond_deviation(heavy_out)
        if deviation > self.max_bond_deviation:
            raise FloatingPointError(f"relaxation failed: largest bond deviation {deviation:.2f} A")
        shift = np.zeros_like(xyz)
        shift[self._heavy] = heavy_out - heavy_in
        out = xyz + shift[self._parent]
        if inactive is not None:
            out[inactive] = xyz[inactive]
        return out, {"energy_after": energy, "soft_stage": False,
                     "disulfides_off": int((~self._ss_on).sum())}
