"""Realism of generated decoys: how well a classifier tells each decoy kind from real server models.

Usage::

    python benchmarks/decoy_realism.py [--n-natives 24] [--per-kind 4] [--kinds threaded misfold ...]
                                       [--corpus DIR] [--jobs 2] [--seed 0] [--relax-iterations 300]
                                       [--drop clashes_per_100 ...] [--no-append]

Real models: the 392 CASP13 server models (``shared/data/casp13``, global lDDT from ``labels.json``).
Decoys: ``--per-kind`` decoys of each kind for each of ``--n-natives`` natives drawn (seeded) from
``shared/data/natives`` and ``shared/data/natives_extra`` (templates of threaded decoys: all of
them), generated here with :func:`estimators.decoys.generate_series`, or the decoys of an existing
corpus folder (``--corpus``). Every model is described by the per-model geometry statistics of
:func:`estimators.decoys.realism.realism_features`; for each kind,
:func:`estimators.decoys.realism.realism_auc` matches decoys and real models in global-lDDT bins of
0.1 (equal numbers per bin) and reports the ROC AUC of a gradient-boosting classifier under a
stratified group 4-fold (natives and targets kept within one fold). AUC 0.5: the kind cannot be
told from real models by these statistics; 1.0: always told apart.

The table is printed and appended to ``benchmarks/RESULTS.md`` (``--no-append`` to print only).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import append_results, shared_data  # noqa: E402

from estimators.datasets import load_casp13  # noqa: E402
from estimators.decoys.realism import FEATURES, realism_auc, realism_features  # noqa: E402
from estimators.structures import read_structure  # noqa: E402

KINDS = ("threaded", "misfold", "topology", "shifted", "loops", "backbone", "hinge", "register",
         "sidechain", "overlay", "crushed", "clash", "expanded")


def _native_task(path, kinds, per_kind, seed, templates, relax_options):
    """Decoys of one native: [(kind, features, lDDT, group)]."""
    from estimators.decoys import generate_series
    from estimators.decoys.corpus import native_name, native_seed
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        native = read_structure(path)
        name = native_name(path)
        for kind in kinds:
            try:
                decoys = generate_series(native, per_kind, seed=native_seed(seed, name + kind),
                                         kinds=f"{kind}=1", templates=templates,
                                         relax_options=relax_options)
            except Exception as error:          # a native that cannot give this kind is reported
                print(f"  {name} {kind}: {type(error).__name__}: {error}", flush=True)
                continue
            for d in decoys:
                rows.append((kind, realism_features(d.structure(native)), d.lddt, name))
    return rows


def corpus_rows(folder):
    from estimators.decoys.corpus import read_corpus_file
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(Path(folder).glob("*.npz")):
            entry = read_corpus_file(path)
            for i in range(len(entry)):
                structure, _, score, kind = entry.sample(i)
                rows.append((kind.split("+")[0], realism_features(structure), score,
                             entry.native.name))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-natives", type=int, default=24)
    ap.add_argument("--per-kind", type=int, default=4, help="decoys per kind and native")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS))
    ap.add_argument("--corpus", default=None, help="use the decoys of this corpus folder instead")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--relax-iterations", type=int, default=None)
    ap.add_argument("--drop", nargs="+", default=[], choices=list(FEATURES), metavar="FEATURE",
                    help="also report the AUC without these features (which statistics give a "
                         "kind away)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)
    kept = [k for k, name in enumerate(FEATURES) if name not in set(args.drop)]
    t0 = time.time()

    data = load_casp13()
    real_x, real_y, real_g = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, score, target in zip(data.model_paths, data.lddt, data.targets):
            real_x.append(realism_features(read_structure(path)))
            real_y.append(score)
            real_g.append(target)
    real_x, real_y, real_g = np.array(real_x), np.array(real_y), np.array(real_g)
    print(f"{len(real_y)} CASP13 models: lDDT {real_y.min():.2f}-{real_y.max():.2f}", flush=True)

    if args.corpus:
        rows = corpus_rows(args.corpus)
        source = f"corpus {args.corpus}"
    else:
        from joblib import Parallel, delayed
        from estimators.decoys.corpus import expand_inputs
        root = shared_data()
        files = expand_inputs([root / "natives", root / "natives_extra"])
        rng = np.random.default_rng(args.seed)
        chosen = [files[k] for k in sorted(rng.choice(len(files), args.n_natives, replace=False))]
        relax_options = {"max_iterations": args.relax_iterations} if args.relax_iterations else None
        parts = Parallel(n_jobs=args.jobs, verbose=5)(
            delayed(_native_task)(path, args.kinds, args.per_kind, args.seed, files, relax_options)
            for path in chosen)
        rows = [r for part in parts for r in part]
        source = (f"{args.per_kind} per kind for each of {args.n_natives} natives (seed "
                  f"{args.seed}) from natives/ and natives_extra/")

    without = f"ROC AUC without {', '.join(args.drop)}"

    def aucs(x, y, g):
        """(AUC, matched per class, AUC without the dropped features: '' when none)."""
        auc, n = realism_auc(x, y, g, real_x, real_y, real_g, seed=args.seed)
        if not args.drop:
            return auc, n, ""
        auc_kept, _ = realism_auc(x[:, kept], y, g, real_x[:, kept], real_y, real_g,
                                  seed=args.seed)
        return auc, n, f" {auc_kept:.3f} |"

    lines = ["| decoys | n | lDDT median (range) | matched per class | ROC AUC |"
             + (f" {without} |" if args.drop else ""),
             "|---|---:|---|---:|---:|" + ("---:|" if args.drop else "")]
    feature_rows = []
    all_x, all_y, all_g = [], [], []
    for kind in args.kinds:
        sel = [r for r in rows if r[0] == kind]
        if not sel:
            continue
        x = np.array([r[1] for r in sel])
        y = np.array([r[2] for r in sel])
        g = np.array([r[3] for r in sel])
        all_x.append(x)
        all_y.append(y)
        all_g.append(g)
        auc, n, extra = aucs(x, y, g)
        lines.append(f"| {kind} | {len(sel)} | {np.median(y):.2f} ({y.min():.2f}-{y.max():.2f}) | "
                     f"{n} | {auc:.3f} |{extra}")
        feature_rows.append((kind, np.median(x, axis=0)))
    if all_x:
        x, y, g = np.vstack(all_x), np.concatenate(all_y), np.concatenate(all_g)
        auc, n, extra = aucs(x, y, g)
        lines.append(f"| all kinds together | {len(y)} | {np.median(y):.2f} ({y.min():.2f}-"
                     f"{y.max():.2f}) | {n} | {auc:.3f} |{extra}")
    table = "\n".join(lines)
    medians = ["| | " + " | ".join(FEATURES) + " |", "|---" * (len(FEATURES) + 1) + "|",
               "| CASP13 models | " + " | ".join(f"{v:.3g}" for v in np.median(real_x, 0)) + " |"]
    medians += [f"| {k} | " + " | ".join(f"{v:.3g}" for v in m) + " |" for k, m in feature_rows]
    notes = (f"Decoys: {source}. Real: {len(real_y)} CASP13 server models. Features: "
             f"{', '.join(FEATURES)}. Wall time {time.time() - t0:.0f} s.\n\nMedian features:\n\n"
             + "\n".join(medians))
    print(table)
    print(notes)
    if not args.no_append:
        append_results("Decoy realism (run)", table, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
