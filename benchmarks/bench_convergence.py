"""Training to convergence, timed: a network trained on a subset of a decoy corpus, epoch by epoch,
and the time of a run on a larger corpus projected from it.

Natives are drawn (seeded) from the corpus until the subset holds ``--n-decoys`` decoys (whole
natives, so that no native is split); 20 % of them are held out.  The network trains for
``--epochs`` epochs with the estimator's defaults (ranking term, cosine schedule) and no early
stop, so that every epoch is recorded: seconds, training loss, held-out per-native Spearman of the
global score and held-out Pearson.  Converged: the first epoch whose held-out per-native Spearman
is within ``--tolerance`` of the best.  Projection to ``--project-decoys`` decoys: the measured
seconds per training decoy and epoch (featurization per minibatch, training and the held-out
scoring included) times that many decoys and the epochs to convergence (a larger corpus makes
more steps per epoch, so this is an upper bound on the epochs it needs).

    python benchmarks/bench_convergence.py --corpus CORPUS/main --n-decoys 1000 \\
        --architecture 6dcnn-2 --epochs 10
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fourier6d  # noqa: E402,F401  (before NumPy: it sets OpenBLAS's idle-thread timeout)
import numpy as np  # noqa: E402

from _common import append_results, machine_line  # noqa: E402


def choose_natives(groups, n_decoys, seed):
    """Indices of the decoys of natives drawn in a seeded order until ``n_decoys`` are taken."""
    names = np.array(sorted(set(groups.tolist())))
    order = np.random.default_rng(seed).permutation(len(names))
    keep, taken = [], 0
    for k in order:
        idx = np.flatnonzero(groups == names[k])
        keep.append(idx)
        taken += idx.size
        if taken >= n_decoys:
            break
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)


def converged_epoch(values, tolerance):
    """First (1-based) epoch whose value is within ``tolerance`` of the best (NaN-safe)."""
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).any():
        return None
    best = np.nanmax(v)
    return int(np.flatnonzero(np.nan_to_num(v, nan=-np.inf) >= best - tolerance)[0]) + 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", required=True, help="decoy corpus folder(s)")
    ap.add_argument("--n-decoys", type=int, default=1000)
    ap.add_argument("--architecture", default="6dcnn-2", choices=["baseline", "6dcnn-1", "6dcnn-2"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tolerance", type=float, default=0.01,
                    help="converged: held-out per-native Spearman within this of the best")
    ap.add_argument("--project-decoys", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-append", action="store_true", help="print only")
    args = ap.parse_args(argv)
    if args.n_decoys < 10 or args.epochs < 1:
        ap.error("--n-decoys must be >= 10 and --epochs >= 1")

    from estimators import SixDQAEstimator
    from estimators.training_data import load_corpus
    c = load_corpus(args.corpus)
    groups = np.asarray([str(g) for g in c.groups])
    pick = choose_natives(groups, args.n_decoys, args.seed)
    models = [c.models[i] for i in pick]
    labels = [(c.local[i], float(c.glob[i])) for i in pick]
    g = groups[pick]
    est = SixDQAEstimator(architecture=args.architecture, epochs=args.epochs, patience=None,
                          random_state=args.seed, n_jobs=1)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(models, labels, groups=g)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    hist = [h for h in est.history_ if "epoch" in h]
    n_train = est.n_train_models_
    rho = [h.get("val_group_spearman", np.nan) for h in hist]
    conv = converged_epoch(rho, args.tolerance)
    per_epoch = float(np.median([h["seconds"] for h in hist]))
    per_decoy_epoch = per_epoch / max(n_train, 1)
    steps = -(-n_train // est.batch_size)
    proj_epochs = conv or len(hist)
    proj = per_decoy_epoch * args.project_decoys * 0.8 * proj_epochs

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"{args.architecture}, {len(pick)} decoys of {len(set(g.tolist()))} natives "
             f"({n_train} training, {len(pick) - n_train} held out), {len(hist)} epochs, seed "
             f"{args.seed}, {when}; fit {wall:.0f} s wall, {cpu:.0f} s CPU", "",
             "| epoch | seconds | training loss | held-out per-native Spearman | held-out Pearson |",
             "|---:|---:|---:|---:|---:|"]
    for h in hist:
        lines.append(f"| {h['epoch']} | {h['seconds']:.0f} | {h['loss']:.4f} | "
                     f"{h.get('val_group_spearman', float('nan')):.3f} | "
                     f"{h.get('val_pearson', float('nan')):.3f} |")
    lines += ["", f"Converged (within {args.tolerance} of the best held-out per-native Spearman, "
                  f"{np.nanmax(rho):.3f}): epoch {conv} of {len(hist)}. Median epoch {per_epoch:.0f} s "
                  f"({steps} steps of {est.batch_size} models: {per_epoch / steps:.2f} s per step, "
                  f"featurization and held-out scoring included). Projected for "
                  f"{args.project_decoys:,} decoys (80 % trained on) and {proj_epochs} epochs: "
                  f"{proj / 60:.0f} min ({proj / 3600:.1f} h)."]
    text = "\n".join(lines)
    print(machine_line())
    print(text)
    if not args.no_append:
        append_results("Training to convergence (projection)", text,
                       notes=f"Rerun: `python benchmarks/bench_convergence.py --corpus CORPUS/main "
                             f"--n-decoys {args.n_decoys} --architecture {args.architecture} "
                             f"--epochs {args.epochs}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
