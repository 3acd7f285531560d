"""The output folder of ``fourier6d score``: identities, streamed results, failures, lock.

One job: turn scoring outcomes into files that can be trusted while the run is going, after it
ends and after it is killed.

Identity
    Every input is identified by its path *as given* on the command line (after folders and glob
    patterns are expanded); the same path string is never listed twice (:func:`expand_inputs`).
    This string is the ``model`` / ``input`` column of every CSV file.  Per-model files are named
    after the file name, with a short hash of the path appended where two inputs would give the
    same name (:func:`structure_file_names`).

Files (:data:`OUTPUT_COLUMNS`)
    * ``scores.csv``: one row per scored input;
    * ``residue_scores.csv``: one row per residue of a scored input, in file order;
    * ``failures.csv``: exactly the inputs that were not scored, each with its own error;
    * ``warnings.csv``: everything that was skipped or doubtful in inputs (scored or not);
    * ``<name>_lddt.pdb``: the scored structure with the predicted lDDT as B-factors
      (:mod:`estimators.bfactor`; ``.cif`` when PDB cannot hold it);
    * ``casp_qa.txt``: with ``--format casp``;
    * ``run.json``: the run's manifest: status (``running``, ``complete``, ``interrupted``,
      ``failed``), counts, time stamps, files written.

Streaming
    Rows are written as soon as a model is scored, each model as whole lines, and flushed: a
    model's residue rows and structure file come first, its ``scores.csv`` row last, so a model
    is complete exactly when it has a row in ``scores.csv``.  A killed run keeps every model it
    finished; its ``run.json`` still says ``running`` (``interrupted`` after Ctrl-C or SIGTERM).
    ``run.json`` and ``casp_qa.txt`` are written to a temporary name and renamed.

One run per folder
    The folder is locked (``fcntl.flock`` on ``.fourier6d.lock``; the kernel drops the lock when
    the process dies, even by SIGKILL) before anything is written: a second run into a locked
    folder is refused at once.  A run replaces the results of an earlier run completely: the files
    named above (those listed in the old ``run.json``, and structure files whose first lines carry
    the fourier6d mark) are deleted before the first new row is written; other files in the
    folder are left alone.
"""
from __future__ import annotations

import csv
import datetime
import glob
import hashlib
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from .bfactor import BFACTOR_MARK, format_value, write_bfactor_structure
from .global_score import check_target_length, coverage, global_score

__all__ = ["OUTPUT_COLUMNS", "OutputError", "ResultWriter", "expand_inputs",
           "structure_file_names", "casp_positions", "read_results", "run_status"]

#: Column names of the CSV files of the output folder.
OUTPUT_COLUMNS = {
    "scores.csv": ["model", "global_score", "n_scored_residues", "n_residues", "n_warnings",
                   "structure_file", "coverage"],
    "residue_scores.csv": ["model", "residue_index", "chain", "resnum", "icode", "resname",
                           "predicted_lddt"],
    "failures.csv": ["input", "stage", "reason"],
    "warnings.csv": ["input", "stage", "message"],
}
MANIFEST = "run.json"
CASP_FILE = "casp_qa.txt"
LOCK_FILE = ".fourier6d.lock"
_FIXED_FILES = tuple(OUTPUT_COLUMNS) + (MANIFEST, CASP_FILE)
_STRUCT_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb1")
_LEGACY_MARK = "PREDICTED PER-RESIDUE LDDT"


class OutputError(RuntimeError):
    """The output folder cannot be used (not a folder, not writable, another run holds it)."""


# ----------------------------------------------------------------------------- inputs

def _is_result_file(path, outdir):
    """Whether ``path`` is a result file of a run in ``outdir`` (never an input to score)."""
    if outdir is None or os.path.realpath(os.path.dirname(path)) != os.path.realpath(outdir):
        return False
    name = os.path.basename(path)
    if name in _FIXED_FILES:
        return True
    return name.lower().endswith(("_lddt.pdb", "_lddt.cif")) and _is_our_structure_file(path)


