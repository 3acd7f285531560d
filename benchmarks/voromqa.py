"""VoroMQA scores of protein models: a thin, cached wrapper of the ``voronota-voromqa`` program.

VoroMQA (Olechnovic & Venclovas, Proteins 2017) is a classical statistical-potential QA method based on
Voronoi-tessellation contact areas; the benchmark ``qa_casp13.py`` uses it as a peer method.  This module
only runs the program and parses its output; it implements no scoring of its own.

For one model, ``voronota-voromqa -i MODEL --output-residue-scores FILE`` prints one line on stdout::

    {input file path} {global score} {number of residues} {number of atoms}

and writes one line per residue to ``FILE``::

    [c<CHAIN>]r<NUMBER>[i<ICODE>]R<NAME> {score}

(the chain part is absent when the file has no chain identifier; residue scores are smoothed over a
window of 5 residues by default).  Scores lie in [0, 1]; higher means more native-like.

Results are cached in a JSON file keyed by the SHA-256 of the model file's bytes and of the program's
options, so a benchmark can be re-run without re-scoring unchanged models.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["VoroMQAResult", "VoroMQAError", "find_voromqa", "voromqa_available", "parse_residue_scores",
           "parse_global_line", "run_voromqa", "score_models", "residue_scores_for_structure",
           "DEFAULT_EXECUTABLE", "CACHE_VERSION"]

DEFAULT_EXECUTABLE = "voronota-voromqa"
#: Bump when the parsing or the options change (invalidates cached entries).
CACHE_VERSION = 1

_RESIDUE_ID = re.compile(r"^(?:c<(?P<chain>[^>]*)>)?r<(?P<num>-?\d+)>(?:i<(?P<icode>[^>]*)>)?"
                         r"R<(?P<name>[^>]*)>$")


class VoroMQAError(RuntimeError):
    """``voronota-voromqa`` failed on a model or printed something that cannot be parsed."""


@dataclass
class VoroMQAResult:
    """VoroMQA output for one model.

    Attributes
    ----------
    path : str
        The model file.
    global_score : float
        VoroMQA global score (0..1), NaN when the program failed (``error`` says why).
    n_residues, n_atoms : int
        Counts reported by the program (0 on failure).
    residues : list of (chain, resnum, icode, resname, score)
        Per-residue scores in the program's order (chain and icode ``''`` when absent).
    error : str or None
        Failure message (only with ``errors='warn'``).
    """

    path: str
    global_score: float
    n_residues: int
    n_atoms: int
    residues: list = field(default_factory=list)
    error: str | None = None

    def to_json(self):
        """Plain-data form used in the cache."""
        return {"global_score": None if np.isnan(self.global_score) else self.global_score,
                "n_residues": self.n_residues, "n_atoms": self.n_atoms,
                "residues": [list(r) for r in self.residues]}

    @classmethod
    def from_json(cls, path, obj):
        """Inverse of :meth:`to_json` (the path is not stored in the cache)."""
        g = obj["global_score"]
        return cls(path=str(path), global_score=np.nan if g is None else float(g),
                   n_residues=int(obj["n_residues"]), n_atoms=int(obj["n_atoms"]),
                   residues=[(str(c), int(n), str(i), str(name), float(s))
                             for c, n, i, name, s in obj["residues"]])


def find_voromqa(executable=None):
    """Absolute path of the ``voronota-voromqa`` program.

    Parameters
    ----------
    executable : str or None
        Program name or path (default ``voronota-voromqa`` on ``PATH``).

    Raises
    ------
    FileNotFoundError
        With installation instructions when the program is missing.
    """
    name = executable or DEFAULT_EXECUTABLE
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"VoroMQA program {name!r} not found on PATH. Install Voronota (Debian/Ubuntu: "
            "'apt-get install voronota'; or https://github.com/kliment-olechnovic/voronota) or pass "
            "the program's path (--voromqa-executable).")
    return found


def voromqa_available(executable=None):
    """True when :func:`find_voromqa` finds the program."""
    try:
        find_voromqa(executable)
    except FileNotFoundError:
        return False
    return True


def parse_global_line(text, where="voronota-voromqa"):
    """(global_score, n_residues, n_atoms) from the program's stdout (last non-empty line).

    The path printed first may contain spaces, so the last three fields are used.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise VoroMQAError(f"{where}: empty output")
    fields = lines[-1].split()
    if len(fields) < 4:
        raise VoroMQAError(f"{where}: cannot parse output line {lines[-1]!r}")
    try:
        score, n_res, n_atoms = float(fields[-3]), int(fields[-2]), int(fields[-1])
    except ValueError as exc:
        raise VoroMQAError(f"{where}: cannot parse output line {lines[-1]!r}") from exc
    if not np.isfinite(score):
        raise VoroMQAError(f"{where}: non-finite global score in {lines[-1]!r}")
    return score, n_res, n_atoms


