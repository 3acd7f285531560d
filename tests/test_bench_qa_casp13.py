"""Tests of helpers of benchmarks/qa_casp13.py that need no training."""
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import load_benchmark

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
qa = load_benchmark("qa_casp13.py", "bench_qa_casp13")


def test_bias_by_quality_by_hand():
    true = np.array([0.1, 0.35, 0.38, 0.55, 0.95, 1.0, np.nan, 0.65])
    pred = np.array([0.3, 0.35, 0.48, np.nan, 0.90, 0.9, 0.5, 0.75])
    rows = qa.bias_by_quality(pred, true)
    assert [(lo, hi) for lo, hi, *_ in rows] == list(zip(qa.QUALITY_BINS[:-1], qa.QUALITY_BINS[1:]))
    got = {(lo, hi): (n, b) for lo, hi, n, b in rows}
    assert got[(0.0, 0.3)] == (1, pytest.approx(0.2))
    assert got[(0.3, 0.4)] == (2, pytest.approx(0.05))
    assert got[(0.5, 0.6)][0] == 0 and np.isnan(got[(0.5, 0.6)][1])    # its model has no prediction
    assert got[(0.6, 0.7)] == (1, pytest.approx(0.1))
    assert got[(0.7, 1.0)] == (2, pytest.approx(-0.075))               # 1.0 falls in the last bin
    assert sum(n for _, _, n, _ in rows) == 6


def test_bias_table_rows_and_shape_check():
    true = np.array([0.2, 0.45, 0.8])
    methods = {"A": {"global": true + 0.1}, "B": {"global": np.array([np.nan, 0.45, 0.7])}}
    rows = {name: qa.bias_by_quality(m["global"], true) for name, m in methods.items()}
    table = qa._bias_table(rows, true).splitlines()
    assert table[0].startswith("| method | lDDT 0.0–0.3 (1) |")
    assert table[2] == "| A | +0.10 | – | +0.10 | – | – | +0.10 |"
    assert table[3] == "| B | – | – | +0.00 | – | – | -0.10 |"
    with pytest.raises(ValueError, match="shape"):
        qa.bias_by_quality(np.zeros(3), np.zeros(4))


def test_smoothed_methods_smooth_the_networks_only():
    from estimators.smoothing import smooth_along_chain
    n = 12
    ca = np.c_[np.arange(n) * 3.8, np.zeros(n), np.zeros(n)]

    class Model:
        def backbone(self):
            return ca, ca, ca, np.ones(n, bool)

    local = np.linspace(0.2, 0.9, n) ** 2
    methods = {"VoroMQA": {"global": np.zeros(2), "local": [local, local]},
               "6DCNN-2": {"global": np.zeros(2), "local": [local, None]}}
    out = qa.smoothed_methods(methods, [Model(), Model()], 1.5)
    assert list(out) == ["6DCNN-2, smoothed (sigma = 1.5)"]
    got = out["6DCNN-2, smoothed (sigma = 1.5)"]
    np.testing.assert_array_equal(got["local"][0], smooth_along_chain(local, ca, 1.5))
    assert got["local"][1] is None and np.isnan(got["global"][1])
    assert got["global"][0] == pytest.approx(np.mean(got["local"][0]))
    with pytest.raises(SystemExit):
        qa.parse_args(["--smooth-local", "-1"])


def test_local_smoothing_of_the_trained_networks():
    from estimators import SixDQAEstimator
    default = qa._estimator("6dcnn-2", qa.parse_args([]), 0)
    assert default.local_smoothing == SixDQAEstimator().local_smoothing
    raw = qa._estimator("6dcnn-2", qa.parse_args(["--local-smoothing", "0"]), 0)
    assert raw.local_smoothing == 0.0
    assert default.checkpoint_dir is None
    resumable = qa._estimator("6dcnn-2", qa.parse_args(["--checkpoint-dir", "ck"]), 0)
    assert resumable.checkpoint_dir == "ck"
    with pytest.raises(SystemExit):
        qa.parse_args(["--local-smoothing", "-1"])


