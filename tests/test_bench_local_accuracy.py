"""Tests of benchmarks/local_accuracy.py (per-residue accuracy on held-out natives' decoys)."""
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from conftest import load_benchmark

local_accuracy = load_benchmark("local_accuracy.py", "bench_local_accuracy")


def test_split_is_by_native_seeded_and_sized():
    natives = np.repeat([f"n{k:02d}" for k in range(20)], 3)
    held = local_accuracy.split_natives(natives, 0.2, seed=0)
    assert len(held) == 4 and held <= set(natives.tolist())
    assert held == local_accuracy.split_natives(natives[::-1], 0.2, seed=0)
    assert any(local_accuracy.split_natives(natives, 0.2, seed=s) != held for s in range(1, 5))


def test_geometric_baselines():
    # an ideal alpha helix (rise 1.5 A, 100 degrees per residue, radius 2.3 A) then a straight
    # strand-like stretch (3.8 A per residue) far away
    k = np.arange(12)
    helix = np.c_[2.3 * np.cos(np.radians(100 * k)), 2.3 * np.sin(np.radians(100 * k)), 1.5 * k]
    strand = np.c_[np.full(8, 50.0), 3.8 * np.arange(8), np.zeros(8)]
    ca = np.vstack([helix, strand])
    mark = local_accuracy.helix_mark(ca)
    assert mark[:12].all() and not mark[12:].any()
    burial = local_accuracy.burial(ca, radius=10.0)
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    np.testing.assert_array_equal(burial, (d < 10.0).sum(axis=1) - 1)
    ca[3] = np.nan                                     # a residue without CA
    burial = local_accuracy.burial(ca)
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    expected = np.where(np.isfinite(d), d < 10.0, False).sum(axis=1) - 1.0
    assert np.isnan(burial[3])
    np.testing.assert_array_equal(np.delete(burial, 3), np.delete(expected, 3))


def test_local_rho_matches_scipy_and_skips_degenerate_models():
    rng = np.random.default_rng(1)
    pred, true = rng.random(30), rng.random(30)
    pred[[2, 7]] = np.nan
    ok = np.isfinite(pred)
    assert local_accuracy.local_rho(pred, true) == pytest.approx(spearmanr(pred[ok], true[ok])[0])
    assert np.isnan(local_accuracy.local_rho(pred[:9], true[:9]))       # fewer than 10 residues
    assert np.isnan(local_accuracy.local_rho(pred, np.full(30, 0.5)))   # constant labels


def test_join_averages_the_seeds_of_each_configuration(tmp_path):
    def result(name, threaded, everything, per_native):
        return {"settings": {"name": name}, "per_native_spearman": per_native,
                "local_spearman": {"all": {"network": everything},
                                   "threaded": {"network": threaded}}}
    files = []
    for k, (name, values) in enumerate([("A", (0.1, 0.2, 0.8)), ("A", (0.3, 0.4, 0.9)),
                                        ("B", (0.5, 0.6, 0.7))]):
        path = tmp_path / f"{k}.json"
        path.write_text(json.dumps(result(name, *values)))
        files.append(path)
    rows = {r[0]: r[1:] for r in local_accuracy.join(files)}
    assert rows["A"] == pytest.approx((2, 0.2, 0.3, 0.85))
    assert rows["B"] == pytest.approx((1, 0.5, 0.6, 0.7))


def test_command_line_errors():
    with pytest.raises(SystemExit):
        local_accuracy.parse_args([])                                   # no --corpus, no --join
    with pytest.raises(SystemExit):
        local_accuracy.parse_args(["--corpus", "x", "--holdout", "1.5"])
    with pytest.raises(SystemExit):
        local_accuracy.parse_args(["--corpus", "x", "--set", "r_n"])
    with pytest.raises(SystemExit):
        local_accuracy.parse_args(["--corpus", "x", "--model", "m.npz", "--set", "r_n=15"])
    args = local_accuracy.parse_args(["--corpus", "x", "--set", "r_n=15", "--set",
                                      "frame=ca_trace", "--set", "within_weight=0.5"])
    assert args.overrides == {"r_n": 15, "frame": "ca_trace", "within_weight": 0.5}


def test_smoothed_columns_are_the_same_predictions_smoothed():
    from types import SimpleNamespace
    from estimators.smoothing import smooth_along_chain
    rng = np.random.default_rng(3)
    n = 30
    ca = np.c_[np.arange(n) * 3.8, np.zeros(n), np.zeros(n)]

    class Model:
        def backbone(self):
            return ca, ca, ca, np.ones(n, bool)

    true = [np.sin(np.arange(n) / 4.0 + k) for k in range(4)]
    pred = [t + 0.8 * rng.standard_normal(n) for t in true]
    data = SimpleNamespace(local=true, kinds=np.array(["threaded", "threaded", "misfold", "hinge"]),
                           glob=np.array([0.3, 0.6, 0.8, 0.9]), natives=np.array(["a"] * 4))
    table, *_ = local_accuracy.summarise(pred, data, [Model()] * 4, smoothing=(2.0,))
    want = np.mean([local_accuracy.local_rho(smooth_along_chain(p, ca, 2.0), t)
                    for p, t in zip(pred[:2], true[:2])])
    assert table["threaded"]["smoothed 2"] == pytest.approx(want)
    assert table["threaded"]["network"] == pytest.approx(
        np.mean([local_accuracy.local_rho(p, t) for p, t in zip(pred[:2], true[:2])]))
    text = local_accuracy.format_table(table)
    assert "network, smoothed 2" in text.splitlines()[0]
    with pytest.raises(SystemExit):
        local_accuracy.parse_args(["--corpus", "x", "--smoothing", "0"])


def test_training_decoys_add_the_train_corpus_without_held_out_natives():
    from estimators.training_data import CorpusData

    def corpus(names, kind):
        names = np.asarray(names)
        return CorpusData([f"{kind}:{n}" for n in names], [np.zeros(3)] * len(names),
                          np.linspace(0.2, 0.9, len(names)), np.array([f"decoys:{n}" for n in names]),
                          np.full(len(names), kind), names)

    data = corpus(["a", "a", "b", "c", "c"], "threaded")
    calls = []

    def load(folders, natives):
        calls.append(folders)
        return corpus([n for n in ["a", "b", "b", "c"] if natives(n)], "loops")

    train = local_accuracy.training_decoys(data, {"b"}, ["extra"], load)
    assert calls == [["extra"]]
    assert train.models == ["threaded:a", "threaded:a", "threaded:c", "threaded:c", "loops:a",
                            "loops:c"]
    assert list(train.groups) == ["decoys:a", "decoys:a", "decoys:c", "decoys:c", "decoys:a",
                                  "decoys:c"]
    assert len(local_accuracy.training_decoys(data, {"b"})) == 4       # no extra folders
    with pytest.raises(SystemExit):
        local_accuracy.parse_args(["--corpus", "x", "--model", "m.npz", "--train-corpus", "y"])
