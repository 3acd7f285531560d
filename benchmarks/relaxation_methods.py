"""The two relaxations of the decoy corpus side by side, on the same unrelaxed decoys.

Usage::

    python benchmarks/relaxation_methods.py --sample CORPUS/heavy_s1 [--n-natives 6]
        [--builds CORPUS/heavy_s1_amber CORPUS/heavy_s1] [--json FILE]

For the first ``--n-natives`` natives (by name) of the corpus folder ``--sample``, the decoys of its
series (its seed, kinds and decoys per native, read from its files) are generated again; every
decoy that the series relaxes is relaxed twice from the same unrelaxed coordinates: with the Amber
relaxation (:class:`estimators.decoys.relax.Relaxer`, cut-off 0.8 nm, tolerance 30 kJ/mol/nm: the
settings of CORPUS/main_s1) and with the heavy-atom relaxation
(:class:`estimators.decoys.relax_heavy.HeavyAtomRelaxer`, its defaults). The series goes on with
the Amber result. Per relaxation: CPU time of each, the heavy-atom RMSD between the two results
and between each and the unrelaxed decoy, heavy-atom pairs closer than 2.5 A (residues two or
more apart; the realism benchmark's clash statistic) and the global lDDT label of each result.

``--builds A B``: the decoys' recorded CPU seconds (corpus files' ``cpu_seconds``: every step of a
decoy, the native's template screening and relaxer set-up counted in its first decoys; the
all-atom model of the native, which the all-atom cache may skip, not counted) summed over the
natives both folders hold, per kind and in all.

Printed; ``--json`` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import shared_data  # noqa: E402
AMBER_OPTIONS = {"max_iterations": 300, "cutoff_nm": 0.8, "tolerance": 30.0}


class PairedRelaxer:
    """Relaxes with both methods, records both, returns the Amber result."""

    def __init__(self, generator, rows):
        from estimators.decoys.relax import Relaxer
        from estimators.decoys.relax_heavy import HeavyAtomRelaxer
        self.generator = generator
        self.rows = rows
        self.amber = Relaxer(generator.model, **AMBER_OPTIONS)
        self.heavy = HeavyAtomRelaxer(generator.model, max_iterations=300)

    def __call__(self, xyz, inactive=None):
        from estimators.decoys.decoy import decoy_labels
        from estimators.decoys.geometry import count_clashes
        m, native = self.generator.model, self.generator.native
        xyz = np.asarray(xyz, dtype=np.float64)
        t0 = time.process_time()
        amber, info = self.amber(xyz, inactive=inactive)
        t1 = time.process_time()
        try:
            heavy, _ = self.heavy(xyz, inactive=inactive)
        except FloatingPointError:
            heavy = None
        t2 = time.process_time()
        atoms = m.heavy if inactive is None else m.heavy[~np.asarray(inactive)[m.heavy]]

        def clashes(x):
            return int(count_clashes(x[atoms], m.atom_res[atoms], m.atom_names[atoms], None,
                                     distance=2.5))

        def rmsd(a, b):
            return float(np.sqrt(((a[atoms] - b[atoms]) ** 2).sum(1).mean()))

        def label(x):
            coords = m.to_native_coords(x)
            if inactive is not None:
                present = np.bincount(m.atom_res[~np.asarray(inactive)],
                                      minlength=native.n_residues) > 0
                coords[~present[native.atom_res]] = np.nan
            return float(decoy_labels(native, coords)[0])

        row = {"native": native.name, "n_atoms": int(len(atoms)), "amber_cpu": t1 - t0,
               "heavy_cpu": t2 - t1, "amber_soft_stage": bool(info["soft_stage"]),
               "clashes_unrelaxed": clashes(xyz), "clashes_amber": clashes(amber),
               "lddt_unrelaxed": label(xyz), "lddt_amber": label(amber),
               "moved_amber": rmsd(amber, xyz), "heavy_failed": heavy is None}
        if heavy is not None:
            row.update(clashes_heavy=clashes(heavy), lddt_heavy=label(heavy),
                       moved_heavy=rmsd(heavy, xyz), rmsd_amber_heavy=rmsd(amber, heavy))
        self.rows.append(row)
        return amber, info


def paired(sample, n_natives):
    from estimators.decoys import kinds
    from estimators.decoys.corpus import build_corpus, expand_inputs
    files = sorted(Path(sample).glob("*.npz"))[:n_natives]
    if not files:
        raise SystemExit(f"no corpus file in {sample}")
    with np.load(files[0], allow_pickle=False) as data:
        params = json.loads(str(data["params"]))
    data_dir = shared_data()
    natives = expand_inputs([data_dir / "natives", data_dir / "natives_extra"])
    by_name = {Path(p).name.split(".")[0]: p for p in natives}
    chosen = [by_name[f.stem] for f in files]
    rows = []
    original = kinds.DecoyGenerator.relaxer
    kinds.DecoyGenerator.relaxer = property(
        lambda self: self.__dict__.setdefault("_paired", PairedRelaxer(self, rows)))
    try:
        with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_corpus(chosen, out, n_per_native=params["n_per_native"], seed=params["seed"],
                         kinds=params["kinds"], templates=natives, resume=False,
                         relax_options=AMBER_OPTIONS, verbose=True)
    finally:
        kinds.DecoyGenerator.relaxer = original
    return rows, params


def build_cpu(folder_a, folder_b):
    """Recorded CPU seconds per decoy of two corpus folders over their common natives."""
    a = {f.stem: f for f in Path(folder_a).glob("*.npz")}
    b = {f.stem: f for f in Path(folder_b).glob("*.npz")}
    common = sorted(set(a) & set(b))
    out = {}
    for label, files in (("A", a), ("B", b)):
        per_kind = {}
        for name in common:
            with np.load(files[name], allow_pickle=False) as data:
                for kind, cpu in zip(data["kind"], data["cpu_seconds"]):
                    per_kind.setdefault(str(kind).split("+")[0], []).append(float(cpu))
        total = sum(sum(v) for v in per_kind.values())
        count = sum(len(v) for v in per_kind.values())
        out[label] = {"folder": str(files[common[0]].parent) if common else "",
                      "n_natives": len(common), "n_decoys": count,
                      "cpu_per_decoy": total / max(count, 1),
                      "per_kind": {k: [len(v), float(np.mean(v))] for k, v in
                                   sorted(per_kind.items())}}
    return out


def paired_summary(sample, n_natives):
    """Paired relaxations of ``n_natives`` natives of ``sample``: printed, and returned as a dict."""
    rows, params = paired(sample, n_natives)
    ok = [r for r in rows if not r["heavy_failed"]]
    amber_cpu = sum(r["amber_cpu"] for r in ok)
    heavy_cpu = sum(r["heavy_cpu"] for r in ok)
    diff = np.array([r["lddt_heavy"] - r["lddt_amber"] for r in ok])
    summary = {
        "n_relaxations": len(rows), "heavy_failed": len(rows) - len(ok),
        "amber_soft_stage": sum(r["amber_soft_stage"] for r in rows),
        "amber_cpu_s": amber_cpu, "heavy_cpu_s": heavy_cpu,
        "cpu_ratio": amber_cpu / heavy_cpu if heavy_cpu else float("nan"),
        "lddt_abs_diff_mean": float(np.abs(diff).mean()) if diff.size else float("nan"),
        "lddt_abs_diff_max": float(np.abs(diff).max()) if diff.size else float("nan"),
        "lddt_diff_mean": float(diff.mean()) if diff.size else float("nan"),
        "rmsd_amber_heavy_median": float(np.median([r["rmsd_amber_heavy"] for r in ok])),
        "moved_amber_median": float(np.median([r["moved_amber"] for r in ok])),
        "moved_heavy_median": float(np.median([r["moved_heavy"] for r in ok])),
        "clashes_unrelaxed_mean": float(np.mean([r["clashes_unrelaxed"] for r in rows])),
        "clashes_amber_mean": float(np.mean([r["clashes_amber"] for r in rows])),
        "clashes_heavy_mean": float(np.mean([r["clashes_heavy"] for r in ok])),
    }
    natives = sorted({r["native"] for r in rows})
    print(f"{summary['n_relaxations']} relaxations of {len(natives)} natives "
          f"({summary['heavy_failed']} heavy failures, {summary['amber_soft_stage']} Amber soft "
          f"stages): CPU Amber {amber_cpu:.1f} s, heavy {heavy_cpu:.1f} s "
          f"({summary['cpu_ratio']:.2f}x); |label difference| mean "
          f"{summary['lddt_abs_diff_mean']:.4f}, max {summary['lddt_abs_diff_max']:.4f}, mean "
          f"heavy - Amber {summary['lddt_diff_mean']:+.4f}; heavy-atom RMSD between the results "
          f"{summary['rmsd_amber_heavy_median']:.2f} A (median; moved by Amber "
          f"{summary['moved_amber_median']:.2f}, by heavy {summary['moved_heavy_median']:.2f}); "
          f"pairs < 2.5 A per model: unrelaxed {summary['clashes_unrelaxed_mean']:.1f}, Amber "
          f"{summary['clashes_amber_mean']:.2f}, heavy {summary['clashes_heavy_mean']:.2f}")
    return {"sample": str(sample), "series": params, "natives": natives, "summary": summary,
            "relaxations": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default=None, help="corpus folder: its natives and series")
    ap.add_argument("--n-natives", type=int, default=6)
    ap.add_argument("--builds", nargs=2, metavar=("A", "B"), default=None,
                    help="two corpus folders: recorded CPU per decoy over their common natives")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not (args.sample or args.builds):
        ap.error("give --sample, --builds or both")
    result = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "amber_options": AMBER_OPTIONS}
    if args.builds:
        result["builds"] = build_cpu(*args.builds)
        for label, b in result["builds"].items():
            kinds = ", ".join(f"{k} {n} x {s:.2f} s" for k, (n, s) in b["per_kind"].items())
            print(f"build {label} ({b['folder']}): {b['n_decoys']} decoys of {b['n_natives']} "
                  f"natives, {b['cpu_per_decoy']:.3f} CPU s per decoy ({kinds})")
        ratio = result["builds"]["A"]["cpu_per_decoy"] / result["builds"]["B"]["cpu_per_decoy"]
        result["builds"]["ratio_a_over_b"] = ratio
        print(f"CPU per decoy, A / B: {ratio:.2f}")
    if args.sample:
        result.update(paired_summary(args.sample, args.n_natives))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
