"""Refinement of the global score from model descriptors (estimators.global_refinement) and its
use in SixDQAEstimator."""
import numpy as np
import pytest

from fourier6d import random_rotations
from estimators.local_refinement import COUNT_FADE
from estimators.global_refinement import (N_MODEL_DESCRIPTORS, apply_global_refinement,
                                          fit_global_refinement, global_shift,
                                          model_descriptors)


def _chain(rng, n=40, spread=6.0):
    """A random compact CA trace (steps of 3.8 A) and scores."""
    steps = rng.normal(size=(n, 3))
    steps *= 3.8 / np.linalg.norm(steps, axis=1, keepdims=True)
    ca = np.cumsum(steps, axis=0) * (spread / 6.0)
    return rng.uniform(0.2, 0.9, n), ca


def test_descriptors_against_direct_computation(rng):
    pred, ca = _chain(rng)
    pred[4] = np.nan
    ca[9] = np.nan
    z = model_descriptors(pred, ca)
    assert z.shape == (N_MODEL_DESCRIPTORS,)
    ok = np.isfinite(pred) & np.isfinite(ca).all(axis=1)
    p, xyz, idx = pred[ok], ca[ok], np.flatnonzero(ok)
    n = len(p)
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    rg = np.sqrt(((xyz - xyz.mean(0)) ** 2).sum(1).mean())
    sep = np.abs(idx[:, None] - idx[None])

    def weight(radius):          # smootherstep over COUNT_FADE centred on the radius
        x = np.clip((radius + COUNT_FADE / 2 - d) / COUNT_FADE, 0.0, 1.0)
        return x ** 3 * (6 * x ** 2 - 15 * x + 10)

    contacts = weight(8.0) * (sep >= 3)
    expected = [p.mean(), p.std(), rg / (2.2 * n ** 0.38),
                (weight(8.0).sum(1) - 1).mean() / 10, (weight(12.0).sum(1) - 1).mean() / 10]
    np.testing.assert_allclose(z[:5], expected, rtol=1e-12)
    assert 0 <= z[5] <= 1 and 0 <= z[6] <= 1
    assert contacts.sum() > 1
    assert z[7] == pytest.approx((contacts * sep).sum() / contacts.sum() / n, rel=1e-12)
    assert np.isnan(model_descriptors(pred[:2], ca[:2])).all()


def test_shift_is_uniform_and_rigid_motion_invariant(rng):
    pred, ca = _chain(rng)
    weights = rng.normal(size=2 * N_MODEL_DESCRIPTORS)
    out = apply_global_refinement(weights, pred, ca)
    shift = global_shift(weights, pred, ca)
    np.testing.assert_allclose(out - pred, shift)
    moved = ca @ random_rotations(1, rng)[0].T + [5.0, -2.0, 9.0]
    assert global_shift(weights, pred, moved) == pytest.approx(shift, abs=1e-10)
    assert global_shift(weights, pred[:2], ca[:2]) == 0.0
    with pytest.raises(ValueError, match="shape"):
        global_shift(weights[:-1], pred, ca)


def test_shift_is_continuous_in_the_coordinates(rng, monkeypatch):
    # +-0.001 A of noise moves the shift by less than 1e-4 (the bound for the global
    # score under a rigid move through a PDB file), even with a CA contact at exactly 8 A
    import estimators.global_refinement as gr
    pred, ca = _chain(rng)
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    sep = np.abs(np.arange(len(ca))[:, None] - np.arange(len(ca))[None])
    i, j = np.unravel_index(np.argmin(np.where(sep >= 3, np.abs(d - 8.0), np.inf)), d.shape)
    i, j = min(i, j), max(i, j)
    ca[j:] += (8.0 - d[i, j]) * (ca[j] - ca[i]) / d[i, j]
    assert np.linalg.norm(ca[j] - ca[i]) == pytest.approx(8.0)
    weights = np.concatenate([[0.0, 0.0, -0.2, 0.5, 0.3, 0.2, 0.2, 0.5],
                              model_descriptors(pred, ca)])

    def largest_change(trials=20):
        base = global_shift(weights, pred, ca)
        noise = np.random.default_rng(5)
        return max(abs(global_shift(weights, pred, ca + noise.uniform(-1e-3, 1e-3, ca.shape))
                       - base) for _ in range(trials))

    assert largest_change() < 1e-4
    monkeypatch.setattr(gr, "COUNT_FADE", 0.0)       # hard counts: the same test fails
    assert largest_change() > 1e-4


def test_fit_recovers_weights_of_exact_data(rng):
    gamma = rng.normal(size=N_MODEL_DESCRIPTORS) * 0.2
    preds, cas, truths, groups = [], [], [], []
    for g in range(6):
        z_group = []
        members = []
        for k in range(5):
            pred, ca = _chain(rng, n=30 + g, spread=rng.uniform(4.0, 9.0))
            preds.append(pred)
            cas.append(ca)
            groups.append(f"g{g}")
            z_group.append(model_descriptors(pred, ca))
            members.append(len(preds) - 1)
        z_group = np.array(z_group)
        zc = z_group - z_group.mean(0)
        # any level per group: only the order within a group is fitted
        truths += list(0.1 * g + z_group[:, 0] + zc @ gamma)
    weights = fit_global_refinement(preds, cas, truths, groups, alpha=1e-12)
    np.testing.assert_allclose(weights[:N_MODEL_DESCRIPTORS], gamma, atol=1e-5)
    z_all = np.array([model_descriptors(p, c) for p, c in zip(preds, cas)])
    np.testing.assert_allclose(weights[N_MODEL_DESCRIPTORS:], z_all.mean(0))
    # over the fitting models the shifts have mean zero
    assert np.mean([global_shift(weights, p, c) for p, c in zip(preds, cas)]) == \
        pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 models"):
        fit_global_refinement(preds[:3], cas[:3], truths[:3], ["a", "b", "c"])


def test_estimator_fits_and_keeps_the_global_refinement(tmp_path):
    from conftest import casp_models
    from estimators.qa_estimator import SixDQAEstimator
    from test_estimator import TINY
    models, local = casp_models("T0953s1", 8)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    est = SixDQAEstimator(architecture=TINY, epochs=1, batch_size=4, random_state=0,
                          local_smoothing=0.0, local_refinement=False, global_refinement=True,
                          validation_fraction=0.5)
    est.fit(models, local, groups=groups)
    assert est.global_refinement_.shape == (2 * N_MODEL_DESCRIPTORS,)
    assert est.local_refinement_ is None
    shifted = est.predict(models[:3])
    raw = est.set_params(global_refinement=False).predict(models[:3])
    for s, r in zip(shifted, raw):
        inside = (r > 0) & (r < 1) & (s > 0) & (s < 1)
        diff = (s - r)[inside]
        np.testing.assert_allclose(diff, diff[0], atol=1e-12)       # one shift per model
    est.set_params(global_refinement=True).save(tmp_path / "m.npz")
    loaded = SixDQAEstimator.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.global_refinement_, est.global_refinement_)
    for a, b in zip(shifted, loaded.predict(models[:3])):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="held-out"):
        SixDQAEstimator(architecture=TINY, global_refinement=True).fit(models[:2], local[:2])
