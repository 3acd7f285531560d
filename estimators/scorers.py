"""Scikit-learn scorers of the global score of :class:`~estimators.qa_estimator.SixDQAEstimator`.

A scorer is called as ``scorer(estimator, X, y)`` (the ``scoring`` argument of
:class:`sklearn.model_selection.GridSearchCV`, :func:`~sklearn.model_selection.cross_validate`
...).  Each one compares :meth:`~estimators.qa_estimator.SixDQAEstimator.predict_global` of the
models ``X`` with their true global lDDT: ``y`` holds, per model, a float (global lDDT) or an
array of per-residue lDDT (NaN = unknown), whose mean over known residues is then the truth, as
in :meth:`~estimators.qa_estimator.SixDQAEstimator.fit`.  Models without a prediction or a
known truth are left out.

* ``"r2"`` — coefficient of determination, what ``estimator.score`` returns (the scikit-learn
  convention for regressors): an offset or a wrong scale of the scores lowers it.
* ``"pearson"`` — Pearson r: linear agreement, blind to offset and scale.
* ``"spearman"`` — Spearman rho: agreement of the ranking of the models (the CASP view; within
  one target, use per-target folds such as :class:`~sklearn.model_selection.LeaveOneGroupOut`).

Example::

    from sklearn.model_selection import GridSearchCV, GroupKFold
    from estimators.scorers import SCORERS
    search = GridSearchCV(SixDQAEstimator(), {"epochs": [5, 20]}, scoring=SCORERS,
                          refit="spearman", cv=GroupKFold(4))
    search.fit(paths, lddt, groups=targets)
"""
from __future__ import annotations

import math

import numpy as np

from .metrics import pearson, spearman

__all__ = ["global_truth", "r2_global", "pearson_global", "spearman_global", "SCORERS"]


def global_truth(y):
    """True global lDDT per model: the float itself, or the mean of the known per-residue values
    (NaN when none is known).  Returns a float array of shape (n_models,)."""
    out = np.empty(len(y))
    for i, value in enumerate(y):
        if value is None:
            out[i] = np.nan
        elif np.ndim(value) == 0:
            out[i] = float(value)
        else:
            v = np.asarray(value, dtype=np.float64)
            out[i] = float(np.nanmean(v)) if np.isfinite(v).any() else np.nan
    return out


def _pairs(estimator, X, y, sample_weight=None):
    pred = np.asarray(estimator.predict_global(X), dtype=np.float64)
    true = global_truth(y)
    if pred.shape != true.shape:
        raise ValueError(f"{len(true)} labels for {len(pred)} models")
    keep = np.isfinite(pred) & np.isfinite(true)
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[keep]
    return pred[keep], true[keep], weight


def r2_global(estimator, X, y, sample_weight=None):
    """R² of the predicted global lDDT (``estimator.score``); NaN with fewer than 2 models."""
    from sklearn.metrics import r2_score
    pred, true, weight = _pairs(estimator, X, y, sample_weight)
    if len(true) < 2:
        return math.nan
    return float(r2_score(true, pred, sample_weight=weight))


def pearson_global(estimator, X, y):
    """Pearson r of predicted and true global lDDT (NaN for < 2 models or a constant vector)."""
    pred, true, _ = _pairs(estimator, X, y)
    return pearson(pred, true)


def spearman_global(estimator, X, y):
    """Spearman rho of predicted and true global lDDT (NaN for < 2 models or a constant vector)."""
    pred, true, _ = _pairs(estimator, X, y)
    return spearman(pred, true)


#: The named scorers, for ``scoring=SCORERS`` (several metrics) or ``scoring=SCORERS["spearman"]``.
SCORERS = {"r2": r2_global, "pearson": pearson_global, "spearman": spearman_global}
