"""Tests of benchmarks/variants.py (the shipped model on systematic variants of natives)."""
import shutil
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from conftest import casp_models, load_benchmark
from estimators.structures import read_structure

variants_mod = load_benchmark("variants.py", "bench_variants")


@pytest.fixture(scope="module")
def native():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_structure(casp_models(n=1)[0][0])


def test_variants_are_what_their_names_say(native):
    rng = np.random.default_rng(0)
    structures, copy = variants_mod.variants(native, rng)
    by_name = dict(structures)
    assert list(by_name) == ["native", "noise 0.1 A", "noise 0.25 A", "noise 0.5 A", "noise 1 A",
                             "residue jolt 1 A", "expanded 30 %", "crushed 30 %", "mirror image",
                             "middle 20 % removed", "first half only", "overlaid copy 0.5 A"]
    X = native.coords
    np.testing.assert_array_equal(by_name["native"].coords, X)
    for sigma in (0.1, 0.25, 0.5, 1.0):
        step = by_name[f"noise {sigma:g} A"].coords - X
        assert abs(step.std() - sigma) < 0.1 * sigma
    # rigid per residue: distances within each residue kept, between residues not
    jolted = by_name["residue jolt 1 A"].coords
    for r in range(native.n_residues):
        atoms = native.atom_res == r
        np.testing.assert_allclose(pdist(jolted[atoms]), pdist(X[atoms]), atol=1e-9)
    assert not np.allclose(pdist(jolted), pdist(X), atol=0.1)
    # the mirror image keeps every distance (lDDT 1) and flips the handedness
    mirror = by_name["mirror image"].coords
    np.testing.assert_allclose(pdist(mirror), pdist(X), atol=1e-9)
    a, b, c = (X[k] - X[0] for k in (1, 2, 3))
    am, bm, cm = (mirror[k] - mirror[0] for k in (1, 2, 3))
    assert np.dot(np.cross(a, b), c) == pytest.approx(-np.dot(np.cross(am, bm), cm))
    # crushed: every atom 30 % of the way to the centroid; the overlaid copy 0.5 A away
    centre = X.mean(axis=0)
    np.testing.assert_allclose(by_name["crushed 30 %"].coords - centre, 0.7 * (X - centre))
    np.testing.assert_allclose(np.linalg.norm(copy - X, axis=1), 0.5)
    overlaid = by_name["overlaid copy 0.5 A"]
    assert overlaid.n_atoms == 2 * native.n_atoms
    # partial models: the native's own coordinates of the residues kept
    n = native.n_residues
    for name, kept in (("middle 20 % removed",
                        np.r_[0:n // 2 - n // 10, n // 2 - n // 10 + n // 5:n]),
                       ("first half only", np.arange(n // 2))):
        part = by_name[name]
        assert part.n_residues == len(kept)
        np.testing.assert_array_equal(part.resnums, native.resnums[kept])
        np.testing.assert_array_equal(part.coords, X[np.isin(native.atom_res, kept)])


@pytest.mark.skipif(shutil.which("lddt") is None or not variants_mod.COMPLIB.exists()
                    or not variants_mod.STEREO.exists(), reason="OpenStructure `lddt` absent")
def test_ost_lddt_f_of_the_native_is_one_and_of_noise_lower(native, tmp_path):
    assert variants_mod.ost_lddt_f(native, native, tmp_path) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    noisy, _ = variants_mod.variants(native, rng)
    assert variants_mod.ost_lddt_f(dict(noisy)["noise 0.5 A"], native, tmp_path) < 0.5
