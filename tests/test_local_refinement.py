"""Within-model refinement of per-residue scores (estimators.local_refinement) and its use in
SixDQAEstimator."""
import json

import numpy as np
import pytest

from fourier6d import random_rotations
from estimators.local_refinement import (COUNT_FADE, MARK_FADE, N_DESCRIPTORS, N_WEIGHTS,
                                         REFINE_RADII, ca_neighbour_counts, ca_step_mark,
                                         apply_refinement, fit_refinement, refine_design,
                                         residue_descriptors)


def _helix(n, start=0.0):
    """CA trace of an ideal alpha helix (rise 1.5 A, radius 2.3 A, 100 degrees per residue)."""
    t = np.deg2rad(100.0) * np.arange(n)
    return np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), start + 1.5 * np.arange(n)], axis=1)


def _strand(n, offset=(0.0, 0.0, 0.0)):
    """CA trace of an ideal strand (3.3 A rise per residue, zig-zag of 1 A)."""
    k = np.arange(n)
    return np.stack([3.3 * k, 0.5 * (-1.0) ** k, np.zeros(n)], axis=1) + np.asarray(offset)


def _protein(rng):
    """Two helices and a strand, one chain break (CA-CA 12 A) between the helices."""
    ca = np.concatenate([_helix(14), _helix(12, start=30.0) + [6.0, 0.0, 0.0],
                         _strand(10, offset=(0.0, 8.0, 10.0))])
    pred = rng.uniform(0.2, 0.9, len(ca))
    return pred, ca


def test_descriptors_against_direct_computation(rng):
    pred, ca = _protein(rng)
    pred[5] = np.nan
    ca[20] = np.nan
    d = residue_descriptors(pred, ca)
    assert d.shape == (len(pred), N_DESCRIPTORS)
    ok = np.isfinite(pred) & np.isfinite(ca).all(axis=1)
    assert np.all(np.isnan(d[~ok])) and np.all(np.isfinite(d[ok]))
    np.testing.assert_array_equal(d[ok, 0], pred[ok])
    have = np.isfinite(ca).all(axis=1)
    for k, radius in enumerate(REFINE_RADII):
        for i in np.flatnonzero(ok):
            dist = np.linalg.norm(ca[have] - ca[i], axis=1)
            # each other CA with the smootherstep weight fading over [r - 0.5, r + 0.5] A
            x = np.clip((radius + COUNT_FADE / 2 - dist) / COUNT_FADE, 0.0, 1.0)
            smooth = x ** 3 * (10 - 15 * x + 6 * x ** 2)
            assert d[i, 2 + k] == pytest.approx((smooth.sum() - 1) / 10.0, abs=1e-12)
    # residues to the nearer end of each unbroken run: runs 0-4, 6-13 (break at the missing
    # score and the 12 A jump), 14-19, 21-25 (missing CA), 26-35
    ends = d[ok, 2 + len(REFINE_RADII)]
    expected = []
    for start, stop in ((0, 5), (6, 14), (14, 20), (21, 26), (26, 36)):
        k = np.arange(stop - start)
        expected += list(np.minimum(k, stop - start - 1 - k))
    np.testing.assert_allclose(ends, np.log1p(expected), atol=1e-12)
    helix, strand = d[:, -2], d[:, -1]
    assert np.all(helix[[0, 1, 2, 3, 10, 16]] == 1) and np.all(helix[27:35] == 0)
    assert np.all(strand[27:35] == 1) and np.all(strand[7:12] == 0)


