import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOURIER6D_SHARED", REPO.parent / "shared"))


def _has_gpu():
    try:
        import cupy
        return bool(cupy.cuda.is_available()) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


HAS_GPU = _has_gpu()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """The command lines' caches (the corpus's all-atom models) go to a folder of the test run,
    not the user's ~/.cache."""
    previous = os.environ.get("FOURIER6D_CACHE")
    os.environ["FOURIER6D_CACHE"] = str(tmp_path_factory.mktemp("fourier6d_cache"))
    yield
    if previous is None:
        os.environ.pop("FOURIER6D_CACHE", None)
    else:
        os.environ["FOURIER6D_CACHE"] = previous

# Every array test runs on NumPy; the CuPy variant runs only where a GPU is present.
BACKENDS = [pytest.param("numpy", id="numpy"),
            pytest.param("cupy", id="cupy",
                         marks=pytest.mark.skipif(not HAS_GPU, reason="no GPU / CuPy"))]


@pytest.fixture(params=BACKENDS)
def xp(request):
    if request.param == "cupy":
        import cupy
        return cupy
    return np


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def write_pdb(structure, path):
    """Minimal PDB writer of a Structure (coordinates rounded to 3 decimals, as in every PDB
    file): what a user's file round trip does to a model."""
    s = structure
    lines = []
    for k, (name, r) in enumerate(zip(s.atom_names, s.atom_res)):
        x, y, z = s.coords[k]
        atom = name if len(name) == 4 else " " + name
        lines.append(f"ATOM  {k + 1:5d} {atom:<4s} {s.resnames[r]:>3s} {s.chain_ids[r] or 'A':1s}"
                     f"{int(s.resnums[r]):4d}{s.icodes[r] or ' ':1s}   {x:8.3f}{y:8.3f}{z:8.3f}"
                     f"  1.00  0.00           {name[0]:>1s}")
    Path(path).write_text("\n".join(lines) + "\nEND\n")


def casp_models(target="T0953s1", n=8):
    """Paths of the first ``n`` CASP13 models of ``target`` and their per-residue lDDT over the
    residues as read (NaN where unknown); skips the test when the shared data is missing."""
    import json
    from estimators.structures import read_structure
    root = SHARED / "data" / "casp13" / target
    if not root.exists():
        pytest.skip("shared data missing")
    labels = json.loads((root / "labels.json").read_text())
    models, local = [], []
    for name in sorted(labels)[:n]:
        s = read_structure(str(root / "models" / name))
        per_seq = np.array([np.nan if v is None else v for v in labels[name]["lddt_local"]], float)
        idx = s.resnums - 1
        ok = (idx >= 0) & (idx < len(per_seq))
        y = np.full(s.n_residues, np.nan)
        y[ok] = per_seq[idx[ok]]
        models.append(str(root / "models" / name))
        local.append(y)
    return models, local


def padded_neighbours(close, rng):
    """Padded neighbour lists of a boolean adjacency (n, n): ``(nbr_idx, nbr_mask)`` of shape
    (n, k), k the largest degree (at least 1), each row's neighbours in a random slot order,
    padded slots pointing at 0 and masked."""
    n = close.shape[0]
    k = max(int(close.sum(1).max()), 1)
    nbr_idx = np.zeros((n, k), dtype=np.int64)
    nbr_mask = np.zeros((n, k), dtype=bool)
    for i in range(n):
        js = rng.permutation(np.flatnonzero(close[i]))         # slot order is arbitrary
        nbr_idx[i, :js.size] = js
        nbr_mask[i, :js.size] = True
    return nbr_idx, nbr_mask


def load_benchmark(filename, name):
    """The module of ``benchmarks/<filename>``, imported as ``name`` (registered in sys.modules
    before it runs: dataclasses look their module up while the file executes)."""
    import importlib.util
    import sys
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "benchmarks" / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
