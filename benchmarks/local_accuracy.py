"""Per-residue accuracy on decoys of held-out natives: which errors the local scores miss.

Usage::

    python benchmarks/local_accuracy.py --corpus DIR [DIR ...] [--holdout 0.2] [--split-seed 0]
        [--seed 0] [--architecture 6dcnn-2] [--epochs 8] [--patience 3] [--set NAME=VALUE ...]
        [--name NAME] [--smoothing SIGMA ...] [--json OUT.json]
    python benchmarks/local_accuracy.py ... [--train-corpus DIR ...]
    python benchmarks/local_accuracy.py --corpus DIR [DIR ...] --model FILE [--smoothing SIGMA ...]
        [--json OUT.json]
    python benchmarks/local_accuracy.py --join OUT.json [OUT.json ...]

The natives of the corpus folders are split once (``--split-seed``) into training natives and
``--holdout`` of them held out.  One network is trained on the decoys of the training natives
with the estimator's defaults (those of the shipped recipe: ranking term, two groups per
minibatch, cosine schedule, early stopping and calibration on 20 % of the training groups) and
any ``--set`` overrides, and predicts the decoys of the held-out natives.  ``--train-corpus``
folders add training decoys only: those of the training natives join the training set, those of
held-out natives are never read, and the split is that of the ``--corpus`` natives.  With
``--model`` a trained model file scores the held-out decoys instead (a model trained on those
natives then measures fit, not generalisation).  No CASP13 model is read.

Reported for the held-out decoys:

* **local Spearman**: Spearman's rho between predicted (the network's raw scores,
  ``local_smoothing=0`` and ``local_refinement=False`` unless ``--set`` says otherwise) and
  true per-residue lDDT within each decoy, averaged over decoys (the CASP13 tables' "local
  Spearman", here skipping decoys with fewer than 10 labelled residues), over all decoys,
  per kind of error and per bin of the decoy's global lDDT;
* **per-native Spearman** of the global scores (mean over natives), the ranking that early
  stopping watches;
* with ``--smoothing``, the same for the network's scores smoothed along the chain
  (:func:`estimators.smoothing.smooth_along_chain`, one column per width);
* for a network fitted with ``--set local_refinement=true`` and/or ``global_refinement=true``
  (:mod:`estimators.local_refinement`, :mod:`estimators.global_refinement`), the same network's
  scores with its refinements (column "refined", and the per-native Spearman of its global
  scores), beside its scores without them;
* the same local Spearman of two geometric baselines on the same decoys, which no network
  needs to learn: burial (CA atoms within 10 A of the residue's CA) and a CA-trace helix mark
  (|CA_i - CA_i+3| between 4.2 and 5.8 A).

``--join`` prints one row per ``--name`` of the given result files, with the mean over their
seeds (threaded decoys, all decoys, per-native Spearman).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimators.metrics import spearman  # noqa: E402

#: Bins of the decoys' global lDDT for the local Spearman.
BINS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 1.01))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", nargs="+", help="decoy corpus folder(s)")
    ap.add_argument("--train-corpus", nargs="+", default=[], metavar="DIR",
                    help="more corpus folders whose decoys of training natives join the "
                         "training set (held-out natives' decoys are not read)")
    ap.add_argument("--join", nargs="+", metavar="JSON", help="summarise result files instead")
    ap.add_argument("--name", default="", help="name of the configuration (for --join)")
    ap.add_argument("--holdout", type=float, default=0.2, help="fraction of natives held out")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the natives' split")
    ap.add_argument("--seed", type=int, default=0, help="seed of the network")
    ap.add_argument("--architecture", default="6dcnn-2")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="estimator parameter override (a number or a word), e.g. r_n=15")
    ap.add_argument("--model", help="score with this model file instead of training")
    ap.add_argument("--smoothing", nargs="+", type=float, default=[], metavar="SIGMA",
                    help="also report the network's scores smoothed along the chain with these "
                         "widths (residues; estimators.smoothing.smooth_along_chain)")
    ap.add_argument("--json", help="write the settings and results here")
    ap.add_argument("--save-model", metavar="FILE", help="write the trained model file here")
    args = ap.parse_args(argv)
    if not args.join and not args.corpus:
        ap.error("--corpus is required (or --join)")
    if not 0.0 < args.holdout < 1.0:
        ap.error(f"--holdout must lie in (0, 1), got {args.holdout}")
    try:
        args.overrides = dict(_override(text) for text in args.set)
    except ValueError as error:
        ap.error(str(error))
    if args.model and (args.overrides or args.train_corpus):
        ap.error("--set and --train-corpus change training; they do not apply to --model")
    if any(not np.isfinite(v) or v <= 0 for v in args.smoothing):
        ap.error(f"--smoothing widths must be > 0, got {args.smoothing}")
    return args


def _override(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--set wants NAME=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, {"none": None, "true": True, "false": False}.get(value.lower(), value)


def split_natives(natives, holdout, seed):
    """Held-out native names: ``round(holdout * n)`` of the sorted unique names (by ``seed``)."""
    names = np.unique(np.asarray(natives))
    rng = np.random.default_rng(seed)
    n_held = max(1, int(round(holdout * len(names))))
    return set(names[rng.permutation(len(names))[:n_held]].tolist())


def training_decoys(data, held, train_corpus=(), load=None):
    """The decoys of ``data`` whose natives are not in ``held``, followed by those of the
    ``train_corpus`` folders (read with ``load``, :func:`estimators.training_data.load_corpus`,
    which skips the held-out natives' files)."""
    train = data.subset(np.flatnonzero(~np.isin(data.natives, sorted(held))))
    if train_corpus:
        train = train.concat(load(list(train_corpus), natives=lambda name: name not in held))
    return train


def burial(ca, radius=10.0):
    """Number of other CA atoms within ``radius`` of each residue's CA (NaN rows: missing CA)."""
    from estimators.local_refinement import ca_neighbour_counts
    return ca_neighbour_counts(ca, radius)


def helix_mark(ca, lo=4.2, hi=5.8):
    """1 for residues in a CA(i)-CA(i+3) step of helical length, else 0."""
    from estimators.local_refinement import ca_step_mark
    return ca_step_mark(ca, 3, lo, hi)


def local_rho(pred, true):
    """Spearman's rho over the residues with both values (:func:`estimators.metrics.spearman`:
    NaN pairs dropped, NaN for constant values), NaN with fewer than 10 such residues."""
    if np.count_nonzero(np.isfinite(pred) & np.isfinite(true)) < 10:
        return np.nan
    return spearman(pred, true)


def smoothed_key(sigma):
    """Name of the column of the network's scores smoothed with width ``sigma``."""
    return f"smoothed {sigma:g}"


def summarise(pred, data, structures, smoothing=(), refined=None):
    """The tables of the module docstring from per-residue predictions of the decoys in
    ``data``; with ``smoothing``, one more column per width: the same predictions smoothed
    along the chain (:func:`estimators.smoothing.smooth_along_chain`); with ``refined`` (the
    same network's scores after its refinements, :mod:`estimators.local_refinement` and
    :mod:`estimators.global_refinement`), a column "refined"."""
    from estimators.smoothing import smooth_along_chain
    keys = (["network"] + [smoothed_key(v) for v in smoothing] + ["burial", "helix"]
            + (["refined"] if refined is not None else []))
    rows = []
    for i, (p, t, k, g, s) in enumerate(zip(pred, data.local, data.kinds, data.glob,
                                            structures)):
        ca = s.backbone()[1]
        row = {"kind": str(k).split("+")[0], "glob": float(g),
               "network": local_rho(p, t), "burial": local_rho(burial(ca), t),
               "helix": local_rho(helix_mark(ca), t)}
        for v in smoothing:
            row[smoothed_key(v)] = local_rho(smooth_along_chain(p, ca, v), t)
        if refined is not None:
            row["refined"] = local_rho(refined[i], t)
        rows.append(row)

    def mean_of(select):
        picked = [r for r in rows if select(r)]
        out = {"n": sum(np.isfinite(r["network"]) for r in picked)}
        for key in keys:
            v = [r[key] for r in picked if np.isfinite(r[key])]
            out[key] = float(np.mean(v)) if v else float("nan")
        return out

    table = {"all": mean_of(lambda r: True)}
    for kind in sorted({r["kind"] for r in rows}):
        table[kind] = mean_of(lambda r, kind=kind: r["kind"] == kind)
    for lo, hi in BINS:
        table[f"lDDT {lo:.2f}-{min(hi, 1.0):.2f}"] = mean_of(lambda r: lo <= r["glob"] < hi)
    per_native, n_natives = per_native_spearman(pred, data)
    return table, per_native, n_natives


def per_native_spearman(pred, data):
    """Mean over natives (with at least 3 scored decoys of different lDDT) of the Spearman
    correlation of the decoys' global scores (mean per-residue score) and global lDDT, and the
    number of such natives."""
    glob_pred = np.array([np.nanmean(p) if np.isfinite(p).any() else np.nan for p in pred])
    per_native = []
    for name in np.unique(data.natives):
        idx = np.flatnonzero(data.natives == name)
        ok = idx[np.isfinite(glob_pred[idx])]
        if len(ok) >= 3 and np.ptp(data.glob[ok]) > 0:
            per_native.append(spearman(glob_pred[ok], data.glob[ok]))
    return (float(np.mean(per_native)) if per_native else float("nan")), len(per_native)


def format_table(table):
    first = next(iter(table.values()))
    smoothed = [k for k in first if k.startswith("smoothed ")]
    refined = ["refined"] if "refined" in first else []
    cols = ["network"] + smoothed + refined + ["burial", "helix"]
    heads = (["network"] + [f"network, {k}" for k in smoothed] + ["network, refined"] * len(refined)
             + ["burial", "helix mark"])
    lines = ["| decoys | n | " + " | ".join(heads) + " |", "|---|---:|" + "---:|" * len(cols)]
    for name, row in table.items():
        lines.append(f"| {name} | {row['n']} | " + " | ".join(f"{row[c]:.3f}" for c in cols)
                     + " |")
    return "\n".join(lines)


def join(paths):
    """Rows ``(name, n_seeds, threaded, all, per-native)``: means over the files of each name
    (for files with refined scores, also a row ``name + ", refined"`` of those)."""
    by_name = {}
    for path in paths:
        info = json.loads(Path(path).read_text())
        by_name.setdefault(info["settings"].get("name") or Path(path).stem, []).append(info)
    rows = []
    for name, infos in by_name.items():
        def mean(get):
            return float(np.mean([get(i) for i in infos]))
        columns = ["network"] + (["refined"] if all("refined" in i["local_spearman"]["all"]
                                                     for i in infos) else [])
        for col in columns:
            key = "per_native_spearman" + ("" if col == "network" else "_refined")
            rows.append((name if col == "network" else f"{name}, {col}", len(infos),
                         mean(lambda i: i["local_spearman"].get("threaded", {}).get(col, np.nan)),
                         mean(lambda i: i["local_spearman"]["all"][col]),
                         mean(lambda i: i.get(key, i["per_native_spearman"]))))
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.join:
        print("| configuration | seeds | local Spearman, threaded | local Spearman, all | "
              "per-native Spearman |")
        print("|---|---:|---:|---:|---:|")
        for name, n, threaded, everything, per_native in join(args.join):
            print(f"| {name} | {n} | {threaded:.3f} | {everything:.3f} | {per_native:.3f} |")
        return 0
    from estimators.training_data import load_corpus
    data = load_corpus(args.corpus)
    held = split_natives(data.natives, args.holdout, args.split_seed)
    is_held = np.isin(data.natives, sorted(held))
    test = data.subset(np.flatnonzero(is_held))
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M"),
            "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
            "settings": {k: v for k, v in vars(args).items() if k != "set"},
            "n_natives_held_out": len(held), "n_test": len(test)}
    t0 = time.perf_counter()
    if args.model:
        from estimators.pretrained import load_model
        est = load_model(args.model, local_smoothing=0.0)
    else:
        from estimators import SixDQAEstimator
        train = training_decoys(data, held, args.train_corpus, load_corpus)
        est = SixDQAEstimator(architecture=args.architecture, epochs=args.epochs,
                              patience=args.patience, random_state=args.seed, n_jobs=1,
                              **{"local_smoothing": 0.0, "local_refinement": False,
                                 **args.overrides})
        est.fit(train.models, list(zip(train.local, train.glob)), groups=train.groups)
        info["n_train"] = len(train)
        info["history"] = [{k: h.get(k) for k in ("epoch", "seconds", "loss", "val_group_spearman")}
                           for h in est.history_ if "epoch" in h]
    info["fit_s"] = time.perf_counter() - t0
    structures = [m() for m in test.models]
    refined = None
    fitted = {name: getattr(est, name + "_", None) is not None
              for name in ("local_refinement", "global_refinement")}
    if any(fitted.values()):
        refined = est.set_params(**fitted).predict(structures)
        est.set_params(local_refinement=False, global_refinement=False)
    pred = est.predict(structures)
    if args.save_model:
        est.save(args.save_model)
    table, per_native, n_natives = summarise(pred, test, structures, args.smoothing, refined)
    info.update(local_spearman=table, per_native_spearman=per_native,
                n_natives_ranked=n_natives)
    print(f"{len(test)} decoys of {len(held)} held-out natives; per-native Spearman of the "
          f"global scores {per_native:.3f} ({n_natives} natives)")
    if refined is not None:
        info["per_native_spearman_refined"] = per_native_spearman(refined, test)[0]
        print(f"per-native Spearman of the refined global scores "
              f"{info['per_native_spearman_refined']:.3f}")
    print(format_table(table))
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
