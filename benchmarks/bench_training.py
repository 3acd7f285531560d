"""Training-iteration and inference speed of Baseline, 6DCNN-1 and 6DCNN-2 (CPU or GPU).

One training iteration = forward + backward (autograd with the operators' VJPs)
+ Adam step on a minibatch of 16 models (paper: 16 models per iteration;
~5, 6 and 15 minutes per iteration on a Xeon E5-2630 v4 for the three networks).
Inference = featurized models scored per second.  VoroMQA (``voronota-voromqa``)
is timed on the same models when installed.

    python benchmarks/bench_training.py [--device cpu] [--dtype float32] [--no-append]
                                        [--data natives_extra --min-res 150 --max-res 170]
                                        [--architectures 6dcnn-2 original] [--profile]
                                        [--compare edge dense]

``original`` is the network of the authors' released code at this project's
defaults: three 6D blocks 15 -> 12 -> 10 (two message-passing steps), L = 4.
Its iteration is compared with the original TensorFlow implementation's
figure measured on this machine (``--original-seconds``, 14.0 s per 16 models
of 79 residues on 2 threads) when run on models of that size
(``--min-res 75 --max-res 83``).

Every run also times a float32 GEMM of 2048^3 in the same process and prints
each iteration as a multiple of it (a ratio that survives machine noise), and
the CPU time of each iteration summed over its threads (the work done, which
other jobs on a shared machine disturb less than the wall time).
``--profile`` prints the per-operator time shares of one training iteration
(forward and VJP of each fourier6d operator, the message-passing geometry,
batch assembly, the Adam step, and the rest: autograd and the graph head).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fourier6d  # noqa: E402,F401  (before NumPy: it sets OpenBLAS's idle-thread timeout)
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
from fourier6d.message_passing import clear_frames_cache  # noqa: E402
from fourier6d._backend import get_array_module  # noqa: E402

PAPER_MINUTES = {"baseline": 5.0, "6dcnn-1": 6.0, "6dcnn-2": 15.0}
PAPER_PARAMS = {"baseline": 21026, "6dcnn-1": 187326, "6dcnn-2": 283426}
#: The authors' released network at this project's featurization: 6D blocks 15 -> 12 -> 10, L = 4.
ORIGINAL = "original"


def architecture(name):
    """Spec of a named network, ``original`` included."""
    if name == ORIGINAL:
        spec = dict(get_architecture("6dcnn-2"), name=ORIGINAL, blocks=[15, 12, 10])
        return get_architecture(spec)
    return get_architecture(name)


def gemm_seconds(n=2048, repeat=5):
    """Median seconds of one float32 GEMM n^3 (NumPy), timed in this process."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


