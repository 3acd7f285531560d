"""estimators: protein structures -> 6DCNN features -> quality scores (scikit-learn style).

Main entry points (imported lazily):

* :class:`SixDQAEstimator` — fit/predict per-residue and global lDDT
* :class:`SeedEnsembleQAEstimator` — networks of one recipe with different seeds, averaged
* :class:`StructureFeaturizer` — structures -> :class:`ProteinFeatures`
* :func:`read_structure`, :func:`lddt`, :func:`qa_metrics`, :func:`load_casp13`, :func:`load_pretrained`,
  :func:`load_model`
"""
import os as _os
import sys as _sys

if "numpy" not in _sys.modules:
    # Idle OpenBLAS threads spin for 2^28 cycles (~0.1 s) after each GEMM by default, taking
    # the cores from the Numba kernels that follow (measured: the 6DCNN-2 training iteration
    # 0.95 -> 0.76 s on 2 cores).  Read once, when NumPy loads OpenBLAS; a value already set wins.
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "SixDQAEstimator": "qa_estimator",
    "SeedEnsembleQAEstimator": "ensemble",
    "StructureFeaturizer": "featurizer",
    "ProteinFeatures": "features",
    "featurize": "features",
    "read_structure": "structures",
    "read_structures": "structures",
    "StructureError": "structures",
    "lddt": "lddt",
    "qa_metrics": "metrics",
    "SCORERS": "scorers",
    "load_casp13": "datasets",
    "load_pretrained": "pretrained",
    "load_model": "pretrained",
    "get_architecture": "architectures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'estimators' has no attribute {name!r}")
