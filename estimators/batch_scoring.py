"""Scoring many structure files, one outcome per input with its own warnings and error.

One job: run read -> featurize -> predict over a list of inputs in chunks and say, for each
input, whether it was scored (its :class:`~estimators.structures.Structure` and per-residue
values) or at which stage and why it failed.  Warnings are caught per input (never matched to
inputs by their text), so a warning never counts as a failure and an error is never blamed on
another file.  A failure of one input never stops the others: the reader's and the featurizer's
errors are caught per input, and a chunk whose prediction fails is predicted again one model at
a time.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .structures import read_structure

__all__ = ["Outcome", "score_inputs", "STAGES"]

#: Stages named in failures and warnings.
STAGES = ("input", "read", "featurize", "predict", "output", "casp")


@dataclass
class Outcome:
    """What happened to one input.

    Attributes
    ----------
    source : str
        The input as given.
    structure : Structure or None
        The structure that was scored (None when the input failed).
    values : ndarray or None
        Predicted lDDT per residue of ``structure`` (NaN = not scored).
    stage, reason : str or None
        Where and why the input failed (None when it was scored).
    warnings : list of (stage, message)
    """

    source: str
    structure: object = None
    values: np.ndarray = None
    stage: str = None
    reason: str = None
    warnings: list = field(default_factory=list)

    @property
    def ok(self):
        return self.stage is None


def _message(exc, source):
    """One-line message of an exception, naming the input."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if str(source) not in text:
        kind = exc.__class__.__name__
        if kind.islower():                      # zlib.error, binascii.Error ...
            kind = f"{exc.__class__.__module__}.{kind}"
        text = f"{source}: {kind}: {text}"
    return text


def _caught(run, *args):
    """``run(*args)`` with its warnings: (value, exception or None, [messages])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, exc = run(*args), None
        except Exception as e:          # one input must never stop the batch
            value, exc = None, e
    return value, exc, [" ".join(str(w.message).split()) for w in caught]


def _read_one(source):
    """Read one input in a worker: (structure, error message or None, warnings)."""
    s, exc, msgs = _caught(read_structure, source)
    return s, (None if exc is None else _message(exc, source)), msgs


def _degenerate_backbone(structure):
    """Why no residue got a frame although some have N, CA and C (None when none has all three)."""
    try:
        have = np.ones(structure.n_residues, dtype=bool)
        for atom in ("N", "CA", "C"):
            have &= structure.atom_index(atom) >= 0
    except Exception:
        return None
    if not have.any():
        return None
    return (f"{structure.name}: {int(have.sum())} residue(s) have N, CA and C atoms, but every "
            "such backbone is degenerate (N, CA, C coincident or collinear): no residue frame, "
            "nothing to score")


def _read_all(chunk, n_jobs):
    if n_jobs == 1 or len(chunk) < 2:
        return [_read_one(s) for s in chunk]
    from joblib import Parallel, delayed
    return Parallel(n_jobs=n_jobs)(delayed(_read_one)(s) for s in chunk)


def _predict(estimator, feats):
    """Predictions of a list of features; failures per model when the whole chunk fails."""
    try:
        return [(p, None) for p in estimator.predict(feats)]
    except Exception:
        if len(feats) == 1:
            raise
    out = []
    for f in feats:
        try:
            out.append((estimator.predict([f])[0], None))
        except Exception as exc:
            out.append((None, exc))
    return out


def score_inputs(estimator, sources, n_jobs=1, chunk_size=16):
    """Score inputs in chunks, yielding one :class:`Outcome` per input, in input order.

    Parameters
    ----------
    estimator : SixDQAEstimator
        A fitted estimator (its ``errors`` policy is not used: every failure becomes an
        :class:`Outcome`).
    sources : list of str or os.PathLike
    n_jobs : int
        joblib worker processes reading the files of a chunk (featurization already uses all
        CPUs through its Numba kernels).
    chunk_size : int
        Inputs read, featurized and predicted together; results of a chunk are yielded as soon
        as it is predicted.

    Yields
    ------
    Outcome
    """
    estimator._check_fitted()
    featurizer = estimator._featurizer(estimator.spec_).set_params(
        n_jobs=1, verbose=0, errors="raise", cache_dir=None)
    sources = list(sources)
    for start in range(0, len(sources), max(int(chunk_size), 1)):
        chunk = sources[start:start + max(int(chunk_size), 1)]
        outcomes, todo = [], []
        for source, (s, err, msgs) in zip(chunk, _read_all(chunk, n_jobs)):
            o = Outcome(str(source), warnings=[("read", m) for m in msgs])
            outcomes.append(o)
            if err is not None:
                o.stage, o.reason = "read", err
                continue
            f, exc, msgs = _caught(lambda st: featurizer.transform([st])[0], s)
            o.warnings += [("featurize", m) for m in msgs]
            if exc is not None:
                o.stage = "featurize"
                o.reason = _degenerate_backbone(s) or _message(exc, source)
                continue
            o.structure = s
            todo.append((o, f))
        if todo:
            try:
                preds = _predict(estimator, [f for _, f in todo])
            except Exception as exc:
                preds = [(None, exc)]
            for (o, _), (p, exc) in zip(todo, preds):
                if exc is not None:
                    o.stage, o.reason = "predict", _message(exc, o.source)
                elif p is None or not np.isfinite(p).any():
                    o.stage = "predict"
                    o.reason = (f"{o.source}: the network gave no finite value for any residue "
                                "(check the model file)")
                else:
                    o.values = np.asarray(p, dtype=np.float64)
                if not o.ok:
                    o.structure = None
        yield from outcomes
