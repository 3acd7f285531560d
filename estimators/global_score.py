"""The global score of a model from its per-residue predictions, with or without the target's
length.

Without the target's length the global score is the mean predicted lDDT over the model's scored
residues.  With it (the number of residues of the target sequence), the residues the model lacks
count as 0, as in the global lDDT of CASP: there every distance of the reference structure enters,
and those to atoms a model lacks count as not conserved, so a model of half the target scores
about half of its residues' mean.  The score is then the mean over the scored residues times the
model's coverage, ``n_residues / target_length``.  On partial copies of 8 natives (the shipped
model; benchmarks/RESULTS.md, "Scores of systematic variants") the mean over the residues
predicted 0.73 for models of the first half against a true global lDDT of 0.35; times the
coverage, 0.36.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["global_score", "global_scores", "predict_global_scores", "coverage",
           "check_target_length", "check_target_lengths", "sequence_length"]


def check_target_length(value, what="target_length"):
    """``value`` as an int >= 1, or a ValueError naming ``what``."""
    try:
        n = int(value)
        ok = n == float(value) and n >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{what} must be a whole number of residues >= 1, got {value!r}")
    return n


def coverage(n_residues, target_length, name="the model"):
    """``n_residues / target_length``; a ValueError naming ``name`` when the model has more
    residues than the target."""
    target_length = check_target_length(target_length)
    if n_residues > target_length:
        raise ValueError(f"{name} has {n_residues} residues, more than the target's "
                         f"{target_length}: not a model of that target")
    return n_residues / target_length


def global_score(local, target_length=None, name="the model"):
    """Global score of one model (module docstring); NaN when no residue was scored.

    Parameters
    ----------
    local : array of float, shape (n_residues,)
        Predicted lDDT of each residue of the model as read (NaN = not scored).
    target_length : int, optional
        Residues of the target sequence; the residues the model lacks then count as 0.
    name : str
        The model's name in error messages.
    """
    local = np.asarray(local, dtype=np.float64)
    if local.size == 0 or not np.isfinite(local).any():
        return math.nan
    mean = float(np.nanmean(local))
    if target_length is None:
        return mean
    return mean * coverage(local.size, target_length, name)


def check_target_lengths(target_length, n_models):
    """``target_length`` (None, an int, or one per model) as a list of ``n_models`` checked
    values (None: no target length)."""
    if target_length is None:
        return [None] * n_models
    if np.ndim(target_length) == 0:
        return [check_target_length(target_length)] * n_models
    lengths = [check_target_length(v, "each target_length") for v in target_length]
    if len(lengths) != n_models:
        raise ValueError(f"got {n_models} models but {len(lengths)} target lengths")
    return lengths


def global_scores(predictions, target_length=None, models=None):
    """:func:`global_score` of each model's per-residue predictions (NaN for ``None``);
    ``target_length`` an int, or one per model; ``models`` (the inputs) name them in errors."""
    predictions = list(predictions)
    lengths = check_target_lengths(target_length, len(predictions))
    names = ([m if isinstance(m, (str, Path)) else getattr(m, "name", f"model {i}")
              for i, m in enumerate(models)]
             if models is not None and not isinstance(models, (str, Path))
             and hasattr(models, "__len__") and len(models) == len(predictions)
             else [f"model {i}" for i in range(len(predictions))])
    return np.array([math.nan if p is None else global_score(p, n, str(name))
                     for p, n, name in zip(predictions, lengths, names)])


def predict_global_scores(predict, models, target_length=None):
    """Global scores of ``models`` (a path, a structure or a list of them) from an estimator's
    ``predict``; the target lengths are checked before any model is scored."""
    if isinstance(models, (str, Path)) or not hasattr(models, "__len__"):
        models = [models]
    models = list(models)
    check_target_lengths(target_length, len(models))
    return global_scores(predict(models), target_length, models)


def sequence_length(path):
    """Number of residues of the one sequence of a FASTA file (a ValueError naming the file
    when it holds no sequence or several)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the sequence file ({exc})") from None
    records, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(">"):
            current = []
            records.append(current)
        elif line:
            if current is None:
                current = []
                records.append(current)
            current.append(line)
    seqs = ["".join(r).replace(" ", "").rstrip("*") for r in records]
    if len(seqs) != 1 or not seqs[0]:
        raise ValueError(f"{path}: expected one sequence (FASTA), found "
                         f"{sum(1 for s in seqs if s)} non-empty of {len(seqs)}")
    if not seqs[0].isalpha():
        bad = sorted({c for c in seqs[0] if not c.isalpha()})
        raise ValueError(f"{path}: the sequence holds characters that are not residue letters: "
                         f"{' '.join(bad)}")
    return len(seqs[0])
