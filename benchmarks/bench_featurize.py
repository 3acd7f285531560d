"""Featurization throughput: residues/s vs protein size and n_jobs; parsing vs featurization.

Usage::

    python benchmarks/bench_featurize.py [--data DIR] [--sizes 50 100 200 300 600]
                                         [--jobs 1 2] [--repeat 3] [--no-append] [--no-compare]

Proteins of a given size are built by concatenating shared natives (each as its
own chain, shifted so that they pack side by side) and trimming to the size.
``featurize`` rows: one call on a Structure in memory, with the Numba kernels on
all threads (default) and on one thread, and on the NumPy path (kernels switched
off in the same run, with the ratio; ``--no-compare`` skips it); ``featurize stream`` rows: every CASP13
model (already parsed) featurized in turn and dropped, as a scoring pipeline does
(one worker with 1 or all threads, or 2 workers of 1 thread taking models from
a shared queue); ``files->features`` rows:
StructureFeaturizer over 60 natives (parsing included), n_jobs as threads and as
processes.  Prints a table and appends it to benchmarks/RESULTS.md (machine, versions, date).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from estimators.structures import Structure, read_structure, StructureWarning  # noqa: E402
from estimators.features import featurize                                     # noqa: E402
from estimators.featurizer import StructureFeaturizer                          # noqa: E402


def _concat(structures, n_residues):
    """One Structure of exactly n_residues from several (separate chains, packed along x)."""
    parts, total, shift = [], 0, 0.0
    for k, s in enumerate(structures):
        take = min(s.n_residues, n_residues - total)
        atoms = s.atom_res < take
        xyz = s.coords[atoms] - s.coords[atoms].min(axis=0)
        parts.append((s, take, atoms, xyz + [shift, 0, 0], chr(65 + k % 26)))
        shift += np.ptp(xyz[:, 0]) + 4.0
        total += take
        if total == n_residues:
            break
    off = np.cumsum([0] + [p[1] for p in parts])
    return Structure(
        name=f"concat{n_residues}",
        chain_ids=np.concatenate([np.full(t, c) for _, t, _, _, c in parts]).astype(str),
        resnums=np.concatenate([s.resnums[:t] for s, t, _, _, _ in parts]),
        icodes=np.concatenate([s.icodes[:t] for s, t, _, _, _ in parts]),
        resnames=np.concatenate([s.resnames[:t] for s, t, _, _, _ in parts]),
        aa_index=np.concatenate([s.aa_index[:t] for s, t, _, _, _ in parts]),
        coords=np.concatenate([x for _, _, _, x, _ in parts]),
        atom_names=np.concatenate([s.atom_names[a] for s, _, a, _, _ in parts]),
        atom_res=np.concatenate([s.atom_res[a] + off[k] for k, (s, _, a, _, _) in enumerate(parts)]),
    )


def _stream(structures, workers, n_threads):
    """Featurize every structure and drop the result; ``workers`` threads share the queue."""
    import threading
    queue, lock = iter(structures), threading.Lock()

    def work():
        while True:
            with lock:
                s = next(queue, None)
            if s is None:
                return
            featurize(s, n_threads=n_threads)
    threads = [threading.Thread(target=work) for _ in range(workers - 1)]
    for t in threads:
        t.start()
    work()
    for t in threads:
        t.join()


def _best(fn, repeat):
    """Median wall time of ``repeat`` calls (the machine is shared: medians, not minima)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 300, 600, 1000])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--label", default="", help="text appended to the RESULTS.md heading")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--no-compare", action="store_true",
                    help="skip the NumPy-path (kernels off) rows of the per-size featurization")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    warnings.simplefilter("ignore", StructureWarning)
    data = Path(args.data)
    natives = sorted((data / "natives").glob("*.pdb"))
    models = sorted((data / "casp13").glob("*/models/*"))

    rows = []
    # 1. parsing: all natives and models (read_structure), residues/s
    for label, files in (("natives", natives), ("casp13 models", models)):
        t, ss = _best(lambda: [read_structure(p) for p in files], 1)
        n = sum(s.n_residues for s in ss)
        rows.append(("parse", label, len(files), n, 1, t, n / t, ""))
        parsed = ss
    # 2. featurization (Structure in memory) vs protein size, all threads and one thread
    pool = [read_structure(p) for p in natives[:12]]
    from fourier6d import _numba_kernels
    threads = [None, 1] if _numba_kernels.AVAILABLE else [None]
    for size in args.sizes:
        s = _concat(pool, size)
        best = None
        for nt in threads:
            featurize(s, n_threads=nt)
            t, f = _best(lambda: featurize(s, n_threads=nt), args.repeat)
            best = t if best is None else min(best, t)
            used = "1 thread" if nt == 1 else (f"{_numba_kernels.default_threads()} threads"
                                               if _numba_kernels.AVAILABLE else "NumPy path")
            rows.append(("featurize", f"{size} res", 1, size, 1, t, size / t,
                         f"{used}, K={f.atom_basis.shape[1]}, {f.nbytes / 1e6:.1f} MB f32"))
        if _numba_kernels.AVAILABLE and not args.no_compare:
            # the same call on the NumPy path (the kernels switched off), in the same run
            _numba_kernels.AVAILABLE = False
            try:
                t, f = _best(lambda: featurize(s), max(1, args.repeat // 3))
            finally:
                _numba_kernels.AVAILABLE = True
            rows.append(("featurize", f"{size} res", 1, size, 1, t, size / t,
                         f"NumPy path (kernels off): the kernels are {t / best:.1f}x faster"))
    # 3. a stream of real models (CASP13 server models, 75 residues on average), results dropped
    if models and _numba_kernels.AVAILABLE:
        n_res = sum(s.n_residues for s in parsed)
        for workers, nt in ((1, 1), (1, None), (2, 1)):
            _stream(parsed[:8], workers, nt)
            t, _ = _best(lambda: _stream(parsed, workers, nt), 3)
            used = "all threads" if nt is None else f"{nt} thread"
            rows.append(("featurize stream", "casp13 models", len(parsed), n_res, workers, t,
                         n_res / t, f"{workers} worker(s) x {used}"))
    # 4. end to end (files -> features) with n_jobs (threads and processes)
    sample = natives[:60]
    n_res = sum(read_structure(p).n_residues for p in sample)
    for jobs in args.jobs:
        for prefer in (("threads",) if jobs == 1 else ("threads", "processes")):
            feat = StructureFeaturizer(n_jobs=jobs, prefer=prefer)
            feat.transform(sample[:4])
            t, _ = _best(lambda: feat.transform(sample), 3)
            rows.append(("files->features", "60 natives", len(sample), n_res, jobs, t, n_res / t,
                         "" if jobs == 1 else prefer))

    head = "| stage | input | structures | residues | n_jobs | seconds | residues/s | notes |"
    lines = [head, "|" + "---|" * 8]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | {t:.3f} | {r:,.0f} | {n} |"
              for a, b, c, d, e, t, r, n in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        import scipy
        numba_v = (f"numba {_numba_kernels.numba.__version__} (kernel on)" if _numba_kernels.AVAILABLE
                   else "numba kernel off")
        label = f" ({args.label})" if args.label else ""
        info = (f"\n## bench_featurize.py — {datetime.datetime.now().isoformat(timespec='minutes')}"
                f"{label}\n\n"
                f"Machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
                f"{platform.processor() or platform.platform()}; Python {platform.python_version()}, "
                f"numpy {np.__version__}, scipy {scipy.__version__}, {numba_v}. "
                f"Median of {args.repeat} runs (files->features: 3). Load average before the "
                f"run: {load0:.2f}. Defaults L=4, n_radial=5, "
                f"sigma=2, R_max=8, R_n=12, float32. Target: 50,000 residues/s.\n\n")
        with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write(info + table + "\n")


if __name__ == "__main__":
    main()
