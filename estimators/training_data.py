"""Assemble training sets: CASP13 server models (and optionally a decoy corpus) with per-residue labels."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .datasets import load_casp13, labels_for_residues
from .structures import read_structure

__all__ = ["casp13_training_set", "training_set", "load_corpus", "CorpusData"]


@dataclass
class CorpusData:
    """Decoys of a corpus folder, as training inputs.

    Attributes
    ----------
    models : list
        One zero-argument callable per decoy returning its Structure (built from the corpus file
        on demand, so that a large corpus costs the memory of its coordinate arrays only), or
        the Structures themselves with ``lazy=False``.
    local : list of ndarray
        Per-residue lDDT in the structure's residue order (NaN = unlabelled, e.g. residues the
        decoy lacks or the copy chain of an overlay).
    glob : ndarray
        Global lDDT of each decoy against its native (all of the native's reference pairs).
    groups : ndarray of str
        ``'decoys:<native>'``: ranking pairs and held-out validation are by native.
    kinds : ndarray of str
        Kind of error of each decoy (:mod:`estimators.decoys`).
    natives : ndarray of str
        Native name of each decoy.
    """

    models: list
    local: list
    glob: np.ndarray
    groups: np.ndarray
    kinds: np.ndarray
    natives: np.ndarray

    def __len__(self):
        return len(self.models)

    def subset(self, index):
        index = np.asarray(index, dtype=int)
        return CorpusData([self.models[i] for i in index], [self.local[i] for i in index],
                          self.glob[index], self.groups[index], self.kinds[index],
                          self.natives[index])

    def concat(self, other):
        """The decoys of ``self`` followed by those of ``other``."""
        return CorpusData(self.models + other.models, self.local + other.local,
                          np.concatenate([self.glob, other.glob]),
                          np.concatenate([self.groups, other.groups]),
                          np.concatenate([self.kinds, other.kinds]),
                          np.concatenate([self.natives, other.natives]))


def _base_kind(kind):
    """The first component of a composite kind such as ``'backbone+misfold'``."""
    return str(kind).split("+")[0]


def load_corpus(folder, kinds=None, natives=None, per_native=None, lazy=True):
    """Decoys of a corpus folder (``python -m estimators.decoys.corpus``) with their labels.

    Parameters
    ----------
    folder : path or list of paths
        Corpus folder(s); decoys of one native in several folders share its group.
    kinds : iterable of str, optional
        Keep decoys whose kind (its first component, e.g. ``backbone`` of
        ``backbone+misfold``) is one of these.
    natives : callable, optional
        ``natives(name) -> bool``: keep decoys of these natives.
    per_native : int, optional
        At most this many decoys per native, evenly spaced over its decoys in all folders.
    lazy : bool
        Models as callables building the Structure on demand (default) or as Structures.

    Returns
    -------
    CorpusData
    """
    from pathlib import Path
    from .decoys.corpus import read_corpus_file
    folders = [folder] if isinstance(folder, (str, Path)) else list(folder)
    files = [f for d in folders for f in sorted(Path(d).glob("*.npz"))]
    if not files:
        raise FileNotFoundError(f"{', '.join(map(str, folders))}: no decoy corpus files (*.npz) "
                                "found")
    keep_kinds = None if kinds is None else {str(k) for k in kinds}
    candidates = {}                                   # native -> [(entry, decoy index)]
    for path in files:
        entry = read_corpus_file(path)
        name = str(entry.native.name)
        if natives is not None and not natives(name):
            continue
        for i in range(len(entry)):
            if keep_kinds is None or _base_kind(entry.kind[i]) in keep_kinds:
                candidates.setdefault(name, []).append((entry, i))
    models, local, glob, groups, kind_list, names = [], [], [], [], [], []
    for name, items in candidates.items():
        if per_native is not None and len(items) > per_native:
            # evenly spaced over the native's decoys of all folders (and so of all kinds)
            pick = np.unique(np.linspace(0, len(items) - 1, int(per_native)).round().astype(int))
            items = [items[k] for k in pick]
        for entry, i in items:
            if lazy:
                models.append(partial(entry.structure, i))
            else:
                models.append(entry.structure(i))
            local.append(np.asarray(entry.local_labels(i), dtype=np.float64))
            glob.append(float(entry.lddt[i]))
            groups.append(f"decoys:{name}")
            kind_list.append(str(entry.kind[i]))
            names.append(name)
    return CorpusData(models, local, np.asarray(glob, float), np.asarray(groups),
                      np.asarray(kind_list), np.asarray(names))


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
    """Models, per-residue labels, global labels and group ids for ``fourier6d train``.

    ``corpus``: folder written by ``python -m estimators.decoys.corpus`` (optional); its decoys
    are grouped by native and built on demand.  Global labels: the CASP13 assessment's lDDT and
    each decoy's lDDT against its native.
    """
    models, labels, glob, groups, _ = casp13_training_set(casp13, exclude_targets=exclude_targets)
    models, labels, glob, groups = list(models), list(labels), list(glob), list(groups)
    if corpus is not None:
        c = load_corpus(corpus)
        models += c.models
        labels += c.local
        glob += c.glob.tolist()
        groups += c.groups.tolist()
    return models, labels, np.asarray(glob, float), np.asarray(groups)