def expand_inputs(items, outdir=None):
    """Expand files, folders and glob patterns into unique input paths.

    Parameters
    ----------
    items : list of str
        Files (kept as given, even when missing: they fail at reading with their own error),
        folders (their files, sorted, not recursive; hidden files skipped) and glob patterns
        (sorted matches; matching folders are expanded like folders).
    outdir : str, optional
        The output folder: result files of a run found there (CSV files, ``run.json``,
        B-factor files) are never inputs (a note says so).

    Returns
    -------
    inputs : list of str
        Paths as given or as expanded; a path met twice (same string, or the same normalised
        path) is kept once, at its first place.
    problems : list of (item, stage, message)
        Items that give no input (a folder without files, a pattern matching nothing: stage
        'input', reported as failures) and notes (sub-folders not scanned, paths given twice:
        stage 'input', reported as warnings).  Each message starts with ``'error'`` or
        ``'note'``.
    """
    inputs, problems, seen = [], [], set()

    def add(path, origin):
        if _is_result_file(path, outdir):
            problems.append((path, "input", f"note: {path} is a result file of the output "
                                            "folder; not scored"))
            return
        key = os.path.normpath(path)
        if key in seen:
            problems.append((path, "input", f"note: {path} is listed more than once "
                                            f"(again via {origin!r}); scored once"))
            return
        seen.add(key)
        inputs.append(path)

    def add_folder(item):
        try:
            entries = sorted(Path(item).iterdir(), key=lambda q: q.name)
        except OSError as exc:
            problems.append((item, "input", f"error: cannot list folder {item} ({exc})"))
            return
        files = [q for q in entries if not q.name.startswith(".") and q.is_file()]
        subdirs = [q.name for q in entries if not q.name.startswith(".") and q.is_dir()]
        if not files:
            what = f" (only sub-folders: {', '.join(subdirs[:5])})" if subdirs else ""
            problems.append((item, "input", f"error: folder {item} holds no files{what}; "
                                            "folders are not scanned recursively"))
        elif subdirs:
            problems.append((item, "input", f"note: {len(subdirs)} sub-folder(s) of {item} "
                                            "not scanned (not recursive): "
                                            f"{', '.join(subdirs[:5])}"))
        for q in files:
            add(os.path.join(item, q.name), item)

    for item in items:
        item = os.fspath(item)
        p = Path(item)
        if p.is_dir():
            add_folder(item)
        elif any(ch in item for ch in "*?[") and not p.exists():
            hits = sorted(glob.glob(item))
            if not hits:
                problems.append((item, "input", f"error: nothing matches the pattern {item!r}"))
            for h in hits:                 # folders that match are expanded like folders
                add_folder(h) if os.path.isdir(h) else add(h, item)
        else:
            add(item, item)
    return inputs, problems


def _stem(path):
    name = os.path.basename(os.path.normpath(path)) or "model"
    low = name.lower()
    if low.endswith((".gz", ".bz2", ".xz")):
        name = name.rsplit(".", 1)[0]
        low = name.lower()
    if low.endswith(_STRUCT_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".")
    return name or "model"


def structure_file_names(inputs, suffix="_lddt.pdb"):
    """A unique output file name for each input path.

    The name is the input's file name without compression and structure suffixes, plus
    ``suffix``; where two inputs would get the same name (compared without case, for
    case-insensitive file systems) each of them gets ``__`` and the first 8 hex digits of the
    SHA-256 of its path as given.

    Returns
    -------
    dict
        input path -> file name (no folder).
    """
    stems = {p: _stem(p) for p in inputs}
    counts = {}
    for s in stems.values():
        counts[s.lower()] = counts.get(s.lower(), 0) + 1
    out, used = {}, set()
    for p in inputs:
        s = stems[p]
        if counts[s.lower()] > 1:
            s = f"{s}__{hashlib.sha256(p.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
        name, k = f"{s}{suffix}", 1
        while name.lower() in used:
            k += 1
            name = f"{s}_{k}{suffix}"
        used.add(name.lower())
        out[p] = name
    return out


# ----------------------------------------------------------------------------- CASP

