"""Refinement of a model's global score from its CA trace.

The network sees each residue's neighbourhood (8 A) and, through message passing, its
neighbours' (12 A); the shape of the whole chain (how compact it is, how much of it lies in
helices and strands, how far apart in sequence its contacts are) enters only through what
those views add up to, though wrong folds often differ from right ones there (the decoy
realism table of ``benchmarks/RESULTS.md`` uses the same statistics).  The refinement shifts
every per-residue score of a model by one amount, a linear function of model descriptors:

    z    = (mean p, std p, Rg / (2.2 N^0.38), c_8, c_12, h, s, CO)
    p'_i = p_i + (z - z_ref) . gamma

over the residues with a score and a CA atom (N of them), where ``p`` are the per-residue
scores, ``Rg`` the radius of gyration of their CA atoms (2.2 N^0.38 A is that of a compact
globular chain of N residues), ``c_r`` the mean number of other CA atoms within ``r`` A divided
by 10, ``h`` and ``s`` the fractions of residues in a CA-trace helix or strand step
(:func:`estimators.local_refinement.ca_step_mark`) and ``CO`` the relative contact order (mean
sequence separation over N of the CA pairs within 8 A at least 3 residues apart).  As in the
within-model refinement, every count is continuous in the coordinates: a CA atom or pair counts
with the weight of :func:`estimators.features.cutoff_envelope`, fading over ``COUNT_FADE`` (1 A)
centred on the radius, the helix and strand marks fade over ``MARK_FADE`` (0.5 A), and ``CO`` is
the weighted sum of separations divided by ``max(1, total weight)`` (the weighted mean for any
chain whose contacts weigh 1 or more).  ``gamma`` is
fitted on models with known global lDDT in groups (models of one native or target) by ridge
regression of each model's difference from its group's mean: ``(t - mean_g t) - (mean p -
mean_g mean p)`` on ``z - mean_g z``, so that it learns how models of one protein should be
ordered, not the protein's level; ``z_ref`` is the mean of ``z`` over the fitting models, so
that over them the scores keep their mean (the calibration of the global score is left as it
was).  The order of the residues within a model is unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .features import cutoff_envelope
from .local_refinement import COUNT_FADE, MARK_FADE, ca_neighbour_counts, ca_step_mark
from .smoothing import scores_and_ca

__all__ = ["N_MODEL_DESCRIPTORS", "model_descriptors", "fit_global_refinement", "global_shift",
           "apply_global_refinement"]

#: Descriptors per model; the fitted weights are ``gamma`` then ``z_ref``.
N_MODEL_DESCRIPTORS = 8
#: Radius (A) of a contact, for ``c_8`` and ``CO``.
CONTACT_RADIUS = 8.0


def model_descriptors(pred, ca):
    """Descriptors ``z`` of the module docstring of one model (NaN with fewer than 3 residues
    with a score and a CA atom).

    Parameters
    ----------
    pred : (N,) array_like
        Per-residue scores in chain order (NaN: not scored).
    ca : (N, 3) array_like
        CA coordinates of the same residues (NaN rows: no CA).

    Returns
    -------
    ndarray (N_MODEL_DESCRIPTORS,)
    """
    pred, ca = scores_and_ca(pred, ca)
    ok = np.isfinite(pred) & np.isfinite(ca).all(axis=1)
    n = int(ok.sum())
    if n < 3:
        return np.full(N_MODEL_DESCRIPTORS, np.nan)
    p = pred[ok]
    xyz = ca[ok]
    rg = float(np.sqrt(((xyz - xyz.mean(axis=0)) ** 2).sum(axis=1).mean()))
    index = np.flatnonzero(ok)
    pairs = cKDTree(xyz).query_pairs(CONTACT_RADIUS + COUNT_FADE / 2, output_type="ndarray")
    separation = np.abs(index[pairs[:, 0]] - index[pairs[:, 1]]).astype(np.float64)
    distance = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
    weight = cutoff_envelope(distance, CONTACT_RADIUS + COUNT_FADE / 2, COUNT_FADE)
    weight[separation < 3] = 0.0
    contact_order = float(weight @ separation) / max(float(weight.sum()), 1.0) / n
    masked = np.where(ok[:, None], ca, np.nan)
    counts = ca_neighbour_counts(masked, (CONTACT_RADIUS, 12.0), width=COUNT_FADE)
    return np.array([
        p.mean(), p.std(), rg / (2.2 * n ** 0.38),
        *(np.nanmean(counts, axis=0) / 10.0),
        ca_step_mark(masked, 3, 4.2, 5.8, MARK_FADE)[ok].mean(),
        ca_step_mark(masked, 2, 6.2, np.inf, MARK_FADE)[ok].mean(),
        contact_order])


def fit_global_refinement(preds, cas, truths, groups, alpha=0.1):
    """Weights (2 N_MODEL_DESCRIPTORS,): ``gamma`` then ``z_ref``, fitted on models with known
    global lDDT in groups.

    Models without descriptors or a finite truth are skipped, and so are groups left with
    fewer than 2 models.

    Parameters
    ----------
    preds, cas : sequences of (N,) and (N, 3) arrays, one per model
        Per-residue scores and CA coordinates.
    truths : sequence of float
        True global lDDT of each model.
    groups : sequence
        Native or target of each model.
    alpha : float
        Ridge penalty.

    Returns
    -------
    ndarray (2 N_MODEL_DESCRIPTORS,)
    """
    if not (len(preds) == len(cas) == len(truths) == len(groups)):
        raise ValueError("preds, cas, truths and groups must have one entry per model")
    z = np.array([model_descriptors(p, c) for p, c in zip(preds, cas)]).reshape(
        -1, N_MODEL_DESCRIPTORS)
    truths = np.asarray(truths, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    ok = np.isfinite(z).all(axis=1) & np.isfinite(truths)
    xs, ys = [], []
    for g in np.unique(groups[ok]):
        members = np.flatnonzero(ok & (groups == g))
        if len(members) < 2:
            continue
        zc = z[members] - z[members].mean(axis=0)
        xs.append(zc)
        ys.append(truths[members] - truths[members].mean() - zc[:, 0])
    if not xs:
        raise ValueError("no group with at least 2 models with descriptors and a truth")
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    gamma = np.linalg.solve(x.T @ x + float(alpha) * np.eye(N_MODEL_DESCRIPTORS), x.T @ y)
    return np.concatenate([gamma, z[ok].mean(axis=0)])


def global_shift(weights, pred, ca):
    """``(z - z_ref) . gamma`` of one model (module docstring); 0 for a model without
    descriptors."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (2 * N_MODEL_DESCRIPTORS,):
        raise ValueError(f"global refinement weights must have shape "
                         f"({2 * N_MODEL_DESCRIPTORS},), got {weights.shape}")
    z = model_descriptors(pred, ca)
    if not np.isfinite(z).all():
        return 0.0
    gamma, z_ref = weights[:N_MODEL_DESCRIPTORS], weights[N_MODEL_DESCRIPTORS:]
    return float((z - z_ref) @ gamma)


def apply_global_refinement(weights, pred, ca):
    """``p'`` of the module docstring: the scores of one model shifted by
    :func:`global_shift` (NaN stays NaN)."""
    return np.asarray(pred, dtype=np.float64) + global_shift(weights, pred, ca)
