"""Template-based ("threaded") decoys: the sequence of a native A built on the backbone of a template.

Real wrong models keep well-formed helices and strands and protein-like packing but have the wrong
topology, register or template. A threaded decoy is built the way template-based modelling builds
a model:

1. **Template and alignment.** Templates are other natives, aligned to A structurally with
   TM-align (:func:`estimators.decoys.alignment.tm_align`): ``n_screen`` candidates per native,
   drawn deterministically from its seed, are screened once; each decoy then takes one of the
   ``n_best`` best-scoring ones (same fold where TM-score >= 0.5 exists: mid-quality models), or any
   screened one (mostly unrelated folds: wrong-fold models with native-like local structure), or a
   *homolog-like* template made from A itself: its secondary-structure elements moved rigidly by
   1-4 A and 3-20 degrees each, with loops following (as the structures of homologs differ), so
   that the upper lDDT range is covered too. Fractions ``template_mix``.
2. **Alignment errors** (:func:`~estimators.decoys.alignment.perturb_alignment`): segments shifted
   by +-1-4 residues along the template, gaps moved by 1-3 residues.
3. **Placement.** Each aligned residue ``a_i -> b_j`` of A (all its atoms, hydrogens included, from
   the all-atom model) is moved rigidly so that its N-CA-C frame lies on the frame of template
   residue ``j``. Consecutive aligned residues whose template positions are not bonded (an
   insertion in the template) are unaligned around the break, widening the gap until a loop can
   span it.
4. **Loops.** Internal gaps of at most ``max_loop`` residues are built between their anchors from
   a fragment of a real backbone (the screened templates) whose ends superpose on the anchors
   within 1.5 A (:func:`fragment_loop`); where none fits, frames are interpolated along the geodesic
   (:func:`~estimators.decoys.rigid.slerp_frames`) and CAs spaced evenly on a half-sine arc between
   the anchors that bulges outwards and is about 0.95 x 3.8 A long per CA-CA step. Longer gaps
   and unaligned termini are left absent (NaN coordinates; unlabelled).
5. **Side chains.** Residues whose side chain clashes are repacked: of the current and random other
   rotamers, the one with the fewest heavy-atom clashes with the model.
6. **Relaxation** with :class:`~estimators.decoys.relax.Relaxer`, absent residues switched off.

Labels: lDDT against A's native over the residues the model has (absent residues NaN), global
lDDT over all of A's reference pairs (:func:`estimators.decoys.decoy.decoy_labels`).
Reproducible: a decoy depends on the native, the template pool, the native's seed and
``(seed, index)`` only.
"""
from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import time
import warnings

import numpy as np
from scipy.spatial import cKDTree

from ..structures import Structure, read_structure
from .alignment import perturb_alignment, tm_align, write_ca_pdb
from .decoy import Decoy, cpu_time, decoy_labels
from .geometry import CLASH_DISTANCE
from .rigid import kabsch, residue_frame, rotation_matrix, slerp_frames

__all__ = ["ThreadedGenerator", "thread_onto", "homolog_template", "fragment_loop", "Template"]

_CA_CA = 3.8
#: Largest CA-CA distance (A) of template residues that a model may use as consecutive residues.
_BONDED_CA = 4.4


@functools.lru_cache(maxsize=1024)
def _read_template(path: str, mtime_ns: int, size: int) -> Structure:
    return read_structure(path)


def _template_structure(source) -> Structure:
    """``source`` read as a Structure; files are parsed once per process (a corpus screens the
    same few hundred templates for every native; a changed file is read again)."""
    if isinstance(source, Structure):
        return source
    stat = os.stat(source)
    return _read_template(os.fspath(source), stat.st_mtime_ns, stat.st_size)


class Template:
    """Backbone of a template: N, CA, C (R_b, 3) and which residues have a frame."""

    def __init__(self, name, n, ca, c, has_frame, tm_score=math.nan):
        self.name = str(name)
        self.n, self.ca, self.c = (np.asarray(x, dtype=np.float64) for x in (n, ca, c))
        self.has_frame = np.asarray(has_frame, dtype=bool)
        self.tm_score = float(tm_score)

    @classmethod
    def of(cls, structure: Structure, tm_score=math.nan):
        n, ca, c, has_frame = structure.backbone()
        return cls(structure.name, n, ca, c, has_frame, tm_score)

    def __len__(self):
        return self.ca.shape[0]

    def frame(self, j):
        return residue_frame(self.n[j], self.ca[j], self.c[j])


