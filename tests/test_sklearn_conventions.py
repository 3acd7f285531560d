"""scikit-learn conventions of SixDQAEstimator: score is R², named scorers, declared tags, and the
estimator checks of scikit-learn: those that apply run and pass, the others are listed with the
reason they cannot apply (they feed random 2-D float arrays as if they were inputs)."""
import warnings

import numpy as np
import pytest
from scipy import stats

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import SkipTestWarning  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.metrics import check_scoring  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from estimators import SixDQAEstimator  # noqa: E402
from estimators.scorers import SCORERS, global_truth  # noqa: E402

_NOT_A_STRUCTURE = ("fits or predicts on a random float array: a row of numbers is not a protein "
                    "structure (inputs are paths, Structure, ProDy AtomGroup or features), so "
                    "the estimator raises TypeError 'cannot read a structure from ndarray'")
_LABELS = ("random labels outside [0, 1]: lDDT labels must be in [0, 1] (NaN = unknown), so fit "
           "raises ValueError before any input is read")

#: scikit-learn estimator checks that cannot apply to structure input, with the reason.
NOT_APPLICABLE = {
    "check_fit_score_takes_y": _LABELS,
    "check_estimators_overwrite_params": _LABELS,
    "check_dont_overwrite_parameters": _LABELS,
    "check_estimators_fit_returns_self": _LABELS,
    "check_readonly_memmap_input": _LABELS,
    "check_n_features_in_after_fitting": _LABELS + "; there is no n_features_in_ either (a "
                                         "model has as many residues as it has)",
    "check_positive_only_tag_during_fit": _LABELS,
    "check_estimators_dtypes": _LABELS,
    "check_complex_data": _NOT_A_STRUCTURE,
    "check_dtype_object": _LABELS,
    "check_estimators_empty_data_messages": _NOT_A_STRUCTURE + " (an empty list of models is "
                                            "refused with its own message)",
    "check_pipeline_consistency": _NOT_A_STRUCTURE,
    "check_estimators_nan_inf": _NOT_A_STRUCTURE + "; NaN/inf coordinates in a file are refused "
                                "by the reader, naming file and residue",
    "check_estimator_sparse_tag": "sparse matrices are not structures: " + _NOT_A_STRUCTURE,
    "check_estimator_sparse_array": "sparse arrays are not structures; the error names the "
                                    "accepted inputs instead of the word 'sparse'",
    "check_estimator_sparse_matrix": "sparse matrices are not structures; the error names the "
                                     "accepted inputs instead of the word 'sparse'",
    "check_estimators_pickle": _NOT_A_STRUCTURE + " (persistence is SixDQAEstimator.save/load, "
                               "a model file, never a pickle)",
    "check_f_contiguous_array_estimator": _LABELS,
    "check_regressors_train": _LABELS,
    "check_regressor_data_not_an_array": _NOT_A_STRUCTURE,
    "check_regressors_no_decision_function": _LABELS,
    "check_supervised_y_2d": _LABELS,
    "check_regressors_int": _LABELS,
    "check_methods_sample_order_invariance": _LABELS,
    "check_methods_subset_invariance": _LABELS,
    "check_fit2d_1sample": _NOT_A_STRUCTURE,
    "check_fit2d_1feature": _NOT_A_STRUCTURE + "; models have no 'features' in the array sense",
    "check_dict_unchanged": _LABELS,
    "check_fit_idempotent": _LABELS,
    "check_fit_check_is_fitted": _LABELS,
    "check_n_features_in": _LABELS,
    "check_fit2d_predict1d": _LABELS,
    "check_requires_y_none": "fit without labels is refused with a message about lDDT labels, "
                             "not one of scikit-learn's wordings for a missing y",
}