def test_counts_and_marks_fade_continuously(rng):
    # two CA atoms moved apart through each radius: the hard count jumps, the smooth one fades
    # (0.5 at the radius, the hard count from half the width on either side), with a slope no
    # larger than the smootherstep's 15/8 per width
    for radius in REFINE_RADII:
        gaps = radius + np.linspace(-1.0, 1.0, 401)
        pair = [np.array([[0.0, 0.0, 0.0], [g, 0.0, 0.0]]) for g in gaps]
        hard = np.array([ca_neighbour_counts(c, radius)[0] for c in pair])
        soft = np.array([ca_neighbour_counts(c, radius, width=COUNT_FADE)[0] for c in pair])
        np.testing.assert_array_equal(hard, (gaps < radius).astype(float))
        far = np.abs(gaps - radius) >= COUNT_FADE / 2
        np.testing.assert_allclose(soft[far], hard[far], atol=1e-12)
        assert soft[200] == pytest.approx(0.5)
        assert np.max(np.abs(np.diff(soft))) <= 15 / 8 / COUNT_FADE * 0.005 + 1e-12
        assert np.all(np.diff(soft) <= 0)
    # several radii at once, as the descriptors count them
    pred, ca = _protein(rng)
    many = ca_neighbour_counts(ca, REFINE_RADII, width=COUNT_FADE)
    for k, radius in enumerate(REFINE_RADII):
        np.testing.assert_allclose(many[:, k], ca_neighbour_counts(ca, radius, width=COUNT_FADE),
                                   atol=1e-12)
    # one CA(i)-CA(i+3) step stretched through the helix range's upper end (5.8 A)
    lengths = np.linspace(5.0, 6.5, 301)
    marks = []
    for length in lengths:
        trace = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 0.0, 0.0], [length, 0.0, 0.0]])
        marks.append(ca_step_mark(trace, 3, 4.2, 5.8, MARK_FADE))
        np.testing.assert_array_equal(ca_step_mark(trace, 3, 4.2, 5.8), float(length < 5.8))
    marks = np.array(marks)
    far = np.abs(lengths - 5.8) >= MARK_FADE / 2
    np.testing.assert_allclose(marks[far], (lengths[far, None] < 5.8) * np.ones((1, 4)),
                               atol=1e-12)
    assert marks[160] == pytest.approx(np.full(4, 0.5))     # at 5.8 A
    assert np.max(np.abs(np.diff(marks, axis=0))) <= 15 / 8 / MARK_FADE * 0.005 + 1e-12
    # with a NaN CA the steps from or to it count as none; the others still mark it
    holed = _helix(8)
    holed[3] = np.nan
    np.testing.assert_array_equal(ca_step_mark(holed, 3, 4.2, 5.8, MARK_FADE),
                                  ca_step_mark(holed, 3, 4.2, 5.8))
    assert ca_step_mark(holed[:4], 3, 4.2, 5.8, MARK_FADE).tolist() == [0.0] * 4


def test_refined_scores_are_continuous_in_the_coordinates(rng, monkeypatch):
    # +-0.001 A of noise moves no refined score by more than 1e-3, with weights of the size
    # the fits give (about 1 on the scores, 0.01-0.02 on the geometric terms), even where a CA
    # pair sits on a count's radius: the strand moved along one of its pairs to exactly 10 A
    import estimators.local_refinement as lr
    pred, ca = _protein(rng)
    helix_rows, strand_rows = np.arange(26), np.arange(26, 36)
    dist = np.linalg.norm(ca[helix_rows, None] - ca[None, strand_rows], axis=2)
    i, j = np.unravel_index(np.argmin(np.abs(dist - 10.0)), dist.shape)
    axis = (ca[strand_rows[j]] - ca[helix_rows[i]]) / dist[i, j]
    ca[strand_rows] += (10.0 - dist[i, j]) * axis
    assert np.linalg.norm(ca[strand_rows[j]] - ca[helix_rows[i]]) == pytest.approx(10.0)
    beta = np.concatenate([[-1.0, 0.6, 0.02, 0.02, 0.02, 0.02],
                           rng.normal(0.0, 0.02, N_WEIGHTS - 6)])

    def largest_change(trials=20):
        base = apply_refinement(beta, pred, ca)
        noise = np.random.default_rng(5)
        return max(np.nanmax(np.abs(apply_refinement(
            beta, pred, ca + noise.uniform(-1e-3, 1e-3, ca.shape)) - base))
            for _ in range(trials))

    assert largest_change() <= 1e-3
    monkeypatch.setattr(lr, "COUNT_FADE", 0.0)       # hard counts: the same test fails
    assert largest_change() > 1e-3


