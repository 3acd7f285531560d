"""Training decoys generated from native structures, with exact lDDT labels.

The paper trains on CASP server models; generated decoys give extra training data whose labels are
exact and whose quality spans a chosen range. One module per job:

* :mod:`~estimators.decoys.kinds` — perturbations of the native itself (backbone, hinge, register,
  side chains, compact misfolds, wrong topologies with native secondary structure), aimed at a
  target lDDT (:class:`DecoyGenerator`, :func:`generate_decoys`);
* :mod:`~estimators.decoys.threaded` — template-based models: A's sequence on another native's
  backbone (TM-align, :mod:`~estimators.decoys.alignment`), with alignment errors, loops, repacked
  side chains, relaxed;
* :mod:`~estimators.decoys.impossible` — overlaid copies, crushed, clashing and expanded models;
* :mod:`~estimators.decoys.allatom` — the all-atom model of a native (PDBFixer hydrogens) and its
  rotatable bonds; :mod:`~estimators.decoys.rigid` — rotations and residue frames;
* :mod:`~estimators.decoys.relax` — OpenMM restrained minimisation (:class:`Relaxer`, Amber14 with
  hydrogens; :func:`make_relaxer`); :mod:`~estimators.decoys.relax_heavy` — the fast one on heavy
  atoms (:class:`HeavyAtomRelaxer`: bonded terms and a repulsion);
* :mod:`~estimators.decoys.proxy` — fast proxy lDDT used to aim (:class:`ProxyLDDT`);
* :mod:`~estimators.decoys.decoy` — the :class:`Decoy` record, the Structure of a model and its
  labels;
* :mod:`~estimators.decoys.geometry` — geometry statistics (dihedrals, Ramachandran, clashes);
* :mod:`~estimators.decoys.series` — a native's series drawn from a mixture of kinds;
* :mod:`~estimators.decoys.corpus` — the sharded, resumable corpus on disk
  (``python -m estimators.decoys.corpus``);
* :mod:`~estimators.decoys.realism` — how well a classifier tells decoys from real server models
  (``benchmarks/decoy_realism.py``).

Reproducible: decoy ``i`` of a native depends only on ``(seed, i)``, the native and the options.

Every decoy is labelled with the clash-aware lDDT (:data:`~estimators.decoys.decoy.LABEL_OPTIONS`).

Importable from here: :data:`~estimators.decoys.kinds.KINDS`, ``ALL_KINDS``, ``DEFAULT_KINDS``,
``IMPOSSIBLE_KINDS``, :func:`impossible_decoy`, :class:`Decoy`, :class:`DecoyGenerator`,
:class:`ProxyLDDT`, :class:`Relaxer`, :class:`HeavyAtomRelaxer`, :func:`make_relaxer`,
``RELAXATIONS``, :func:`generate_decoys`, :func:`generate_series`,
:func:`parse_kinds`, :func:`assign_kinds`, :func:`decoy_structure`, :func:`model_structure`,
:func:`decoy_labels`, :func:`geometry_statistics`, :func:`count_clashes`,
:func:`ramachandran_allowed`, :func:`backbone_dihedrals`, ``CLASH_DISTANCE``, and (imported on first
use) :func:`build_corpus`, :func:`read_corpus_file`, :class:`CorpusEntry`, :func:`native_seed`,
:func:`rebuild_manifest` of :mod:`~estimators.decoys.corpus`.
"""
from importlib import import_module

from .decoy import Decoy, decoy_labels, model_structure  # noqa: F401 (re-exported)
from .geometry import (CLASH_DISTANCE, backbone_dihedrals, count_clashes,  # noqa: F401
                       decoy_structure, geometry_statistics, ramachandran_allowed)
from .kinds import KINDS, DecoyGenerator, generate_decoys  # noqa: F401
from .proxy import ProxyLDDT  # noqa: F401
from .relax import RELAXATIONS, Relaxer, make_relaxer  # noqa: F401
from .relax_heavy import HeavyAtomRelaxer  # noqa: F401
from .impossible import IMPOSSIBLE_KINDS, impossible_decoy  # noqa: F401
from .series import (ALL_KINDS, DEFAULT_KINDS, assign_kinds, generate_series,  # noqa: F401
                     parse_kinds)

# the corpus module is imported on first use, so that ``python -m estimators.decoys.corpus`` does
# not find it already imported
_LAZY = {"build_corpus": "corpus", "read_corpus_file": "corpus", "CorpusEntry": "corpus",
         "native_seed": "corpus", "rebuild_manifest": "corpus"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'estimators.decoys' has no attribute {name!r}")
