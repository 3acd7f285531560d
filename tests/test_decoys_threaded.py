"""Tests of threaded (template-based) decoys: estimators.decoys.alignment and .threaded.

Exactness of the placement (a native threaded on itself with the identity alignment is the native:
lDDT 1 before relaxation), loops between anchors, alignment errors, labels of absent residues
(NaN, global lDDT over all reference pairs), reproducibility by (seed, index).
"""
import os

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("pdbfixer")

from estimators.decoys import DecoyGenerator, generate_series  # noqa: E402
from estimators.decoys.alignment import (perturb_alignment, tm_align,  # noqa: E402
                                         tm_align_available)
from estimators.decoys.decoy import model_structure  # noqa: E402
from estimators.decoys.threaded import (Template, ThreadedGenerator, _close_breaks,  # noqa: E402
                                        homolog_template, thread_onto)
from estimators.lddt import lddt  # noqa: E402
from estimators.structures import read_structure  # noqa: E402

needs_tmalign = pytest.mark.skipif(not tm_align_available(), reason="TMalign not installed")


@pytest.fixture(scope="module")
def folder():
    from conftest import SHARED
    path = SHARED / "data" / "natives"
    if not path.exists():
        pytest.skip(f"natives not found under {path}")
    return path


@pytest.fixture(scope="module")
def generator(folder):
    return DecoyGenerator(read_structure(folder / "1a32.pdb"), relax=True)


def _unrelaxed_coords(generator, xyz, present):
    coords = generator.model.to_native_coords(xyz)
    coords[~present[generator.native.atom_res]] = np.nan
    return coords


def test_template_files_are_read_once_and_again_when_changed(folder, tmp_path):
    from estimators.decoys.threaded import _template_structure
    text = (folder / "1a32.pdb").read_text()
    path = tmp_path / "t.pdb"
    path.write_text(text)
    first = _template_structure(path)
    assert _template_structure(str(path)) is first
    shifted = [f"{line[:30]}{float(line[30:38]) + 10.0:8.3f}{line[38:]}"
               if line.startswith(("ATOM", "HETATM")) else line for line in text.splitlines()]
    path.write_text("\n".join(shifted) + "\n")
    os.utime(path, ns=(1, 1))                            # a different modification time
    second = _template_structure(path)
    assert second is not first
    np.testing.assert_allclose(second.coords[:, 0], first.coords[:, 0] + 10.0, atol=1e-3)
    native = read_structure(folder / "1a32.pdb")
    assert _template_structure(native) is native


def test_self_template_with_identity_alignment_is_the_native(generator):
    native = generator.native
    template = Template.of(native)
    identity = np.arange(native.n_residues)
    xyz, present, loop = thread_onto(generator.model, template, identity)
    assert present.all() and not loop.any()
    np.testing.assert_allclose(xyz, generator.model.coords, atol=1e-9)
    coords = _unrelaxed_coords(generator, xyz, present)
    assert lddt(model_structure(native, coords), native).global_score == 1.0


def test_loops_between_anchors_and_absent_termini(generator):
    native = generator.native
    template = Template.of(native)
    mapping = np.arange(native.n_residues)
    mapping[30:34] = -1                        # internal gap of 4: built as a loop
    mapping[:3] = -1                           # unaligned N-terminus: absent
    mapping[50:] = -1                          # unaligned C-terminus: absent
    xyz, present, loop = thread_onto(generator.model, template, mapping, max_loop=12)
    np.testing.assert_array_equal(np.flatnonzero(loop), np.arange(30, 34))
    np.testing.assert_array_equal(np.flatnonzero(~present),
                                  np.r_[np.arange(3), np.arange(50, native.n_residues)])
    ca = generator.model.bb["CA"]
    # aligned residues sit exactly on the template (here: the native)
    for r in (3, 29, 34, 49):
        np.testing.assert_allclose(xyz[ca[r]], generator.model.coords[ca[r]], atol=1e-9)
    # loop CAs: consecutive CA-CA within a protein-like range, no collapse onto the anchors
    d = np.linalg.norm(np.diff(xyz[ca[29:35]], axis=0), axis=1)
    assert np.all(d > 2.0) and np.all(d < 6.0), d
    # an internal gap longer than max_loop stays absent
    _, present, loop = thread_onto(generator.model, template, mapping, max_loop=3)
    assert not present[30:34].any() and not loop.any()


