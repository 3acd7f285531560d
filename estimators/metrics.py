"""Evaluation metrics of model quality assessment (EMA / QA) in the CASP conventions.

The paper (Tables 1-2 and the local-score table) reports, for predicted global lDDT scores of server
models of several targets:

* **global** correlations: Pearson, Spearman, Kendall and R^2, pooled over all models of all targets;
* **per-target** correlations: the same four, computed per target and averaged over targets;
* **z-score** of the top-ranked model: per target, z-scores of the *true* scores over the target's
  models, with the CASP outlier rule (drop models below z = -2, recompute mean and standard deviation);
  the z-score of the model ranked first by the predictor, averaged over targets;
* **loss** (first-rank loss): true score of the best model minus true score of the model ranked
  first, averaged over targets;
* **local** correlations: Pearson and Spearman between predicted and true per-residue lDDT of one
  model, averaged over models.

Conventions fixed here (the paper does not spell them out):

* R^2 = 1 - SS_res / SS_tot of the predictions ``p`` against the truth ``y``
  (SS_res = sum (y - p)^2, SS_tot = sum (y - mean y)^2). It is not the squared correlation: it can be
  (very) negative, as in the paper's tables.
* Ranks are averages over ties (Spearman); Kendall is tau-b (ties corrected).
* NaN marks an unknown value. A pair with NaN in either member is dropped; a model whose true global
  score is NaN is dropped everywhere; a model whose predicted global score is NaN is dropped from the
  correlations and cannot be ranked first.
* A degenerate case (fewer than 2 pairs, or a constant vector) gives NaN without a warning; averages
  over targets or models skip NaN entries (``n_targets_*``/``n_models_local`` count what was averaged).
* z-scores use the population standard deviation (ddof = 0); when several models tie for the top
  predicted score, their true scores are averaged (the expected value of a random tie break).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

__all__ = [
    "pearson", "spearman", "kendall", "r2_score", "rank_average",
    "top_model_zscore", "first_rank_loss", "qa_metrics", "format_table", "TABLE_COLUMNS",
]


# ----------------------------------------------------------------------------------------------------
# input checks
def _as_float_vector(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite values (use NaN for unknown values)")
    return array


def _paired(x, y, name_x: str = "x", name_y: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Two float vectors of equal length with pairs holding NaN removed."""
    x = _as_float_vector(x, name_x)
    y = _as_float_vector(y, name_y)
    if x.shape != y.shape:
        raise ValueError(f"{name_x} and {name_y} differ in length: {x.size} != {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


# ----------------------------------------------------------------------------------------------------
# correlation coefficients (NaN-aware, degenerate cases -> NaN silently)
def rank_average(values) -> np.ndarray:
    """Ranks 1..n of a vector, ties receiving the average of the ranks they span.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite values.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Float ranks (e.g. ``[10, 20, 20, 30] -> [1, 2.5, 2.5, 4]``).
    """
    values = _as_float_vector(values, "values")
    if np.isnan(values).any():
        raise ValueError("rank_average: values contain NaN; drop them first")
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # start index of each run of equal values
    new_run = np.empty(values.size, dtype=bool)
    new_run[:1] = True
    new_run[1:] = sorted_values[1:] != sorted_values[:-1]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], values.size)          # exclusive
    mean_rank = 0.5 * (run_start + 1 + run_end)              # mean of ranks start+1 .. end
    ranks = np.empty(values.size)
    ranks[order] = mean_rank[run_id]
    return ranks


