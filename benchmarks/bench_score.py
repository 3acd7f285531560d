"""Scoring from files: what ``fourier6d score`` does per model, and whether ``--jobs`` pays.

Usage::

    python benchmarks/bench_score.py [--data DIR] [--models 392] [--jobs 1 2] [--repeat 3]
                                     [--no-append]

Runs :func:`estimators.batch_scoring.score_inputs` (read with gemmi, featurize, predict with the
shipped model, in chunks of 16) over the CASP13 server models, once per value of ``--jobs``
(worker processes reading the files), alternating the values pass by pass so that load changes
on a shared machine hit all alike.  Reports the best and median time and models/s.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import append_results  # noqa: E402
from estimators.batch_scoring import score_inputs  # noqa: E402
from estimators.pretrained import load_pretrained  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="shared data folder with casp13/ (default: %(default)s)")
    ap.add_argument("--models", type=int, default=392,
                    help="number of CASP13 models scored per pass (default: %(default)s)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                    help="values of n_jobs compared (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="passes per value (default: %(default)s)")
    ap.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args(argv)
    files = [str(p) for p in sorted((Path(args.data) / "casp13").glob("*/models/*"))][:args.models]
    est = load_pretrained()
    est.set_params(n_jobs=1, verbose=0)
    warnings.simplefilter("ignore")
    for j in args.jobs:                               # warm-up: kernels, worker start
        list(score_inputs(est, files[:32], n_jobs=j))
    times = {j: [] for j in args.jobs}
    for _ in range(args.repeat):
        for j in args.jobs:
            t0 = time.perf_counter()
            out = list(score_inputs(est, files, n_jobs=j))
            times[j].append(time.perf_counter() - t0)
            assert all(o.ok for o in out)
    rows = [f"| {j} | {len(files)} | {min(t):.2f} | {np.median(t):.2f} | {len(files) / min(t):.0f} |"
            for j, t in times.items()]
    table = "\n".join(["| --jobs | models | best s | median s | models/s (best) |",
                       "|---|---|---|---|---|"] + rows)
    print(table)
    if not args.no_append:
        append_results("Scoring from files (bench_score.py)", table,
                       f"{args.repeat} alternating passes per value.")


if __name__ == "__main__":
    main()
