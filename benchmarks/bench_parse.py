"""Structure reading speed: files -> :class:`estimators.structures.Structure`.

Usage::

    python benchmarks/bench_parse.py [--data DIR] [--repeat 5] [--compare REV] [--no-append]

Reads the 392 CASP13 server models and the natives of the shared data folder with
:func:`estimators.structures.read_structure` (gemmi underneath, plus the reading rules) and
reports structures/s and residues/s.  ``--compare REV`` also times the reader of git revision
``REV`` (e.g. a revision with another parser) in the same process, alternating the two readers
run by run so that load changes on a shared machine hit both alike, and checks that both give
the same residues and coordinates.  Timings: best and median of ``--repeat`` passes over all
files (files are in the page cache after the warm-up pass).
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import append_results  # noqa: E402
from estimators import structures  # noqa: E402


def reader_of_revision(rev):
    """``read_structure`` of ``estimators/structures.py`` at git revision ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:estimators/structures.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("estimators._structures_compared", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "estimators"
    sys.modules[spec.name] = module
    exec(compile(source, f"{rev}:estimators/structures.py", "exec"), module.__dict__)
    return module.read_structure


def one_pass(read, files):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = [read(f) for f in files]
    return time.perf_counter() - t0, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="shared data folder with casp13/ and natives/ (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=5, help="passes per reader (default: %(default)s)")
    ap.add_argument("--compare", metavar="REV", default=None,
                    help="also time the reader of this git revision (default: none)")
    ap.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args(argv)
    data = Path(args.data)
    sets = {"casp13 models": sorted((data / "casp13").glob("*/models/*")),
            "natives": sorted((data / "natives").glob("*.pdb"))}
    readers = {"gemmi (this tree)": structures.read_structure}
    if args.compare:
        readers[f"revision {args.compare}"] = reader_of_revision(args.compare)
    rows = []
    for label, files in sets.items():
        times = {k: [] for k in readers}
        results = {}
        for k, read in readers.items():            # warm-up (page cache, imports)
            results[k] = one_pass(read, files)[1]
        for _ in range(args.repeat):
            for k, read in readers.items():
                times[k].append(one_pass(read, files)[0])
        ref = results["gemmi (this tree)"]
        n_res = sum(s.n_residues for s in ref)
        for k in readers:
            same = ""
            if k != "gemmi (this tree)":
                same = all(a.n_residues == b.n_residues and np.array_equal(a.coords, b.coords)
                           and np.array_equal(a.atom_names, b.atom_names)
                           for a, b in zip(ref, results[k]))
                same = "same structures" if same else "DIFFERENT structures"
            best, med = min(times[k]), float(np.median(times[k]))
            rows.append(f"| {label} | {k} | {len(files)} | {n_res} | {best:.3f} | {med:.3f} | "
                        f"{len(files) / best:,.0f} | {n_res / best:,.0f} | {same} |")
    table = "\n".join(["| input | reader | files | residues | best s | median s | structures/s "
                       "(best) | residues/s (best) | check |",
                       "|---|---|---|---|---|---|---|---|---|"] + rows)
    print(table)
    if not args.no_append:
        append_results("Structure reading (bench_parse.py)", table,
                       f"{args.repeat} alternating passes per reader.")


if __name__ == "__main__":
    main()
