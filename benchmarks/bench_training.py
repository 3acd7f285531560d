"""Training-iteration and inference speed of Baseline, 6DCNN-1 and 6DCNN-2 (CPU or GPU).

One training iteration = forward + backward (autograd with the operators' VJPs)
+ Adam step on a minibatch of 16 models (paper: 16 models per iteration;
~5, 6 and 15 minutes per iteration on a Xeon E5-2630 v4 for the three networks).
Inference = featurized models scored per second.  VoroMQA (``voronota-voromqa``)
is timed on the same models when installed.

    python benchmarks/bench_training.py [--device cpu] [--dtype float32] [--no-append]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from autograd import value_and_grad  # noqa: E402
import autograd.numpy as anp  # noqa: E402

from _common import append_results  # noqa: E402
from estimators.batching import collate  # noqa: E402
from estimators.features import featurize  # noqa: E402
from estimators.networks import (init_params, forward, batch_to_device, radial_grid,  # noqa: E402
                                 count_params)
from estimators.architectures import get_architecture  # noqa: E402
from estimators.structures import read_structure  # noqa: E402
from estimators.training import Adam  # noqa: E402

PAPER_MINUTES = {"baseline": 5.0, "6dcnn-1": 6.0, "6dcnn-2": 15.0}
PAPER_PARAMS = {"baseline": 21026, "6dcnn-1": 187326, "6dcnn-2": 283426}


def shared_dir():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("FOURIER6D_SHARED", os.path.join(os.path.dirname(here), "shared"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--architectures", nargs="+", default=["baseline", "6dcnn-1", "6dcnn-2"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--min-res", type=int, default=150)
    ap.add_argument("--max-res", type=int, default=300)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--voromqa-models", type=int, default=8)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)

    if args.device == "cuda":
        import cupy as xp
        from fourier6d.autodiff import enable_cupy_autograd
        enable_cupy_autograd()
    else:
        xp = np
    dt = np.dtype(args.dtype)
    natives = sorted(glob.glob(os.path.join(shared_dir(), "data", "natives", "*.pdb")))
    structs = [read_structure(p) for p in natives]
    chosen = [(p, s) for p, s in zip(natives, structs) if args.min_res <= s.n_residues <= args.max_res]
    chosen = chosen[:args.batch]
    if len(chosen) < args.batch:
        chosen += [(p, s) for p, s in zip(natives, structs) if (p, s) not in chosen][:args.batch - len(chosen)]
    n_res = sum(s.n_residues for _, s in chosen)
    feats = [featurize(s, dtype=dt) for _, s in chosen]
    rows = []
    for arch in args.architectures:
        spec = get_architecture(arch)
        grid = radial_grid(spec)
        params = {k: xp.asarray(v) for k, v in init_params(spec, 0, dt).items()}
        opt = Adam(params, 1e-3, clip_norm=1.0)
        y = xp.asarray(np.random.default_rng(0).uniform(0.3, 0.9, sum(len(f.residue_index) for f in feats)), dtype=dt)
        inv_n = dt.type(1.0 / len(y))

        def iteration(params=params):
            batch = collate(feats, dtype=dt)
            dev = batch_to_device(batch, xp, dt)
            # mean squared error kept in the working dtype (autograd's ``mean`` would return a
            # float64 cotangent for float32 arrays and run the backward pass in float64)
            loss = lambda p: anp.sum((forward(p, spec, dev, grid) - y) ** 2) * inv_n
            v, g = value_and_grad(loss)(params)
            opt.step(params, g)
            if xp is not np:
                xp.cuda.Stream.null.synchronize()
            return v

        iteration()  # warm-up (tables, numba)
        times = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            iteration()
            times.append(time.perf_counter() - t0)
        t_iter = float(np.median(times))

        def infer():
            dev = batch_to_device(collate(feats, dtype=dt), xp, dt)
            o = forward(params, spec, dev, grid)
            if xp is not np:
                xp.cuda.Stream.null.synchronize()
            return o
        infer()
        t0 = time.perf_counter()
        infer()
        t_inf = time.perf_counter() - t0
        rows.append((arch, count_params(init_params(spec)), PAPER_PARAMS[arch], t_iter,
                     PAPER_MINUTES[arch] * 60 / t_iter, len(feats) / t_inf))
        print(rows[-1], flush=True)

    voro = ""
    if shutil.which("voronota-voromqa"):
        sample = [p for p, _ in chosen[:args.voromqa_models]]
        t0 = time.perf_counter()
        for p in sample:
            subprocess.run(["voronota-voromqa", "-i", p], capture_output=True, check=True)
        t_v = (time.perf_counter() - t0) / len(sample)
        voro = f"VoroMQA (voronota-voromqa, same machine): {1 / t_v:.2f} models/s ({t_v:.2f} s per model)."

    table = ["| network | parameters (ours) | parameters (paper) | s per training iteration "
             f"({args.batch} models, {n_res} residues) | speed-up vs paper's Xeon figure | "
             "inference models/s (featurized) |", "|---|---|---|---|---|---|"]
    for arch, n_p, paper_p, t_iter, ratio, mps in rows:
        table.append(f"| {arch} | {n_p:,} | {paper_p:,} | {t_iter:.2f} | {ratio:.0f}x | {mps:.1f} |")
    table = "\n".join(table)
    print(table)
    print(voro)
    if not args.no_append:
        append_results(f"Training and inference speed ({args.device}, {dt.name})", table,
                       voro + " Paper figures: 5, 6, 15 min per 16-model iteration on a Xeon "
                       "E5-2630 v4; our ratio = paper seconds / ours.")


if __name__ == "__main__":
    main()
