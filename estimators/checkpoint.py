"""Training checkpoints: the state of :func:`estimators.training.train_network` after each epoch,
so that an interrupted fit goes on where it stopped and ends with the weights an uninterrupted
fit would have given (bit for bit on the same machine and array library).

A checkpoint is one ``.npz`` file in a folder given by the caller, named by a fingerprint of
what decides the training (:func:`training_fingerprint`: the initial weights, the optimiser and
schedule settings, the training and validation labels and groups, and the paths of inputs given
as paths).  A fit whose fingerprint differs never reads another fit's file, so one folder can
hold the checkpoints of many fits (seeds, folds, architectures).  Files are replaced atomically
(written beside, then renamed), so a fit killed while saving leaves the previous epoch's file.

The file holds the current weights and Adam moments, the weights of the best epoch so far, the
random generator's state, the step counters, the history and the early-stopping state; its
``meta`` entry is JSON.  Nothing is pickled.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from fourier6d._backend import to_numpy

__all__ = ["CheckpointError", "training_fingerprint", "checkpoint_path", "save_checkpoint",
           "load_checkpoint"]

#: Version of the file layout; a file of another version is an error, not silently ignored.
FORMAT = 1
_GROUPS = ("params", "m", "v", "best")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (unreadable, another layout, another fit)."""


def _hash_array(h, a):
    a = np.ascontiguousarray(to_numpy(a))
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())


def _hash_set(h, data):
    """Labels, groups and path inputs of a :class:`estimators.training.TrainingSet`."""
    h.update(f"n={len(data)}".encode())
    _hash_array(h, np.asarray(data.glob, dtype=np.float64))
    for loc in data.local:
        _hash_array(h, np.asarray(np.nan if loc is None else loc, dtype=np.float64))
    h.update("\0".join(map(str, data.groups)).encode())
    for item in data.items:
        h.update((os.fspath(item) if isinstance(item, (str, os.PathLike)) else "-").encode())


def training_fingerprint(params, settings, train, val=None):
    """Hex digest (24 characters) identifying one training run.

    Parameters
    ----------
    params : dict of arrays
        Initial weights.
    settings : dict
        JSON-serialisable training settings (epochs, batch size, learning rate, ...).
    train, val : TrainingSet
        Training and validation sets (``val`` may be None); their labels, groups and the
        inputs given as paths enter the digest (features computed in memory do not: their
        labels and groups stand for them).
    """
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for k in sorted(params):
        h.update(k.encode())
        _hash_array(h, params[k])
    _hash_set(h, train)
    if val is not None:
        h.update(b"val")
        _hash_set(h, val)
    return h.hexdigest()[:24]


def checkpoint_path(folder, fingerprint):
    """The file of the run ``fingerprint`` in ``folder``."""
    return Path(folder) / f"train-{fingerprint}.npz"


def save_checkpoint(path, fingerprint, arrays, meta):
    """Write ``arrays`` (dict of group name -> dict of weights, groups ``params``, ``m``, ``v``,
    ``best``; plus ``extra``: dict of plain arrays) and JSON ``meta`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for group in _GROUPS:
        for k, v in arrays[group].items():
            out[f"{group}/{k}"] = to_numpy(v)
    for k, v in arrays.get("extra", {}).items():
        out[f"extra/{k}"] = np.asarray(v)
    meta = dict(meta, format=FORMAT, fingerprint=fingerprint)
    out["meta"] = np.array(json.dumps(meta))
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **out)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path, fingerprint):
    """(arrays, meta) as :func:`save_checkpoint` wrote them, or None when ``path`` does not
    exist.  Raises :class:`CheckpointError` naming the file when it cannot be used."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"][()]))
            arrays = {g: {} for g in _GROUPS + ("extra",)}
            for name in z.files:
                if name == "meta":
                    continue
                group, _, key = name.partition("/")
                if group not in arrays:
                    raise ValueError(f"unknown entry {name!r}")
                arrays[group][key] = z[name]
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc}); delete it "
                              "to train from the start") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint layout {meta.get('format')!r}, this version "
                              f"reads {FORMAT}; delete it to train from the start")
    if meta.get("fingerprint") != fingerprint:
        raise CheckpointError(f"{path}: checkpoint of another training run "
                              f"({meta.get('fingerprint')!r}, expected {fingerprint!r})")
    return arrays, meta
