"""The shipped model on systematic variants of experimental structures, beside their true lDDT.

Usage::

    python benchmarks/variants.py [--n-natives 8] [--seed 0] [--model FILE] [--no-append]

For ``--n-natives`` natives drawn (seeded) from ``shared/data/natives_extra``, each native and
these variants of it are scored (global score, the mean of the per-residue scores):

* ``noise S``: every atom moved by Gaussian noise of standard deviation S A (bonds and angles
  broken: covalent geometry no relaxed model has);
* ``residue jolt 1``: every residue moved rigidly by Gaussian noise of 1 A (each residue intact,
  the chain's contacts and peptide bonds disturbed);
* ``expanded 30 %`` / ``crushed 30 %``: every residue moved rigidly away from / every atom pulled
  toward the centroid (:func:`estimators.decoys.impossible.expand`, the shipped-model test's crush);
* ``overlaid copy``: a second copy of the chain 0.5 A away (a two-chain model; the labels of
  :func:`estimators.decoys.decoy.decoy_labels`, as in the training corpora);
* ``mirror image``: x -> -x (every distance kept, so lDDT is 1, but every residue is a D-amino
  acid and every helix left-handed);
* ``middle 20 % removed`` / ``first half only``: partial models, the native without the middle
  fifth of its residues / without its second half (the global lDDT counts every distance of the
  native, those to absent atoms as not conserved).

Global scores: the mean of the per-residue scores, and with the target's length (the native's
residues; :mod:`estimators.global_score`) that mean times the model's coverage ("with target
length"; "–" for the two-chain overlaid model).

Truth: lDDT against the native (:func:`estimators.lddt.lddt`, all heavy atoms, no stereochemical
checks), the same with the clash filter of OpenStructure's ``lddt -f`` (``clash_filter=True``), and,
when OpenStructure's ``lddt`` is installed, ``lddt -f`` itself (its bond and angle checks remove
every residue with a broken bond, which no distance-based lDDT does).  The table gives the mean
over the natives of each column.  Printed and appended to ``benchmarks/RESULTS.md``
(``--no-append`` to print only).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import append_results, shared_data  # noqa: E402

from estimators.bfactor import write_bfactor_structure  # noqa: E402
from estimators.decoys.decoy import decoy_labels, model_structure  # noqa: E402
from estimators.decoys.impossible import expand  # noqa: E402
from estimators.global_score import global_score  # noqa: E402
from estimators.lddt import lddt  # noqa: E402
from estimators.structures import read_structure  # noqa: E402

COMPLIB = Path("/var/cache/openstructure/compounds.chemlib")
STEREO = Path("/usr/share/openstructure/stereo_chemical_props.txt")


def variants(native, rng):
    """[(name, Structure)] of the variants of ``native`` (module docstring)."""
    X = np.asarray(native.coords, dtype=np.float64)
    out = [("native", X)]
    for sigma in (0.1, 0.25, 0.5, 1.0):
        out.append((f"noise {sigma:g} A", X + rng.normal(0.0, sigma, X.shape)))
    jolt = rng.normal(0.0, 1.0, (int(native.atom_res.max()) + 1, 3))
    out.append(("residue jolt 1 A", X + jolt[native.atom_res]))
    out.append(("expanded 30 %", expand(native, X, 0.3)))
    c = X.mean(axis=0)
    out.append(("crushed 30 %", c + 0.7 * (X - c)))
    out.append(("mirror image", X * np.array([-1.0, 1.0, 1.0])))
    n = int(native.atom_res.max()) + 1
    for name, gone in (("middle 20 % removed", slice(n // 2 - n // 10, n // 2 - n // 10 + n // 5)),
                       ("first half only", slice(n // 2, n))):
        absent = np.zeros(n, bool)
        absent[gone] = True
        out.append((name, np.where(absent[native.atom_res][:, None], np.nan, X)))
    structures = [(name, model_structure(native, coords, name=f"{native.name}_{k}"))
                  for k, (name, coords) in enumerate(out)]
    copy = X + 0.5 * np.ones(3) / np.sqrt(3.0)
    structures.append(("overlaid copy 0.5 A",
                       model_structure(native, X, copy_coords=copy, name=f"{native.name}_overlay")))
    return structures, copy


def ost_lddt_f(model, native, folder):
    """OpenStructure's ``lddt -f`` (stereochemical checks) of ``model`` against ``native``."""
    m, r = Path(folder) / "model.pdb", Path(folder) / "native.pdb"
    for structure, path in ((model, m), (native, r)):
        write_bfactor_structure(structure, np.zeros(structure.n_residues), path)
        # its parameter table has no terminal OXT entries (the checks would stop there)
        lines = path.read_text().splitlines()
        path.write_text("\n".join(x for x in lines if x[12:16].strip() != "OXT") + "\n")
    out = subprocess.run(["lddt", "-f", "-p", str(STEREO), "-l", str(COMPLIB), str(m), str(r)],
                         capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("Global LDDT score"):
            return float(line.split()[-1])
    return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-natives", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args(argv)

    from estimators.pretrained import load_model, load_pretrained
    est = load_pretrained() if args.model is None else load_model(args.model)
    folder = shared_data() / "natives_extra"
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".pdb", ".pdb.gz")))
    rng = np.random.default_rng(args.seed)
    chosen = [files[i] for i in sorted(rng.choice(len(files), args.n_natives, replace=False))]
    use_ost = shutil.which("lddt") is not None and COMPLIB.exists() and STEREO.exists()
    rows: dict[str, list] = {}
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        for path in chosen:
            native = read_structure(path)
            structures, copy = variants(native, rng)
            local = est.predict([s for _, s in structures])
            for (name, s), p in zip(structures, local):
                score = global_score(p)
                full = (global_score(p, native.n_residues) if len(p) <= native.n_residues
                        else float("nan"))
                if name.startswith("overlaid"):
                    plain = decoy_labels(native, native.coords, copy, clash_filter=False)[0]
                    filtered = decoy_labels(native, native.coords, copy)[0]
                    ost = float("nan")
                else:
                    plain = lddt(s, native).global_score
                    filtered = lddt(s, native, clash_filter=True).global_score
                    ost = ost_lddt_f(s, native, tmp) if use_ost else float("nan")
                rows.setdefault(name, []).append((score, full, plain, filtered, ost))
            print(f"{path.name}: {native.n_residues} residues", flush=True)
    header = ("| variant | predicted (shipped model) | predicted, with target length | lDDT "
              "| lDDT, clash filter | OpenStructure lddt -f |\n|---|---:|---:|---:|---:|---:|")
    lines = [header]
    for name, vals in rows.items():
        v = np.array(vals)
        cells = [f"{np.nanmean(v[:, k]):.2f}" if np.isfinite(v[:, k]).any() else "–"
                 for k in range(5)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if not args.no_append:
        notes = (f"{args.n_natives} natives of `natives_extra` (seed {args.seed}): "
                 + ", ".join(p.name.split('.')[0] for p in chosen)
                 + ". Rerun: `python benchmarks/variants.py`.")
        append_results("Scores of systematic variants", table, notes)


if __name__ == "__main__":
    main()
