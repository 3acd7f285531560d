"""Per-model predictions of a QA benchmark run, saved so that later runs can combine them.

A file (``.npz``) holds, for the CASP13 models of the run (``model_names``, unique, e.g.
``target/model``, in the run's order)
and each method, the global prediction of every model and the per-residue predictions of all
models concatenated (``local_offsets`` splits them; a model without a prediction has NaN global
and no residues).  :func:`mean_of` averages the per-residue predictions of several methods
(e.g. networks of different architectures or seeds trained in separate runs), as the seed
ensembles of :class:`estimators.SeedEnsembleQAEstimator` do.  :func:`merge_disjoint` joins
the predictions of one method made in separate runs on disjoint sets of models (e.g. the folds
of a leave-one-target-out evaluation run one at a time).
"""
from __future__ import annotations

import numpy as np

__all__ = ["write_predictions", "read_predictions", "mean_of", "merge_disjoint"]


def write_predictions(path, methods, model_names):
    """Write ``methods`` ({name: {"global": (M,), "local": [per-residue arrays or None]}})."""
    names = list(methods)
    if len(set(map(str, model_names))) != len(model_names):
        raise ValueError("model names must be unique (e.g. target/model)")
    arrays = {"model_names": np.asarray(model_names).astype(str), "methods": np.asarray(names)}
    for k, name in enumerate(names):
        local = methods[name]["local"]
        if len(local) != len(model_names) or len(methods[name]["global"]) != len(model_names):
            raise ValueError(f"{name}: predictions for {len(local)} models, expected "
                             f"{len(model_names)}")
        parts = [np.zeros(0) if p is None else np.asarray(p, dtype=np.float64).ravel()
                 for p in local]
        arrays[f"global_{k}"] = np.asarray(methods[name]["global"], dtype=np.float64)
        arrays[f"local_{k}"] = np.concatenate(parts) if parts else np.zeros(0)
        arrays[f"local_offsets_{k}"] = np.cumsum([0] + [p.size for p in parts])
        arrays[f"has_local_{k}"] = np.array([p is not None for p in local])
    np.savez_compressed(path, **arrays)


def read_predictions(path, model_names=None):
    """The methods of a file written by :func:`write_predictions`, in ``model_names`` order.

    Raises
    ------
    ValueError
        When ``model_names`` is given and a model of it is not in the file.
    """
    with np.load(path, allow_pickle=False) as data:
        stored = [str(n) for n in data["model_names"]]
        if model_names is None:
            order = np.arange(len(stored))
        else:
            where = {n: i for i, n in enumerate(stored)}
            missing = [str(n) for n in model_names if str(n) not in where]
            if missing:
                raise ValueError(f"{path}: no predictions for {len(missing)} models, e.g. "
                                 f"{missing[:3]}")
            order = np.array([where[str(n)] for n in model_names], dtype=np.int64)
        methods = {}
        for k, name in enumerate(str(n) for n in data["methods"]):
            values, offsets = data[f"local_{k}"], data[f"local_offsets_{k}"]
            has = data[f"has_local_{k}"]
            local = [values[offsets[i]:offsets[i + 1]] if has[i] else None for i in order]
            methods[name] = {"global": data[f"global_{k}"][order], "local": local}
    return methods


def mean_of(methods, names, global_of):
    """The method whose per-residue predictions are the mean of those of ``names`` (a model
    predicted by only some of them gets the mean of those); its global score is
    ``global_of(local)``, as for each network."""
    missing = [n for n in names if n not in methods]
    if missing:
        raise ValueError(f"unknown methods {missing}; known: {sorted(methods)}")
    n_models = len(methods[names[0]]["local"])
    local = []
    for i in range(n_models):
        stack = [methods[n]["local"][i] for n in names if methods[n]["local"][i] is not None]
        if len({p.shape for p in stack}) > 1:
            raise ValueError(f"model {i}: per-residue predictions of different lengths")
        local.append(np.mean(stack, axis=0) if stack else None)
    return {"global": global_of(local), "local": local}


def _covered(method):
    return np.array([p is not None for p in method["local"]])


def merge_disjoint(a, b):
    """One method's predictions from two runs that predicted disjoint sets of models (each
    model predicted by ``a`` or by ``b``, or by neither); None when the sets overlap."""
    have_a, have_b = _covered(a), _covered(b)
    if len(have_a) != len(have_b):
        raise ValueError(f"predictions for {len(have_a)} and {len(have_b)} models")
    if (have_a & have_b).any():
        return None
    local = [pa if pa is not None else pb for pa, pb in zip(a["local"], b["local"])]
    glob = np.where(have_a, np.asarray(a["global"], dtype=np.float64),
                    np.asarray(b["global"], dtype=np.float64))
    return {"global": glob, "local": local}
