"""Tests of benchmarks/_predictions.py (saved per-model predictions of the QA benchmark)."""
import numpy as np
import pytest

from conftest import load_benchmark

predictions = load_benchmark("_predictions.py", "bench_predictions")


def _global_of(local):
    return np.array([np.nan if p is None else float(np.mean(p)) for p in local])


def _methods(rng):
    lengths = [5, 3, 7, 4]
    a = [rng.random(n) for n in lengths]
    b = [rng.random(n) for n in lengths]
    b[2] = None                                              # a model one method did not predict
    return {"A": {"global": _global_of(a), "local": a}, "B": {"global": _global_of(b), "local": b}}


def test_round_trip_and_reorder(tmp_path):
    rng = np.random.default_rng(0)
    methods = _methods(rng)
    names = np.array(["m0", "m1", "m2", "m3"])
    predictions.write_predictions(tmp_path / "p.npz", methods, names)
    back = predictions.read_predictions(tmp_path / "p.npz")
    for name in methods:
        np.testing.assert_array_equal(back[name]["global"], methods[name]["global"])
        for x, y in zip(back[name]["local"], methods[name]["local"]):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
    order = ["m3", "m0", "m2"]
    sub = predictions.read_predictions(tmp_path / "p.npz", order)
    np.testing.assert_array_equal(sub["A"]["global"], methods["A"]["global"][[3, 0, 2]])
    assert sub["B"]["local"][2] is None
    np.testing.assert_array_equal(sub["A"]["local"][0], methods["A"]["local"][3])
    with pytest.raises(ValueError, match="no predictions for 1 models"):
        predictions.read_predictions(tmp_path / "p.npz", ["m0", "other"])
    with pytest.raises(ValueError, match="unique"):
        predictions.write_predictions(tmp_path / "q.npz", methods, ["m0", "m0", "m1", "m2"])
    with pytest.raises(ValueError, match="expected 5"):
        predictions.write_predictions(tmp_path / "q.npz", methods, list(names) + ["m4"])


def test_mean_of():
    rng = np.random.default_rng(1)
    methods = _methods(rng)
    mean = predictions.mean_of(methods, ["A", "B"], _global_of)
    np.testing.assert_allclose(mean["local"][0], (methods["A"]["local"][0]
                                                  + methods["B"]["local"][0]) / 2)
    np.testing.assert_array_equal(mean["local"][2], methods["A"]["local"][2])   # only A
    np.testing.assert_allclose(mean["global"], _global_of(mean["local"]))
    with pytest.raises(ValueError, match="unknown methods"):
        predictions.mean_of(methods, ["A", "C"], _global_of)
    methods["B"]["local"][1] = np.zeros(9)
    with pytest.raises(ValueError, match="different lengths"):
        predictions.mean_of(methods, ["A", "B"], _global_of)


def test_merge_disjoint_joins_folds_run_separately():
    # two runs that predicted disjoint models (e.g. two folds) give one method; overlapping
    # runs are not merged
    rng = np.random.default_rng(2)
    full = _methods(rng)["A"]
    first = {"global": np.where([1, 1, 0, 0], full["global"], np.nan),
             "local": [full["local"][0], full["local"][1], None, None]}
    second = {"global": np.where([0, 0, 1, 0], full["global"], np.nan),
              "local": [None, None, full["local"][2], None]}
    joined = predictions.merge_disjoint(first, second)
    np.testing.assert_array_equal(joined["global"][:3], full["global"][:3])
    assert np.isnan(joined["global"][3]) and joined["local"][3] is None
    for k in range(3):
        np.testing.assert_array_equal(joined["local"][k], full["local"][k])
    assert predictions.merge_disjoint(first, joined) is None
    with pytest.raises(ValueError, match="4 and 3 models"):
        predictions.merge_disjoint(first, {"global": np.zeros(3), "local": [None] * 3})
