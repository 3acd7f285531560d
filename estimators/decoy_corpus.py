"""A corpus of training decoys: one compact ``.npz`` per native plus a ``manifest.json``.

File ``<native>.npz`` (written by :func:`build_corpus`, read by :func:`read_corpus_file`):

=================  ==================  ===========================================================
key                shape, dtype        content
=================  ==================  ===========================================================
``coords``         (D, A, 3) float32   heavy-atom coordinates of the D decoys (Angstrom)
``native_coords``  (A, 3) float64      the native's coordinates
``atom_names``     (A,) str            PDB v3 atom names (the native's atom table)
``atom_res``       (A,) int32          residue index of each atom
``chain_ids``      (R,) str            per residue: chain id, number, insertion code, name
``resnums``        (R,) int32
``icodes``         (R,) str
``resnames``       (R,) str
``lddt``           (D,) float32        global lDDT of each decoy against the native
``lddt_local``     (D, R) float32      per-residue lDDT (NaN where undefined)
``target_lddt``    (D,) float32        lDDT the generator aimed at
``kind``           (D,) str            kind of error (see :data:`estimators.decoys.KINDS`)
``decoy_index``    (D,) int32          index of the decoy in its native's series
``seed``           () int64            seed of the native's series
=================  ==================  ===========================================================

``manifest.json`` lists the parameters, every native (file, sizes, lDDT summary, counts of kinds,
seconds spent) and the inputs that failed.

Command line::

    python -m estimators.decoy_corpus NATIVES... --out DIR [--n-per-native 20] [--seed 0]
        [--n-jobs 2] [--no-relax] [--lddt-min 0.3] [--lddt-max 0.95] [--limit N]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decoys import KINDS, decoy_structure, generate_decoys
from .structures import Structure, read_structure

__all__ = ["build_corpus", "read_corpus_file", "CorpusEntry", "native_seed", "main"]

_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz", ".mmcif.gz")


def native_seed(seed: int, name: str) -> int:
    """Seed of one native's series: a stable function of the corpus seed and the native's name."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode("utf-8"))])
               .generate_state(1, dtype=np.uint32)[0])


def _native_name(source, index: int) -> str:
    if isinstance(source, Structure):
        raw = Path(str(source.name)).name
    else:
        raw = Path(os.fspath(source)).name
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if raw.lower().endswith(suffix):
            raw = raw[: -len(suffix)]
            break
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("._") or f"native{index}"
    return clean


