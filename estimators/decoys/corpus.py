"""A corpus of training decoys: one ``.npz`` per native plus a ``manifest.json``; sharded, resumable.

File ``<native>.npz`` (written by :func:`build_corpus`, read by :func:`read_corpus_file`):

===================  ==================  ===========================================================
key                  shape, dtype        content
===================  ==================  ===========================================================
``coords``           (D, A, 3) float32   heavy-atom coordinates of the D decoys (Angstrom), in the
                                         native's atom order; NaN for residues a decoy lacks
``native_coords``    (A, 3) float64      the native's coordinates
``atom_names``       (A,) str            PDB v3 atom names (the native's atom table)
``atom_res``         (A,) int32          residue index of each atom
``chain_ids``        (R,) str            per residue: chain id, number, insertion code, name
``resnums``          (R,) int32
``icodes``           (R,) str
``resnames``         (R,) str
``lddt``             (D,) float32        global lDDT label of each decoy against the native
``lddt_local``       (D, R) float32      per-residue label of each native residue (NaN where
                                         undefined or where the decoy lacks the residue)
``target_lddt``      (D,) float32        lDDT the generator aimed at (NaN for kinds that do not aim)
``kind``             (D,) str            kind of error (:data:`estimators.decoys.ALL_KINDS`)
``decoy_index``      (D,) int32          index of the decoy in its native's series
``seed``             () int64            seed of the native's series
``seconds``          (D,) float32        wall time spent on each decoy
``cpu_seconds``      (D,) float32        CPU time of the worker on each decoy
``template``         (D,) str            template of a threaded decoy ('' for other kinds)
``copy_index``       (K,) int32          rows (0..D-1) of the decoys with an overlaid second copy
``copy_coords``      (K, A, 3) float32   coordinates of those copies
``copy_lddt_local``  (K, R) float32      per-residue labels of those copies' residues
``params``           () str              JSON of the parameters the file was built with
===================  ==================  ===========================================================

The trainer gets, for decoy ``i`` of an entry, ``entry.sample(i)`` = (Structure of the model,
per-residue labels of its residues, global label, kind); the Structure lacks absent residues and
has the copy as a second chain.

Running it (sharded, resumable)::

    python -m estimators.decoys.corpus NATIVES... --out DIR [--n-per-native 20] [--seed 0]
        [--kinds threaded=0.45,misfold=0.2,...] [--shard K/N] [--n-jobs 1] [--no-relax]
        [--relaxation heavy|amber] [--relax-iterations 150] [--relax-tolerance 30]
        [--relax-cutoff-nm 1.0 (amber only)] [--lddt-min 0.3] [--lddt-max 0.95] [--limit N]
        [--manifest-only] [--cache-dir DIR | --no-cache]

The relaxation of the command is the heavy-atom one
(:class:`~estimators.decoys.relax_heavy.HeavyAtomRelaxer`) unless ``--relaxation amber`` asks for
Amber14 with hydrogens (:class:`~estimators.decoys.relax.Relaxer`, the default of the Python API
and the relaxation of the shipped model's corpora): on the same 132 natives its decoys took 1.9x
less CPU, were no easier to tell from CASP13 server models, and their labels were within 0.01 of
the Amber-relaxed decoys' on average (``benchmarks/RESULTS.md``, "Decoy corpus at scale"). A folder
built with one relaxation is rebuilt, native by native, when built again with the other (a
warning says so).

Natives are named after their files and sorted by name; shard ``K/N`` (K = 1..N) takes every N-th
native starting at the K-th. Each native's file is written atomically as soon as its decoys are
done; a rerun skips natives whose file exists with the same parameters. A native that fails gets a
``<native>.failed.json`` (retried by a rerun). At the end, ``manifest.json`` is rebuilt from all
files in the folder (``--manifest-only`` only rebuilds it), so shards can run at the same time in
the same folder.

Each native's all-atom model (PDBFixer: missing atoms and hydrogens, about a fifth of the time of
a pass of 10 decoys per native) is kept in a cache folder shared by passes, shards and workers
(``--cache-dir``, default :func:`default_cache_dir`), so a second pass over the same natives skips
PDBFixer; the decoys are the same with or without the cache.
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

from ..structures import Structure, read_structure
from ._files import atomic_write_json, atomic_write_npz
from .decoy import model_labels, model_structure
from .series import DEFAULT_KINDS, generate_series, parse_kinds
from .relax import RELAXATIONS

__all__ = ["build_corpus", "read_corpus_file", "CorpusEntry", "native_seed", "rebuild_manifest",
           "parse_shard", "main"]

_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz", ".mmcif.gz")
FORMAT = "fourier6d-decoys-2"


def native_seed(seed: int, name: str) -> int:
    """Seed of one native's series: a stable function of the corpus seed and the native's name."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode("utf-8"))])
               .generate_state(1, dtype=np.uint32)[0])


