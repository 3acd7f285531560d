"""The ``fourier6d`` command line: score, train, combine, evaluate."""
from __future__ import annotations

import argparse
import glob
import os
import sys
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main", "collect_inputs", "compile_notice", "lddt_to_distance_error", "write_casp_qa"]

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


def _networks(est):
    """The single networks of a fitted estimator: the members of a seed ensemble, or itself."""
    return getattr(est, "estimators_", [est])


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
    from .global_score import check_target_length, sequence_length
    target_length = None
    try:
        if args.sequence is not None:
            target_length = sequence_length(args.sequence)
        elif args.target_length is not None:
            target_length = check_target_length(args.target_length, "--target-length")
    except ValueError as error:
        raise _UsageError(str(error)) from None
    est = _load_estimator(args.model, **({} if args.local_smoothing is None
                                         else {"local_smoothing": args.local_smoothing}))
    est.set_runtime(n_jobs=1, device=args.device, errors="raise", verbose=0)
    est._xp_dtype()           # an unusable --device is an error before any scoring
    bar = []                  # the progress bar, once the output folder is ready

    def say(line, stream):
        try:
            (bar[0].write if bar else print)(line, file=stream)
        except BrokenPipeError:   # e.g. '| head': stop printing, keep scoring into the files
            stream_fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(stream_fd, stream.fileno())

    members = _networks(est)
    info = {"command": "fourier6d score " + " ".join(args.models),
            "model_file": args.model or "pretrained", "device": args.device,
            "local_smoothing": float(members[0].local_smoothing),
            "local_refinement": members[0].applies_refinements()["local_refinement"],
            "score_offset": float(getattr(est, "score_offset", 0.0)),
            "target_length": target_length}
    writer = ResultWriter(args.outdir, inputs, bfactor=args.bfactor, info=info,
                          log=lambda line: say(line, sys.stderr),
                          casp_target=args.target if args.format == "casp" else None,
                          target_length=target_length)
    restore = _sigterm_interrupts()
    try:
        with writer:
            from .report import remove_report
            remove_report(writer.outdir)          # a report of an earlier run there is stale
            if args.progress and inputs:
                from tqdm.auto import tqdm
                bar.append(tqdm(total=len(inputs), desc="scoring", unit="model"))
            for item, stage, msg in problems:
                kind, _, text = msg.partition(": ")
                if kind == "error":
                    writer.failed(item, stage, text)
                else:
                    writer.warned(item, stage, text)
            notice = compile_notice(write=lambda line: say(line, sys.stderr))
            for o in _with_notice(score_inputs(est, inputs), notice):
                if o.ok:
                    score = writer.scored(o.source, o.structure, o.values, o.warnings)
                    say(f"{o.source}\t{score:.4f}\t"
                        f"{int(np.isfinite(o.values).sum())}/{len(o.values)} residues", sys.stdout)
                else:
                    writer.failed(o.source, o.stage, o.reason, o.warnings)
                if bar:
                    bar[0].update(1)
            if args.report:
                from .report import write_report
                if bar:
                    bar[0].close()
                    bar.clear()
                index = write_report(writer.outdir, log=lambda line: say(line, sys.stderr))
                say(f"report: {index}", sys.stderr)
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


def _with_notice(items, notice):
    """Iterate ``items`` (a generator that scores) inside ``notice`` (:class:`compile_notice`)."""
    with notice:
        yield from items


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


class compile_notice:
    """Context manager: one line on standard error when Numba starts compiling kernels.

    The kernels compile on first use after installation (15-30 s) and are cached on disk
    afterwards, so later runs print nothing.  Uses Numba's event API (``numba:compile``);
    without Numba it does nothing.
    """

    def __init__(self, write=None):
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._listener = None

    def __enter__(self):
        try:
            from numba.core import event
        except ImportError:            # pragma: no cover - numba is a dependency
            return self
        write = self.write
        said = []

        class _Notice(event.Listener):
            def on_start(self, ev):
                if not said:
                    said.append(True)
                    write("compiling the Numba kernels on first use (once per installation, "
                          "15-30 s)...")

            def on_end(self, ev):
                pass

        self._listener = _Notice()
        event.register("numba:compile", self._listener)
        return self

    def __exit__(self, *exc):
        if self._listener is not None:
            from numba.core import event
            event.unregister("numba:compile", self._listener)
            self._listener = None
        return False


