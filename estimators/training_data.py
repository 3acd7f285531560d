"""Assemble training sets: CASP13 server models (and optionally a decoy corpus) with per-residue labels."""
from __future__ import annotations

import numpy as np

from .datasets import load_casp13, labels_for_residues
from .structures import read_structure

__all__ = ["casp13_training_set", "training_set", "load_corpus"]


def load_corpus(folder):
    """Decoys of a corpus folder as Structures with per-residue lDDT labels, grouped by native.

    Returns (structures, local_labels, groups); group ids are ``'decoys:<native>'``.
    """
    from pathlib import Path
    from .decoy_corpus import read_corpus_file
    files = sorted(Path(folder).glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{folder}: no decoy corpus files (*.npz) found")
    models, labels, groups = [], [], []
    for path in files:
        entry = read_corpus_file(path)
        for i in range(len(entry)):
            models.append(entry.structure(i))
            labels.append(np.asarray(entry.lddt_local[i], dtype=np.float64))
            groups.append(f"decoys:{entry.native.name}")
    return models, labels, groups


def casp13_training_set(root=None, targets=None, exclude_targets=()):
    """CASP13 models as Structures with per-residue true lDDT aligned to their residues.

    Returns
    -------
    structures : list of Structure
    local : list of (R,) arrays   true per-residue lDDT (NaN where unknown)
    global_ : ndarray             true global lDDT (CASP13 assessment)
    groups : ndarray of str       target id of each model
    data : Casp13Data             the loader's output (ResNetQA predictions etc.)
    """
    data = load_casp13(root, targets=targets)
    exclude = set(exclude_targets or ())
    structures, local, glob, groups, keep = [], [], [], [], []
    for i, path in enumerate(data.model_paths):
        if data.targets[i] in exclude:
            continue
        s = read_structure(path)
        structures.append(s)
        local.append(labels_for_residues(s, data.lddt_local[i]))
        glob.append(data.lddt[i])
        groups.append(data.targets[i])
        keep.append(i)
    return structures, local, np.asarray(glob, float), np.asarray(groups), data


def training_set(casp13=None, corpus=None, exclude_targets=()):
    """Models, per-residue labels and group ids for ``fourier6d train``.

    ``corpus``: folder written by ``python -m estimators.decoy_corpus`` (optional);
    its decoys are grouped by native.
    """
    models, labels, _, groups, _ = casp13_training_set(casp13, exclude_targets=exclude_targets)
    groups = list(groups)
    if corpus is not None:
        c_models, c_labels, c_groups = load_corpus(corpus)
        models += list(c_models)
        labels += list(c_labels)
        groups += list(c_groups)
    return models, labels, np.asarray(groups)
