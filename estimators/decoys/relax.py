"""Restrained energy minimisation of generated decoys with OpenMM."""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from .allatom import _AllAtomModel

__all__ = ["Relaxer"]


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