class _UsageError(ValueError):
    """A command-line mistake (one line on standard error, exit status 2)."""


def _load_estimator(model, **overrides):
    """The estimator of ``--model`` (or the shipped one), with ``overrides`` of its stored
    parameters; one-line errors."""
    from .pretrained import load_model, load_pretrained
    if not model:
        return load_pretrained(**overrides)
    return load_model(model, **overrides)


def _casp13_folder(option_value):
    """The CASP13 folder of ``--casp13`` (or $FOURIER6D_SHARED); a one-line error naming the
    option when there is none."""
    from .datasets import resolve_casp13_root
    if not option_value and not os.environ.get("FOURIER6D_SHARED"):
        raise _UsageError("no CASP13 data given: pass --casp13 PATH (a folder with "
                          "<target>/labels.json and <target>/models/) or set FOURIER6D_SHARED")
    try:
        return resolve_casp13_root(option_value or None)
    except FileNotFoundError:
        where = option_value or f"FOURIER6D_SHARED={os.environ.get('FOURIER6D_SHARED')}"
        raise _UsageError(f"no CASP13 data at {where}: --casp13 needs a folder with "
                          "<target>/labels.json and <target>/models/") from None


def _training_inputs(args):
    """(models, labels, groups) of the training data options (--casp13, --corpus,
    --exclude-target) of train and refine."""
    from .training_data import training_set
    casp13 = _casp13_folder(args.casp13)
    for folder in args.corpus or ():
        if not os.path.isdir(folder):
            raise _UsageError(f"--corpus {folder}: not a folder (a decoy corpus written by "
                              "python -m estimators.decoys.corpus)")
    models, local, glob, groups = training_set(casp13=casp13, corpus=args.corpus,
                                               exclude_targets=args.exclude_target)
    return models, list(zip(local, glob)), groups


def _cmd_train(args):
    from .qa_estimator import SixDQAEstimator
    models, labels, groups = _training_inputs(args)
    seeds = list(dict.fromkeys(args.seeds or [args.seed]))
    ensemble = len(seeds) > 1
    # an ensemble trains --jobs networks at a time, one featurization worker each
    est = SixDQAEstimator(architecture=args.architecture, epochs=args.epochs,
                          patience=args.patience,
                          learning_rate=args.learning_rate, n_jobs=1 if ensemble else args.jobs,
                          device=args.device, random_state=seeds[0],
                          verbose=0 if ensemble and args.jobs != 1 else 1,
                          checkpoint_dir=args.checkpoint_dir,
                          **({} if args.local_refinement is None
                             else {"local_refinement": args.local_refinement}))
    if ensemble:
        from .ensemble import SeedEnsembleQAEstimator
        est = SeedEnsembleQAEstimator(est, seeds=tuple(seeds), n_jobs=args.jobs)
    with compile_notice():
        est.fit(models, labels, groups=groups)
    est.save(args.output)
    histories = est.history_ if ensemble else [est.history_]
    members = _networks(est)
    refined = sum(e.applies_refinements()["local_refinement"] for e in members)
    print(f"saved {args.output} ({len(histories)} network(s), {est.n_params_} parameters, "
          f"{'/'.join(str(len(h)) for h in histories)} epochs; within-model refinement fitted "
          f"for {refined} of {len(members)} on held-out groups)")
    return 0