class OperatorProfile:
    """Exclusive wall time per operator while installed (:meth:`install` / :meth:`remove`).

    Forward: the network's operator functions and the message-passing stages are
    wrapped by timers; nested timed calls are charged to the innermost one.
    Backward: the VJPs of every fourier6d autograd primitive are wrapped.
    """

    def __init__(self):
        self.times = defaultdict(float)
        self._stack = []
        self._undo = []

    def _timed(self, name, fn):
        def wrapper(*args, **kwargs):
            self._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
                return tuple(out) if name.endswith(" VJP") else out
            finally:
                dt = time.perf_counter() - t0
                self.times[name] += dt - self._stack.pop()
                if self._stack:
                    self._stack[-1] += dt
        return wrapper

    def _patch(self, obj, attr, name):
        fn = getattr(obj, attr)
        setattr(obj, attr, self._timed(name, fn))
        self._undo.append((obj, attr, fn))

    def install(self):
        import importlib
        from autograd.core import primitive_vjps
        import estimators.networks as net
        for attr in ("embed_atoms", "conv6d", "normalize", "activation", "switch_to_vector",
                     "take_rows"):
            self._patch(net, attr, attr)
        mp = importlib.import_module("fourier6d.message_passing")
        self._patch(mp, "node_message_passing", "message_passing forward (messages)")
        self._patch(mp, "message_passing", "message_passing forward (messages, relative frames)")
        # the geometry of each formulation (the messages are timed as primitives below)
        self._patch(mp, "edge_operators", "message_passing: edge_operators (dense geometry)")
        self._patch(mp, "node_wigner", "message_passing: node Wigner matrices")
        zm = importlib.import_module("fourier6d.zmessage")
        self._patch(zm, "edge_frames", "message_passing: edge_frames (geometry)")
        self._patch(zm, "translation_frames", "message_passing: translation_frames (geometry)")
        for f, maker in list(primitive_vjps.items()):
            # primitives keep their raw function in ``fun`` (autograd.tracer.primitive)
            module = getattr(getattr(f, "fun", None), "__module__", "") or ""
            if not module.startswith("fourier6d."):
                continue
            name = f"{module.split('.')[-1]}.{f.__name__} VJP"

            def timed_maker(argnums, ans, args, kwargs, maker=maker, name=name):
                return self._timed(name, maker(argnums, ans, args, kwargs))
            primitive_vjps[f] = timed_maker
            self._undo.append((primitive_vjps, f, maker))

    def remove(self):
        for obj, attr, fn in reversed(self._undo):
            if isinstance(obj, dict):
                obj[attr] = fn
            else:
                setattr(obj, attr, fn)
        self._undo.clear()


class relative_message_passing:
    """Within the block, the networks' message passing (``node_message_passing``) runs as
    :func:`fourier6d.message_passing.message_passing` on the relative transforms
    ``R_ij = F_i^T F_j``, ``t_ij = F_i^T (o_j - o_i)`` (computed here, in the working dtype,
    as the featurizer stores them) with ``method``: ``"z"``, rotation into each edge's frame
    per edge, or ``"dense"``, one dense operator per edge."""

    def __init__(self, method):
        self.method = method

    def __enter__(self):
        import importlib
        self.mp = importlib.import_module("fourier6d.message_passing")
        self.saved = self.mp.node_message_passing
        relative = self.mp.message_passing
        method = self.method

        def node_message_passing(coeffs, nbr_idx, nbr_mask, frames, origins, grid,
                                 edge_weight=None):
            xp = get_array_module(frames)
            dtype = getattr(coeffs, "_value", coeffs).dtype
            Fi = frames[:, None]
            Fj = frames[nbr_idx]
            R_ij = (xp.swapaxes(Fi, -1, -2) @ Fj).astype(dtype)
            t_ij = xp.einsum("nkba,nkb->nka", Fi, origins[nbr_idx] - origins[:, None]).astype(dtype)
            return relative(coeffs, nbr_idx, nbr_mask, R_ij, t_ij, grid,
                            edge_weight=edge_weight, method=method)
        self.mp.node_message_passing = node_message_passing

    def __exit__(self, *exc):
        self.mp.node_message_passing = self.saved


def print_profile(profiles, total, label):
    """Table of the mean exclusive time per operator over ``profiles`` and its share of ``total``."""
    keys = sorted({k for p in profiles for k in p}, key=lambda k: -sum(p.get(k, 0) for p in profiles))
    n = len(profiles)
    print(f"\nPer-operator time of a {label} training iteration (mean of {n}; {total * 1e3:.0f} ms):")
    print("| operator | ms | share |\n|---|---|---|")
    accounted = 0.0
    for k in keys:
        ms = sum(p.get(k, 0.0) for p in profiles) / n
        accounted += ms
        print(f"| {k} | {ms * 1e3:.1f} | {ms / total:.1%} |")
    rest = total - accounted
    print(f"| rest (autograd, graph head, elementwise glue) | {rest * 1e3:.1f} | {rest / total:.1%} |")


