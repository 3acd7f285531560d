"""Restrained energy minimisation of generated decoys with OpenMM."""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.spatial import cKDTree

from .allatom import _AllAtomModel

__all__ = ["Relaxer", "RELAXATIONS", "make_relaxer"]

#: Relaxation methods: ``"amber"`` (:class:`Relaxer`, Amber14 with hydrogens) and ``"heavy"``
#: (:class:`~estimators.decoys.relax_heavy.HeavyAtomRelaxer`, heavy atoms, bonded terms and a
#: repulsion).
RELAXATIONS = ("amber", "heavy")


#: Bonded force types whose terms a relaxation switches off: getter, setter, counter, adder,
#: atoms per term (the force constant is each term's last parameter).
BONDED_FORCES = {"HarmonicBondForce": ("getBondParameters", "setBondParameters", "getNumBonds",
                                       "addBond", 2),
                 "HarmonicAngleForce": ("getAngleParameters", "setAngleParameters",
                                        "getNumAngles", "addAngle", 3),
                 "PeriodicTorsionForce": ("getTorsionParameters", "setTorsionParameters",
                                          "getNumTorsions", "addTorsion", 4)}


def restraint_force(restraint_k, particles):
    """Harmonic restraints ``0.5 k |x - x0|^2`` (k = ``restraint_k`` kJ/mol/nm^2) on
    ``particles``, their positions x0 set later (per decoy) with ``setParticleParameters``."""
    import openmm
    restraint = openmm.CustomExternalForce("0.5*k_restraint*((x-x0)^2+(y-y0)^2+(z-z0)^2)")
    restraint.addGlobalParameter("k_restraint", float(restraint_k))
    for name in ("x0", "y0", "z0"):
        restraint.addPerParticleParameter(name)
    for k in particles:
        restraint.addParticle(int(k), (0.0, 0.0, 0.0))
    return restraint


