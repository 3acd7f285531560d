"""What each step of the training recipe buys, measured on CASP13 models never seen in training.

Usage::

    python benchmarks/qa_ablation.py --old-corpus DIR --corpus DIR [--budget 1200] [--epochs 3]
                                     [--architecture 6dcnn-1] [--out benchmarks/results/qa_ablation.md]

Every row trains one network on decoys only (``qa_casp13.py --corpus-only``: no CASP13 model in
training, early stopping on held-out natives) and predicts all 392 CASP13 server models; rows differ
in one step each, in the order of the recipe:

1. torsion-walk decoys (the kinds backbone, hinge, register, sidechain, misfold) of ``natives/``
   only, squared-error loss (from ``--old-corpus``; later rows use both corpora);
2. + threaded (template-based) decoys;
3. + the natives of ``natives_extra/``;
4. + physically impossible models (overlay, crushed, clash, expanded);
5. + the ranking term of the loss and group-aware minibatches;
6. + a seed ensemble (two networks, predictions averaged).

Each row uses at most ``--budget`` decoys (the same number per native, evenly spaced over each
native's decoys in both corpora), so rows differ in what the decoys are, not in how many.  All settings are fixed before the
run and are the same for every row; nothing is tuned on CASP13.  Results: one JSON per row under
``--workdir`` and a Markdown table (``--out``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

OLD_KINDS = "backbone,hinge,register,sidechain,misfold,auto"


def rows(args):
    """(label, qa_casp13 arguments) of each ablation row."""
    common = ["--corpus-only", "--architectures", args.architecture, "--epochs", str(args.epochs),
              "--jobs", "1", "--figures", "", "--seed", "0"]
    old = ["--corpus", args.old_corpus, "--kinds", OLD_KINDS]
    natives_only = ["--corpus-natives", "natives"]
    plain = ["--rank-weight", "0", "--groups-per-batch", "0"]
    full = ["--corpus", args.old_corpus, args.corpus]
    return [
        ("torsion-walk decoys, natives/ only", old + natives_only + plain),
        ("+ threaded decoys", full + natives_only + plain
         + ["--kinds", OLD_KINDS + ",threaded"]),
        ("+ natives_extra", full + plain + ["--kinds", OLD_KINDS + ",threaded"]),
        ("+ impossible models", full + plain),
        ("+ ranking loss", full),
        ("+ seed ensemble (2)", full + ["--seeds", "0", "1"]),
    ], common


def _budget(args, corpus_args):
    """--corpus-per-native giving at most ``--budget`` decoys for this row's natives and kinds."""
    from estimators.training_data import load_corpus
    import qa_casp13
    ns = qa_casp13.parse_args(corpus_args + ["--corpus-only", "--no-append"])
    kinds = None if not ns.kinds else ns.kinds.split(",")
    natives = {"all": None, "natives": qa_casp13._is_native_set,
               "natives_extra": lambda n: not qa_casp13._is_native_set(n)}[ns.corpus_natives]
    c = load_corpus(ns.corpus, kinds=kinds, natives=natives)
    n_natives = len(set(c.natives.tolist()))
    per_native = max(1, args.budget // max(n_natives, 1))
    return per_native, n_natives


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-corpus", required=True, help="corpus of torsion-walk decoys")
    ap.add_argument("--corpus", required=True, help="corpus with threaded and impossible decoys")
    ap.add_argument("--budget", type=int, default=1200, help="decoys per row (at most)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--architecture", default="6dcnn-1", choices=["baseline", "6dcnn-1", "6dcnn-2"])
    ap.add_argument("--workdir", default=str(ROOT / "benchmarks" / "results" / "ablation"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "qa_ablation.md"))
    ap.add_argument("--rows", type=int, nargs="+", default=None, help="run only these rows (1-based)")
    args = ap.parse_args(argv)
    import qa_casp13
    table, common = rows(args)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for k, (label, extra) in enumerate(table, start=1):
        path = work / f"row{k}.json"
        if args.rows and k not in args.rows:
            if path.exists():
                results.append((k, label, json.loads(path.read_text())))
            continue
        per_native, n_natives = _budget(args, extra)
        argv_row = common + extra + ["--corpus-per-native", str(per_native), "--no-append",
                                     "--json", str(path), "--label", label]
        print(f"== row {k}: {label} ({n_natives} natives, {per_native} decoys each)", flush=True)
        t0 = time.perf_counter()
        qa_casp13.main(argv_row)
        print(f"   row {k} done in {time.perf_counter() - t0:.0f} s", flush=True)
        results.append((k, label, json.loads(path.read_text())))
    name = {"baseline": "Baseline", "6dcnn-1": "6DCNN-1", "6dcnn-2": "6DCNN-2"}[args.architecture]
    lines = [f"Ablation ({name}, decoys only, CASP13 never seen in training; at most {args.budget} "
             f"decoys and {args.epochs} epochs per row), "
             f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {platform.machine()} "
             f"{os.cpu_count()} cores.", "",
             "| row | decoys (threaded / impossible) | per-target Pearson | per-target Spearman "
             "| pooled Pearson | local Spearman | max abs. per-target bias |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for k, label, res in sorted(results):
        # a seed-ensemble row reports each seed and the ensemble: the row is the ensemble
        key = next((m for m in res["metrics"] if m.startswith(f"{name} (ensemble")), name)
        m = res["metrics"][key]
        bias = max(abs(v["mean_pred_minus_true"]) for v in res["per_target"][key].values())
        kinds = res.get("corpus_kinds", {})
        n_imp = sum(kinds.get(x, 0) for x in ("overlay", "crushed", "clash", "expanded"))
        lines.append(f"| {k}. {label} | {res['n_corpus']} ({kinds.get('threaded', 0)} / {n_imp}) | "
                     f"{m['per_target_pearson']:.3f} | "
                     f"{m['per_target_spearman']:.3f} | {m['global_pearson']:.3f} | "
                     f"{m['local_spearman']:.3f} | {bias:.2f} |")
    v = results[0][2]["metrics"]["VoroMQA"] if results else None
    if v:
        lines.append(f"| VoroMQA (same models) | – | {v['per_target_pearson']:.3f} | "
                     f"{v['per_target_spearman']:.3f} | {v['global_pearson']:.3f} | "
                     f"{v['local_spearman']:.3f} | – |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return results


if __name__ == "__main__":
    main()
