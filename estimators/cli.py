"""The ``fourier6d`` command line: score, train, evaluate, featurize."""
from __future__ import annotations

import argparse
import csv
import glob
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


def _write_bfactor_pdb(src, structure, local, out_path):
    """Copy ``src`` with per-residue predicted lDDT (0-1) in the B-factor column."""
    import prody
    prody.confProDy(verbosity="none")
    ag = prody.parsePDB(str(src)) if not str(src).lower().endswith((".cif", ".cif.gz", ".mmcif")) \
        else prody.parseMMCIF(str(src))
    key_to_val = {}
    for c, r, i, v in zip(structure.chain_ids, structure.resnums, structure.icodes, local):
        key_to_val[(str(c).strip(), int(r), str(i).strip())] = v
    beta = np.zeros(ag.numAtoms())
    for k, (c, r, i) in enumerate(zip(ag.getChids(), ag.getResnums(), ag.getIcodes())):
        v = key_to_val.get((str(c).strip(), int(r), str(i).strip()))
        if v is not None and np.isfinite(v):
            beta[k] = v
    ag.setBetas(beta)
    prody.writePDB(str(out_path), ag)
    with open(out_path) as fh:
        body = fh.read()
    with open(out_path, "w") as fh:
        fh.write("REMARK   1 B-FACTOR = PREDICTED PER-RESIDUE LDDT (0-1) BY FOURIER6D; "
                 "0.00 = NOT SCORED\n" + body)


def _cmd_score(args):
    from .pretrained import load_pretrained
    from .qa_estimator import SixDQAEstimator
    from .structures import read_structures
    inputs = collect_inputs(args.models)
    if not inputs:
        print("error: no input models given", file=sys.stderr)
        return 2
    est = SixDQAEstimator.load(args.model) if args.model else load_pretrained()
    est.set_params(n_jobs=args.jobs, device=args.device, errors="warn", verbose=int(args.progress))
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    failures = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        structures = read_structures(inputs, errors="warn", n_jobs=args.jobs)
    for w in caught:
        msg = str(w.message)
        for src in inputs:
            if src in msg and src not in failures:
                failures[src] = msg
    ok_idx = [i for i, s in enumerate(structures) if s is not None]
    for i, s in enumerate(structures):
        if s is None and inputs[i] not in failures:
            failures[inputs[i]] = "could not be read"
    preds = est.predict([structures[i] for i in ok_idx]) if ok_idx else []
    rows, per_res, casp_entries = [], [], []
    for i, p in zip(ok_idx, preds):
        src, s = inputs[i], structures[i]
        if p is None or not np.isfinite(p).any():
            failures[src] = "no residue could be scored (missing backbone atoms?)"
            continue
        name = Path(src).name
        glob_score = float(np.nanmean(p))
        rows.append((name, glob_score, int(np.isfinite(p).sum()), len(p)))
        for c, r, ic, rn, v in zip(s.chain_ids, s.resnums, s.icodes, s.resnames, p):
            per_res.append((name, str(c), int(r), str(ic), str(rn), "" if not np.isfinite(v) else f"{v:.4f}"))
        casp_entries.append((name, glob_score, s.resnums, p))
        stem = name[:-3] if name.endswith(".gz") else name
        stem = stem.rsplit(".", 1)[0] if stem.lower().endswith((".pdb", ".ent", ".cif")) else stem
        try:
            _write_bfactor_pdb(src, s, p, out / f"{stem}_lddt.pdb")
        except Exception as exc:  # the scores are still written
            print(f"warning: could not write B-factor PDB for {src}: {exc}", file=sys.stderr)
    with open(out / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "global_score", "n_scored_residues", "n_residues"])
        for r in rows:
            w.writerow([r[0], f"{r[1]:.4f}", r[2], r[3]])
    with open(out / "residue_scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "chain", "resnum", "icode", "resname", "predicted_lddt"])
        w.writerows(per_res)
    if args.format == "casp" and casp_entries:
        write_casp_qa(out / "casp_qa.txt", args.target or "T0000", casp_entries)
    for name, score, n_ok, n in rows:
        print(f"{name}\t{score:.4f}\t{n_ok}/{n} residues")
    if failures:
        print(f"\n{len(failures)} input(s) failed:", file=sys.stderr)
        for src, msg in failures.items():
            print(f"  {src}: {msg}", file=sys.stderr)
    print(f"\nwrote {out / 'scores.csv'} and per-residue results to {out}", file=sys.stderr)
    return 0 if rows else 1


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
    models, labels, groups = training_set(casp13=args.casp13, corpus=args.corpus,
                                          exclude_targets=args.exclude_target)
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
    pred = {r["model"]: float(r["global_score"]) for r in rows}
    names = [Path(p).name for p in data.model_paths]
    p = np.array([pred.get(n, np.nan) for n in names])
    m = qa_metrics(p, np.asarray(data.lddt), np.asarray(data.targets))
    print(format_table({Path(args.predictions).stem: m}))
    return 0


def build_parser():
    ap = argparse.ArgumentParser(prog="fourier6d", description="6DCNN protein model quality assessment")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="predict per-residue and global lDDT of models")
    s.add_argument("models", nargs="+", help="model files, directories or glob patterns")
    s.add_argument("-o", "--outdir", default="fourier6d_scores")
    s.add_argument("--model", help="a saved model (.npz); default: the shipped pretrained model")
    s.add_argument("--format", choices=["default", "casp"], default="default")
    s.add_argument("--target", help="target name for --format casp")
    s.add_argument("--jobs", type=int, default=1)
    s.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
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


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
