"""Per-residue scores smoothed along the chain.

The lDDT of a residue counts the distances from its atoms to every atom within 15 A, so the
true scores of sequence neighbours share most of their terms and vary slowly along a chain,
while a network's per-residue errors vary faster.  :func:`smooth_along_chain` replaces each
residue's score by a Gaussian-weighted mean over its sequence neighbours (VoroMQA smooths its
local scores over a window of 5 residues in the same spirit), never across a chain break.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["smooth_along_chain", "chain_runs", "check_width", "scores_and_ca", "MAX_CA_STEP"]

#: Largest CA(i)-CA(i+1) distance (A) of two residues joined in one run (a peptide bond's
#: trans step is 3.8 A, a cis step 2.9 A; anything longer is a chain break).
MAX_CA_STEP = 4.2


def check_width(value, name="sigma"):
    """``value`` as a float: a smoothing width (residues), finite and >= 0; ValueError naming
    ``name`` otherwise."""
    try:
        width = float(value)
    except (TypeError, ValueError):
        width = math.nan
    if not (math.isfinite(width) and width >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return width


def scores_and_ca(values, ca):
    """``values`` (N,) and ``ca`` (N, 3) as float64 arrays; ValueError for other shapes."""
    values = np.asarray(values, dtype=np.float64)
    ca = np.asarray(ca, dtype=np.float64)
    if values.ndim != 1 or ca.shape != (len(values), 3):
        raise ValueError(f"per-residue values must be (N,) and CA coordinates (N, 3), got "
                         f"{values.shape} and {ca.shape}")
    return values, ca


def chain_runs(values, ca, max_step=MAX_CA_STEP):
    """Maximal runs ``[start, stop)`` of consecutive residues with a finite value and a finite
    CA, each residue's CA within ``max_step`` A of the next one's.

    Parameters
    ----------
    values : (N,) array_like
        Per-residue scores in chain order (NaN: not scored).
    ca : (N, 3) array_like
        CA coordinates of the same residues (NaN rows: no CA).
    max_step : float
        Largest CA-CA distance inside a run.

    Returns
    -------
    list of (int, int)
    """
    values, ca = scores_and_ca(values, ca)
    ok = np.isfinite(values) & np.isfinite(ca).all(axis=1)
    joined = np.zeros(max(len(values) - 1, 0), dtype=bool)
    if len(values) > 1:
        step = np.linalg.norm(ca[1:] - ca[:-1], axis=1)
        joined = ok[:-1] & ok[1:] & (step <= max_step)
    runs, start = [], None
    for i in range(len(values)):
        if ok[i] and start is None:
            start = i
        if start is not None and (i == len(values) - 1 or not joined[i]):
            runs.append((start, i + 1))
            start = None
    return runs


def smooth_along_chain(values, ca, sigma, max_step=MAX_CA_STEP):
    """Gaussian smoothing of per-residue scores along each unbroken run of the chain.

    ``out_i = sum_j w_ij v_j / sum_j w_ij`` with ``w_ij = exp(-(i - j)^2 / (2 sigma^2))`` over
    the residues ``j`` of the run of ``i`` (:func:`chain_runs`) with ``|i - j| <= ceil(3
    sigma)``; the weights are renormalised at the ends of a run.  Residues outside every run
    (no value or no CA) keep their value.  Constants stay constant and the result lies within
    the range of the run's values.

    Parameters
    ----------
    values : (N,) array_like
        Per-residue scores in chain order (NaN: not scored).
    ca : (N, 3) array_like
        CA coordinates of the same residues.
    sigma : float
        Width of the Gaussian in residues; 0 returns the values unchanged.
    max_step : float
        Largest CA-CA distance (A) between consecutive residues of one run.

    Returns
    -------
    (N,) ndarray of float64
    """
    sigma = check_width(sigma)
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    runs = chain_runs(values, ca, max_step)
    if sigma == 0.0:
        return out
    half = int(math.ceil(3.0 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    for start, stop in runs:
        v = values[start:stop]
        num = np.convolve(v, kernel, mode="full")[half:half + len(v)]
        den = np.convolve(np.ones_like(v), kernel, mode="full")[half:half + len(v)]
        out[start:stop] = num / den
    return out
