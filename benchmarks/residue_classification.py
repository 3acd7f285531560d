"""Amino-acid recognition from simulated density maps: 6D layers vs voxel-box baselines.

Usage::

    python benchmarks/residue_classification.py [--n-train 100] [--n-test 50] [--per-protein 40]
        [--resolution 1.5] [--lmax 6] [--n-radial 8] [--r-max 6] [--epochs 60] [--rotations 1]
        [--jobs 2] [--seed 0] [--out benchmarks/RESULTS.md] [--no-append] [--no-hgb]

Data.  The 150 natives of ``shared/data/natives`` are shuffled (``--seed``) and split BY PROTEIN
into training and test proteins.  For each protein a crystallographic-style density map is
simulated (:func:`estimators.density_maps.structure_density`: Gaussian atoms weighted by atomic
number, sigma = resolution / (pi sqrt 2), grid spacing resolution / 3, cell-averaged) and
``--per-protein`` residues with a backbone frame are drawn at random; the label is the residue's
amino-acid type (20 classes).  Every test protein is also rotated by ``--rotations`` random
rotations (and shifted by a random translation) *before* its map is simulated, so the map grid has
a different orientation relative to the molecule; the same residues are then featurized again.

Classifiers (all trained once on the unrotated training maps, no rotation augmentation):

* ``6D (frames)``: :class:`estimators.residue_classifier.SixDResidueClassifier` on the map's
  spherical Fourier coefficients in the residue backbone frame (ball of ``--r-max`` around CA).
* ``voxels, map axes``: the poster's input, an 11 A box around CA sampled every 1 A (11^3 values,
  trilinear interpolation of the map) in the map's axes, with LogisticRegression and (unless
  ``--no-hgb``) HistGradientBoosting: the non-equivariant baseline.
* ``voxels, residue frame``: the same box in the residue frame + LogisticRegression (what frames
  alone give, without 6D layers).
* ``power spectrum``: sum_m G_lm(rho)^2 of the same coefficients (rotation invariant without
  frames) + LogisticRegression.

Metrics on the test residues: accuracy, macro mAP (one-vs-rest average precision,
``sklearn.metrics.average_precision_score`` averaged over the classes present), the same on the
rotated maps, the fraction of residues whose predicted type is unchanged by the rotation, and the
mean over residues of max_c |p_c(rotated) - p_c(original)|.  The table is printed and appended to
``benchmarks/RESULTS.md`` with machine, versions, date and settings.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from fourier6d import random_rotations

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimators.density_maps import structure_density                             # noqa: E402
from estimators.residue_classifier import (SixDResidueClassifier, power_spectrum,   # noqa: E402
                                           residue_centres_frames,
                                           residue_density_coefficients)
from estimators.structures import read_structure                                  # noqa: E402

BOX_HALF = 5.0      # the 11 A box of the poster, sampled every 1 A
BOX_STEP = 1.0


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--natives", default=str(ROOT.parent / "shared" / "data" / "natives"))
    ap.add_argument("--n-train", type=int, default=100)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--per-protein", type=int, default=40)
    ap.add_argument("--resolution", type=float, default=1.5)
    ap.add_argument("--voxel", type=float, default=None, help="map spacing (default resolution/3)")
    ap.add_argument("--lmax", type=int, default=6)
    ap.add_argument("--n-radial", type=int, default=8)
    ap.add_argument("--r-max", type=float, default=6.0)
    ap.add_argument("--rho-max", type=float, default=math.pi)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--rotations", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-hgb", action="store_true", help="skip the HistGradientBoosting baseline")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--label", default="")
    return ap.parse_args(argv)


def box_features(density_map, centres, frames=None):
    """Map values on an 11x11x11 box (1 A steps) around each centre; map axes or residue frames."""
    from scipy.ndimage import map_coordinates
    values, origin, voxel = density_map
    ax = np.arange(-BOX_HALF, BOX_HALF + 1e-9, BOX_STEP)
    local = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)        # (B, 3)
    if frames is None:
        pts = centres[:, None, :] + local[None]
    else:
        pts = centres[:, None, :] + np.einsum("rij,bj->rbi", frames, local)
    idx = (pts - origin) / voxel
    out = map_coordinates(np.asarray(values, dtype=np.float64), idx.reshape(-1, 3).T, order=1,
                          mode="constant", cval=0.0)
    return out.reshape(len(centres), -1).astype(np.float32)


def featurize_protein(path, index, rotations, args):
    """Features of the sampled residues of one protein: original map and each rotated map."""
    rng = np.random.default_rng([args.seed, index])
    s = read_structure(path)
    residues, centres, frames = residue_centres_frames(s)
    pick = np.sort(rng.choice(len(residues), size=min(args.per_protein, len(residues)), replace=False))
    residues, centres, frames = residues[pick], centres[pick], frames[pick]
    n, ca, c, _ = s.backbone()
    kw = dict(lmax=args.lmax, n_radial=args.n_radial, r_max=args.r_max, rho_max=args.rho_max)
    views = []
    t0 = time.perf_counter()
    for r in range(rotations + 1):
        if r == 0:
            R, t = np.eye(3), np.zeros(3)
        else:
            R, t = random_rotations(rng=rng), rng.uniform(-5, 5, 3)
        centroid = s.coords.mean(axis=0)
        move = lambda x: (x - centroid) @ R.T + centroid + t
        moved = type(s)(name=s.name, chain_ids=s.chain_ids, resnums=s.resnums, icodes=s.icodes,
                        resnames=s.resnames, aa_index=s.aa_index, coords=move(s.coords),
                        atom_names=s.atom_names, atom_res=s.atom_res)
        m = structure_density(moved, args.resolution, args.voxel)
        cen = move(centres)
        fr = np.einsum("ij,rjk->rik", R, frames)
        views.append({
            "coeffs": residue_density_coefficients(m, cen, fr, **kw).astype(np.float32),
            "box_map": box_features(m, cen),
            "box_frame": box_features(m, cen, fr),
        })
    return {"name": Path(path).stem, "y": s.aa_index[residues], "views": views,
            "seconds": time.perf_counter() - t0, "n_views": rotations + 1}


def stack(proteins, view, key):
    return np.concatenate([p["views"][view][key] for p in proteins])


def macro_ap(y, proba, classes):
    from sklearn.metrics import average_precision_score
    present = [i for i, c in enumerate(classes) if np.any(y == c)]
    return float(np.mean([average_precision_score(y == classes[i], proba[:, i]) for i in present]))


def main(argv=None):
    args = parse_args(argv)
    from joblib import Parallel, delayed
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler, FunctionTransformer

    files = sorted(Path(args.natives).glob("*.pdb"))
    order = np.random.default_rng(args.seed).permutation(len(files))
    if args.n_train + args.n_test > len(files):
        raise SystemExit(f"only {len(files)} natives for {args.n_train} + {args.n_test}")
    train_files = [files[i] for i in order[:args.n_train]]
    test_files = [files[i] for i in order[args.n_train:args.n_train + args.n_test]]

    t0 = time.perf_counter()
    jobs = [(f, i, 0) for i, f in enumerate(train_files)]
    jobs += [(f, args.n_train + i, args.rotations) for i, f in enumerate(test_files)]
    feats = Parallel(n_jobs=args.jobs)(delayed(featurize_protein)(f, i, r, args) for f, i, r in jobs)
    t_feat = time.perf_counter() - t0
    train, test = feats[:args.n_train], feats[args.n_train:]
    y_tr = np.concatenate([p["y"] for p in train])
    y_te = np.concatenate([p["y"] for p in test])
    groups = np.concatenate([np.full(len(p["y"]), i) for i, p in enumerate(train)])
    n_views = sum(p["n_views"] * len(p["y"]) for p in feats)
    print(f"features: {len(y_tr)} train + {len(y_te)} test residues, {n_views} residue-maps in "
          f"{t_feat:.1f} s", flush=True)

    log_ps = FunctionTransformer(lambda X: np.log1p(power_spectrum(X).reshape(len(X), -1)))
    models = {
        "6D layers, residue frame": (lambda: SixDResidueClassifier(
            rho_max=args.rho_max, n_channels=args.channels, epochs=args.epochs,
            validation_fraction=0.15, patience=8, random_state=args.seed), "coeffs", True),
        "voxels, map axes + LogReg": (lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)), "box_map", False),
        "voxels, residue frame + LogReg": (lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)), "box_frame", False),
        "power spectrum (no frame) + LogReg": (lambda: make_pipeline(
            log_ps, StandardScaler(), LogisticRegression(C=0.05, max_iter=3000)), "coeffs", False),
    }
    if not args.no_hgb:
        from sklearn.ensemble import HistGradientBoostingClassifier
        models["voxels, map axes + HistGB"] = (lambda: HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_features=0.3, early_stopping=False,
            random_state=args.seed),
            "box_map", False)

    rows = []
    for name, (make, key, wants_groups) in models.items():
        t1 = time.perf_counter()
        clf = make()
        X_tr = stack(train, 0, key)
        clf.fit(X_tr, y_tr, groups=groups) if wants_groups else clf.fit(X_tr, y_tr)
        t_fit = time.perf_counter() - t1
        classes = clf.classes_
        p0 = clf.predict_proba(stack(test, 0, key))
        pred0 = classes[p0.argmax(1)]
        row = {"model": name, "acc": float(np.mean(pred0 == y_te)), "map": macro_ap(y_te, p0, classes),
               "fit_s": t_fit}
        accs, maps, agree, dp = [], [], [], []
        for r in range(1, args.rotations + 1):
            pr = clf.predict_proba(stack(test, r, key))
            predr = classes[pr.argmax(1)]
            accs.append(np.mean(predr == y_te))
            maps.append(macro_ap(y_te, pr, classes))
            agree.append(np.mean(predr == pred0))
            dp.append(np.mean(np.abs(pr - p0).max(1)))
        row.update(acc_rot=float(np.mean(accs)), map_rot=float(np.mean(maps)),
                   agree=float(np.mean(agree)), dp=float(np.mean(dp)))
        rows.append(row)
        print(f"{name:38s} acc {row['acc']:.3f} mAP {row['map']:.3f} | rotated acc {row['acc_rot']:.3f} "
              f"mAP {row['map_rot']:.3f} | same label {row['agree']:.3f} mean max|dp| {row['dp']:.4f} "
              f"| fit {t_fit:.1f} s", flush=True)
        if isinstance(clf, SixDResidueClassifier):
            six_info = (f"{clf.n_params_} parameters, {len(clf.history_)} epochs "
                        f"(early stopping on 15% of the training proteins)")

    freq = np.bincount(y_te, minlength=20) / len(y_te)
    report(args, rows, len(train), len(test), len(y_tr), len(y_te), t_feat, six_info, float(freq.max()),
           argv)


def report(args, rows, n_train_p, n_test_p, n_train, n_test, t_feat, six_info, majority, argv):
    import numba
    import scipy
    import sklearn
    now = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M")
    cmd = "python benchmarks/residue_classification.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    lines = [
        f"## residue_classification.py — {now}{(' (' + args.label + ')') if args.label else ''}",
        "",
        f"Machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.platform()}; Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, numba {numba.__version__}.",
        f"Command: `{cmd}`.",
        "",
        f"Amino-acid type (20 classes) of residues from simulated density maps (H10). Natives split by "
        f"protein: {n_train_p} training proteins ({n_train} residues), {n_test_p} test proteins "
        f"({n_test} residues), {args.per_protein} random residues with a backbone frame per protein. "
        f"Maps: Gaussian atoms weighted by atomic number, resolution {args.resolution} A, "
        f"sigma = resolution/(pi sqrt 2) = {args.resolution / (math.pi * math.sqrt(2)):.3f} A, "
        f"spacing {args.voxel or args.resolution / 3:.3f} A, cell-averaged. 6D input: coefficients "
        f"of the map in a {args.r_max} A ball around CA in the backbone frame, L = {args.lmax}, "
        f"{args.n_radial} shells up to rho_max = {args.rho_max:.3f} 1/A; SixDResidueClassifier with "
        f"{args.channels} conv6d channels, {six_info}. Voxel boxes: 11 A cube around CA, 1 A steps "
        f"(1331 values, trilinear). 'Rotated': each test protein rotated at random (and shifted) "
        f"before its map is simulated, {args.rotations} rotation(s); nothing trained with rotation "
        f"augmentation. Majority-class accuracy on the test set: {majority:.3f}. "
        f"Featurization {t_feat:.0f} s ({args.jobs} jobs).",
        "",
        "| model | accuracy | mAP | accuracy, rotated | mAP, rotated | same label after rotation | "
        "mean max abs dp | fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['acc']:.3f} | {r['map']:.3f} | {r['acc_rot']:.3f} | "
                     f"{r['map_rot']:.3f} | {r['agree']:.3f} | {r['dp']:.4f} | {r['fit_s']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