def native_name(source, index: int = 0) -> str:
    """File-safe name of a native: its file name without structure suffixes."""
    if isinstance(source, Structure):
        raw = Path(str(source.name)).name
    else:
        raw = Path(os.fspath(source)).name
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if raw.lower().endswith(suffix):
            raw = raw[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("._") or f"native{index}"


def parse_shard(text) -> tuple:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ValueError(f"shard must be K/N (e.g. 1/4), got {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise ValueError(f"shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def _run_task(source, name, n_decoys, indices, seed, options):
    """Worker: read the native and generate some of its decoys; never raises."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            native = read_structure(source, name=name)
            decoys = generate_series(native, n_decoys, seed=seed, indices=indices, **options)
        return {"name": name, "native": native, "decoys": decoys, "error": None,
                "seconds": time.perf_counter() - t0}
    except Exception as error:                       # reported in the manifest
        return {"name": name, "native": None, "decoys": [], "seconds": time.perf_counter() - t0,
                "error": f"{type(error).__name__}: {error}"}


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _atomic_write_json(path: Path, data):
    atomic_write_json(path, data, default=_json_default)


def _write_native(path: Path, native: Structure, decoys, seed: int, params: dict):
    d, r = len(decoys), native.n_residues
    coords = np.stack([x.coords for x in decoys]).astype(np.float32) if d else \
        np.zeros((0, native.n_atoms, 3), np.float32)
    lddt_local = np.stack([x.lddt_local for x in decoys]).astype(np.float32) if d else \
        np.zeros((0, r), np.float32)
    copies = [k for k, x in enumerate(decoys) if x.copy_coords is not None]
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
        "kind": np.array([x.kind for x in decoys] or [""]).astype(str)[:d],
        "decoy_index": np.array([x.info["index"] for x in decoys], dtype=np.int32),
        "seed": np.int64(seed),
        "seconds": np.array([x.info.get("total_seconds", math.nan) for x in decoys],
                            dtype=np.float32),
        "cpu_seconds": np.array([x.info.get("cpu_seconds", math.nan) for x in decoys],
                                dtype=np.float32),
        "template": np.array([str(x.info.get("template", "")) for x in decoys] or [""])
        .astype(str)[:d],
        "copy_index": np.array(copies, dtype=np.int32),
        "copy_coords": (np.stack([decoys[k].copy_coords for k in copies]).astype(np.float32)
                        if copies else np.zeros((0, native.n_atoms, 3), np.float32)),
        "copy_lddt_local": (np.stack([decoys[k].copy_lddt_local for k in copies])
                            .astype(np.float32) if copies else np.zeros((0, r), np.float32)),
        "params": np.array(json.dumps(params, sort_keys=True, default=_json_default)),
    }
    atomic_write_npz(path, arrays)


def _file_params(path: Path):
    """Parameters stored in a corpus file, or None when it is unreadable or lacks them."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "params" not in data.files:
                return None
            return json.loads(str(data["params"]))
    except Exception:                                # truncated or foreign file: rebuild it
        return None


def _relaxation_method(params) -> str:
    """Relaxation method recorded in a file's parameters (files without one: Amber)."""
    if not params.get("relax", True):
        return "none"
    return str((params.get("relax_options") or {}).get("method", "amber"))


def _series_params(n_per_native, seed, mixture, lddt_range, relax, relax_options, n_templates):
    return {"n_per_native": int(n_per_native), "seed": int(seed),
            "kinds": {k: round(float(v), 12) for k, v in sorted(mixture.items())},
            "lddt_range": [float(v) for v in lddt_range], "relax": bool(relax),
            "relax_options": dict(relax_options or {}), "n_templates": int(n_templates)}


def build_corpus(natives, out_dir, n_per_native: int = 20, seed: int = 0, n_jobs: int = 1,
                 lddt_range=(0.3, 0.95), relax: bool = True, relax_options: dict | None = None,
                 errors: str = "warn", verbose: bool = False, kinds=DEFAULT_KINDS, shard=None,
                 resume: bool = True, templates=None, cache_dir=None) -> dict:
    """Generate decoys of many natives and write them as a corpus (see the module docstring).

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
        (:func:`native_seed`), not on ``n_jobs``, the shard or the other natives being built.
    n_jobs : int
        joblib workers (processes). With fewer natives than workers, a native's series is split.
    lddt_range : (float, float)
        Range of target global lDDT of the perturbation kinds.
    relax : bool
        Relax decoys with OpenMM (:class:`estimators.decoys.Relaxer`).
    relax_options : dict, optional
    errors : {'warn', 'raise'}
        A native that cannot be read or processed: warning, ``<name>.failed.json`` and an entry under
        ``failed`` in the manifest, or ValueError.
    verbose : bool
        Progress messages (one line per native written).
    kinds : str or dict
        Mixture of kinds (:func:`estimators.decoys.series.parse_kinds`).
    shard : (K, N) or str, optional
        Build only shard K of N (natives sorted by name, every N-th from the K-th).
    resume : bool
        Skip natives whose file exists with the same parameters.
    templates : sequence of path or Structure, optional
        Template pool of threaded decoys (default: all ``natives``, whatever the shard).
    cache_dir : path, optional
        Folder of the natives' all-atom models (PDBFixer results, one file per native), shared
        between passes, shards and workers: a native built before skips PDBFixer. The decoys do
        not depend on it (it is not among the parameters that ``resume`` compares).

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``), rebuilt from every file in
        ``out_dir``, plus ``built``, ``skipped`` (names) and ``wall_seconds`` of this call.
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
    mixture = parse_kinds(kinds)
    if isinstance(natives, (str, os.PathLike, Structure)):
        natives = [natives]
    natives = list(natives)
    if not natives:
        raise ValueError("no natives given")
    names = [native_name(src, k) for k, src in enumerate(natives)]
    duplicates = [n for n, c in Counter(names).items() if c > 1]
    if duplicates:
        raise ValueError(f"natives with the same name would overwrite each other: {duplicates}")
    order = sorted(range(len(natives)), key=lambda k: names[k])
    if shard is not None:
        k, n = parse_shard(shard) if isinstance(shard, str) else (int(shard[0]), int(shard[1]))
        if not 1 <= k <= n:
            raise ValueError(f"shard K/N needs 1 <= K <= N, got {k}/{n}")
        order = order[k - 1::n]
    templates = list(natives) if templates is None else list(templates)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = _series_params(n_per_native, seed, mixture, lddt_range, relax, relax_options,
                            len(templates))
    options = {"kinds": mixture, "lddt_range": tuple(lddt_range), "relax": relax,
               "relax_options": relax_options, "templates": templates,
               "cache_dir": None if cache_dir is None else str(cache_dir)}

    todo, skipped, other_method = [], [], Counter()
    method = _relaxation_method(params)
    for k in order:
        path = out_dir / f"{names[k]}.npz"
        stored = _file_params(path) if resume and path.exists() else None
        if stored is not None:
            stored.pop("source", None)
        if stored is not None and stored == json.loads(json.dumps(params)):
            skipped.append(names[k])
        else:
            todo.append(k)
            if stored is not None and _relaxation_method(stored) != method:
                other_method[_relaxation_method(stored)] += 1
    for previous, count in other_method.items():
        warnings.warn(f"decoy corpus {out_dir}: {count} natives were built with the {previous} "
                      f"relaxation and are rebuilt with the {method} one (to go on with the "
                      f"folder as it is, build with the {previous} relaxation: --relaxation "
                      f"{previous})", RuntimeWarning)

    workers = (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    chunks = max(1, math.ceil(workers / len(todo))) if 0 < len(todo) < workers else 1
    chunks = min(chunks, n_per_native)
    tasks = [(natives[k], names[k], part.tolist())
             for k in todo for part in np.array_split(np.arange(n_per_native), chunks)]
    t0 = time.perf_counter()
    pending = {names[k]: [] for k in todo}
    built = []
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_run_task)(src, name, n_per_native, part, native_seed(seed, name), options)
        for src, name, part in tasks)
    for result in results:
        name = result["name"]
        pending[name].append(result)
        if len(pending[name]) < chunks:
            continue
        parts = pending.pop(name)
        source = natives[names.index(name)]
        source = str(source.name) if isinstance(source, Structure) else os.fspath(source)
        error = next((p["error"] for p in parts if p["error"]), None)
        failed_path = out_dir / f"{name}.failed.json"
        if error is not None:
            if errors == "raise":
                raise ValueError(f"{source}: {error}")
            warnings.warn(f"decoy corpus: skipped {source}: {error}", RuntimeWarning)
            _atomic_write_json(failed_path, {"name": name, "source": source, "error": error})
            continue
        decoys = sorted((d for p in parts for d in p["decoys"]), key=lambda d: d.info["index"])
        _write_native(out_dir / f"{name}.npz", parts[0]["native"], decoys,
                      native_seed(seed, name), dict(params, source=source))
        if failed_path.exists():
            failed_path.unlink()
        built.append(name)
        if verbose:
            print(f"{name}: {len(decoys)} decoys in {sum(p['seconds'] for p in parts):.1f} s "
                  f"({len(built)}/{len(todo)})", flush=True)
    wall = time.perf_counter() - t0
    manifest = rebuild_manifest(out_dir)
    n_built = sum(e["n_decoys"] for e in manifest["natives"] if e["name"] in set(built))
    return dict(manifest, built=built, skipped=skipped, wall_seconds=wall,
                seconds_per_decoy=wall / n_built if n_built else math.nan)


def rebuild_manifest(out_dir) -> dict:
    """Rebuild (and write atomically) ``manifest.json`` from the ``.npz`` and ``.failed.json``
    files of a corpus folder."""
    out_dir = Path(out_dir)
    entries, failed, parameters = [], [], set()
    for path in sorted(out_dir.glob("*.npz")):
        if path.name.startswith("."):
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                params = json.loads(str(data["params"])) if "params" in data.files else {}
                scores = data["lddt"].astype(np.float64)
                kinds = data["kind"].astype(str)
                seconds = data["seconds"] if "seconds" in data.files else np.zeros(0)
                cpu = data["cpu_seconds"] if "cpu_seconds" in data.files else np.zeros(0)
                n_res = int(data["chain_ids"].shape[0])
                n_atoms = int(data["atom_names"].shape[0])
        except Exception as error:
            failed.append({"source": str(path), "error": f"unreadable: {error}"})
            continue
        source = params.pop("source", "")
        parameters.add(json.dumps(params, sort_keys=True))
        entries.append({
            "name": path.stem, "source": source, "file": path.name, "n_residues": n_res,
            "n_atoms": n_atoms, "n_decoys": int(scores.size),
            "lddt_min": float(scores.min()) if scores.size else math.nan,
            "lddt_mean": float(scores.mean()) if scores.size else math.nan,
            "lddt_max": float(scores.max()) if scores.size else math.nan,
            "kinds": dict(Counter(kinds.tolist())),
            "decoy_seconds_mean": float(np.nanmean(seconds)) if seconds.size else math.nan,
            "decoy_cpu_seconds_mean": float(np.nanmean(cpu)) if cpu.size else math.nan,
        })
    for path in sorted(out_dir.glob("*.failed.json")):
        try:
            failed.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            failed.append({"source": str(path), "error": f"unreadable: {error}"})
    all_scores = [e for e in entries if e["n_decoys"]]
    kinds = Counter()
    for e in entries:
        kinds.update(e["kinds"])
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "parameters": [json.loads(p) for p in sorted(parameters)],
        "n_natives": len(entries), "n_decoys": int(sum(e["n_decoys"] for e in entries)),
        "kinds": dict(kinds),
        "lddt_mean": (float(np.average([e["lddt_mean"] for e in all_scores],
                                       weights=[e["n_decoys"] for e in all_scores]))
                      if all_scores else math.nan),
        "natives": entries, "failed": failed,
    }
    _atomic_write_json(out_dir / "manifest.json", manifest)
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
    template: np.ndarray | None = None
    copy_index: np.ndarray | None = None
    copy_coords: np.ndarray | None = None
    copy_lddt_local: np.ndarray | None = None

    def __len__(self):
        return len(self.lddt)

    def _copy(self, i):
        if self.copy_index is None or not len(self.copy_index):
            return None, None
        rows = np.flatnonzero(self.copy_index == i)
        if not rows.size:
            return None, None
        return (self.copy_coords[rows[0]].astype(np.float64),
                self.copy_lddt_local[rows[0]].astype(np.float64))

    def structure(self, i: int) -> Structure:
        """Decoy i as a Structure (named ``<native>_decoy<index>``): the residues it has, plus an
        overlaid copy as a second chain where it has one."""
        copy, _ = self._copy(i)
        return model_structure(self.native, self.coords[i].astype(np.float64), copy,
                               name=f"{self.native.name}_decoy{int(self.decoy_index[i])}")

    def local_labels(self, i: int) -> np.ndarray:
        """Per-residue labels of the residues of :meth:`structure` ``(i)``, in its order (NaN =
        unlabelled)."""
        copy, copy_local = self._copy(i)
        return model_labels(self.native, self.coords[i], self.lddt_local[i], copy, copy_local)

    def sample(self, i: int) -> tuple:
        """(Structure, per-residue labels of its residues, global label, kind) of decoy i."""
        return self.structure(i), self.local_labels(i), float(self.lddt[i]), str(self.kind[i])


def read_corpus_file(path) -> CorpusEntry:
    """Read one ``<native>.npz`` of a corpus written by :func:`build_corpus` (older files without
    the optional arrays are read too)."""
    from ..atom_types import AA_INDEX

    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        missing = {"coords", "native_coords", "atom_names", "atom_res", "chain_ids", "resnums",
                   "icodes", "resnames", "lddt", "lddt_local"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: not a decoy corpus file (missing {sorted(missing)})")
        resnames = data["resnames"].astype(str)
        unknown = [n for n in resnames if n not in AA_INDEX]
        if unknown:
            raise ValueError(f"{path}: unknown residue name {unknown[0]!r}")
        native = Structure(
            name=path.stem, chain_ids=data["chain_ids"].astype(str),
            resnums=data["resnums"].astype(np.int64), icodes=data["icodes"].astype(str),
            resnames=resnames, aa_index=np.array([AA_INDEX[n] for n in resnames], dtype=np.int64),
            coords=data["native_coords"].astype(np.float64),
            atom_names=data["atom_names"].astype(str), atom_res=data["atom_res"].astype(np.int64))
        optional = {k: data[k] for k in ("template", "copy_index", "copy_coords",
                                         "copy_lddt_local") if k in data.files}
        if "template" in optional:
            optional["template"] = optional["template"].astype(str)
        return CorpusEntry(native=native, coords=data["coords"], lddt=data["lddt"],
                           lddt_local=data["lddt_local"], target_lddt=data["target_lddt"],
                           kind=data["kind"].astype(str), decoy_index=data["decoy_index"],
                           seed=int(data["seed"]), **optional)


def expand_inputs(paths) -> list:
    """Files of ``paths``: folders give their structure files (sorted), files are kept."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(q for q in p.iterdir()
                          if q.is_file() and q.name.lower().endswith(_SUFFIXES))
        else:
            out.append(p)
    return out


def default_cache_dir() -> Path:
    """Folder of the all-atom model cache of the command line: ``$FOURIER6D_CACHE/allatom``, else
    ``$XDG_CACHE_HOME/fourier6d/allatom``, else ``~/.cache/fourier6d/allatom``."""
    if os.environ.get("FOURIER6D_CACHE"):
        return Path(os.environ["FOURIER6D_CACHE"]) / "allatom"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fourier6d" / "allatom"


def main(argv=None) -> int:
    """Command line: build a decoy corpus (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m estimators.decoys.corpus",
        description="Generate training decoys with exact lDDT labels from native structures "
                    "(sharded and resumable: one file per native, written when done).")
    parser.add_argument("natives", nargs="*",
                        help="native structure files, or folders of .pdb/.cif(.gz) files")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-per-native", type=int, default=20, help="decoys per native")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=DEFAULT_KINDS,
                        help=f"mixture of kinds, kind=weight,... (default {DEFAULT_KINDS})")
    parser.add_argument("--shard", default=None, help="build shard K of N (K/N, K = 1..N)")
    parser.add_argument("--n-jobs", type=int, default=1, help="parallel workers (-1: all cores)")
    parser.add_argument("--no-relax", action="store_true", help="skip the OpenMM relaxation")
    parser.add_argument("--relax-iterations", type=int, default=150,
                        help="L-BFGS iterations of the relaxation (default 150; the library's "
                             "Relaxer default is 300)")
    parser.add_argument("--relax-cutoff-nm", type=float, default=None,
                        help="non-bonded cut-off of the Amber relaxation in nm (Relaxer default "
                             "1.0; with --relaxation amber only)")
    parser.add_argument("--relax-tolerance", type=float, default=None,
                        help="L-BFGS tolerance of the relaxation in kJ/mol/nm (Relaxer default "
                             "10, HeavyAtomRelaxer 30)")
    parser.add_argument("--relaxation", choices=RELAXATIONS, default="heavy",
                        help="heavy (the default): heavy atoms with Amber's bonded terms and a "
                             "repulsion (HeavyAtomRelaxer; 1.9x less CPU per decoy); amber: "
                             "Amber14 with hydrogens (Relaxer; the corpora of the shipped model)")
    parser.add_argument("--lddt-min", type=float, default=0.3)
    parser.add_argument("--lddt-max", type=float, default=0.95)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N natives")
    parser.add_argument("--no-resume", action="store_true",
                        help="rebuild natives whose file already exists")
    parser.add_argument("--manifest-only", action="store_true",
                        help="only rebuild manifest.json from the files in --out")
    parser.add_argument("--errors", choices=("warn", "raise"), default="warn")
    parser.add_argument("--cache-dir", default=None,
                        help="folder of the natives' all-atom models (PDBFixer results), shared by "
                             "passes and shards; default $FOURIER6D_CACHE/allatom, else "
                             "$XDG_CACHE_HOME/fourier6d/allatom or ~/.cache/fourier6d/allatom")
    parser.add_argument("--no-cache", action="store_true",
                        help="run PDBFixer for every native, reading and writing no cache")
    args = parser.parse_args(argv)
    if args.manifest_only:
        manifest = rebuild_manifest(args.out)
        print(f"manifest: {manifest['n_decoys']} decoys of {manifest['n_natives']} natives, "
              f"{len(manifest['failed'])} failed")
        return 0
    try:
        parse_kinds(args.kinds)
        if args.shard is not None:
            parse_shard(args.shard)
        for flag, value in (("--relax-cutoff-nm", args.relax_cutoff_nm),
                            ("--relax-tolerance", args.relax_tolerance)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} must be a positive number, got {value}")
        if args.relaxation == "heavy" and args.relax_cutoff_nm is not None:
            raise ValueError("--relax-cutoff-nm is a setting of --relaxation amber; the default "
                             "relaxation, heavy, has none (its repulsion ends at the sum of the "
                             "atoms' radii)")
    except ValueError as error:
        parser.error(str(error))
    if not args.natives:
        parser.error("no natives given")
    natives = expand_inputs(args.natives)
    if args.limit is not None:
        natives = natives[: args.limit]
    if not natives:
        parser.error("no native structure found")
    relax_options = {key: value for key, value in
                     (("max_iterations", args.relax_iterations or None),
                      ("cutoff_nm", args.relax_cutoff_nm), ("tolerance", args.relax_tolerance))
                     if value is not None}
    if args.relaxation != "amber" and not args.no_relax:   # amber, the library's default, is
        relax_options["method"] = args.relaxation   # recorded without a method (files resume)
    manifest = build_corpus(natives, args.out, n_per_native=args.n_per_native, seed=args.seed,
                            n_jobs=args.n_jobs, lddt_range=(args.lddt_min, args.lddt_max),
                            relax=not args.no_relax, errors=args.errors, verbose=True,
                            relax_options=relax_options or None,
                            kinds=args.kinds, shard=args.shard, resume=not args.no_resume,
                            cache_dir=None if args.no_cache else (args.cache_dir
                                                                  or default_cache_dir()))
    n_built = sum(e["n_decoys"] for e in manifest["natives"] if e["name"] in set(manifest["built"]))
    print(f"{n_built} decoys of {len(manifest['built'])} natives built in "
          f"{manifest['wall_seconds']:.1f} s ({manifest['seconds_per_decoy']:.2f} s per decoy), "
          f"{len(manifest['skipped'])} natives already done; folder: {manifest['n_decoys']} decoys "
          f"of {manifest['n_natives']} natives, {len(manifest['failed'])} failed; manifest: "
          f"{Path(args.out) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
