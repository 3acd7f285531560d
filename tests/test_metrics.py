"""Tests of estimators.metrics: hand-computed small cases, cross-checks with scipy, degenerate inputs."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from estimators.metrics import (
    TABLE_COLUMNS, first_rank_loss, format_table, kendall, pearson, qa_metrics, r2_score,
    rank_average, spearman, top_model_zscore,
)


# ---------------------------------------------------------------------------------------------- ranks
def test_rank_average_ties_by_hand():
    np.testing.assert_array_equal(rank_average([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_array_equal(rank_average([3, 1, 3, 3]), [3, 1, 3, 3])   # ranks 2,3,4 -> 3
    np.testing.assert_array_equal(rank_average([5.0]), [1.0])


def test_rank_average_matches_scipy(rng):
    values = rng.integers(0, 7, size=60).astype(float)                      # many ties
    np.testing.assert_array_equal(rank_average(values), stats.rankdata(values, method="average"))


# -------------------------------------------------------------------------------------- correlations
def test_pearson_by_hand():
    # dx = [-1, 0, 1], dy = [-1, 1, 0]: sum dx dy = 1, sxx = syy = 2  -> r = 1/2
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5, abs=1e-15)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0, abs=1e-15)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0, abs=1e-15)


def test_spearman_with_ties_by_hand():
    # ranks x = [1, 2.5, 2.5, 4], ranks y = [1, 2, 3, 4]:
    # dx = [-1.5, 0, 0, 1.5], dy = [-1.5, -.5, .5, 1.5]; cov = 4.5, sxx = 4.5, syy = 5
    expected = 4.5 / math.sqrt(4.5 * 5.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(expected, abs=1e-14)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]).statistic, abs=1e-14)


def test_kendall_tau_b_by_hand():
    # pairs of x=[1,2,2,3], y=[1,3,2,4]: five concordant, one tied in x, none discordant.
    # n0 = 6, ties in x = 1, ties in y = 0 -> tau_b = 5 / sqrt(5 * 6)
    expected = 5.0 / math.sqrt(5.0 * 6.0)
    assert kendall([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(expected, abs=1e-14)
    # one discordant pair: x=[1,2,3], y=[1,3,2]: C=2, D=1 -> 1/3
    assert kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1.0 / 3.0, abs=1e-14)


@pytest.mark.parametrize("block", [1, 3, 2048])
def test_correlations_match_scipy_on_random_data_with_ties(rng, block):
    x = np.round(rng.normal(size=57), 1)          # rounding creates ties
    y = np.round(x + rng.normal(scale=0.8, size=57), 1)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall(x, y, block=block) == pytest.approx(
        stats.kendalltau(x, y, variant="b").statistic, abs=1e-12)


def test_correlations_are_invariant_to_monotone_maps_and_symmetric(rng):
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    assert spearman(np.exp(x), y ** 3) == pytest.approx(spearman(x, y), abs=1e-12)
    assert kendall(np.exp(x), y ** 3) == pytest.approx(kendall(x, y), abs=1e-12)
    assert kendall(y, x) == pytest.approx(kendall(x, y), abs=1e-12)
    assert pearson(3 * x + 1, y) == pytest.approx(pearson(x, y), abs=1e-12)


def test_nan_pairs_are_dropped():
    x = [1, 2, np.nan, 3, 4]
    y = [1, 3, 5, 2, np.nan]
    assert pearson(x, y) == pytest.approx(pearson([1, 2, 3], [1, 3, 2]), abs=1e-15)
    assert spearman(x, y) == pytest.approx(0.5, abs=1e-15)
    assert kendall(x, y) == pytest.approx(1.0 / 3.0, abs=1e-15)
    assert r2_score(x, y) == pytest.approx(r2_score([1, 2, 3], [1, 3, 2]), abs=1e-15)


def test_degenerate_inputs_give_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (pearson, spearman, kendall):
            assert math.isnan(f([0.7, 0.7, 0.7], [0.1, 0.2, 0.3]))
        for f in (pearson, spearman, kendall, r2_score):
            assert math.isnan(f([0.1, 0.2, 0.3], [0.7, 0.7, 0.7]))
            assert math.isnan(f([0.5], [0.2]))
            assert math.isnan(f([], []))
            assert math.isnan(f([np.nan, 1.0], [1.0, np.nan]))
        # constant up to round-off (mean of 0.1s is not exactly 0.1) is still constant
        assert math.isnan(pearson(np.full(7, 0.1), np.arange(7.0)))
        # a constant *prediction* has a defined R^2 (= minus the squared bias over the variance)
        assert r2_score([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx(0.0, abs=1e-15)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="one-dimensional"):
        spearman(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="infinite"):
        kendall([1, np.inf], [1, 2])
    with pytest.raises(TypeError, match="numbers"):
        pearson(["a", "b"], [1, 2])


# ------------------------------------------------------------------------------------------------ R^2
def test_r2_by_hand_and_against_definition():
    # true [1,2,3], pred [1,2,4]: SS_res = 1, SS_tot = 2 -> 0.5
    assert r2_score([1, 2, 4], [1, 2, 3]) == pytest.approx(0.5, abs=1e-15)
    # a biased predictor: pred = true + 1 -> SS_res = 3, SS_tot = 2 -> -0.5 (negative, not r^2 = 1)
    assert r2_score([2, 3, 4], [1, 2, 3]) == pytest.approx(-0.5, abs=1e-15)
    assert pearson([2, 3, 4], [1, 2, 3]) == pytest.approx(1.0)


def test_r2_matches_sklearn(rng):
    from sklearn.metrics import r2_score as sk_r2
    true = rng.uniform(0.2, 0.9, size=30)
    pred = true + rng.normal(scale=0.1, size=30) + 0.05
    assert r2_score(pred, true) == pytest.approx(sk_r2(true, pred), abs=1e-12)


# ------------------------------------------------------------------------------------------ z-scores
TRUE_Z = np.array([0.0, 0.6, 0.7, 0.8, 0.9, 0.6, 0.7, 0.8, 0.9, 0.75])


def test_zscore_outlier_rule_by_hand():
    # All ten: mean 0.675, population variance 0.60625/10 -> z(0.0) = -0.675/0.24622 = -2.74 < -2,
    # every other z > -2. Kept nine: mean 0.75, deviations +-0.15 (x2), +-0.05 (x2), 0 -> variance
    # 0.1/9. The top-predicted model has true 0.9 -> z = 0.15 / sqrt(0.1/9).
    assert (0.0 - 0.675) / math.sqrt(0.60625 / 10) < -2
    pred = np.zeros(10)
    pred[4] = 1.0
    assert top_model_zscore(pred, TRUE_Z) == pytest.approx(0.15 / math.sqrt(0.1 / 9), abs=1e-12)
    assert first_rank_loss(pred, TRUE_Z) == pytest.approx(0.0, abs=1e-15)
    # ranking the outlier first: z with the *recomputed* mean/std, loss 0.9
    pred = np.zeros(10)
    pred[0] = 1.0
    assert top_model_zscore(pred, TRUE_Z) == pytest.approx(-0.75 / math.sqrt(0.1 / 9), abs=1e-12)
    assert first_rank_loss(pred, TRUE_Z) == pytest.approx(0.9, abs=1e-15)


def test_zscore_without_outliers_is_plain_zscore():
    true = np.array([0.2, 0.4, 0.6, 0.8])   # mean 0.5, population std sqrt(0.05)
    pred = np.array([0.1, 0.9, 0.3, 0.2])   # ranks model 1 (true 0.4) first
    assert top_model_zscore(pred, true) == pytest.approx(-0.1 / math.sqrt(0.05), abs=1e-12)
    assert top_model_zscore(pred, true) == pytest.approx(stats.zscore(true)[1], abs=1e-12)
    assert first_rank_loss(pred, true) == pytest.approx(0.4, abs=1e-15)


def test_zscore_ties_nan_and_degenerate():
    true = np.array([0.2, 0.4, 0.6, 0.8])
    # tie at the top between true 0.4 and 0.8 -> average true 0.6 -> z = 0.1/sqrt(0.05), loss 0.2
    pred = np.array([0.1, 0.9, 0.3, 0.9])
    assert top_model_zscore(pred, true) == pytest.approx(0.1 / math.sqrt(0.05), abs=1e-12)
    assert first_rank_loss(pred, true) == pytest.approx(0.2, abs=1e-15)
    # a NaN prediction is never ranked first; a NaN truth removes the model
    pred = np.array([np.nan, 0.5, 0.3, 0.2, 0.99])
    true5 = np.array([1.0, 0.2, 0.4, 0.6, np.nan])
    assert first_rank_loss(pred, true5) == pytest.approx(0.8, abs=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(top_model_zscore([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]))
        assert math.isnan(top_model_zscore([np.nan, np.nan], [0.5, 0.6]))
        assert math.isnan(first_rank_loss([0.3], [np.nan]))


# ---------------------------------------------------------------------------------------- qa_metrics
def _independent_metrics(pred, true, targets):
    """The same quantities, assembled from scipy/sklearn and plain loops."""
    from sklearn.metrics import r2_score as sk_r2
    out = {"global_pearson": stats.pearsonr(pred, true).statistic,
           "global_spearman": stats.spearmanr(pred, true).statistic,
           "global_kendall": stats.kendalltau(pred, true).statistic,
           "global_r2": sk_r2(true, pred)}
    per = {k: [] for k in ("pearson", "spearman", "kendall", "r2", "loss", "z")}
    for t in np.unique(targets):
        m = targets == t
        p, y = pred[m], true[m]
        per["pearson"].append(stats.pearsonr(p, y).statistic)
        per["spearman"].append(stats.spearmanr(p, y).statistic)
        per["kendall"].append(stats.kendalltau(p, y).statistic)
        per["r2"].append(sk_r2(y, p))
        best = np.argmax(p)
        per["loss"].append(y.max() - y[best])
        z = stats.zscore(y)
        kept = y[z >= -2]
        per["z"].append((y[best] - kept.mean()) / kept.std())
    for k in ("pearson", "spearman", "kendall", "r2"):
        out[f"per_target_{k}"] = np.mean(per[k])
    out["loss"] = np.mean(per["loss"])
    out["z_score"] = np.mean(per["z"])
    return out


def test_qa_metrics_matches_independent_assembly(rng):
    targets = np.repeat(np.array(["T1", "T2", "T3"]), [15, 25, 20])
    true = rng.uniform(0.3, 0.9, size=targets.size)
    true[3] = 0.01                                       # an outlier for the z-score rule
    pred = true + rng.normal(scale=0.08, size=targets.size) - 0.03
    got = qa_metrics(pred, true, targets)
    expected = _independent_metrics(pred, true, targets)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-10), key
    assert got["n_models"] == 60 and got["n_targets"] == 3
    assert got["n_targets_z_score"] == 3
    assert math.isnan(got["local_spearman"]) and got["n_models_local"] == 0


def test_qa_metrics_two_targets_by_hand():
    # target A: true [0.2, 0.4, 0.6, 0.8], pred perfect -> per-target r = rho = tau = 1, R^2 = 1,
    # loss 0, z = 0.3/sqrt(0.05). target B: true [0.5, 0.6, 0.7], pred reversed [0.7, 0.6, 0.5] ->
    # r = rho = tau = -1, R^2 = 1 - 0.08/0.02 = -3, loss 0.2, z = -0.1/sqrt(0.02/3).
    pred = [0.2, 0.4, 0.6, 0.8, 0.7, 0.6, 0.5]
    true = [0.2, 0.4, 0.6, 0.8, 0.5, 0.6, 0.7]
    targets = ["A"] * 4 + ["B"] * 3
    got = qa_metrics(pred, true, targets)
    assert got["per_target_pearson"] == pytest.approx(0.0, abs=1e-12)
    assert got["per_target_spearman"] == pytest.approx(0.0, abs=1e-12)
    assert got["per_target_kendall"] == pytest.approx(0.0, abs=1e-12)
    assert got["per_target_r2"] == pytest.approx((1.0 - 3.0) / 2, abs=1e-12)
    assert got["loss"] == pytest.approx(0.1, abs=1e-12)
    assert got["z_score"] == pytest.approx(
        0.5 * (0.3 / math.sqrt(0.05) - 0.1 / math.sqrt(0.02 / 3)), abs=1e-12)
    # global: pooled over 7 models, SS_res = 0.08, SS_tot = sum (y - 4/7)^2
    ybar = 3.8 / 7
    ss_tot = sum((y - ybar) ** 2 for y in true)
    assert got["global_r2"] == pytest.approx(1 - 0.08 / ss_tot, abs=1e-12)


def test_qa_metrics_skips_degenerate_targets_and_nan_models():
    pred = [0.3, 0.5, 0.7, 0.4, 0.4, np.nan, 0.9]
    true = [0.3, 0.5, 0.7, 0.5, 0.5, 0.6, np.nan]
    targets = ["A", "A", "A", "B", "B", "C", "C"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = qa_metrics(pred, true, targets)
    # B is constant (no correlation), C has one known model whose prediction is NaN
    assert got["per_target_pearson"] == pytest.approx(1.0) and got["n_targets_pearson"] == 1
    assert got["n_models"] == 6 and got["n_targets"] == 3
    assert got["loss"] == pytest.approx(0.0) and got["n_targets_loss"] == 2     # A and B
    assert got["n_targets_z_score"] == 1                                        # only A


def test_qa_metrics_local_scores():
    pred_local = [np.array([0.1, 0.2, np.nan, 0.4]),          # NaN residue is ignored
                  np.array([0.9, 0.8, 0.7]),
                  np.array([0.5, 0.5, 0.5])]                  # constant -> skipped
    true_local = [np.array([0.1, 0.3, 0.5, 0.2]),
                  np.array([0.7, 0.8, 0.9]),
                  np.array([0.4, 0.5, 0.6])]
    got = qa_metrics([0.1, 0.2, 0.3], [0.3, 0.2, 0.1], ["A"] * 3, pred_local, true_local)
    # model 0: pairs (0.1,0.1), (0.2,0.3), (0.4,0.2) -> Spearman 0.5, Pearson by formula
    r0 = pearson([0.1, 0.2, 0.4], [0.1, 0.3, 0.2])
    assert got["local_spearman"] == pytest.approx((0.5 - 1.0) / 2, abs=1e-12)
    assert got["local_pearson"] == pytest.approx((r0 - 1.0) / 2, abs=1e-12)
    assert got["n_models_local"] == 2
    # a 2-D array with NaN padding gives the same
    padded_p = np.array([[0.1, 0.2, np.nan, 0.4], [0.9, 0.8, 0.7, np.nan], [0.5, 0.5, 0.5, np.nan]])
    padded_t = np.array([[0.1, 0.3, 0.5, 0.2], [0.7, 0.8, 0.9, np.nan], [0.4, 0.5, 0.6, np.nan]])
    got2 = qa_metrics([0.1, 0.2, 0.3], [0.3, 0.2, 0.1], ["A"] * 3, padded_p, padded_t)
    assert got2["local_spearman"] == pytest.approx(got["local_spearman"], abs=1e-15)


def test_qa_metrics_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        qa_metrics([0.1, 0.2], [0.1, 0.2, 0.3], ["A", "A", "A"])
    with pytest.raises(ValueError, match="both"):
        qa_metrics([0.1, 0.2], [0.1, 0.2], ["A", "A"], pred_local=[[0.1], [0.2]])
    with pytest.raises(ValueError, match="models"):
        qa_metrics([0.1, 0.2], [0.1, 0.2], ["A", "A"], [[0.1]], [[0.2]])


def test_qa_metrics_on_casp13_resnetqa(shared_dir):
    """Smoke-check on real data: ResNetQA predictions vs truth on the four CASP13 targets."""
    import json
    pred, true, targets, pl, tl = [], [], [], [], []
    for target_dir in sorted((shared_dir / "data" / "casp13").iterdir()):
        if not target_dir.is_dir():
            continue
        labels = json.loads((target_dir / "labels.json").read_text())
        for model, lab in labels.items():
            pred.append(lab["resnetqa_lddt"] if lab["resnetqa_lddt"] is not None else np.nan)
            true.append(lab["lddt"] if lab["lddt"] is not None else np.nan)
            targets.append(target_dir.name)
            to_float = lambda v: np.array([np.nan if u is None else u for u in v], dtype=float)
            pl.append(to_float(lab["resnetqa_lddt_local"]) if lab.get("resnetqa_lddt_local") else None)
            tl.append(to_float(lab["lddt_local"]) if lab.get("lddt_local") else None)
    got = qa_metrics(pred, true, targets, pl, tl)
    assert got["n_targets"] == 4
    assert 0.5 < got["global_pearson"] <= 1 and 0.3 < got["per_target_spearman"] <= 1
    assert 0.3 < got["local_spearman"] <= 1
    assert got["loss"] >= 0
    table = format_table({"ResNetQA": got})
    assert "ResNetQA" in table


# -------------------------------------------------------------------------------------------- table
def test_format_table_layout():
    row = {key: 0.5 for key, _ in TABLE_COLUMNS}
    row["global_r2"] = math.nan
    del row["local_pearson"]
    table = format_table({"6DCNN": row, "base": {"z_score": 1.23456}}, digits=2)
    lines = table.strip().split("\n")
    assert len(lines) == 4
    assert lines[0].count("|") == len(TABLE_COLUMNS) + 2
    assert lines[0].startswith("| method | z-score | loss | global R²")
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "6DCNN" and cells[1] == "0.50" and cells[3] == "n/a" and cells[-1] == "–"
    assert "1.23" in lines[3]
    with pytest.raises(TypeError):
        format_table([("a", row)])
