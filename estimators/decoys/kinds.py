"""Decoys made by perturbing the native itself: the torsion, register, side-chain and misfold kinds.

A decoy is the native with realistic kinds of modelling error, optionally relaxed with a force field,
labelled with per-residue and global lDDT against the native (:func:`estimators.lddt.lddt`).
The paper trains on CASP server models; generated decoys give extra training data whose labels are
exact and whose quality spans a chosen range (here global lDDT roughly uniform in [0.3, 0.95]).

Kinds of error (each a rigid-body move of parts of an all-atom model with hydrogens, so that bond
lengths and angles of the native are kept, except in the loops of ``shifted``; only the relaxation
changes them):

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
``topology``
    Wrong topology with native secondary structure: the misfold walk at loop residues only, so
    every helix and strand keeps its native geometry, kept compact (CA radius of gyration
    <= 1.15 x native), then up to 300 more loop moves that only make it more compact at about
    the same lDDT. The elements end up packed in another arrangement, as in the wrong-fold
    models of real predictors, which get most secondary structure right and the fold wrong.
``shifted``
    Displaced secondary-structure elements with native local structure: every helix and strand
    (at least 4 residues) is moved rigidly, rotated about its CA centroid (random axis, angle
    ~ N(0, 1) x 10 degrees per unit magnitude) and translated (~ N(0, 1) x 1 A per axis and
    unit); loop residues between two elements take the blend of the two moves by position along
    the loop, residues before the first or after the last element of a chain the move of that
    element. The errors of a model built on a close template: the fold right, every element a
    little off, spread over the whole chain rather than concentrated in one segment. The blend
    stretches the peptide bonds of loops and the moves press side chains together at the
    interfaces; the relaxation restores both (its magnitude is capped at 1, where it still does:
    on a 175-residue native, 338 heavy-atom clashes before relaxation, none after), and a target
    below what that magnitude reaches is met by a misfold walk from there (``shifted+misfold``).
``loops``
    Wrong loops and termini on a native core: about 60 % of the loops (runs of non-helix,
    non-strand residues between two elements of one bonded stretch) are remodelled by crankshaft
    rotations, rigid rotations of the atoms between two CA atoms about the axis through them
    (the loop's anchors first, then up to ``length // 4`` more pairs inside the loop), and every
    residue of a terminal coil gets phi/psi changes that move the terminus only; every atom
    outside the moved loops and termini stays where it is in the native (the bond angles at the
    pivot CA atoms change; the relaxation restores them). The errors of a good template-based
    model: the core right, loops and termini wrong. As for ``shifted``, clashes do not limit the
    magnitude (at most 60 degrees per unit): the relaxation resolves them (6 natives of 53-160
    residues, 12 decoys: up to 563 heavy-atom clashes before, none after). Such a decoy goes
    only as far as its loops and termini take it (global lDDT 0.7-0.97 in that test): a target
    below that is not met (no misfold walk follows).

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

import math
import time
import warnings

import numpy as np
from scipy.spatial import cKDTree

from ..structures import Structure
from .allatom import _AllAtomModel
from .decoy import Decoy, cpu_time, decoy_labels
from .geometry import (CLASH_DISTANCE, backbone_dihedrals, count_clashes,
                       secondary_structure as _secondary_structure)
from .proxy import ProxyLDDT
from .relax import make_relaxer
from .rigid import _slerp_frames, rotation_matrix

__all__ = ["KINDS", "DecoyGenerator", "generate_decoys"]

#: Kinds of error, in the order used for drawing.
KINDS = ("backbone", "hinge", "register", "sidechain", "misfold", "topology", "shifted", "loops")
#: Settings of the walk of each walk kind (:meth:`DecoyGenerator._misfold_walk`).
_WALKS = {"misfold": {},
          "topology": {"loop_bias": 1.0, "max_rg_ratio": 1.15, "compact_attempts": 300}}


class DecoyGenerator:
    """Decoys of one native structure.

    Parameters
    ----------
    native : Structure
        The reference (as read by :func:`estimators.structures.read_structure`).
    relax : bool
        Relax each decoy (default True), with the relaxer that ``relax_options`` names.
    relax_options : dict, optional
        ``method`` (``"amber"``, the default, or ``"heavy"``; see
        :func:`~estimators.decoys.relax.make_relaxer`) and the keyword arguments of its relaxer
        (:class:`Relaxer`: ``restraint_k`` in kJ/mol/nm^2, ``max_iterations``, ``tolerance``,
        ``cutoff_nm``, ``threads``; :class:`~estimators.decoys.relax_heavy.HeavyAtomRelaxer`:
        the same without ``cutoff_nm``, with ``repulsion_k``).
    max_tries : int
        Random draws tried per decoy when the result has many clashes.
    cache_dir : path, optional
        Folder of the natives' all-atom models (PDBFixer results), shared between generators and
        processes: a native seen before skips PDBFixer; the decoys are the same with or without
        it (:class:`~estimators.decoys.allatom.AllAtomModel`).
    """

    #: bisection search ranges of the magnitude of each kind
    _MAX_MAGNITUDE = {"backbone": 60.0, "hinge": 150.0, "register": 1.0, "sidechain": 1.0,
                      "shifted": 1.0, "loops": 60.0}
    #: ``loops``: fraction of the qualifying loops and termini remodelled
    _LOOP_FRACTION = 0.6
    #: ``shifted``: per unit magnitude, the standard deviation of an element's rotation (degrees)
    #: and of each component of its translation (A)
    _SHIFT_DEGREES, _SHIFT_ANGSTROM = 10.0, 1.0
    #: pairs of the proxy lDDT used while searching magnitudes
    _SEARCH_PAIRS = 30000
    #: heavy atoms closer than this (A) overlap; the misfold walk adds none
    _OVERLAP = 1.5

    def __init__(self, native: Structure, relax: bool = True, relax_options: dict | None = None,
                 max_tries: int = 3, cache_dir=None):
        if not isinstance(native, Structure):
            raise TypeError(f"native must be an estimators.structures.Structure, "
                            f"got {type(native).__name__}")
        if native.n_residues < 10:
            raise ValueError(f"{native.name}: {native.n_residues} residues; need >= 10 for decoys")
        t0 = time.perf_counter()
        self.native = native
        self.model = _AllAtomModel(native, cache_dir=cache_dir)
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
            self._relaxer = make_relaxer(self.model, **self.relax_options)
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
        if kind == "shifted":
            return self._shift_plan(rng)
        if kind == "loops":
            return self._loop_plan(rng)
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
        elements = self._elements(min_length=1, split_at_breaks=False)
        valid = []
        for start, stop in elements:
            lo, hi = start - margin, stop + margin
            if lo < 0 or hi > R or np.any(breaks[lo + 1:hi]) or not np.all(has_frame[lo:hi]):
                continue
            valid.append((start, stop))
        order = rng.permutation(len(valid))
        return [(valid[k][0], valid[k][1], int(rng.choice([-2, -1, 1, 2]))) for k in order]

    def _elements(self, min_length=4, split_at_breaks=True):
        """Secondary-structure elements (start, stop) of at least ``min_length`` residues (split
        at chain breaks unless ``split_at_breaks`` is False); without any, windows of 6 residues
        every 8."""
        R = self.native.n_residues
        breaks = (self.native.chain_break_before() if split_at_breaks
                  else np.zeros(R, dtype=bool))
        elements = []
        r = 0
        while r < R:
            if self.ss[r] in "HE":
                end = r + 1
                while end < R and self.ss[end] == self.ss[r] and not breaks[end]:
                    end += 1
                if end - r >= min_length:
                    elements.append((r, end))
                r = end
            else:
                r += 1
        return elements or [(s, min(R, s + 6)) for s in range(0, R, 8)]

    def _shift_plan(self, rng):
        """Rigid moves of the secondary-structure elements and how each residue follows them.

        Returns ``(moves, follow, weights)``: per element ``(centre, axis, angle (radians) and
        translation (A) at unit magnitude)``; ``follow`` (R, 2) int and ``weights`` (R, 2):
        each residue goes to the blend ``w0 T_a(x) + w1 T_b(x)`` of the moves of elements
        ``a, b = follow[r]`` (``follow[r, 0] = -1``: a chain without elements, not moved)."""
        m = self.model
        R = self.native.n_residues
        elements = self._elements()
        breaks = self.native.chain_break_before()
        chain_id = np.cumsum(breaks)
        ca_idx = m.bb["CA"]
        moves = []
        for start, stop in elements:
            cas = ca_idx[start:stop]
            cas = cas[cas >= 0]
            centre = m.coords[cas].mean(0) if cas.size else m.coords[m.res_start[start]]
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            angle = math.radians(self._SHIFT_DEGREES) * rng.normal()
            moves.append((centre, axis, angle, self._SHIFT_ANGSTROM * rng.normal(size=3)))
        follow = np.zeros((R, 2), dtype=np.int64)
        weights = np.zeros((R, 2))
        starts = np.array([a for a, _ in elements])
        stops = np.array([b for _, b in elements])
        el_chain = chain_id[starts]
        for r in range(R):
            same = np.flatnonzero(el_chain == chain_id[r])
            if same.size == 0:                       # a chain without elements: stays
                follow[r] = -1
                continue
            inside = same[(starts[same] <= r) & (r < stops[same])]
            before = same[stops[same] <= r]
            after = same[starts[same] > r]
            if inside.size:
                follow[r], weights[r] = inside[0], (1.0, 0.0)
            elif before.size and after.size:
                a, b = before[-1], after[0]
                f = (r - stops[a] + 1) / (starts[b] - stops[a] + 1)
                follow[r], weights[r] = (a, b), (1.0 - f, f)
            else:
                follow[r], weights[r] = (before[-1] if before.size else after[0]), (1.0, 0.0)
        return moves, follow, weights

    def _shift(self, xyz, base, plan, magnitude):
        """Apply the element moves of a ``shifted`` plan scaled by ``magnitude`` (in place)."""
        moves, follow, weights = plan
        m = self.model
        rot = [rotation_matrix(axis, magnitude * angle) for _, axis, angle, _ in moves]
        for r in range(self.native.n_residues):
            if follow[r, 0] < 0:
                continue
            atoms = slice(m.res_start[r], m.res_start[r + 1])
            x = base[atoms]
            out = np.zeros_like(x)
            for k, w in zip(follow[r], weights[r]):
                if w == 0.0:
                    continue
                centre, _, _, move = moves[k]
                out += w * ((x - centre) @ rot[k].T + centre + magnitude * move)
            xyz[atoms] = out

    def _loop_plan(self, rng):
        """Moves of a ``loops`` decoy: ``("crank", p, q, unit angle, atoms)`` rotates the atoms
        between CA(p) and CA(q) (:meth:`_crank_atoms`) about the axis through them;
        ``("n-term" | "c-term", r, which, unit angle, None)`` changes phi or psi of residue r of
        a terminal coil, moving the terminus only.

        Loops are the runs of coil residues of one bonded stretch with an element on both sides
        (the last pivot q is never a proline, whose ring closes on its N); termini the coil runs
        at a chain's start or end, before or after its first or last element. Each qualifies
        with probability :attr:`_LOOP_FRACTION` (at least one is kept)."""
        R = self.native.n_residues
        m = self.model
        breaks = self.native.chain_break_before()
        chain_start = m.chain_start_atom == m.res_start[:-1]   # first residue of a chain
        chain_end = m.chain_end_atom == m.res_start[1:]        # last residue of a chain
        proline = np.array([str(n) == "PRO" for n in self.native.resnames])
        coil = self.ss == "L"
        segments = []
        r = 0
        while r < R:
            if not coil[r]:
                r += 1
                continue
            end = r + 1
            while end < R and coil[end] and not breaks[end]:
                end += 1
            at_start, at_end = chain_start[r], chain_end[end - 1]
            if at_start and not at_end and not breaks[end]:
                segments.append(("n-term", r, end))
            elif at_end and not at_start and not breaks[r]:
                segments.append(("c-term", r, end))
            elif (not at_start and not at_end and not breaks[r] and not breaks[end]
                  and not proline[end] and self._has_frame[r - 1] and self._has_frame[end]):
                segments.append(("loop", r, end))
            r = end
        if not segments:
            return []
        keep = rng.uniform(size=len(segments)) < self._LOOP_FRACTION
        if not keep.any():
            keep[int(rng.integers(len(segments)))] = True
        moves = []
        for (kind, start, stop), kept in zip(segments, keep):
            if not kept:
                continue
            if kind == "loop":
                a, b = start - 1, stop
                pivots = [(a, b)]
                for _ in range((stop - start) // 4):
                    p, q = sorted(rng.choice(np.arange(a, b + 1), size=2, replace=False))
                    if q - p >= 2 and not proline[q] and self._has_frame[[p, q]].all():
                        pivots.append((int(p), int(q)))
                moves += [("crank", p, q, float(rng.normal()), self._crank_atoms(p, q))
                          for p, q in pivots]
            else:
                for res in range(start, stop):
                    for which in ("phi", "psi"):
                        torsion = m.phi[res] if which == "phi" else m.psi[res]
                        if torsion is not None:
                            moves.append((kind, res, which, float(rng.normal()), None))
        return moves

    _CRANK_START = ("C", "O")       # atoms of the first pivot residue that a crankshaft moves
    _CRANK_STOP = ("N", "H")        # and of the last one

    def _crank_atoms(self, a, b):
        """Atoms that a crankshaft about CA(a)-CA(b) moves: C and O of a, every atom of the
        residues between, N and H of b."""
        m = self.model
        names_a = m.atom_names[m.res_start[a]:m.res_start[a + 1]]
        names_b = m.atom_names[m.res_start[b]:m.res_start[b + 1]]
        return np.concatenate([
            m.res_start[a] + np.flatnonzero(np.isin(names_a, self._CRANK_START)),
            np.arange(m.res_start[a + 1], m.res_start[b]),
            m.res_start[b] + np.flatnonzero(np.isin(names_b, self._CRANK_STOP))])

    def _loops(self, xyz, plan, magnitude):
        """Apply the moves of a ``loops`` plan scaled by ``magnitude`` degrees (in place)."""
        m = self.model
        ca = m.bb["CA"]
        for kind, a, b, unit, atoms in plan:
            if kind == "crank":
                origin = xyz[ca[a]]
                axis = xyz[ca[b]] - origin
                rot = rotation_matrix(axis / np.linalg.norm(axis), math.radians(magnitude * unit))
                xyz[atoms] = (xyz[atoms] - origin) @ rot.T + origin
            else:
                m.rotate_torsion(xyz, a, b, magnitude * unit, n_side=kind == "n-term")

    def _rotamer_change(self, r, rng, n_candidates=4):
        """Chi changes of residue r to another rotamer (about +-120 degrees each, +- 15 degrees
        noise): of ``n_candidates`` random combinations, the one with the fewest heavy-atom
        clashes against the rest of the native. The random numbers are drawn now, the clashes
        counted on first use (a side-chain plan lists every residue, few are used)."""
        chis = self.model.chis[r]
        if not chis:
            return []
        candidates = [[float(rng.choice([-1.0, 1.0]) * 120.0 + rng.normal(0.0, 15.0))
                       for _ in chis] for _ in range(n_candidates)]
        return _RotamerChoice(self, r, candidates)

    def _best_rotamer(self, r, candidates):
        """The candidate chi changes of residue r with the fewest clashes (first of equals)."""
        m = self.model
        atoms = slice(m.res_start[r], m.res_start[r + 1])
        heavy = np.arange(m.res_start[r], m.res_start[r + 1])
        heavy = heavy[m.is_heavy[heavy]]
        scratch = self.__dict__.get("_scratch")
        if scratch is None:
            scratch = self._scratch = m.coords.copy()
        best = None
        for deltas in candidates:
            scratch[atoms] = m.coords[atoms]
            for k, delta in enumerate(deltas):
                m.rotate_chi(scratch, r, k, delta)
            neighbours = self._heavy_tree.query_ball_point(scratch[heavy], CLASH_DISTANCE)
            n_clash = sum(int(np.sum(np.abs(self._heavy_res[np.asarray(nb, dtype=np.int64)] - r)
                                     >= 2)) for nb in neighbours)
            if best is None or n_clash < best[0]:
                best = (n_clash, deltas)
        scratch[atoms] = m.coords[atoms]
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
        elif kind == "shifted":
            self._shift(xyz, base, plan, magnitude)
        elif kind == "loops":
            self._loops(xyz, plan, magnitude)
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

    def _torsion_move(self, xyz, pool, step_deg, rng):
        """A copy of ``xyz`` with phi and psi of one residue of ``pool`` changed by Gaussian
        angles of ``step_deg`` (the downstream chain moved rigidly)."""
        trial = xyz.copy()
        r = int(rng.choice(pool))
        for which in ("phi", "psi"):
            self.model.rotate_torsion(trial, r, which, float(rng.normal(0.0, step_deg)))
        return trial

    def _packing_limits(self, xyz):
        """(backbone clashes, atomic overlaps) that the moves of a walk from ``xyz`` may reach:
        those of ``xyz``, and at least the native's backbone clashes + 1 per 50 residues."""
        return (max(self._backbone_clashes(xyz),
                    self._native_bb_clashes + max(1, self.native.n_residues // 50)),
                self._overlaps(xyz))

    def _packed(self, xyz, limits):
        """Whether ``xyz`` stays within the (backbone clashes, overlaps) ``limits``."""
        return (self._backbone_clashes(xyz) <= limits[0]
                and self._overlaps(xyz) <= limits[1])

    def _misfold_walk(self, base, target, rng, max_attempts=None, step_deg=60.0, loop_bias=0.5,
                      max_rg_ratio=1.35):
        """Large phi/psi moves (mostly at loop residues, else anywhere, which also unwinds some
        secondary structure), each kept only when the model stays compact (CA radius of gyration
        <= ``max_rg_ratio`` x native, or not above the start) and gains no backbone clash; runs until
        the proxy lDDT reaches ``target`` and returns the visited state closest to it. A move that
        would overshoot (proxy below ``target - 0.02``) is refused and the step shrinks by 0.7
        (down to 5 degrees), so that targets close to the current score are reached too."""
        if max_attempts is None:
            max_attempts = int(min(2000, 600 + 8 * self.native.n_residues))
        anywhere = np.flatnonzero(self.movable_phi | self.movable_psi)
        xyz = base.copy()
        score = self.search_proxy(xyz)
        best = (abs(score - target), xyz.copy(), score)
        limits = self._packing_limits(base)
        max_rg = max(self._rg(base), max_rg_ratio * self.rg0)
        n_accepted = 0
        for _ in range(max_attempts):
            if score <= target:
                break
            pool = self.loops if rng.uniform() < loop_bias else anywhere
            trial = self._torsion_move(xyz, pool, step_deg, rng)
            if self._rg(trial) > max_rg or not self._packed(trial, limits):
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

    def _compact(self, xyz, target, rng, n_attempts, step_deg=30.0):
        """Loop moves that make the model more compact: each kept only when the CA radius of
        gyration decreases, no backbone clash or atomic overlap is added and the proxy lDDT stays
        within [``target`` - 0.02, ``target`` + 0.03] (or within 0.02 of where it started when
        that lies above).  Returns (xyz, proxy lDDT, moves kept)."""
        score = self.search_proxy(xyz)
        lo, hi = target - 0.02, max(target + 0.03, score + 0.02)
        rg = self._rg(xyz)
        limits = self._packing_limits(xyz)
        kept = 0
        for _ in range(int(n_attempts)):
            trial = self._torsion_move(xyz, self.loops, step_deg, rng)
            trial_rg = self._rg(trial)
            if trial_rg >= rg or not self._packed(trial, limits):
                continue
            trial_score = self.search_proxy(trial)
            if not lo <= trial_score <= hi:
                continue
            xyz, rg, score = trial, trial_rg, trial_score
            kept += 1
        return xyz, score, kept

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
        ``sidechain``, ``shifted`` and ``loops`` decoys have no clash limit (the relaxation
        resolves the clashes of moved elements and loops); ``loops`` decoys get no misfold walk.
        """
        kind = kind or self._choose_kind(target, rng)
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        base = self.model.coords
        limit = max(2, self.native.n_residues // 20)
        # rigid moves of whole elements or loops press side chains together; the relaxation
        # resolves those clashes (measured), so they neither limit the magnitude nor rank the draws
        clash_limited = kind not in ("shifted", "loops")
        candidates = []
        for attempt in range(self.max_tries):
            info = {"attempt": attempt}
            start = base
            if kind != "sidechain":
                start, info["sidechain_fraction"] = self._side_chain_noise(base, target, rng)
            start_clashes = self._clashes(start)
            label = kind
            if kind in _WALKS:
                walk = dict(_WALKS[kind])
                n_compact = walk.pop("compact_attempts", 0)
                xyz, score, info["misfold_moves"] = self._misfold_walk(start, target, rng,
                                                                       **walk)
                if n_compact:
                    xyz, score, info["compact_moves"] = self._compact(xyz, target, rng,
                                                                      n_compact)
            else:
                plan = self._plan(kind, rng)
                magnitude, xyz, score = self._bisect(kind, plan, target, start)
                if (clash_limited and kind != "sidechain"
                        and self._clashes(xyz) - start_clashes > limit):
                    magnitude, xyz = self._back_off(kind, plan, magnitude, start,
                                                    start_clashes + limit)
                    score = self.search_proxy(xyz)
                if score > target + 0.03 and kind != "loops":   # cannot go that low: walk on
                    xyz, score, info["misfold_moves"] = self._misfold_walk(xyz, target, rng)
                    label = kind + "+misfold"
                info["magnitude"] = magnitude
            info["proxy_lddt"] = self.proxy(xyz)
            info["clashes"] = self._clashes(xyz)
            new_clashes = info["clashes"] - self._native_clashes if clash_limited else 0
            candidates.append((new_clashes > limit, abs(info["proxy_lddt"] - target), new_clashes,
                               attempt, xyz, label, info))
            # a loops decoy above its target is as low as its loops and termini go
            reached = (abs(info["proxy_lddt"] - target) < 0.05
                       or (kind == "loops" and info["proxy_lddt"] > target))
            if new_clashes <= limit and reached:
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
        if not 0.0 < float(target) < 1.0:
            raise ValueError(f"target lDDT must be in (0, 1), got {target}")
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        cpu0 = cpu_time()
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
        score, local, _ = decoy_labels(self.native, coords)
        info["label_seconds"] = time.perf_counter() - t2
        info["total_seconds"] = time.perf_counter() - t0
        info["cpu_seconds"] = cpu_time() - cpu0
        return Decoy(coords=coords, kind=label, target_lddt=float(target), lddt=score,
                     lddt_local=local, info=info)


class _RotamerChoice:
    """Chi changes of one residue chosen among candidates on first use (a sequence of angles)."""

    def __init__(self, generator, r, candidates):
        self._generator, self._r, self._candidates = generator, r, candidates
        self._deltas = None

    def _resolve(self):
        if self._deltas is None:
            self._deltas = self._generator._best_rotamer(self._r, self._candidates)
        return self._deltas

    def __iter__(self):
        return iter(self._resolve())

    def __len__(self):
        return len(self._resolve())

    def __getitem__(self, k):
        return self._resolve()[k]


def _check_series(n_decoys, lddt_range):
    """(n_decoys, (low, high)) of a decoy series, checked (ValueError)."""
    n_decoys = int(n_decoys)
    if n_decoys < 0:
        raise ValueError(f"n_decoys must be >= 0, got {n_decoys}")
    lo, hi = (float(v) for v in lddt_range)
    if not 0.0 < lo < hi < 1.0:
        raise ValueError(f"lddt_range must satisfy 0 < low < high < 1, got {lddt_range}")
    return n_decoys, (lo, hi)


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
        OpenMM relaxation (see :class:`DecoyGenerator`).
    relax_options : dict, optional
        The relaxation's method and options (see :class:`DecoyGenerator`).
    indices : sequence of int, optional
        Generate only these decoys of the series (to split a series between workers).

    Returns
    -------
    list of Decoy
        In the order of ``indices`` (default ``range(n_decoys)``).
    """
    n_decoys, (lo, hi) = _check_series(n_decoys, lddt_range)
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