def test_refinement_keeps_the_mean_and_is_rigid_motion_invariant(rng):
    pred, ca = _protein(rng)
    beta = rng.normal(size=N_WEIGHTS)
    out = apply_refinement(beta, pred, ca)
    assert np.mean(out) == pytest.approx(np.mean(pred), abs=1e-12)
    assert not np.allclose(out, pred)
    rot = random_rotations(1, rng)[0]
    moved = apply_refinement(beta, pred, ca @ rot.T + [3.0, -7.0, 11.0])
    np.testing.assert_allclose(moved, out, atol=1e-10)
    np.testing.assert_array_equal(apply_refinement(np.zeros(N_WEIGHTS), pred, ca), pred)
    pred[3] = np.nan
    out = apply_refinement(beta, pred, ca)
    assert np.isnan(out[3]) and np.nanmean(out) == pytest.approx(np.nanmean(pred), abs=1e-12)
    with pytest.raises(ValueError, match="shape"):
        apply_refinement(beta[:-1], pred, ca)


def test_fit_recovers_weights_of_exact_data(rng):
    beta = rng.normal(size=N_WEIGHTS) * 0.1
    preds, cas, truths = [], [], []
    for k in range(12):
        pred, ca = _protein(rng)
        ca = ca @ random_rotations(1, rng)[0].T
        known = np.arange(len(pred)) >= (4 if k == 0 else 0)   # unknown residues are skipped
        x, _ = refine_design(residue_descriptors(pred, ca), known)
        truth = 0.3 + 0.05 * k + pred + x @ beta          # any model mean: only the order counts
        preds.append(pred)
        cas.append(ca)
        truths.append(np.where(known, truth, np.nan))
    np.testing.assert_allclose(fit_refinement(preds, cas, truths, alpha=1e-10), beta, atol=1e-6)
    shrunk = fit_refinement(preds, cas, truths, alpha=1e3)
    assert np.linalg.norm(shrunk) < np.linalg.norm(beta)
    with pytest.raises(ValueError, match="at least 3"):
        fit_refinement(preds[:1], cas[:1], [np.full(len(preds[0]), np.nan)])


def test_estimator_fits_refinement_on_held_out_groups(tmp_path):
    from conftest import casp_models
    from estimators.qa_estimator import SixDQAEstimator
    from estimators.model_file import ModelFileError
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    est = SixDQAEstimator(architecture=TINY, epochs=1, batch_size=4, random_state=0,
                          local_smoothing=0.0, local_refinement=True, validation_fraction=0.5)
    with pytest.raises(ValueError, match="held-out"):
        SixDQAEstimator(architecture=TINY, local_refinement=True).fit(models[:2], local[:2])
    est.fit(models, local, groups=groups)
    assert est.local_refinement_.shape == (N_WEIGHTS,)
    assert np.all(np.isfinite(est.local_refinement_))
    refined = est.predict(models[:3])
    raw = est.set_params(local_refinement=False).predict(models[:3])
    for r, p in zip(refined, raw):
        assert not np.allclose(r, p)
        assert np.nanmean(r) == pytest.approx(np.nanmean(p), abs=2e-3)   # up to the [0, 1] clip
    est.set_params(local_refinement=True).save(tmp_path / "m.npz")
    loaded = SixDQAEstimator.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.local_refinement_, est.local_refinement_)
    for a, b in zip(refined, loaded.predict(models[:3])):
        np.testing.assert_array_equal(a, b)
    # a network fitted without it cannot apply it
    plain = SixDQAEstimator(architecture=TINY, epochs=1, batch_size=4, local_smoothing=0.0)
    plain.fit(models[:4], local[:4])
    assert plain.local_refinement_ is None
    with pytest.raises(ValueError, match="no fitted weights"):
        plain.set_params(local_refinement=True).predict(models[:1])
    # a model file whose weights are not N_WEIGHTS finite numbers is refused
    bad = tmp_path / "bad.npz"
    with np.load(tmp_path / "m.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["local_refinement"] = meta["local_refinement"][:-1] + ["x"]
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match="local_refinement"):
        SixDQAEstimator.load(bad)