def test_refinement_across_targets_never_fits_on_the_target(monkeypatch, rng):
    import estimators.local_refinement as lr
    n = 20
    ca = np.c_[np.arange(n) * 3.8, np.sin(np.arange(n)), np.zeros(n)]

    class Model:
        def backbone(self):
            return ca, ca, ca, np.ones(n, bool)

    groups = np.array(["T1", "T1", "T2", "T2", "T3"])
    local = [rng.uniform(0.2, 0.8, n) for _ in groups]
    truth = [rng.uniform(0.0, 1.0, n) for _ in groups]
    seen = []
    fit = lr.fit_refinement

    def spy(preds, cas, truths, alpha=1.0):
        seen.append({id(t) for t in truths})
        return fit(preds, cas, truths, alpha)

    monkeypatch.setattr(lr, "fit_refinement", spy)
    methods = {"VoroMQA": {"global": np.zeros(5), "local": local},
               "net": {"global": np.zeros(5), "local": local[:4] + [None]}}
    out = qa.refined_across_targets(methods, [Model()] * 5, groups, truth,
                                    np.array([np.mean(t) for t in truth]))
    assert list(out) == ["net, refined on the other targets",
                         "net, refined on the other targets, with global shift"]
    got = out["net, refined on the other targets"]
    for target, used in zip(["T1", "T2", "T3"], seen):
        own = {id(truth[i]) for i in np.flatnonzero(groups == target)}
        assert used and not used & own
    beta = fit([local[i] for i in (2, 3)], [ca, ca], [truth[i] for i in (2, 3)])
    np.testing.assert_allclose(got["local"][0],
                               np.clip(lr.apply_refinement(beta, local[0], ca), 0, 1))
    assert got["local"][4] is None and np.isnan(got["global"][4])
    assert got["global"][1] == pytest.approx(np.mean(got["local"][1]))
    shifted = out["net, refined on the other targets, with global shift"]
    for a, b in zip(shifted["local"][:4], got["local"][:4]):
        inside = (a > 0) & (a < 1) & (b > 0) & (b < 1)
        np.testing.assert_allclose((a - b)[inside], (a - b)[inside][0], atol=1e-12)


def test_local_per_target_is_the_mean_over_each_targets_models(rng):
    from estimators.metrics import spearman
    groups = np.array(["T1", "T1", "T2"])
    true_local = [rng.uniform(size=15) for _ in groups]
    pred = [t + rng.normal(scale=0.3, size=15) for t in true_local]
    methods = {"net": {"global": np.array([0.5, 0.6, 0.7]), "local": pred}}
    rows = qa.local_per_target(methods, np.array([0.4, 0.6, 0.8]), groups, true_local)
    expect_t1 = np.mean([spearman(pred[i], true_local[i]) for i in (0, 1)])
    assert rows["net"]["T1"] == pytest.approx(expect_t1)
    assert rows["net"]["T2"] == pytest.approx(spearman(pred[2], true_local[2]))
    assert rows["net"]["mean"] == pytest.approx((rows["net"]["T1"] + rows["net"]["T2"]) / 2)
    assert qa._local_per_target_table(rows).splitlines()[0] == "| method | T1 | T2 | mean |"


def test_leave_one_target_out_keeps_raw_and_refined_rows(monkeypatch):
    from types import SimpleNamespace
    groups = np.array(["T1", "T1", "T2"])
    feats = ["f0", "f1", "f2"]

    def fake(arch, args, seed, x, y, g, test_feats, target):
        raw = [np.full(3, 0.5) for _ in test_feats]
        refined = [np.full(3, 0.6) for _ in test_feats]
        assert all(target not in str(v) for v in g if str(v).startswith("T"))
        return {"": raw, qa.REFINED: refined}, {"seed": seed, "n_train": len(x), "n_val": 0,
                                                "epochs_run": 1, "best_epoch": 1,
                                                "val_group_spearman": None, "fit_s": 0.0,
                                                "predict_s": 0.0}

    monkeypatch.setattr(qa, "_fit_and_predict", fake)
    args = SimpleNamespace(corpus_only=False, folds=None, seeds=[0, 1], seed=0, fold_jobs=1)
    variants, folds = qa.leave_one_target_out("6dcnn-2", feats, [(None, 0.5)] * 3, groups,
                                              ([], [], []), args, log=lambda *a: None)
    assert list(variants) == ["", qa.REFINED] and len(folds) == 4
    for variant, value in (("", 0.5), (qa.REFINED, 0.6)):
        ensemble, by_seed = variants[variant]
        assert sorted(by_seed) == [0, 1]
        np.testing.assert_allclose(ensemble["global"], value)


def test_offset_across_targets_fits_each_target_without_it():
    # three targets, one model each with a known bias: each target is shifted by minus the mean
    # bias of the other two; the offset on all targets is minus the mean of all three
    groups = np.array(["T1", "T2", "T3", "T3"])
    true_global = np.array([0.5, 0.5, 0.5, 0.5])
    local = [np.full(4, 0.6), np.full(4, 0.7), np.full(4, 0.5), None]
    glob = np.array([0.6, 0.7, 0.5, np.nan])
    methods = {"VoroMQA": {"global": glob, "local": local}, "net": {"global": glob, "local": local}}
    rows, offsets = qa.offset_across_targets(methods, groups, true_global)
    assert list(rows) == ["net, offset on the other targets"]
    per = offsets["net"]["per_held_out_target"]
    assert per == {"T1": pytest.approx(-0.1), "T2": pytest.approx(-0.05),
                   "T3": pytest.approx(-0.15)}
    assert offsets["net"]["all_targets"] == pytest.approx(-0.1)
    got = rows["net, offset on the other targets"]
    np.testing.assert_allclose(got["global"][:3], [0.5, 0.65, 0.35])
    assert got["local"][3] is None and np.isnan(got["global"][3])