def test_labels_of_absent_residues_are_nan_and_global_counts_all_pairs(generator):
    native = generator.native
    mapping = np.arange(native.n_residues)
    mapping[:5] = -1
    xyz, present, _ = thread_onto(generator.model, Template.of(native), mapping)
    from estimators.decoys.decoy import decoy_labels, model_labels
    coords = _unrelaxed_coords(generator, xyz, present)
    score, local, _ = decoy_labels(native, coords)
    assert np.all(np.isnan(local[:5])) and np.all(np.isfinite(local[5:]))
    # the global value counts the pairs of the absent residues as non-conserved (< 1), the local
    # values of present residues whose pairs all lie among present residues stay 1
    full = lddt(model_structure(native, coords), native, clash_filter=True)
    assert score == full.global_score and score < 0.97
    assert full.n_checked == lddt(native, native).n_checked
    labels = model_labels(native, coords, local)
    assert labels.shape == (native.n_residues - 5,) and np.nanmax(labels) == 1.0


def test_close_breaks_unaligns_around_template_insertions(generator):
    native = generator.native
    template = Template.of(native)
    mapping = np.arange(native.n_residues)
    mapping[20:] += 3                          # template insertion of 3 after residue 19
    mapping[native.n_residues - 3:] = -1
    closed = _close_breaks(mapping, template, max_loop=12)
    gap = np.flatnonzero(closed < 0)
    gap = gap[gap < native.n_residues - 3]
    assert gap.size >= 2 and gap.min() <= 19 <= gap.max()
    # anchors of the widened gap can be spanned by a loop of its length
    a, b = gap.min() - 1, gap.max() + 1
    span = np.linalg.norm(template.ca[closed[b]] - template.ca[closed[a]])
    assert span <= 0.95 * 3.8 * (b - a)
    xyz, present, loop = thread_onto(generator.model, template, closed)
    assert loop[gap].all()


def test_perturb_alignment_errors_are_monotonic_and_bounded():
    rng = np.random.default_rng(0)
    mapping = np.r_[-np.ones(5, int), np.arange(100), -np.ones(5, int)]
    same, info = perturb_alignment(mapping, rng, 100, n_shifts=(0, 0), n_gap_moves=(0, 0))
    np.testing.assert_array_equal(same, mapping)
    changed = 0
    for seed in range(20):
        m, info = perturb_alignment(mapping, np.random.default_rng(seed), 100)
        ok = m[m >= 0]
        assert np.all(np.diff(ok) > 0) and ok.min() >= 0 and ok.max() < 100
        assert all(1 <= abs(s) <= 4 for *_, s in info["shifts"])
        changed += not np.array_equal(m, mapping)
    assert changed >= 15


def test_homolog_template_moves_elements_rigidly(generator):
    native = generator.native
    template = homolog_template(native, generator.ss, np.random.default_rng(1), severity=0.5)
    n, ca, c, _ = native.backbone()
    # within a secondary-structure element, distances are kept exactly (rigid move)
    helix = np.flatnonzero(generator.ss == "H")
    run = helix[: np.argmax(np.diff(helix) > 1)] if np.any(np.diff(helix) > 1) else helix
    d0 = np.linalg.norm(ca[run][:, None] - ca[run][None], axis=-1)
    d1 = np.linalg.norm(template.ca[run][:, None] - template.ca[run][None], axis=-1)
    np.testing.assert_allclose(d1, d0, atol=1e-9)
    assert np.abs(template.ca - ca).max() > 0.5
    zero = homolog_template(native, generator.ss, np.random.default_rng(1), shift=(0, 0),
                            angle=(0, 0))
    np.testing.assert_allclose(zero.ca, ca, atol=1e-9)