def _bonded(template, j0, j1):
    """Template residues j0 < j1 can be consecutive residues of a model (CA-CA <= 4.4 A)."""
    return j1 == j0 + 1 and np.linalg.norm(template.ca[j1] - template.ca[j0]) <= _BONDED_CA


def _close_breaks(mapping, template, max_loop):
    """Unalign residues around places where consecutive aligned residues are not bonded in the
    template, widening each gap until a loop of its length can span its anchors."""
    m = mapping.copy()
    n = m.size
    for i in range(n - 1):
        if m[i] < 0 or m[i + 1] < 0 or _bonded(template, m[i], m[i + 1]):
            continue
        lo, hi = i, i + 2                      # unalign i, i+1 -> gap lo..hi-1
        m[lo:hi] = -1
        while True:
            a, b = lo - 1, hi
            while a >= 0 and m[a] < 0:
                a -= 1
            while b < n and m[b] < 0:
                b += 1
            if a < 0 or b >= n:
                break
            span = np.linalg.norm(template.ca[m[b]] - template.ca[m[a]])
            if span <= 0.95 * _CA_CA * (b - a) or b - a - 1 > max_loop:
                break
            lo, hi = a, b + 1                  # widen by one residue on each side
            m[a] = m[b] = -1
    return m


def thread_onto(model, template: Template, mapping, max_loop=12, rng=None, fragments=None,
                max_fragment_rmsd=1.5):
    """Place the residues of an all-atom model on a template along an alignment.

    Parameters
    ----------
    model : estimators.decoys.allatom.AllAtomModel
        All-atom model of native A (its ``coords`` give each residue's atoms).
    template : Template
    mapping : array (R,) int
        Template residue aligned to each residue of A, -1 where unaligned; must increase.
    max_loop : int
        Longest internal gap built as a loop; longer gaps are left absent.
    rng : numpy Generator, optional
        Direction of the loops' bulges (default: away from the model's centroid, no randomness).
    fragments : sequence of Template, optional
        Backbones to take loop fragments from (:func:`fragment_loop`); a loop without a fragment
        within ``max_fragment_rmsd`` (A) is built as an arc.
    max_fragment_rmsd : float

    Returns
    -------
    xyz : array (n_atoms, 3)
        Coordinates of the all-atom model (absent residues keep their native coordinates).
    present : array (R,) bool
        Residues placed (aligned or built as loop).
    loop : array (R,) bool
        Residues built as loops.
    """
    mapping = np.asarray(mapping, dtype=np.int64)
    R = model.native.n_residues
    if mapping.shape != (R,):
        raise ValueError(f"mapping must have one entry per residue ({R}), got {mapping.shape}")
    aligned = np.flatnonzero(mapping >= 0)
    if aligned.size and (np.any(np.diff(mapping[aligned]) <= 0) or mapping[aligned].max() >=
                         len(template)):
        raise ValueError("mapping must increase and stay within the template")
    bb = model.bb
    has_frame = (bb["N"] >= 0) & (bb["CA"] >= 0) & (bb["C"] >= 0)
    ok = np.zeros(R, dtype=bool)
    ok[aligned] = has_frame[aligned] & template.has_frame[mapping[aligned]]
    xyz = model.coords.copy()
    placed_frame = {}
    for i in np.flatnonzero(ok):
        j = mapping[i]
        own_f = model.residue_frame(model.coords, i)
        own_ca = model.coords[bb["CA"][i]]
        f = template.frame(j)
        atoms = slice(model.res_start[i], model.res_start[i + 1])
        xyz[atoms] = (model.coords[atoms] - own_ca) @ (f @ own_f.T).T + template.ca[j]
        placed_frame[i] = (f, template.ca[j])
    present = ok.copy()
    loop = np.zeros(R, dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size:
        centroid = template.ca[mapping[idx]].mean(0)
    chains = np.asarray(model.native.chain_ids).astype(str)
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if gap == 0 or gap > max_loop or chains[a] != chains[b]:
            continue
        gap_res = np.arange(a + 1, b)
        if not np.all(has_frame[gap_res]):
            continue
        (fa, ca_a), (fb, ca_b) = placed_frame[a], placed_frame[b]
        if fragments:
            anchors = np.array([[xyz[bb[name][r]] for name in ("N", "CA", "C")] for r in (a, b)])
            placed = fragment_loop(anchors, gap, fragments, max_fragment_rmsd)
            if placed is not None:
                for (f, target), r in zip(placed, gap_res):
                    own_f = model.residue_frame(model.coords, r)
                    own_ca = model.coords[bb["CA"][r]]
                    atoms = slice(model.res_start[r], model.res_start[r + 1])
                    xyz[atoms] = (model.coords[atoms] - own_ca) @ (f @ own_f.T).T + target
                present[gap_res] = True
                loop[gap_res] = True
                continue
        chord = ca_b - ca_a
        length = float(np.linalg.norm(chord))
        out = 0.5 * (ca_a + ca_b) - centroid
        if rng is not None:
            out = out + rng.normal(scale=0.5 * (np.linalg.norm(out) + 1.0), size=3)
        unit_chord = chord / max(length, 1e-6)
        perp = out - (out @ unit_chord) * unit_chord
        norm = np.linalg.norm(perp)
        if norm < 1e-6:
            perp = np.cross(unit_chord, [1.0, 0.0, 0.0])
            if np.linalg.norm(perp) < 1e-6:
                perp = np.cross(unit_chord, [0.0, 1.0, 0.0])
            norm = np.linalg.norm(perp)
        points = _loop_path(ca_a, ca_b, perp / norm, gap)
        for k, r in enumerate(gap_res):
            t = (k + 1) / (gap + 1)
            f = slerp_frames(fa, fb, t)
            target = points[k]
            own_f = model.residue_frame(model.coords, r)
            own_ca = model.coords[bb["CA"][r]]
            atoms = slice(model.res_start[r], model.res_start[r + 1])
            xyz[atoms] = (model.coords[atoms] - own_ca) @ (f @ own_f.T).T + target
        present[gap_res] = True
        loop[gap_res] = True
    return xyz, present, loop


def _fragment_starts(template, length):
    """Starts s of runs of ``length`` consecutive bonded residues with frames in a template."""
    key = ("starts", length)
    cache = template.__dict__.setdefault("_cache", {})
    if key not in cache:
        ok = template.has_frame[:-1] & template.has_frame[1:] & \
            (np.linalg.norm(np.diff(template.ca, axis=0), axis=1) <= _BONDED_CA)
        run = np.concatenate([[0], np.cumsum(ok)])
        n_bonds = length - 1
        starts = np.arange(max(0, len(template) - length + 1))
        cache[key] = starts[run[starts + n_bonds] - run[starts] == n_bonds]
    return cache[key]


def fragment_loop(anchors, gap, fragments, max_rmsd=1.0, n_candidates=60):
    """Frames and CA positions of ``gap`` loop residues from the best-fitting backbone fragment.

    Fragments of ``gap + 2`` consecutive bonded residues of the ``fragments`` backbones are ranked by
    how well their end-to-end CA distance matches that of the two anchors; the ``n_candidates``
    best are superposed on the anchors' N, CA, C (Kabsch) and the one with the lowest RMSD is
    used when it is at most ``max_rmsd``: its inner residues' frames, moved by the superposition,
    with the remaining misfit at the two ends spread linearly along the loop (fragment-based loop
    modelling: loops get the phi/psi of a real protein). Returns [(frame, CA)] or None.

    Parameters
    ----------
    anchors : array (2, 3, 3)
        N, CA, C of the residue before and the residue after the loop, in the model.
    gap : int
    fragments : sequence of Template
    """
    anchors = np.asarray(anchors, dtype=np.float64)
    span = float(np.linalg.norm(anchors[1, 1] - anchors[0, 1]))
    length = gap + 2
    candidates = []
    for k, t in enumerate(fragments):
        starts = _fragment_starts(t, length)
        if not starts.size:
            continue
        d = np.linalg.norm(t.ca[starts + length - 1] - t.ca[starts], axis=1)
        close = np.flatnonzero(np.abs(d - span) < 1.0)
        candidates += [(abs(d[i] - span), k, int(starts[i])) for i in close]
    if not candidates:
        return None
    candidates.sort()
    q = anchors.reshape(6, 3)
    best = None
    for _, k, s in candidates[:n_candidates]:
        t = fragments[k]
        e = s + length - 1
        p = np.array([t.n[s], t.ca[s], t.c[s], t.n[e], t.ca[e], t.c[e]])
        rot, shift, rmsd = kabsch(p, q)
        if best is None or rmsd < best[0]:
            best = (rmsd, k, s, rot, shift)
    rmsd, k, s, rot, shift = best
    if rmsd > max_rmsd:
        return None
    t = fragments[k]
    e = s + length - 1
    miss_a = anchors[0, 1] - (rot @ t.ca[s] + shift)
    miss_b = anchors[1, 1] - (rot @ t.ca[e] + shift)
    out = []
    for i in range(1, gap + 1):
        w = i / (gap + 1)
        f = rot @ t.frame(s + i)
        ca = rot @ t.ca[s + i] + shift + (1 - w) * miss_a + w * miss_b
        out.append((f, ca))
    return out


def _loop_path(ca_a, ca_b, perp, gap, samples=200):
    """CA positions of ``gap`` loop residues between anchors: a half-sine arc from ``ca_a`` to
    ``ca_b`` bulging along ``perp``, its height chosen (bisection) so that the arc is about
    0.95 x 3.8 A per CA-CA step, the residues spaced evenly along it."""
    chord = ca_b - ca_a
    target = 0.95 * _CA_CA * (gap + 1)
    t = np.linspace(0.0, 1.0, samples)

    def curve(h):
        return ca_a + t[:, None] * chord + (h * np.sin(np.pi * t))[:, None] * perp

    def arc(h):
        return float(np.linalg.norm(np.diff(curve(h), axis=0), axis=1).sum())

    lo, hi = 0.0, 2.0 * _CA_CA * (gap + 1)
    if arc(lo) < target:
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if arc(mid) < target:
                lo = mid
            else:
                hi = mid
    points = curve(lo)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    wanted = s[-1] * np.arange(1, gap + 1) / (gap + 1)
    return np.stack([np.interp(wanted, s, points[:, k]) for k in range(3)], axis=1)


def homolog_template(native: Structure, secondary, rng, shift=(0.3, 4.0), angle=(2.0, 20.0),
                     name=None, severity=None) -> Template:
    """A homolog-like template made from ``native``'s backbone: every secondary-structure element
    (runs of 'H'/'E' in ``secondary``, at least 3 residues) moved rigidly about its centroid by a
    random rotation (angle in ``angle`` degrees) and translation (length in ``shift`` A), each
    scaled per element by a uniform factor in [0.3, 1]; the position within the ranges is
    ``severity`` (0..1, default uniform). Loop residues are moved by the interpolation of the
    motions of the flanking elements."""
    n, ca, c, has_frame = native.backbone()
    R = native.n_residues
    sse = []
    r = 0
    while r < R:
        if secondary[r] in "HE":
            e = r
            while e < R and secondary[e] == secondary[r]:
                e += 1
            if e - r >= 3:
                sse.append((r, e))
            r = e
        else:
            r += 1
    if not sse:
        sse = [(s, min(R, s + 8)) for s in range(0, R, 10)]
    severity = rng.uniform() if severity is None else float(severity)
    scale_t = shift[0] + severity * (shift[1] - shift[0])
    scale_a = math.radians(angle[0] + severity * (angle[1] - angle[0]))
    motions = []
    for s, e in sse:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        rot = rotation_matrix(axis, scale_a * rng.uniform(0.3, 1.0) * rng.choice([-1, 1]))
        direction = rng.normal(size=3)
        trans = direction / np.linalg.norm(direction) * scale_t * rng.uniform(0.3, 1.0)
        centre = np.nanmean(ca[s:e], axis=0)
        motions.append((s, e, rot, trans, centre))

    def move(points, k):
        s, e, rot, trans, centre = motions[k]
        return (points - centre) @ rot.T + centre + trans

    out = [np.array(x, copy=True) for x in (n, ca, c)]
    anchor_pos = np.array([0.5 * (s + e - 1) for s, e, *_ in motions])
    for r in range(R):
        k = int(np.searchsorted(anchor_pos, r))
        if k == 0 or k == len(motions):
            k = min(k, len(motions) - 1)
            for x, orig in zip(out, (n, ca, c)):
                x[r] = move(orig[r], k)
            continue
        inside = next((q for q, (s, e, *_) in enumerate(motions) if s <= r < e), None)
        if inside is not None:
            for x, orig in zip(out, (n, ca, c)):
                x[r] = move(orig[r], inside)
            continue
        t = (r - anchor_pos[k - 1]) / (anchor_pos[k] - anchor_pos[k - 1])
        for x, orig in zip(out, (n, ca, c)):
            x[r] = (1 - t) * move(orig[r], k - 1) + t * move(orig[r], k)
    return Template(name or f"{native.name}~homolog", *out, has_frame)


class ThreadedGenerator:
    """Threaded decoys of one native (see the module docstring).

    Parameters
    ----------
    base : estimators.decoys.kinds.DecoyGenerator
        Generator of the native (its all-atom model, secondary structure, relaxer are reused).
    templates : sequence of path or Structure
        Template pool (the native itself, by name, is left out).
    seed : int
        The native's series seed (choice of the screened candidates).
    n_screen : int
        Candidates aligned with TM-align per native.
    n_best : int
        Best-scoring candidates among which "best template" decoys choose.
    template_mix : (float, float, float)
        Fractions of homolog-like, best-candidate and any-candidate templates.
    max_loop : int
        Longest internal gap built as a loop.
    """

    def __init__(self, base, templates, seed, n_screen=40, n_best=3,
                 template_mix=(0.4, 0.25, 0.35), max_loop=12):
        self.base = base
        self.native = base.native
        self.templates = list(templates or [])
        self.seed = int(seed)
        self.n_screen = int(n_screen)
        self.n_best = int(n_best)
        mix = np.asarray(template_mix, dtype=float)
        if mix.shape != (3,) or np.any(mix < 0) or not mix.sum() > 0:
            raise ValueError(f"template_mix must be 3 non-negative weights, got {template_mix}")
        self.template_mix = mix / mix.sum()
        self.max_loop = int(max_loop)
        self._screened = None
        self.screen_seconds = 0.0
        self.native_name = self._template_name(self.native)

    # -- template screening -------------------------------------------------------------------------
    def _template_name(self, source):
        from .corpus import native_name
        return native_name(source)

    def screened(self):
        """[(Template with TM-score, TM-align mapping)] of the screened candidates, best first."""
        if self._screened is not None:
            return self._screened
        t0 = time.perf_counter()
        own = self._template_name(self.native)
        pool = [s for s in self.templates if self._template_name(s) != own]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x7E3A]))
        pick = rng.permutation(len(pool))[: self.n_screen]
        results = []
        folder = tempfile.mkdtemp(prefix="thread")
        try:
            a_path = os.path.join(folder, "a.pdb")
            a_file = (a_path, write_ca_pdb(self.native, a_path))
            for k in sorted(pick):
                source = pool[k]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        b = _template_structure(source)
                        mapping, tm = tm_align(self.native, b, workdir=folder, a_file=a_file)
                except Exception as error:              # an unreadable template is skipped
                    warnings.warn(f"{self.native.name}: template {source} skipped ({error})",
                                  RuntimeWarning)
                    continue
                if (mapping >= 0).sum() >= 10:
                    template = Template.of(b, tm)
                    template.name = self._template_name(source)
                    results.append((template, mapping))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        results.sort(key=lambda t: (-t[0].tm_score, t[0].name))
        self._screened = results
        self.screen_seconds = time.perf_counter() - t0
        return results

    def choose_template(self, rng, severity):
        """(Template, alignment, source) for one decoy: 'homolog', 'best' or 'any'."""
        screened = self.screened()
        source = str(rng.choice(["homolog", "best", "any"], p=self.template_mix))
        if not screened:
            source = "homolog"
        if source == "homolog":
            template = homolog_template(self.native, self.base.ss, rng, severity=severity,
                                        name=f"{self.native_name}~homolog")
            return template, np.arange(self.native.n_residues), source
        pool = screened[: self.n_best] if source == "best" else screened
        template, mapping = pool[int(rng.integers(len(pool)))]
        return template, mapping, source

    # -- side chains ----------------------------------------------------------------------------------
    def repack(self, xyz, present, rng, n_candidates=6):
        """Residues whose side-chain heavy atoms clash with the rest of the model get, of their
        current and ``n_candidates`` random rotamer changes, the one with the fewest clashes."""
        m = self.base.model
        heavy = m.heavy[present[m.atom_res[m.heavy]]]
        tree = cKDTree(xyz[heavy])
        res_of = m.atom_res[heavy]
        names = m.atom_names
        backbone = np.isin(names, ["N", "CA", "C", "O", "OXT"])

        def clashes(r, coords):
            atoms = np.arange(m.res_start[r], m.res_start[r + 1])
            atoms = atoms[m.is_heavy[atoms] & ~backbone[atoms]]
            if not atoms.size:
                return 0
            hits = tree.query_ball_point(coords[atoms], CLASH_DISTANCE)
            return sum(int(np.sum(np.abs(res_of[np.asarray(h, dtype=np.int64)] - r) >= 1))
                       for h in hits)

        n_repacked = 0
        for r in np.flatnonzero(present):
            if not m.chis[r]:
                continue
            best = clashes(r, xyz)
            if best == 0:
                continue
            best_xyz = None
            for _ in range(n_candidates):
                trial = xyz.copy()
                for k in range(len(m.chis[r])):
                    m.rotate_chi(trial, r, k, float(rng.choice([-1.0, 0.0, 1.0]) * 120.0
                                                    + rng.normal(0.0, 15.0)))
                n_clash = clashes(r, trial)
                if n_clash < best:
                    best, best_xyz = n_clash, trial
            if best_xyz is not None:
                atoms = slice(m.res_start[r], m.res_start[r + 1])
                xyz[atoms] = best_xyz[atoms]
                n_repacked += 1
        return n_repacked

    # -- one decoy ------------------------------------------------------------------------------------
    def build(self, template, mapping, rng, perturb=True, severity=1.0):
        """Unrelaxed model on ``template``: (xyz, present, info). ``severity`` (0..1) scales the
        number of alignment errors (up to 4 shifted segments and 3 moved gaps)."""
        info = {"template": template.name, "template_tm": template.tm_score}
        mapping = np.asarray(mapping, dtype=np.int64)
        if perturb:
            mapping, errors = perturb_alignment(
                mapping, rng, len(template), n_shifts=(0, int(round(4 * severity))),
                n_gap_moves=(0, int(round(3 * severity))))
            info["alignment_shifts"] = len(errors["shifts"])
            info["gap_moves"] = errors["gap_moves"]
        mapping = _close_breaks(mapping, template, self.max_loop)
        fragments = [t for t, _ in self.screened()] if perturb else None
        xyz, present, loop = thread_onto(self.base.model, template, mapping, self.max_loop,
                                         rng=rng if perturb else None, fragments=fragments)
        info["aligned"] = int((mapping >= 0).sum())
        info["loop_residues"] = int(loop.sum())
        info["present"] = int(present.sum())
        return xyz, present, info

    def generate(self, seed) -> Decoy:
        """One relaxed threaded decoy, reproducible from ``seed``."""
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        cpu0 = cpu_time()
        severity = float(rng.uniform())
        template, mapping, source = self.choose_template(rng, severity)
        for attempt in range(3):
            xyz, present, info = self.build(template, mapping, rng, severity=severity)
            if present.sum() >= max(10, 0.3 * self.native.n_residues):
                break
            template, mapping, source = self.choose_template(rng, severity)
        info["template_source"] = source
        info["severity"] = severity
        info["screen_seconds"] = self.screen_seconds
        info["repacked"] = self.repack(xyz, present, rng)
        m = self.base.model
        inactive = ~present[m.atom_res]
        info["perturb_seconds"] = time.perf_counter() - t0
        if self.base.relax:
            t1 = time.perf_counter()
            try:
                xyz, relax_info = self.base.relaxer(xyz, inactive=inactive)
                info.update(relax_info)
                info["relaxed"] = True
            except FloatingPointError as error:
                warnings.warn(f"{self.native.name}: relaxation failed ({error}); keeping the "
                              f"unrelaxed decoy", RuntimeWarning)
                info["relaxed"] = False
            info["relax_seconds"] = time.perf_counter() - t1
        coords = m.to_native_coords(xyz)
        coords[~present[self.native.atom_res]] = np.nan
        t2 = time.perf_counter()
        score, local, _ = decoy_labels(self.native, coords)
        info["label_seconds"] = time.perf_counter() - t2
        info["total_seconds"] = time.perf_counter() - t0
        info["cpu_seconds"] = cpu_time() - cpu0
        return Decoy(coords=coords, kind="threaded", target_lddt=math.nan, lddt=score,
                     lddt_local=local, info=info)