def _cmd_refine(args):
    from .pretrained import load_model
    switches = {k: v for k, v in (("local_refinement", args.local_refinement),
                                  ("global_refinement", args.global_refinement)) if v is not None}
    if not any(switches.values()):
        raise _UsageError("nothing to fit: give --local-refinement and/or --global-refinement")
    est = load_model(args.model_file)
    models, labels, groups = _training_inputs(args)
    with compile_notice():
        if hasattr(est, "estimators_"):
            est.fit_refinements(models, labels, groups=groups, **switches)
        else:
            est.set_params(**switches).fit_refinements(models, labels, groups=groups)
    est.save(args.output)
    members = _networks(est)
    print(f"saved {args.output}: {len(members)} network(s), refinements fitted on the models "
          f"each network's fit held out: {', '.join(k for k, v in switches.items() if v)}")
    return 0


def _cmd_combine(args):
    from .ensemble import SeedEnsembleQAEstimator
    from .pretrained import load_model
    if os.path.abspath(args.output) in {os.path.abspath(f) for f in args.models}:
        raise _UsageError(f"-o {args.output}: would overwrite one of the model files combined")
    from .score_offset import check_score_offset
    try:
        offset = check_score_offset(args.score_offset, "--score-offset")
    except ValueError as error:
        raise _UsageError(str(error)) from None
    est = SeedEnsembleQAEstimator.from_estimators([load_model(f) for f in args.models])
    est.set_params(score_offset=offset).save(args.output)
    print(f"saved {args.output} ({len(est.estimators_)} networks, seeds "
          f"{', '.join(map(str, est.seeds))}, {est.n_params_} parameters"
          + (f", score offset {offset:+.4f}" if offset else "") + ")")
    return 0


def _cmd_evaluate(args):
    import json
    from .evaluation import evaluate, format_evaluation
    labels = args.labels
    if not labels:
        if not os.environ.get("FOURIER6D_SHARED"):
            raise _UsageError("no labels given: pass --labels PATH (a CASP13-style folder with "
                              "<target>/labels.json, or a CSV with columns model,lddt[,target])")
        labels = os.environ["FOURIER6D_SHARED"]
    result = evaluate(args.scores, labels, residue_labels=args.residue_labels,
                      model_file=args.model)
    if args.json:
        print(json.dumps(result, indent=1))
        for line in format_evaluation(result).splitlines():
            if line.startswith("warning:"):
                print(line, file=sys.stderr)
    else:
        print(format_evaluation(result), end="")
    return 0


def _smoothing_width(text):
    """argparse type of --local-smoothing (:func:`estimators.smoothing.check_width`)."""
    from .smoothing import check_width
    try:
        return check_width(text, "SIGMA")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_training_data_options(parser):
    """--casp13, --corpus and --exclude-target: the training data of train and refine."""
    parser.add_argument("--casp13", metavar="PATH",
                        help="the CASP13 folder (<target>/labels.json, <target>/models/), or a "
                             "folder holding casp13/ or data/casp13/ (default: "
                             "$FOURIER6D_SHARED when set; otherwise required)")
    parser.add_argument("--corpus", metavar="DIR", nargs="+",
                        help="decoy corpus folder(s) written by python -m "
                             "estimators.decoys.corpus; decoys of one native in several "
                             "folders form one group (default: none)")
    parser.add_argument("--exclude-target", action="append", default=[], metavar="ID",
                        help="leave this CASP13 target out of training; repeat for several "
                             "(default: none)")


