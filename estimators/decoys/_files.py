"""Atomic file writes of the decoy package (corpus files, the all-atom model cache)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def atomic_write_npz(path: Path, arrays: dict):
    """Write ``arrays`` to ``path`` (compressed ``.npz``) through a temporary file of this
    process in the same folder, renamed into place: readers, and other processes writing the
    same path, never see a partial file. On failure the temporary file is removed and the error
    raised."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