def _pearson_clean(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return math.nan
    dx = x - x.mean()
    dy = y - y.mean()
    sxx = float(dx @ dx)
    syy = float(dy @ dy)
    # a constant vector (up to round-off relative to its magnitude) has no defined correlation
    tol_x = (np.finfo(float).eps * x.size * max(1.0, float(np.abs(x).max()))) ** 2
    tol_y = (np.finfo(float).eps * y.size * max(1.0, float(np.abs(y).max()))) ** 2
    if sxx <= tol_x or syy <= tol_y:
        return math.nan
    r = float(dx @ dy) / math.sqrt(sxx * syy)
    return float(min(1.0, max(-1.0, r)))


def pearson(x, y) -> float:
    """Pearson correlation coefficient r of two vectors, ignoring pairs with NaN.

    Returns NaN (without a warning) for fewer than two pairs or a constant vector.
    """
    x, y = _paired(x, y)
    return _pearson_clean(x, y)


def spearman(x, y) -> float:
    """Spearman rank correlation rho: Pearson r of the tie-averaged ranks, ignoring pairs with NaN."""
    x, y = _paired(x, y)
    if x.size < 2:
        return math.nan
    return _pearson_clean(rank_average(x), rank_average(y))


def _tied_pairs(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    return float((counts * (counts - 1) // 2).sum())


def kendall(x, y, block: int = 2048) -> float:
    """Kendall rank correlation tau-b, ignoring pairs with NaN.

    tau_b = (C - D) / sqrt((n0 - n_x)(n0 - n_y)), with C - D = sum over pairs i < j of
    sign(x_i - x_j) sign(y_i - y_j), n0 = n(n-1)/2 and n_x, n_y the numbers of pairs tied in x, y.
    Computed exactly in O(n^2) operations, in row blocks of ``block`` to bound memory.
    """
    x, y = _paired(x, y)
    n = x.size
    if n < 2:
        return math.nan
    n0 = n * (n - 1) / 2.0
    denominator = (n0 - _tied_pairs(x)) * (n0 - _tied_pairs(y))
    if denominator <= 0.0:
        return math.nan
    concordance = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        sx = np.sign(x[start:stop, None] - x[None, :])
        sy = np.sign(y[start:stop, None] - y[None, :])
        concordance += float((sx * sy).sum())
    concordance /= 2.0                                         # every pair was counted twice
    tau = concordance / math.sqrt(denominator)
    return float(min(1.0, max(-1.0, tau)))


def r2_score(pred, true) -> float:
    """Coefficient of determination R^2 = 1 - SS_res/SS_tot of predictions against the truth.

    Not symmetric and not the squared correlation: a biased predictor gets R^2 < 0.
    NaN for fewer than two pairs or a constant truth.
    """
    pred, true = _paired(pred, true, "pred", "true")
    if true.size < 2:
        return math.nan
    ss_tot = float(((true - true.mean()) ** 2).sum())
    tol = (np.finfo(float).eps * true.size * max(1.0, float(np.abs(true).max()))) ** 2
    if ss_tot <= tol:
        return math.nan
    ss_res = float(((true - pred) ** 2).sum())
    return 1.0 - ss_res / ss_tot


# ----------------------------------------------------------------------------------------------------
# ranking metrics of one target
def _top_predicted(pred: np.ndarray) -> np.ndarray:
    """Boolean mask of the models with the highest (non-NaN) prediction."""
    valid = ~np.isnan(pred)
    if not valid.any():
        return np.zeros(pred.shape, dtype=bool)
    return valid & (pred == np.nanmax(pred))


def top_model_zscore(pred, true, outlier_z: float = -2.0) -> float:
    """CASP z-score of the model ranked first by the predictor, for one target.

    z-scores of the true scores over the target's models (NaN truths dropped) are computed, models
    with z < ``outlier_z`` are dropped, mean and (population) standard deviation are recomputed on
    the rest, and the z-score of the top-predicted model is taken with those. Ties at the top of the
    prediction average the tied models' true scores.

    Returns NaN when no model is predicted, fewer than two models are known, or all true scores of
    the retained models are equal.
    """
    pred, true = _paired_models(pred, true)
    if true.size < 2:
        return math.nan
    top = _top_predicted(pred)
    if not top.any():
        return math.nan
    std = true.std()
    if std <= 0.0:
        return math.nan
    kept = true[(true - true.mean()) / std >= outlier_z]
    if kept.size < 2:
        return math.nan
    std_kept = kept.std()
    if std_kept <= 0.0:
        return math.nan
    return float((true[top].mean() - kept.mean()) / std_kept)


def first_rank_loss(pred, true) -> float:
    """Best true score minus the true score of the top-predicted model (one target; >= 0).

    Ties at the top of the prediction average the tied models' true scores; NaN when no model is
    predicted or no truth is known.
    """
    pred, true = _paired_models(pred, true)
    if true.size == 0:
        return math.nan
    top = _top_predicted(pred)
    if not top.any():
        return math.nan
    return float(true.max() - true[top].mean())


def _paired_models(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """Models of one target: drop those with unknown truth, keep NaN predictions (never ranked)."""
    pred = _as_float_vector(pred, "pred")
    true = _as_float_vector(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in length: {pred.size} != {true.size}")
    known = ~np.isnan(true)
    return pred[known], true[known]


# ----------------------------------------------------------------------------------------------------
# full evaluation
def _nanmean(values: Sequence[float]) -> tuple[float, int]:
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return math.nan, 0
    return float(finite.mean()), int(finite.size)


def _local_vectors(local, n_models: int, name: str) -> list[np.ndarray]:
    if isinstance(local, np.ndarray) and local.ndim == 2:
        rows = [local[i] for i in range(local.shape[0])]
    else:
        try:
            rows = list(local)
        except TypeError as error:
            raise TypeError(f"{name} must be a 2-D array or a sequence of 1-D arrays") from error
    if len(rows) != n_models:
        raise ValueError(f"{name} has {len(rows)} models, expected {n_models}")
    out = []
    for i, row in enumerate(rows):
        if row is None:
            out.append(None)
            continue
        out.append(_as_float_vector(row, f"{name}[{i}]"))
    return out


def qa_metrics(pred_global, true_global, targets, pred_local=None, true_local=None) -> dict:
    """All QA metrics of the paper's Tables 1-2 (and the local-score table) for one predictor.

    Parameters
    ----------
    pred_global, true_global : array_like, shape (n_models,)
        Predicted and true global scores (lDDT); NaN = unknown.
    targets : array_like, shape (n_models,)
        Target identifier of every model (any hashable values).
    pred_local, true_local : sequence of array_like or 2-D array, optional
        Per-residue predicted and true scores of every model (model i: two vectors of equal length,
        NaN = unknown residue; ``None`` for a model without local scores). Both or neither.

    Returns
    -------
    dict
        ``z_score``, ``loss``, ``global_r2``, ``global_pearson``, ``global_spearman``,
        ``global_kendall``, ``per_target_r2``, ``per_target_pearson``, ``per_target_spearman``,
        ``per_target_kendall``, ``local_spearman``, ``local_pearson`` (NaN when no local scores), and
        the counts ``n_models`` (models with a known truth), ``n_targets``, ``n_targets_<metric>``
        (targets that entered each per-target average) and ``n_models_local``.
    """
    pred = _as_float_vector(pred_global, "pred_global")
    true = _as_float_vector(true_global, "true_global")
    target_ids = np.asarray(targets)
    if target_ids.ndim != 1:
        raise ValueError(f"targets must be one-dimensional, got shape {target_ids.shape}")
    if not (pred.size == true.size == target_ids.size):
        raise ValueError("pred_global, true_global and targets differ in length: "
                         f"{pred.size}, {true.size}, {target_ids.size}")
    if (pred_local is None) != (true_local is None):
        raise ValueError("give both pred_local and true_local, or neither")

    result: dict = {}
    result["global_r2"] = r2_score(pred, true)
    result["global_pearson"] = pearson(pred, true)
    result["global_spearman"] = spearman(pred, true)
    result["global_kendall"] = kendall(pred, true)
    result["n_models"] = int((~np.isnan(true)).sum())

    per_target: dict[str, list[float]] = {k: [] for k in
                                          ("z_score", "loss", "r2", "pearson", "spearman", "kendall")}
    unique_targets = list(dict.fromkeys(target_ids.tolist()))
    for target in unique_targets:
        members = target_ids == target
        p, t = pred[members], true[members]
        per_target["z_score"].append(top_model_zscore(p, t))
        per_target["loss"].append(first_rank_loss(p, t))
        per_target["r2"].append(r2_score(p, t))
        per_target["pearson"].append(pearson(p, t))
        per_target["spearman"].append(spearman(p, t))
        per_target["kendall"].append(kendall(p, t))
    result["n_targets"] = len(unique_targets)
    for key in ("z_score", "loss"):
        result[key], result[f"n_targets_{key}"] = _nanmean(per_target[key])
    for key in ("r2", "pearson", "spearman", "kendall"):
        result[f"per_target_{key}"], result[f"n_targets_{key}"] = _nanmean(per_target[key])

    local_spearman, local_pearson = [], []
    if pred_local is not None:
        pl = _local_vectors(pred_local, pred.size, "pred_local")
        tl = _local_vectors(true_local, pred.size, "true_local")
        for i, (p, t) in enumerate(zip(pl, tl)):
            if p is None or t is None:
                continue
            if p.shape != t.shape:
                raise ValueError(f"model {i}: pred_local and true_local differ in length: "
                                 f"{p.size} != {t.size}")
            local_spearman.append(spearman(p, t))
            local_pearson.append(pearson(p, t))
    result["local_spearman"], result["n_models_local"] = _nanmean(local_spearman)
    result["local_pearson"], _ = _nanmean(local_pearson)
    return result


# ----------------------------------------------------------------------------------------------------
# table
#: (result key, markdown header) of the columns of ``format_table``, in the paper's order.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("z_score", "z-score"),
    ("loss", "loss"),
    ("global_r2", "global R²"),
    ("global_pearson", "global Pearson r"),
    ("global_spearman", "global Spearman ρ"),
    ("global_kendall", "global Kendall τ"),
    ("per_target_r2", "per-target R²"),
    ("per_target_pearson", "per-target Pearson r"),
    ("per_target_spearman", "per-target Spearman ρ"),
    ("per_target_kendall", "per-target Kendall τ"),
    ("local_spearman", "local Spearman ρ"),
    ("local_pearson", "local Pearson r"),
)


def format_table(rows: Mapping[str, Mapping[str, float]], digits: int = 3) -> str:
    """Markdown table of QA metrics, one row per method, columns as in the paper's Tables 1-2.

    Parameters
    ----------
    rows : mapping of str to mapping
        Method name -> dict as returned by :func:`qa_metrics` (missing keys print as "–").
    digits : int
        Decimals printed.

    Returns
    -------
    str
        A markdown table (header, alignment row, one line per method), NaN printed as "n/a".
    """
    if not isinstance(rows, Mapping):
        raise TypeError(f"rows must be a mapping method -> metrics dict, got {type(rows).__name__}")
    header = "| method | " + " | ".join(title for _, title in TABLE_COLUMNS) + " |"
    align = "|---|" + "---:|" * len(TABLE_COLUMNS)
    lines = [header, align]
    for method, metrics in rows.items():
        if not isinstance(metrics, Mapping):
            raise TypeError(f"rows[{method!r}] must be a mapping of metric -> value")
        cells = []
        for key, _ in TABLE_COLUMNS:
            if key not in metrics or metrics[key] is None:
                cells.append("–")
                continue
            value = float(metrics[key])
            cells.append("n/a" if math.isnan(value) else f"{value:.{digits}f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
