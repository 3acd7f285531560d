"""Quality assessment on CASP13 by leave-one-target-out: our networks next to VoroMQA and ResNetQA.

Usage::

    python benchmarks/qa_casp13.py [--architectures baseline 6dcnn-1 6dcnn-2] [--epochs 10]
                                   [--corpus DIR] [--jobs 2] [--device cpu] [--quick]
                                   [--out benchmarks/RESULTS.md] [--figures benchmarks/figures]
                                   [--predictions run.npz] [--include earlier.npz ...]
                                   [--mean-of METHOD METHOD ...]

``--folds T1006 ...`` trains and predicts only those leave-one-target-out folds (the other
targets' models get no prediction), so the four folds can run as separate, resumable jobs, one
``--predictions`` file each; a run with ``--include`` of the fold files joins them (a method
that several files predicted on disjoint models becomes one) and scores the whole table.
``--predictions`` saves every method's per-model predictions; ``--include`` adds the methods of
such files from earlier runs and ``--mean-of`` averages the per-residue predictions of several
methods (an ensemble of networks trained in separate runs, e.g. of different architectures).
With ``--architectures`` and no name, nothing is trained: the run only scores the peers and the
included methods.

For each of the four CASP13 targets (392 server models, ``shared/data/casp13``), a
:class:`estimators.SixDQAEstimator` of each architecture is trained on the models of the other three
targets (plus the decoys of ``--corpus``, if given), with the targets as groups so that early stopping
validates on a held-out *target*, and predicts the per-residue and global lDDT of the held-out target.
Nothing is tuned on the test target: all settings are fixed on the command line before the run.

Peers scored in the same run on the same models:

* VoroMQA (``voronota-voromqa``, global and per-residue scores; see ``benchmarks/voromqa.py``),
* ResNetQA (its published CASP13 predictions, stored in ``labels.json``).

Truth: the CASP13 global lDDT (``lddt``) and per-residue lDDT (``lddt_local``) of each model, the
latter aligned to the model's residues by residue number.  Metrics: :func:`estimators.metrics.qa_metrics`
(the paper's Tables 1-2 and local-score columns).  The table is printed and appended to
``benchmarks/RESULTS.md`` with the machine, versions, date, command line and training settings; PNG
plots go to ``benchmarks/figures/``.

All models are featurized once (:class:`estimators.StructureFeaturizer`) and the feature lists are
passed to ``fit``/``predict``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fourier6d  # noqa: E402,F401  (before NumPy: it sets OpenBLAS's idle-thread timeout)
import numpy as np  # noqa: E402

import voromqa                                                                   # noqa: E402
from _predictions import (mean_of, merge_disjoint, read_predictions,              # noqa: E402
                          write_predictions)
from estimators.architectures import get_architecture                            # noqa: E402
from estimators.datasets import labels_for_residues                              # noqa: E402
from estimators.featurizer import StructureFeaturizer                            # noqa: E402
from estimators.features import FEATURE_KEYS                                     # noqa: E402
from estimators.metrics import qa_metrics, format_table, pearson, spearman       # noqa: E402
from estimators.structures import StructureWarning                               # noqa: E402
from estimators.training_data import casp13_training_set, load_corpus            # noqa: E402

_FEATURE_KEYS = tuple(FEATURE_KEYS)
DISPLAY = {"baseline": "Baseline", "6dcnn-1": "6DCNN-1", "6dcnn-2": "6DCNN-2"}


# ----------------------------------------------------------------------------------------------- input
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--architectures", nargs="*", default=["baseline", "6dcnn-1"],
                    choices=["baseline", "6dcnn-1", "6dcnn-2"])
    ap.add_argument("--epochs", type=int, default=None,
                    help="maximum training epochs per fold (default 10; 1 with --quick)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--patience", type=int, default=5, help="early-stopping patience (epochs)")
    ap.add_argument("--validation-fraction", type=float, default=0.2,
                    help="fraction of the training groups (targets / corpus natives) held out for early stopping")
    ap.add_argument("--corpus", default=None, nargs="+",
                    help="decoy corpus folder(s) (python -m estimators.decoys.corpus)")
    ap.add_argument("--corpus-only", action="store_true",
                    help="train each network once on the decoy corpus alone (no CASP13 model) and predict all "
                         "targets: how well decoys made from natives transfer to real server models")
    ap.add_argument("--kinds", default=None,
                    help="comma-separated decoy kinds to train on (e.g. backbone,hinge,register,sidechain,"
                         "misfold,threaded,overlay,crushed,clash,expanded); default all")
    ap.add_argument("--corpus-natives", default="all", choices=["all", "natives", "natives_extra"],
                    help="which natives' decoys: shared/data/natives (4-letter PDB ids), natives_extra, or all")
    ap.add_argument("--rank-weight", type=float, default=1.0, help="weight of the ranking term of the loss")
    ap.add_argument("--within-weight", type=float, default=0.0,
                    help="weight of the within-model term of the loss (per-residue errors with "
                         "each model's mean error removed; default 0 = off)")
    ap.add_argument("--groups-per-batch", type=int, default=2)
    ap.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="seed ensemble: one network per seed, predictions averaged (default: --seed)")
    ap.add_argument("--folds", nargs="+", default=None, metavar="TARGET",
                    help="train and predict only these leave-one-target-out folds (held-out "
                         "targets); the other targets' models get no prediction (default: all)")
    ap.add_argument("--name", default=None, metavar="METHOD",
                    help="the network's name in the table and the --predictions file, e.g. "
                         "'6DCNN-2 (seed 1)' (one architecture only; default: the architecture's)")
    ap.add_argument("--json", default=None, help="write the metrics and settings as JSON here")
    ap.add_argument("--predictions", default=None,
                    help="write every method's per-model predictions here (.npz), for --include")
    ap.add_argument("--include", nargs="+", default=[],
                    help="add the methods of prediction files of earlier runs (same CASP13 models)")
    ap.add_argument("--mean-of", nargs="+", action="append", default=[], metavar="METHOD",
                    help="add a row averaging the per-residue predictions of these methods "
                         "(repeatable; names as in the table, e.g. '6DCNN-1 (seed 0)')")
    ap.add_argument("--local-smoothing", type=float, default=None, metavar="SIGMA",
                    help="the networks' local_smoothing (estimators.smoothing; 0 = their raw "
                         "per-residue scores; default: the estimator's default)")
    ap.add_argument("--smooth-local", type=float, default=None, metavar="SIGMA",
                    help="add, for each network, a row of its per-residue scores smoothed along "
                         "the chain with this width (residues; "
                         "estimators.smoothing.smooth_along_chain)")
    ap.add_argument("--local-refinement", action="store_true",
                    help="train the networks with local_refinement=True "
                         "(estimators.local_refinement) and add a row of their refined scores "
                         "beside their scores without it")
    ap.add_argument("--global-refinement", action="store_true",
                    help="train the networks with global_refinement=True "
                         "(estimators.global_refinement); with --local-refinement both, in one "
                         "row of refined scores")
    ap.add_argument("--refine-across-targets", action="store_true",
                    help="add, for each network, rows of its scores refined with weights fitted "
                         "on the other targets' models: within each model "
                         "(estimators.local_refinement), and that with the global shift "
                         "(estimators.global_refinement); before --smooth-local, which smooths "
                         "them too")
    ap.add_argument("--offset-across-targets", action="store_true",
                    help="add, for each network, a row of its scores shifted by the constant "
                         "fitted on the other targets' models (estimators.score_offset: minus "
                         "the mean over those targets of the mean predicted minus true global "
                         "lDDT), clipped to [0, 1]; the json also gives the offset fitted on all "
                         "targets ('score_offsets')")
    ap.add_argument("--corpus-per-native", type=int, default=None,
                    help="use at most this many decoys of each corpus native (memory/time bound)")
    ap.add_argument("--casp13", default=None, help="casp13 data folder (default: shared/data/casp13)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel featurization / VoroMQA runs")
    ap.add_argument("--fold-jobs", type=int, default=1,
                    help="train the leave-one-target-out networks (folds x seeds) in this many "
                         "processes (one thread each; results equal those of 1 process up to the "
                         "rounding of multi-threaded BLAS, ~1e-8)")
    ap.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                    help="save each network's training state here after every epoch "
                         "(SixDQAEstimator(checkpoint_dir=...)): a run stopped and started "
                         "again goes on from the last saved epoch, with the same result")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 8 models per target, 1 epoch, nothing appended unless --out is given")
    ap.add_argument("--out", default=None,
                    help="Markdown file the results are appended to (default: print only)")
    ap.add_argument("--no-append", action="store_true", help="print only")
    ap.add_argument("--figures", default=str(ROOT / "benchmarks" / "figures"),
                    help="folder of the PNG plots ('' for none)")
    ap.add_argument("--voromqa-cache", default=str(Path.home() / ".cache" / "fourier6d" / "voromqa.json"))
    ap.add_argument("--voromqa-executable", default=None)
    ap.add_argument("--label", default="", help="text appended to the RESULTS.md heading")
    args = ap.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else 10
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")
    if args.no_append:
        args.out = None
    if args.local_smoothing is not None:
        from estimators.smoothing import check_width
        try:
            check_width(args.local_smoothing, "--local-smoothing")
        except ValueError as error:
            ap.error(str(error))
    if args.smooth_local is not None and not (np.isfinite(args.smooth_local)
                                              and args.smooth_local > 0):
        ap.error(f"--smooth-local must be > 0, got {args.smooth_local}")
    if args.corpus_only and not args.corpus:
        ap.error("--corpus-only needs --corpus")
    if args.name and len(args.architectures) != 1:
        ap.error("--name names the network of one architecture")
    if args.folds and args.corpus_only:
        ap.error("--folds selects leave-one-target-out folds; --corpus-only has none")
    return args


def _subset_per_target(groups, per_target):
    """Indices of ``per_target`` models per target, evenly spaced in the (sorted) model order."""
    keep = []
    for t in dict.fromkeys(groups.tolist()):
        idx = np.flatnonzero(groups == t)
        pick = np.unique(np.linspace(0, len(idx) - 1, min(per_target, len(idx))).round().astype(int))
        keep.extend(idx[pick].tolist())
    return np.array(keep, dtype=int)


def _feature_params(architectures):
    """The featurization parameters shared by the architectures (ValueError if they differ)."""
    params = {a: tuple(get_architecture(a)[k] for k in _FEATURE_KEYS) for a in architectures}
    if len(set(params.values())) != 1:
        raise ValueError(f"architectures use different featurization parameters: {params}")
    return dict(zip(_FEATURE_KEYS, next(iter(params.values()))))


def _is_native_set(name):
    """Natives of shared/data/natives are named by their 4-character PDB id (natives_extra:
    ``<pdbid>_<chain>`` or ``bm5_<complex>_<r|l>``)."""
    return len(str(name)) == 4


def smoothed_methods(methods, structures, sigma):
    """``{name + ", smoothed (sigma = S)": method}`` for every network of ``methods`` (not
    VoroMQA nor ResNetQA): its per-residue scores smoothed along the chain of each model
    (:func:`estimators.smoothing.smooth_along_chain`), the global score their mean."""
    from estimators.smoothing import smooth_along_chain
    out = {}
    for name, m in methods.items():
        if name in ("VoroMQA", "ResNetQA"):
            continue
        local = [None if p is None else smooth_along_chain(p, s.backbone()[1], sigma)
                 for p, s in zip(m["local"], structures)]
        out[f"{name}, smoothed (sigma = {sigma:g})"] = {"global": _global_of(local),
                                                         "local": local}
    return out


def refined_across_targets(methods, structures, groups, true_local, true_global):
    """For every network of ``methods`` (not VoroMQA nor ResNetQA), its scores refined with
    weights fitted for each target on the network's scores of the other targets' models and
    their true lDDT, applied to the target's models (clipped to [0, 1]); the global score is
    the mean of the per-residue scores, as before.  Two rows: ``name + ", refined on the other
    targets"``, the within-model refinement of :mod:`estimators.local_refinement` (which keeps
    each model's mean up to the clip), and ``name + ", refined on the other targets, with global
    shift"``, that and the shift of :mod:`estimators.global_refinement` (fitted with the
    targets as groups).  Applied to leave-one-target-out predictions, every target's scores come
    from a network and weights fitted without it."""
    from estimators.global_refinement import fit_global_refinement, global_shift
    from estimators.local_refinement import apply_refinement, fit_refinement
    groups = np.asarray(groups)
    cas = [s.backbone()[1] for s in structures]
    out = {}
    for name, m in methods.items():
        if name in ("VoroMQA", "ResNetQA"):
            continue
        local = list(m["local"])
        refined = [None] * len(local)
        shifted = [None] * len(local)
        for target in dict.fromkeys(groups.tolist()):
            train = [i for i in np.flatnonzero(groups != target) if local[i] is not None]
            beta = fit_refinement([local[i] for i in train], [cas[i] for i in train],
                                  [true_local[i] for i in train])
            gamma = fit_global_refinement([local[i] for i in train], [cas[i] for i in train],
                                          [true_global[i] for i in train], groups[train])
            for i in np.flatnonzero(groups == target):
                if local[i] is not None:
                    within = apply_refinement(beta, local[i], cas[i])
                    refined[i] = np.clip(within, 0.0, 1.0)
                    shifted[i] = np.clip(within + global_shift(gamma, local[i], cas[i]), 0.0, 1.0)
        for suffix, scores in ((", refined on the other targets", refined),
                               (", refined on the other targets, with global shift", shifted)):
            out[name + suffix] = {"global": _global_of(scores), "local": scores}
    return out


def offset_across_targets(methods, groups, true_global):
    """For every network of ``methods`` (not VoroMQA nor ResNetQA), its per-residue scores
    shifted for each target by :func:`estimators.score_offset.fit_score_offset` of the network's
    global scores of the other targets' models, clipped to [0, 1] (row ``name + ", offset on the
    other targets"``; the global score is the mean of the per-residue scores, as before).
    Applied to leave-one-target-out predictions, every target's scores come from a network and
    an offset fitted without it.

    Returns ``(rows, offsets)``: ``offsets[name]`` holds the offset fitted for each held-out
    target (``"per_held_out_target"``) and the one fitted on all targets (``"all_targets"``),
    the value a model trained on all of them would carry."""
    from estimators.score_offset import apply_score_offset, fit_score_offset
    groups = np.asarray(groups)
    rows, offsets = {}, {}
    for name, m in methods.items():
        if name in ("VoroMQA", "ResNetQA"):
            continue
        shifted = [None] * len(m["local"])
        per_target = {}
        for target in dict.fromkeys(groups.tolist()):
            others = groups != target
            delta = fit_score_offset(m["global"][others], true_global[others], groups[others])
            per_target[target] = delta
            for i in np.flatnonzero(groups == target):
                if m["local"][i] is not None:
                    shifted[i] = apply_score_offset(m["local"][i], delta)
        rows[name + ", offset on the other targets"] = {"global": _global_of(shifted),
                                                         "local": shifted}
        offsets[name] = {"per_held_out_target": per_target,
                         "all_targets": fit_score_offset(m["global"], true_global, groups)}
    return rows, offsets


def _global_of(local):
    return np.array([np.nan if p is None or not np.isfinite(p).any() else float(np.nanmean(p))
                     for p in local])


# ----------------------------------------------------------------------------------------------- LOTO
def _estimator(arch, args, seed):
    from estimators import SixDQAEstimator
    return SixDQAEstimator(architecture=arch, epochs=args.epochs, batch_size=args.batch_size,
                           learning_rate=args.learning_rate, patience=args.patience,
                           validation_fraction=args.validation_fraction, device=args.device,
                           random_state=seed, n_jobs=1, rank_weight=args.rank_weight,
                           within_weight=args.within_weight,
                           groups_per_batch=args.groups_per_batch, lr_schedule=args.lr_schedule,
                           calibrate=args.calibrate,
                           local_refinement=getattr(args, "local_refinement", False),
                           global_refinement=getattr(args, "global_refinement", False),
                           checkpoint_dir=getattr(args, "checkpoint_dir", None),
                           **({} if args.local_smoothing is None
                              else {"local_smoothing": args.local_smoothing}))


#: Name suffix of the rows of the networks' refined scores (``--local-refinement``,
#: ``--global-refinement``).
REFINED = ", refined"


def _fit_and_predict(arch, args, seed, x, y, g, test_feats, target):
    """Train one network on (x, y, groups g) and predict ``test_feats``: ({"": predictions},
    info); with ``--local-refinement`` or ``--global-refinement`` the dict also holds the refined
    scores under :data:`REFINED` (the same network; "" then holds its scores without the
    refinements)."""
    est = _estimator(arch, args, seed)
    t0 = time.perf_counter()
    est.fit(x, y, groups=g)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    refined = None
    if est.local_refinement or est.global_refinement:
        refined = est.predict(test_feats)
        est.set_params(local_refinement=False, global_refinement=False)
    pred = {"": est.predict(test_feats)}
    if refined is not None:
        pred[REFINED] = refined
    t_pred = time.perf_counter() - t0
    hist = [h for h in est.history_ if "epoch" in h]
    best = None
    if hist and "val_group_spearman" in hist[0]:
        key = [(-h["val_group_spearman"] if np.isfinite(h["val_group_spearman"])
                else h["val_loss"]) for h in hist]
        best = int(hist[int(np.argmin(key))]["epoch"])
    info = dict(target=target, seed=seed, n_train=est.n_train_models_,
                n_val=len(x) - est.n_train_models_, n_test=len(test_feats),
                epochs_run=len(hist), best_epoch=best, fit_s=t_fit, predict_s=t_pred,
                n_params=est.n_params_,
                local_refinement=(None if est.local_refinement_ is None
                                  else est.local_refinement_.tolist()),
                global_refinement=(None if est.global_refinement_ is None
                                   else est.global_refinement_.tolist()),
                val_group_spearman=(hist[best - 1].get("val_group_spearman") if best else None),
                calibration=(hist[-1].get("calibration_scale"),
                             hist[-1].get("calibration_shift")) if hist else None,
                # per epoch: seconds, training loss, held-out ranking (the convergence curve)
                history=[{k: h.get(k) for k in ("epoch", "seconds", "loss", "val_group_spearman",
                                                "val_pearson", "lr")} for h in hist])
    return pred, info


def _map(function, calls, n_jobs):
    """``[function(*c) for c in calls]``, in ``n_jobs`` worker processes when n_jobs > 1."""
    if n_jobs is None or n_jobs <= 1 or len(calls) <= 1:
        return [function(*c) for c in calls]
    from joblib import Parallel, delayed
    return Parallel(n_jobs=min(n_jobs, len(calls)), backend="loky")(
        delayed(function)(*c) for c in calls)


def leave_one_target_out(arch, feats, labels_true, groups, corpus, args, log=print):
    """Per-residue predictions of every CASP13 model by estimators trained without its target.

    ``labels_true``: (per-residue, global) label pair of each CASP13 model; ``corpus``:
    (models, label pairs, groups) of the decoys (models built on demand).  With several
    ``--seeds``, one network per seed and the per-residue predictions averaged.
    Returns ({variant: (ensemble, {seed: network})}, per-fold info list): each a method
    ({"global": ..., "local": [per-residue arrays]}), the ensemble the mean of the seeds;
    variants "" (the networks' scores) and, with ``--local-refinement`` or
    ``--global-refinement``, :data:`REFINED`.
    """
    c_models, c_labels, c_groups = corpus
    folds = []
    if args.corpus_only:
        # one network trained on the decoys alone predicts every CASP13 target
        splits = [("all (corpus only)", np.arange(len(feats)), np.arange(0))]
    else:
        held_out = list(dict.fromkeys(groups.tolist()))
        if getattr(args, "folds", None):
            unknown = sorted(set(args.folds) - set(held_out))
            if unknown:
                raise ValueError(f"--folds {' '.join(unknown)}: not a target of the run "
                                 f"({', '.join(held_out)})")
            held_out = [t for t in held_out if t in set(args.folds)]
        splits = [(t, np.flatnonzero(groups == t), np.flatnonzero(groups != t))
                  for t in held_out]
    seeds = args.seeds or [args.seed]
    jobs = []
    for target, test, train in splits:
        x = [feats[i] for i in train] + list(c_models)
        y = [labels_true[i] for i in train] + list(c_labels)
        g = np.array([str(v) for v in groups[train]] + [str(v) for v in c_groups])
        jobs += [(target, test, seed, x, y, g) for seed in seeds]
    # every (fold, seed) network is independent: --fold-jobs trains them in parallel processes,
    # one BLAS/Numba thread each (results equal to one process up to BLAS rounding, ~1e-8)
    runs = _map(_fit_and_predict, [(arch, args, seed, x, y, g, [feats[i] for i in test], target)
                                   for target, test, seed, x, y, g in jobs],
                getattr(args, "fold_jobs", 1))
    variants = list(runs[0][0]) if runs else [""]
    by_seed = {(v, seed): [None] * len(feats) for v in variants for seed in seeds}
    for (target, test, seed, *_), (pred, info) in zip(jobs, runs):
        for v in variants:
            for k, i in enumerate(test):
                by_seed[v, seed][i] = pred[v][k]
        log(f"  {arch} fold {target} seed {info['seed']}: {info['n_train']} train / "
            f"{info['n_val']} val models, {info['epochs_run']} epochs (best {info['best_epoch']}, "
            f"val per-group Spearman {info['val_group_spearman']}), fit {info['fit_s']:.1f} s, "
            f"predict {info['predict_s']:.1f} s")
        folds.append(info)
    out = {}
    for v in variants:
        networks = {seed: {"global": _global_of(by_seed[v, seed]), "local": by_seed[v, seed]}
                    for seed in seeds}
        # the ensemble: per model, the mean over the seeds that predicted it
        out[v] = (mean_of(networks, seeds, _global_of), networks)
    return out, folds


# ----------------------------------------------------------------------------------------------- plots
def _plots(folder, methods, true_global, groups, true_local, model_names, profile_idx):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(methods)
    targets = list(dict.fromkeys(groups.tolist()))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(names)
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 4.0 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        pg = methods[name]["global"]
        for k, t in enumerate(targets):
            m = groups == t
            ax.scatter(true_global[m], pg[m], s=10, alpha=0.7, color=colors[k % len(colors)], label=t)
        ok = np.isfinite(pg) & np.isfinite(true_global)
        lo = float(min(true_global[ok].min(), pg[ok].min(), 0.2)) if ok.any() else 0.0
        hi = float(max(true_global[ok].max(), pg[ok].max(), 0.9)) if ok.any() else 1.0
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}  (r = {pearson(pg, true_global):.3f})")
        ax.set_xlabel("true global lDDT")
        ax.set_ylabel("predicted global score")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    scatter = folder / "qa_casp13_global.png"
    fig.savefig(scatter, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.8))
    y = true_local[profile_idx]
    x = np.arange(1, y.size + 1)
    ax.plot(x, y, "k-", lw=2, label="true lDDT")
    for k, name in enumerate(names):
        ax.plot(x, methods[name]["local"][profile_idx], lw=1.2, color=colors[k % len(colors)], label=name)
    ax.set_xlabel("residue (model order)")
    ax.set_ylabel("per-residue score")
    ax.set_title(f"{groups[profile_idx]} / {model_names[profile_idx]} "
                 "(model with the median true lDDT; LOTO predictions)")
    ax.legend(fontsize=8, ncol=min(len(names) + 1, 6), loc="lower left")
    fig.tight_layout()
    profile = folder / "qa_casp13_profile.png"
    fig.savefig(profile, dpi=110)
    plt.close(fig)
    return scatter, profile


# ----------------------------------------------------------------------------------------------- report
def _versions():
    import importlib.metadata as md
    out = [f"Python {platform.python_version()}"]
    for pkg in ("numpy", "scipy", "scikit-learn", "autograd", "numba"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    try:
        import subprocess
        v = subprocess.run(["voronota", "--version"], capture_output=True, text=True, timeout=30)
        line = (v.stdout or v.stderr).strip().splitlines()
        if line:
            out.append(line[0].replace("Voronota version", "Voronota"))
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(out)


def _per_target_table(methods, true_global, groups):
    targets = list(dict.fromkeys(groups.tolist()))
    head = "| method | " + " | ".join(f"{t} r / ρ / bias" for t in targets) + " |"
    lines = [head, "|---|" + "---:|" * len(targets)]
    for name, m in methods.items():
        cells = []
        for t in targets:
            sel = groups == t
            bias = np.nanmean(m["global"][sel]) - np.nanmean(true_global[sel])
            cells.append(f"{pearson(m['global'][sel], true_global[sel]):.3f} / "
                         f"{spearman(m['global'][sel], true_global[sel]):.3f} / {bias:+.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def local_per_target(methods, true_global, groups, true_local):
    """``{method: {target: local Spearman}}``: the mean over a target's models of the Spearman
    correlation of predicted and true per-residue lDDT (:func:`estimators.metrics.qa_metrics`'s
    ``local_spearman`` on the target's models), and ``"mean"`` over the targets."""
    targets = list(dict.fromkeys(np.asarray(groups).tolist()))
    out = {}
    for name, m in methods.items():
        row = {}
        for t in targets:
            sel = np.flatnonzero(np.asarray(groups) == t)
            row[t] = qa_metrics(m["global"][sel], true_global[sel], np.asarray(groups)[sel],
                                [m["local"][i] for i in sel],
                                [true_local[i] for i in sel])["local_spearman"]
        row["mean"] = float(np.nanmean([row[t] for t in targets]))
        out[name] = row
    return out


def _local_per_target_table(rows):
    keys = list(next(iter(rows.values())))
    lines = ["| method | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


#: Bins of the true global lDDT for :func:`bias_by_quality` (left-closed; the last one closed).
QUALITY_BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0)


def bias_by_quality(predicted, true_global, bins=QUALITY_BINS):
    """Mean predicted minus true global lDDT of the models in each bin of the true lDDT.

    Returns a list of ``(low, high, n_models, bias)`` (bias NaN for an empty bin or a bin whose
    models have no prediction); models with an unknown truth or prediction are left out.  Says
    where a global score's offset lies: on the good models, the bad ones, or evenly."""
    p = np.asarray(predicted, dtype=float)
    t = np.asarray(true_global, dtype=float)
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} and true_global {t.shape} differ in shape")
    ok = np.isfinite(p) & np.isfinite(t)
    rows = []
    for k, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        last = k == len(bins) - 2
        sel = ok & (t >= lo) & ((t <= hi) if last else (t < hi))
        rows.append((lo, hi, int(sel.sum()), float(np.mean(p[sel] - t[sel])) if sel.any()
                     else float("nan")))
    return rows


def _bias_table(bias_rows, true_global):
    """Markdown table of ``{method: bias_by_quality(...)}``, models per bin in the header."""
    counts = bias_by_quality(true_global, true_global)
    lines = ["| method | " + " | ".join(f"lDDT {lo:.1f}–{hi:.1f} ({n})" for lo, hi, n, _ in counts)
             + " |", "|---|" + "---:|" * len(counts)]
    for name, rows in bias_rows.items():
        cells = [f"{b:+.2f}" if np.isfinite(b) else "–" for *_, b in rows]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    warnings.simplefilter("ignore", StructureWarning)
    t_start = time.perf_counter()
    log = print

    structures, true_local, true_global_all, groups, data = casp13_training_set(args.casp13)
    keep = np.arange(len(structures))
    if args.quick:
        keep = _subset_per_target(groups, 8)
    structures = [structures[i] for i in keep]
    true_local = [true_local[i] for i in keep]
    groups = groups[keep]
    true_global = data.lddt[keep]
    model_paths = [data.model_paths[i] for i in keep]
    model_names = data.model_names[keep]
    log(f"CASP13: {len(structures)} models of {len(set(groups.tolist()))} targets")

    methods = {}
    # -- VoroMQA
    t0 = time.perf_counter()
    vres = voromqa.score_models(model_paths, n_jobs=args.jobs, cache=args.voromqa_cache,
                                executable=args.voromqa_executable, errors="warn")
    t_voromqa = time.perf_counter() - t0
    methods["VoroMQA"] = {
        "global": np.array([r.global_score for r in vres]),
        "local": [voromqa.residue_scores_for_structure(r, s) for r, s in zip(vres, structures)]}
    log(f"VoroMQA: {t_voromqa:.1f} s ({sum(r.error is not None for r in vres)} failures)")
    # -- ResNetQA (published predictions)
    methods["ResNetQA"] = {
        "global": data.resnetqa_lddt[keep],
        "local": [labels_for_residues(s, data.resnetqa_lddt_local[i]) for s, i in zip(structures, keep)]}

    # -- features, once
    fparams, feats, t_feat = {}, [], 0.0
    if args.architectures:                  # none: only --include and --mean-of, no training
        fparams = _feature_params(args.architectures)
        featurizer = StructureFeaturizer(**fparams, n_jobs=args.jobs)
        t0 = time.perf_counter()
        feats = featurizer.transform(structures)
        t_feat = time.perf_counter() - t0
        log(f"featurized {len(feats)} CASP13 models in {t_feat:.1f} s "
            f"({sum(f.nbytes for f in feats) / 1e9:.2f} GB)")
    corpus = ([], [], [])
    n_corpus = 0
    corpus_kinds = {}
    if args.corpus and args.architectures:
        kinds = None if not args.kinds else [k.strip() for k in args.kinds.split(",") if k.strip()]
        natives = {"all": None,
                   "natives": lambda name: _is_native_set(name),
                   "natives_extra": lambda name: not _is_native_set(name)}[args.corpus_natives]
        c = load_corpus(args.corpus, kinds=kinds, natives=natives, per_native=args.corpus_per_native)
        n_corpus = len(c)
        corpus_kinds = {str(k): int(v) for k, v in zip(*np.unique([str(x).split("+")[0] for x in c.kinds],
                                                                 return_counts=True))}
        log(f"corpus: {n_corpus} decoys of {len(set(c.natives.tolist()))} natives, kinds {corpus_kinds}, "
            f"global lDDT {np.nanmin(c.glob):.2f}-{np.nanmax(c.glob):.2f} (featurized per minibatch)")
        corpus = (c.models, list(zip(c.local, c.glob.tolist())), c.groups)
    labels_true = list(zip(true_local, true_global.tolist()))

    # -- our networks, leave-one-target-out
    fold_info = {}
    for arch in args.architectures:
        log(f"{arch}: leave-one-target-out, at most {args.epochs} epochs per fold")
        variants, folds = leave_one_target_out(arch, feats, labels_true, groups, corpus, args,
                                               log)
        base = args.name or DISPLAY[arch]
        for variant, (ensemble, by_seed) in variants.items():
            name = base + variant
            if len(by_seed) > 1:
                # each network of the ensemble alone, then their average
                for seed, network in by_seed.items():
                    methods[f"{base} (seed {seed}){variant}"] = network
                name = f"{base} (ensemble of {len(by_seed)}){variant}"
            methods[name] = ensemble
            if not variant:
                fold_info[name] = folds

    # -- predictions of earlier runs, and means over methods (models named target/model)
    model_keys = [f"{t}/{n}" for t, n in zip(groups.tolist(), model_names.tolist())]
    for path in args.include:
        for name, m in read_predictions(path, model_keys).items():
            if name in ("VoroMQA", "ResNetQA"):
                continue                                    # run here on the same models
            joined = merge_disjoint(methods[name], m) if name in methods else None
            if joined is not None:                          # e.g. folds run separately
                methods[name] = joined
            else:
                methods[name if name not in methods else f"{name} [{Path(path).stem}]"] = m
    for names in args.mean_of:
        methods["mean of " + " + ".join(names)] = mean_of(methods, names, _global_of)
    if args.refine_across_targets:
        methods.update(refined_across_targets(methods, structures, groups, true_local,
                                              true_global))
    score_offsets = {}
    if args.offset_across_targets:
        rows, score_offsets = offset_across_targets(methods, groups, true_global)
        methods.update(rows)
        for name, o in score_offsets.items():
            log(f"score offset of {name}: {o['all_targets']:+.4f} fitted on all targets; "
                + ", ".join(f"{t} {d:+.4f}" for t, d in o["per_held_out_target"].items())
                + " fitted without each target")
    if args.smooth_local is not None:
        methods.update(smoothed_methods(methods, structures, args.smooth_local))
    if args.predictions:
        Path(args.predictions).parent.mkdir(parents=True, exist_ok=True)
        write_predictions(args.predictions, methods, model_keys)
        log(f"wrote {args.predictions}")

    # -- metrics
    rows = {name: qa_metrics(m["global"], true_global, groups, m["local"], true_local)
            for name, m in methods.items()}
    table = format_table(rows)
    per_target = _per_target_table(methods, true_global, groups)
    local_rows = local_per_target(methods, true_global, groups, true_local)
    bias_rows = {name: bias_by_quality(m["global"], true_global) for name, m in methods.items()}
    bias_table = _bias_table(bias_rows, true_global)
    log("")
    log(table)
    log(per_target)
    log("Local Spearman per target (mean over the target's models):")
    log(_local_per_target_table(local_rows))
    log("Mean predicted - true global lDDT by true global lDDT (models per bin):")
    log(bias_table)
    total = time.perf_counter() - t_start

    if args.json:
        import json

        def plain(v):
            if isinstance(v, dict):
                return {str(k): plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple, np.ndarray)):
                return [plain(x) for x in v]
            if isinstance(v, (np.floating, float)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v
        settings = {k: v for k, v in vars(args).items() if k not in ("voromqa_cache",)}
        per_target_rows = {name: {t: {"pearson": pearson(m["global"][groups == t], true_global[groups == t]),
                                      "spearman": spearman(m["global"][groups == t], true_global[groups == t]),
                                      "mean_pred_minus_true": float(np.nanmean(m["global"][groups == t])
                                                                    - np.nanmean(true_global[groups == t]))}
                                  for t in dict.fromkeys(groups.tolist())}
                           for name, m in methods.items()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(plain({
            "date": datetime.datetime.now().strftime("%Y-%m-%dT%H:%M"), "settings": settings,
            "n_corpus": n_corpus, "corpus_kinds": corpus_kinds, "metrics": rows,
            "per_target": per_target_rows, "local_per_target": local_rows,
            "bias_by_quality": bias_rows, "score_offsets": score_offsets,
            "folds": fold_info, "seconds": total}), indent=1))
        log(f"wrote {args.json}")

    figs = ()
    if args.figures:
        finite = np.isfinite(true_global)
        order = np.argsort(np.where(finite, true_global, np.inf))
        profile_idx = int(order[finite.sum() // 2])
        figs = _plots(args.figures, methods, true_global, groups, true_local, model_names, profile_idx)
        log("figures: " + ", ".join(str(f) for f in figs))

    if args.out:
        stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M")
        cmd = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(sys.argv[0], ROOT)] + (argv if argv is not None else sys.argv[1:]))
        lines = [f"\n## qa_casp13.py — {stamp}" + (f" ({args.label})" if args.label else ""), ""]
        lines.append(f"Machine: {platform.node() or 'unknown'} {platform.machine()}, {os.cpu_count()} cores, "
                     f"{platform.platform()}; device {args.device}. {_versions()}.")
        lines.append(f"Command: `{cmd}`")
        lines.append("")
        lines.append(f"Data: {len(structures)} CASP13 stage-2 server models of {len(set(groups.tolist()))} "
                     "targets; truth = CASP13 global lDDT (`lddt`) and per-residue lDDT (`lddt_local`, aligned "
                     "by residue number). "
                     + (f"Corpus only: each network is trained once on the {n_corpus} decoys of `{args.corpus}` "
                        "(no CASP13 model) and predicts all targets; early stopping on held-out corpus natives."
                        if args.corpus_only else
                        "Leave-one-target-out: each target is predicted by networks trained on the other targets"
                        + (f" plus {n_corpus} decoys from `{args.corpus}`" if n_corpus else " only (no decoy corpus)")
                        + "; early stopping on a held-out fraction of the training groups (targets"
                        + (" / corpus natives" if n_corpus else "") + "), never on the test target."))
        lines.append(f"Training: at most {args.epochs} epochs, batch {args.batch_size} from "
                     f"{args.groups_per_batch} groups, Adam lr {args.learning_rate} ({args.lr_schedule}), "
                     f"ranking weight {args.rank_weight}, within-model weight {args.within_weight}, "
                     f"calibration {'on' if args.calibrate else 'off'}, "
                     f"patience {args.patience}, validation fraction "
                     f"{args.validation_fraction}, float32, seeds {args.seeds or [args.seed]}; corpus kinds "
                     f"{corpus_kinds or '-'} ({args.corpus_natives}). Features: "
                     + ", ".join(f"{k}={v}" for k, v in fparams.items()) + ".")
        lines.append(f"Peers: VoroMQA (`voronota-voromqa`, global score and per-residue scores with its "
                     f"default smoothing window 5) run here ({t_voromqa:.0f} s incl. cache); ResNetQA = its "
                     "published CASP13 predictions. Featurization {:.1f} s; whole run {:.0f} s.".format(t_feat, total))
        lines.append("")
        lines.append(table.rstrip("\n"))
        lines.append("")
        lines.append("Per-target Pearson r / Spearman ρ of the global score / bias (mean predicted − mean "
                     "true global lDDT; VoroMQA's score is not an lDDT, its bias is not meaningful):")
        lines.append("")
        lines.append(per_target.rstrip("\n"))
        lines.append("")
        lines.append("Mean predicted − true global lDDT of the models in each bin of the true global "
                     "lDDT (models per bin), all targets together:")
        lines.append("")
        lines.append(bias_table.rstrip("\n"))
        lines.append("")
        lines.append("| network | fold (test target) | train models | val models | epochs run | best epoch | "
                     "fit s | predict s | parameters |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, folds in fold_info.items():
            for f in folds:
                lines.append(f"| {name} | {f['target']} | {f['n_train']} | {f['n_val']} | {f['epochs_run']} | "
                             f"{f['best_epoch'] if f['best_epoch'] else '–'} | {f['fit_s']:.1f} | "
                             f"{f['predict_s']:.1f} | {f['n_params']} |")
        if figs:
            lines.append("")
            lines.append("Figures: " + ", ".join(f"`{os.path.relpath(f, ROOT)}`" for f in figs)
                         + " (predicted vs true global lDDT per method; per-residue profile of the model with "
                         "the median true lDDT).")
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")
        log(f"appended to {args.out}")
    return rows


if __name__ == "__main__":
    main()