def casp_positions(structure, values):
    """Residues that go into a CASP QA line, and a note on those left out.

    A QA line gives one value per sequence position 1..N of one chain, so residues with an
    insertion code, of chains other than the first one met, numbered <= 0 or repeating a
    residue number already used are left out.

    Returns
    -------
    resnums : ndarray of int
    values : ndarray of float
    note : str or None
        What was left out (None when nothing was).
    """
    chains = [str(c) for c in structure.chain_ids]
    first = chains[0] if chains else ""
    keep, seen = [], set()
    why = {"insertion code": [], f"chain other than {first!r}": [], "number <= 0": [],
           "repeated number": []}
    for r in range(structure.n_residues):
        label = structure.residue_label(r)
        num = int(structure.resnums[r])
        if chains[r] != first:
            why[f"chain other than {first!r}"].append(label)
        elif str(structure.icodes[r]):
            why["insertion code"].append(label)
        elif num <= 0:
            why["number <= 0"].append(label)
        elif num in seen:
            why["repeated number"].append(label)
        else:
            seen.add(num)
            keep.append(r)
    keep = np.asarray(keep, dtype=np.int64)
    parts = [f"{len(v)} with {k} ({', '.join(v[:5])}{' ...' if len(v) > 5 else ''})"
             for k, v in why.items() if v]
    note = None
    if parts:
        n = sum(len(v) for v in why.values())
        note = f"{structure.name}: {n} residue(s) left out of {CASP_FILE}: " + "; ".join(parts)
    return (np.asarray(structure.resnums)[keep].astype(int),
            np.asarray(values, dtype=np.float64)[keep], note)


# ----------------------------------------------------------------------------- writer

def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _csv_text(rows):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _is_our_structure_file(path):
    try:
        with open(path, errors="replace") as fh:
            head = "".join(fh.readline() for _ in range(3)).upper()
    except OSError:
        return False
    return BFACTOR_MARK in head or ("FOURIER6D" in head and _LEGACY_MARK in head)