class _AsIfArrayInput(SixDQAEstimator):
    """The estimator with its 2-D-array tag switched on, only so that scikit-learn generates
    its whole list of checks (with the true tags it runs almost none, see below)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = False
        return tags


def test_declared_tags():
    tags = get_tags(SixDQAEstimator())
    assert tags.estimator_type == "regressor"
    assert not tags.input_tags.two_d_array and tags.input_tags.string
    assert tags.target_tags.required and tags.target_tags.single_output
    assert not tags.target_tags.multi_output and tags.requires_fit


def test_true_tags_tell_scikit_learn_to_skip_array_checks():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = check_estimator(SixDQAEstimator(epochs=1), on_fail=None, on_skip=None)
    assert [r["status"] for r in results] == ["passed"]               # check_estimator_cloneable
    assert any(issubclass(w.category, SkipTestWarning) and "Can't test estimator" in str(w.message)
               for w in caught)


def test_estimator_checks_that_apply_pass_and_the_others_are_listed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(_AsIfArrayInput(epochs=1), on_fail=None, on_skip=None,
                                  expected_failed_checks=NOT_APPLICABLE)
    by_status = {}
    for r in results:
        by_status.setdefault(r["status"], set()).add(r["check_name"])
    ran = {r["check_name"] for r in results}
    # every check runs: no stale names in the list, and each listed check really cannot pass
    assert set(NOT_APPLICABLE) <= ran
    assert not by_status.get("failed"), {r["check_name"]: repr(r["exception"])[:200]
                                         for r in results if r["status"] == "failed"}
    assert by_status["xfail"] == set(NOT_APPLICABLE)
    assert not (by_status["passed"] & set(NOT_APPLICABLE))
    # the API checks that apply to any estimator pass
    for name in ("check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
                 "check_parameters_default_constructible", "check_get_params_invariance",
                 "check_set_params", "check_estimators_unfitted", "check_mixin_order",
                 "check_do_not_raise_errors_in_init_or_set_params", "check_valid_tag_types"):
        assert name in by_status["passed"], name
    print(f"{len(by_status['passed'])} checks pass, {len(NOT_APPLICABLE)} cannot apply")


class _FixedScores(SixDQAEstimator):
    """predict_global returns given numbers, so scorers can be checked without training."""

    def __init__(self, scores=None, **kwargs):
        super().__init__(**kwargs)
        self.scores = scores

    def predict_global(self, models):
        return np.asarray(self.scores, dtype=np.float64)[np.asarray(models, dtype=int)]


def _data():
    rng = np.random.default_rng(1)
    true = rng.uniform(0.3, 0.9, 40)
    pred = 0.8 * true + 0.1 + rng.normal(0, 0.05, 40)
    pred[3] = np.nan                                       # no prediction
    y = [float(t) for t in true]
    y[5] = np.full(7, np.nan)                              # nothing known
    y[7] = np.array([true[7] - 0.1, np.nan, true[7] + 0.1])   # per-residue: mean is the truth
    keep = np.ones(40, bool)
    keep[[3, 5]] = False
    return np.arange(40), y, pred, true, keep


def test_score_is_r2_and_named_scorers():
    X, y, pred, true, keep = _data()
    est = _FixedScores(scores=pred)
    np.testing.assert_allclose(global_truth(y)[keep], true[keep])
    expected_r2 = r2_score(true[keep], pred[keep])
    # R² by hand, independently of scikit-learn
    ss_res = ((true[keep] - pred[keep]) ** 2).sum()
    ss_tot = ((true[keep] - true[keep].mean()) ** 2).sum()
    assert est.score(X, y) == pytest.approx(1 - ss_res / ss_tot, abs=1e-12)
    assert est.score(X, y) == pytest.approx(expected_r2, abs=1e-12)
    assert SCORERS["r2"](est, X, y) == est.score(X, y)
    assert SCORERS["pearson"](est, X, y) == pytest.approx(stats.pearsonr(pred[keep], true[keep])[0])
    assert SCORERS["spearman"](est, X, y) == pytest.approx(stats.spearmanr(pred[keep], true[keep])[0])
    # an offset leaves the correlations alone and lowers R²
    shifted = _FixedScores(scores=pred + 0.2)
    assert SCORERS["pearson"](shifted, X, y) == pytest.approx(SCORERS["pearson"](est, X, y))
    assert shifted.score(X, y) < est.score(X, y) - 0.5
    # sample weights reach R²
    w = np.linspace(1, 2, 40)
    assert est.score(X, y, sample_weight=w) == pytest.approx(
        r2_score(true[keep], pred[keep], sample_weight=w[keep]))
    # scikit-learn accepts them as scorers, and score() is the default
    assert check_scoring(est) is not None
    assert check_scoring(est, scoring=SCORERS["spearman"])(est, X, y) == SCORERS["spearman"](est, X, y)
    assert np.isnan(est.score(X[:1], y[:1]))
