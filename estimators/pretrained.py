"""The pretrained model shipped inside the package (weights .npz + JSON spec)."""
from __future__ import annotations

from importlib import resources

__all__ = ["PRETRAINED_FILE", "pretrained_path", "load_pretrained"]

PRETRAINED_FILE = "pretrained_6dcnn1.npz"


def pretrained_path():
    """Path of the shipped model file inside the installed package."""
    return resources.files("estimators") / "data" / PRETRAINED_FILE


def load_pretrained(**overrides):
    """Load the shipped SixDQAEstimator (works offline right after ``pip install .``)."""
    from .qa_estimator import SixDQAEstimator
    path = pretrained_path()
    if not path.is_file():
        raise FileNotFoundError(f"the pretrained model {path} is missing from this installation; "
                                "train one with 'fourier6d train -o model.npz' and pass --model")
    with resources.as_file(path) as p:
        return SixDQAEstimator.load(p, **overrides)