class ResultWriter:
    """Writes the output folder of one scoring run (see the module docstring).

    Use as a context manager: entering locks the folder, removes the results of an earlier run
    and creates the CSV files with their headers (so an unusable folder is found before any
    scoring); leaving writes the final ``run.json`` (status ``complete``, or ``interrupted`` /
    ``failed`` when an exception ends the block) and releases the lock.

    Parameters
    ----------
    outdir : str or os.PathLike
        Output folder (created when missing).
    inputs : list of str
        Input paths (identities), used for the per-model file names and the CASP model names.
    bfactor : bool, default=True
        Write ``<name>_lddt.pdb`` for each scored model.
    casp_target : str or None
        Write ``casp_qa.txt`` for this target (model names: the inputs' file names, which must
        then be unique).
    info : dict, optional
        Extra entries of ``run.json`` (command line, model file ...).
    log : callable, optional
        Called with each warning / failure line (default: print to standard error).
    target_length : int, optional
        Residues of the target sequence: each model's global score is then its mean times its
        coverage (:mod:`estimators.global_score`), written in the ``coverage`` column.
    """

    def __init__(self, outdir, inputs, bfactor=True, casp_target=None, info=None, log=None,
                 target_length=None):
        self.outdir = Path(outdir)
        self.inputs = list(inputs)
        self.bfactor = bool(bfactor)
        self.casp_target = casp_target
        self.target_length = (None if target_length is None
                              else check_target_length(target_length))
        self.info = dict(info or {})
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.file_names = structure_file_names(self.inputs)
        if casp_target is not None:
            names = {}
            for p in self.inputs:
                names.setdefault(os.path.basename(p), []).append(p)
            dup = {k: v for k, v in names.items() if len(v) > 1}
            if dup:
                k, v = next(iter(dup.items()))
                raise ValueError(f"--format casp: model name {k!r} is given by {len(v)} inputs "
                                 f"({', '.join(v[:3])}); a CASP QA file needs unique model "
                                 "names: score one target per run")
        self.counts = {"scored": 0, "failed": 0, "warnings": 0}
        self._casp = []
        self._files = {}
        self._lock_fh = None
        self._written = []
        self.started = None

    # -- folder -----------------------------------------------------------------------------
    def _prepare_folder(self):
        out = self.outdir
        if out.exists() and not out.is_dir():
            raise OutputError(f"output folder {out} exists and is not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") \
                from None
        try:
            self._lock_fh = open(out / LOCK_FILE, "a+")
        except OSError as exc:
            raise OutputError(f"output folder {out} is not writable: {exc.strerror or exc}") \
                from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.seek(0)
            holder = self._lock_fh.read().strip() or "unknown"
            self._lock_fh.close()
            self._lock_fh = None
            raise OutputError(f"output folder {out} is in use by another 'fourier6d score' run "
                              f"(pid {holder}); wait for it to finish or choose another -o") \
                from None
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(f"{os.getpid()}\n")
        self._lock_fh.flush()

    def _remove_previous(self):
        """Delete the result files of an earlier run (our files only)."""
        out = self.outdir
        names = set(_FIXED_FILES)
        try:
            old = json.loads((out / MANIFEST).read_text())
            names.update(n for n in old.get("files", []) if isinstance(n, str))
        except (OSError, ValueError, AttributeError):
            pass
        for entry in os.listdir(out):
            low = entry.lower()
            if low.endswith(("_lddt.pdb", "_lddt.cif")) and _is_our_structure_file(out / entry):
                names.add(entry)
            elif entry.startswith(".") and entry.endswith(".tmp"):
                names.add(entry)          # temporary file of a killed run
        for name in sorted(names):
            if os.path.basename(name) != name or name in ("", ".", "..", LOCK_FILE):
                continue
            path = out / name
            if path.is_file() or path.is_symlink():
                path.unlink()

    def _write_manifest(self, status):
        data = {"status": status, "started": self.started,
                "finished": None if status == "running" else _now(), "pid": os.getpid(),
                "n_inputs": len(self.inputs), "n_scored": self.counts["scored"],
                "n_failed": self.counts["failed"], "n_warnings": self.counts["warnings"],
                "files": sorted(set(self._written))}
        data.update(self.info)
        tmp = self.outdir / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.outdir / MANIFEST)

    def __enter__(self):
        self.started = _now()
        self._prepare_folder()
        try:
            self._remove_previous()
            for name, cols in OUTPUT_COLUMNS.items():
                fh = open(self.outdir / name, "w", newline="")
                fh.write(_csv_text([cols]))
                fh.flush()
                self._files[name] = fh
                self._written.append(name)
            self._written.append(MANIFEST)
            self._write_manifest("running")
        except OSError as exc:
            self._close_files()
            self._release()
            raise OutputError(f"cannot write to the output folder {self.outdir}: "
                              f"{exc.strerror or exc}") from None
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            status = "complete"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "failed"
        try:
            if self._casp and self.casp_target is not None:
                from .cli import write_casp_qa
                tmp = self.outdir / f".{CASP_FILE}.{os.getpid()}.tmp"
                write_casp_qa(tmp, self.casp_target, self._casp)
                os.replace(tmp, self.outdir / CASP_FILE)
                self._written.append(CASP_FILE)
            for fh in self._files.values():
                fh.flush()
                os.fsync(fh.fileno())
            self._write_manifest(status)
        finally:
            self._close_files()
            self._release()
        return False

    def _close_files(self):
        for fh in self._files.values():
            try:
                fh.close()
            except OSError:
                pass
        self._files = {}

    def _release(self):
        if self._lock_fh is not None:
            self._lock_fh.close()     # closing the descriptor drops the flock
            self._lock_fh = None

    # -- rows -------------------------------------------------------------------------------
    def _file_name(self, source):
        """The structure file name of ``source`` (inputs not given at construction get a name
        unused so far)."""
        if source not in self.file_names:
            used = {n.lower() for n in self.file_names.values()}
            name = structure_file_names([source])[source]
            if name.lower() in used:
                digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()
                name = name.replace("_lddt.pdb", f"__{digest[:8]}_lddt.pdb")
            self.file_names[source] = name
        return self.file_names[source]

    def _append(self, name, rows):
        fh = self._files[name]
        fh.write(_csv_text(rows))
        fh.flush()

    def warned(self, source, stage, message):
        """Record one warning about ``source`` (warnings.csv and the log)."""
        self.counts["warnings"] += 1
        self._append("warnings.csv", [[source, stage, message]])
        self.log(f"warning: {message}")

    def failed(self, source, stage, reason, warnings=()):
        """Record that ``source`` was not scored, with its own error (and its warnings)."""
        for w_stage, msg in warnings:
            self.warned(source, w_stage, msg)
        self.counts["failed"] += 1
        self._append("failures.csv", [[source, stage, reason]])
        self.log(f"failed: {reason}")

    def scored(self, source, structure, values, warnings=()):
        """Write the results of one scored input.

        Parameters
        ----------
        source : str
            The input's identity (path as given).
        structure : Structure
            The structure that was scored.
        values : ndarray, shape (structure.n_residues,)
            Predicted lDDT per residue (NaN = not scored).
        warnings : list of (stage, message)
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (structure.n_residues,) or not np.isfinite(values).any():
            raise ValueError(f"{source}: {values.shape} values with no finite one cannot be "
                             f"the scores of {structure.n_residues} residues")
        warnings = list(warnings)
        texts = [format_value(v) for v in values]
        rows = [[source, r + 1, str(structure.chain_ids[r]), int(structure.resnums[r]),
                 str(structure.icodes[r]), str(structure.resnames[r]), texts[r]]
                for r in range(structure.n_residues)]
        structure_file = ""
        if self.bfactor:
            try:
                written = write_bfactor_structure(structure, values,
                                                  self.outdir / self._file_name(source))
                structure_file = written.name
                self._written.append(structure_file)
            except (OSError, ValueError) as exc:
                warnings.append(("output", f"{source}: could not write the B-factor structure "
                                           f"file: {exc}"))
        score, cover = global_score(values), ""
        if self.target_length is not None:
            try:
                cover = coverage(len(values), self.target_length, source)
            except ValueError as exc:
                warnings.append(("global", f"{exc}; its global score is the mean over its "
                                           "residues (coverage taken as 1)"))
                cover = 1.0
            score *= cover
            cover = f"{cover:.4f}"
        if self.casp_target is not None:
            resnums, local, note = casp_positions(structure, values)
            if note:
                warnings.append(("casp", note))
            self._casp.append((os.path.basename(source), score, resnums, local))
        for stage, msg in warnings:
            self.warned(source, stage, msg)
        self._append("residue_scores.csv", rows)
        n_ok = int(np.isfinite(values).sum())
        self._append("scores.csv", [[source, f"{score:.4f}", n_ok, len(values),
                                     len(warnings), structure_file, cover]])
        self.counts["scored"] += 1
        return score


# ----------------------------------------------------------------------------- reading

def run_status(outdir):
    """Status of the run that wrote ``outdir``.

    Returns
    -------
    str
        ``'complete'``, ``'interrupted'``, ``'failed'``, ``'running'`` (the folder is locked by a
        live run), ``'killed'`` (``run.json`` says running but no process holds the lock: the run
        died, e.g. by SIGKILL; its rows are complete models) or ``'none'`` (no ``run.json``).
    """
    outdir = Path(outdir)
    try:
        status = json.loads((outdir / MANIFEST).read_text()).get("status", "none")
    except (OSError, ValueError, AttributeError):
        return "none"
    if status != "running":
        return status
    try:
        import fcntl
        with open(outdir / LOCK_FILE, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return "running"
    except (ImportError, OSError):  # pragma: no cover - not POSIX / unreadable
        return "running"
    return "killed"


def read_results(outdir):
    """The result files of a scoring run, as written (strings).

    Returns
    -------
    dict
        ``'status'`` (:func:`run_status`), ``'manifest'`` (``run.json`` as a dict, {} if absent)
        and, for each CSV file of :data:`OUTPUT_COLUMNS` (key without ``.csv``), its rows as
        dicts.  Rows of ``residue_scores.csv`` whose model has no ``scores.csv`` row (a model
        whose run died while writing it) are left out.
    """
    outdir = Path(outdir)
    out = {"status": run_status(outdir)}
    try:
        out["manifest"] = json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        out["manifest"] = {}
    for name in OUTPUT_COLUMNS:
        try:
            with open(outdir / name, newline="") as fh:
                out[name[:-4]] = list(csv.DictReader(fh))
        except OSError:
            out[name[:-4]] = []
    done = {r["model"] for r in out["scores"]}
    out["residue_scores"] = [r for r in out["residue_scores"] if r["model"] in done]
    return out