def shared_dir():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("FOURIER6D_SHARED", os.path.join(os.path.dirname(here), "shared"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--architectures", nargs="+", default=["baseline", "6dcnn-1", "6dcnn-2"],
                    help="baseline, 6dcnn-1, 6dcnn-2, original (blocks 15/12/10)")
    ap.add_argument("--data", default="natives",
                    help="folder of PDB files under the shared data folder (natives, natives_extra)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--min-res", type=int, default=150)
    ap.add_argument("--max-res", type=int, default=300)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--voromqa-models", type=int, default=8)
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--no-inference", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="per-operator time shares of a training iteration")
    ap.add_argument("--compare", nargs="+", default=[], choices=["edge", "dense"],
                    help="also time networks with message passing in relative frames: 'edge', a "
                         "rotation into each edge's frame per edge (method='z'), 'dense', one dense "
                         "operator per edge (method='dense'); iterations alternating with the "
                         "default's (node frames)")
    ap.add_argument("--compare-dense", action="store_true", help="same as --compare dense")
    ap.add_argument("--original-seconds", type=float, default=14.0,
                    help="the original implementation's seconds per 16-model iteration (79 residues)")
    args = ap.parse_args(argv)

    if args.device == "cuda":
        import cupy as xp
        from fourier6d.autodiff import enable_cupy_autograd
        enable_cupy_autograd()
    else:
        xp = np
    dt = np.dtype(args.dtype)
    folder = os.path.join(shared_dir(), "data", args.data)
    natives = sorted(glob.glob(os.path.join(folder, "*.pdb")) + glob.glob(os.path.join(folder, "*.pdb.gz")))
    structs = [read_structure(p) for p in natives]
    chosen = [(p, s) for p, s in zip(natives, structs) if args.min_res <= s.n_residues <= args.max_res]
    chosen = chosen[:args.batch]
    if len(chosen) < args.batch:
        chosen += [(p, s) for p, s in zip(natives, structs) if (p, s) not in chosen][:args.batch - len(chosen)]
    n_res = sum(s.n_residues for _, s in chosen)
    feats = [featurize(s, dtype=dt) for _, s in chosen]
    rows = []
    gemm = [gemm_seconds()]
    print(f"{len(feats)} models, {n_res} residues ({args.data}); float32 GEMM 2048^3: "
          f"{gemm[0] * 1e3:.1f} ms", flush=True)
    for arch in args.architectures:
        spec = architecture(arch)
        grid = radial_grid(spec)
        params = {k: xp.asarray(v) for k, v in init_params(spec, 0, dt).items()}
        opt = Adam(params, 1e-3, clip_norm=1.0)
        y = xp.asarray(np.random.default_rng(0).uniform(0.3, 0.9, sum(len(f.residue_index) for f in feats)), dtype=dt)
        inv_n = dt.type(1.0 / len(y))

        def iteration(params=params, prof=None):
            # every minibatch of a training run is new: its message-passing geometry is built
            # (here the same models come back each iteration, whose geometry would be reused)
            clear_frames_cache()
            batch = collate(feats, dtype=dt)
            dev = batch_to_device(batch, xp, dt)
            if prof is not None:
                prof.times["batch assembly (collate, to device)"] += time.perf_counter() - t_start[0]
            # mean squared error kept in the working dtype (autograd's ``mean`` would return a
            # float64 cotangent for float32 arrays and run the backward pass in float64)
            loss = lambda p: anp.sum((forward(p, spec, dev, grid) - y) ** 2) * inv_n
            v, g = value_and_grad(loss)(params)
            t_opt = time.perf_counter()
            opt.step(params, g)
            if prof is not None:
                prof.times["Adam step"] += time.perf_counter() - t_opt
            if xp is not np:
                xp.cuda.Stream.null.synchronize()
            return v

        t_start = [0.0]
        iteration()  # warm-up (tables, numba)
        compare = list(dict.fromkeys(args.compare + (["dense"] if args.compare_dense else [])))
        compare = compare if len(spec["blocks"]) > 1 else []
        methods = {"edge": "z", "dense": "dense"}
        for name in compare:
            with relative_message_passing(methods[name]):
                iteration()
        times, cpu = [], []
        other = {name: ([], []) for name in compare}
        for _ in range(args.iterations):
            t0, c0 = time.perf_counter(), time.process_time()
            iteration()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            gemm.append(gemm_seconds(repeat=1))
            for name in compare:
                with relative_message_passing(methods[name]):
                    t0, c0 = time.perf_counter(), time.process_time()
                    iteration()
                    other[name][0].append(time.perf_counter() - t0)
                    other[name][1].append(time.process_time() - c0)
        t_iter = float(np.median(times))
        t_gemm = float(np.median(gemm))
        print(f"{arch}: iteration {min(times):.3f}-{max(times):.3f} s (median {t_iter:.3f}); "
              f"{t_iter / t_gemm:.1f} float32 GEMMs of 2048^3 ({t_gemm * 1e3:.1f} ms, same process); "
              f"CPU time (all threads) {min(cpu):.2f}-{max(cpu):.2f} s", flush=True)
        for name, (wall, work) in other.items():
            t_other = float(np.median(wall))
            print(f"{arch} with {name} message passing (relative frames): {min(wall):.3f}-"
                  f"{max(wall):.3f} s (median {t_other:.3f}; {t_other / t_gemm:.1f} GEMMs); node "
                  f"frames {t_other / t_iter:.2f}x faster; CPU time {min(work):.2f}-{max(work):.2f} s "
                  f"({np.median(work) / np.median(cpu):.2f}x the node frames')", flush=True)
        if arch == ORIGINAL:
            print(f"{arch}: {args.original_seconds / t_iter:.0f}x faster than the original "
                  f"implementation's {args.original_seconds} s per 16 models of 79 residues "
                  f"(this batch: {n_res / len(feats):.0f} residues per model)", flush=True)
        if args.profile:
            profiles, totals = [], []
            for _ in range(max(args.iterations, 1)):
                prof = OperatorProfile()
                prof.install()
                try:
                    t_start[0] = time.perf_counter()
                    iteration(prof=prof)
                    totals.append(time.perf_counter() - t_start[0])
                finally:
                    prof.remove()
                profiles.append(dict(prof.times))
            print_profile(profiles, float(np.mean(totals)), arch)
        if args.no_inference:
            rows.append((arch, count_params(init_params(spec)), PAPER_PARAMS.get(arch, 0), t_iter,
                         PAPER_MINUTES.get(arch, float("nan")) * 60 / t_iter, float("nan")))
            continue

        def infer():
            clear_frames_cache()
            dev = batch_to_device(collate(feats, dtype=dt), xp, dt)
            o = forward(params, spec, dev, grid)
            if xp is not np:
                xp.cuda.Stream.null.synchronize()
            return o
        infer()
        t0 = time.perf_counter()
        infer()
        t_inf = time.perf_counter() - t0
        rows.append((arch, count_params(init_params(spec)), PAPER_PARAMS.get(arch, 0), t_iter,
                     PAPER_MINUTES.get(arch, float("nan")) * 60 / t_iter, len(feats) / t_inf))
        print(rows[-1], flush=True)

    voro = ""
    if shutil.which("voronota-voromqa") and args.voromqa_models > 0:
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
        paper = f"{paper_p:,}" if paper_p else "-"
        speed = "-" if np.isnan(ratio) else f"{ratio:.0f}x"
        inf = "-" if np.isnan(mps) else f"{mps:.1f}"
        table.append(f"| {arch} | {n_p:,} | {paper} | {t_iter:.2f} | {speed} | {inf} |")
    table = "\n".join(table)
    print(table)
    print(voro)
    if not args.no_append:
        append_results(f"Training and inference speed ({args.device}, {dt.name})", table,
                       voro + " Paper figures: 5, 6, 15 min per 16-model iteration on a Xeon "
                       "E5-2630 v4; our ratio = paper seconds / ours.")


if __name__ == "__main__":
    main()
