"""Evaluate the scores of a ``fourier6d score`` run against true lDDT labels.

One job: match the scored models of an output folder (``scores.csv``, ``residue_scores.csv``) to
their labels by *identity*, never by bare file name, and compute the QA metrics of the paper's
tables, pooled and per target (:func:`estimators.metrics.qa_metrics`).

Identity
    ``fourier6d score`` identifies every model by its input path as given
    (:mod:`estimators.scoring_output`).  Labels are matched to that path:

    * a CASP13-style folder (``<target>/labels.json``, models in ``<target>/models/<name>``):
      a scored path whose last three components are ``<target>/models/<name>`` takes the label
      of ``<name>`` in ``<target>/labels.json``.  Server model names repeat across targets (116
      of the 392 CASP13 models share their name with a model of another target), so the target
      folder is part of the identity;
    * a CSV file with columns ``model,lddt[,target]``: ``model`` is a path, matched when it
      equals the scored path after normalisation (``os.path.normpath``; relative paths of the
      CSV taken from the CSV's folder, relative paths of ``scores.csv`` from the current
      folder) or names the same existing file.  Without a ``target`` column every model belongs
      to one target, ``all``.  Per-residue labels come from an optional second CSV with columns
      ``model,resnum,lddt`` (and optionally ``chain``, ``icode``), matched to the residues of
      ``residue_scores.csv`` by chain, number and insertion code.

    Scored models without a label are listed (``unmatched``); labelled models that were not
    scored are counted per target and take no part in the metrics.

Training overlap
    Metrics on models of targets the network was trained on are not a test.  The training
    groups recorded in the model file (``training_groups``, written by
    ``SixDQAEstimator.save``; the shipped pretrained model records them too) are compared with
    the evaluated targets; the model file is the one named in the output folder's ``run.json``
    (``model_file``) or given explicitly.  A model file without the record (written before it
    existed) is reported as of unknown training data.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .metrics import qa_metrics, format_table

__all__ = ["EvaluationError", "LabelSet", "load_labels",
           "training_groups_of", "evaluate", "format_evaluation"]

class EvaluationError(ValueError):
    """The scores or labels cannot be evaluated (one line, names the file)."""


@dataclass
class LabelSet:
    """True labels of models, keyed by identity.

    Attributes
    ----------
    source : str
        The labels folder or CSV file.
    kind : {'casp', 'csv'}
    glob : dict
        identity key -> (target, true global lDDT).
    local : dict
        identity key -> per-residue truth: ``('positions', array)`` (CASP: values at sequence
        positions 1..L) or ``('residues', {(chain, resnum, icode): value})`` (CSV).
    base : Path
        Folder against which relative CSV paths are resolved.
    """

    source: str
    kind: str
    glob: dict = field(default_factory=dict)
    local: dict = field(default_factory=dict)
    base: Path = Path(".")
    _files: dict = field(default=None, repr=False)

    def targets(self):
        return sorted({t for t, _ in self.glob.values()})

    def file_index(self):
        """(device, inode) -> key of the labelled paths that exist (CSV labels; built once)."""
        if self._files is None:
            self._files = {}
            for key in self.glob:
                try:
                    st = os.stat(key)
                except (OSError, TypeError):
                    continue
                self._files.setdefault((st.st_dev, st.st_ino), key)
        return self._files


# ----------------------------------------------------------------------------- labels

def _casp_root(path):
    for cand in (path, path / "casp13", path / "data" / "casp13"):
        if cand.is_dir() and any(cand.glob("*/labels.json")):
            return cand
    return None


def _number(value, where):
    if value is None:
        return math.nan
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EvaluationError(f"{where}: lDDT {value!r} is not a number") from None
    if not (math.isnan(v) or 0.0 <= v <= 1.0):
        raise EvaluationError(f"{where}: lDDT {v} is not in [0, 1]")
    return v


def _load_casp(root):
    labels = LabelSet(source=str(root), kind="casp", base=root)
    for file in sorted(root.glob("*/labels.json")):
        target = file.parent.name
        try:
            entries = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise EvaluationError(f"{file}: cannot read labels ({exc})") from None
        if not isinstance(entries, dict):
            raise EvaluationError(f"{file}: expected a JSON object model name -> labels")
        for name, entry in entries.items():
            where = f"{file}: {name}"
            if not isinstance(entry, dict):
                raise EvaluationError(f"{where}: expected an object with 'lddt'")
            labels.glob[(target, name)] = (target, _number(entry.get("lddt"), where))
            local = entry.get("lddt_local")
            if local is not None:
                labels.local[(target, name)] = (
                    "positions", np.array([_number(v, where + " lddt_local") for v in local]))
    return labels


def _read_csv(path, required, allow_empty=False):
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = set(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    missing = [c for c in required if c not in columns]
    if missing or not (rows or allow_empty):
        raise EvaluationError(f"{path}: needs the columns {', '.join(required)} and at least one "
                              f"row (missing: {', '.join(missing) or 'rows'})")
    return rows


def _load_csv(path, residue_path=None):
    labels = LabelSet(source=str(path), kind="csv", base=path.parent)
    for i, row in enumerate(_read_csv(path, ("model", "lddt")), 2):
        key = _path_key(row["model"], path.parent)
        target = (row.get("target") or "").strip() or "all"
        if key in labels.glob:
            raise EvaluationError(f"{path}: line {i}: model {row['model']} is listed twice")
        labels.glob[key] = (target, _number(row["lddt"] or None, f"{path}: line {i}"))
    if residue_path is not None:
        for i, row in enumerate(_read_csv(residue_path, ("model", "resnum", "lddt")), 2):
            key = _path_key(row["model"], residue_path.parent)
            try:
                resnum = int(row["resnum"])
            except ValueError:
                raise EvaluationError(f"{residue_path}: line {i}: residue number "
                                      f"{row['resnum']!r}") from None
            residue = ((row.get("chain") or "").strip(), resnum, (row.get("icode") or "").strip())
            kind, table = labels.local.setdefault(key, ("residues", {}))
            table[residue] = _number(row["lddt"] or None, f"{residue_path}: line {i}")
    return labels


def load_labels(path, residue_labels=None):
    """Labels of a CASP13-style folder or of a CSV file (see the module docstring).

    Parameters
    ----------
    path : path
        A folder holding ``<target>/labels.json`` (or ``casp13/`` or ``data/casp13/`` with
        them), or a CSV file with columns ``model,lddt[,target]``.
    residue_labels : path, optional
        With a CSV: per-residue labels, columns ``model,resnum,lddt[,chain,icode]``.

    Returns
    -------
    LabelSet
    """
    path = Path(path)
    if path.is_dir():
        root = _casp_root(path)
        if root is None:
            raise EvaluationError(f"--labels {path}: no <target>/labels.json in this folder (a "
                                  "CASP13-style folder) and not a CSV file")
        if residue_labels is not None:
            raise EvaluationError("--residue-labels goes with a CSV of labels; a CASP13 folder "
                                  "holds its per-residue labels in labels.json")
        return _load_casp(root)
    if not path.is_file():
        raise EvaluationError(f"--labels {path}: no such file or folder")
    return _load_csv(path, None if residue_labels is None else Path(residue_labels))


def _path_key(model, base):
    """Identity key of a path: normalised absolute path (relative paths from ``base``)."""
    p = Path(model)
    return os.path.normpath(p if p.is_absolute() else Path(base) / p)


# ----------------------------------------------------------------------------- matching

def _match_key(identity, labels):
    """The label key of a scored identity, or None."""
    if labels.kind == "casp":
        parts = Path(identity).parts
        if len(parts) >= 3 and parts[-2] == "models":
            key = (parts[-3], parts[-1])
            if key in labels.glob:
                return key
        return None
    key = _path_key(identity, ".")
    if key in labels.glob:
        return key
    try:
        st = os.stat(identity)
    except OSError:
        return None
    return labels.file_index().get((st.st_dev, st.st_ino))     # the same file, another path


def _read_scores(scores):
    rows = _read_csv(scores, ("model", "global_score"))
    out = {}
    for i, row in enumerate(rows, 2):
        try:
            value = float(row["global_score"])
        except ValueError:
            raise EvaluationError(f"{scores}: line {i}: global_score {row['global_score']!r} is "
                                  "not a number") from None
        if row["model"] in out:
            raise EvaluationError(f"{scores}: line {i}: model {row['model']} is listed twice")
        out[row["model"]] = value
    return out


def _read_residue_scores(path, wanted):
    """identity -> list of ((chain, resnum, icode), predicted lDDT) for the identities wanted."""
    out = {}
    if not path.is_file():
        return out
    for i, row in enumerate(_read_csv(path, ("model", "resnum", "predicted_lddt"),
                                      allow_empty=True), 2):
        model = row["model"]
        if model not in wanted:
            continue
        value = row["predicted_lddt"]
        out.setdefault(model, []).append((
            ((row.get("chain") or "").strip(), int(row["resnum"]), (row.get("icode") or "").strip()),
            float(value) if value not in ("", None) else math.nan))
    return out


def _true_local(truth, residues):
    kind, table = truth
    if kind == "positions":
        n = len(table)
        return np.array([table[r - 1] if (ic == "" and 1 <= r <= n) else math.nan
                         for (_, r, ic) in residues])
    return np.array([table.get(res, math.nan) for res in residues])


# ----------------------------------------------------------------------------- training data

def training_groups_of(model_file):
    """Training groups recorded for a model file, and where the answer comes from.

    Parameters
    ----------
    model_file : path or 'pretrained' or None

    Returns
    -------
    (list of str or None, str)
        The groups (None when unknown) and a description of the model file.
    """
    from .model_file import read_model_networks, ModelFileError
    from .pretrained import pretrained_path
    if model_file is None:
        return None, "unknown model (no run.json next to the scores; pass --model)"
    shipped = str(model_file) == "pretrained"
    path = str(pretrained_path()) if shipped else str(model_file)
    try:
        _, meta = read_model_networks(path)
    except (OSError, ModelFileError) as exc:
        return None, f"model file {path} (not readable: {' '.join(str(exc).split())})"
    groups = meta.get("training_groups")
    what = "the shipped pretrained model" if shipped else f"model file {path}"
    if isinstance(groups, list):
        return [str(g) for g in groups], what
    return None, f"{what} (no training groups recorded)"


def _model_file_of_run(scores):
    manifest = Path(scores).parent / "run.json"
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    return info.get("model_file") if isinstance(info, dict) else None


# ----------------------------------------------------------------------------- evaluation

def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    return value


def evaluate(scores, labels, residue_labels=None, model_file=None):
    """Match the scores of an output folder to labels and compute the QA metrics.

    Parameters
    ----------
    scores : path
        ``scores.csv`` of ``fourier6d score`` (``residue_scores.csv`` next to it gives the
        local metrics).
    labels : path or LabelSet
        See :func:`load_labels`.
    residue_labels : path, optional
        Per-residue labels for a CSV of labels.
    model_file : path or 'pretrained', optional
        The model file that produced the scores (default: the one in ``run.json``).

    Returns
    -------
    dict
        ``n_scored``, ``n_matched``, ``unmatched`` (scored identities without a label),
        ``n_labels_not_scored``, ``pooled`` (:func:`estimators.metrics.qa_metrics` of all matched
        models), ``per_target`` (target -> metrics of its models, with ``n_models``),
        ``model``, ``training_groups``, ``training_overlap`` (evaluated targets the model was
        trained on), and the paths.  NaN metrics are None.
    """
    scores = Path(scores)
    if not scores.is_file():
        raise EvaluationError(f"{scores}: no such file (the scores.csv of 'fourier6d score')")
    label_set = labels if isinstance(labels, LabelSet) else load_labels(labels, residue_labels)
    predicted = _read_scores(scores)
    matched, unmatched = {}, []
    for identity in predicted:
        key = _match_key(identity, label_set)
        if key is None:
            unmatched.append(identity)
        elif key in matched.values():
            other = next(i for i, k in matched.items() if k == key)
            raise EvaluationError(f"{scores}: {identity} and {other} are the same labelled model")
        else:
            matched[identity] = key
    if not matched:
        how = ("<target>/models/<name> paths" if label_set.kind == "casp"
               else "their paths in the model column")
        raise EvaluationError(f"no model of {scores} matches a label of {label_set.source} "
                              f"({len(predicted)} scored; models are matched by {how}, never by "
                              "bare file name)")
    identities = list(matched)
    targets = np.array([label_set.glob[matched[i]][0] for i in identities])
    true = np.array([label_set.glob[matched[i]][1] for i in identities])
    pred = np.array([predicted[i] for i in identities])
    residues = _read_residue_scores(scores.parent / "residue_scores.csv", set(identities))
    pred_local, true_local = [], []
    for i in identities:
        rows = residues.get(i)
        truth = label_set.local.get(matched[i])
        if rows is None or truth is None:
            pred_local.append(None)
            true_local.append(None)
            continue
        pred_local.append(np.array([v for _, v in rows]))
        true_local.append(_true_local(truth, [r for r, _ in rows]))
    has_local = any(p is not None for p in pred_local)
    pooled = qa_metrics(pred, true, targets, pred_local if has_local else None,
                        true_local if has_local else None)
    per_target = {}
    for t in sorted(set(targets.tolist())):
        sel = np.flatnonzero(targets == t)
        m = qa_metrics(pred[sel], true[sel], targets[sel],
                       [pred_local[k] for k in sel] if has_local else None,
                       [true_local[k] for k in sel] if has_local else None)
        per_target[t] = {"n_models": int(len(sel)), "pearson": m["global_pearson"],
                         "spearman": m["global_spearman"], "kendall": m["global_kendall"],
                         "r2": m["global_r2"], "z_score": m["z_score"], "loss": m["loss"],
                         "local_spearman": m["local_spearman"],
                         "local_pearson": m["local_pearson"]}
    labelled = {}
    for key, (t, _) in label_set.glob.items():
        labelled[t] = labelled.get(t, 0) + 1
    evaluated = sorted(per_target)
    if model_file is None:
        model_file = _model_file_of_run(scores)
    groups, described = training_groups_of(model_file)
    overlap = sorted(set(evaluated) & set(groups or ()))
    result = {
        "scores": str(scores), "labels": label_set.source, "n_scored": len(predicted),
        "n_matched": len(matched), "unmatched": unmatched,
        "n_labels_not_scored": {t: labelled[t] - per_target.get(t, {"n_models": 0})["n_models"]
                                for t in sorted(labelled)},
        "model": described, "training_groups": groups, "training_overlap": overlap,
        "pooled": {k: _clean(v) for k, v in pooled.items()},
        "per_target": {t: {k: _clean(v) for k, v in m.items()} for t, m in per_target.items()},
    }
    return result


def format_evaluation(result):
    """The text report of :func:`evaluate`: counts, warnings and the metric tables."""
    lines = [f"matched {result['n_matched']} of {result['n_scored']} scored models to labels of "
             f"{result['labels']}"]
    if result["unmatched"]:
        shown = ", ".join(result["unmatched"][:5])
        more = f" and {len(result['unmatched']) - 5} more" if len(result["unmatched"]) > 5 else ""
        lines.append(f"{len(result['unmatched'])} scored model(s) without a label, left out: "
                     f"{shown}{more}")
    missing = {t: n for t, n in result["n_labels_not_scored"].items() if n}
    if missing:
        lines.append("labelled models not scored, left out: "
                     + ", ".join(f"{t} {n}" for t, n in missing.items()))
    if result["training_overlap"]:
        lines.append(f"warning: {result['model']} was trained on "
                     f"{', '.join(result['training_overlap'])}: the metrics of these targets "
                     "measure fit to training data, not accuracy on new models")
    elif result["training_groups"] is None:
        lines.append(f"note: {result['model']}: its training targets are unknown, so an overlap "
                     "with the evaluated targets cannot be ruled out")
    pooled = {k: (math.nan if v is None else v) for k, v in result["pooled"].items()}
    lines += ["", "All matched models (global columns pool the targets; per-target columns "
              "average them):", "", format_table({Path(result["scores"]).parent.name or
                                                  result["scores"]: pooled}).rstrip(), ""]
    header = ("| target | models | Pearson r | Spearman ρ | Kendall τ | R² | z-score | loss | "
              "local Spearman ρ | local Pearson r |")
    lines += ["Per target:", "", header, "|---|" + "---:|" * 9]
    for t, m in result["per_target"].items():
        cells = [f"{m['n_models']}"] + ["n/a" if m[k] is None else f"{m[k]:.3f}" for k in
                                        ("pearson", "spearman", "kendall", "r2", "z_score", "loss",
                                         "local_spearman", "local_pearson")]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