def parse_residue_scores(text, where="residue scores"):
    """Per-residue scores from a ``--output-residue-scores`` file.

    Returns
    -------
    list of (chain, resnum, icode, resname, score)
    """
    out = []
    for k, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise VoroMQAError(f"{where}, line {k}: expected 'RESIDUE_ID SCORE', got {line!r}")
        match = _RESIDUE_ID.match(fields[0])
        if match is None:
            raise VoroMQAError(f"{where}, line {k}: cannot parse residue id {fields[0]!r}")
        try:
            score = float(fields[1])
        except ValueError as exc:
            raise VoroMQAError(f"{where}, line {k}: score {fields[1]!r} is not a number") from exc
        out.append((match["chain"] or "", int(match["num"]), match["icode"] or "", match["name"], score))
    return out


def _options(smoothing_window):
    return ["--smoothing-window", str(int(smoothing_window))]


def run_voromqa(path, executable=None, smoothing_window=5, timeout=600):
    """Run VoroMQA on one model file.

    Parameters
    ----------
    path : path
        PDB or mmCIF model.
    executable : str or None
        See :func:`find_voromqa`.
    smoothing_window : int
        Residue-score smoothing window of the program (its default: 5).
    timeout : float
        Seconds before the run is abandoned.

    Returns
    -------
    VoroMQAResult

    Raises
    ------
    FileNotFoundError
        Missing program or model file.
    VoroMQAError
        The program failed or its output could not be parsed.
    """
    program = find_voromqa(executable)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if int(smoothing_window) < 0:
        raise ValueError(f"smoothing_window must be >= 0, got {smoothing_window!r}")
    with tempfile.TemporaryDirectory(prefix="voromqa_") as tmp:
        res_file = os.path.join(tmp, "residue_scores.txt")
        cmd = [program, "-i", str(path), "--output-residue-scores", res_file] + _options(smoothing_window)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired as exc:
            raise VoroMQAError(f"{path}: voronota-voromqa did not finish in {timeout} s") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise VoroMQAError(f"{path}: voronota-voromqa exited with status {proc.returncode}: "
                               + " | ".join(tail))
        score, n_res, n_atoms = parse_global_line(proc.stdout, where=str(path))
        if not os.path.exists(res_file):
            raise VoroMQAError(f"{path}: voronota-voromqa wrote no residue scores")
        with open(res_file) as fh:
            residues = parse_residue_scores(fh.read(), where=f"{path} residue scores")
    return VoroMQAResult(path=str(path), global_score=score, n_residues=n_res, n_atoms=n_atoms,
                         residues=residues)


def _cache_key(path, smoothing_window):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps({"options": _options(smoothing_window), "version": CACHE_VERSION}).encode())
    return h.hexdigest()


def _read_cache(cache):
    if cache is None or not os.path.exists(cache):
        return {}
    try:
        with open(cache) as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        warnings.warn(f"VoroMQA cache {cache} is unreadable ({exc}); starting a new one")
        return {}
    if not isinstance(data, dict):
        warnings.warn(f"VoroMQA cache {cache} is not a JSON object; starting a new one")
        return {}
    return data


def _write_cache(cache, data):
    folder = os.path.dirname(os.path.abspath(cache))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".voromqa_cache_", suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, cache)


def _run_one(path, executable, smoothing_window, timeout):
    try:
        return run_voromqa(path, executable, smoothing_window, timeout), None
    except VoroMQAError as exc:
        return None, exc