def test_auto_refinement_is_fitted_when_groups_are_held_out(tmp_path):
    # local_refinement='auto': fitted and applied when the fit holds out groups,
    # neither without them; True insists on held-out models, False never fits
    from conftest import casp_models
    from estimators.qa_estimator import SixDQAEstimator
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    kw = dict(architecture=TINY, epochs=1, batch_size=4, random_state=0, validation_fraction=0.5)
    assert SixDQAEstimator().local_refinement is False
    auto = SixDQAEstimator(local_refinement="auto", **kw).fit(models, local, groups=groups)
    forced = SixDQAEstimator(local_refinement=True, **kw).fit(models, local, groups=groups)
    np.testing.assert_array_equal(auto.local_refinement_, forced.local_refinement_)
    assert auto.applies_refinements() == {"local_refinement": True, "global_refinement": False}
    for a, b in zip(auto.predict(models[:2]), forced.predict(models[:2])):
        np.testing.assert_array_equal(a, b)
    # no groups: nothing held out, so nothing fitted and the network's scores are given
    plain = SixDQAEstimator(local_refinement="auto", **kw).fit(models[:4], local[:4])
    assert plain.local_refinement_ is None
    assert plain.applies_refinements()["local_refinement"] is False
    raw = plain.set_params(local_refinement=False).predict(models[:2])
    for a, b in zip(plain.set_params(local_refinement="auto").predict(models[:2]), raw):
        np.testing.assert_array_equal(a, b)
    # one group only: no held-out split either
    one = SixDQAEstimator(local_refinement="auto", **kw).fit(models[:4], local[:4],
                                                          groups=["a"] * 4)
    assert one.local_refinement_ is None
    with pytest.raises(ValueError, match="held-out models"):
        SixDQAEstimator(local_refinement=True, **kw).fit(models[:4], local[:4],
                                                         groups=["a"] * 4)
    with pytest.raises(ValueError, match="held-out models"):
        one.fit_refinements(models[:4], local[:4], groups=["a"] * 4)
    assert SixDQAEstimator(local_refinement=False, **kw).fit(
        models, local, groups=groups).local_refinement_ is None
    for bad in ("yes", "Auto"):
        with pytest.raises(ValueError, match="True, False or 'auto'"):
            SixDQAEstimator(local_refinement=bad, **kw).fit(models, local, groups=groups)
    # the setting and the weights travel with the model file
    loaded = SixDQAEstimator.load(auto.save(tmp_path / "auto.npz"))
    assert loaded.local_refinement == "auto"
    np.testing.assert_array_equal(loaded.local_refinement_, auto.local_refinement_)
    plain_loaded = SixDQAEstimator.load(plain.save(tmp_path / "plain.npz"))
    assert plain_loaded.applies_refinements()["local_refinement"] is False


def test_seed_ensemble_keeps_each_networks_refinement(tmp_path):
    from conftest import casp_models
    from estimators.ensemble import SeedEnsembleQAEstimator
    from estimators.pretrained import load_model
    from estimators.qa_estimator import SixDQAEstimator
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    template = SixDQAEstimator(architecture=TINY, epochs=1, batch_size=4, local_smoothing=0.0,
                               local_refinement=True, validation_fraction=0.5)
    ens = SeedEnsembleQAEstimator(template, seeds=(0, 1)).fit(models, local, groups=groups)
    weights = [e.local_refinement_ for e in ens.estimators_]
    assert not np.array_equal(weights[0], weights[1])         # one refinement per network
    pred = ens.predict(models[:2])
    members = [e.predict(models[:2]) for e in ens.estimators_]
    for k, p in enumerate(pred):
        np.testing.assert_allclose(p, np.mean([m[k] for m in members], axis=0), atol=1e-12)
    ens.save(tmp_path / "ens.npz")
    loaded = load_model(tmp_path / "ens.npz")
    for a, b in zip(pred, loaded.predict(models[:2])):
        np.testing.assert_array_equal(a, b)
    raw = load_model(tmp_path / "ens.npz", local_refinement=False).predict(models[:2])
    assert not np.allclose(raw[0], pred[0])