def _run_task(source, name, n_decoys, indices, seed, lddt_range, relax, relax_options):
    """Worker: read the native and generate some of its decoys; never raises."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            native = read_structure(source, name=name)
        decoys = generate_decoys(native, n_decoys, seed=seed, lddt_range=lddt_range, relax=relax,
                                 relax_options=relax_options, indices=indices)
        return {"name": name, "native": native, "decoys": decoys, "error": None,
                "seconds": time.perf_counter() - t0}
    except Exception as error:                       # reported in the manifest
        return {"name": name, "native": None, "decoys": [], "seconds": time.perf_counter() - t0,
                "error": f"{type(error).__name__}: {error}"}


def _write_native(path: Path, native: Structure, decoys, seed: int):
    d, r = len(decoys), native.n_residues
    coords = np.stack([x.coords for x in decoys]).astype(np.float32) if d else \
        np.zeros((0, native.n_atoms, 3), np.float32)
    lddt_local = np.stack([x.lddt_local for x in decoys]).astype(np.float32) if d else \
        np.zeros((0, r), np.float32)
    arrays = {
        "coords": coords,
        "native_coords": np.asarray(native.coords, dtype=np.float64),
        "atom_names": np.asarray(native.atom_names).astype(str),
        "atom_res": np.asarray(native.atom_res, dtype=np.int32),
        "chain_ids": np.asarray(native.chain_ids).astype(str),
        "resnums": np.asarray(native.resnums, dtype=np.int32),
        "icodes": np.asarray(native.icodes).astype(str),
        "resnames": np.asarray(native.resnames).astype(str),
        "lddt": np.array([x.lddt for x in decoys], dtype=np.float32),
        "lddt_local": lddt_local,
        "target_lddt": np.array([x.target_lddt for x in decoys], dtype=np.float32),
        "kind": np.array([x.kind for x in decoys]).astype(str) if d else np.zeros(0, dtype="<U1"),
        "decoy_index": np.array([x.info["index"] for x in decoys], dtype=np.int32),
        "seed": np.int64(seed),
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def build_corpus(natives, out_dir, n_per_native: int = 20, seed: int = 0, n_jobs: int = 1,
                 lddt_range=(0.3, 0.95), relax: bool = True, relax_options: dict | None = None,
                 errors: str = "warn", verbose: bool = False) -> dict:
    """Generate decoys of many natives and write them as a corpus.

    Parameters
    ----------
    natives : sequence of path or Structure
        Native structures (anything :func:`estimators.structures.read_structure` reads).
    out_dir : path
        Output folder (created); gets ``<name>.npz`` per native and ``manifest.json``.
    n_per_native : int
        Decoys per native.
    seed : int
        Corpus seed; the series of a native depends on it and on the native's name only
        (:func:`native_seed`), not on ``n_jobs`` or on the other natives.
    n_jobs : int
        joblib workers (processes). With fewer natives than workers, a native's series is split.
    lddt_range : (float, float)
        Range of target global lDDT.
    relax : bool
        Relax decoys with OpenMM (:class:`estimators.decoys.Relaxer`).
    relax_options : dict, optional
    errors : {'warn', 'raise'}
        A native that cannot be read or processed: warning and an entry under ``failed`` in the
        manifest, or ValueError.
    verbose : bool
        joblib progress messages.

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``).
    """
    from joblib import Parallel, delayed

    if errors not in ("warn", "raise"):
        raise ValueError(f"errors must be 'warn' or 'raise', got {errors!r}")
    n_per_native = int(n_per_native)
    if n_per_native < 1:
        raise ValueError(f"n_per_native must be >= 1, got {n_per_native}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0")
    if isinstance(natives, (str, os.PathLike, Structure)):
        natives = [natives]
    natives = list(natives)
    if not natives:
        raise ValueError("no natives given")
    names = [_native_name(src, k) for k, src in enumerate(natives)]
    duplicates = [n for n, c in Counter(names).items() if c > 1]
    if duplicates:
        raise ValueError(f"natives with the same name would overwrite each other: {duplicates}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    chunks = max(1, math.ceil(workers / len(natives))) if len(natives) < workers else 1
    chunks = min(chunks, n_per_native)
    tasks = []
    for src, name in zip(natives, names):
        for part in np.array_split(np.arange(n_per_native), chunks):
            tasks.append((src, name, part.tolist()))
    t0 = time.perf_counter()
    results = Parallel(n_jobs=n_jobs, verbose=10 if verbose else 0)(
        delayed(_run_task)(src, name, n_per_native, part, native_seed(seed, name), lddt_range,
                           relax, relax_options) for src, name, part in tasks)
    wall = time.perf_counter() - t0

    by_name: dict[str, list] = {name: [] for name in names}
    for result in results:
        by_name[result["name"]].append(result)
    entries, failed = [], []
    for src, name in zip(natives, names):
        parts = by_name[name]
        error = next((p["error"] for p in parts if p["error"]), None)
        source = str(src.name) if isinstance(src, Structure) else os.fspath(src)
        if error is not None:
            if errors == "raise":
                raise ValueError(f"{source}: {error}")
            warnings.warn(f"decoy corpus: skipped {source}: {error}", RuntimeWarning)
            failed.append({"source": source, "error": error})
            continue
        native = parts[0]["native"]
        decoys = sorted((d for p in parts for d in p["decoys"]), key=lambda d: d.info["index"])
        file_name = f"{name}.npz"
        _write_native(out_dir / file_name, native, decoys, native_seed(seed, name))
        scores = np.array([d.lddt for d in decoys])
        entries.append({
            "name": name, "source": source, "file": file_name,
            "n_residues": int(native.n_residues), "n_atoms": int(native.n_atoms),
            "n_decoys": len(decoys),
            "lddt_min": float(scores.min()), "lddt_mean": float(scores.mean()),
            "lddt_max": float(scores.max()),
            "kinds": dict(Counter(d.kind for d in decoys)),
            "relaxed": int(sum(bool(d.info.get("relaxed", False)) for d in decoys)),
            "decoy_seconds_mean": float(np.mean([d.info["total_seconds"] for d in decoys])),
            "decoy_cpu_seconds_mean": float(np.mean([d.info["cpu_seconds"] for d in decoys])),
            "worker_seconds": float(sum(p["seconds"] for p in parts)),
        })
    n_decoys = sum(e["n_decoys"] for e in entries)
    manifest = {
        "format": "fourier6d-decoys-1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "parameters": {"n_per_native": n_per_native, "seed": int(seed), "n_jobs": n_jobs,
                       "lddt_range": [float(v) for v in lddt_range], "relax": bool(relax),
                       "relax_options": dict(relax_options or {}), "kinds": list(KINDS)},
        "n_natives": len(entries), "n_decoys": n_decoys,
        "wall_seconds": wall,
        "seconds_per_decoy": wall / n_decoys if n_decoys else math.nan,
        "natives": entries, "failed": failed,
    }
    with open(out_dir / "manifest.json", "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1)
    return manifest


@dataclass
class CorpusEntry:
    """Decoys of one native as stored in the corpus (see the module docstring for the arrays)."""

    native: Structure
    coords: np.ndarray
    lddt: np.ndarray
    lddt_local: np.ndarray
    target_lddt: np.ndarray
    kind: np.ndarray
    decoy_index: np.ndarray
    seed: int

    def __len__(self):
        return len(self.lddt)

    def structure(self, i: int) -> Structure:
        """Decoy i as a Structure (named ``<native>_decoy<index>``)."""
        return decoy_structure(self.native, self.coords[i].astype(np.float64),
                               name=f"{self.native.name}_decoy{int(self.decoy_index[i])}")


def read_corpus_file(path) -> CorpusEntry:
    """Read one ``<native>.npz`` of a corpus written by :func:`build_corpus`."""
    from .atom_types import AA_INDEX

    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        missing = {"coords", "native_coords", "atom_names", "atom_res", "chain_ids", "resnums",
                   "icodes", "resnames", "lddt", "lddt_local"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a decoy corpus file (missing {sorted(missing)})")
        resnames = data["resnames"].astype(str)
        native = Structure(
            name=path.stem, chain_ids=data["chain_ids"].astype(str),
            resnums=data["resnums"].astype(np.int64), icodes=data["icodes"].astype(str),
            resnames=resnames, aa_index=np.array([AA_INDEX[n] for n in resnames], dtype=np.int64),
            coords=data["native_coords"].astype(np.float64),
            atom_names=data["atom_names"].astype(str), atom_res=data["atom_res"].astype(np.int64))
        return CorpusEntry(native=native, coords=data["coords"], lddt=data["lddt"],
                           lddt_local=data["lddt_local"], target_lddt=data["target_lddt"],
                           kind=data["kind"].astype(str), decoy_index=data["decoy_index"],
                           seed=int(data["seed"]))


def _expand_inputs(paths):
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(q for q in p.iterdir()
                          if q.is_file() and q.name.lower().endswith(_SUFFIXES))
        else:
            out.append(p)
    return out


def main(argv=None) -> int:
    """Command line: build a decoy corpus (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m estimators.decoy_corpus",
        description="Generate training decoys with exact lDDT labels from native structures.")
    parser.add_argument("natives", nargs="+",
                        help="native structure files, or folders of .pdb/.cif(.gz) files")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-per-native", type=int, default=20, help="decoys per native")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel workers (-1: all cores)")
    parser.add_argument("--no-relax", action="store_true", help="skip the OpenMM relaxation")
    parser.add_argument("--lddt-min", type=float, default=0.3)
    parser.add_argument("--lddt-max", type=float, default=0.95)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N natives")
    parser.add_argument("--errors", choices=("warn", "raise"), default="warn")
    args = parser.parse_args(argv)
    natives = _expand_inputs(args.natives)
    if args.limit is not None:
        natives = natives[: args.limit]
    if not natives:
        parser.error("no native structure found")
    manifest = build_corpus(natives, args.out, n_per_native=args.n_per_native, seed=args.seed,
                            n_jobs=args.n_jobs, lddt_range=(args.lddt_min, args.lddt_max),
                            relax=not args.no_relax, errors=args.errors, verbose=True)
    print(f"{manifest['n_decoys']} decoys of {manifest['n_natives']} natives in "
          f"{manifest['wall_seconds']:.1f} s ({manifest['seconds_per_decoy']:.2f} s per decoy); "
          f"{len(manifest['failed'])} failed; manifest: {Path(args.out) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
