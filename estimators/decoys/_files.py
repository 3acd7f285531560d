"""Atomic file writes of the decoy package (corpus files, its manifest and failure records, the
all-atom model cache)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _atomic_write(path: Path, suffix: str, write):
    """``write(tmp)`` to a temporary file of this process in ``path``'s folder, renamed into
    place: readers, and other processes writing the same path, never see a partial file. On
    failure the temporary file is removed and the error raised."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_npz(path: Path, arrays: dict):
    """Write ``arrays`` to ``path`` (compressed ``.npz``) atomically (:func:`_atomic_write`)."""
    # the temporary name ends in .npz, or NumPy would append it
    _atomic_write(path, ".tmp.npz", lambda tmp: np.savez_compressed(tmp, **arrays))


def atomic_write_json(path: Path, data, default=None):
    """Write ``data`` to ``path`` as indented JSON atomically (:func:`_atomic_write`);
    ``default`` as for :func:`json.dump`."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, default=default)
    _atomic_write(path, ".tmp", write)