def score_models(paths, n_jobs=1, cache=None, executable=None, smoothing_window=5, timeout=600,
                 errors="raise", verbose=False):
    """VoroMQA results for many model files, in parallel (joblib threads), with a JSON cache.

    Parameters
    ----------
    paths : list of path
    n_jobs : int
        Concurrent program runs (each is a separate process; threads only wait on them).
    cache : path or None
        JSON file mapping content hash -> result; read first, updated with new results.
        None disables caching.
    executable, smoothing_window, timeout
        See :func:`run_voromqa`.
    errors : {'raise', 'warn'}
        On a failed model: raise after all models were tried, or warn and return a result with NaN
        global score, no residues and ``error`` set (failures are not cached).
    verbose : bool
        tqdm progress bar over the models that are not cached.

    Returns
    -------
    list of VoroMQAResult, in the order of ``paths``.
    """
    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', got {errors!r}")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} model file(s) not found, first: {missing[0]}")
    find_voromqa(executable)
    store = _read_cache(cache)
    keys = [_cache_key(p, smoothing_window) for p in paths]
    results = [None] * len(paths)
    todo = []
    for i, (p, k) in enumerate(zip(paths, keys)):
        if k in store:
            try:
                results[i] = VoroMQAResult.from_json(p, store[k])
                continue
            except (KeyError, TypeError, ValueError):
                pass                                        # malformed entry: recompute
        todo.append(i)
    failures = []
    if todo:
        from joblib import Parallel, delayed
        progress = None
        if verbose:
            from tqdm.auto import tqdm
            progress = tqdm(total=len(todo), desc="voromqa", unit="model")
        gen = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
            delayed(_run_one)(paths[i], executable, smoothing_window, timeout) for i in todo)
        try:
            for done, (i, (res, exc)) in enumerate(zip(todo, gen), 1):
                if progress is not None:
                    progress.update(1)
                if exc is not None:
                    failures.append(exc)
                    results[i] = VoroMQAResult(path=str(paths[i]), global_score=np.nan, n_residues=0,
                                               n_atoms=0, error=str(exc))
                    continue
                results[i] = res
                store[keys[i]] = res.to_json()
                if cache is not None and done % 50 == 0:
                    _write_cache(cache, store)
        finally:
            if progress is not None:
                progress.close()
            if cache is not None:
                _write_cache(cache, store)
    if failures:
        if errors == "raise":
            raise VoroMQAError(f"VoroMQA failed on {len(failures)} of {len(paths)} models; "
                               f"first: {failures[0]}") from failures[0]
        for exc in failures:
            warnings.warn(str(exc), RuntimeWarning)
    return results


def residue_scores_for_structure(result, structure):
    """VoroMQA per-residue scores aligned to the residues of a Structure, by residue number.

    A Structure residue takes the score of the VoroMQA residue with the same (chain, number,
    insertion code); the chain is ignored when both sides have a single chain (VoroMQA writes no
    chain for files without chain identifiers).  Residues VoroMQA did not score, or whose residue
    name differs from VoroMQA's (a warning says how many), get NaN.

    Parameters
    ----------
    result : VoroMQAResult
    structure : estimators.structures.Structure

    Returns
    -------
    ndarray of float, (R,)
    """
    if not isinstance(result, VoroMQAResult):
        raise TypeError(f"result must be a VoroMQAResult, got {type(result).__name__}")
    chains = np.asarray(structure.chain_ids).astype(str)
    resnums = np.asarray(structure.resnums, dtype=np.int64)
    icodes = np.asarray(structure.icodes).astype(str)
    resnames = np.asarray(structure.resnames).astype(str)
    vchains = {c for c, *_ in result.residues}
    ignore_chain = len(set(chains.tolist())) <= 1 and len(vchains) <= 1
    table = {}
    for c, n, i, name, score in result.residues:
        key = (n, i) if ignore_chain else (c, n, i)
        table[key] = (name, score)
    out = np.full(resnums.shape[0], np.nan)
    mismatched = 0
    for r in range(resnums.shape[0]):
        key = (int(resnums[r]), icodes[r]) if ignore_chain else (chains[r], int(resnums[r]), icodes[r])
        hit = table.get(key)
        if hit is None:
            continue
        if hit[0] != resnames[r]:
            mismatched += 1
            continue
        out[r] = hit[1]
    if mismatched:
        warnings.warn(f"{getattr(structure, 'name', 'structure')}: {mismatched} residue(s) have a "
                      "different name in the VoroMQA output; their scores are left NaN", RuntimeWarning)
    return out
