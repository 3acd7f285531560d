"""The ``fourier6d`` command line: score, train, evaluate, featurize."""
from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main", "collect_inputs", "lddt_to_distance_error", "write_casp_qa"]

_STRUCT_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb.gz", ".ent.gz", ".cif.gz", ".mmcif.gz")


def collect_inputs(items):
    """Expand files, directories (all files inside, sorted) and glob patterns."""
    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(str(q) for q in p.iterdir() if q.is_file() and not q.name.startswith(".")))
        elif any(ch in item for ch in "*?[") and not p.exists():
            hits = sorted(glob.glob(item))
            if not hits:
                out.append(item)  # reported as unreadable later
            out.extend(hits)
        else:
            out.append(item)
    return out


def lddt_to_distance_error(lddt, cap=15.0):
    """CASP QMODE 2 distance error from lDDT: d = 5 sqrt(1/lDDT - 1), capped (Angstrom)."""
    lddt = np.asarray(lddt, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = 5.0 * np.sqrt(1.0 / np.clip(lddt, 1e-6, 1.0) - 1.0)
    return np.minimum(d, cap)


def write_casp_qa(path, target, entries, author="fourier6d", method="6DCNN (fourier6d)"):
    """Write a CASP QA file (PFRMAT QA, QMODE 2).

    ``entries``: list of (model_name, global_score, resnums, per_residue_lddt).
    Per-residue errors are listed for sequence positions 1..max(resnum); 'X' where unknown.
    """
    lines = ["PFRMAT QA", f"TARGET {target}", f"AUTHOR {author}", f"METHOD {method}",
             "MODEL 1", "QMODE 2"]
    for name, score, resnums, local in entries:
        resnums = np.asarray(resnums, dtype=int)
        n = int(resnums.max()) if len(resnums) else 0
        errs = ["X"] * n
        dist = lddt_to_distance_error(local)
        for r, v, d in zip(resnums, local, dist):
            if r >= 1 and np.isfinite(v):
                errs[r - 1] = f"{d:.2f}"
        body = " ".join(errs)
        lines.append(f"{name} {score:.4f} {body}".rstrip())
    lines.append("END")
    Path(path).write_text("\n".join(lines) + "\n")


def _cmd_score(args):
    from .batch_scoring import score_inputs
    from .scoring_output import ResultWriter, expand_inputs
    inputs, problems = expand_inputs(args.models, outdir=args.outdir)
    if not inputs and not any(m.startswith("error") for _, _, m in problems):
        raise _UsageError("no input models given")
    if args.format != "casp" and args.target:
        raise _UsageError("--target is used only with --format casp")
    if args.format == "casp" and not args.target:
        raise _UsageError("--format casp needs --target (the TARGET line of casp_qa.txt)")
    if args.jobs == 0 or args.jobs < -1:
        raise _UsageError(f"--jobs must be >= 1 (or -1: one per CPU), got {args.jobs}")
    est = _load_estimator(args.model)
    est.set_params(n_jobs=1, device=args.device, errors="raise", verbose=0)
    est._xp_dtype()           # an unusable --device is an error before any scoring
    bar = []                  # the progress bar, once the output folder is ready

    def say(line, stream):
        try:
            (bar[0].write if bar else print)(line, file=stream)
        except BrokenPipeError:   # e.g. '| head': stop printing, keep scoring into the files
            stream_fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(stream_fd, stream.fileno())

    info = {"command": "fourier6d score " + " ".join(args.models),
            "model_file": args.model or "pretrained", "device": args.device}
    writer = ResultWriter(args.outdir, inputs, bfactor=args.bfactor, info=info,
                          log=lambda line: say(line, sys.stderr),
                          casp_target=args.target if args.format == "casp" else None)
    restore = _sigterm_interrupts()
    try:
        with writer:
            if args.progress and inputs:
                from tqdm.auto import tqdm
                bar.append(tqdm(total=len(inputs), desc="scoring", unit="model"))
            for item, stage, msg in problems:
                kind, _, text = msg.partition(": ")
                if kind == "error":
                    writer.failed(item, stage, text)
                else:
                    writer.warned(item, stage, text)
            for o in score_inputs(est, inputs, n_jobs=args.jobs):
                if o.ok:
                    writer.scored(o.source, o.structure, o.values, o.warnings)
                    say(f"{o.source}\t{np.nanmean(o.values):.4f}\t"
                        f"{int(np.isfinite(o.values).sum())}/{len(o.values)} residues", sys.stdout)
                else:
                    writer.failed(o.source, o.stage, o.reason, o.warnings)
                if bar:
                    bar[0].update(1)
    finally:
        restore()
        if bar:
            bar[0].close()
    c = writer.counts
    print(f"scored {c['scored']} of {len(inputs)} input(s); {c['failed']} failed "
          f"(failures.csv), {c['warnings']} warning(s) (warnings.csv); results in {writer.outdir}",
          file=sys.stderr)
    if c["scored"] == 0 or (args.strict and c["failed"]):
        return 1
    return 0


def _sigterm_interrupts():
    """Make SIGTERM end the run like Ctrl-C (results kept, run.json 'interrupted');
    returns the function that restores the previous handler."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


class _UsageError(ValueError):
    """A command-line mistake (one line on standard error, exit status 2)."""


def _load_estimator(model):
    """The estimator of ``--model`` (or the shipped one); one-line errors."""
    from .pretrained import load_pretrained
    from .qa_estimator import SixDQAEstimator
    if not model:
        return load_pretrained()
    return SixDQAEstimator.load(model)


def _cmd_featurize(args):
    from .featurizer import StructureFeaturizer
    inputs = collect_inputs(args.models)
    fz = StructureFeaturizer(lmax=args.lmax, n_radial=args.n_radial, sigma=args.sigma,
                             r_max=args.r_max, n_jobs=args.jobs, verbose=1, errors="warn",
                             cache_dir=args.outdir)
    feats = fz.transform(inputs)
    n_ok = sum(f is not None for f in feats)
    n_res = sum(len(f.residue_index) for f in feats if f is not None)
    print(f"featurized {n_ok}/{len(inputs)} models, {n_res} residues; cache in {args.outdir}")
    return 0 if n_ok else 1


def _cmd_train(args):
    from .training_data import training_set
    from .qa_estimator import SixDQAEstimator
    models, local, glob, groups = training_set(casp13=args.casp13, corpus=args.corpus,
                                               exclude_targets=args.exclude_target)
    labels = list(zip(local, glob))
    est = SixDQAEstimator(architecture=args.architecture, epochs=args.epochs,
                          learning_rate=args.learning_rate, n_jobs=args.jobs, device=args.device,
                          random_state=args.seed, verbose=1)
    est.fit(models, labels, groups=groups)
    est.save(args.output)
    print(f"saved {args.output} ({est.n_params_} parameters, {len(est.history_)} epochs)")
    return 0


def _cmd_evaluate(args):
    from .datasets import load_casp13
    from .metrics import qa_metrics, format_table
    data = load_casp13(args.casp13 or None)
    with open(args.predictions) as fh:
        rows = list(csv.DictReader(fh))
    # scores.csv identifies models by their input path: match by real path (the file name only
    # where it is unique in scores.csv, e.g. scores of copies of the models)
    by_path = {os.path.realpath(r["model"]): float(r["global_score"]) for r in rows}
    by_name = {}
    for r in rows:
        by_name.setdefault(Path(r["model"]).name, []).append(float(r["global_score"]))
    p = np.array([by_path.get(os.path.realpath(q),
                              by_name[Path(q).name][0] if len(by_name.get(Path(q).name, [])) == 1
                              else np.nan) for q in data.model_paths])
    m = qa_metrics(p, np.asarray(data.lddt), np.asarray(data.targets))
    print(format_table({Path(args.predictions).stem: m}))
    return 0


def build_parser():
    ap = argparse.ArgumentParser(prog="fourier6d", description="6DCNN protein model quality assessment")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="predict per-residue and global lDDT of models")
    s.add_argument("models", nargs="+", help="model files, directories or glob patterns")
    s.add_argument("-o", "--outdir", default="fourier6d_scores",
                   help="output folder: scores.csv, residue_scores.csv, failures.csv, "
                        "warnings.csv, <model>_lddt.pdb, run.json (a run replaces the results of "
                        "an earlier run there; a folder in use by another run is refused)")
    s.add_argument("--model", help="a saved model (.npz); default: the shipped pretrained model")
    s.add_argument("--format", choices=["default", "casp"], default="default",
                   help="'casp': also write casp_qa.txt (CASP QA format, QMODE 2)")
    s.add_argument("--target", help="target name (required with --format casp)")
    s.add_argument("--jobs", type=int, default=1, help="processes reading the input files")
    s.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    s.add_argument("--no-bfactor", dest="bfactor", action="store_false",
                   help="do not write the <model>_lddt.pdb files")
    s.add_argument("--strict", action="store_true",
                   help="exit with status 1 when any input failed (default: only when none "
                        "was scored)")
    s.add_argument("--no-progress", dest="progress", action="store_false")
    s.set_defaults(func=_cmd_score)
    f = sub.add_parser("featurize", help="compute and cache 6DCNN features")
    f.add_argument("models", nargs="+")
    f.add_argument("-o", "--outdir", default="fourier6d_features")
    f.add_argument("--lmax", type=int, default=4)
    f.add_argument("--n-radial", type=int, default=5)
    f.add_argument("--sigma", type=float, default=2.0)
    f.add_argument("--r-max", type=float, default=8.0)
    f.add_argument("--jobs", type=int, default=1)
    f.set_defaults(func=_cmd_featurize)
    t = sub.add_parser("train", help="train a model on CASP13 (+ optional decoy corpus)")
    t.add_argument("-o", "--output", required=True)
    t.add_argument("--architecture", default="6dcnn-1")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--casp13", help="casp13 data folder (default: ../shared/data/casp13)")
    t.add_argument("--corpus", help="decoy corpus folder (optional)")
    t.add_argument("--exclude-target", action="append", default=[])
    t.add_argument("--jobs", type=int, default=1)
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_cmd_train)
    e = sub.add_parser("evaluate", help="metrics table of a scores.csv against CASP13 labels")
    e.add_argument("predictions", help="scores.csv written by 'fourier6d score'")
    e.add_argument("--casp13")
    e.set_defaults(func=_cmd_evaluate)
    return ap


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings of the command line: one line, no source file and line of the library."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr if file is None else file)


def main(argv=None):
    """Run the command line; errors are one line on standard error (``--debug``: traceback).

    Exit status: 0 success, 1 nothing scored (or, with ``score --strict``, any input failed),
    2 a usage or setup error (bad option, model file, output folder, device), 130 interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv                   # accepted anywhere on the command line
    ap = build_parser()
    ap.add_argument("--debug", action="store_true",
                    help="show the traceback of an error (accepted after the command too)")
    args = ap.parse_args([a for a in argv if a != "--debug"])
    if debug:
        return args.func(args)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except (Exception, MemoryError) as exc:
            text = " ".join(str(exc).split()) or exc.__class__.__name__
            if not isinstance(exc, (ValueError, OSError, RuntimeError, ImportError)):
                text = f"{exc.__class__.__name__}: {text}"
            print(f"error: {text}", file=sys.stderr)
            return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
