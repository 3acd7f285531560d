"""Physically impossible and unusual models, so that a network learns that they are bad.

A network trained only on well-packed decoys can reward models no real structure resembles:
overlapping chains, over-packed (crushed) models, severe clashes. These kinds are made from the
native's heavy atoms (plus Gaussian noise of 0.1-0.3 A, so that no decoy is the native itself),
are not relaxed, and are labelled by the clash-aware lDDT
(:func:`estimators.lddt.lddt` with ``clash_filter=True``, the rule used for every decoy label):

``overlay``
    A second copy of the chain overlaid on the first: moved by 0.3-1.0 A and rotated by up to 3
    degrees about the centroid. Every residue clashes with its copy: labels about 0.
``crushed``
    Every atom pulled 20-40% of the way to the centroid (half of the decoys), or every residue
    moved rigidly with its CA pulled 20-40% (the other half: residues intact, packing
    impossible). Consecutive residues come too close: labels about 0.
``clash``
    Severe clashes: 15-35% of the residues, in 1-4 stretches, moved rigidly by 1.5-3.5 A in random
    directions into their neighbours; the clash filter removes what collides.
``expanded``
    A loose chain: every residue moved rigidly with its CA pushed 10-50% away from the centroid
    (the chain breaks between residues, contacts are lost; no clash).

Reproducible from ``seed``; the Structure of an ``overlay`` decoy has the copy as a second chain.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..structures import Structure
from .decoy import Decoy, cpu_time, decoy_labels
from .rigid import rotation_matrix

__all__ = ["IMPOSSIBLE_KINDS", "impossible_decoy", "overlay", "crush", "clash", "expand"]

#: Impossible kinds, in the order used for drawing.
IMPOSSIBLE_KINDS = ("overlay", "crushed", "clash", "expanded")


def _ca(native: Structure):
    return native.backbone()[1]


def _residue_centres(native, coords):
    """CA of each residue (mean of its atoms where it has no CA)."""
    ca = _ca(native)
    missing = np.isnan(ca).any(axis=1)
    if missing.any():
        counts = np.bincount(native.atom_res, minlength=native.n_residues)
        for k in range(3):
            mean = np.bincount(native.atom_res, weights=coords[:, k],
                               minlength=native.n_residues) / np.maximum(counts, 1)
            ca[missing, k] = mean[missing]
    return ca


def overlay(native: Structure, coords, rng, shift=(0.3, 1.0), max_angle=3.0):
    """Coordinates of a copy of ``coords`` moved by ``shift`` (A, range) and rotated by up to
    ``max_angle`` degrees about its centroid."""
    centre = coords.mean(0)
    axis = rng.normal(size=3)
    rot = rotation_matrix(axis / np.linalg.norm(axis), math.radians(rng.uniform(0, max_angle)))
    direction = rng.normal(size=3)
    move = direction / np.linalg.norm(direction) * rng.uniform(*shift)
    return (coords - centre) @ rot.T + centre + move


def crush(native: Structure, coords, fraction, rigid_residues=False):
    """Pull every atom (or every residue rigidly, by its CA) ``fraction`` of the way to the
    centroid of the CAs."""
    ca = _residue_centres(native, coords)
    centre = ca.mean(0)
    if rigid_residues:
        return coords - (fraction * (ca - centre))[native.atom_res]
    return centre + (1.0 - fraction) * (coords - centre)


def expand(native: Structure, coords, fraction):
    """Move every residue rigidly so that its CA is ``1 + fraction`` times as far from the
    centroid."""
    ca = _residue_centres(native, coords)
    return coords + (fraction * (ca - ca.mean(0)))[native.atom_res]


def clash(native: Structure, coords, rng, fraction=(0.15, 0.35), stretches=(1, 4),
          shift=(1.5, 3.5)):
    """Move ``fraction`` of the residues, in ``stretches`` contiguous stretches, rigidly by
    ``shift`` A (random direction per stretch, plus 0.3 A per residue)."""
    R = native.n_residues
    n_move = max(1, int(round(rng.uniform(*fraction) * R)))
    n_stretch = int(rng.integers(stretches[0], stretches[1] + 1))
    lengths = np.maximum(1, np.diff(np.round(np.linspace(0, n_move, n_stretch + 1)))).astype(int)
    move = np.zeros((R, 3))
    for length in lengths:
        start = int(rng.integers(0, max(1, R - length)))
        direction = rng.normal(size=3)
        delta = direction / np.linalg.norm(direction) * rng.uniform(*shift)
        move[start:start + length] = delta + rng.normal(scale=0.3, size=(min(length, R - start), 3))
    return coords + move[native.atom_res]


def impossible_decoy(native: Structure, kind: str, seed, noise=(0.1, 0.3)) -> Decoy:
    """One decoy of an impossible ``kind`` (:data:`IMPOSSIBLE_KINDS`), reproducible from ``seed``."""
    if kind not in IMPOSSIBLE_KINDS:
        raise ValueError(f"unknown impossible kind {kind!r}; expected one of {IMPOSSIBLE_KINDS}")
    t0 = time.perf_counter()
    cpu0 = cpu_time()
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(*noise)
    coords = np.asarray(native.coords, dtype=np.float64)
    coords = coords + rng.normal(scale=sigma, size=coords.shape)
    info = {"noise": sigma, "relaxed": False}
    copy = None
    if kind == "overlay":
        copy = overlay(native, coords, rng)
        info["copy_rmsd"] = float(np.sqrt(((copy - coords) ** 2).sum(1).mean()))
    elif kind == "crushed":
        info["fraction"] = float(rng.uniform(0.2, 0.4))
        info["rigid_residues"] = bool(rng.uniform() < 0.5)
        coords = crush(native, coords, info["fraction"], info["rigid_residues"])
    elif kind == "clash":
        coords = clash(native, coords, rng)
    else:
        info["fraction"] = float(rng.uniform(0.1, 0.5))
        coords = expand(native, coords, info["fraction"])
    info["perturb_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    score, local, copy_local = decoy_labels(native, coords, copy)
    info["label_seconds"] = time.perf_counter() - t1
    info["total_seconds"] = time.perf_counter() - t0
    info["cpu_seconds"] = cpu_time() - cpu0
    return Decoy(coords=coords, kind=kind, target_lddt=math.nan, lddt=score, lddt_local=local,
                 info=info, copy_coords=copy, copy_lddt_local=copy_local)
