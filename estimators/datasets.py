"""Loader of the CASP13 validation set in ``shared/data/casp13``.

Layout (see ``shared/data/README.md``): one folder per target with
``<target>.fasta`` (the target sequence), ``models/<server>_TS<n>`` (server
models, residues numbered 1..L along the sequence, no chain identifier) and
``labels.json`` mapping each model name to its true global and per-residue
lDDT (``null`` where unknown), true GDT_TS and the ResNetQA predictions.
These are the CASP13 stage-2 labels the paper evaluates on ("Results",
CASP13 tables); validate by leave-one-target-out (``targets`` as groups of
``sklearn.model_selection.GroupKFold``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Casp13Data", "load_casp13", "resolve_casp13_root", "labels_for_residues"]

_REPO = Path(__file__).resolve().parents[1]
_ONE_LETTER = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q",
    "GLU": "E", "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K",
    "MET": "M", "PHE": "F", "PRO": "P", "SER": "S", "THR": "T", "TRP": "W",
    "TYR": "Y", "VAL": "V",
}


@dataclass
class Casp13Data:
    """CASP13 models with their true and ResNetQA labels (one entry per model).

    Attributes
    ----------
    root : Path
        The ``casp13`` folder.
    model_paths : list of Path, (N,)
    model_names : ndarray of str, (N,)
        Server model names (``<server>_TS<n>``), unique within a target.
    targets : ndarray of str, (N,)
        Target id of each model (the groups for leave-one-target-out).
    lddt, gdt_ts : ndarray of float, (N,)
        True global lDDT and GDT_TS (0..1).
    lddt_local : list of ndarray, (N,) of (L_target,)
        True per-residue lDDT at sequence positions 1..L (index p-1), NaN
        where unknown.
    resnetqa_lddt : ndarray of float, (N,)
    resnetqa_lddt_local : list of ndarray, (N,) of (L_target,)
        ResNetQA's global and per-residue predictions (NaN where absent).
    sequences : dict
        Target id -> target sequence (one-letter).
    """

    root: Path
    model_paths: list
    model_names: np.ndarray
    targets: np.ndarray
    lddt: np.ndarray
    gdt_ts: np.ndarray
    lddt_local: list
    resnetqa_lddt: np.ndarray
    resnetqa_lddt_local: list
    sequences: dict

    def __len__(self):
        return len(self.model_paths)

    @property
    def target_ids(self):
        """Sorted distinct target ids."""
        return sorted(set(self.targets.tolist()))


def resolve_casp13_root(root=None):
    """Find the ``casp13`` folder.

    Parameters
    ----------
    root : path or None
        The ``casp13`` folder itself, or a folder holding ``casp13`` or
        ``data/casp13``.  None: the ``FOURIER6D_SHARED`` environment variable
        (the shared folder), else ``../shared`` next to the repository.

    Returns
    -------
    Path
    """
    if root is None:
        env = os.environ.get("FOURIER6D_SHARED")
        base = Path(env) if env else _REPO.parent / "shared"
        where = f"FOURIER6D_SHARED={env}" if env else f"default {base}"
    else:
        base = Path(root)
        where = str(base)
    for cand in (base, base / "casp13", base / "data" / "casp13"):
        if cand.is_dir() and any(cand.glob("*/labels.json")):
            return cand
    raise FileNotFoundError(
        f"CASP13 data not found from {where}: expected a folder with <target>/labels.json "
        f"(shared/data/casp13); set FOURIER6D_SHARED to the shared folder or pass root=")


def _read_fasta(path):
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    seq = "".join(ln for ln in lines if ln and not ln.startswith(">"))
    if not seq:
        raise ValueError(f"{path}: empty sequence")
    return seq


def _local(values, length, where):
    if values is None:
        return np.full(length, np.nan)
    if len(values) != length:
        raise ValueError(f"{where}: {len(values)} per-residue values for a sequence of {length}")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _num(value):
    return np.nan if value is None else float(value)


def load_casp13(root=None, targets=None):
    """Load the CASP13 models, labels and ResNetQA predictions.

    Parameters
    ----------
    root : path or None
        See :func:`resolve_casp13_root`.
    targets : iterable of str or None
        Targets to load (default: all), e.g. ``["T0967"]``.

    Returns
    -------
    Casp13Data
        Models sorted by target, then by model name.
    """
    root = resolve_casp13_root(root)
    available = sorted(p.parent.name for p in root.glob("*/labels.json"))
    if targets is None:
        chosen = available
    else:
        if isinstance(targets, str):
            targets = [targets]
        chosen = list(dict.fromkeys(targets))
        unknown = [t for t in chosen if t not in available]
        if unknown:
            raise ValueError(f"unknown CASP13 targets {unknown}; available: {available}")
    paths, names, tgts = [], [], []
    lddt, gdt, rq, local, rq_local = [], [], [], [], []
    sequences = {}
    for target in chosen:
        folder = root / target
        fasta = folder / f"{target}.fasta"
        if not fasta.is_file():
            raise FileNotFoundError(f"missing target sequence {fasta}")
        seq = _read_fasta(fasta)
        sequences[target] = seq
        labels = json.loads((folder / "labels.json").read_text())
        for name in sorted(labels):
            path = folder / "models" / name
            if not path.is_file():
                raise FileNotFoundError(f"{folder / 'labels.json'} lists {name} but {path} is missing")
            entry = labels[name]
            where = f"{target}/{name}"
            paths.append(path)
            names.append(name)
            tgts.append(target)
            lddt.append(_num(entry.get("lddt")))
            gdt.append(_num(entry.get("gdt_ts")))
            rq.append(_num(entry.get("resnetqa_lddt")))
            local.append(_local(entry.get("lddt_local"), len(seq), where + " lddt_local"))
            rq_local.append(_local(entry.get("resnetqa_lddt_local"), len(seq),
                                   where + " resnetqa_lddt_local"))
    return Casp13Data(root=root, model_paths=paths, model_names=np.array(names, dtype=str),
                      targets=np.array(tgts, dtype=str), lddt=np.array(lddt), gdt_ts=np.array(gdt),
                      lddt_local=local, resnetqa_lddt=np.array(rq), resnetqa_lddt_local=rq_local,
                      sequences=sequences)


def labels_for_residues(structure, values, sequence=None):
    """Per-residue labels at sequence positions, mapped to a Structure's residues.

    Residue number n of the structure takes ``values[n - 1]`` (CASP numbering
    1..L along the target sequence); residues outside 1..L or with an
    insertion code get NaN.

    Parameters
    ----------
    structure : Structure
        Single-chain structure (``resnums``, ``icodes``, ``resnames``, ``chain_ids``).
    values : (L,) array_like
        Labels at sequence positions 1..L.
    sequence : str or None
        Target sequence; when given, every mapped residue's name must match
        it (ValueError naming the first mismatch).

    Returns
    -------
    ndarray of float, (R,)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (sequence positions), got shape {values.shape}")
    chains = set(np.asarray(structure.chain_ids).tolist())
    name = getattr(structure, "name", "structure")
    if len(chains) > 1:
        raise ValueError(f"{name}: residue-number mapping needs one chain, found {sorted(chains)}")
    if sequence is not None and len(sequence) != len(values):
        raise ValueError(f"sequence length {len(sequence)} != number of values {len(values)}")
    resnums = np.asarray(structure.resnums, dtype=np.int64)
    icodes = np.asarray(structure.icodes).astype(str)
    ok = (resnums >= 1) & (resnums <= len(values)) & (icodes == "")
    out = np.full(resnums.shape[0], np.nan)
    out[ok] = values[resnums[ok] - 1]
    if sequence is not None:
        for r in np.nonzero(ok)[0]:
            letter = _ONE_LETTER.get(str(structure.resnames[r]), "X")
            if letter != sequence[resnums[r] - 1]:
                raise ValueError(f"{name}: residue {structure.resnames[r]}{resnums[r]} does not match "
                                 f"the sequence ({sequence[resnums[r] - 1]} at position {resnums[r]})")
    return out