@needs_tmalign
def test_tm_align_of_a_native_with_itself_and_another(folder):
    a = read_structure(folder / "1a32.pdb")
    b = read_structure(folder / "2j5y.pdb")
    mapping, tm = tm_align(a, a)
    np.testing.assert_array_equal(mapping, np.arange(a.n_residues))
    assert tm == pytest.approx(1.0)
    mapping, tm = tm_align(a, b)
    ok = mapping[mapping >= 0]
    assert 0.2 < tm < 0.6 and ok.size >= 20 and np.all(np.diff(ok) > 0) and ok.max() < b.n_residues


@needs_tmalign
def test_threaded_decoys_are_reproducible_and_labelled(folder):
    native = read_structure(folder / "1a32.pdb")
    templates = [folder / f"{name}.pdb" for name in ("2j5y", "1a32", "2qsk", "1ctf", "1r69")
                 if (folder / f"{name}.pdb").exists()]
    a = generate_series(native, 3, seed=4, kinds="threaded=1", templates=templates)
    b = generate_series(native, 3, seed=4, kinds="threaded=1", templates=templates, indices=[2])
    np.testing.assert_array_equal(a[2].coords, b[0].coords)
    assert a[2].lddt == b[0].lddt
    for d in a:
        assert d.kind == "threaded" and d.info["relaxed"] and np.isnan(d.target_lddt)
        assert d.info["template"] != "1a32"                       # never the native itself
        present = np.isfinite(d.coords).all(axis=1)
        per_res = np.bincount(native.atom_res, weights=~present, minlength=native.n_residues) == 0
        assert np.all(np.isnan(d.lddt_local[~per_res]))
        structure = d.structure(native)
        result = lddt(structure, native, clash_filter=True)           # the label rule
        assert d.lddt == pytest.approx(result.global_score, abs=1e-12)
        np.testing.assert_allclose(d.local_labels(native), result.per_residue, atol=1e-12)
        assert 0.0 < d.lddt < 1.0


def test_threaded_generator_without_templates_uses_homolog_templates(generator):
    threaded = ThreadedGenerator(generator, [], seed=0)
    decoy = threaded.generate(np.random.SeedSequence([0, 1]))
    assert decoy.info["template_source"] == "homolog" and decoy.kind == "threaded"
    with pytest.raises(ValueError, match="template_mix"):
        ThreadedGenerator(generator, [], seed=0, template_mix=(1, -1, 0))
    with pytest.raises(ValueError, match="mapping"):
        thread_onto(generator.model, Template.of(generator.native), np.zeros(3, int))


def test_fragment_loops_reproduce_a_loop_of_the_fragment_source(generator):
    """With the native itself as the fragment source, a gap is closed by its own native loop."""
    from estimators.decoys.threaded import fragment_loop
    native = generator.native
    template = Template.of(native)
    mapping = np.arange(native.n_residues)
    mapping[30:34] = -1
    xyz, present, loop = thread_onto(generator.model, template, mapping, fragments=[template])
    ca = generator.model.bb["CA"]
    assert loop[30:34].all() and present.all()
    np.testing.assert_allclose(xyz[ca[30:34]], generator.model.coords[ca[30:34]], atol=1e-6)
    # anchors no fragment can fit: None (the caller then builds an arc)
    anchors = np.array([[[0, 0, 0], [1.46, 0, 0], [2.0, 1.4, 0]],
                        [[40, 0, 0], [41.46, 0, 0], [42.0, 1.4, 0]]], float)
    assert fragment_loop(anchors, 3, [template]) is None
