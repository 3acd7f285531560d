"""The pretrained model shipped inside the package (weights .npz + JSON spec)."""
from __future__ import annotations

from importlib import resources

__all__ = ["PRETRAINED_FILE", "pretrained_path", "load_pretrained", "load_model"]

PRETRAINED_FILE = "pretrained.npz"


def pretrained_path():
    """Path of the shipped model file inside the installed package."""
    return resources.files("estimators") / "data" / PRETRAINED_FILE


def load_pretrained(**overrides):
    """Load the shipped model (works offline right after ``pip install .``)."""
    path = pretrained_path()
    if not path.is_file():
        raise FileNotFoundError(f"the pretrained model {path} is missing from this installation; "
                                "train one with 'fourier6d train -o model.npz' and pass --model")
    with resources.as_file(path) as p:
        return load_model(p, **overrides)


def load_model(path, **overrides):
    """The fitted estimator of a model file: a :class:`SixDQAEstimator` for a file of one
    network, a :class:`~estimators.ensemble.SeedEnsembleQAEstimator` for several.

    ``overrides``: estimator parameters replacing the stored ones (of every network), e.g.
    ``n_jobs`` or ``device``.  A bad file raises
    :class:`estimators.model_file.ModelFileError` naming it.
    """
    from .ensemble import SeedEnsembleQAEstimator
    from .model_file import read_model_networks
    from .qa_estimator import SixDQAEstimator
    networks, meta = read_model_networks(path)
    if len(networks) == 1:
        return SixDQAEstimator._from_file(*networks[0], overrides)
    return SeedEnsembleQAEstimator._from_networks(networks, meta, overrides)