def test_refinements_fitted_afterwards_equal_those_of_the_fit(tmp_path):
    # a network trained without the refinement, refined afterwards on its fit's inputs, equals
    # the network trained with it: same weights, same held-out groups, same refinement weights
    from conftest import casp_models
    from sklearn.exceptions import NotFittedError
    from estimators.ensemble import SeedEnsembleQAEstimator
    from estimators.qa_estimator import SixDQAEstimator
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    kw = dict(architecture=TINY, epochs=1, batch_size=4, random_state=3, local_smoothing=0.0,
              validation_fraction=0.5)
    with_it = SixDQAEstimator(local_refinement=True, **kw).fit(models, local, groups=groups)
    later = SixDQAEstimator(local_refinement=False, **kw).fit(models, local, groups=groups)
    assert later.local_refinement_ is None
    with pytest.raises(ValueError, match="no refinement to fit"):
        later.fit_refinements(models, local, groups=groups)
    later.set_params(local_refinement=True).fit_refinements(models, local, groups=groups)
    for k, v in with_it.params_.items():
        np.testing.assert_array_equal(v, later.params_[k])
    np.testing.assert_allclose(later.local_refinement_, with_it.local_refinement_, rtol=1e-9,
                               atol=1e-12)
    with pytest.raises(NotFittedError):
        SixDQAEstimator(local_refinement=True).fit_refinements(models, local, groups=groups)
    # an ensemble: each network on the groups its own seed held out
    ens = SeedEnsembleQAEstimator(SixDQAEstimator(local_refinement=False, **kw),
                                  seeds=(0, 1)).fit(models, local, groups=groups)
    ens.fit_refinements(models, local, groups=groups, local_refinement=True)
    direct = SeedEnsembleQAEstimator(SixDQAEstimator(local_refinement=True, **kw),
                                     seeds=(0, 1)).fit(models, local, groups=groups)
    for a, b in zip(ens.estimators_, direct.estimators_):
        np.testing.assert_allclose(a.local_refinement_, b.local_refinement_, rtol=1e-9,
                                   atol=1e-12)


def test_train_and_refine_commands_fit_the_refinement(tmp_path, monkeypatch, capsys):
    from conftest import casp_models
    import estimators.training_data as training_data
    from estimators.cli import main
    from estimators.pretrained import load_model
    from estimators.qa_estimator import SixDQAEstimator
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    kw = dict(architecture=TINY, epochs=1, batch_size=4, random_state=0, local_smoothing=0.0,
              validation_fraction=0.5)
    SixDQAEstimator(local_refinement=False, **kw).fit(models, local, groups=groups).save(
        tmp_path / "plain.npz")
    monkeypatch.setattr(training_data, "training_set",
                        lambda **_: (models, local, [np.nan] * len(models), groups))
    monkeypatch.setattr("estimators.cli._casp13_folder", lambda value: str(tmp_path))
    # train: the refinement is fitted on the held-out groups when asked for (not by default),
    # and the summary says so
    assert main(["train", "-o", str(tmp_path / "t.npz"), "--architecture", "baseline",
                 "--epochs", "1", "--local-refinement"]) == 0
    assert "within-model refinement fitted for 1 of 1" in capsys.readouterr().out
    assert load_model(tmp_path / "t.npz").local_refinement_ is not None
    assert main(["train", "-o", str(tmp_path / "t0.npz"), "--architecture", "baseline",
                 "--epochs", "1"]) == 0
    assert "fitted for 0 of 1" in capsys.readouterr().out
    assert load_model(tmp_path / "t0.npz").local_refinement_ is None
    assert main(["refine", str(tmp_path / "plain.npz"), "-o", str(tmp_path / "r.npz")]) == 2
    assert main(["refine", str(tmp_path / "plain.npz"), "-o", str(tmp_path / "r.npz"),
                 "--local-refinement"]) == 0
    refined = load_model(tmp_path / "r.npz")
    direct = SixDQAEstimator(local_refinement=True, **kw).fit(models, local, groups=groups)
    assert refined.local_refinement
    np.testing.assert_allclose(refined.local_refinement_, direct.local_refinement_, rtol=1e-9,
                               atol=1e-12)
    for a, b in zip(refined.predict(models[:2]), direct.predict(models[:2])):
        np.testing.assert_allclose(a, b, atol=1e-6)
