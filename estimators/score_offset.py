"""A constant offset of the scores, fitted on models of other targets with known lDDT.

Networks trained on decoys and scored on real server models can be right in how they order the
models of a target and still wrong in the level of their scores: every model of a target scored
too high, by about the same amount.  The offset is the one number that removes that bias on
average over targets:

    delta = -(1 / T) sum_t (mean_{i in t} p_i - mean_{i in t} y_i)

over the ``T`` targets (groups) of the fitting models, where ``p_i`` is the predicted and
``y_i`` the true global lDDT of model ``i``; each target counts once, whatever its number of
models.  Applied to a model, it shifts every per-residue score by ``delta`` and clips the
result to [0, 1], so the global score (the mean over the residues) moves by ``delta`` too
(up to the clip) and the order of the models of a target, and of the residues within a model,
stays as it was.  Its estimate is only as good as the fitting predictions are like those of the
models it will be applied to: fit it on predictions of networks that did not see the fitting
models (e.g. the leave-one-target-out predictions of ``benchmarks/qa_casp13.py``), never on
their training data.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["fit_score_offset", "apply_score_offset", "check_score_offset"]


def check_score_offset(value, what="score_offset"):
    """``value`` as a finite float in [-1, 1], or a ValueError naming ``what``."""
    try:
        offset = float(value)
    except (TypeError, ValueError):
        offset = math.nan
    if isinstance(value, bool) or not (math.isfinite(offset) and -1.0 <= offset <= 1.0):
        raise ValueError(f"{what} must be a finite number in [-1, 1], got {value!r}")
    return offset


def fit_score_offset(predicted, true, groups):
    """The offset ``delta`` of the module docstring.

    Parameters
    ----------
    predicted, true : array_like of float, shape (n_models,)
        Predicted and true global lDDT of each model; models where either is NaN are left out.
    groups : array_like, shape (n_models,)
        The target (or native) of each model; each counts once.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When the lengths differ or no group has a model with both values.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    groups = np.asarray(groups)
    if not (predicted.ndim == true.ndim == groups.ndim == 1
            and len(predicted) == len(true) == len(groups)):
        raise ValueError("predicted, true and groups must be 1-D arrays of one length, got "
                         f"shapes {predicted.shape}, {true.shape} and {groups.shape}")
    ok = np.isfinite(predicted) & np.isfinite(true)
    biases = [float(np.mean(predicted[ok & (groups == g)] - true[ok & (groups == g)]))
              for g in dict.fromkeys(groups[ok].tolist())]
    if not biases:
        raise ValueError("no model with both a predicted and a true lDDT to fit the offset on")
    return -float(np.mean(biases))


def apply_score_offset(local, offset):
    """Per-residue scores shifted by ``offset`` and clipped to [0, 1] (NaN stays NaN)."""
    local = np.asarray(local)
    if local.dtype.kind != "f":
        local = local.astype(np.float64)
    if offset == 0.0:
        return local
    return np.clip(local + local.dtype.type(offset), 0.0, 1.0)