def check_relaxation_input(xyz, inactive, n_atoms):
    """``xyz`` as float64 (ValueError unless finite and (n_atoms, 3)); ``inactive`` as bool or
    None (ValueError unless (n_atoms,))."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (n_atoms, 3) or not np.all(np.isfinite(xyz)):
        raise ValueError(f"relaxation needs finite coordinates of shape ({n_atoms}, 3)")
    if inactive is not None:
        inactive = np.asarray(inactive, dtype=bool)
        if inactive.shape != (n_atoms,):
            raise ValueError(f"inactive must have shape ({n_atoms},)")
    return xyz, inactive


def separate_overlaps(xyz):
    """A copy of ``xyz`` in which atoms at the same place (closer than 1e-3) are moved apart by a
    small fixed jitter: without it their repulsion has no direction (NaN forces)."""
    start = xyz.copy()
    pairs = cKDTree(start).query_pairs(1e-3, output_type="ndarray")
    if pairs.size:
        start[pairs[:, 1]] += np.random.default_rng(0).normal(scale=0.005, size=(len(pairs), 3))
    return start


_UNIT_FACTORS = {}                          # unit -> factor to OpenMM's default units


def plain_value(value):
    """A force-field parameter as a plain number in OpenMM's default units (nm, kJ/mol, rad,
    elementary charge), which its setters take as they are: converting unit-carrying values on
    every switch of a term costs more than the switch itself."""
    from openmm import unit
    if not unit.is_quantity(value):
        return value
    factor = _UNIT_FACTORS.get(value.unit)
    if factor is None:
        factor = _UNIT_FACTORS[value.unit] = unit.Quantity(1.0, value.unit).value_in_unit_system(
            unit.md_unit_system)
    return value._value * factor


def terms_off(atoms, inactive, broken_pairs=()):
    """Which terms (rows of ``atoms``, (T, k)) to switch off: those with an ``inactive`` atom and
    those holding both atoms of one of ``broken_pairs`` (disulfides pulled apart)."""
    off = np.any(inactive[atoms], axis=1) if atoms.size else np.zeros(0, dtype=bool)
    for i, j in broken_pairs:
        off |= np.any(atoms == i, axis=1) & np.any(atoms == j, axis=1)
    return off


def changed_rows(state, previous):
    """Indices where the bool array ``state`` differs from ``previous`` (None: all False)."""
    return np.flatnonzero(state != (previous if previous is not None else False))


def switch_terms(force, setter, params, off, previous, context):
    """Give the terms of ``force`` whose state differs from ``previous`` (bool array, or None for
    all on) their state in ``off``: a force constant (the last parameter) of 0, or their own
    ``params`` again; the context is updated when any changed."""
    changed = changed_rows(off, previous)
    for t in changed:
        p = list(params[t])
        if off[t]:
            p[-1] = 0.0
        getattr(force, setter)(int(t), *p)
    if changed.size:
        force.updateParametersInContext(context)


def largest_bond_deviation(xyz, bonds, reference, rows):
    """Largest |length - reference| (A) over the bonds (pairs of rows of ``xyz``) selected by
    ``rows``; 0 when none is."""
    lengths = np.linalg.norm(xyz[bonds[rows, 0]] - xyz[bonds[rows, 1]], axis=1)
    return float(np.max(np.abs(lengths - reference[rows]))) if lengths.size else 0.0


@functools.lru_cache(maxsize=1)
def amber14():
    """OpenMM's ``amber14-all.xml`` force field, read once per process (both relaxations build
    their systems from it)."""
    from openmm import app
    return app.ForceField("amber14-all.xml")


def make_relaxer(model: _AllAtomModel, method="amber", **options):
    """The relaxer of ``method`` (one of :data:`RELAXATIONS`) for ``model``, built with
    ``options`` (keyword arguments of its class)."""
    if method == "amber":
        return Relaxer(model, **options)
    if method == "heavy":
        from .relax_heavy import HeavyAtomRelaxer
        return HeavyAtomRelaxer(model, **options)
    raise ValueError(f"relaxation method must be one of {RELAXATIONS}, got {method!r}")


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
    the decoy back together.

    Absent residues (threaded models lack the residues that the template does not cover): atoms
    given as ``inactive`` to :meth:`__call__` lose every interaction (their non-bonded parameters
    and every bond, angle, torsion and exception term that contains one of them are zeroed for that
    call), so that the rest is relaxed as if they were not there; they do not move. One CPU thread
    per relaxer,
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
        self._system = amber14().createSystem(model.topology,
                                               nonbondedMethod=app.CutoffNonPeriodic,
                                               nonbondedCutoff=cutoff_nm * unit.nanometer,
                                               constraints=None)
        self._restrained = model.heavy
        self._platform = openmm.Platform.getPlatformByName("CPU")
        self._properties = {"Threads": str(int(threads))}
        self._terms = self._term_table(self._system)
        self.context, self._restraint = self._context(self._system)
        self._contexts = [self.context]
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
        self._inactive = np.zeros(model.n_atoms, dtype=bool)
        self._bond_checked = np.ones(len(self._bonds), dtype=bool)

    # -- switching terms off ------------------------------------------------------------------------
    _GETTERS = {name: (g, s, c, k) for name, (g, s, c, _, k) in BONDED_FORCES.items()}

    def _term_table(self, system):
        """Per bonded force type: (atoms of each term (T, k), original parameters); for the
        non-bonded force: exceptions' atoms and parameters, particles' parameters.

        Parameters are stored as plain numbers (:func:`plain_value`)."""
        import openmm

        def plain(values):
            return tuple(plain_value(v) for v in values)

        table = {}
        for force in system.getForces():
            name = type(force).__name__
            if name in self._GETTERS and name not in table:
                getter, _, counter, k = self._GETTERS[name]
                params = [plain(getattr(force, getter)(t))
                          for t in range(getattr(force, counter)())]
                atoms = np.array([p[:k] for p in params], dtype=np.int64).reshape(-1, k)
                table[name] = (atoms, params)
            elif isinstance(force, openmm.NonbondedForce) and "exceptions" not in table:
                params = [plain(force.getExceptionParameters(t))
                          for t in range(force.getNumExceptions())]
                atoms = np.array([p[:2] for p in params], dtype=np.int64).reshape(-1, 2)
                table["exceptions"] = (atoms, params)
                table["particles"] = [plain(force.getParticleParameters(t))
                                      for t in range(force.getNumParticles())]
        return table

    def _apply_switches(self, context, previous):
        """Set the parameters of the terms whose state differs from ``previous`` (dict name -> bool
        array of terms off, or None for all on) in ``context``; returns the new states."""
        import openmm

        system = context.getSystem()
        previous = previous or {}
        states = {}
        seen = set()
        broken = self._ss_pairs[~self._ss_state]
        for force in system.getForces():
            name = type(force).__name__
            if name in self._GETTERS and name not in seen:
                seen.add(name)
                atoms, params = self._terms[name]
                off = terms_off(atoms, self._inactive, broken)
                switch_terms(force, self._GETTERS[name][1], params, off,
                             previous.get(name), context)
                states[name] = off
            elif isinstance(force, openmm.NonbondedForce):
                atoms, params = self._terms["exceptions"]
                off = terms_off(atoms, self._inactive)
                changed_e = changed_rows(off, previous.get("exceptions"))
                for t in changed_e:
                    i, j, q, sigma, eps = params[t]
                    if off[t]:
                        q, eps = 0.0, 0.0
                    force.setExceptionParameters(int(t), i, j, q, sigma, eps)
                particles = self._terms["particles"]
                changed_p = changed_rows(self._inactive, previous.get("particles"))
                for k in changed_p:
                    q, sigma, eps = particles[k]
                    if self._inactive[k]:
                        q, eps = 0.0, 0.0
                    force.setParticleParameters(int(k), q, sigma, eps)
                if changed_e.size or changed_p.size:
                    force.updateParametersInContext(context)
                states["exceptions"], states["particles"] = off, self._inactive.copy()
            elif isinstance(force, openmm.CustomNonbondedForce):         # soft stage
                changed_p = changed_rows(self._inactive, previous.get("soft"))
                for k in changed_p:
                    radius, _ = force.getParticleParameters(int(k))
                    force.setParticleParameters(int(k), [radius, 0.0 if self._inactive[k] else 1.0])
                if changed_p.size:
                    force.updateParametersInContext(context)
                states["soft"] = self._inactive.copy()
        return states

    def _update_switches(self):
        states = self.__dict__.setdefault("_switch_states", {})
        contexts = [("main", self.context)] + ([("soft", self._soft[0])] if self._soft else [])
        for key, context in contexts:
            states[key] = self._apply_switches(context, states.get(key))

    def _context(self, system):
        import openmm

        system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
        restraint = restraint_force(self.restraint_k, self._restrained)
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
        repulsion = openmm.CustomNonbondedForce(
            "on1*on2*c_soft*step(s-r)*(1-r/s)^2; s=radius1+radius2")
        repulsion.addGlobalParameter("c_soft", self.soft_energy)
        repulsion.addPerParticleParameter("radius")
        repulsion.addPerParticleParameter("on")
        for k in range(nonbonded.getNumParticles()):
            _, sigma, _ = nonbonded.getParticleParameters(k)
            repulsion.addParticle([0.5 * 2 ** (1 / 6) * sigma.value_in_unit(openmm.unit.nanometer),
                                   1.0])
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
        (disulfides switched off and bonds of inactive atoms for the current decoy excluded)."""
        return largest_bond_deviation(xyz, self._bonds, self._bond_ref, self._bond_checked)

    def _set_state(self, xyz, inactive):
        """Disulfides on (SG-SG <= cutoff in ``xyz``) or off, and the inactive atoms."""
        if len(self._ss_pairs):
            d = np.linalg.norm(xyz[self._ss_pairs[:, 0]] - xyz[self._ss_pairs[:, 1]], axis=1)
            self._ss_state = d <= self.disulfide_cutoff
        self._inactive = (np.zeros(self.model.n_atoms, dtype=bool) if inactive is None
                          else np.asarray(inactive, dtype=bool).copy())
        checked = ~np.any(self._inactive[self._bonds], axis=1)
        checked[self._ss_bond_rows] &= self._ss_state
        self._bond_checked = checked
        self._update_switches()

    def _acceptable(self, xyz, energy):
        return (np.all(np.isfinite(xyz)) and math.isfinite(energy) and energy <= self.max_energy
                and self.bond_deviation(xyz) <= self.max_bond_deviation)

    def __call__(self, xyz, inactive=None):
        """Minimise ``xyz`` (Angstrom, all atoms of the model).

        Parameters
        ----------
        xyz : array (n_atoms, 3)
        inactive : array (n_atoms,) bool, optional
            Atoms without any interaction for this call (absent residues); they keep their
            positions.

        Returns
        -------
        relaxed : array (n_atoms, 3)
        info : dict
            ``energy_after`` (kJ/mol, full force field with restraints), ``soft_stage`` (whether
            the two-stage fallback was needed) and ``disulfides_off``.
        """
        xyz, _ = check_relaxation_input(xyz, inactive, self.model.n_atoms)
        reference = xyz / 10.0
        info = {"soft_stage": False}
        self._set_state(xyz, inactive)
        info["disulfides_off"] = int((~self._ss_state).sum())
        try:
            out, energy = self._minimize(self.context, self._restraint, reference, reference,
                                         self.max_iterations)
        except FloatingPointError:
            out, energy = reference, math.inf
        if not self._acceptable(out * 10.0, energy):
            if self._soft is None:
                self._soft = self._context(self._soft_system())
                self._update_switches()
            soft_context, soft_restraint = self._soft
            start, _ = self._minimize(soft_context, soft_restraint, separate_overlaps(reference),
                                      reference, self.soft_iterations)
            out, energy = self._minimize(self.context, self._restraint, start, reference,
                                         self.max_iterations)
            info["soft_stage"] = True
            if not self._acceptable(out * 10.0, energy):
                raise FloatingPointError(
                    f"relaxation failed: energy {energy:.3g} kJ/mol, largest bond deviation "
                    f"{self.bond_deviation(out * 10.0):.2f} A")
        out = out * 10.0
        if inactive is not None:
            out[self._inactive] = xyz[self._inactive]
        info["energy_after"] = energy
        return out, info
