"""estimators.score_offset: the constant that removes the mean per-target bias of the global
score, fitted on models of other targets, and its use in a seed ensemble and its model file."""
import numpy as np
import pytest

from estimators.score_offset import apply_score_offset, check_score_offset, fit_score_offset


def test_offset_is_minus_the_mean_of_the_per_target_biases_by_hand():
    # target A: biases +0.2 and +0.4 (mean +0.3); target B: one model, -0.1; each target once
    pred = np.array([0.7, 0.9, 0.4, 0.5])
    true = np.array([0.5, 0.5, 0.5, np.nan])        # the last model has no truth: left out
    groups = np.array(["A", "A", "B", "B"])
    assert fit_score_offset(pred, true, groups) == pytest.approx(-(0.3 - 0.1) / 2)
    # NaN predictions are left out too; a target with no usable model does not count
    pred2 = np.array([0.7, 0.9, np.nan, 0.5, 0.3])
    true2 = np.array([0.5, 0.5, 0.5, np.nan, 0.2])
    groups2 = np.array(["A", "A", "B", "B", "C"])
    assert fit_score_offset(pred2, true2, groups2) == pytest.approx(-(0.3 + 0.1) / 2)


def test_offset_removes_a_common_bias_and_keeps_every_order(rng):
    # models of 5 targets scored with one shared bias plus noise: the fitted offset is that
    # bias; shifting by it brings every target's mean bias to ~0 and keeps the ranks
    groups = np.repeat(np.arange(5), 40)
    true = rng.uniform(0.2, 0.8, groups.size)
    pred = true + 0.12 + rng.normal(scale=0.01, size=groups.size)
    delta = fit_score_offset(pred, true, groups)
    assert delta == pytest.approx(-0.12, abs=0.005)
    shifted = np.array([apply_score_offset(p, delta) for p in pred])
    for g in range(5):
        sel = groups == g
        assert abs(np.mean(shifted[sel] - true[sel])) < 0.01
        np.testing.assert_array_equal(np.argsort(shifted[sel]), np.argsort(pred[sel]))


def test_apply_clips_keeps_nan_and_dtype():
    local = np.array([0.05, 0.5, 0.98, np.nan], dtype=np.float32)
    out = apply_score_offset(local, -0.1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:3], [0.0, 0.4, 0.88], atol=1e-6)
    assert np.isnan(out[3])
    np.testing.assert_array_equal(apply_score_offset(local, 0.0), local)
    np.testing.assert_allclose(apply_score_offset(local, 0.1)[:3], [0.15, 0.6, 1.0], atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1.5, -2, "x", None, True])
def test_bad_offsets_and_inputs_are_refused(bad):
    with pytest.raises(ValueError, match="score_offset must be a finite number"):
        check_score_offset(bad)
    assert check_score_offset(-0.25) == -0.25
    with pytest.raises(ValueError, match="one length"):
        fit_score_offset([0.5, 0.6], [0.5], ["A", "A"])
    with pytest.raises(ValueError, match="no model"):
        fit_score_offset([np.nan], [0.5], ["A"])