def build_parser():
    from .architectures import ARCHITECTURES
    ap = argparse.ArgumentParser(
        prog="fourier6d", description="6DCNN protein model quality assessment: per-residue and "
        "global lDDT of protein models predicted by a rotation-equivariant network.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("score", help="predict per-residue and global lDDT of models",
                       description="Predict the per-residue and global lDDT of each model.")
    s.add_argument("models", nargs="+", metavar="MODEL",
                   help="model files (PDB or mmCIF, optionally gzipped, with or without "
                        "extension), directories (every file inside) or quoted glob patterns")
    s.add_argument("-o", "--outdir", default="fourier6d_scores", metavar="DIR",
                   help="output folder: scores.csv, residue_scores.csv, failures.csv, "
                        "warnings.csv, <model>_lddt.pdb, run.json; a run replaces the results "
                        "of an earlier run there, and a folder in use by another run is refused "
                        "(default: %(default)s)")
    s.add_argument("--model", metavar="FILE",
                   help="a model file written by 'fourier6d train' or SixDQAEstimator.save "
                        "(default: the pretrained model shipped with the package, two 6DCNN-2 "
                        "networks averaged)")
    s.add_argument("--local-smoothing", type=_smoothing_width, default=None, metavar="SIGMA",
                   help="width in residues of the Gaussian that smooths the per-residue scores "
                        "along the chain; 0 = no smoothing (default: the model's setting)")
    s.add_argument("--format", choices=["default", "casp"], default="default",
                   help="'casp' also writes casp_qa.txt (CASP QA format, QMODE 2) and needs "
                        "--target (choices: %(choices)s; default: %(default)s)")
    s.add_argument("--target", metavar="ID",
                   help="target id for the TARGET line of casp_qa.txt (required with --format "
                        "casp, not accepted otherwise; default: none)")
    length = s.add_mutually_exclusive_group()
    length.add_argument("--sequence", metavar="FASTA",
                        help="the target's sequence (one FASTA record): every model is a model "
                             "of it, and a model's global score counts the residues it lacks as "
                             "0, as CASP's global lDDT does (its mean times its coverage, written "
                             "in the coverage column; default: the mean over its residues)")
    length.add_argument("--target-length", type=int, metavar="N",
                        help="the same with the target's number of residues given directly "
                             "(default: none, the mean over each model's residues)")
    s.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the network runs; 'cuda' needs CuPy (pip install "
                        "'fourier6d[gpu]') (choices: %(choices)s; default: %(default)s)")
    s.add_argument("--no-bfactor", dest="bfactor", action="store_false",
                   help="do not write the <model>_lddt.pdb files (default: write them)")
    s.add_argument("--strict", action="store_true",
                   help="exit with status 1 when any input failed (default: only when none "
                        "was scored)")
    s.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on standard error (default: show it)")
    s.add_argument("--report", action="store_true",
                   help="also write index.html in the output folder: the models ranked by "
                        "global score, a per-residue profile plot of each (report/*.png) and "
                        "links to the B-factor structure files (default: no report)")
    s.set_defaults(func=_cmd_score)
    t = sub.add_parser("train", help="train a model on CASP13 server models (+ a decoy corpus)",
                       description="Train a network on the CASP13 server models and their "
                                   "lDDT labels, optionally with a decoy corpus.")
    t.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="model file to write (.npz; required)")
    _add_training_data_options(t)
    t.add_argument("--architecture", default="6dcnn-1", choices=sorted(ARCHITECTURES),
                   help="network (choices: %(choices)s; default: %(default)s)")
    t.add_argument("--epochs", type=int, default=20, metavar="N",
                   help="training epochs at most (early stopping on held-out targets; "
                        "default: %(default)s)")
    t.add_argument("--patience", type=int, default=5, metavar="N",
                   help="stop after N epochs without a better held-out per-group Spearman "
                        "(default: %(default)s)")
    t.add_argument("--learning-rate", type=float, default=1e-3, metavar="LR",
                   help="Adam learning rate (default: %(default)s)")
    t.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="parallel featurization workers (with --seeds: networks trained at "
                        "a time); -1: one per CPU (default: %(default)s)")
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the network trains (choices: %(choices)s; default: %(default)s)")
    t.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed of initialisation and minibatches (default: %(default)s)")
    t.add_argument("--local-refinement", action=argparse.BooleanOptionalAction, default=None,
                   help="fit the within-model refinement of the per-residue scores "
                        "(estimators.local_refinement) on the held-out groups (an error when "
                        "none are held out), or not; the model file keeps it and score applies "
                        "it (default: not fitted, as SixDQAEstimator(local_refinement=False); "
                        "--local-refinement requires held-out groups)")
    t.add_argument("--checkpoint-dir", metavar="DIR",
                   help="save the training state here after every epoch; the same command "
                        "run again after an interruption goes on from the last saved epoch and "
                        "writes the model an uninterrupted run writes (default: none)")
    t.add_argument("--seeds", type=int, nargs="+", metavar="N",
                   help="train a seed ensemble: one network per seed, their predictions "
                        "averaged, saved to one model file; --jobs networks train at a time "
                        "(default: one network, --seed)")
    t.set_defaults(func=_cmd_train)
    r = sub.add_parser("refine", help="fit the refinements of a trained model again, "
                                      "without training its networks",
                       description="Fit the within-model refinement of the per-residue scores "
                                   "(and/or the global refinement) of each network of a model "
                                   "file on the models its fit held out, given the training "
                                   "data of that fit (the same options as train); the networks "
                                   "are not trained again.")
    r.add_argument("model_file", metavar="MODEL", help="model file written by train")
    r.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="model file to write (.npz; required)")
    _add_training_data_options(r)
    r.add_argument("--local-refinement", action=argparse.BooleanOptionalAction, default=None,
                   help="fit the within-model refinement (estimators.local_refinement); "
                        "--no-local-refinement drops it (default: leave it as it is)")
    r.add_argument("--global-refinement", action=argparse.BooleanOptionalAction, default=None,
                   help="fit the global refinement (estimators.global_refinement); "
                        "--no-global-refinement drops it (default: leave it as it is)")
    r.set_defaults(func=_cmd_refine)
    c = sub.add_parser("combine", help="average the networks of several model files",
                       description="Write one model file holding the networks of several, "
                                   "trained separately with one architecture and different "
                                   "seeds (e.g. 'fourier6d train --seed N' once per seed); "
                                   "'score' averages their per-residue predictions.")
    c.add_argument("models", nargs="+", metavar="MODEL_FILE",
                   help="model files written by 'fourier6d train' (two networks at least, "
                        "all with different seeds)")
    c.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="model file to write (.npz; required)")
    c.add_argument("--score-offset", type=float, default=0.0, metavar="DELTA",
                   help="added to every per-residue score of the mean, clipped to [0, 1] "
                        "(estimators.score_offset: a calibration fitted on predictions of "
                        "models the networks did not see; default 0)")
    c.set_defaults(func=_cmd_combine)
    e = sub.add_parser("evaluate", help="metrics of a scores.csv against true lDDT labels",
                       description="Match the models of a scores.csv to their labels by their "
                                   "path (never by bare file name) and print how many matched, "
                                   "the pooled and per-target metrics, and whether the scoring "
                                   "model was trained on the evaluated targets.")
    e.add_argument("scores", metavar="SCORES",
                   help="scores.csv written by 'fourier6d score' (residue_scores.csv next to it "
                        "gives the local metrics)")
    e.add_argument("--labels", metavar="PATH",
                   help="a CASP13-style folder (<target>/labels.json, models matched by their "
                        "path <target>/models/<name>) or a CSV with columns model,lddt[,target] "
                        "(models matched by path) (default: $FOURIER6D_SHARED when set; "
                        "otherwise required)")
    e.add_argument("--residue-labels", metavar="CSV",
                   help="with a CSV of labels: per-residue labels, columns "
                        "model,resnum,lddt[,chain,icode] (default: none, no local metrics)")
    e.add_argument("--model", metavar="FILE",
                   help="the model file that produced the scores, to check its training targets "
                        "('pretrained' for the shipped one; default: the one recorded in run.json "
                        "next to SCORES)")
    e.add_argument("--json", action="store_true",
                   help="print one JSON object (n_matched, unmatched, pooled, per_target keyed "
                        "by target, training_overlap) instead of tables (default: tables)")
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
