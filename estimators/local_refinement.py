"""Within-model refinement of the per-residue scores from the model's CA trace.

A network's per-residue scores order the residues of a model by what its 6D layers and graph
convolutions see; simple descriptors of the CA trace carry part of the same information in a
form that needs no training data to learn (on decoys of held-out natives, the number of CA
atoms within 10 A of a residue orders the residues of low-quality decoys better than a network
trained on 1,600 decoys: ``benchmarks/local_accuracy.py``, column "burial").  The refinement
combines them linearly, fitted on models the network did not train on (the estimator's held-out
groups), and changes only how the residues of one model are ordered, never the model's mean:

    d_i  = (p_i, smooth_4(p)_i, n_8(i), n_10(i), n_12(i), n_15(i), log(1 + e_i), h_i, s_i)
    x_i  = [d_i - mean_j d_j,  (d_i - mean_j d_j) (mean_j p_j - 1/2)]
    p'_i = p_i + x_i . beta

over the residues ``j`` of the model with a score and a CA atom, where ``p`` is the network's
score, ``smooth_4`` its Gaussian smoothing along the chain with a width of 4 residues
(:func:`estimators.smoothing.smooth_along_chain`), ``n_r`` the number of other CA atoms within
``r`` A divided by 10, ``e_i`` the number of residues from ``i`` to the nearer end of its
unbroken run of the chain (:func:`estimators.smoothing.chain_runs`), ``h_i`` 1 for residues in
a CA(i)-CA(i+3) step of helical length (4.2-5.8 A) and ``s_i`` 1 for residues in a
CA(i)-CA(i+2) step of strand length (>= 6.2 A).  The counts and marks are continuous in the
coordinates, as the network's scores are: each CA pair counts with the smooth cut-off weight
of :func:`estimators.features.cutoff_envelope`, fading from 1 to 0 over ``COUNT_FADE`` (1 A)
centred on ``r`` (0.5 at ``r``), and each step with weights that fade over ``MARK_FADE``
(0.5 A) centred on the ends of its range; a residue's mark is the largest weight of the steps
that hold it.  The second half of ``x`` lets the weights
depend on the model's predicted quality.  ``beta`` minimises the squared error of ``p'`` to the
true per-residue lDDT, both centred over the model's residues (ridge, ``alpha`` times the
identity, so that weak evidence leaves the network's scores as they are): the refinement
corrects how a residue differs from its model's mean, which the per-model Spearman correlation
of the CASP tables measures, and the global score (the mean) stays the network's.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .features import cutoff_envelope
from .smoothing import chain_runs, scores_and_ca, smooth_along_chain

__all__ = ["REFINE_RADII", "COUNT_FADE", "MARK_FADE", "N_DESCRIPTORS", "N_WEIGHTS",
           "ca_neighbour_counts", "ca_step_mark", "residue_descriptors", "refine_design",
           "fit_refinement", "apply_refinement"]

#: Radii (A) of the CA counts.
REFINE_RADII = (8.0, 10.0, 12.0, 15.0)
#: Widths (A) over which a CA pair leaves a count, and a CA step a helix or strand mark.
COUNT_FADE = 1.0
MARK_FADE = 0.5
#: Width (residues) of the smoothed score among the descriptors.
REFINE_SMOOTHING = 4.0
#: Descriptors per residue, and weights of the refinement (descriptors and their products with
#: the model's centred mean score).
N_DESCRIPTORS = 5 + len(REFINE_RADII)
N_WEIGHTS = 2 * N_DESCRIPTORS


def _chain_end_distance(n, runs):
    out = np.full(n, np.nan)
    for start, stop in runs:
        k = np.arange(stop - start)
        out[start:stop] = np.minimum(k, stop - start - 1 - k)
    return out


def _window(d, lo, hi, width):
    """Weight of distances ``d`` in the range [lo, hi): 1 inside, 0 outside, with the smooth
    edges of :func:`estimators.features.cutoff_envelope` ``width`` wide centred on ``lo`` and
    ``hi`` (width 0: the hard range)."""
    inside = cutoff_envelope(d, hi + width / 2, width)
    if np.isfinite(lo):
        inside = inside * (1.0 - cutoff_envelope(d, lo + width / 2, width))
    return inside


def ca_step_mark(ca, step, lo, hi, width=0.0):
    """1 for the residues of every CA(i)-CA(i+step) pair at a distance in [lo, hi), else 0
    (pairs with a missing CA count as neither); with ``width`` > 0 the pair's weight fades over
    ``width`` A centred on ``lo`` and ``hi``, and a residue's mark is the largest weight of
    the pairs that hold it (continuous in the coordinates).

    Parameters
    ----------
    ca : (N, 3) array_like
        CA coordinates in chain order (NaN rows: no CA).
    step : int
    lo, hi : float
        Distance range (A).
    width : float, default=0.0
        Width (A) of the fade at each end of the range; 0: the hard range.

    Returns
    -------
    ndarray (N,) of values in [0, 1]
    """
    ca = np.asarray(ca, dtype=np.float64)
    n = len(ca)
    mark = np.zeros(n)
    if n > step:
        d = np.linalg.norm(ca[step:] - ca[:-step], axis=1)
        known = np.isfinite(d)
        weight = np.zeros(len(d))
        weight[known] = _window(d[known], lo, hi, width)
        for k in range(step + 1):
            mark[k:n - step + k] = np.maximum(mark[k:n - step + k], weight)
    return mark


def ca_neighbour_counts(ca, radius, rows=None, width=0.0):
    """Number of other CA atoms within ``radius`` A of the CA of each residue in ``rows``; with
    ``width`` > 0 each atom counts with the weight of
    :func:`estimators.features.cutoff_envelope`, fading from 1 to 0 over ``width`` A centred on
    ``radius`` (continuous in the coordinates).

    Parameters
    ----------
    ca : (N, 3) array_like
        CA coordinates (NaN rows: no CA; they are never counted).
    radius : float or sequence of float
    rows : (N,) bool array, optional
        Residues to count for (default: those with a CA).
    width : float, default=0.0
        Width (A) of the fade; 0: the hard count of atoms closer than ``radius``.

    Returns
    -------
    ndarray (N,), or (N, len(radius)) for a sequence of radii
        NaN outside ``rows`` and for residues without a CA.
    """
    radii = np.atleast_1d(np.asarray(radius, dtype=np.float64))
    ca = np.asarray(ca, dtype=np.float64)
    have = np.isfinite(ca).all(axis=1)
    rows = have if rows is None else (np.asarray(rows, dtype=bool) & have)
    out = np.full((len(ca), len(radii)), np.nan)
    if rows.any():
        reach = float(radii.max()) + width / 2
        pairs = cKDTree(ca[rows]).sparse_distance_matrix(cKDTree(ca[have]), reach,
                                                         output_type="ndarray")
        n_rows = int(np.count_nonzero(rows))
        for k, r in enumerate(radii):
            weight = cutoff_envelope(pairs["v"], r + width / 2, width)
            # the residue itself is a pair at distance 0 (weight 1) in every count
            out[rows, k] = np.bincount(pairs["i"], weight, minlength=n_rows) - 1.0
    return out if np.ndim(radius) else out[:, 0]


def residue_descriptors(pred, ca):
    """Descriptors ``d`` of the module docstring for each residue of one model.

    Parameters
    ----------
    pred : (N,) array_like
        The network's per-residue scores in chain order (NaN: not scored).
    ca : (N, 3) array_like
        CA coordinates of the same residues (NaN rows: no CA).

    Returns
    -------
    descriptors : (N, N_DESCRIPTORS) ndarray
        NaN rows for residues without a score or a CA atom.
    """
    pred, ca = scores_and_ca(pred, ca)
    n = len(pred)
    ok = np.isfinite(pred) & np.isfinite(ca).all(axis=1)
    out = np.full((n, N_DESCRIPTORS), np.nan)
    if not ok.any():
        return out
    out[:, 0] = pred
    out[:, 1] = smooth_along_chain(pred, ca, REFINE_SMOOTHING)
    c = 2 + len(REFINE_RADII)
    out[:, 2:c] = ca_neighbour_counts(ca, REFINE_RADII, ok, COUNT_FADE) / 10.0
    out[:, c] = np.log1p(_chain_end_distance(n, chain_runs(pred, ca)))
    out[:, c + 1] = ca_step_mark(ca, 3, 4.2, 5.8, MARK_FADE)
    out[:, c + 2] = ca_step_mark(ca, 2, 6.2, np.inf, MARK_FADE)
    out[~ok] = np.nan
    return out


def refine_design(descriptors, rows=None):
    """Design matrix ``x`` (module docstring) of one model, centred over ``rows``.

    Parameters
    ----------
    descriptors : (N, N_DESCRIPTORS) ndarray
        From :func:`residue_descriptors`.
    rows : (N,) bool array, optional
        Residues over which the means are taken (default: every residue with descriptors).

    Returns
    -------
    x : (N, N_WEIGHTS) ndarray
        NaN outside ``rows``.
    mean_pred : float
        Mean score over ``rows`` (NaN if there are none).
    """
    descriptors = np.asarray(descriptors, dtype=np.float64)
    valid = np.isfinite(descriptors).all(axis=1)
    rows = valid if rows is None else (np.asarray(rows, dtype=bool) & valid)
    x = np.full((len(descriptors), N_WEIGHTS), np.nan)
    if not rows.any():
        return x, np.nan
    centred = descriptors[rows] - descriptors[rows].mean(axis=0)
    mean_pred = float(descriptors[rows, 0].mean())
    x[rows] = np.concatenate([centred, centred * (mean_pred - 0.5)], axis=1)
    return x, mean_pred


def fit_refinement(preds, cas, truths, alpha=1.0):
    """Weights ``beta`` (N_WEIGHTS,) of the refinement, fitted on models with known per-residue
    lDDT.

    Each model contributes its residues with a score, a CA atom and a finite truth ``t``, with
    ``x`` and ``t`` centred over those residues; models with fewer than 3 of them are skipped.
    Ridge regression of the centred truth's difference from the centred score,
    ``y = (t - mean t) - (p - mean p)``: ``(X'X + alpha I) beta = X'y``.

    Parameters
    ----------
    preds, cas, truths : sequences of (N,), (N, 3), (N,) arrays, one per model
        The network's scores, CA coordinates and true per-residue lDDT (NaN: unknown).
    alpha : float
        Ridge penalty (in units of squared lDDT).

    Returns
    -------
    ndarray (N_WEIGHTS,)
    """
    if not (len(preds) == len(cas) == len(truths)):
        raise ValueError("preds, cas and truths must have one entry per model")
    xs, ys = [], []
    for pred, ca, truth in zip(preds, cas, truths):
        truth = np.asarray(truth, dtype=np.float64)
        desc = residue_descriptors(pred, ca)
        if truth.shape != (len(desc),):
            raise ValueError(f"truth of shape {truth.shape} for {len(desc)} residues")
        rows = np.isfinite(truth) & np.isfinite(desc).all(axis=1)
        if rows.sum() < 3:
            continue
        x, _ = refine_design(desc, rows)
        xs.append(x[rows])
        ys.append(truth[rows] - truth[rows].mean() - x[rows, 0])
    if not xs:
        raise ValueError("no model with at least 3 residues with a score, a CA atom and a truth")
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    gram = x.T @ x + float(alpha) * np.eye(N_WEIGHTS)
    return np.linalg.solve(gram, x.T @ y)


def apply_refinement(beta, pred, ca):
    """The refined scores ``p'`` of one model (module docstring); residues without a score or a
    CA atom keep their value.  The mean over the refined residues equals that of ``pred``."""
    beta = np.asarray(beta, dtype=np.float64)
    if beta.shape != (N_WEIGHTS,):
        raise ValueError(f"refinement weights must have shape ({N_WEIGHTS},), got {beta.shape}")
    pred = np.asarray(pred, dtype=np.float64)
    x, _ = refine_design(residue_descriptors(pred, ca))
    rows = np.isfinite(x).all(axis=1)
    out = pred.copy()
    out[rows] += x[rows] @ beta
    return out
